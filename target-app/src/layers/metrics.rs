//! Prometheus metrics ([`Metrics`]) and the middleware that records one access-log line and the
//! HTTP metrics for every request, labelled by matched route template, never the raw path.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::error::ErrorType;

/// Every metric the app exports, registered in one registry per app instance. One `Arc`, so
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
    /// `http_errors_total{error_type,status_code}`.
    pub errors: IntCounterVec,
    /// `cache_hits_total{endpoint}`.
    pub cache_hits: IntCounterVec,
    /// `cache_misses_total{endpoint}`.
    pub cache_misses: IntCounterVec,
    /// `cache_errors_total{endpoint}`: cache failures that were served as misses.
    pub cache_errors: IntCounterVec,
    /// `cache_invalidations_total{pattern}`.
    pub cache_invalidations: IntCounterVec,
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
    /// `circuit_breaker_state{service}`: 0 closed, 1 open, 2 half-open.
    pub breaker_state: IntGaugeVec,
    /// `rate_limit_exceeded_total{endpoint}`.
    pub rate_limited: IntCounterVec,
    /// `rate_limit_backend{backend}`: 1 for the backend in use (`redis` or `memory`).
    pub rate_limit_backend: IntGaugeVec,
    /// `rate_limit_fallback_total`: decisions taken in memory because Redis failed.
    pub rate_limit_fallbacks: IntCounterVec,
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
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["method", "endpoint"],
        )
        .expect("valid histogram");
        registry.register(Box::new(duration.clone())).expect("unique metric");
        let app_info = gauge("app_info", "Application metadata", &["version", "name"]);
        app_info.with_label_values(&[env!("CARGO_PKG_VERSION"), app_name]).set(1);
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
            .expect("process collector registers once");
        let breaker = |suffix: &str, help: &str| counter(&format!("circuit_breaker_{suffix}"), help, &["service"]);
        Self(Arc::new(MetricFamilies {
            requests: counter("http_requests_total", "Total HTTP requests", &["method", "endpoint", "status"]),
            duration,
            in_progress: gauge("http_requests_in_progress", "HTTP requests in progress", &["method", "endpoint"]),
            errors: counter("http_errors_total", "HTTP errors by type", &["error_type", "status_code"]),
            cache_hits: counter("cache_hits_total", "Response cache hits", &["endpoint"]),
            cache_misses: counter("cache_misses_total", "Response cache misses", &["endpoint"]),
            cache_errors: counter("cache_errors_total", "Response cache failures served as misses", &["endpoint"]),
            cache_invalidations: counter("cache_invalidations_total", "Cache invalidations", &["pattern"]),
            breaker_opened: breaker("opened_total", "Times the circuit opened"),
            breaker_half_open: breaker("half_open_total", "Times the circuit went half-open"),
            breaker_closed: breaker("closed_total", "Times the circuit closed again"),
            breaker_failures: breaker("failures_total", "Failures recorded by the breaker"),
            dependency_calls: counter("dependency_calls_total", "Calls that passed the breaker", &["service"]),
            breaker_state: gauge("circuit_breaker_state", "0 closed, 1 open, 2 half-open", &["service"]),
            rate_limited: counter("rate_limit_exceeded_total", "Requests rejected with 429", &["endpoint"]),
            rate_limit_backend: gauge("rate_limit_backend", "Rate limiter backend in use (1)", &["backend"]),
            rate_limit_fallbacks: counter(
                "rate_limit_fallback_total",
                "Rate limit decisions taken in memory because Redis failed",
                &["class"],
            ),
            chaos_injected: counter("chaos_faults_injected_total", "Chaos faults injected", &["dependency", "kind"]),
            registry,
        }))
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer).expect("text encoding cannot fail");
        String::from_utf8(buffer).expect("prometheus text is UTF-8")
    }
}

/// The route template a request matched, or `unmatched` for 404s (keeps label cardinality bounded).
pub fn endpoint_of(request: &Request) -> String {
    request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned())
}

/// One request counted in `http_requests_in_progress` until it is dropped: when it completes,
/// and also when the client hangs up and the request's future is cancelled mid-way.
struct InProgress(prometheus::IntGauge);

impl InProgress {
    fn start(gauge: prometheus::IntGauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Middleware: in-progress gauge, counters, latency histogram and the JSON access-log line.
pub async fn record(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let endpoint = endpoint_of(&request);
    let path = request.uri().path().to_owned();
    let in_progress = InProgress::start(metrics.in_progress.with_label_values(&[&method, &endpoint]));
    let response = next.run(request).await;
    drop(in_progress);
    let elapsed = started.elapsed();
    let status = response.status();
    metrics.requests.with_label_values(&[&method, &endpoint, status.as_str()]).inc();
    metrics.duration.with_label_values(&[&method, &endpoint]).observe(elapsed.as_secs_f64());
    if status.is_client_error() || status.is_server_error() {
        let error_type = response.extensions().get::<ErrorType>().map_or("HTTPError", |e| e.0);
        metrics.errors.with_label_values(&[error_type, status.as_str()]).inc();
    }
    tracing::info!(
        target: "access",
        method,
        path,
        endpoint,
        status_code = status.as_u16(),
        duration_ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3,
        "HTTP request completed"
    );
    response
}
