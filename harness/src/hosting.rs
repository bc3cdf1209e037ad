//! [`Hosting`]: the processes the harness runs as the target — target-app alone, or the shop's
//! six services — by name, each with how to launch it again and the URL that says it is ready.
//! Their output goes through one bounded log ([`crate::target_log`]); they are stopped by their
//! PIDs (SIGTERM, then SIGKILL after a grace period) and killed if the handle is dropped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::report::model::TargetLog;
use crate::target::address::TargetError;
use crate::target_log::{self, Lines};

/// How often a starting process's ready URL is asked.
const READY_POLL: Duration = Duration::from_millis(50);

/// The name of the self-hosted target-app in `process:` actions.
pub const TARGET_APP: &str = "target-app";

/// How to start one hosted process, again after a restart.
#[derive(Clone, Debug)]
pub struct Launch {
    /// The name `process:` actions use (`target-app`, `orders`, ...).
    pub name: String,
    /// The program.
    pub binary: PathBuf,
    /// Its arguments (a shop service's role).
    pub args: Vec<String>,
    /// Its whole environment beyond the harness's own.
    pub env: BTreeMap<String, String>,
    /// GET this until it answers ready (see [`is_ready`]).
    pub ready_url: String,
}

struct Hosted {
    launch: Launch,
    process: tokio::process::Child,
    forward: tokio::task::JoinHandle<()>,
}

/// The hosted processes, in start order, and their log.
pub struct Hosting {
    processes: Mutex<Vec<Hosted>>,
    lines: Mutex<Option<Lines>>,
    log: Mutex<Option<tokio::task::JoinHandle<std::io::Result<TargetLog>>>>,
    /// Run once every process has stopped (the shop drops the database it made).
    cleanup: Mutex<Option<Launch>>,
    client: reqwest::Client,
}

impl Hosting {
    /// No processes yet; their output will go to `log_path`, masked by `redactor`.
    pub fn new(log_path: &std::path::Path, redactor: crate::redact::Redactor, client: reqwest::Client) -> Self {
        let (lines, log) = target_log::recorder(log_path, redactor);
        Self {
            processes: Mutex::default(),
            lines: Mutex::new(Some(lines)),
            log: Mutex::new(Some(log)),
            cleanup: Mutex::default(),
            client,
        }
    }

    /// Starts a process and waits up to `limit` for it to be ready.
    pub async fn start(&self, launch: Launch, limit: Duration) -> Result<(), TargetError> {
        self.start_all(vec![launch], limit).await
    }

    /// Starts the processes all at once (the shop's services tolerate each other's absence and
    /// a concurrent first start), then waits up to `limit` for each, in order, to be ready.
    pub async fn start_all(&self, launches: Vec<Launch>, limit: Duration) -> Result<(), TargetError> {
        let mut started = Vec::with_capacity(launches.len());
        let mut ready = Ok(());
        for launch in launches {
            match self.spawn(launch) {
                Ok(hosted) => started.push(hosted),
                Err(error) => {
                    ready = Err(error);
                    break;
                }
            }
        }
        for hosted in &mut started {
            if ready.is_ok() {
                ready = self.wait_ready(hosted, limit).await;
            }
        }
        self.processes.lock().expect("hosted").extend(started);
        ready
    }

    /// What to run after every process stopped.
    pub fn on_stop(&self, launch: Launch) {
        *self.cleanup.lock().expect("cleanup") = Some(launch);
    }

    fn spawn(&self, launch: Launch) -> Result<Hosted, TargetError> {
        let lines = self.lines.lock().expect("lines").clone().ok_or_else(|| TargetError::Start("stopped".into()))?;
        let mut process = tokio::process::Command::new(&launch.binary)
            .args(&launch.args)
            .envs(&launch.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TargetError::Start(format!("{}: {e}", launch.binary.display())))?;
        let (stdout, stderr) = (process.stdout.take(), process.stderr.take());
        let tag = (launch.name != TARGET_APP).then(|| launch.name.clone());
        let forward = tokio::spawn(async move {
            if let (Some(stdout), Some(stderr)) = (stdout, stderr) {
                target_log::forward(stdout, stderr, tag, lines).await;
            }
        });
        Ok(Hosted { launch, process, forward })
    }

    /// The names of the hosted processes.
    pub fn names(&self) -> Vec<String> {
        self.processes.lock().expect("hosted").iter().map(|h| h.launch.name.clone()).collect()
    }

