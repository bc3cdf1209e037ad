//! Runs one loaded scenario from start to report: opens the target, runs each phase
//! ([`run_phase`]: before actions, load, scrapes, after actions, expectations) into a
//! [`PhaseReport`], always runs rollback (also after a failure or Ctrl-C), then decides the
//! verdict once, redacts secrets and writes the report once.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::actions;
use crate::attack::{self, PhasePlan};
use crate::checks::breaker::{BreakerState, StateChange};
use crate::checks::probe::{Probe, Readings};
use crate::checks::state::{self, State};
use crate::checks::{Expectation, Observed, Scoped};
use crate::measure::{PhaseStats, Recorder};
use crate::network::Network;
use crate::process::Processes;
use crate::redact::Redactor;
use crate::report::model::{
    ActionLog, ExpectationResult, Measures, PhaseReport, RequestReport, RunReport, SCHEMA_VERSION, Schedule, Verdict,
};
use crate::scenario::{Action, LoadModel, LoadedScenario, Phase, Scenario};
use crate::target::{Binaries, ResourceSample, SelfHosting, Target};
use crate::variables::Variables;

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
    /// Share an open-model phase may fall short of its rate before the run is invalid.
    pub schedule_budget: f64,
    /// `--metrics-listen`: the live metrics the run feeds.
    pub live: Option<Arc<crate::live::Live>>,
    /// `--workers`: the coordinator whose workers send the load.
    pub coordinator: Option<Arc<crate::distributed::Coordinator>>,
}

