//! The HTTP metrics and the access-log line of each request, labelled by matched route
//! template, never the raw path (bounded label cardinality).

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;

use crate::error::ErrorType;
use crate::metrics::{Metrics, route_label};

/// One route's series, looked up on its first request and reused for every request that has
/// the same method and template (a HEAD served by a GET route, or a fallback's many paths, are
/// looked up each time): a prometheus lookup hashes the labels and takes a lock, which cost
/// every request three times.
#[derive(Default)]
pub struct RouteSeries(OnceLock<Arc<Series>>);

impl RouteSeries {
    fn of(&self, metrics: &Metrics, method: &Method, endpoint: Option<&MatchedPath>) -> Arc<Series> {
        let cached = self.0.get_or_init(|| Arc::new(Series::look_up(metrics, method, endpoint)));
        match cached.method == method
            && cached.endpoint.as_ref().map(MatchedPath::as_str) == endpoint.map(MatchedPath::as_str)
        {
            true => cached.clone(),
            false => Arc::new(Series::look_up(metrics, method, endpoint)),
        }
    }
}

/// The series of one method and route template; `ok` counts its 200s.
pub struct Series {
    method: Method,
    /// The route template; `None` for requests no route matched.
    endpoint: Option<MatchedPath>,
    in_progress: prometheus::IntGauge,
    duration: prometheus::Histogram,
    ok: prometheus::IntCounter,
}

impl Series {
    fn look_up(metrics: &Metrics, method: &Method, endpoint: Option<&MatchedPath>) -> Self {
        let labels = [method.as_str(), route_label(endpoint)];
        Self {
            method: method.clone(),
            endpoint: endpoint.cloned(),
            in_progress: metrics.in_progress.with_label_values(&labels),
            duration: metrics.duration.with_label_values(&labels),
            ok: metrics.requests.with_label_values(&[labels[0], labels[1], "200"]),
        }
    }
}

/// One request being recorded: counted in `http_requests_in_progress` until it is dropped, when
/// it completes and also when the client hangs up and the request's future is cancelled.
pub struct Recording {
    metrics: Metrics,
    started: Instant,
    series: Arc<Series>,
    uri: Uri,
}

impl Recording {
    /// Starts recording `request`.
    pub fn start(metrics: &Metrics, request: &Request) -> Self {
        Self::start_on(&RouteSeries::default(), metrics, request)
    }

    /// Starts recording `request` of the route whose series `route` keeps.
    pub fn start_on(route: &RouteSeries, metrics: &Metrics, request: &Request) -> Self {
        let endpoint = request.extensions().get::<MatchedPath>();
        let series = route.of(metrics, request.method(), endpoint);
        series.in_progress.inc();
        Self { metrics: metrics.clone(), started: Instant::now(), series, uri: request.uri().clone() }
    }

    /// Counts the response, observes its latency and writes the access-log line.
    pub fn finish(self, response: &Response) {
        let elapsed = self.started.elapsed();
        let series = &self.series;
        let (method, endpoint, status) =
            (series.method.as_str(), route_label(series.endpoint.as_ref()), response.status());
        match status {
            StatusCode::OK => series.ok.inc(),
            _ => self.metrics.requests.with_label_values(&[method, endpoint, status.as_str()]).inc(),
        }
        series.duration.observe(elapsed.as_secs_f64());
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
        self.series.in_progress.dec();
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::any;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_routes_cached_series_counts_only_requests_that_match_it() {
        let (metrics, route) = (Metrics::new("test"), Arc::new(RouteSeries::default()));
        let (m, r) = (metrics.clone(), route.clone());
        let record = move |request: Request| {
            let recording = Recording::start_on(&r, &m, &request);
            let mut response = Response::new(Body::empty());
            if request.uri().query() == Some("missing") {
                *response.status_mut() = StatusCode::NOT_FOUND;
            }
            recording.finish(&response);
            async {}
        };
        let app = axum::Router::new().route("/items/{id}", any(record));
        for (method, uri) in [(Method::GET, "/items/7"), (Method::HEAD, "/items/8"), (Method::GET, "/items/9?missing")]
        {
            let request = Request::builder().method(method).uri(uri).body(Body::empty()).unwrap();
            app.clone().oneshot(request).await.unwrap();
        }
        let text = metrics.render();
        for series in [
            r#"http_requests_total{endpoint="/items/{id}",method="GET",status="200"} 1"#,
            r#"http_requests_total{endpoint="/items/{id}",method="HEAD",status="200"} 1"#,
            r#"http_requests_total{endpoint="/items/{id}",method="GET",status="404"} 1"#,
            r#"http_requests_in_progress{endpoint="/items/{id}",method="GET"} 0"#,
            r#"http_request_duration_seconds_count{endpoint="/items/{id}",method="HEAD"} 1"#,
        ] {
            assert!(text.contains(series), "missing {series} in\n{text}");
        }
    }
}
