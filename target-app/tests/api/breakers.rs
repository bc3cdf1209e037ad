//! Circuit breakers: every transition through the chaos API and through real outages, and the
//! concurrency guarantees (open: zero calls; half-open: exactly one probe).

use std::time::Duration;

use serde_json::json;

use crate::support::{TestApp, assert_error_body, dead_port, spawn_app_with};

async fn app_with_fast_reset() -> TestApp {
    spawn_app_with(|s| {
        s.breaker.failure_threshold = 5;
        s.breaker.reset_timeout = Duration::from_millis(800);
        // Cached responses would hide the dependency from the breaker.
        s.response_cache.enabled = false;
    })
    .await
}

fn labels(service: &str) -> String {
    format!("service=\"{service}\"")
}

/// Drives one dependency's breaker closed → open → half-open → open → half-open → closed.
async fn full_cycle(service: &str, path: &str) {
    let app = app_with_fast_reset().await;
    assert_eq!(app.get(path).await.status(), 200, "{service} healthy first");
    app.inject_fault(json!({ "dependency": service, "kind": "error", "duration_s": 60 })).await;
    for _ in 0..5 {
        assert_eq!(app.get(path).await.status(), 503);
    }
    assert_eq!(app.metric("circuit_breaker_state", &labels(service)), 1.0, "open after 5 failures");
    assert_eq!(app.metric("circuit_breaker_opened_total", &labels(service)), 1.0);
    let calls = app.metric("dependency_calls_total", &labels(service));
    let response = app.get(path).await;
    assert!(response.headers().contains_key("retry-after"));
    let (status, body) = crate::support::json_of(response).await;
    assert_error_body(status, &body, 503, "CircuitBreakerError");
    assert_eq!(app.metric("dependency_calls_total", &labels(service)), calls, "open breaker fails fast");

    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(app.get(path).await.status(), 503, "the probe hits the fault");
    assert_eq!(app.metric("circuit_breaker_half_open_total", &labels(service)), 1.0);
    assert_eq!(app.metric("circuit_breaker_opened_total", &labels(service)), 2.0, "failed probe re-opens");

    app.clear_faults().await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(app.get(path).await.status(), 200, "successful probe");
    assert_eq!(app.metric("circuit_breaker_closed_total", &labels(service)), 1.0);
    assert_eq!(app.metric("circuit_breaker_state", &labels(service)), 0.0);
}

#[tokio::test]
async fn postgres_breaker_goes_through_every_transition() {
    full_cycle("postgres", "/examples/database/postgres/query").await;
}

#[tokio::test]
async fn redis_breaker_goes_through_every_transition() {
    full_cycle("redis", "/examples/cache/breaker-test").await;
}

#[tokio::test]
async fn vault_breaker_goes_through_every_transition() {
    full_cycle("vault", "/examples/vault/secret/mysql").await;
}

#[tokio::test]
async fn mysql_and_rabbitmq_breakers_open_under_faults() {
    let app = app_with_fast_reset().await;
    app.inject_fault(json!({ "dependency": "mysql", "kind": "error" })).await;
    app.inject_fault(json!({ "dependency": "rabbitmq", "kind": "error" })).await;
    for _ in 0..5 {
        app.get("/examples/database/mysql/query").await;
        app.get("/examples/messaging/queue/q/info").await;
    }
    assert_eq!(app.metric("circuit_breaker_state", &labels("mysql")), 1.0);
    assert_eq!(app.metric("circuit_breaker_state", &labels("rabbitmq")), 1.0);
}

#[tokio::test]
async fn real_postgres_outage_opens_the_breaker() {
    let app = spawn_app_with(|s| {
        s.postgres.port = dead_port();
        s.breaker.reset_timeout = Duration::from_secs(60);
    })
    .await;
    for _ in 0..5 {
        let (status, body) = app.get_json("/examples/database/postgres/query").await;
        assert_error_body(status, &body, 503, "DatabaseConnectionError");
    }
    let (status, body) = app.get_json("/examples/database/postgres/query").await;
    assert_error_body(status, &body, 503, "CircuitBreakerError");
    let (_, health) = app.get_json("/health/all").await;
    assert_eq!(health["circuit_breakers"]["postgres"], "open", "{health}");
}

