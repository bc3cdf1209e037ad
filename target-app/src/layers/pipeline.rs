//! [`Pipeline`]: one tower service that runs every cross-cutting step of a request in order.
//!
//! One service instead of a stack of `from_fn` layers because each of those clones the whole
//! stack below it and boxes a future and a `Next` on every request. With seven of them, that
//! cost `/health/` more than half of its throughput per core (docs/benchmarks.md).

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use futures::future::BoxFuture;
use tower::{Layer, Service, ServiceExt};

use crate::layers::cors::Cors;
use crate::layers::rate_limit::{self, Verdict};
use crate::state::AppState;
use kit::error::ApiError;
use kit::layers::metrics::{Recording, RouteSeries};
use kit::layers::request_id::RequestId;
use kit::layers::{content, security_headers};

/// Wraps each route in a [`Pipeline`].
#[derive(Clone)]
pub struct PipelineLayer {
    state: AppState,
    cors: Arc<Cors>,
}

impl PipelineLayer {
    /// Every step over `state`, behind `cors`.
    pub fn new(state: AppState, cors: Arc<Cors>) -> Self {
        Self { state, cors }
    }
}

impl<S> Layer<S> for PipelineLayer {
    type Service = Pipeline<S>;

    fn layer(&self, inner: S) -> Pipeline<S> {
        let series = Arc::new(RouteSeries::default());
        Pipeline { state: self.state.clone(), cors: self.cors.clone(), series, inner }
    }
}

/// A route behind CORS and every step; see [`run`].
#[derive(Clone)]
pub struct Pipeline<S> {
    state: AppState,
    cors: Arc<Cors>,
    /// This route's metric series.
    series: Arc<RouteSeries>,
    inner: S,
}

impl<S> Service<Request> for Pipeline<S>
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
        // The clone that was readied serves this request; a fresh one waits for the next.
        let fresh = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, fresh);
        let (state, series) = (self.state.clone(), self.series.clone());
        if Cors::applies(&request) {
            let steps =
                tower::service_fn(move |request| run(state.clone(), series.clone(), request, inner.clone()).map(Ok));
            return Box::pin(self.cors.layer().layer(steps).oneshot(request));
        }
        let cors = self.cors.clone();
        Box::pin(async move {
            let mut response = run(state, series, request, inner).await;
            cors.add_without_origin(response.headers_mut());
            Ok(response)
        })
    }
}

/// The steps, after CORS ([`Cors`]), outermost first:
/// 1. the request id, on every response and in every log line and error body, and the
///    security headers on every response;
/// 2. metrics and the access log, which see the final status of everything below, 429s and
///    caught panics included;
/// 3. a panic becomes a documented 500 body instead of a dropped connection;
/// 4. rate limiting, before any work is done for the request;
/// 5. head size, body size and content-type rules, before bodies are read;
/// 6. an overall deadline (dependency calls have their own, shorter ones);
/// 7. the response cache: a hit skips only the handler, and is still counted and limited.
async fn run<S>(state: AppState, series: Arc<RouteSeries>, request: Request, handler: S) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let id = RequestId::of(&request);
    let docs = security_headers::is_docs(request.uri().path());
    let app = &state.settings.app;
    let mut response = id.scope(app.debug, recorded(&state, &series, request, handler)).await;
    id.echo(&mut response);
    if app.security_headers {
        security_headers::apply(response.headers_mut(), docs, app.behind_tls);
    }
    response
}

/// Steps 2 and 3, inside the id's scope, so the 500 body and the access-log line carry the id.
async fn recorded<S>(state: &AppState, series: &RouteSeries, request: Request, handler: S) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let recording = Recording::start_on(series, &state.metrics, &request);
    // Boxed: the steps below hold the request and the handler's future, kilobytes that every
    // enclosing future would otherwise carry, and copy each time it is moved.
    let response = AssertUnwindSafe(Box::pin(limited(state, request, handler)))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response());
    recording.finish(&response);
    response
}

/// A 404 without a body (the Swagger UI's, for a file it does not have) gets the documented
/// error body, as every other 404 has.
fn with_error_body(response: Response) -> Response {
    use axum::body::HttpBody;
    match response.status() == axum::http::StatusCode::NOT_FOUND && response.body().size_hint().exact() == Some(0) {
        true => ApiError::not_found("No such endpoint").into_response(),
        false => response,
    }
}

/// Steps 4 to 7, one after the other rather than each wrapping the next: a wrapping future
/// holds the request and every step below it once more.
async fn limited<S>(state: &AppState, request: Request, handler: S) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let (head, body) = request.into_parts();
    let decision = match rate_limit::decide(&state.limiter, &head).await {
        Verdict::Refused(response) => return response,
        Verdict::Allowed(decision) => decision,
    };
    let request = Request::from_parts(head, body);
    let checked = content::check_head(&request, state.settings.app.max_header_bytes)
        .and_then(|()| content::check(&request, state.settings.app.max_body_bytes));
    let mut response = match checked {
        Err(error) => error.into_response(),
        Ok(()) => {
            let handled = state.cache.serve(request, |request| handler.oneshot(request).map(|Ok(response)| response));
            let response = tokio::time::timeout(state.settings.app.request_timeout, handled)
                .await
                .unwrap_or_else(|_| ApiError::Timeout.into_response());
            with_error_body(response)
        }
    };
    rate_limit::report(decision, &mut response);
    response
}
