//! Process faults: signals to the dev stack's own processes (named by `scripts/services.sh
//! status`, which lists only what it started, by PID file and process name) and to the
//! processes the harness hosts as the target — `target-app`, or the shop's services by name —
//! (restarted on their ports with their env). Nothing else is ever
//! signalled: a PID whose process name changed since it was listed is refused. What a run paused
//! is resumed, and what it killed is restarted, at rollback.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::plan::{Plan, ProcessStep, Signal, Step};
use crate::target::Target;

/// A dev-stack process as `status` listed it.
#[derive(Debug, Clone, PartialEq)]
struct Service {
    pid: u32,
    /// Its program name (`/proc/<pid>/comm`) when listed.
    program: Option<String>,
}

/// A process's program name, if it runs.
fn program(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).ok().map(|comm| comm.trim().to_owned())
}

/// The processes a run may signal, and what it did to them.
pub struct Processes {
    script: PathBuf,
    /// Dev-stack processes by name, with their PIDs: read once (a paused node makes `status`
    /// slower) and again after a restart.
    services: Mutex<BTreeMap<String, Service>>,
    /// The processes the harness hosts as the target (`target-app`, or the shop's services).
    hosted: Vec<String>,
    /// What still needs undoing: name → the last signal that left it paused or dead.
    changed: Mutex<BTreeMap<String, Signal>>,
}

impl Processes {
    /// Reads the dev stack's processes from `services.sh status` (found by [`services_script`]).
    pub async fn discover(hosted: Vec<String>) -> anyhow::Result<Self> {
        let script = services_script().ok_or_else(|| {
            anyhow::anyhow!("scripts/services.sh not found above the current directory; set GAUNTLET_ROOT")
        })?;
        let services = Mutex::new(status(&script).await?);
        Ok(Self { script, services, hosted, changed: Mutex::default() })
    }

    /// Checks that every action names a known process and asks for what it supports.
    pub fn check(&self, actions: &[&ProcessStep]) -> Result<(), String> {
        check_names(&self.services.lock().expect("services"), &self.hosted, actions)
    }

    /// Sends the action's signal (or restarts the process) and remembers what to undo; `target`
    /// is the run's target, for the processes it hosts.
    pub async fn signal(&self, action: &ProcessStep, target: &Target) -> anyhow::Result<String> {
        let name = action.name.as_str();
        let message = match action.signal {
            Signal::Restart if self.hosted.iter().any(|h| h == name) => {
                target.restart(name).await?;
                format!("{name} restarted (pid {})", target.pid(name).unwrap_or_default())
            }
            Signal::Restart => {
                self.restart(name).await?;
                let services = status(&self.script).await?;
                *self.services.lock().expect("services") = services;
                format!("{name} restarted")
            }
            signal => {
                let pid = self.pid(name, target)?;
                let flag = match signal {
                    Signal::Pause => "-STOP",
                    Signal::Resume => "-CONT",
                    _ => "-KILL",
                };
                let status = tokio::process::Command::new("kill").arg(flag).arg(pid.to_string()).status().await?;
                anyhow::ensure!(status.success(), "kill {flag} {pid} failed ({status})");
                format!("{} {name} (pid {pid})", signal.name())
            }
        };
        let mut changed = self.changed.lock().expect("process changes");
        match action.signal {
            Signal::Pause | Signal::Kill => changed.insert(name.to_owned(), action.signal),
            Signal::Resume | Signal::Restart => changed.remove(name),
        };
        Ok(message)
    }

    /// Resumes what the run paused and restarts what it killed, each within `limit`; one line per
    /// process.
    pub async fn restore(&self, limit: std::time::Duration, target: &Target) -> Vec<(String, anyhow::Result<String>)> {
        let changed = std::mem::take(&mut *self.changed.lock().expect("process changes"));
        let mut done = Vec::new();
        for (name, signal) in changed {
            let undo = match signal {
                Signal::Pause => Signal::Resume,
                _ => Signal::Restart,
            };
            let action = ProcessStep { name: name.clone(), signal: undo };
            let result = tokio::time::timeout(limit, self.signal(&action, target))
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("timed out after {limit:?}")));
            done.push((format!("{} {name}", undo.name()), result));
        }
        done
    }

    /// The PID: the target's now, or the dev stack's as `status` listed it, if that PID still
    /// runs the program it ran then.
    fn pid(&self, name: &str, target: &Target) -> anyhow::Result<u32> {
        if self.hosted.iter().any(|h| h == name) {
            return target.pid(name).ok_or_else(|| anyhow::anyhow!("{name} is not running"));
        }
        let services = self.services.lock().expect("services");
        let Some(service) = services.get(name) else {
            anyhow::bail!("{name} is not running (services.sh status lists no pid)");
        };
        anyhow::ensure!(
            program(service.pid) == service.program,
            "{name}'s pid {} no longer runs {:?}; not signalling it",
            service.pid,
            service.program
        );
        Ok(service.pid)
    }

    async fn restart(&self, name: &str) -> anyhow::Result<()> {
        let output = tokio::process::Command::new("bash")
            .arg(&self.script)
            .arg("restart")
            .arg(name)
            .kill_on_drop(true)
            .output()
            .await?;
        anyhow::ensure!(
            output.status.success(),
            "services.sh restart {name} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(())
    }
}

