//! One phase: before actions, the load (here or spread over workers), scrapes, after actions,
//! its expectations judged, and its [`PhaseReport`].

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::RunOptions;
use super::observe::{BreakerTimeline, poll_breakers, print_progress, read_probes, read_states, wait_for};
use crate::actions;
use crate::attack::{self, PhasePlan};
use crate::checks::breaker::StateChange;
use crate::checks::probe::{Probe, Readings};
use crate::checks::state::{self};
use crate::checks::{Expectation, Observed, Scoped};
use crate::measure::{PhaseStats, Recorder};
use crate::plan::{LoadModel, Phase, Step};
use crate::report::model::{ActionLog, ExpectationResult, Measures, PhaseReport, RequestReport, Schedule, Verdict};
use crate::scenario::LoadedScenario;
use crate::variables::Variables;

/// What one phase reads.
pub(super) struct PhaseContext<'a> {
    pub(super) loaded: &'a LoadedScenario,
    pub(super) index: usize,
    pub(super) faults: actions::Context<'a>,
    pub(super) options: &'a RunOptions,
    pub(super) run_started: Instant,
    pub(super) seed: u64,
}

/// What later phases need from earlier ones.
pub(super) struct History {
    /// Each finished phase's statistics, by name (recovery baselines).
    pub(super) earlier: BTreeMap<String, PhaseStats>,
    /// When faults were last cleared (chaos, network or a resumed process).
    pub(super) fault_cleared_at: Option<Instant>,
}

/// How a phase went: its report (absent when a `before` action failed), the problems it met,
/// the verdict its ending forces (Passed when none), and whether the run stops here.
pub(super) struct PhaseOutcome {
    pub(super) report: Option<PhaseReport>,
    pub(super) problems: Vec<String>,
    pub(super) ending: Verdict,
    pub(super) stop_run: bool,
    pub(super) time_to_recover_s: Option<f64>,
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
pub(super) const INTERRUPTED: &str = "interrupted (Ctrl-C or SIGTERM); the rollback ran";

/// How a phase's load ended.
pub(super) enum LoadEnd {
    /// goose finished (or failed to run).
    Finished(anyhow::Result<()>),
    /// The workers finished, with what each sent.
    Spread(Vec<crate::report::model::WorkerCount>),
    /// A worker was lost or failed: the phase's numbers cannot be trusted.
    WorkerLost(String),
    /// The phase ran past its wall-time limit.
    Overran(Duration),
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

/// One phase: before actions, the load, after actions, then its expectations and report.
pub(super) async fn run_phase(
    context: &PhaseContext<'_>,
    history: &mut History,
    interrupted: watch::Receiver<bool>,
) -> PhaseOutcome {
    let PhaseContext { loaded, index, faults, options, run_started, seed } = *context;
    let target = faults.target;
    let phase = &loaded.plan.phases[index];
    let expectations = &phase.expectations;
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

    let load = phase.load.clone();
    let variables = faults.variables.lock().expect("variables").clone();
    let plan = Arc::new(attack::phase_plan(loaded, index, load.clone(), seed, variables.clone(), format!("p{index}-")));
    let metrics_before = target.metrics().await;
    let breakers = Arc::new(Mutex::new(BreakerTimeline::starting_from(metrics_before.as_ref(), run_started)));
    let poller = tokio::spawn(poll_breakers(target.url.clone(), breakers.clone(), run_started));
    let keep_samples = expectations.iter().any(|scoped| scoped.expectation.needs_samples());
    let live = options.live.as_ref().map(|live| live.phase(&loaded.plan.name, &phase.name, &plan.labels()));
    let recorder =
        Arc::new(Recorder::new(plan.labels(), plan.expected_interval(), keep_samples, run_started).with_live(live));
    let progress = (!options.quiet).then(|| tokio::spawn(print_progress(phase.name.clone(), recorder.clone())));
    let phase_started_at = run_started.elapsed().as_secs_f64();
    let limit = phase.limit;
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
pub(super) async fn send_load(
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

pub(super) fn judge(scoped: &Scoped, observed: &Observed<'_>) -> ExpectationResult {
    let outcome = scoped.evaluate(observed);
    ExpectationResult {
        kind: scoped.kind().to_owned(),
        expected: scoped.describe(),
        measured: outcome.measured,
        passed: outcome.passed,
    }
}

pub(super) fn note_clear(step: &Step, log: &ActionLog, history: &mut History) {
    if step.clears_faults() && log.ok {
        history.fault_cleared_at = Some(Instant::now());
    }
}

pub(super) fn schedule_of(load: &LoadModel, stats: &PhaseStats, budget: f64) -> Option<Schedule> {
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
pub(super) fn phase_report(
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

pub(super) fn describe_load(load: &LoadModel) -> String {
    match load {
        LoadModel::Duration { users, duration } => format!("{users} users for {duration:?}"),
        LoadModel::Iterations { users, iterations } => format!("{users} users × {iterations} iterations"),
        LoadModel::Ramp { plan, duration } => format!("ramp {plan} ({duration:?})"),
        LoadModel::Rate { per_second, duration, users } => format!("{per_second}/s for {duration:?} ({users} users)"),
    }
}
