//! One run spread over worker processes. The coordinator (`harness run --workers N`, which starts
//! N local workers, or `harness coordinate`, which waits for N workers to join, as Kubernetes
//! starts them) does everything but send the load: it opens the target, runs every action once,
//! and evaluates expectations once into one report. For each phase it hands every worker the
//! scenario, the phase, the run's captures and the seed ([`Assignment`]); each worker sends its
//! share of the users (and of an open model's rate, see [`crate::scenario::LoadModel::share`])
//! and reports every second what it measured since the last report ([`crate::measure::Delta`]:
//! counts and HDR histograms, V2 with DEFLATE), which the coordinator's recorder absorbs exactly.
//!
//! A phase starts on a barrier: once every worker has joined, all are told to start 500 ms after
//! the order goes out. A worker that stops reporting for [`SILENCE_LIMIT`] during a phase, or
//! whose process exits, or whose open-model share fell short of its rate by more than the
//! schedule budget, makes the run invalid (exit 4), named in the report. A phase the
//! coordinator gives up (Ctrl-C, overrun, a lost worker) refuses further reports with 409, and a
//! worker stops sending when its report is refused.
//!
//! HTTP, on the coordinator: `GET /order?worker=I&after=SERIAL` (long poll for the next order),
//! `POST /report` (a [`Report`]); an index outside 0 to N-1 is a 400. Orders carry the scenario
//! as the coordinator interpolated it (so every worker sees the same run id and built-in
//! passwords, and any secret the scenario holds) and the run's captures, so every request must
//! present the coordinator's token ([`token`]); keep its address private to the workers too.

mod reports;
pub mod token;
pub mod worker;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Query, State as AxumState};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

pub use self::token::Token;
use crate::measure::{Delta, Recorder};
use crate::report::model::WorkerCount;
use crate::variables::Variables;

/// How long a worker may go without reporting during a phase.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(5);
/// How long the coordinator waits for every worker to join, and a worker for the coordinator.
const JOIN_LIMIT: Duration = Duration::from_secs(300);
/// How long a worker's order poll is held open.
const POLL_LIMIT: Duration = Duration::from_secs(20);
/// The barrier: workers start this long after the order goes out.
const START_DELAY: Duration = Duration::from_millis(500);

/// What the coordinator tells the workers to do next.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Order {
    /// Run a phase.
    Phase(Assignment),
    /// The run is over: exit.
    Done,
}

/// One phase for every worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Assignment {
    /// The scenario file's path (for messages) and text (workers parse it as the coordinator did).
    pub scenario_path: String,
    /// Its text.
    pub scenario_text: String,
    /// Its text before `${VAR}`s were filled in, so workers name requests as the coordinator
    /// does ([`crate::scenario::parse_interpolated`]).
    pub scenario_written: String,
    /// The phase's index.
    pub phase: usize,
    /// Where to send the load.
    pub target: String,
    /// The run's captures.
    pub variables: Variables,
    /// The run's seed.
    pub seed: u64,
    /// How many workers share the load.
    pub workers: usize,
    /// Share of its open-model rate a worker may fall short of (`--schedule-budget`).
    pub schedule_budget: f64,
    /// Start this long after receiving the order (the barrier).
    pub start_in_ms: u64,
}

/// `GET /order` answers the newest order and its serial number.
#[derive(Debug, Serialize, Deserialize)]
pub struct Numbered {
    /// Increases with every order.
    pub serial: u64,
    /// The order.
    pub order: Order,
}

/// What a worker sends every second of a phase, and once when its share is done.
#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    /// The worker's index.
    pub worker: usize,
    /// The order it is working on.
    pub serial: u64,
    /// What it measured since its last report.
    pub delta: Delta,
    /// Its share of the phase is done.
    pub finished: bool,
    /// Why its share failed, if it did.
    pub error: Option<String>,
}

