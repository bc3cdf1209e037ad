//! [`Target`]: the system under test. Either a URL given by the user, or `target-app` started
//! by the harness on a free loopback port with the scenario's env, waited for on
//! `/health/ready`, and stopped (by its PID) when the handle drops. Also the HTTP calls the
//! harness makes besides the load: chaos API, `/metrics` and `/api/info` scrapes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::prometheus::MetricSet;
use crate::scenario::{ChaosAction, Dependency, Target as TargetSpec};

/// A running target.
pub struct Target {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    token: Option<String>,
    client: reqwest::Client,
    process: Option<tokio::process::Child>,
}

/// One sample of the target's resource use (from its `/api/info`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ResourceSample {
    /// Seconds since the run started.
    pub at_s: f64,
    /// Process CPU, percent of one core.
    pub cpu_percent: f64,
    /// Process resident memory, MiB.
    pub memory_mb: f64,
}

/// Why a target could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The URL is not on this machine.
    #[error("target {0} is not a loopback address; Gauntlet only sends traffic to 127.0.0.1/localhost/[::1]")]
    NotLoopback(String),
    /// Nothing answers at the URL.
    #[error("target {url} is unreachable: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The self-hosted target did not start or become ready.
    #[error("could not start target-app: {0}")]
    Start(String),
}

/// Whether a URL points at this machine.
pub fn is_loopback(url: &str) -> bool {
    reqwest::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).is_some_and(|host| {
        host == "localhost" || host == "[::1]" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    })
}

/// The address the harness's own calls (readiness, scrapes, chaos API) come from, so they
/// never count against the per-IP rate limits the load (from 127.0.0.1) is testing.
pub const OBSERVER_ADDRESS: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(OBSERVER_ADDRESS)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client builds")
}

impl Target {
    /// Connects to `url` (from `--target`) or the scenario's target, starting `target-app`
    /// when neither gives a URL. `log_dir` receives the self-hosted target's log.
    pub async fn open(
        spec: &TargetSpec,
        url_override: Option<&str>,
        target_bin: Option<&Path>,
        uses_chaos: bool,
        log_dir: &Path,
    ) -> Result<Self, TargetError> {
        match url_override.or(spec.url.as_deref()) {
            Some(url) => {
                let target = Self::at(url, spec.chaos_token.clone())?;
                target
                    .client
                    .get(format!("{}/", target.url))
                    .send()
                    .await
                    .map_err(|e| TargetError::Unreachable { url: target.url.clone(), reason: e.to_string() })?;
                Ok(target)
            }
            None => Self::start(spec, target_bin, uses_chaos, log_dir).await,
        }
    }

    /// A handle for read-only calls (scrapes) to an already running target.
    pub fn observer(url: String) -> Self {
        Self { url, token: None, client: client(), process: None }
    }

    /// A handle for a running target at `url` with the chaos `token`; nothing is started.
    pub fn at(url: &str, token: Option<String>) -> Result<Self, TargetError> {
        let url = url.trim_end_matches('/').to_owned();
        if !is_loopback(&url) {
            return Err(TargetError::NotLoopback(url));
        }
        Ok(Self { url, token, client: client(), process: None })
    }

