//! The request steps every service runs, in one order: [`observe`] (the request id, security
//! headers, metrics and the access log, the panic guard) around whatever a service adds, and
//! [`StepsLayer`] for a service that adds only the head limit and the deadline (the shop's).
//!
//! One tower service per route instead of a stack of `from_fn` layers, because each of those
//! clones the whole stack below it and boxes a future and a `Next` on every request
//! (docs/benchmarks.md).

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use futures::future::BoxFuture;
use tower::{Layer, Service, ServiceExt};

use crate::config::AppSettings;
use crate::error::ApiError;
use crate::layers::metrics::{Recording, RouteSeries};
use crate::layers::request_id::RequestId;
use crate::layers::{content, security_headers};
use crate::metrics::Metrics;
use crate::trace;

/// What the steps need, from a service's [`AppSettings`].
pub struct Steps {
    /// Where requests are counted.
    pub metrics: Metrics,
    /// `DEBUG`: 5xx bodies carry their cause.
    pub debug: bool,
    /// `REQUEST_TIMEOUT_MS`: 504 beyond it.
    pub timeout: Duration,
    /// `MAX_HEADER_BYTES`: a larger request head gets 431.
    pub max_header_bytes: usize,
    /// `BEHIND_TLS`: responses carry `Strict-Transport-Security`.
    pub behind_tls: bool,
    /// `SECURITY_HEADERS`: send the security headers at all.
    pub security_headers: bool,
}

impl Steps {
    /// The steps `app` configures, counted in `metrics`.
    pub fn new(app: &AppSettings, metrics: Metrics) -> Self {
        Self {
            metrics,
            debug: app.debug,
            timeout: app.request_timeout,
            max_header_bytes: app.max_header_bytes,
            behind_tls: app.behind_tls,
            security_headers: app.security_headers,
        }
    }
}

/// The outer steps around `inner`, outermost first:
/// 1. the request id, on every response and in every log line and error body, the security
///    headers on every response, and the request's span when traces are on;
/// 2. metrics and the access log, which see the final status of everything below, 429s and
///    caught panics included;
/// 3. a panic becomes a documented 500 body instead of a dropped connection.
///
/// It owns what it is given, so a caller can hand on this future as it is: one more async level
/// around it would carry the request and the steps below it once more, copied on every move.
pub async fn observe<F>(
    steps: Arc<Steps>,
    series: Arc<RouteSeries>,
    request: Request,
    inner: impl FnOnce(Request) -> F,
) -> Response
where
    F: Future<Output = Response>,
{
    let id = RequestId::of(&request);
    let docs = security_headers::is_docs(request.uri().path());
    let span = trace::server_span(&request);
    let mut response = id.scope_traced(steps.debug, span.clone(), recorded(&steps, &series, request, inner)).await;
    if !span.is_disabled() {
        trace::record_status(&span, response.status().as_u16());
    }
    id.echo(&mut response);
    if steps.security_headers {
        security_headers::apply(response.headers_mut(), docs, steps.behind_tls);
    }
    response
}

/// Steps 2 and 3, inside the id's scope, so the 500 body and the access-log line carry the id.
async fn recorded<F>(
    steps: &Steps,
    series: &RouteSeries,
    request: Request,
    inner: impl FnOnce(Request) -> F,
) -> Response
where
    F: Future<Output = Response>,
{
    let recording = Recording::start_on(series, &steps.metrics, &request);
    // Boxed: the steps below hold the request and the handler's future, kilobytes that every
    // enclosing future would otherwise carry, and copy each time it is moved.
    let response = AssertUnwindSafe(Box::pin(inner(request)))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response());
    recording.finish(&response);
    response
}

/// `future` within the overall deadline: 504 beyond it (dependency calls have their own,
/// shorter ones).
pub async fn within_deadline(timeout: Duration, future: impl Future<Output = Response>) -> Response {
    tokio::time::timeout(timeout, future).await.unwrap_or_else(|_| ApiError::Timeout.into_response())
}

/// The clone of a route's service that `poll_ready` readied, to serve one request, leaving a
/// fresh clone in its place for the next: what every per-route tower service does in `call`.
pub fn take_readied<S: Clone>(inner: &mut S) -> S {
    let fresh = inner.clone();
    std::mem::replace(inner, fresh)
}

/// Wraps each route in [`observe`], then the head limit (431) and the deadline (504).
#[derive(Clone)]
pub struct StepsLayer(Arc<Steps>);

impl StepsLayer {
    /// The layer over `steps`.
    pub fn new(steps: Steps) -> Self {
        Self(Arc::new(steps))
    }
}

impl<S> Layer<S> for StepsLayer {
    type Service = Stepped<S>;

    fn layer(&self, inner: S) -> Stepped<S> {
        Stepped { steps: self.0.clone(), series: Arc::new(RouteSeries::default()), inner }
    }
}

/// A route behind [`StepsLayer`]'s steps.
#[derive(Clone)]
pub struct Stepped<S> {
    steps: Arc<Steps>,
    /// This route's metric series.
    series: Arc<RouteSeries>,
    inner: S,
}

impl<S> Service<Request> for Stepped<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let handler = take_readied(&mut self.inner);
        let (max_header_bytes, timeout) = (self.steps.max_header_bytes, self.steps.timeout);
        let bounded = move |request: Request| async move {
            match content::check_head(&request, max_header_bytes) {
                Err(error) => error.into_response(),
                Ok(()) => within_deadline(timeout, handler.oneshot(request).map(|Ok(r)| r)).await,
            }
        };
        Box::pin(observe(self.steps.clone(), self.series.clone(), request, bounded).map(Ok))
    }
}
