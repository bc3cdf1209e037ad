//! One phase, in stages: before (readings, `before` steps), load (here or spread over workers),
//! observe (how the load ended, `/metrics`, readings), after (`after` steps, readings) and judge
//! (its expectations and its [`PhaseReport`]).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::RunOptions;
use super::observe::{BreakerTimeline, poll_breakers, print_progress, take_readings, wait_for};
use crate::actions;
use crate::attack::{self, PhasePlan};
use crate::checks::breaker::StateChange;
use crate::checks::reading::{Moment, Readings};
use crate::checks::{Observed, Scoped};
use crate::measure::{PhaseStats, Recorder};
use crate::plan::{LoadModel, Phase, Step};
use crate::prometheus::MetricSet;
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
    /// Where the spans of the target the harness hosts arrive, when it exports them.
    pub(super) traces: Option<Arc<crate::trace::Store>>,
}

/// What later phases need from earlier ones.
pub(super) struct History {
    /// Each finished phase's statistics, by name (recovery baselines).
    pub(super) earlier: BTreeMap<String, PhaseStats>,
    /// When faults were last cleared (chaos, network or a resumed process).
    pub(super) fault_cleared_at: Option<Instant>,
}

impl<'a> PhaseContext<'a> {
    /// The phase's plan.
    fn phase(&self) -> &'a Phase {
        &self.loaded.plan.phases[self.index]
    }
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

/// One phase, as its stages: [`before`], [`load`], [`observe`], [`after`], [`judge`]. Each
/// fills its part of the phase; a stage that ends the phase early returns its outcome.
pub(super) async fn run_phase(
    context: &PhaseContext<'_>,
    history: &mut History,
    interrupted: watch::Receiver<bool>,
) -> PhaseOutcome {
    let mut readings = Readings::new();
    let actions = match before(context, history, &mut readings, interrupted.clone()).await {
        Ok(actions) => actions,
        Err(outcome) => return outcome,
    };
    let loaded = load(context, interrupted).await;
    let observed = observe(context, loaded, &mut readings).await;
    let actions = after(context, history, &observed, actions, &mut readings).await;
    judge(context, history, observed, actions, &readings)
}

/// Before the load: the readings checks take first, then the `before` steps; a failed step (or
/// Ctrl-C) ends the phase.
async fn before(
    context: &PhaseContext<'_>,
    history: &mut History,
    readings: &mut Readings,
    interrupted: watch::Receiver<bool>,
) -> Result<Vec<ActionLog>, PhaseOutcome> {
    let PhaseContext { faults, run_started, .. } = *context;
    let phase = context.phase();
    let variables = faults.variables.lock().expect("variables").clone();
    let nothing_yet = PhaseStats::default();
    take_readings(faults.target, &phase.expectations, &nothing_yet, Moment::BeforeLoad, &variables, readings).await;
    let mut logs = Vec::new();
    for step in &phase.before {
        let log = tokio::select! {
            log = actions::run(step, faults, "before", run_started) => log,
            _ = wait_for(interrupted.clone()) => return Err(PhaseOutcome::interrupted()),
        };
        note_clear(step, &log, history);
        if !log.ok {
            return Err(PhaseOutcome::aborted(format!(
                "phase {}: before action {:?} failed: {}",
                phase.name, log.description, log.message
            )));
        }
        logs.push(log);
    }
    Ok(logs)
}

/// What the load stage leaves: how it ended, what it measured and what the target showed
/// around it.
struct Loaded {
    end: LoadEnd,
    stats: PhaseStats,
    /// When the recorder started (the zero of its sample times).
    recorder_started: Instant,
    /// Seconds from the run's start to the load's.
    started_at_s: f64,
    metrics_before: Option<MetricSet>,
    /// Each breaker's state at the start and its changes, as polled.
    breakers: BTreeMap<String, Vec<StateChange>>,
}

/// The load: the phase's users (here or on the workers), bounded by the phase's limit and by
/// Ctrl-C, with the breakers polled and the progress shown meanwhile.
async fn load(context: &PhaseContext<'_>, interrupted: watch::Receiver<bool>) -> Loaded {
    let PhaseContext { loaded, index, faults, options, run_started, seed, .. } = *context;
    let (target, phase) = (faults.target, context.phase());
    let variables = faults.variables.lock().expect("variables").clone();
    let load = phase.load.clone();
    let mut plan = attack::phase_plan(loaded, index, load, seed, variables.clone(), format!("p{index}-"));
    if context.traces.is_some() {
        // The hosted target exports every sampled request's spans to the run's receiver.
        plan.trace_sample = Some(loaded.plan.trace_sample.unwrap_or(1.0));
    }
    let plan = Arc::new(plan);
    let metrics_before = target.metrics().await;
    let breakers = Arc::new(Mutex::new(BreakerTimeline::starting_from(metrics_before.as_ref(), run_started)));
    let poller = tokio::spawn(poll_breakers(target.url.clone(), breakers.clone(), run_started));
    let keep_samples = phase.expectations.iter().any(|scoped| scoped.expectation.needs_samples());
    let live = options.live.as_ref().map(|live| live.phase(&loaded.plan.name, &phase.name, &plan.labels()));
    let recorder = Arc::new(
        Recorder::new(plan.labels(), plan.expected_interval(), keep_samples, run_started)
            .with_live(live)
            .with_traces(context.traces.clone()),
    );
    let progress = (!options.quiet).then(|| tokio::spawn(print_progress(phase.name.clone(), recorder.clone())));
    let started_at_s = run_started.elapsed().as_secs_f64();
    let end = tokio::select! {
        end = send_load(context, &plan, &target.url, variables, recorder.clone()) => end,
        _ = tokio::time::sleep(phase.limit) => LoadEnd::Overran(phase.limit),
        _ = wait_for(interrupted) => LoadEnd::Interrupted,
    };
    if let Some(progress) = progress {
        progress.abort();
        if std::io::stderr().is_terminal() {
            eprintln!();
        }
    }
    poller.abort();
    let breakers = std::mem::take(&mut breakers.lock().expect("breaker timeline").changes);
    Loaded {
        end,
        stats: recorder.finish(),
        recorder_started: recorder.started(),
        started_at_s,
        metrics_before,
        breakers,
    }
}

