//! Runs a phase's `before`/`after` and the scenario's `rollback` steps, each bounded by its
//! timeout and logged for the report.

use std::time::{Duration, Instant};

use crate::live;
use crate::network::Network;
use crate::plan::Step;
use crate::process::Processes;
use crate::report::model::ActionLog;
use crate::target::Target;
use crate::target::address::is_loopback;
use crate::variables::Variables;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What actions act on.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The target (chaos API, HTTP actions).
    pub target: &'a Target,
    /// The run's proxies.
    pub network: &'a Network,
    /// The processes `process:` may signal; `None` when the scenario has no process actions.
    pub processes: Option<&'a Processes>,
    /// The run's captures: `http` actions fill them and use them.
    pub variables: &'a std::sync::Mutex<Variables>,
    /// The live metrics and the scenario's name, with `--metrics-listen`.
    pub live: Option<(&'a crate::live::Live, &'a str)>,
}

/// Runs one step; `run_started` anchors the log's timestamps.
pub async fn run(step: &Step, context: Context<'_>, stage: &str, run_started: Instant) -> ActionLog {
    let Context { target, network, processes, variables, live } = context;
    let started = Instant::now();
    let (kind, description, result) = match step {
        Step::Chaos { fault, service, timeout } => {
            let within = service.map(|s| format!(" in {s}")).unwrap_or_default();
            let description = format!("inject {} {} fault{within}", fault.dependency, fault.kind);
            let result = bounded(*timeout, async {
                let injected = target.inject(fault, *service).await?;
                let ids = injected.iter().map(|(service, f)| {
                    let id = f["id"].as_str().unwrap_or("?");
                    if injected.len() == 1 { format!("fault {id}") } else { format!("{service}: fault {id}") }
                });
                Ok(ids.collect::<Vec<_>>().join(", "))
            })
            .await;
            ("chaos", description, result)
        }
        Step::ClearChaos { timeout } => {
            let result =
                bounded(*timeout, async { target.clear_all().await.map(|cleared| format!("cleared {cleared}")) }).await;
            ("clear_chaos", "clear all chaos faults".to_owned(), result)
        }
        Step::Wait(duration) => {
            tokio::time::sleep(*duration).await;
            ("wait", format!("wait {duration:?}"), Ok(String::new()))
        }
        Step::Http(http) => {
            let description = format!("{} {}", http.method, http.path);
            let result = bounded(http.timeout, async {
                let known = variables.lock().expect("variables").clone();
                let none = Variables::default();
                let path = known.render(&http.path, &none).map_err(anyhow::Error::msg)?;
                let url = if path.starts_with('/') { format!("{}{path}", target.url) } else { path.clone() };
                // A path goes to the target, already vetted (loopback, or allowed remote); a
                // full URL must be on this machine.
                anyhow::ensure!(path.starts_with('/') || is_loopback(&url), "{url} is not a loopback address");
                let method = reqwest::Method::from_bytes(http.method.as_bytes())?;
                let mut request = target.client().request(method, &url);
                for (name, value) in &http.headers {
                    request = request.header(name, known.render(value, &none).map_err(anyhow::Error::msg)?);
                }
                if let Some(body) = &http.body {
                    let mut body = body.clone();
                    known.render_json(&mut body, &none).map_err(anyhow::Error::msg)?;
                    request = request.json(&body);
                }
                let response = request.send().await?;
                let status = response.status();
                let body = response.bytes().await?;
                let ok = http.expect_status.map_or(status.is_success(), |want| status.as_u16() == want);
                anyhow::ensure!(ok, "answered {status}");
                let mut captured = known;
                captured.capture(&http.capture, &body).map_err(anyhow::Error::msg)?;
                *variables.lock().expect("variables") = captured;
                let kept = if http.capture.is_empty() {
                    String::new()
                } else {
                    format!("; captured {}", http.capture.keys().cloned().collect::<Vec<_>>().join(", "))
                };
                Ok(format!("answered {status}{kept}"))
            })
            .await;
            ("http", description, result)
        }
        Step::Exec { command, timeout } => {
            let result = bounded(*timeout, async {
                let output = tokio::process::Command::new("sh")
                    .arg("-c")
                    .arg(command)
                    .env("TARGET_URL", &target.url)
                    .kill_on_drop(true)
                    .output()
                    .await?;
                let text = String::from_utf8_lossy(&output.stdout).trim().chars().take(500).collect::<String>();
                anyhow::ensure!(
                    output.status.success(),
                    "exited with {}: {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                );
                Ok(text)
            })
            .await;
            ("exec", command.clone(), result)
        }
        Step::Network { proxy, toxic, lasts } => {
            let description = format!("{} toxic on {proxy} ({})", toxic.kind.toxic_type(), toxic.stream);
            ("network", description, bounded(DEFAULT_TIMEOUT, network.add_toxic(proxy, toxic.clone(), *lasts)).await)
        }
        Step::Proxy { name, enabled } => {
            let verb = if *enabled { "enable" } else { "disable" };
            let description = format!("{verb} proxy {name}");
            ("proxy", description, bounded(DEFAULT_TIMEOUT, network.set_enabled(name, *enabled)).await)
        }
        Step::ClearNetwork => {
            ("clear_network", "clear every toxic and proxy".to_owned(), bounded(DEFAULT_TIMEOUT, network.clear()).await)
        }
        Step::Process(process) => {
            let description = format!("{} {}", process.signal.name(), process.name);
            let result = match processes {
                Some(processes) => bounded(Duration::from_secs(90), processes.signal(process, target)).await,
                None => Err("process actions were not prepared for this run".to_owned()),
            };
            ("process", description, result)
        }
    };
    if let (Some((live, scenario)), true) = (live, result.is_ok()) {
        live.note(scenario, started_fault(step), ended_faults(step));
    }
    log(stage, kind, description, started, run_started, result)
}

/// The fault `step` puts in place, for the live faults gauge.
fn started_fault(step: &Step) -> Option<live::Started<'_>> {
    let started = |kind, name, lasts| Some(live::Started { kind, name, lasts });
    match step {
        Step::Chaos { fault, .. } => started("chaos", &fault.dependency, Some(Duration::from_secs(fault.duration_s))),
        Step::Network { proxy, lasts, .. } => started("toxic", proxy, *lasts),
        Step::Proxy { name, enabled: false } => started("proxy_disabled", name, None),
        Step::Process(process) if process.signal.stops() => started("process", &process.name, None),
        _ => None,
    }
}

