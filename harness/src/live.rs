//! `harness run --metrics-listen ADDR`: the run as Prometheus metrics while it runs, for
//! watching long runs (Grafana). Off unless asked for. Every series is labelled by scenario:
//!
//! - `gauntlet_requests_total`, `gauntlet_request_errors_total` and
//!   `gauntlet_request_duration_seconds` (histogram), by phase and request name;
//! - `gauntlet_users_active`: goose users that have started and not yet ended, by phase;
//! - `gauntlet_phase_active`: 1 for the phase now running, 0 once it ended;
//! - `gauntlet_faults_active`, by kind: `chaos` faults (until cleared or their `duration_s`,
//!   default 30 s, is up), network `toxic`s (until cleared or their `duration`), proxies
//!   `proxy_disabled`, and `process`es paused or killed;
//! - `gauntlet_schedule_lag_seconds` (histogram): how late each open-model request was sent
//!   against its schedule.
//!
//! Label values come from the scenario file (scenario, phase and request names), so the series
//! are bounded by it. The endpoint lives as long as `harness run`; the report holds the final
//! figures.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::measure::label::RequestLabel;

/// Latency buckets, in seconds: 1 ms to 30 s.
const BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The kinds `gauntlet_faults_active` counts.
pub const FAULT_KINDS: [&str; 4] = ["chaos", "toxic", "proxy_disabled", "process"];

/// A fault an action put in place: its kind (`chaos`, `toxic`, `proxy_disabled`, `process`),
/// what it names, and how long it lasts when it ends by itself.
#[derive(Debug)]
pub struct Started<'a> {
    /// The `kind` label.
    pub kind: &'static str,
    /// The dependency, proxy or process.
    pub name: &'a str,
    /// When it expires by itself, if it does.
    pub lasts: Option<Duration>,
}

/// The faults an action took away: those of `kinds`, only the one named `name` when given.
#[derive(Debug)]
pub struct Ended<'a> {
    /// The `kind` labels it ends.
    pub kinds: &'static [&'static str],
    /// The one fault it ends, when it ends one.
    pub name: Option<&'a str>,
}

/// The run's live metrics; shared by every scenario of one `harness run`.
pub struct Live {
    registry: Registry,
    requests: IntCounterVec,
    errors: IntCounterVec,
    duration: HistogramVec,
    users: IntGaugeVec,
    phase: IntGaugeVec,
    faults: IntGaugeVec,
    lag: HistogramVec,
    /// The faults in place, and every scenario seen (whose fault gauges read 0 when none is).
    active: Mutex<(Vec<ActiveFault>, std::collections::BTreeSet<String>)>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

struct ActiveFault {
    scenario: String,
    kind: &'static str,
    name: String,
    until: Option<Instant>,
}

impl Live {
    /// The metrics, registered and at zero.
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new();
        let by_request = ["scenario", "phase", "request"];
        let requests =
            IntCounterVec::new(Opts::new("gauntlet_requests_total", "Requests the harness sent"), &by_request)?;
        let errors = IntCounterVec::new(
            Opts::new("gauntlet_request_errors_total", "Requests that failed (transport, 5xx or a broken rule)"),
            &by_request,
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new("gauntlet_request_duration_seconds", "Latency of the harness's requests")
                .buckets(BUCKETS.to_vec()),
            &by_request,
        )?;
        let users = IntGaugeVec::new(
            Opts::new("gauntlet_users_active", "Users that have started and not yet ended"),
            &["scenario", "phase"],
        )?;
        let phase =
            IntGaugeVec::new(Opts::new("gauntlet_phase_active", "1 while the phase runs"), &["scenario", "phase"])?;
        let faults =
            IntGaugeVec::new(Opts::new("gauntlet_faults_active", "Faults in place, by kind"), &["scenario", "kind"])?;
        let lag = HistogramVec::new(
            HistogramOpts::new("gauntlet_schedule_lag_seconds", "How late open-model requests were sent")
                .buckets(BUCKETS.to_vec()),
            &["scenario", "phase"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(users.clone()))?;
        registry.register(Box::new(phase.clone()))?;
        registry.register(Box::new(faults.clone()))?;
        registry.register(Box::new(lag.clone()))?;
        Ok(Self { registry, requests, errors, duration, users, phase, faults, lag, active: Mutex::default() })
    }