    /// The PID of the process named `name`.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.processes.lock().expect("hosted").iter().find(|h| h.launch.name == name).and_then(|h| h.process.id())
    }

    /// Kills `name` and starts it again with the same launch; returns once it is ready.
    pub async fn restart(&self, name: &str) -> Result<(), TargetError> {
        let hosted = {
            let mut processes = self.processes.lock().expect("hosted");
            let index = processes
                .iter()
                .position(|h| h.launch.name == name)
                .ok_or_else(|| TargetError::Start(format!("the harness did not start {name}")))?;
            processes.remove(index)
        };
        let launch = hosted.launch.clone();
        end(hosted, Duration::ZERO).await;
        let mut relaunched = self.spawn(launch)?;
        let ready = self.wait_ready(&mut relaunched, Duration::from_secs(60)).await;
        self.processes.lock().expect("hosted").push(relaunched);
        ready
    }

    /// Stops every process, last started first (SIGTERM, up to 5 s to drain, then SIGKILL), runs
    /// the cleanup, and returns how the log was written.
    pub async fn stop(&self) -> Option<TargetLog> {
        let processes = std::mem::take(&mut *self.processes.lock().expect("hosted"));
        for hosted in processes.into_iter().rev() {
            end(hosted, Duration::from_secs(5)).await;
        }
        let cleanup = self.cleanup.lock().expect("cleanup").take();
        if let Some(launch) = cleanup {
            let name = launch.name.clone();
            match self.spawn(launch) {
                Ok(hosted) => {
                    let waited = tokio::time::timeout(Duration::from_secs(30), wait_for_exit(hosted)).await;
                    if !matches!(waited, Ok(Some(true))) {
                        tracing::warn!(cleanup = name, "cleanup did not finish cleanly");
                    }
                }
                Err(error) => tracing::warn!(%error, "cleanup did not start"),
            }
        }
        self.lines.lock().expect("lines").take();
        let log = self.log.lock().expect("log").take()?;
        match tokio::time::timeout(Duration::from_secs(5), log).await {
            Ok(Ok(Ok(summary))) => Some(summary),
            _ => None,
        }
    }

    /// Polls the process's ready URL until it answers ready. A process that exits meanwhile is
    /// a failure at once: its port may be answered by another (two services given one port).
    async fn wait_ready(&self, hosted: &mut Hosted, limit: Duration) -> Result<(), TargetError> {
        let (url, name) = (hosted.launch.ready_url.clone(), hosted.launch.name.clone());
        let url = url.as_str();
        let started = Instant::now();
        let mut last = String::from("no answer");
        while started.elapsed() < limit {
            if let Ok(Some(status)) = hosted.process.try_wait() {
                return Err(TargetError::Start(format!(
                    "{name} exited ({status}) before it was ready; see target.log"
                )));
            }
            match self.client.get(url).send().await {
                Ok(response) => {
                    let status = response.status();
                    let body = response.text().await.unwrap_or_default();
                    if is_ready(status, &body) {
                        return Ok(());
                    }
                    last = format!("{status}: {body}");
                }
                Err(error) => last = error.to_string(),
            }
            tokio::time::sleep(READY_POLL).await;
        }
        Err(TargetError::Start(format!("{url} did not answer ready within {limit:?}; last: {last}")))
    }
}

/// Ready: a 2xx whose JSON, if it has a `status`, does not say `degraded` or `unhealthy` (the
/// shop gateway answers 200 while a service is still starting).
pub fn is_ready(status: reqwest::StatusCode, body: &str) -> bool {
    let reported =
        serde_json::from_str::<serde_json::Value>(body).ok().and_then(|v| v["status"].as_str().map(str::to_owned));
    status.is_success() && !matches!(reported.as_deref(), Some("degraded" | "unhealthy"))
}

/// SIGTERM and up to `grace` to drain (none: SIGKILL at once), then the output forwarder.
async fn end(mut hosted: Hosted, grace: Duration) {
    if !grace.is_zero()
        && let Some(pid) = hosted.process.id()
    {
        let _ = tokio::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
    }
    if tokio::time::timeout(grace, hosted.process.wait()).await.is_err() {
        let _ = hosted.process.kill().await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), hosted.forward).await;
}

/// Whether the process exited successfully (`None` if waiting failed).
async fn wait_for_exit(mut hosted: Hosted) -> Option<bool> {
    let status = hosted.process.wait().await.ok()?;
    let _ = hosted.forward.await;
    Some(status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_means_2xx_and_not_reported_degraded() {
        use reqwest::StatusCode;
        assert!(is_ready(StatusCode::OK, r#"{"status":"healthy"}"#));
        assert!(is_ready(StatusCode::OK, "ok"));
        assert!(!is_ready(StatusCode::OK, r#"{"status":"degraded"}"#));
        assert!(!is_ready(StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"healthy"}"#));
    }

    #[tokio::test]
    async fn start_all_starts_every_process_before_waiting_for_any() {
        let dir = std::env::temp_dir().join(format!("gauntlet-hosting-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let hosting = Hosting::new(&dir.join("target.log"), crate::redact::Redactor::default(), client);
        // Each becomes ready a second after it starts: one after another would take 3 s.
        let launches = crate::target::ports::free_ports(3).unwrap().into_iter().map(|port| Launch {
            name: format!("server-{port}"),
            binary: "sh".into(),
            args: vec!["-c".into(), format!("sleep 1 && exec python3 -m http.server {port} --bind 127.0.0.1")],
            env: BTreeMap::new(),
            ready_url: format!("http://127.0.0.1:{port}/"),
        });
        let started = Instant::now();
        hosting.start_all(launches.collect(), Duration::from_secs(10)).await.unwrap();
        let elapsed = started.elapsed();
        assert_eq!(hosting.names().len(), 3);
        assert!(elapsed < Duration::from_millis(2500), "started together: {elapsed:?}");
        hosting.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