    async fn start(
        spec: &TargetSpec,
        target_bin: Option<&Path>,
        uses_chaos: bool,
        log_dir: &Path,
    ) -> Result<Self, TargetError> {
        let binary = target_bin.map(Path::to_path_buf).or_else(default_binary).ok_or_else(|| {
            TargetError::Start(
                "target-app binary not found next to harness; build it (cargo build --workspace) or pass --target-bin"
                    .into(),
            )
        })?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| TargetError::Start(format!("no free port: {e}")))?
            .port();
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        env.insert("HOST".into(), "127.0.0.1".into());
        env.insert("PORT".into(), port.to_string());
        env.insert("LOG_FORMAT".into(), "json".into());
        env.insert("REDIS_KEY_PREFIX".into(), format!("gauntlet-{}-{port}:", std::process::id()));
        let mut token = spec.chaos_token.clone();
        if uses_chaos && !spec.env.contains_key("CHAOS_ENABLED") {
            let chosen = token.get_or_insert_with(|| format!("gauntlet-{}", rand::random::<u64>())).clone();
            env.insert("CHAOS_ENABLED".into(), "true".into());
            env.insert("CHAOS_TOKEN".into(), chosen);
        }
        env.extend(spec.env.clone());
        if token.is_none() {
            token = env.get("CHAOS_TOKEN").cloned();
        }
        std::fs::create_dir_all(log_dir).map_err(|e| TargetError::Start(e.to_string()))?;
        let log = std::fs::File::create(log_dir.join("target.log")).map_err(|e| TargetError::Start(e.to_string()))?;
        let stderr = log.try_clone().map_err(|e| TargetError::Start(e.to_string()))?;
        let process = tokio::process::Command::new(&binary)
            .envs(&env)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TargetError::Start(format!("{}: {e}", binary.display())))?;
        let target = Self { url: format!("http://127.0.0.1:{port}"), token, client: client(), process: Some(process) };
        target.wait_ready(Duration::from_secs(60)).await?;
        Ok(target)
    }

    async fn wait_ready(&self, limit: Duration) -> Result<(), TargetError> {
        let started = Instant::now();
        let mut last = String::from("no answer");
        while started.elapsed() < limit {
            match self.client.get(format!("{}/health/ready", self.url)).send().await {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => last = format!("{}: {}", response.status(), response.text().await.unwrap_or_default()),
                Err(error) => last = error.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(TargetError::Start(format!("/health/ready did not answer 200 within {limit:?}; last: {last}")))
    }

    /// Stops a self-hosted target: SIGTERM (graceful drain), then SIGKILL after 5 s.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.process.take() {
            if let Some(pid) = child.id() {
                let _ = tokio::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
            }
            if tokio::time::timeout(Duration::from_secs(5), child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
    }

    /// The HTTP client the harness uses for everything but the load.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    fn chaos(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, format!("{}{path}", self.url));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// `POST /chaos/faults`; returns the fault as the target echoed it.
    pub async fn inject(&self, fault: &ChaosAction) -> anyhow::Result<Value> {
        let response = self.chaos(reqwest::Method::POST, "/chaos/faults").json(fault).send().await?;
        expect_ok(response).await
    }

    /// `GET /chaos/faults`.
    pub async fn faults(&self) -> anyhow::Result<Value> {
        expect_ok(self.chaos(reqwest::Method::GET, "/chaos/faults").send().await?).await
    }

    /// `DELETE /chaos/faults` or `DELETE /chaos/faults/{id}`.
    pub async fn clear(&self, id: Option<&str>) -> anyhow::Result<Value> {
        let path = id.map_or_else(|| "/chaos/faults".to_owned(), |id| format!("/chaos/faults/{id}"));
        expect_ok(self.chaos(reqwest::Method::DELETE, &path).send().await?).await
    }

    /// A `/metrics` scrape, or `None` if the target has none.
    pub async fn metrics(&self) -> Option<MetricSet> {
        let response = self.client.get(format!("{}/metrics", self.url)).send().await.ok()?;
        response.status().is_success().then_some(())?;
        Some(MetricSet::parse(&response.text().await.ok()?))
    }

    /// Those of `dependencies` that `/health/{name}` does not report healthy, each with what
    /// it reported instead.
    pub async fn unhealthy(&self, dependencies: &[Dependency]) -> Vec<String> {
        let checks = dependencies.iter().map(|dependency| async move {
            let answer = self.client.get(format!("{}/health/{dependency}", self.url)).send().await;
            let status = match answer {
                Ok(response) => match response.json::<Value>().await {
                    Ok(body) if body["status"] == "healthy" => return None,
                    Ok(body) => body["status"].as_str().unwrap_or("no status").to_owned(),
                    Err(error) => error.to_string(),
                },
                Err(error) => error.to_string(),
            };
            Some(format!("{dependency}, which is {status}"))
        });
        futures::future::join_all(checks).await.into_iter().flatten().collect()
    }

    /// Process CPU and memory from `/api/info`, if the target reports them.
    pub async fn resources(&self, at_s: f64) -> Option<ResourceSample> {
        let info: Value = self.client.get(format!("{}/api/info", self.url)).send().await.ok()?.json().await.ok()?;
        Some(ResourceSample {
            at_s,
            cpu_percent: info["process"]["cpu_percent"].as_f64()?,
            memory_mb: info["process"]["memory_bytes"].as_f64()? / (1024.0 * 1024.0),
        })
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        // `kill_on_drop` ends a self-hosted target the harness could not stop gracefully.
        if let Some(child) = self.process.as_mut() {
            let _ = child.start_kill();
        }
    }
}

async fn expect_ok(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body["message"].as_str().map_or_else(|| body.to_string(), str::to_owned);
        anyhow::bail!("{status}: {message}");
    }
    Ok(body)
}

/// `target-app` next to the running harness binary (both live in `target/<profile>/`).
fn default_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    // Test binaries live one level deeper, in target/<profile>/deps/.
    [dir.join("target-app"), dir.parent()?.join("target-app")].into_iter().find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_allowed() {
        assert!(is_loopback("http://127.0.0.1:8000"));
        assert!(is_loopback("http://localhost:8000/"));
        assert!(is_loopback("http://[::1]:8000"));
        assert!(!is_loopback("http://10.0.0.5:8000"));
        assert!(!is_loopback("https://example.com"));
        assert!(!is_loopback("not a url"));
    }
}