/// Why `loaded` cannot be spread over workers: a check that needs every response in one send
/// order (rate limit, cache sequences, recovery), or a ramp (its plan does not split).
pub fn check_spreadable(loaded: &crate::scenario::LoadedScenario) -> Result<(), String> {
    for phase in &loaded.plan.phases {
        if let Some(scoped) = phase.expectations.iter().find(|s| s.expectation.needs_samples()) {
            return Err(format!(
                "phase {}: {} needs every response in one send order, which workers do not share; run it \
                 without --workers",
                phase.name,
                scoped.expectation.kind()
            ));
        }
        if matches!(phase.load, crate::plan::LoadModel::Ramp { .. }) {
            return Err(format!("phase {}: a ramp does not split over workers; use users or rate", phase.name));
        }
    }
    Ok(())
}

/// The coordinator's end of a distributed run.
pub struct Coordinator {
    workers: usize,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
    /// Local worker processes (none when workers join from elsewhere).
    children: Mutex<Vec<tokio::process::Child>>,
    server: tokio::task::JoinHandle<()>,
    /// Where workers reach it.
    pub url: String,
}

#[derive(Default)]
struct State {
    /// How many workers there are: indices 0 to `workers - 1`; others are refused.
    workers: usize,
    joined: BTreeSet<usize>,
    serial: u64,
    order: Option<Order>,
    phase: Option<PhaseRun>,
    /// The report directory `GET /reports/...` serves, once the run is over.
    reports: Option<std::path::PathBuf>,
}

struct PhaseRun {
    serial: u64,
    recorder: Arc<Recorder>,
    started: Instant,
    last_seen: BTreeMap<usize, Instant>,
    finished: BTreeSet<usize>,
    counts: BTreeMap<usize, WorkerCount>,
    failed: Option<String>,
}

type Shared = (Arc<Mutex<State>>, Arc<Notify>);

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator").field("workers", &self.workers).field("url", &self.url).finish()
    }
}

