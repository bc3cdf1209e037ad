//! `harness worker --coordinator URL [--index I]`, with the coordinator's token in
//! `GAUNTLET_COORDINATOR_TOKEN`: polls the coordinator for orders, sends its share of each
//! phase's load with the same code as a single-process run, and reports what it measured every
//! second and once more when its share is done. Exits when told the run is over, when the
//! coordinator refuses its index or token, or when the coordinator has been unreachable as long
//! as a coordinator waits for its workers (retrying with a backoff from 250 ms to 5 s).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Assignment, Numbered, Order, Report, Token};
use crate::attack;
use crate::measure::Recorder;
use crate::plan::LoadModel;
use crate::scenario::LoadedScenario;

/// How long the coordinator may be unreachable before the worker gives up: as long as the
/// coordinator waits for workers to join, so neither gives up on the other first when
/// Kubernetes schedules them minutes apart.
const UNREACHABLE_LIMIT: Duration = super::JOIN_LIMIT;
/// The first wait between tries; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between tries.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Serves orders from `coordinator` as worker `index`, presenting `token`, until the run is over.
pub async fn run(coordinator: &str, index: usize, token: &Token) -> anyhow::Result<()> {
    let mut headers = reqwest::header::HeaderMap::new();
    let mut authorization = reqwest::header::HeaderValue::try_from(format!("Bearer {}", token.expose()))?;
    authorization.set_sensitive(true);
    headers.insert(reqwest::header::AUTHORIZATION, authorization);
    let client =
        reqwest::Client::builder().no_proxy().default_headers(headers).timeout(Duration::from_secs(30)).build()?;
    let coordinator = coordinator.trim_end_matches('/');
    let mut after = 0;
    let mut parsed: Option<(String, LoadedScenario)> = None;
    let mut unreachable_since: Option<Instant> = None;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let url = format!("{coordinator}/order?worker={index}&after={after}");
        let answer = match client.get(&url).send().await {
            Ok(response) if response.status() == reqwest::StatusCode::BAD_REQUEST => {
                anyhow::bail!("coordinator {coordinator} refused worker index {index} (it expects fewer workers)")
            }
            Ok(response) if response.status() == reqwest::StatusCode::UNAUTHORIZED => {
                anyhow::bail!("coordinator {coordinator} refused this worker's token ({})", super::token::ENV)
            }
            Ok(response) if response.status().is_success() => response.json::<Option<Numbered>>().await?,
            outcome => {
                let why = outcome.map_or_else(|e| e.to_string(), |r| format!("answered {}", r.status()));
                let since = *unreachable_since.get_or_insert_with(Instant::now);
                anyhow::ensure!(since.elapsed() < UNREACHABLE_LIMIT, "coordinator {coordinator} unreachable: {why}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        unreachable_since = None;
        backoff = FIRST_BACKOFF;
        let Some(Numbered { serial, order }) = answer else { continue };
        after = serial;
        match order {
            Order::Done => return Ok(()),
            Order::Phase(assignment) => {
                let fresh = parsed.as_ref().is_none_or(|(text, _)| *text != assignment.scenario_text);
                if fresh {
                    let (text, written) = (&assignment.scenario_text, &assignment.scenario_written);
                    let loaded =
                        crate::scenario::parse_interpolated(text, written, Path::new(&assignment.scenario_path))
                            .map_err(|e| anyhow::anyhow!("{}: {}", assignment.scenario_path, e.message))?;
                    parsed = Some((assignment.scenario_text.clone(), loaded));
                }
                let loaded = &parsed.as_ref().expect("parsed above").1;
                run_share(&client, coordinator, index, serial, loaded, assignment).await;
            }
        }
    }
}

/// Sends this worker's share of one phase, reporting every second.
async fn run_share(
    client: &reqwest::Client,
    coordinator: &str,
    index: usize,
    serial: u64,
    loaded: &LoadedScenario,
    assignment: Assignment,
) {
    let send = |delta, finished, error| {
        let report = Report { worker: index, serial, delta, finished, error };
        client.post(format!("{coordinator}/report")).json(&report).send()
    };
    tokio::time::sleep(Duration::from_millis(assignment.start_in_ms)).await;
    let Some(load) = loaded.plan.phases[assignment.phase].load.share(index, assignment.workers) else {
        let _ = send(Default::default(), true, None).await;
        return;
    };
    let prefix = format!("p{}-w{index}-", assignment.phase);
    let share = load.clone();
    let plan = crate::attack::phase_plan(loaded, assignment.phase, load, assignment.seed, assignment.variables, prefix);
    let plan = Arc::new(plan);
    let recorder = Arc::new(Recorder::new(plan.labels(), plan.expected_interval(), false, Instant::now()).draining());
    let mut load = Box::pin(attack::run_phase(plan, &assignment.target, recorder.clone()));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut sent = 0;
    let mut drain = || {
        let delta = recorder.drain();
        sent += delta.tallies.first().map_or(0, |phase| phase.requests);
        delta
    };
    let outcome = loop {
        tokio::select! {
            outcome = &mut load => break outcome,
            _ = tick.tick() => match send(drain(), false, None).await {
                // The coordinator gave the phase up: stop sending.
                Ok(response) if response.status() == reqwest::StatusCode::CONFLICT => return,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "report to the coordinator failed"),
            }
        }
    };
    let last = drain();
    let error = match outcome {
        Err(error) => Some(format!("load failed: {error}")),
        Ok(()) => behind(&share, sent, last.window_ms, assignment.schedule_budget),
    };
    if let Err(error) = send(last, true, error).await {
        tracing::warn!(%error, "final report to the coordinator failed");
    }
}

/// Why an open-model share cannot be trusted: its `sent` responses over `window_ms` (first send
/// to last response) fell short of its rate by more than `budget`.
fn behind(share: &LoadModel, sent: u64, window_ms: Option<(u64, u64)>, budget: f64) -> Option<String> {
    let LoadModel::Rate { per_second, .. } = share else { return None };
    let seconds = window_ms.map_or(0.0, |(first, last)| last.saturating_sub(first) as f64 / 1000.0);
    let achieved = if seconds > 0.0 { sent as f64 / seconds } else { 0.0 };
    let intended = *per_second as f64;
    (achieved < intended * (1.0 - budget))
        .then(|| format!("fell behind its schedule ({achieved:.1}/s of {intended:.0}/s intended)"))
}
