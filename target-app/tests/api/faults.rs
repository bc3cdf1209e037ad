//! `/demo/*` fault injectors.

use std::time::{Duration, Instant};

use crate::support::{assert_error_body, rss_mb, spawn_app, spawn_app_with};

#[tokio::test]
async fn slow_waits_at_least_the_delay() {
    let app = spawn_app().await;
    let started = Instant::now();
    let (status, body) = app.get_json("/demo/slow?delay_ms=300").await;
    assert_eq!(status, 200);
    assert_eq!(body["delay_ms"], 300);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn error_fails_with_the_requested_status_and_rate() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/demo/error?status=502").await;
    assert_error_body(status, &body, 502, "InjectedFaultError");
    let (status, _) = app.get_json("/demo/error?rate=0").await;
    assert_eq!(status, 200);
    let mut failures = 0;
    for _ in 0..200 {
        if app.get("/demo/error?rate=0.5").await.status() == 500 {
            failures += 1;
        }
    }
    assert!((60..=140).contains(&failures), "rate 0.5 gave {failures}/200 failures");
}

#[tokio::test]
async fn cpu_burns_off_the_async_runtime() {
    let app = spawn_app().await;
    let client = app.client.clone();
    let url = format!("{}/demo/cpu?duration_ms=3000", app.address);
    let burn = tokio::spawn(async move { client.get(url).send().await.unwrap().status() });
    // Wait until the burn is running (the in-progress gauge shows it), then ask for /health/.
    let labels = r#"endpoint="/demo/cpu",method="GET""#;
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.metric_opt("http_requests_in_progress", labels) != Some(1.0) {
        assert!(Instant::now() < deadline, "the burn never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    assert_eq!(app.get("/health/").await.status(), 200);
    assert!(started.elapsed() < Duration::from_millis(1500), "answered during the 3 s burn, not after it");
    assert_eq!(burn.await.unwrap(), 200);
}

#[tokio::test]
async fn memory_allocates_touches_and_frees() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/demo/memory?mb=64&hold_ms=50").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["allocated_mb"], 64);
    assert_eq!(body["pages_touched"], 64 * 256);
}

#[tokio::test]
async fn requests_over_a_cap_or_malformed_are_422() {
    let app = spawn_app_with(|s| {
        s.faults.max_delay_ms = 1000;
        s.faults.max_cpu_ms = 500;
        s.faults.max_memory_mb = 32;
    })
    .await;
    for path in [
        "/demo/slow?delay_ms=1001",
        "/demo/cpu?duration_ms=501",
        "/demo/memory?mb=33",
        "/demo/memory?mb=1&hold_ms=5000",
        "/demo/error?rate=1.5",
        "/demo/error?status=200",
        "/demo/slow?delay_ms=soon",
    ] {
        let (status, body) = app.get_json(path).await;
        assert_error_body(status, &body, 422, "ValidationError");
    }
}

#[tokio::test]
async fn demo_routes_are_absent_when_disabled() {
    let app = spawn_app_with(|s| s.faults.enabled = false).await;
    assert_eq!(app.get("/demo/slow?delay_ms=1").await.status(), 404);
}

/// Runs `work` while sampling RSS every 10 ms; returns its output and the peak RSS, MiB.
async fn peak_rss_during<T>(work: impl std::future::Future<Output = T>) -> (T, u64) {
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_mb());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            peak
        })
    };
    let output = work.await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    (output, sampler.await.unwrap())
}

#[tokio::test]
async fn concurrent_memory_calls_share_one_budget() {
    const CAP_MB: u64 = 64;
    let app = spawn_app_with(|s| s.faults.max_memory_mb = CAP_MB).await;
    let before = rss_mb();
    let calls = (0..20).map(|_| app.get_json("/demo/memory?mb=64&hold_ms=400"));
    let (answers, peak) = peak_rss_during(futures::future::join_all(calls)).await;
    let granted = answers.iter().filter(|(status, _)| status.as_u16() == 200).count();
    assert!(granted >= 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(status, _)| status.as_u16() != 200) {
        assert_error_body(*status, body, 503, "ServiceUnavailableError");
        assert_eq!(body["details"]["budget"], "memory", "{body}");
    }
    assert!(granted < 20, "20 calls of the whole cap cannot all hold it at once");
    assert!(peak < before + CAP_MB + 100, "RSS peaked at {peak} MiB from {before} MiB (cap {CAP_MB} MiB)");
    let (status, body) = app.get_json("/demo/memory?mb=64&hold_ms=1").await;
    assert_eq!(status, 200, "the budget is whole again once the calls end: {body}");
}

#[tokio::test]
async fn cpu_burners_beyond_the_budget_answer_503() {
    let app = spawn_app_with(|s| s.faults.max_cpu_burners = 1).await;
    let calls = (0..3).map(|_| app.get_json("/demo/cpu?duration_ms=1500"));
    let answers = futures::future::join_all(calls).await;
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| s.as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    let (status, body) = answers.iter().find(|(s, _)| s.as_u16() == 503).unwrap();
    assert_error_body(*status, body, 503, "ServiceUnavailableError");
    assert_eq!(body["details"]["budget"], "cpu");
}

#[tokio::test]
async fn a_panicking_handler_is_a_counted_500() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/demo/panic").await;
    assert_error_body(status, &body, 500, "InternalServerError");
    let labels = r#"endpoint="/demo/panic",method="GET",status="500""#;
    assert_eq!(app.metric("http_requests_total", labels), 1.0);
}

#[tokio::test]
async fn cancelled_requests_leave_the_in_progress_gauge_at_zero() {
    let app = spawn_app().await;
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(100)).build().unwrap();
    for _ in 0..5 {
        let url = format!("{}/demo/slow?delay_ms=3000", app.address);
        assert!(impatient.get(url).send().await.is_err(), "the client gives up first");
    }
    let labels = r#"endpoint="/demo/slow",method="GET""#;
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.metric("http_requests_in_progress", labels) != 0.0 {
        assert!(Instant::now() < deadline, "in progress: {}", app.metric("http_requests_in_progress", labels));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn defaults_above_a_lower_cap_become_the_cap() {
    let app = spawn_app_with(|s| {
        s.faults.max_cpu_ms = 20;
        s.faults.max_delay_ms = 20;
        s.faults.max_memory_mb = 2;
    })
    .await;
    for path in ["/demo/cpu", "/demo/slow", "/demo/memory"] {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, 200, "{path}: the documented defaults (1000 ms, 100 MiB) exceed the caps: {body}");
    }
    let (status, body) = app.get_json("/demo/cpu?duration_ms=21").await;
    assert_error_body(status, &body, 422, "ValidationError");
}
