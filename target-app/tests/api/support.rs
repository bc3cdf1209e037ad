//! Test support: [`spawn_app`] runs the real app on port 0 against the real dev stack that
//! `make services` starts, with its own Redis key prefix, and returns a [`TestApp`].

use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::Value;
use target_app::app::App;
use target_app::config::{self, Settings};
use target_app::state::AppState;

/// The chaos token every test app accepts.
pub(crate) const CHAOS_TOKEN: &str = "test-chaos-token";

/// A running app and a client for it.
pub(crate) struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub(crate) address: String,
    /// A client without proxies or redirects.
    pub(crate) client: reqwest::Client,
    /// The app's state (metrics, breakers, settings).
    pub(crate) state: AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The normal settings with test overrides: port 0, absolute AppRole path, a key prefix of
/// its own, chaos on, limits high enough not to interfere, quick timeouts.
pub(crate) fn test_settings() -> Settings {
    let mut settings = config::load().expect("settings load");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    settings.app.port = 0;
    settings.log.json = true;
    if settings.vault.approle_dir.is_relative() {
        settings.vault.approle_dir = root.join(&settings.vault.approle_dir);
    }
    settings.redis.key_prefix = format!("test-{}:", uuid::Uuid::new_v4());
    settings.chaos.enabled = true;
    settings.chaos.token = Some(CHAOS_TOKEN.to_owned().into());
    settings.rate_limit.default = "100000/minute".parse().unwrap();
    settings.rate_limit.health = "100000/minute".parse().unwrap();
    settings.rate_limit.metrics = "100000/minute".parse().unwrap();
    settings.dependencies.timeout = Duration::from_millis(1500);
    settings.dependencies.health_timeout = Duration::from_millis(1500);
    // Tests count dependency calls and failures exactly; background connects would add some.
    settings.dependencies.warm_up = false;
    settings
}

/// Runs the app with [`test_settings`].
pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Runs the app with [`test_settings`] changed by `configure`.
pub(crate) async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings();
    configure(&mut settings);
    spawn_settings(settings).await
}

/// Runs the app with exactly these settings.
pub(crate) async fn spawn_settings(settings: Settings) -> TestApp {
    let app = App::build(settings).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port);
    let state = app.state.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run(async {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().unwrap();
    TestApp { address, client, state, shutdown: Some(tx) }
}

/// A loopback port nothing listens on: the "dependency is down" address.
pub(crate) fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl TestApp {
    /// Signals shutdown, as SIGTERM does in `main`; in-flight requests still complete.
    pub(crate) fn shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// `GET path`.
    pub(crate) async fn get(&self, path: &str) -> Response {
        self.client.get(format!("{}{path}", self.address)).send().await.expect("request sent")
    }

    /// `GET path`, returning status and JSON body.
    pub(crate) async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        json_of(self.get(path).await).await
    }

    /// `POST path` with a JSON body.
    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(format!("{}{path}", self.address)).json(body).send().await.expect("request sent")
    }

    /// `DELETE path`.
    pub(crate) async fn delete(&self, path: &str) -> Response {
        self.client.delete(format!("{}{path}", self.address)).send().await.expect("request sent")
    }

    /// `POST /chaos/faults` with the test token; returns the fault's id.
    pub(crate) async fn inject_fault(&self, fault: Value) -> String {
        let response = self
            .client
            .post(format!("{}/chaos/faults", self.address))
            .bearer_auth(CHAOS_TOKEN)
            .json(&fault)
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(response).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// `DELETE /chaos/faults` with the test token.
    pub(crate) async fn clear_faults(&self) {
        let response =
            self.client.delete(format!("{}/chaos/faults", self.address)).bearer_auth(CHAOS_TOKEN).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }

    /// The value of one sample of `/metrics`, e.g. `metric("dependency_calls_total", "service=\"postgres\"")`.
    /// A series that is not there fails the test: a missing metric is never read as 0.
    pub(crate) fn metric(&self, name: &str, labels: &str) -> f64 {
        self.metric_opt(name, labels).unwrap_or_else(|| panic!("/metrics has no series {name}{{{labels}}}"))
    }

    /// The value of one sample of `/metrics`, or `None` when the series is not there.
    pub(crate) fn metric_opt(&self, name: &str, labels: &str) -> Option<f64> {
        let text = self.state.metrics.render();
        let prefix = format!("{name}{{{labels}}} ");
        text.lines().find_map(|line| line.strip_prefix(&prefix)).map(|value| value.trim().parse().unwrap())
    }
}

/// This process's resident memory, MiB (the apps under test run in it).
pub(crate) fn rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap();
    line.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap() / 1024
}

/// Status and JSON body of a response.
pub(crate) async fn json_of(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, body)
}

/// Asserts the documented error body and returns it.
pub(crate) fn assert_error_body(status: StatusCode, body: &Value, expected_status: u16, error: &str) {
    assert_eq!(status.as_u16(), expected_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["status_code"], expected_status, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{body}");
    assert!(body.get("details").is_some(), "{body}");
}