/// What the observe stage adds to the load's: the verdict the load's ending forces, whether the
/// run stops here, the workers' counts, `/metrics` after, and its problems.
struct Observation {
    loaded: Loaded,
    ending: Verdict,
    stop_run: bool,
    workers: Vec<crate::report::model::WorkerCount>,
    metrics_after: Option<MetricSet>,
    problems: Vec<String>,
}

/// Right after the load: how it ended, `/metrics` again, and the readings checks take while
/// the phase's faults are still in place (none when the run stops here: its users may still be
/// sending).
async fn observe(context: &PhaseContext<'_>, loaded: Loaded, readings: &mut Readings) -> Observation {
    let (target, phase, options) = (context.faults.target, context.phase(), context.options);
    let metrics_after = target.metrics().await;
    let mut problems = Vec::new();
    let workers = match (&loaded.end, &options.coordinator) {
        (LoadEnd::Spread(counts), _) => counts.clone(),
        (_, Some(coordinator)) => {
            coordinator.abandon();
            Vec::new()
        }
        _ => Vec::new(),
    };
    let (ending, stop_run) = match &loaded.end {
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
    if !stop_run {
        let variables = context.faults.variables.lock().expect("variables").clone();
        take_readings(target, &phase.expectations, &loaded.stats, Moment::AfterLoad, &variables, readings).await;
    }
    Observation { loaded, ending, stop_run, workers, metrics_after, problems }
}

/// After the load: the `after` steps (not when the run stops here), then the readings checks
/// take last.
async fn after(
    context: &PhaseContext<'_>,
    history: &mut History,
    observed: &Observation,
    mut logs: Vec<ActionLog>,
    readings: &mut Readings,
) -> Vec<ActionLog> {
    let PhaseContext { faults, run_started, .. } = *context;
    let phase = context.phase();
    if !observed.stop_run {
        for step in &phase.after {
            let log = actions::run(step, faults, "after", run_started).await;
            note_clear(step, &log, history);
            logs.push(log);
        }
    }
    let variables = faults.variables.lock().expect("variables").clone();
    let stats = &observed.loaded.stats;
    take_readings(faults.target, &phase.expectations, stats, Moment::AfterPhase, &variables, readings).await;
    logs
}

/// Judges every expectation against what was observed, and writes the phase's report.
fn judge(
    context: &PhaseContext<'_>,
    history: &mut History,
    observed: Observation,
    actions: Vec<ActionLog>,
    readings: &Readings,
) -> PhaseOutcome {
    let phase = context.phase();
    let Observation { loaded, ending, stop_run, workers, metrics_after, mut problems } = observed;
    for log in actions.iter().filter(|log| log.stage == "after" && !log.ok) {
        problems.push(format!("phase {}: after action {:?} failed: {}", phase.name, log.description, log.message));
    }
    let stats = loaded.stats;
    let breakers = loaded.breakers;
    let observed = Observed {
        stats: &stats,
        metrics_before: loaded.metrics_before.as_ref(),
        metrics_after: metrics_after.as_ref(),
        breaker_states: &breakers,
        earlier: &history.earlier,
        since_fault_cleared: history
            .fault_cleared_at
            .map(|at| loaded.recorder_started.saturating_duration_since(at).as_secs_f64()),
        readings,
    };
    let expectations = &phase.expectations;
    let results = expectations.iter().map(|scoped| judge_one(scoped, &observed)).collect();
    let time_to_recover_s = expectations.iter().find_map(|scoped| scoped.expectation.time_to_recover(&observed));
    let schedule = schedule_of(&phase.load, &stats, context.options.schedule_budget);
    if let Some(schedule) = schedule.as_ref().filter(|s| s.behind) {
        problems.push(format!(
            "phase {}: the generator fell behind ({:.1}/s of {:.0}/s intended); its numbers cannot be trusted",
            phase.name, schedule.achieved_rate, schedule.intended_rate
        ));
    }
    let mut report =
        phase_report(phase, &phase.load, loaded.started_at_s, &stats, actions, results, schedule, breakers);
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

pub(super) fn judge_one(scoped: &Scoped, observed: &Observed<'_>) -> ExpectationResult {
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
        slowest: stats.slowest.clone(),
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