#[tokio::test]
async fn real_redis_outage_opens_the_breaker() {
    let app = spawn_app_with(|s| s.redis.nodes = vec![("127.0.0.1".into(), dead_port())]).await;
    for _ in 0..6 {
        app.get("/examples/cache/x").await;
    }
    assert_eq!(app.metric("circuit_breaker_state", &labels("redis")), 1.0);
}

#[tokio::test]
async fn real_vault_outage_opens_the_breaker() {
    let app = spawn_app_with(|s| s.vault.addr = format!("http://127.0.0.1:{}", dead_port())).await;
    for _ in 0..6 {
        app.get("/examples/vault/secret/postgres").await;
    }
    assert_eq!(app.metric("circuit_breaker_state", &labels("vault")), 1.0);
    let (_, body) = app.get_json("/examples/vault/secret/postgres").await;
    assert_eq!(body["error"], "CircuitBreakerError");
}

#[tokio::test]
async fn open_breaker_lets_zero_of_200_concurrent_requests_through() {
    let app = app_with_fast_reset().await;
    app.get("/examples/database/postgres/query").await;
    app.inject_fault(json!({ "dependency": "postgres", "kind": "error" })).await;
    for _ in 0..5 {
        app.get("/examples/database/postgres/query").await;
    }
    let calls = app.metric("dependency_calls_total", &labels("postgres"));
    let requests = (0..200).map(|_| app.get("/examples/database/postgres/query"));
    let statuses: Vec<u16> = futures::future::join_all(requests).await.iter().map(|r| r.status().as_u16()).collect();
    assert!(statuses.iter().all(|s| *s == 503));
    assert_eq!(app.metric("dependency_calls_total", &labels("postgres")), calls, "no call reached postgres");
}

#[tokio::test]
async fn half_open_breaker_lets_exactly_one_probe_through() {
    let app = app_with_fast_reset().await;
    app.get("/examples/database/postgres/query").await;
    let fault = app.inject_fault(json!({ "dependency": "postgres", "kind": "error" })).await;
    for _ in 0..5 {
        app.get("/examples/database/postgres/query").await;
    }
    app.client
        .delete(format!("{}/chaos/faults/{fault}", app.address))
        .bearer_auth(crate::support::CHAOS_TOKEN)
        .send()
        .await
        .unwrap();
    // A slow probe keeps the breaker half-open while the others arrive.
    app.inject_fault(json!({ "dependency": "postgres", "kind": "latency", "latency_ms": 500 })).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    let calls = app.metric("dependency_calls_total", &labels("postgres"));
    let requests = (0..50).map(|_| app.get("/examples/database/postgres/query"));
    let statuses: Vec<u16> = futures::future::join_all(requests).await.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(app.metric("dependency_calls_total", &labels("postgres")), calls + 1.0, "exactly one probe");
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(app.metric("circuit_breaker_state", &labels("postgres")), 0.0, "the probe closed it");
}

#[tokio::test]
async fn clients_that_hang_up_do_not_open_the_breaker() {
    let app = app_with_fast_reset().await;
    app.inject_fault(json!({ "dependency": "postgres", "kind": "latency", "latency_ms": 400 })).await;
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(50)).build().unwrap();
    let url = format!("{}/examples/database/postgres/query", app.address);
    for _ in 0..8 {
        assert!(impatient.get(&url).send().await.is_err(), "the client gives up first");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(app.metric("circuit_breaker_failures_total", &labels("postgres")), 0.0);
    assert_eq!(app.metric("circuit_breaker_state", &labels("postgres")), 0.0);
    app.clear_faults().await;
    assert_eq!(app.get("/examples/database/postgres/query").await.status(), 200);
}

#[tokio::test]
async fn a_slow_redis_on_the_hot_path_is_a_recorded_failure() {
    let app = spawn_app_with(|s| s.rate_limit.default = "1000/hour".parse().unwrap()).await;
    assert_eq!(app.get("/api/version").await.status(), 200, "connects Redis and leases a first token");
    // The fault is far longer than the 250 ms hot-path budget, so "did not wait for Redis" is
    // told apart from a slow shared machine by seconds, not milliseconds.
    app.inject_fault(json!({ "dependency": "redis", "kind": "latency", "latency_ms": 3000 })).await;
    let started = std::time::Instant::now();
    assert_eq!(app.get("/api/version").await.status(), 200, "the limiter decides in memory");
    assert!(started.elapsed() < Duration::from_millis(2000), "within the hot-path budget, not the fault's 3 s");
    assert_eq!(app.metric("circuit_breaker_failures_total", &labels("redis")), 1.0);
}
