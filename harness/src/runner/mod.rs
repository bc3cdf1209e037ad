//! Runs one loaded scenario from start to report: opens the target, runs each phase
//! ([`run_phase`]: before actions, load, scrapes, after actions, expectations) into a
//! [`PhaseReport`], always runs rollback (also after a failure or Ctrl-C), then decides the
//! verdict once, redacts secrets and writes the report once.

mod observe;
mod phase;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::actions;
use crate::network::Network;
use crate::plan::{Plan, Step, Topology};
use crate::process::Processes;
use crate::redact::Redactor;
use crate::report::model::ResourceSample;
use crate::report::model::{RunReport, SCHEMA_VERSION, Verdict};
use crate::scenario::LoadedScenario;
use crate::target::{Binaries, SelfHosting, Target};
use crate::variables::Variables;
use observe::{listen_for_ctrl_c, sample_resources};
use phase::{History, PhaseContext, run_phase};

/// Options from the command line.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// `--target`: overrides the scenario's target.
    pub target: Option<String>,
    /// `--allow-remote`: the target may be a non-loopback URL.
    pub allow_remote: bool,
    /// `--target-bin` and `--shop-bin`: the programs to self-host.
    pub binaries: Binaries,
    /// Where report directories go.
    pub report_dir: PathBuf,
    /// No progress lines.
    pub quiet: bool,
    /// `--fail-fast`: no phase runs after one failed.
    pub fail_fast: bool,
    /// Share an open-model phase may fall short of its rate before the run is invalid.
    pub schedule_budget: f64,
    /// `--metrics-listen`: the live metrics the run feeds.
    pub live: Option<Arc<crate::live::Live>>,
    /// `--workers`: the coordinator whose workers send the load.
    pub coordinator: Option<Arc<crate::distributed::Coordinator>>,
}

