//! [`Target`]: the system under test. Either a URL given by the user (loopback, or any URL
//! with `--allow-remote`), or `target-app` started by the harness on a free loopback port with
//! the scenario's env, waited for on `/health/ready`, its log bounded ([`crate::target_log`]),
//! and stopped (by its PID) when the handle drops. Also the HTTP calls the
//! harness makes besides the load: chaos API, `/metrics` and `/api/info` scrapes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::prometheus::MetricSet;
use crate::scenario::{ChaosAction, Dependency, Target as TargetSpec};
use crate::target_log::TargetLog;

/// A running target.
pub struct Target {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    token: Option<String>,
    client: reqwest::Client,
    /// The self-hosted process and its log recorder; behind a lock so a `process` action can
    /// restart it.
    hosted: std::sync::Mutex<Option<Hosted>>,
}

/// A self-hosted target-app: how it was launched, the process, and the task recording its log.
struct Hosted {
    binary: PathBuf,
    env: BTreeMap<String, String>,
    log_path: PathBuf,
    process: tokio::process::Child,
    log: tokio::task::JoinHandle<std::io::Result<TargetLog>>,
}

impl Hosted {
    /// Starts `binary` with `env`, its output recorded into `log_path` (after `previous`'s lines).
    fn launch(
        binary: PathBuf,
        env: BTreeMap<String, String>,
        log_path: PathBuf,
        previous: Option<TargetLog>,
    ) -> Result<Self, TargetError> {
        let mut process = tokio::process::Command::new(&binary)
            .envs(&env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TargetError::Start(format!("{}: {e}", binary.display())))?;
        let (stdout, stderr) = (process.stdout.take(), process.stderr.take());
        let path = log_path.clone();
        let log = tokio::spawn(async move {
            match (stdout, stderr) {
                (Some(stdout), Some(stderr)) => crate::target_log::record(stdout, stderr, &path, previous).await,
                _ => Err(std::io::Error::other("target-app's output was not piped")),
            }
        });
        Ok(Self { binary, env, log_path, process, log })
    }

    /// Ends the process (SIGTERM and up to `grace` to drain, then SIGKILL) and its log.
    async fn end(mut self, grace: Duration) -> (Launch, Option<TargetLog>) {
        if !grace.is_zero()
            && let Some(pid) = self.process.id()
        {
            let _ = tokio::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
        }
        if tokio::time::timeout(grace, self.process.wait()).await.is_err() {
            let _ = self.process.kill().await;
        }
        let log = match tokio::time::timeout(Duration::from_secs(5), self.log).await {
            Ok(Ok(Ok(summary))) => Some(summary),
            _ => None,
        };
        ((self.binary, self.env, self.log_path), log)
    }
}

/// What launching target-app again takes: binary, env and log file.
type Launch = (PathBuf, BTreeMap<String, String>, PathBuf);

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
    /// The URL is not on this machine, and remote targets were not allowed.
    #[error(
        "target {0} is not a loopback address; to send load to it, pass --allow-remote or set `allow_remote: true` in the scenario"
    )]
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

/// Refuses a URL off this machine unless remote targets are allowed.
pub fn check_allowed(url: &str, allow_remote: bool) -> Result<(), TargetError> {
    let url = url.trim_end_matches('/');
    if !allow_remote && !is_loopback(url) {
        return Err(TargetError::NotLoopback(url.to_owned()));
    }
    reqwest::Url::parse(url)
        .ok()
        .filter(|u| u.scheme() == "http" || u.scheme() == "https")
        .map(|_| ())
        .ok_or_else(|| TargetError::Unreachable { url: url.to_owned(), reason: "not an http or https URL".into() })
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

/// The address the harness's background scrapes (`/metrics` every 100 ms, `/api/info` every
/// second) come from, so they never use up the budget its actions and probes need.
pub const SCRAPER_ADDRESS: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 3));

/// The harness's own client; calls to a loopback target come from `source`.
fn client(url: &str, source: std::net::IpAddr) -> reqwest::Client {
    let builder = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30));
    let builder = if is_loopback(url) { builder.local_address(source) } else { builder };
    builder.build().expect("HTTP client builds")
}

