//! What a run watches besides the load: breaker states and resources polled in the
//! background, the readings checks declare, the progress line, and Ctrl-C or SIGTERM.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::checks::Scoped;
use crate::checks::breaker::{BreakerState, StateChange};
use crate::checks::reading::{Moment, Reading, Readings};
use crate::measure::{PhaseStats, Recorder};
use crate::report::model::ResourceSample;
use crate::target::Target;
use crate::variables::Variables;

/// Takes every reading the phase's checks declare for moment `at`, into `readings`: each a
/// GET with the run's captures filled in, read again until it settles when it asks to.
pub(super) async fn take_readings(
    target: &Target,
    expectations: &[Scoped],
    stats: &PhaseStats,
    at: Moment,
    variables: &Variables,
    readings: &mut Readings,
) {
    let wanted = expectations.iter().flat_map(|scoped| scoped.readings(stats)).filter(|r| r.at == at);
    for reading in wanted {
        let started = Instant::now();
        let answer = loop {
            let answer = read(target, &reading, variables).await;
            let settled = match (&reading.settle, &answer) {
                (Some(settle), Ok(found)) => settle.holds(found) || started.elapsed() >= settle.within,
                (Some(settle), Err(_)) => started.elapsed() >= settle.within,
                (None, _) => true,
            };
            if settled {
                break answer;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        readings.insert((at, reading.key), answer);
    }
}

/// One GET of a reading; an answer that is not 2xx JSON is described, never quoted.
async fn read(target: &Target, reading: &Reading, variables: &Variables) -> Result<serde_json::Value, String> {
    let none = Variables::default();
    let path = variables.render(&reading.path, &none)?;
    let mut request = target.client().get(format!("{}{path}", target.url));
    for (name, value) in &reading.headers {
        request = request.header(name, variables.render(value, &none)?);
    }
    let response = request.send().await.map_err(|e| format!("GET {}: {}", reading.path, e.without_url()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("GET {} answered {status}", reading.path));
    }
    response.json().await.map_err(|_| format!("GET {} answered something that is not JSON", reading.path))
}

/// A receiver that turns true on the first Ctrl-C or SIGTERM (what `timeout` and CI runners
/// send), so rollback still runs.
pub(super) fn listen_for_ctrl_c() -> watch::Receiver<bool> {
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

pub(super) async fn wait_for(mut interrupted: watch::Receiver<bool>) {
    if interrupted.wait_for(|set| *set).await.is_err() {
        std::future::pending::<()>().await;
    }
}

pub(super) async fn sample_resources(url: String, into: Arc<Mutex<Vec<ResourceSample>>>, run_started: Instant) {
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
pub(super) struct BreakerTimeline {
    pub(super) changes: BTreeMap<String, Vec<StateChange>>,
}

impl BreakerTimeline {
    pub(super) fn starting_from(metrics: Option<&crate::prometheus::MetricSet>, run_started: Instant) -> Self {
        let mut timeline = Self { changes: BTreeMap::new() };
        if let Some(metrics) = metrics {
            timeline.observe(metrics, run_started.elapsed().as_secs_f64());
        }
        timeline
    }

    pub(super) fn observe(&mut self, metrics: &crate::prometheus::MetricSet, at_s: f64) {
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

pub(super) async fn poll_breakers(url: String, into: Arc<Mutex<BreakerTimeline>>, run_started: Instant) {
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
pub(super) async fn print_progress(phase: String, recorder: Arc<Recorder>) {
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