/// Runs `loaded` and returns its report (already written to disk) and its directory.
pub async fn run(loaded: &LoadedScenario, options: &RunOptions) -> anyhow::Result<(RunReport, PathBuf)> {
    let scenario = &loaded.plan;
    let run_started = Instant::now();
    let started_at = chrono::Utc::now();
    let seed = scenario.seed.unwrap_or_else(rand::random);
    let directory =
        options.report_dir.join(format!("{}-{}", started_at.format("%Y%m%dT%H%M%S%.3fZ"), slug(&scenario.name)));
    std::fs::create_dir_all(&directory)?;
    let mut redactor = Redactor::new(loaded.secrets.clone());
    let mut report = RunReport {
        schema_version: SCHEMA_VERSION,
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        scenario_file: loaded.path.display().to_string(),
        scenario_text: loaded.text.clone(),
        seed,
        target: options.target.clone().or_else(|| scenario.target.url.clone()).unwrap_or_else(|| {
            match scenario.target.topology {
                Some(Topology::Shop) => "self-hosted shop".into(),
                None => "self-hosted target-app".into(),
            }
        }),
        self_hosted: options.target.is_none() && scenario.target.url.is_none(),
        target_version: None,
        started_at: started_at.to_rfc3339(),
        duration_s: 0.0,
        verdict: Verdict::Passed,
        problems: Vec::new(),
        skipped: None,
        time_to_recover_s: None,
        phases: Vec::new(),
        rollback: Vec::new(),
        resources: Vec::new(),
        proxies: Vec::new(),
        target_log: None,
        baseline: None,
        traces: None,
    };

    let uses_chaos = scenario.steps().any(|s| matches!(s, Step::Chaos { .. } | Step::ClearChaos { .. }));
    let allow_remote = options.allow_remote || scenario.allow_remote;
    let hosts_shop = report.self_hosted && scenario.is_shop();
    let shop_ports = match hosts_shop.then(crate::target::shop::ShopPorts::pick).transpose() {
        Ok(ports) => ports,
        Err(error) => {
            report.verdict = Verdict::SetupFailed;
            report.problems.push(error.to_string());
            return finish(report, run_started, &redactor, directory);
        }
    };
    let network = match Network::start(&scenario.proxies, shop_ports.as_ref()).await {
        Ok(network) => network,
        Err(error) => {
            report.verdict = Verdict::SetupFailed;
            report.problems.push(error.to_string());
            return finish(report, run_started, &redactor, directory);
        }
    };
    report.proxies = network.addresses().to_vec();
    if !options.quiet {
        for proxy in network.addresses() {
            let wired = if report.self_hosted { "" } else { " (point your service at it)" };
            eprintln!("proxy {}: {} -> {}{wired}", proxy.name, proxy.listen, proxy.upstream);
        }
    }
    // A target the harness starts exports its spans here, unless the scenario samples none.
    let sink = match report.self_hosted && scenario.trace_sample != Some(0.0) {
        true => match crate::trace::Sink::start().await {
            Ok(sink) => Some(sink),
            Err(error) => {
                report.verdict = Verdict::SetupFailed;
                report.problems.push(format!("trace receiver: {error}"));
                return finish(report, run_started, &redactor, directory);
            }
        },
        false => None,
    };
    let mut run_env = network.target_env();
    run_env.extend(sink.iter().flat_map(crate::trace::Sink::target_env));
    let hosting = SelfHosting {
        binaries: &options.binaries,
        uses_chaos,
        run_env: &run_env,
        shop_ports: shop_ports.as_ref(),
        log: crate::target::LogDestination { dir: &directory, redactor: &redactor },
    };
    let opened = Target::open(&scenario.target, options.target.as_deref(), allow_remote, hosting).await;
    let mut target = match opened {
        Ok(target) => target,
        Err(error) => {
            report.verdict = Verdict::SetupFailed;
            report.problems.push(error.to_string());
            return finish(report, run_started, &redactor, directory);
        }
    };
    redactor.add(target.chaos_token());
    report.target = target.url.clone();
    report.target_version = target.version().await;
    if let Some(note) = ignored_env(scenario, report.self_hosted) {
        println!("{note}");
    }
    let processes = match prepare_processes(scenario, &target).await {
        Ok(processes) => processes,
        Err(problem) => {
            report.verdict = Verdict::SetupFailed;
            report.problems.push(problem);
            report.target_log = target.stop().await;
            return finish(report, run_started, &redactor, directory);
        }
    };
    let variables = Mutex::new(Variables::default());
    let faults = actions::Context {
        target: &target,
        network: &network,
        processes: processes.as_ref(),
        variables: &variables,
        live: options.live.as_deref().map(|live| (live, scenario.name.as_str())),
    };
    let unhealthy = target.unhealthy(&scenario.requires).await;
    if !unhealthy.is_empty() {
        report.skipped = Some(format!("requires {}", unhealthy.join("; ")));
        report.target_log = target.stop().await;
        return finish(report, run_started, &redactor, directory);
    }
    let resources = Arc::new(Mutex::new(Vec::<ResourceSample>::new()));
    let sampler = tokio::spawn(sample_resources(target.url.clone(), resources.clone(), run_started));
    let interrupted = listen_for_ctrl_c();

    let mut history = History { earlier: BTreeMap::new(), fault_cleared_at: None };
    for index in 0..scenario.phases.len() {
        let traces = sink.as_ref().map(|sink| sink.store().clone());
        let context = PhaseContext { loaded, index, faults, options, run_started, seed, traces };
        let outcome = run_phase(&context, &mut history, interrupted.clone()).await;
        report.problems.extend(outcome.problems);
        report.verdict = report.verdict.max(outcome.ending);
        report.time_to_recover_s = outcome.time_to_recover_s.or(report.time_to_recover_s);
        let failed = outcome.report.as_ref().is_some_and(|phase| phase.expectations.iter().any(|e| !e.passed));
        report.phases.extend(outcome.report);
        if outcome.stop_run {
            break;
        }
        let later = scenario.phases.len() - index - 1;
        if options.fail_fast && failed && later > 0 {
            report.problems.push(format!(
                "--fail-fast: phase {:?} failed, so its {later} later phase(s) did not run",
                scenario.phases[index].name
            ));
            break;
        }
    }

    // Rollback always runs, whatever happened above: first every network and process fault left
    // is undone, then the scenario's own rollback actions run against a whole stack.
    let mut rollback = actions::restore(faults, run_started).await;
    if let Some((live, name)) = faults.live {
        live.rolled_back(name);
    }
    for action in &scenario.rollback {
        rollback.push(actions::run(action, faults, "rollback", run_started).await);
    }
    for log in rollback.iter().filter(|log| !log.ok) {
        report.problems.push(format!("rollback {:?} failed: {}", log.description, log.message));
    }
    report.rollback = rollback;
    sampler.abort();
    report.resources = resources.lock().expect("resources").clone();
    if let Some(sink) = &sink {
        sink.settle().await;
        attach_traces(&mut report, sink.store());
    }
    report.target_log = target.stop().await;
    if let Some(log) = &report.target_log {
        let failures = || report.phases.iter().flat_map(|p| &p.failures);
        let ids = failures().filter_map(|f| f.request_id.clone()).collect();
        let mut found = crate::target_log::lines_for(&directory.join(&log.file), &ids);
        for failure in report.phases.iter_mut().flat_map(|p| &mut p.failures) {
            if let Some(lines) = failure.request_id.as_ref().and_then(|id| found.get_mut(id)) {
                failure.target_log = lines.clone();
            }
        }
    }
    finish(report, run_started, &redactor, directory)
}

