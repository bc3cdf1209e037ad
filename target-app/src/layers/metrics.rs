//! The HTTP metrics and the access-log line of each request, labelled by matched route
//! template, never the raw path (bounded label cardinality).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, Uri};
use axum::response::Response;

use crate::error::ErrorType;
use crate::metrics::{Metrics, route_label};

/// One request being recorded: counted in `http_requests_in_progress` until it is dropped, when
/// it completes and also when the client hangs up and the request's future is cancelled.
pub struct Recording {
    metrics: Metrics,
    started: Instant,
    method: Method,
    /// The route template; `None` for requests no route matched.
    endpoint: Option<MatchedPath>,
    uri: Uri,
    in_progress: prometheus::IntGauge,
}

impl Recording {
    /// Starts recording `request`.
    pub fn start(metrics: &Metrics, request: &Request) -> Self {
        let method = request.method().clone();
        let endpoint = request.extensions().get::<MatchedPath>().cloned();
        let in_progress = metrics.in_progress.with_label_values(&[method.as_str(), route_label(endpoint.as_ref())]);
        in_progress.inc();
        Self {
            metrics: metrics.clone(),
            started: Instant::now(),
            method,
            endpoint,
            uri: request.uri().clone(),
            in_progress,
        }
    }

    fn endpoint(&self) -> &str {
        route_label(self.endpoint.as_ref())
    }

    /// Counts the response, observes its latency and writes the access-log line.
    pub fn finish(self, response: &Response) {
        let elapsed = self.started.elapsed();
        let (method, endpoint, status) = (self.method.as_str(), self.endpoint(), response.status());
        self.metrics.requests.with_label_values(&[method, endpoint, status.as_str()]).inc();
        self.metrics.duration.with_label_values(&[method, endpoint]).observe(elapsed.as_secs_f64());
        if status.is_client_error() || status.is_server_error() {
            let error_type = response.extensions().get::<ErrorType>().map_or("HTTPError", |e| e.0);
            self.metrics.errors.with_label_values(&[error_type, status.as_str()]).inc();
        }
        tracing::info!(
            target: "access",
            method,
            path = self.uri.path(),
            endpoint,
            status_code = status.as_u16(),
            duration_ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3,
            "HTTP request completed"
        );
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.in_progress.dec();
    }
}
