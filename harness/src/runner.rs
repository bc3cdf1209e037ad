//! Runs one loaded scenario from start to report: opens the target, runs each phase (before
//! actions, load, scrapes, after actions, expectations), always runs rollback (also after a
//! failure or Ctrl-C), then decides the verdict and writes the report files.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::actions;
use crate::attack::{self, PhasePlan};
use crate::checks::{Expectation, Observed};
use crate::measure::{PhaseStats, Recorder};
use crate::report::model::{ExpectationResult, PhaseReport, RunReport, SCHEMA_VERSION, Schedule, Verdict};
use crate::scenario::{Action, LoadModel, LoadedScenario};
use crate::target::{ResourceSample, Target};

/// Options from the command line.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// `--target`: overrides the scenario's target.
    pub target: Option<String>,
    /// `--target-bin`: the `target-app` binary to self-host.
    pub target_bin: Option<PathBuf>,
    /// Where report directories go.
    pub report_dir: PathBuf,
    /// No progress lines.
    pub quiet: bool,
    /// Share an open-model phase may fall short of its rate before the run is invalid.
    pub schedule_budget: f64,
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
    let uses_chaos = scenario
        .phases
        .iter()
        .flat_map(|p| p.before.iter().chain(&p.after))
        .chain(&scenario.rollback)
        .any(|a| matches!(a, Action::Chaos(_) | Action::ClearChaos(_)));

    let mut report = RunReport {
        schema_version: SCHEMA_VERSION,
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        scenario_file: loaded.path.display().to_string(),
        scenario_text: loaded.text.clone(),
        seed,
        target: options
            .target
            .clone()
            .or_else(|| scenario.target.url.clone())
            .unwrap_or_else(|| "self-hosted target-app".into()),
        self_hosted: options.target.is_none() && scenario.target.url.is_none(),
        started_at: started_at.to_rfc3339(),
        duration_s: 0.0,
        verdict: Verdict::Passed,
        problems: Vec::new(),
        skipped: None,
        time_to_recover_s: None,
        phases: Vec::new(),
        rollback: Vec::new(),
        resources: Vec::new(),
        baseline: None,
    };

    let mut target = match Target::open(
        &scenario.target,
        options.target.as_deref(),
        options.target_bin.as_deref(),
        uses_chaos,
        &directory,
    )
    .await
    {
        Ok(target) => target,
        Err(error) => {
            report.verdict = Verdict::SetupFailed;
            report.problems.push(error.to_string());
            report.duration_s = run_started.elapsed().as_secs_f64();
            crate::report::write(&report, &directory)?;
            return Ok((report, directory));
        }
    };
    report.target = target.url.clone();
    let unhealthy = target.unhealthy(&scenario.requires).await;
    if !unhealthy.is_empty() {
        report.skipped = Some(format!("requires {}", unhealthy.join("; ")));
        target.stop().await;
        report.duration_s = run_started.elapsed().as_secs_f64();
        report.verdict = decide(&report);
        crate::report::write(&report, &directory)?;
        return Ok((report, directory));
    }
    let resources = Arc::new(Mutex::new(Vec::<ResourceSample>::new()));
    let sampler = tokio::spawn(sample_resources(target.url.clone(), resources.clone(), run_started));

    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut earlier: BTreeMap<String, PhaseStats> = BTreeMap::new();
    let mut fault_cleared_at: Option<Instant> = None;
    'phases: for (index, phase) in scenario.phases.iter().enumerate() {
        let mut action_logs = Vec::new();
        for action in &phase.before {
            let log = tokio::select! {
                log = actions::run(action, &target, "before", run_started) => log,
                _ = &mut interrupted => {
                    report.problems.push("interrupted (Ctrl-C)".into());
                    report.verdict = Verdict::SetupFailed;
                    break 'phases;
                }
            };
            if log.kind == "clear_chaos" && log.ok {
                fault_cleared_at = Some(Instant::now());
            }
            let failed = !log.ok;
            if failed {
                report
                    .problems
                    .push(format!("phase {}: before action {:?} failed: {}", phase.name, log.description, log.message));
                report.verdict = Verdict::SetupFailed;
            }
            action_logs.push(log);
            if failed {
                break 'phases;
            }
        }

        let expectations = &loaded.expectations[index];
        let load = loaded.loads[index].clone();
        let rules = expectations.iter().filter_map(Expectation::response_rule).cloned().collect();
        let plan = Arc::new(PhasePlan::new(
            load.clone(),
            phase.requests.clone(),
            phase.load.think_time.as_deref(),
            rules,
            seed.wrapping_add(index as u64),
        ));
        let metrics_before = target.metrics().await;
        let services: Vec<String> =
            expectations.iter().filter_map(|e| e.breaker_service().map(str::to_owned)).collect();
        let breaker_states = Arc::new(Mutex::new(BTreeMap::<String, Vec<String>>::new()));
        let poller = tokio::spawn(poll_breakers(target.url.clone(), services, breaker_states.clone()));
        let recorder = Arc::new(Recorder::new(plan.expected_interval()));
        let progress = (!options.quiet).then(|| tokio::spawn(print_progress(phase.name.clone(), recorder.clone())));
        let phase_started_at = run_started.elapsed().as_secs_f64();
        let goose_report = format!("goose-{:02}-{}.html", index + 1, slug(&phase.name));
        let goose_path = directory.join(&goose_report);
        let limit = crate::scenario::phase_limit(&phase.load, &load).unwrap_or(Duration::from_secs(600));
        let end = tokio::select! {
            result = attack::run_phase(plan.clone(), &target.url, recorder.clone(), &goose_path) => LoadEnd::Finished(result),
            _ = tokio::time::sleep(limit) => LoadEnd::Overran(limit),
            _ = &mut interrupted => LoadEnd::Interrupted,
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
        // An interrupted or overrunning phase ends the run: its users may still be sending.
        let stop_run = match end {
            LoadEnd::Finished(Ok(())) => false,
            LoadEnd::Finished(Err(error)) => {
                report.problems.push(format!("phase {}: load failed: {error}", phase.name));
                report.verdict = Verdict::SetupFailed;
                false
            }
            LoadEnd::Overran(limit) => {
                report
                    .problems
                    .push(format!("phase {}: load failed: phase ran past its limit of {limit:?}", phase.name));
                report.verdict = report.verdict.max(Verdict::Invalid);
                true
            }
            LoadEnd::Interrupted => {
                report.problems.push(format!("phase {}: load failed: interrupted (Ctrl-C)", phase.name));
                report.verdict = Verdict::SetupFailed;
                true
            }
        };
        if !stop_run {
            for action in &phase.after {
                let log = actions::run(action, &target, "after", run_started).await;
                if log.kind == "clear_chaos" && log.ok {
                    fault_cleared_at = Some(Instant::now());
                }
                if !log.ok {
                    report.problems.push(format!(
                        "phase {}: after action {:?} failed: {}",
                        phase.name, log.description, log.message
                    ));
                }
                action_logs.push(log);
            }
        }

        let since_fault_cleared =
            fault_cleared_at.map(|at| recorder.started().saturating_duration_since(at).as_secs_f64());
        let states = breaker_states.lock().expect("breaker states").clone();
        let observed = Observed {
            stats: &stats,
            metrics_before: metrics_before.as_ref(),
            metrics_after: metrics_after.as_ref(),
            breaker_states: &states,
            earlier: &earlier,
            since_fault_cleared,
        };
        let results: Vec<ExpectationResult> = expectations
            .iter()
            .map(|expectation| {
                let outcome = expectation.evaluate(&observed);
                if let Expectation::Recovery(recovery) = expectation {
                    report.time_to_recover_s = recovery.time_to_recover(&observed).or(report.time_to_recover_s);
                }
                ExpectationResult {
                    kind: expectation.kind().to_owned(),
                    expected: expectation.describe(),
                    measured: outcome.measured,
                    passed: outcome.passed,
                }
            })
            .collect();
        let schedule = match load {
            LoadModel::Rate { per_second, .. } => {
                let achieved = stats.throughput();
                let behind = achieved < per_second as f64 * (1.0 - options.schedule_budget);
                if behind {
                    report.problems.push(format!(
                        "phase {}: the generator fell behind ({achieved:.1}/s of {per_second}/s intended); its numbers cannot be trusted",
                        phase.name
                    ));
                }
                Some(Schedule { intended_rate: per_second as f64, achieved_rate: achieved, behind })
            }
            _ => None,
        };
        report.phases.push(PhaseReport {
            name: phase.name.clone(),
            load: describe_load(&load),
            started_at_s: phase_started_at,
            duration_s: stats.duration_s,
            requests: stats.requests,
            errors: stats.errors,
            throughput: stats.throughput(),
            error_rate: stats.error_rate(),
            status_counts: stats.status_counts.clone(),
            latency: stats.latency.clone(),
            latency_corrected: stats.latency_corrected.clone(),
            timeline: stats.timeline.clone(),
            actions: action_logs,
            expectations: results,
            schedule,
            goose_report: goose_path.exists().then_some(goose_report),
        });
        earlier.insert(phase.name.clone(), stats);
        if stop_run {
            break;
        }
    }

    // Rollback always runs, whatever happened above.
    for action in &scenario.rollback {
        let log = actions::run(action, &target, "rollback", run_started).await;
        if !log.ok {
            report.problems.push(format!("rollback {:?} failed: {}", log.description, log.message));
        }
        report.rollback.push(log);
    }
    sampler.abort();
    report.resources = resources.lock().expect("resources").clone();
    target.stop().await;

    report.duration_s = run_started.elapsed().as_secs_f64();
    report.verdict = decide(&report);
    crate::report::write(&report, &directory)?;
    Ok((report, directory))
}