/// The plan's `process:` steps, in any stage.
pub fn steps_of(plan: &Plan) -> Vec<&ProcessStep> {
    plan.steps()
        .filter_map(|step| match step {
            Step::Process(process) => Some(process),
            _ => None,
        })
        .collect()
}

/// Checks a scenario's process names against the dev stack and the processes the harness will
/// host (`hosted`) before anything runs (`harness run` exits 2 on an unknown one).
pub async fn check_plan(plan: &Plan, hosted: &[String]) -> Result<(), String> {
    let wanted = steps_of(plan);
    if wanted.is_empty() {
        return Ok(());
    }
    let script = services_script().ok_or("scripts/services.sh not found above the current directory")?;
    let services = status(&script).await.map_err(|e| format!("{e:#}"))?;
    check_names(&services, hosted, &wanted)
}

fn check_names(
    services: &BTreeMap<String, Service>,
    hosted: &[String],
    actions: &[&ProcessStep],
) -> Result<(), String> {
    for action in actions {
        if hosted.contains(&action.name) {
            continue;
        }
        if action.name == crate::hosting::TARGET_APP {
            return Err("process target-app: the harness did not start the target (a --target URL was given)".into());
        }
        if !services.contains_key(&action.name) {
            let mut known: Vec<&str> = services.keys().map(String::as_str).collect();
            known.extend(hosted.iter().map(String::as_str));
            return Err(format!(
                "process {:?} is not one the project started; known (scripts/services.sh status): {}",
                action.name,
                known.join(", ")
            ));
        }
    }
    Ok(())
}

/// `scripts/services.sh`: under `$GAUNTLET_ROOT`, or in the nearest directory above the current
/// one that has it.
pub fn services_script() -> Option<PathBuf> {
    let relative = Path::new("scripts/services.sh");
    if let Some(root) = std::env::var_os("GAUNTLET_ROOT") {
        return Some(Path::new(&root).join(relative)).filter(|p| p.is_file());
    }
    let here = std::env::current_dir().ok()?;
    here.ancestors().map(|dir| dir.join(relative)).find(|p| p.is_file())
}

async fn status(script: &Path) -> anyhow::Result<BTreeMap<String, Service>> {
    let output = tokio::process::Command::new("bash").arg(script).arg("status").kill_on_drop(true).output().await?;
    anyhow::ensure!(output.status.success(), "services.sh status failed: {}", String::from_utf8_lossy(&output.stderr));
    let listed = parse_status(&String::from_utf8_lossy(&output.stdout));
    Ok(listed.into_iter().map(|(name, pid)| (name, Service { pid, program: program(pid) })).collect())
}

/// The `name: up pid N` lines of `services.sh status`.
fn parse_status(text: &str) -> BTreeMap<String, u32> {
    text.lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(": up pid ")?;
            Some((name.trim().to_owned(), rest.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lines_with_a_pid_name_processes() {
        let names = parse_status(
            "postgres: up\nredis-cluster: up\nredis-7001: up pid 41\nredis-7002: down\nopenbao: up pid 7\n",
        );
        assert_eq!(names, BTreeMap::from([("openbao".to_owned(), 7), ("redis-7001".to_owned(), 41)]));
    }

    #[test]
    fn unknown_names_are_refused_with_the_known_ones() {
        let processes = Processes {
            script: PathBuf::from("scripts/services.sh"),
            services: Mutex::new(BTreeMap::from([("redis-7001".to_owned(), Service { pid: 41, program: None })])),
            hosted: vec![crate::hosting::TARGET_APP.to_owned()],
            changed: Mutex::default(),
        };
        let action = |name: &str, signal| ProcessStep { name: name.into(), signal };
        let error = processes.check(&[&action("postgres", Signal::Pause)]).unwrap_err();
        assert!(error.contains("known (scripts/services.sh status): redis-7001, target-app"), "{error}");
        assert!(
            processes.check(&[&action("redis-7001", Signal::Kill), &action("target-app", Signal::Restart)]).is_ok()
        );
        let external = Processes { hosted: Vec::new(), ..processes };
        assert!(external.check(&[&action("target-app", Signal::Pause)]).unwrap_err().contains("did not start"));
    }

    #[test]
    fn a_pid_that_now_runs_another_program_is_never_signalled() {
        let me = std::process::id();
        let processes = |recorded: Option<String>| Processes {
            script: PathBuf::from("scripts/services.sh"),
            services: Mutex::new(BTreeMap::from([("redis-7001".to_owned(), Service { pid: me, program: recorded })])),
            hosted: Vec::new(),
            changed: Mutex::default(),
        };
        let target = Target::at("http://127.0.0.1:9", None, false).unwrap();
        assert_eq!(processes(program(me)).pid("redis-7001", &target).unwrap(), me);
        let refused = processes(Some("redis-server".into())).pid("redis-7001", &target).unwrap_err();
        assert!(refused.to_string().contains("no longer runs"), "{refused}");
    }
}