/// Gives each failure and slowest sample the spans of its trace, and the report the receiver's
/// counts.
fn attach_traces(report: &mut RunReport, store: &crate::trace::Store) {
    let trace = |id: Option<&str>| id.and_then(|id| u128::from_str_radix(id, 16).ok()).and_then(|id| store.trace(id));
    for phase in &mut report.phases {
        for failure in &mut phase.failures {
            failure.trace = trace(failure.trace_id.as_deref());
        }
        for slow in &mut phase.slowest {
            slow.trace = trace(Some(&slow.trace_id));
        }
    }
    report.traces = Some(store.summary());
}

/// What to say when the scenario sets `target.env` for a target the harness did not start:
/// those variables reach no process, and the run may meet what they were meant to change
/// (a rate limit, say).
fn ignored_env(scenario: &Plan, self_hosted: bool) -> Option<String> {
    let names: Vec<&str> = scenario.target.env.keys().map(String::as_str).collect();
    (!self_hosted && !names.is_empty()).then(|| {
        format!(
            "NOTE {}: target.env ({}) is ignored for a target given by URL; set these on the target itself \
             (for docker compose: under its `environment:`, then `docker compose up -d`)",
            scenario.name,
            names.join(", ")
        )
    })
}

/// Decides the verdict, redacts secrets and writes the report files.
fn finish(
    mut report: RunReport,
    run_started: Instant,
    redactor: &Redactor,
    directory: PathBuf,
) -> anyhow::Result<(RunReport, PathBuf)> {
    report.duration_s = run_started.elapsed().as_secs_f64();
    report.verdict = report.decide();
    redactor.report(&mut report);
    crate::report::write(&report, &directory)?;
    Ok((report, directory))
}

/// The dev-stack processes and the self-hosted target a scenario's `process:` actions may
/// signal, checked against the names they use; `None` when it has none.
async fn prepare_processes(scenario: &Plan, target: &Target) -> Result<Option<Processes>, String> {
    let wanted = crate::process::steps_of(scenario);
    if wanted.is_empty() {
        return Ok(None);
    }
    let processes = Processes::discover(target.hosted_names()).await.map_err(|e| format!("process actions: {e:#}"))?;
    processes.check(&wanted)?;
    Ok(Some(processes))
}

/// A file-name-safe version of a name.
pub fn slug(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}
