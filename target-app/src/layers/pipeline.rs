//! [`Pipeline`]: one tower service that runs every cross-cutting step of a request in order:
//! CORS, the steps every service runs ([`kit::layers::pipeline::observe`]), then target-app's
//! own: rate limits, body rules and the response cache.
//!
//! One service instead of a stack of `from_fn` layers because each of those clones the whole
//! stack below it and boxes a future and a `Next` on every request. With seven of them, that
//! cost `/health/` more than half of its throughput per core (docs/benchmarks.md).

use std::convert::Infallible;
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
use kit::layers::content;
use kit::layers::metrics::RouteSeries;
use kit::layers::pipeline::{Steps, observe, take_readied, within_deadline};

/// Wraps each route in a [`Pipeline`].
#[derive(Clone)]
pub struct PipelineLayer {
    state: AppState,
    steps: Arc<Steps>,
    cors: Arc<Cors>,
}

impl PipelineLayer {
    /// Every step over `state`, behind `cors`.
    pub fn new(state: AppState, cors: Arc<Cors>) -> Self {
        let steps = Arc::new(Steps::new(&state.settings.app, state.metrics.clone()));
        Self { state, steps, cors }
    }
}

impl<S> Layer<S> for PipelineLayer {
    type Service = Pipeline<S>;

    fn layer(&self, inner: S) -> Pipeline<S> {
        let series = Arc::new(RouteSeries::default());
        Pipeline { state: self.state.clone(), steps: self.steps.clone(), cors: self.cors.clone(), series, inner }
    }
}

/// A route behind CORS and every step; see [`run`].
#[derive(Clone)]
pub struct Pipeline<S> {
    state: AppState,
    steps: Arc<Steps>,
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
        let inner = take_readied(&mut self.inner);
        let (state, steps, series) = (self.state.clone(), self.steps.clone(), self.series.clone());
        if Cors::applies(&request) {
            let run = move |request| run(state.clone(), steps.clone(), series.clone(), request, inner.clone()).map(Ok);
            return Box::pin(self.cors.layer().layer(tower::service_fn(run)).oneshot(request));
        }
        let cors = self.cors.clone();
        Box::pin(async move {
            let mut response = run(state, steps, series, request, inner).await;
            cors.add_without_origin(response.headers_mut());
            Ok(response)
        })
    }
}

/// The steps, after CORS ([`Cors`]), outermost first:
/// 1. to 3. the request id and security headers, metrics and the access log, the panic guard
///    ([`observe`]);
/// 4. rate limiting, before any work is done for the request;
/// 5. head size, body size and content-type rules, before bodies are read;
/// 6. an overall deadline (dependency calls have their own, shorter ones);
/// 7. the response cache: a hit skips only the handler, and is still counted and limited.
fn run<S>(
    state: AppState,
    steps: Arc<Steps>,
    series: Arc<RouteSeries>,
    request: Request,
    handler: S,
) -> impl Future<Output = Response>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    observe(steps, series, request, move |request| limited(state, request, handler))
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
async fn limited<S>(state: AppState, request: Request, handler: S) -> Response
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
            with_error_body(within_deadline(state.settings.app.request_timeout, handled).await)
        }
    };
    rate_limit::report(decision, &mut response);
    response
}