    /// Serves `GET /metrics` on `listen` until the returned task is aborted; returns the address
    /// bound (port 0 picks one).
    pub async fn serve(
        self: Arc<Self>,
        listen: SocketAddr,
    ) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("--metrics-listen {listen}: {e}"))?;
        let address = listener.local_addr()?;
        let router = axum::Router::new().route("/metrics", axum::routing::get(move || async move { self.render() }));
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::warn!(%error, "live metrics endpoint stopped");
            }
        });
        Ok((address, server))
    }

    /// The text exposition format, with the fault gauges brought up to date.
    pub fn render(&self) -> String {
        let mut text = Vec::new();
        let _ = TextEncoder::new().encode(&self.gather(), &mut text);
        String::from_utf8(text).unwrap_or_default()
    }

    /// Every series as it stands, the fault gauges brought up to date.
    pub fn gather(&self) -> Vec<::prometheus::proto::MetricFamily> {
        let now = Instant::now();
        {
            let (active, scenarios) = &mut *self.active.lock().expect("live faults");
            active.retain(|f| f.until.is_none_or(|until| until > now));
            for scenario in scenarios.iter() {
                for kind in FAULT_KINDS {
                    let count = active.iter().filter(|f| f.kind == kind && &f.scenario == scenario).count();
                    self.faults.with_label_values(&[scenario.as_str(), kind]).set(count as i64);
                }
            }
        }
        self.registry.gather()
    }

    /// The series of one phase, marked running until the returned handle drops.
    pub fn phase(self: &Arc<Self>, scenario: &str, phase: &str, requests: &[RequestLabel]) -> LivePhase {
        let series = requests
            .iter()
            .map(|label| {
                let values = [scenario, phase, label.name.as_str()];
                RequestSeries {
                    requests: self.requests.with_label_values(&values),
                    errors: self.errors.with_label_values(&values),
                    duration: self.duration.with_label_values(&values),
                }
            })
            .collect();
        let running = self.phase.with_label_values(&[scenario, phase]);
        running.set(1);
        self.active.lock().expect("live faults").1.insert(scenario.to_owned());
        LivePhase {
            series,
            users: self.users.with_label_values(&[scenario, phase]),
            running,
            lag: self.lag.with_label_values(&[scenario, phase]),
        }
    }

    /// Counts a fault an action of `scenario` put in place, and takes away those it `ended`.
    pub fn note(&self, scenario: &str, started: Option<Started<'_>>, ended: Option<Ended<'_>>) {
        let (active, scenarios) = &mut *self.active.lock().expect("live faults");
        scenarios.insert(scenario.to_owned());
        if let Some(Started { kind, name, lasts }) = started {
            let until = lasts.map(|lasts| Instant::now() + lasts);
            active.push(ActiveFault { scenario: scenario.to_owned(), kind, name: name.to_owned(), until });
        }
        if let Some(Ended { kinds, name }) = ended {
            let ends = |fault: &ActiveFault| kinds.contains(&fault.kind) && name.is_none_or(|name| fault.name == name);
            active.retain(|fault| !(fault.scenario == scenario && ends(fault)));
        }
    }

    /// Rollback reset every proxy and brought back every process of `scenario` (chaos faults
    /// end when cleared or expired).
    pub fn rolled_back(&self, scenario: &str) {
        self.active.lock().expect("live faults").0.retain(|fault| fault.scenario != scenario || fault.kind == "chaos");
    }
}

struct RequestSeries {
    requests: IntCounter,
    errors: IntCounter,
    duration: Histogram,
}

/// One phase's series; dropping it marks the phase over.
pub struct LivePhase {
    series: Vec<RequestSeries>,
    users: IntGauge,
    running: IntGauge,
    lag: Histogram,
}

impl LivePhase {
    /// Counts one response to request `request` (its index in the phase's labels).
    pub fn observe(&self, request: usize, latency: Duration, error: bool) {
        if let Some(series) = self.series.get(request) {
            series.requests.inc();
            if error {
                series.errors.inc();
            }
            series.duration.observe(latency.as_secs_f64());
        }
    }

    /// Counts `requests` responses to request `request` reported by a worker (their latencies
    /// stay in the report: a worker's histogram does not replay into Prometheus buckets).
    pub fn add(&self, request: usize, requests: u64, errors: u64) {
        if let Some(series) = self.series.get(request) {
            series.requests.inc_by(requests);
            series.errors.inc_by(errors);
        }
    }

    /// How late an open-model request was sent.
    pub fn lagged(&self, by: Duration) {
        self.lag.observe(by.as_secs_f64());
    }

    /// A started user, counted until the returned guard drops.
    pub fn user(&self) -> ActiveUser {
        self.users.inc();
        ActiveUser(self.users.clone())
    }
}

impl Drop for LivePhase {
    fn drop(&mut self) {
        self.running.set(0);
    }
}

/// Counts one user in `gauntlet_users_active` while it lives (a clone counts again, so
/// every drop is matched).
pub struct ActiveUser(IntGauge);

impl Clone for ActiveUser {
    fn clone(&self) -> Self {
        self.0.inc();
        Self(self.0.clone())
    }
}

impl Drop for ActiveUser {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
    }

    #[test]
    fn responses_users_and_phases_are_counted_by_name() {
        let live = Arc::new(Live::new().unwrap());
        let label = |name: &str| RequestLabel { name: name.into(), method: "GET".into(), path: "/".into() };
        let labels = [label("health"), label("slow")];
        let phase = live.phase("s", "steady", &labels);
        phase.observe(0, Duration::from_millis(3), false);
        phase.observe(1, Duration::from_millis(700), true);
        phase.observe(1, Duration::from_millis(800), false);
        let users = (phase.user(), phase.user());
        drop(users.0);
        let text = live.render();
        assert_eq!(value(&text, r#"gauntlet_requests_total{phase="steady",request="slow",scenario="s"}"#), Some(2.0));
        assert_eq!(
            value(&text, r#"gauntlet_request_errors_total{phase="steady",request="slow",scenario="s"}"#),
            Some(1.0)
        );
        let bucket =
            r#"gauntlet_request_duration_seconds_bucket{phase="steady",request="health",scenario="s",le="0.005"}"#;
        assert_eq!(value(&text, bucket), Some(1.0));
        assert_eq!(value(&text, r#"gauntlet_users_active{phase="steady",scenario="s"}"#), Some(1.0));
        assert_eq!(value(&text, r#"gauntlet_phase_active{phase="steady",scenario="s"}"#), Some(1.0));
        drop(phase);
        assert_eq!(value(&live.render(), r#"gauntlet_phase_active{phase="steady",scenario="s"}"#), Some(0.0));
    }
}
