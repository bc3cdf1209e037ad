//! Prometheus metrics: [`Metrics`] registers the families every service exports (HTTP,
//! breakers, dependency calls, chaos), takes those a service adds ([`Metrics::counter`]), and
//! renders them all.
//! [`crate::layers::metrics`] records the HTTP ones for each request.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::MatchedPath;
use prometheus::{CounterVec, Encoder, HistogramOpts, HistogramVec, Opts, Registry, TextEncoder};
/// The family types [`Metrics::counter`] and [`Metrics::gauge`] hand out.
pub use prometheus::{IntCounterVec, IntGaugeVec};

/// The service's metrics, registered in one registry per service instance. One `Arc`, so
/// the many handles that hold it (breakers, clients, layers, per-request state) clone it for
/// one atomic increment, not one per metric.
#[derive(Clone)]
pub struct Metrics(Arc<MetricFamilies>);

impl Deref for Metrics {
    type Target = MetricFamilies;

    fn deref(&self) -> &MetricFamilies {
        &self.0
    }
}

/// The metric handles behind [`Metrics`].
pub struct MetricFamilies {
    registry: Registry,
    /// `http_requests_total{method,endpoint,status}`.
    pub requests: IntCounterVec,
    /// `http_request_duration_seconds{method,endpoint}`.
    pub duration: HistogramVec,
    /// `http_requests_in_progress{method,endpoint}`.
    pub in_progress: IntGaugeVec,
    /// `http_errors_total{error_type,status}`: the status label named as `http_requests_total`'s.
    pub errors: IntCounterVec,
    /// `circuit_breaker_opened_total{service}`.
    pub breaker_opened: IntCounterVec,
    /// `circuit_breaker_half_open_total{service}`.
    pub breaker_half_open: IntCounterVec,
    /// `circuit_breaker_closed_total{service}`.
    pub breaker_closed: IntCounterVec,
    /// `circuit_breaker_failures_total{service}`.
    pub breaker_failures: IntCounterVec,
    /// `dependency_calls_total{service}`: calls that passed the breaker and reached the client.
    pub dependency_calls: IntCounterVec,
    /// `dependency_call_seconds_total{service}`: the time those calls took, faults included (a
    /// mean is this over `dependency_calls_total`; a counter, not a histogram, to keep `/metrics` short).
    pub dependency_seconds: CounterVec,
    /// `circuit_breaker_state{service}`: 0 closed, 1 open, 2 half-open.
    pub breaker_state: IntGaugeVec,
    /// `chaos_faults_injected_total{dependency,kind}`.
    pub chaos_injected: IntCounterVec,
}

impl Metrics {
    /// Registers every metric, plus `app_info{version,name}` and the process collector.
    pub fn new(app_name: &str) -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter");
            registry.register(Box::new(metric.clone())).expect("unique metric");
            metric
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge");
            registry.register(Box::new(metric.clone())).expect("unique metric");
            metric
        };
        let duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency")
                // Up to the 30 s request deadline, so a request that ran into it is not just "+Inf".
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0,
                ]),
            &["method", "endpoint"],
        )
        .expect("valid histogram");
        registry.register(Box::new(duration.clone())).expect("unique metric");
        let app_info = gauge("app_info", "Application metadata", &["version", "name"]);
        app_info.with_label_values(&[env!("CARGO_PKG_VERSION"), app_name]).set(1);
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(Recent::new(prometheus::process_collector::ProcessCollector::for_self())))
            .expect("process collector registers once");
        let breaker = |suffix: &str, help: &str| counter(&format!("circuit_breaker_{suffix}"), help, &["service"]);
        Self(Arc::new(MetricFamilies {
            requests: counter("http_requests_total", "Total HTTP requests", &["method", "endpoint", "status"]),
            duration,
            in_progress: gauge("http_requests_in_progress", "HTTP requests in progress", &["method", "endpoint"]),
            errors: counter("http_errors_total", "HTTP errors by type", &["error_type", "status"]),
            breaker_opened: breaker("opened_total", "Times the circuit opened"),
            breaker_half_open: breaker("half_open_total", "Times the circuit went half-open"),
            breaker_closed: breaker("closed_total", "Times the circuit closed again"),
            breaker_failures: breaker("failures_total", "Failures recorded by the breaker"),
            dependency_calls: counter("dependency_calls_total", "Calls that passed the breaker", &["service"]),
            dependency_seconds: {
                let opts = Opts::new("dependency_call_seconds_total", "Time spent in calls that passed the breaker");
                let metric = CounterVec::new(opts, &["service"]).expect("valid counter");
                registry.register(Box::new(metric.clone())).expect("unique metric");
                metric
            },
            breaker_state: gauge("circuit_breaker_state", "0 closed, 1 open, 2 half-open", &["service"]),
            chaos_injected: counter("chaos_faults_injected_total", "Chaos faults injected", &["dependency", "kind"]),
            registry,
        }))
    }

    /// A counter family a program built on this crate adds (target-app's cache and rate limits),
    /// registered so one `/metrics` renders it with the rest.
    pub fn counter(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter");
        self.registry.register(Box::new(metric.clone())).expect("unique metric");
        metric
    }

    /// A gauge family a program adds, like [`Metrics::counter`].
    pub fn gauge(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        let metric = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge");
        self.registry.register(Box::new(metric.clone())).expect("unique metric");
        metric
    }

    /// Registers a family a program built on this crate adds (the shop's `upstream_*`), so one
    /// `/metrics` renders both.
    pub fn register(&self, collector: impl prometheus::core::Collector + 'static) -> prometheus::Result<()> {
        self.registry.register(Box::new(collector))
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer).expect("text encoding cannot fail");
        String::from_utf8(buffer).expect("prometheus text is UTF-8")
    }
}

/// The `endpoint` label of a matched route template, `unmatched` for none (404s), which keeps
/// label cardinality bounded.
pub fn route_label(route: Option<&MatchedPath>) -> &str {
    route.map_or("unmatched", MatchedPath::as_str)
}

/// A collector whose samples are reused for [`Recent::MAX_AGE`]. The process collector reads
/// `/proc/self/{stat,limits,fd}` on every scrape, which was a third of `/metrics`' CPU time.
struct Recent<C> {
    inner: C,
    last: std::sync::Mutex<Option<(std::time::Instant, Vec<prometheus::proto::MetricFamily>)>>,
}

impl<C> Recent<C> {
    const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(1);

    fn new(inner: C) -> Self {
        Self { inner, last: std::sync::Mutex::default() }
    }
}

impl<C: prometheus::core::Collector> prometheus::core::Collector for Recent<C> {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.inner.desc()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*last {
            Some((at, families)) if at.elapsed() < Self::MAX_AGE => families.clone(),
            _ => {
                let families = self.inner.collect();
                *last = Some((std::time::Instant::now(), families.clone()));
                families
            }
        }
    }
}
