//! Rate limits: each class, the headers, the proxy-header rule, a limit shared by two app
//! processes through Redis, and the in-memory fallback when Redis is down.

use crate::support::{TestApp, assert_error_body, dead_port, json_of, spawn_app_with, spawn_settings, test_settings};

/// Sends `n` requests and returns their statuses.
async fn hit(app: &TestApp, path: &str, n: usize) -> Vec<u16> {
    let mut statuses = Vec::with_capacity(n);
    for _ in 0..n {
        statuses.push(app.get(path).await.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn each_class_allows_its_limit_then_answers_429_with_headers() {
    let app = spawn_app_with(|s| {
        s.rate_limit.default = "5/hour".parse().unwrap();
        s.rate_limit.health = "7/hour".parse().unwrap();
        s.rate_limit.metrics = "9/hour".parse().unwrap();
    })
    .await;
    for (path, limit) in [("/api/version", 5), ("/health/", 7), ("/metrics", 9)] {
        let statuses = hit(&app, path, limit).await;
        assert!(statuses.iter().all(|s| *s == 200), "{path}: {statuses:?}");
        let response = app.get(path).await;
        let headers = response.headers().clone();
        assert_eq!(headers["x-ratelimit-limit"], limit.to_string().as_str());
        assert_eq!(headers["x-ratelimit-remaining"], "0");
        assert!(headers.contains_key("x-ratelimit-reset"));
        let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=3600).contains(&retry_after), "within the hour window: {retry_after}");
        let (status, body) = json_of(response).await;
        assert_error_body(status, &body, 429, "RateLimitError");
    }
    assert!(app.metric("rate_limit_exceeded_total", r#"endpoint="/api/version""#) >= 1.0);
}

#[tokio::test]
async fn remaining_counts_down_on_allowed_responses() {
    let app = spawn_app_with(|s| s.rate_limit.default = "3/hour".parse().unwrap()).await;
    let remaining: Vec<String> = futures::future::join_all((0..3).map(|_| app.get("/api/version")))
        .await
        .iter()
        .map(|r| r.headers()["x-ratelimit-remaining"].to_str().unwrap().to_owned())
        .collect();
    let mut sorted = remaining.clone();
    sorted.sort();
    assert_eq!(sorted, ["0", "1", "2"], "{remaining:?}");
}

#[tokio::test]
async fn forwarded_for_is_ignored_from_untrusted_peers() {
    let app = spawn_app_with(|s| s.rate_limit.default = "3/hour".parse().unwrap()).await;
    for n in 0..4 {
        let response = app
            .client
            .get(format!("{}/api/version", app.address))
            .header("x-forwarded-for", format!("10.0.0.{n}"))
            .send()
            .await
            .unwrap();
        let expected = if n < 3 { 200 } else { 429 };
        assert_eq!(response.status(), expected, "inventing X-Forwarded-For must not dodge the limit");
    }
}

#[tokio::test]
async fn forwarded_for_is_honoured_from_trusted_proxies() {
    let app = spawn_app_with(|s| {
        s.rate_limit.default = "2/hour".parse().unwrap();
        s.rate_limit.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let from = |client_ip: &'static str| {
        app.client.get(format!("{}/api/version", app.address)).header("x-forwarded-for", client_ip).send()
    };
    for _ in 0..2 {
        assert_eq!(from("203.0.113.7").await.unwrap().status(), 200);
    }
    assert_eq!(from("203.0.113.7").await.unwrap().status(), 429);
    assert_eq!(from("203.0.113.8").await.unwrap().status(), 200, "another client behind the proxy has its own limit");
}

#[tokio::test]
async fn two_app_processes_sharing_redis_enforce_one_combined_limit() {
    let mut settings = test_settings();
    settings.rate_limit.default = "6/hour".parse().unwrap();
    let a = spawn_settings(settings.clone()).await;
    let b = spawn_settings(settings).await;
    let mut allowed = 0;
    for n in 0..12 {
        let app = if n % 2 == 0 { &a } else { &b };
        if app.get("/api/version").await.status() == 200 {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 6, "the two replicas share one counter");
}

#[tokio::test]
async fn redis_outage_falls_back_to_memory_without_500s_or_an_open_door() {
    let app = spawn_app_with(|s| {
        s.rate_limit.default = "4/hour".parse().unwrap();
        s.redis.nodes = vec![("127.0.0.1".into(), dead_port())];
    })
    .await;
    let statuses = hit(&app, "/api/version", 6).await;
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429]);
    assert!(app.metric("rate_limit_fallback_total", r#"class="default""#) >= 6.0);
    assert_eq!(app.metric("rate_limit_backend", r#"backend="memory""#), 1.0);
}

#[tokio::test]
async fn callers_queued_behind_a_hung_lease_wait_one_budget_not_one_each() {
    let app = spawn_app_with(|s| s.rate_limit.default = "1000/hour".parse().unwrap()).await;
    assert_eq!(app.get("/api/version").await.status(), 200, "connects Redis and leases a first token");
    app.inject_fault(serde_json::json!({ "dependency": "redis", "kind": "latency", "latency_ms": 3000 })).await;
    // One client, so one lease gate: before each waited for the lease ahead of it to time out,
    // the fifth answered after about 5 x 250 ms.
    let started = std::time::Instant::now();
    let statuses = futures::future::join_all((0..6).map(|_| app.get("/api/version"))).await;
    let elapsed = started.elapsed();
    assert!(statuses.iter().all(|r| r.status() == 200), "the limiter decides in memory");
    assert!(elapsed < std::time::Duration::from_millis(800), "all six within about one 250 ms budget: {elapsed:?}");
    assert!(app.metric("rate_limit_fallback_total", r#"class="default""#) >= 6.0);
}

#[tokio::test]
async fn disabled_rate_limiting_never_answers_429() {
    let app = spawn_app_with(|s| {
        s.rate_limit.enabled = false;
        s.rate_limit.default = "1/hour".parse().unwrap();
    })
    .await;
    assert!(hit(&app, "/api/version", 5).await.iter().all(|s| *s == 200));
}

#[tokio::test]
async fn the_chaos_control_plane_is_never_rate_limited() {
    let app = spawn_app_with(|s| s.rate_limit.default = "1/hour".parse().unwrap()).await;
    for _ in 0..5 {
        let response = app
            .client
            .get(format!("{}/chaos/faults", app.address))
            .bearer_auth(crate::support::CHAOS_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("x-ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn leased_limits_stay_exact_for_one_process_with_fewer_redis_calls() {
    let app = spawn_app_with(|s| s.rate_limit.default = "100/hour".parse().unwrap()).await;
    let statuses = futures::future::join_all((0..130).map(|_| app.get("/api/version"))).await;
    let allowed = statuses.iter().filter(|r| r.status() == 200).count();
    assert_eq!(allowed, 100, "exactly the limit passes");
    assert!(statuses.iter().all(|r| r.status() == 200 || r.status() == 429));
    let redis_calls = app.metric("dependency_calls_total", r#"service="redis""#);
    assert!(redis_calls < 65.0, "leases batch the counting: {redis_calls} Redis calls for 130 requests");
}

#[tokio::test]
async fn a_busy_client_under_a_large_limit_costs_a_few_redis_calls() {
    let app = spawn_app_with(|s| s.rate_limit.default = "1000000/hour".parse().unwrap()).await;
    let before = app.metric("dependency_calls_total", r#"service="redis""#);
    for _ in 0..40 {
        let statuses = futures::future::join_all((0..50).map(|_| app.get("/api/version"))).await;
        assert!(statuses.iter().all(|r| r.status() == 200));
    }
    let redis_calls = app.metric("dependency_calls_total", r#"service="redis""#) - before;
    // Leases double (1, 2, 4, ... 2048) while the client stays busy: 11 round trips for 2,000
    // requests (22 if the window turns meanwhile), where a cap of 64 took 36.
    assert!(redis_calls <= 24.0, "{redis_calls} Redis calls for 2,000 requests");
}
