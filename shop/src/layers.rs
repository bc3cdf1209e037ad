//! The one middleware every shop service runs: the request id (echoed, in every log line and
//! error body), the security headers, metrics and the access log, a panic caught as a documented
//! 500, the head size limit (431) and the overall request deadline. The same steps, in the same
//! order, as target-app's pipeline.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use kit::error::ApiError;
use kit::layers::metrics::Recording;
use kit::layers::request_id::RequestId;
use kit::layers::{content, security_headers};
use kit::metrics::Metrics;

/// What the middleware needs; cheap to clone.
#[derive(Clone)]
pub struct Observe {
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

/// Runs `next` inside the request's id scope, counted, deadline-bound and panic-safe.
pub async fn observe(State(observe): State<Observe>, request: Request, next: Next) -> Response {
    let id = RequestId::of(&request);
    let recording = Recording::start(&observe.metrics, &request);
    let oversized = content::check_head(&request, observe.max_header_bytes).err();
    let handled = async move {
        match oversized {
            Some(error) => Ok(Ok(error.into_response())),
            None => tokio::time::timeout(observe.timeout, AssertUnwindSafe(next.run(request)).catch_unwind()).await,
        }
    };
    let steps = handled.map(|outcome| {
        let response = match outcome {
            Ok(Ok(response)) => response,
            Ok(Err(_)) => ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response(),
            Err(_) => ApiError::Timeout.into_response(),
        };
        recording.finish(&response);
        response
    });
    let mut response = id.scope(observe.debug, steps).await;
    id.echo(&mut response);
    if observe.security_headers {
        security_headers::apply(response.headers_mut(), false, observe.behind_tls);
    }
    response
}