/// The verdict: a setup failure, interruption or overrun was recorded when it happened; a run
/// whose required dependencies were unhealthy is skipped; otherwise an open-model phase that
/// fell behind makes the run invalid, and a failed expectation, baseline row or rollback action
/// makes it fail.
pub fn decide(report: &RunReport) -> Verdict {
    if matches!(report.verdict, Verdict::SetupFailed | Verdict::Invalid) {
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

/// How a phase's load ended.
enum LoadEnd {
    /// goose finished (or failed to run).
    Finished(anyhow::Result<()>),
    /// The phase ran past its wall-time limit.
    Overran(Duration),
    /// Ctrl-C.
    Interrupted,
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

async fn sample_resources(url: String, into: Arc<Mutex<Vec<ResourceSample>>>, run_started: Instant) {
    let target = Target::observer(url);
    loop {
        if let Some(sample) = target.resources(run_started.elapsed().as_secs_f64()).await {
            into.lock().expect("resources").push(sample);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn poll_breakers(url: String, services: Vec<String>, into: Arc<Mutex<BTreeMap<String, Vec<String>>>>) {
    if services.is_empty() {
        return;
    }
    let target = Target::observer(url);
    loop {
        if let Some(metrics) = target.metrics().await {
            let mut states = into.lock().expect("breaker states");
            for service in &services {
                let labels = [("service".to_owned(), service.clone())].into();
                let state = match metrics.sum("circuit_breaker_state", &labels).map(|v| v as i64) {
                    Some(0) => "closed",
                    Some(1) => "open",
                    Some(_) => "half_open",
                    None => continue,
                };
                let seen = states.entry(service.clone()).or_default();
                if seen.last().map(String::as_str) != Some(state) {
                    seen.push(state.to_owned());
                }
            }
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