impl Coordinator {
    /// Listens on `listen` for `workers` workers to join, each presenting `token`.
    pub async fn listen(listen: SocketAddr, workers: usize, token: Token) -> anyhow::Result<Self> {
        anyhow::ensure!(workers > 0, "--workers must be at least 1");
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("coordinator cannot listen on {listen}: {e}"))?;
        let address = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State { workers, ..State::default() }));
        let changed = Arc::new(Notify::new());
        let router = axum::Router::new()
            .route("/order", axum::routing::get(order))
            .route("/report", axum::routing::post(report))
            .route("/reports/{*path}", axum::routing::get(reports::file))
            .route_layer(axum::middleware::from_fn_with_state(token, token::require))
            .with_state((state.clone(), changed.clone()));
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::warn!(%error, "coordinator endpoint stopped");
            }
        });
        Ok(Self { workers, state, changed, children: Mutex::default(), server, url: format!("http://{address}") })
    }

    /// Listens on a free loopback port and starts `workers` local worker processes (this same
    /// program, `harness worker`), handing them a fresh token through their environment.
    pub async fn local(workers: usize) -> anyhow::Result<Self> {
        let token = Token::random();
        let coordinator = Self::listen(SocketAddr::from(([127, 0, 0, 1], 0)), workers, token.clone()).await?;
        let program = std::env::current_exe()?;
        let mut children = Vec::new();
        for index in 0..workers {
            let child = tokio::process::Command::new(&program)
                .args(["worker", "--coordinator", &coordinator.url, "--index", &index.to_string()])
                .env(token::ENV, token.expose())
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| anyhow::anyhow!("starting worker {index}: {e}"))?;
            children.push(child);
        }
        *coordinator.children.lock().expect("children") = children;
        Ok(coordinator)
    }

    /// Runs one phase on every worker, absorbing their reports into `recorder`; returns once
    /// every worker finished its share, or why the phase cannot be trusted (a worker that did
    /// not join, stopped reporting, exited or failed).
    pub async fn run_phase(&self, assignment: Assignment, recorder: Arc<Recorder>) -> Result<Vec<WorkerCount>, String> {
        self.wait_for_workers().await?;
        let serial = {
            let mut state = self.state.lock().expect("coordinator state");
            state.serial += 1;
            let serial = state.serial;
            let start_in_ms = START_DELAY.as_millis() as u64;
            state.order = Some(Order::Phase(Assignment { start_in_ms, ..assignment }));
            state.phase = Some(PhaseRun {
                serial,
                recorder,
                started: Instant::now(),
                last_seen: BTreeMap::new(),
                finished: BTreeSet::new(),
                counts: BTreeMap::new(),
                failed: None,
            });
            serial
        };
        self.changed.notify_waiters();
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if let Some(exited) = self.exited_worker() {
                return Err(exited);
            }
            let state = self.state.lock().expect("coordinator state");
            let phase = state.phase.as_ref().filter(|p| p.serial == serial).ok_or("the phase was replaced")?;
            if let Some(failed) = &phase.failed {
                return Err(failed.clone());
            }
            if phase.finished.len() == self.workers {
                return Ok(phase.counts.values().cloned().collect());
            }
            let grace = phase.started + START_DELAY + SILENCE_LIMIT;
            for worker in (0..self.workers).filter(|w| !phase.finished.contains(w)) {
                let seen = phase.last_seen.get(&worker).copied().unwrap_or(grace);
                if Instant::now() > grace && seen.elapsed() > SILENCE_LIMIT {
                    return Err(format!("worker {worker} stopped reporting for {}s", SILENCE_LIMIT.as_secs()));
                }
            }
        }
    }

    async fn wait_for_workers(&self) -> Result<(), String> {
        let started = Instant::now();
        loop {
            let joined = self.state.lock().expect("coordinator state").joined.len();
            if joined >= self.workers {
                return Ok(());
            }
            if let Some(exited) = self.exited_worker() {
                return Err(exited);
            }
            if started.elapsed() > JOIN_LIMIT {
                return Err(format!(
                    "only {joined} of {} workers joined within {}s",
                    self.workers,
                    JOIN_LIMIT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A local worker that exited, named.
    fn exited_worker(&self) -> Option<String> {
        let mut children = self.children.lock().expect("children");
        children.iter_mut().enumerate().find_map(|(index, child)| match child.try_wait() {
            Ok(Some(status)) => Some(format!("worker {index} exited ({status})")),
            _ => None,
        })
    }

    /// Gives up the running phase (Ctrl-C, an overrun, a lost worker): every report for it is
    /// refused from now on, which tells its workers to stop sending within a second.
    pub fn abandon(&self) {
        self.state.lock().expect("coordinator state").phase = None;
    }

    /// How many workers share the load.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Tells the workers the run is over, then serves `directory` at `/reports/` for `how_long`
    /// (or until Ctrl-C or SIGTERM).
    pub async fn serve_reports(&self, directory: &std::path::Path, how_long: Duration) {
        self.order_done();
        self.state.lock().expect("coordinator state").reports = Some(directory.to_owned());
        eprintln!("serving {} at {}/reports/index.html for {}s", directory.display(), self.url, how_long.as_secs());
        let stop = async {
            let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { if let Some(t) = terminate.as_mut() { t.recv().await } else { std::future::pending().await } } => {}
            }
        };
        tokio::select! {
            () = tokio::time::sleep(how_long) => {}
            () = stop => {}
        }
    }

    /// Tells the workers the run is over, waits up to 5 s for local ones to exit (then kills
    /// them) and stops listening.
    pub async fn finish(&self) {
        self.order_done();
        let children = std::mem::take(&mut *self.children.lock().expect("children"));
        for mut child in children {
            if tokio::time::timeout(Duration::from_secs(5), child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
        self.server.abort();
    }

    fn order_done(&self) {
        {
            let mut state = self.state.lock().expect("coordinator state");
            state.serial += 1;
            state.order = Some(Order::Done);
        }
        self.changed.notify_waiters();
    }
}

#[derive(Deserialize)]
struct OrderQuery {
    worker: usize,
    #[serde(default)]
    after: u64,
}

/// Long poll: the newest order once its serial is past `after`; 400 for an index out of range.
async fn order(
    AxumState((state, changed)): AxumState<Shared>,
    Query(query): Query<OrderQuery>,
) -> Result<Json<Option<Numbered>>, axum::http::StatusCode> {
    let deadline = Instant::now() + POLL_LIMIT;
    loop {
        let notified = changed.notified();
        {
            let mut state = state.lock().expect("coordinator state");
            if query.worker >= state.workers {
                return Err(axum::http::StatusCode::BAD_REQUEST);
            }
            state.joined.insert(query.worker);
            if let Some(order) = state.order.clone().filter(|_| state.serial > query.after) {
                return Ok(Json(Some(Numbered { serial: state.serial, order })));
            }
        }
        if tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), notified).await.is_err() {
            return Ok(Json(None));
        }
    }
}

async fn report(AxumState((state, _)): AxumState<Shared>, Json(report): Json<Report>) -> axum::http::StatusCode {
    let mut state = state.lock().expect("coordinator state");
    if report.worker >= state.workers {
        return axum::http::StatusCode::BAD_REQUEST;
    }
    let Some(phase) = state.phase.as_mut().filter(|p| p.serial == report.serial) else {
        return axum::http::StatusCode::CONFLICT;
    };
    phase.last_seen.insert(report.worker, Instant::now());
    let count =
        phase.counts.entry(report.worker).or_insert(WorkerCount { worker: report.worker, ..Default::default() });
    if let Some(tally) = report.delta.tallies.first() {
        count.requests += tally.requests;
        count.errors += tally.errors;
    }
    if let Err(why) = phase.recorder.absorb(&report.delta) {
        phase.failed = Some(format!("worker {}: unreadable report: {why}", report.worker));
    }
    if let Some(error) = report.error {
        phase.failed = Some(format!("worker {}: {error}", report.worker));
    }
    if report.finished {
        phase.finished.insert(report.worker);
    }
    axum::http::StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_worker_index_out_of_range_is_refused_and_never_joins() {
        let token = Token::random();
        let coordinator = Coordinator::listen(SocketAddr::from(([127, 0, 0, 1], 0)), 2, token.clone()).await.unwrap();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let order = client.get(format!("{}/order?worker=2", coordinator.url)).bearer_auth(token.expose());
        assert_eq!(order.send().await.unwrap().status(), 400);
        let report = Report { worker: 7, serial: 1, delta: Delta::default(), finished: true, error: None };
        let answer = client.post(format!("{}/report", coordinator.url)).bearer_auth(token.expose()).json(&report);
        assert_eq!(answer.send().await.unwrap().status(), 400);
        assert!(coordinator.state.lock().unwrap().joined.is_empty());
        // A worker given such an index stops at once, saying why.
        let error = worker::run(&coordinator.url, 5, &token).await.unwrap_err().to_string();
        assert!(error.contains("refused worker index 5"), "{error}");
        coordinator.finish().await;
    }

    #[tokio::test]
    async fn without_the_token_nothing_is_ordered_reported_or_joined() {
        let token = Token::random();
        let coordinator = Coordinator::listen(SocketAddr::from(([127, 0, 0, 1], 0)), 1, token).await.unwrap();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let order = client.get(format!("{}/order?worker=0", coordinator.url)).send().await.unwrap();
        assert_eq!(order.status(), 401);
        let wrong =
            client.get(format!("{}/order?worker=0", coordinator.url)).bearer_auth("a-guess-of-32-characters-0000000");
        assert_eq!(wrong.send().await.unwrap().status(), 401);
        let report = Report { worker: 0, serial: 1, delta: Delta::default(), finished: true, error: None };
        let answer = client.post(format!("{}/report", coordinator.url)).json(&report).send().await.unwrap();
        assert_eq!(answer.status(), 401);
        assert!(coordinator.state.lock().unwrap().joined.is_empty());
        // A worker with the wrong token stops at once, saying why.
        let error = worker::run(&coordinator.url, 0, &Token::random()).await.unwrap_err().to_string();
        assert!(error.contains("refused this worker's token"), "{error}");
        coordinator.finish().await;
    }
}