impl Target {
    /// Connects to `url` (from `--target`) or the scenario's target, starting `target-app`
    /// when neither gives a URL. `log_dir` receives the self-hosted target's log.
    pub async fn open(
        spec: &TargetSpec,
        url_override: Option<&str>,
        allow_remote: bool,
        target_bin: Option<&Path>,
        uses_chaos: bool,
        proxy_env: &[(String, String)],
        log_dir: &Path,
    ) -> Result<Self, TargetError> {
        match url_override.or(spec.url.as_deref()) {
            Some(url) => {
                let target = Self::at(url, spec.chaos_token.clone(), allow_remote)?;
                target
                    .client
                    .get(format!("{}/", target.url))
                    .send()
                    .await
                    .map_err(|e| TargetError::Unreachable { url: target.url.clone(), reason: e.to_string() })?;
                Ok(target)
            }
            None => Self::start(spec, target_bin, uses_chaos, proxy_env, log_dir).await,
        }
    }

    /// A handle for read-only calls (scrapes) to an already running target, from
    /// [`SCRAPER_ADDRESS`].
    pub fn observer(url: String) -> Self {
        Self { client: client(&url, SCRAPER_ADDRESS), url, token: None, hosted: Default::default() }
    }

    /// A handle for a running target at `url` with the chaos `token`; nothing is started. A
    /// URL off this machine needs `allow_remote`.
    pub fn at(url: &str, token: Option<String>, allow_remote: bool) -> Result<Self, TargetError> {
        check_allowed(url, allow_remote)?;
        let url = url.trim_end_matches('/').to_owned();
        Ok(Self { client: client(&url, OBSERVER_ADDRESS), url, token, hosted: Default::default() })
    }

    /// The chaos token the harness uses (chosen by it for a self-hosted target), for redaction.
    pub fn chaos_token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The self-hosted target's PID.
    pub fn pid(&self) -> Option<u32> {
        self.hosted.lock().expect("hosted").as_ref().and_then(|hosted| hosted.process.id())
    }

    /// Kills the self-hosted target and starts it again on the same port with the same env, its
    /// log appended to the same file; returns once it is ready.
    pub async fn restart(&self) -> Result<(), TargetError> {
        let hosted = self.hosted.lock().expect("hosted").take();
        let hosted = hosted.ok_or_else(|| TargetError::Start("the harness did not start this target".into()))?;
        let ((binary, env, log_path), log) = hosted.end(Duration::ZERO).await;
        let relaunched = Hosted::launch(binary, env, log_path, log)?;
        *self.hosted.lock().expect("hosted") = Some(relaunched);
        self.wait_ready(Duration::from_secs(60)).await
    }

    async fn start(
        spec: &TargetSpec,
        target_bin: Option<&Path>,
        uses_chaos: bool,
        proxy_env: &[(String, String)],
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
        // Validation refused a scenario whose env sets what its proxies set.
        env.extend(proxy_env.iter().cloned());
        if token.is_none() {
            token = env.get("CHAOS_TOKEN").cloned();
        }
        std::fs::create_dir_all(log_dir).map_err(|e| TargetError::Start(e.to_string()))?;
        let hosted = Hosted::launch(binary, env, log_dir.join("target.log"), None)?;
        let url = format!("http://127.0.0.1:{port}");
        let target =
            Self { client: client(&url, OBSERVER_ADDRESS), url, token, hosted: std::sync::Mutex::new(Some(hosted)) };
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

    /// Stops a self-hosted target: SIGTERM (graceful drain), then SIGKILL after 5 s; returns
    /// how its log was written.
    pub async fn stop(&mut self) -> Option<TargetLog> {
        let hosted = self.hosted.get_mut().expect("hosted").take()?;
        hosted.end(Duration::from_secs(5)).await.1
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

    /// A GET of `path` that must answer 2xx with JSON.
    pub async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        expect_ok(self.client.get(format!("{}{path}", self.url)).send().await?).await
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

    /// The target's version from `/api/version` (`version`, with `build` when given).
    pub async fn version(&self) -> Option<String> {
        let body: Value = self.client.get(format!("{}/api/version", self.url)).send().await.ok()?.json().await.ok()?;
        let version = body["version"].as_str()?;
        Some(match body["build"].as_str() {
            Some(build) => format!("{version} ({build})"),
            None => version.to_owned(),
        })
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
        if let Some(hosted) = self.hosted.get_mut().ok().and_then(Option::as_mut) {
            let _ = hosted.process.start_kill();
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

    #[test]
    fn remote_targets_need_the_opt_in() {
        let refused = check_allowed("https://example.com", false).unwrap_err().to_string();
        assert!(refused.contains("--allow-remote") && refused.contains("allow_remote: true"), "{refused}");
        assert!(check_allowed("https://example.com", true).is_ok());
        assert!(check_allowed("http://127.0.0.1:8000/", false).is_ok());
        assert!(check_allowed("ftp://example.com", true).is_err());
    }
}