/// The faults `step` takes away, for the live faults gauge.
fn ended_faults(step: &Step) -> Option<live::Ended<'_>> {
    let ended = |kinds, name| Some(live::Ended { kinds, name });
    match step {
        Step::ClearChaos { .. } => ended(&["chaos"], None),
        Step::ClearNetwork => ended(&["toxic", "proxy_disabled"], None),
        Step::Proxy { name, enabled: true } => ended(&["proxy_disabled"], Some(name)),
        Step::Process(process) if !process.signal.stops() => ended(&["process"], Some(&process.name)),
        _ => None,
    }
}

/// The log of an action that started at `started`.
pub fn log(
    stage: &str,
    kind: &str,
    description: String,
    started: Instant,
    run_started: Instant,
    result: Result<String, String>,
) -> ActionLog {
    let (ok, message) = match result {
        Ok(message) => (true, message),
        Err(message) => (false, message),
    };
    ActionLog {
        stage: stage.to_owned(),
        kind: kind.to_owned(),
        description,
        at_s: started.duration_since(run_started).as_secs_f64(),
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        ok,
        message,
    }
}

/// Undoes every fault the run left behind, whatever the scenario's own rollback did: every
/// proxy reset, every paused process resumed, every killed one restarted.
pub async fn restore(context: Context<'_>, run_started: Instant) -> Vec<ActionLog> {
    let mut logs = Vec::new();
    if !context.network.addresses().is_empty() {
        let started = Instant::now();
        let result = bounded(DEFAULT_TIMEOUT, context.network.clear()).await;
        logs.push(log("rollback", "clear_network", "reset every proxy".into(), started, run_started, result));
    }
    if let Some(processes) = context.processes {
        let started = Instant::now();
        for (description, result) in processes.restore(Duration::from_secs(90), context.target).await {
            let result = result.map_err(|e| e.to_string());
            logs.push(log("rollback", "process", description, started, run_started, result));
        }
    }
    logs
}

async fn bounded(limit: Duration, work: impl Future<Output = anyhow::Result<String>>) -> Result<String, String> {
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(message)) => Ok(message),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("timed out after {limit:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an action's success tells the live faults gauge.
    fn note(live: &crate::live::Live, yaml: &str) {
        let action = serde_yaml::from_str(yaml).unwrap();
        let step = crate::scenario::action::compile_step(&action, false).unwrap();
        live.note("s", started_fault(&step), ended_faults(&step));
    }

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
    }

    #[test]
    fn faults_count_until_cleared_or_expired() {
        let live = crate::live::Live::new().unwrap();
        let active =
            |kind: &str| value(&live.render(), &format!(r#"gauntlet_faults_active{{kind="{kind}",scenario="s"}}"#));
        note(&live, "chaos: {dependency: postgres, kind: error}");
        note(&live, "chaos: {dependency: redis, kind: error, duration_s: 1}");
        note(&live, "network: {proxy: db, toxic: latency, latency_ms: 5}");
        note(&live, "proxy: {name: db, enabled: false}");
        note(&live, "process: {name: redis-7001, signal: pause}");
        assert_eq!(
            (active("chaos"), active("toxic"), active("proxy_disabled"), active("process")),
            (Some(2.0), Some(1.0), Some(1.0), Some(1.0))
        );
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(active("chaos"), Some(1.0), "the 1 s fault expired");
        note(&live, "clear_chaos: {}");
        note(&live, "proxy: {name: db, enabled: true}");
        note(&live, "process: {name: redis-7001, signal: resume}");
        assert_eq!(
            (active("chaos"), active("toxic"), active("proxy_disabled"), active("process")),
            (Some(0.0), Some(1.0), Some(0.0), Some(0.0))
        );
        note(&live, "process: {name: redis-7001, signal: kill}");
        live.rolled_back("s");
        assert_eq!((active("toxic"), active("process")), (Some(0.0), Some(0.0)));
    }
}
