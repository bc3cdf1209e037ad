//! Connections and headers: a client trickling its request head, or idling on a keep-alive
//! connection, is cut off after `HEADER_READ_TIMEOUT_MS`; a head over `MAX_HEADER_BYTES` gets
//! the documented 431; every answer carries the security headers, and the Swagger UI still
//! renders under its own Content-Security-Policy.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use kit::layers::security_headers::{API_CSP, DOCS_CSP, HSTS};

use crate::support::{assert_error_body, spawn_app_with};

const TIMEOUT: Duration = Duration::from_millis(1500);

/// Reads from `stream` until the server closes it (or 20 s pass); returns when that was.
fn closed_after(mut stream: TcpStream, started: Instant, mut trickle: impl FnMut(&mut TcpStream)) -> Duration {
    stream.set_read_timeout(Some(Duration::from_millis(250))).unwrap();
    let mut buffer = [0u8; 4096];
    while started.elapsed() < Duration::from_secs(20) {
        match stream.read(&mut buffer) {
            Ok(0) => return started.elapsed(),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                trickle(&mut stream)
            }
            Err(_) => return started.elapsed(),
        }
    }
    started.elapsed()
}

#[tokio::test]
async fn a_client_trickling_its_head_or_idling_is_closed_after_the_header_timeout() {
    let app = spawn_app_with(|s| s.app.header_read_timeout = TIMEOUT).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let (trickled, idled) = tokio::task::spawn_blocking(move || {
        let mut trickling = TcpStream::connect(&address).unwrap();
        let started = Instant::now();
        trickling.write_all(b"GET /health/ HTTP/1.1\r\nHost: test\r\n").unwrap();
        let mut sent = Instant::now();
        let trickled = closed_after(trickling, started, |stream| {
            if sent.elapsed() >= Duration::from_millis(400) {
                let _ = stream.write_all(b"X-Slow: 1\r\n");
                sent = Instant::now();
            }
        });
        let mut idle = TcpStream::connect(&address).unwrap();
        idle.write_all(b"GET /health/ HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        let idled = closed_after(idle, Instant::now(), |_| {});
        (trickled, idled)
    })
    .await
    .unwrap();
    for (what, after) in [("a trickled head", trickled), ("an idle keep-alive connection", idled)] {
        assert!(after >= TIMEOUT - Duration::from_millis(100), "{what} was closed early, after {after:?}");
        assert!(after < TIMEOUT + Duration::from_secs(2), "{what} was held {after:?}");
    }
    let answered = app.client.get(format!("{}/health/", app.address)).send().await.unwrap();
    assert_eq!(answered.status(), 200, "ordinary requests are unaffected");
}

#[tokio::test]
async fn a_request_head_over_the_limit_is_431_with_the_documented_body() {
    let app = spawn_app_with(|_| {}).await;
    let url = format!("{}/health/", app.address);
    let response = app.client.get(&url).header("x-padding", "a".repeat(20 * 1024)).send().await.unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_error_body(status, &body, 431, "ValidationError");
    let huge = app.client.get(&url).header("x-padding", "a".repeat(100_000)).send().await.unwrap();
    let status = huge.status();
    assert_error_body(status, &huge.json().await.unwrap(), 431, "ValidationError");
    let fine = app.client.get(&url).header("x-padding", "a".repeat(8 * 1024)).send().await.unwrap();
    assert_eq!(fine.status(), 200, "a head within the limit is served");
}

#[tokio::test]
async fn answers_carry_security_headers_and_hsts_only_behind_tls() {
    let app = spawn_app_with(|_| {}).await;
    for path in ["/health/", "/api/version", "/no-such-route", "/docs/no-such-file.js"] {
        let response = app.client.get(format!("{}{path}", app.address)).send().await.unwrap();
        let headers = response.headers().clone();
        assert_eq!(headers["content-security-policy"], if path.starts_with("/docs") { DOCS_CSP } else { API_CSP });
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["cross-origin-resource-policy"], "cross-origin", "{path}");
        assert!(!headers.contains_key("strict-transport-security"), "{path}: no HSTS over plain HTTP");
    }
    let tls = spawn_app_with(|s| s.app.behind_tls = true).await;
    let response = tls.client.get(format!("{}/health/", tls.address)).send().await.unwrap();
    assert_eq!(response.headers()["strict-transport-security"], HSTS);
    let off = spawn_app_with(|s| s.app.security_headers = false).await;
    let response = off.client.get(format!("{}/health/", off.address)).send().await.unwrap();
    assert!(!response.headers().contains_key("content-security-policy"), "SECURITY_HEADERS=false sends none");
}

#[tokio::test]
async fn the_swagger_ui_renders_and_lists_the_operations_under_its_policy() {
    let app = spawn_app_with(|_| {}).await;
    let chromium =
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|p| std::path::Path::new(p).exists());
    let chromium = chromium.expect("chromium is required for this test: run `make tools` (apt-get install chromium)");
    let profile = std::env::temp_dir().join(format!("target-app-docs-{}", uuid::Uuid::new_v4()));
    let url = format!("{}/docs/", app.address);
    let dom = tokio::process::Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--virtual-time-budget=10000", "--dump-dom", &url])
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&dom.stdout);
    let operations = dom.matches("opblock-summary-path").count();
    assert!(operations >= 20, "the page lists the operations ({operations} found): {}", &dom[..dom.len().min(2000)]);
    assert!(dom.contains("/health/ready"), "an operation by its path");
}

#[tokio::test]
async fn the_binary_checks_its_own_health_without_curl() {
    let app = spawn_app_with(|_| {}).await;
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let dead = crate::support::dead_port();
    let (up, down) = tokio::task::spawn_blocking(move || {
        (kit::probe::healthy(port, "/health/live"), kit::probe::healthy(dead, "/health/live"))
    })
    .await
    .unwrap();
    assert!(up && !down, "a running app is healthy, a dead port is not");
}