/// Runs `loaded` and returns its report (already written to disk) and its directory.
pub async fn run(loaded: &LoadedScenario, options: &RunOptions) -> anyhow::Result<(RunReport, PathBuf)> {
    let scenario = &loaded.scenario;
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
                Some(crate::scenario::Topology::Shop) => "self-hosted shop".into(),
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
    };

    let uses_chaos = scenario.actions().any(|a| matches!(a, Action::Chaos(_) | Action::ClearChaos(_)));
    let allow_remote = options.allow_remote || scenario.allow_remote;
    let hosts_shop = report.self_hosted && scenario.target.topology == Some(crate::scenario::Topology::Shop);
    let shop_ports = match hosts_shop.then(crate::target::ShopPorts::pick).transpose() {
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
    let hosting = SelfHosting {
        binaries: &options.binaries,
        uses_chaos,
        proxy_env: &network.target_env(),
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
        let context = PhaseContext { loaded, index, faults, options, run_started, seed };
        let outcome = run_phase(&context, &mut history, interrupted.clone()).await;
        report.problems.extend(outcome.problems);
        report.verdict = report.verdict.max(outcome.ending);
        report.time_to_recover_s = outcome.time_to_recover_s.or(report.time_to_recover_s);
        report.phases.extend(outcome.report);
        if outcome.stop_run {
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

/// Decides the verdict, redacts secrets and writes the report files.
fn finish(
    mut report: RunReport,
    run_started: Instant,
    redactor: &Redactor,
    directory: PathBuf,
) -> anyhow::Result<(RunReport, PathBuf)> {
    report.duration_s = run_started.elapsed().as_secs_f64();
    report.verdict = decide(&report);
    redactor.report(&mut report);
    crate::report::write(&report, &directory)?;
    Ok((report, directory))
}

/// The verdict: a setup failure, interruption or overrun was recorded when it happened; a run
/// whose required dependencies were unhealthy is skipped; otherwise an open-model phase that
/// fell behind makes the run invalid, and a failed expectation, baseline row or rollback action
/// makes it fail.
pub fn decide(report: &RunReport) -> Verdict {
    if matches!(report.verdict, Verdict::SetupFailed | Verdict::Invalid | Verdict::Interrupted) {
        report.verdict
    } else if report.skipped.is_some() {
        Verdict::Skipped
    } else if report.phases.iter().any(|p| p.schedule.as_ref().is_some_and(|s| s.behind)) {
        Verdict::Invalid
    } else if !report.all_passed() || report.rollback.iter().any(|action| !action.ok) {
        Verdict::Failed
    } else {
        Verdict::Passed
    }
}

/// The dev-stack processes and the self-hosted target a scenario's `process:` actions may
/// signal, checked against the names they use; `None` when it has none.
async fn prepare_processes(scenario: &Scenario, target: &Target) -> Result<Option<Processes>, String> {
    let wanted = crate::process::actions_of(scenario);
    if wanted.is_empty() {
        return Ok(None);
    }
    let processes = Processes::discover(target.hosted_names()).await.map_err(|e| format!("process actions: {e:#}"))?;
    processes.check(&wanted)?;
    Ok(Some(processes))
}

/// What one phase reads.
struct PhaseContext<'a> {
    loaded: &'a LoadedScenario,
    index: usize,
    faults: actions::Context<'a>,
    options: &'a RunOptions,
    run_started: Instant,
    seed: u64,
}

/// What later phases need from earlier ones.
struct History {
    /// Each finished phase's statistics, by name (recovery baselines).
    earlier: BTreeMap<String, PhaseStats>,
    /// When faults were last cleared (chaos, network or a resumed process).
    fault_cleared_at: Option<Instant>,
}

/// How a phase went: its report (absent when a `before` action failed), the problems it met,
/// the verdict its ending forces (Passed when none), and whether the run stops here.
struct PhaseOutcome {
    report: Option<PhaseReport>,
    problems: Vec<String>,
    ending: Verdict,
    stop_run: bool,
    time_to_recover_s: Option<f64>,
}

impl PhaseOutcome {
    fn aborted(problem: String) -> Self {
        Self {
            report: None,
            problems: vec![problem],
            ending: Verdict::SetupFailed,
            stop_run: true,
            time_to_recover_s: None,
        }
    }

    fn interrupted() -> Self {
        Self { ending: Verdict::Interrupted, ..Self::aborted(INTERRUPTED.into()) }
    }
}

/// The problem an interrupted run reports.
const INTERRUPTED: &str = "interrupted (Ctrl-C or SIGTERM); the rollback ran";

/// How a phase's load ended.
enum LoadEnd {
    /// goose finished (or failed to run).
    Finished(anyhow::Result<()>),
    /// The workers finished, with what each sent.
    Spread(Vec<crate::distributed::WorkerCount>),
    /// A worker was lost or failed: the phase's numbers cannot be trusted.
    WorkerLost(String),
    /// The phase ran past its wall-time limit.
    Overran(Duration),
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

/// One phase: before actions, the load, after actions, then its expectations and report.
async fn run_phase(
    context: &PhaseContext<'_>,
    history: &mut History,
    interrupted: watch::Receiver<bool>,
) -> PhaseOutcome {
    let PhaseContext { loaded, index, faults, options, run_started, seed } = *context;
    let target = faults.target;
    let phase = &loaded.scenario.phases[index];
    let expectations = &loaded.expectations[index];
    // Probes read before the phase's faults and again after its `after` actions.
    let probes: Vec<&Probe> = expectations
        .iter()
        .filter_map(|scoped| match &scoped.expectation {
            Expectation::Probe(probe) => Some(probe),
            _ => None,
        })
        .collect();
    let probes_before = read_probes(target, &probes).await;
    let mut action_logs = Vec::new();
    for action in &phase.before {
        let log = tokio::select! {
            log = actions::run(action, faults, "before", run_started) => log,
            _ = wait_for(interrupted.clone()) => return PhaseOutcome::interrupted(),
        };
        note_clear(action, &log, history);
        if !log.ok {
            return PhaseOutcome::aborted(format!(
                "phase {}: before action {:?} failed: {}",
                phase.name, log.description, log.message
            ));
        }
        action_logs.push(log);
    }

    let load = loaded.loads[index].clone();
    let variables = faults.variables.lock().expect("variables").clone();
    let plan = Arc::new(phase_plan(loaded, index, load.clone(), seed, variables.clone(), format!("p{index}-")));
    let metrics_before = target.metrics().await;
    let breakers = Arc::new(Mutex::new(BreakerTimeline::starting_from(metrics_before.as_ref(), run_started)));
    let poller = tokio::spawn(poll_breakers(target.url.clone(), breakers.clone(), run_started));
    let keep_samples = expectations.iter().any(|scoped| scoped.expectation.needs_samples());
    let live = options.live.as_ref().map(|live| live.phase(&loaded.scenario.name, &phase.name, &plan.labels()));
    let recorder =
        Arc::new(Recorder::new(plan.labels(), plan.expected_interval(), keep_samples, run_started).with_live(live));
    let progress = (!options.quiet).then(|| tokio::spawn(print_progress(phase.name.clone(), recorder.clone())));
    let phase_started_at = run_started.elapsed().as_secs_f64();
    let limit = crate::scenario::phase_limit(&phase.load, &load).unwrap_or(Duration::from_secs(600));
    let end = tokio::select! {
        end = send_load(context, &plan, &target.url, variables, recorder.clone()) => end,
        _ = tokio::time::sleep(limit) => LoadEnd::Overran(limit),
        _ = wait_for(interrupted) => LoadEnd::Interrupted,
    };
    if let Some(progress) = progress {
        progress.abort();
        if std::io::stderr().is_terminal() {
            eprintln!();
        }
    }
    poller.abort();
    let stats = recorder.finish();
    let metrics_after = target.metrics().await;
    let mut problems = Vec::new();
    let workers = match (&end, &options.coordinator) {
        (LoadEnd::Spread(counts), _) => counts.clone(),
        (_, Some(coordinator)) => {
            coordinator.abandon();
            Vec::new()
        }
        _ => Vec::new(),
    };
    // An interrupted or overrunning phase ends the run: its users may still be sending.
    let (ending, stop_run) = match end {
        LoadEnd::Finished(Ok(())) | LoadEnd::Spread(_) => (Verdict::Passed, false),
        LoadEnd::WorkerLost(why) => {
            problems.push(format!("phase {}: distributed load invalid: {why}", phase.name));
            (Verdict::Invalid, true)
        }
        LoadEnd::Finished(Err(error)) => {
            problems.push(format!("phase {}: load failed: {error}", phase.name));
            (Verdict::SetupFailed, false)
        }
        LoadEnd::Overran(limit) => {
            problems.push(format!("phase {}: load failed: phase ran past its limit of {limit:?}", phase.name));
            (Verdict::Invalid, true)
        }
        LoadEnd::Interrupted => {
            problems.push(format!("phase {}: {INTERRUPTED}", phase.name));
            (Verdict::Interrupted, true)
        }
    };
    // State is read as the load left it, before `after` actions undo the phase's faults.
    let variables = faults.variables.lock().expect("variables").clone();
    let states =
        if stop_run { state::Readings::new() } else { read_states(target, expectations, &stats, &variables).await };
    if !stop_run {
        for action in &phase.after {
            let log = actions::run(action, faults, "after", run_started).await;
            note_clear(action, &log, history);
            if !log.ok {
                problems
                    .push(format!("phase {}: after action {:?} failed: {}", phase.name, log.description, log.message));
            }
            action_logs.push(log);
        }
    }

    let probes_after = read_probes(target, &probes).await;
    let readings: Readings = probes
        .iter()
        .zip(probes_before.into_iter().zip(probes_after))
        .map(|(probe, (before, after))| (probe.key(), before.and_then(|before| Ok((before, after?)))))
        .collect();
    let breakers = breakers.lock().expect("breaker timeline").changes.clone();
    let observed = Observed {
        stats: &stats,
        metrics_before: metrics_before.as_ref(),
        metrics_after: metrics_after.as_ref(),
        breaker_states: &breakers,
        earlier: &history.earlier,
        since_fault_cleared: history
            .fault_cleared_at
            .map(|at| recorder.started().saturating_duration_since(at).as_secs_f64()),
        probes: &readings,
        states: &states,
    };
    let results = expectations.iter().map(|scoped| judge(scoped, &observed)).collect();
    let time_to_recover_s = expectations.iter().find_map(|scoped| match &scoped.expectation {
        Expectation::Recovery(recovery) => recovery.time_to_recover(&observed),
        _ => None,
    });
    let schedule = schedule_of(&load, &stats, options.schedule_budget);
    if let Some(schedule) = schedule.as_ref().filter(|s| s.behind) {
        problems.push(format!(
            "phase {}: the generator fell behind ({:.1}/s of {:.0}/s intended); its numbers cannot be trusted",
            phase.name, schedule.achieved_rate, schedule.intended_rate
        ));
    }
    let mut report = phase_report(phase, &load, phase_started_at, &stats, action_logs, results, schedule, breakers);
    report.workers = workers;
    history.earlier.insert(phase.name.clone(), stats);
    PhaseOutcome { report: Some(report), problems, ending, stop_run, time_to_recover_s }
}

/// Sends phase `context.index`'s load: from this process, or spread over the coordinator's
/// workers, who get the run's `variables`.
async fn send_load(
    context: &PhaseContext<'_>,
    plan: &Arc<PhasePlan>,
    target: &str,
    variables: Variables,
    recorder: Arc<Recorder>,
) -> LoadEnd {
    let PhaseContext { loaded, index, options, seed, .. } = *context;
    let Some(coordinator) = &options.coordinator else {
        return LoadEnd::Finished(attack::run_phase(plan.clone(), target, recorder).await);
    };
    let assignment = crate::distributed::Assignment {
        scenario_path: loaded.path.display().to_string(),
        scenario_text: loaded.text.clone(),
        scenario_written: loaded.written.clone(),
        phase: index,
        target: target.to_owned(),
        variables,
        seed,
        workers: coordinator.workers(),
        schedule_budget: options.schedule_budget,
        start_in_ms: 0,
    };
    match coordinator.run_phase(assignment, recorder).await {
        Ok(counts) => LoadEnd::Spread(counts),
        Err(why) => LoadEnd::WorkerLost(why),
    }
}

/// What phase `index`'s users send, under `load` (the phase's, or a worker's share of it), with
/// the run's captures and a `${user}` prefix unique within the run.
pub fn phase_plan(
    loaded: &LoadedScenario,
    index: usize,
    load: LoadModel,
    seed: u64,
    variables: Variables,
    user_prefix: String,
) -> PhasePlan {
    let phase = &loaded.scenario.phases[index];
    let rules = loaded.expectations[index]
        .iter()
        .filter_map(|scoped| scoped.expectation.response_rule().map(|rule| (scoped.request.clone(), rule.clone())))
        .collect();
    let think_time = phase.load.think_time.as_deref();
    PhasePlan::new(load, phase.requests.clone(), think_time, rules, seed.wrapping_add(index as u64))
        .with_variables(variables, user_prefix)
        .with_redactor(Redactor::new(loaded.secrets.clone()))
}

/// Each `state` check's value as the target reports it now, read again (every 250 ms) until it
/// is what the phase wants or its `within` is up.
async fn read_states(
    target: &Target,
    expectations: &[Scoped],
    stats: &PhaseStats,
    variables: &Variables,
) -> state::Readings {
    let mut readings = state::Readings::new();
    for scoped in expectations {
        let Expectation::State(check) = &scoped.expectation else { continue };
        let scope = scoped.request.as_ref().and_then(|name| stats.by_request.get(name)).unwrap_or(stats);
        let wanted = check.wanted(scope);
        let started = Instant::now();
        let reading = loop {
            let reading = read_state(target, check, variables).await;
            if matches!(&reading, Ok(value) if state::same(value, &wanted)) || started.elapsed() >= check.within {
                break reading;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        readings.insert(check.key(), reading);
    }
    readings
}

async fn read_state(target: &Target, check: &State, variables: &Variables) -> Result<serde_json::Value, String> {
    let none = Variables::default();
    let path = variables.render(&check.spec.path, &none)?;
    let mut request = target.client().get(format!("{}{path}", target.url));
    for (name, value) in &check.spec.headers {
        request = request.header(name, variables.render(value, &none)?);
    }
    let response = request.send().await.map_err(|e| format!("GET {}: {}", check.spec.path, e.without_url()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("GET {} answered {status}", check.spec.path));
    }
    let answer =
        response.json().await.map_err(|_| format!("GET {} answered something that is not JSON", check.spec.path))?;
    check.read(&answer)
}

/// Each probe's number as the target reports it now.
async fn read_probes(target: &Target, probes: &[&Probe]) -> Vec<Result<f64, String>> {
    let mut readings = Vec::new();
    for probe in probes {
        let answer = target.get_json(probe.path()).await.map_err(|e| format!("GET {}: {e}", probe.path()));
        readings.push(answer.and_then(|answer| probe.read(&answer)));
    }
    readings
}

fn judge(scoped: &Scoped, observed: &Observed<'_>) -> ExpectationResult {
    let outcome = scoped.evaluate(observed);
    ExpectationResult {
        kind: scoped.kind().to_owned(),
        expected: scoped.describe(),
        measured: outcome.measured,
        passed: outcome.passed,
    }
}

fn note_clear(action: &Action, log: &ActionLog, history: &mut History) {
    if action.clears_faults() && log.ok {
        history.fault_cleared_at = Some(Instant::now());
    }
}

fn schedule_of(load: &LoadModel, stats: &PhaseStats, budget: f64) -> Option<Schedule> {
    let LoadModel::Rate { per_second, .. } = load else {
        return None;
    };
    let achieved = stats.throughput();
    Some(Schedule {
        intended_rate: *per_second as f64,
        achieved_rate: achieved,
        behind: achieved < *per_second as f64 * (1.0 - budget),
    })
}

/// The report of a phase: its statistics, its requests worst first, its failures, and what any
/// bound dropped.
#[allow(clippy::too_many_arguments)]
fn phase_report(
    phase: &Phase,
    load: &LoadModel,
    started_at_s: f64,
    stats: &PhaseStats,
    actions: Vec<ActionLog>,
    expectations: Vec<ExpectationResult>,
    schedule: Option<Schedule>,
    breakers: BTreeMap<String, Vec<StateChange>>,
) -> PhaseReport {
    let mut by_request: Vec<RequestReport> = stats
        .by_request
        .iter()
        .map(|(name, s)| RequestReport { name: name.clone(), measures: Measures::of(s) })
        .collect();
    by_request.sort_by(|a, b| {
        let (a, b) = (&a.measures, &b.measures);
        b.errors.cmp(&a.errors).then(b.latency.p99.total_cmp(&a.latency.p99))
    });
    let mut dropped = Vec::new();
    if stats.failures_not_kept > 0 {
        dropped.push(format!(
            "{} more failing responses are not shown: failures keep the first {} per request and kind",
            stats.failures_not_kept,
            crate::measure::FAILURES_PER_KIND
        ));
    }
    if stats.samples_dropped > 0 {
        dropped.push(format!(
            "{} responses were not kept in order (bound {}); checks that walk every response failed",
            stats.samples_dropped,
            crate::measure::MAX_SAMPLES
        ));
    }
    PhaseReport {
        name: phase.name.clone(),
        load: describe_load(load),
        started_at_s,
        duration_s: stats.duration_s,
        measures: Measures::of(stats),
        by_request,
        failures: stats.failures.clone(),
        dropped,
        breakers,
        actions,
        expectations,
        schedule,
        workers: Vec::new(),
    }
}

fn describe_load(load: &LoadModel) -> String {
    match load {
        LoadModel::Duration { users, duration } => format!("{users} users for {duration:?}"),
        LoadModel::Iterations { users, iterations } => format!("{users} users × {iterations} iterations"),
        LoadModel::Ramp { plan, duration } => format!("ramp {plan} ({duration:?})"),
        LoadModel::Rate { per_second, duration, users } => format!("{per_second}/s for {duration:?} ({users} users)"),
    }
}

/// A file-name-safe version of a name.
pub fn slug(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}

/// A receiver that turns true on the first Ctrl-C or SIGTERM (what `timeout` and CI runners
/// send), so rollback still runs.
fn listen_for_ctrl_c() -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    tokio::spawn(async move {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => signal.recv().await,
                Err(_) => std::future::pending().await,
            }
        };
        let stopped = tokio::select! {
            result = tokio::signal::ctrl_c() => result.is_ok(),
            _ = terminate => true,
        };
        if stopped {
            let _ = sender.send(true);
            // Keep the sender so receivers never see a closed channel as a signal.
            std::future::pending::<()>().await;
        }
    });
    receiver
}

async fn wait_for(mut interrupted: watch::Receiver<bool>) {
    if interrupted.wait_for(|set| *set).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn sample_resources(url: String, into: Arc<Mutex<Vec<ResourceSample>>>, run_started: Instant) {
    let target = Target::observer(url);
    loop {
        if let Some(sample) = target.resources(run_started.elapsed().as_secs_f64()).await {
            into.lock().expect("resources").push(sample);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Every breaker's state over a phase, from `/metrics` polled every 100 ms: the state at the
/// phase's start, then each change.
struct BreakerTimeline {
    changes: BTreeMap<String, Vec<StateChange>>,
}

impl BreakerTimeline {
    fn starting_from(metrics: Option<&crate::prometheus::MetricSet>, run_started: Instant) -> Self {
        let mut timeline = Self { changes: BTreeMap::new() };
        if let Some(metrics) = metrics {
            timeline.observe(metrics, run_started.elapsed().as_secs_f64());
        }
        timeline
    }

    fn observe(&mut self, metrics: &crate::prometheus::MetricSet, at_s: f64) {
        for (labels, value) in metrics.series("circuit_breaker_state") {
            let (Some(service), Some(state)) = (labels.get("service"), BreakerState::from_gauge(value)) else {
                continue;
            };
            let changes = self.changes.entry(service.clone()).or_default();
            if changes.last().map(|c| c.state) != Some(state) {
                changes.push(StateChange { at_s, state });
            }
        }
    }
}

async fn poll_breakers(url: String, into: Arc<Mutex<BreakerTimeline>>, run_started: Instant) {
    let target = Target::observer(url);
    loop {
        if let Some(metrics) = target.metrics().await {
            into.lock().expect("breaker timeline").observe(&metrics, run_started.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The live progress line: rewritten in place every second on a terminal, a new line every
/// five seconds in a log.
async fn print_progress(phase: String, recorder: Arc<Recorder>) {
    let terminal = std::io::stderr().is_terminal();
    loop {
        tokio::time::sleep(Duration::from_secs(if terminal { 1 } else { 5 })).await;
        let (requests, errors, p95) = recorder.progress();
        let elapsed = recorder.elapsed().as_secs_f64();
        let line = format!(
            "[{phase}] {elapsed:5.1}s  {requests:>8} req  {:>8.1} req/s  {errors:>6} err  p95 {p95:.2}ms",
            requests as f64 / elapsed
        );
        if terminal {
            eprint!("\r{line}   ");
        } else {
            eprintln!("{line}");
        }
    }
}
