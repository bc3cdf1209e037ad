//! Request ids: echo a sane `X-Request-ID` or mint a UUID4, and make it visible to every log
//! line (through a tracing span) and every error body (through a task-local).

use std::future::Future;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use tracing::Instrument;

/// The header that carries the id both ways.
pub const HEADER: &str = "x-request-id";

/// Per-request context that [`crate::error::ApiError`] reads when it renders a body.
#[derive(Clone, Debug)]
struct RequestContext {
    id: RequestId,
    debug: bool,
    /// The request's span in its trace ([`crate::trace::server_span`]; none when traces are off).
    trace: tracing::Span,
}

tokio::task_local! {
    static CONTEXT: RequestContext;
}

/// The id of the request being served, or `None` outside a request.
pub fn current() -> Option<String> {
    CONTEXT.try_with(|ctx| ctx.id.as_str().to_owned()).ok()
}

/// The id of the request being served, to carry it into a spawned task with [`RequestId::scope`].
pub fn current_id() -> Option<RequestId> {
    CONTEXT.try_with(|ctx| ctx.id.clone()).ok()
}

/// Whether the app runs with `DEBUG=true` (error bodies then carry causes).
pub fn debug_enabled() -> bool {
    CONTEXT.try_with(|ctx| ctx.debug).unwrap_or(false)
}

/// The id a request is known by, kept as the header value it is echoed in.
#[derive(Clone, Debug)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The client's `X-Request-ID` when it is acceptable, otherwise a new UUID4.
    pub fn of(request: &Request) -> Self {
        match request.headers().get(HEADER).filter(|v| v.to_str().is_ok_and(is_acceptable)) {
            Some(id) => Self(id.clone()),
            None => Self::mint(),
        }
    }

    /// A UUID4 from the thread's generator: one system call per request for ids (`getrandom`)
    /// cost 3% of `/health/`'s CPU.
    fn mint() -> Self {
        let uuid = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut buffer = uuid::Uuid::encode_buffer();
        Self(
            HeaderValue::from_str(uuid.hyphenated().encode_lower(&mut buffer)).expect("a UUID is a valid header value"),
        )
    }

    /// The id as text (acceptable ids are ASCII).
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }

    /// Runs `future` with this id visible to every log line (a tracing span) and every error body,
    /// and in the trace of the request it is called within: a task spawned for a request with
    /// `id.scope(..)` keeps both.
    pub fn scope<F: Future>(&self, debug: bool, future: F) -> impl Future<Output = F::Output> + use<F> {
        let trace = CONTEXT.try_with(|ctx| ctx.trace.clone()).unwrap_or_else(|_| tracing::Span::none());
        self.scope_traced(debug, trace, future)
    }

    /// [`RequestId::scope`] within the request's span `trace`. Not an `async fn`, which would
    /// hold `future` twice (as argument and inside the scope).
    pub(crate) fn scope_traced<F: Future>(
        &self,
        debug: bool,
        trace: tracing::Span,
        future: F,
    ) -> impl Future<Output = F::Output> + use<F> {
        let span = tracing::info_span!("request", request_id = self.as_str());
        let future = future.instrument(span).instrument(trace.clone());
        CONTEXT.scope(RequestContext { id: self.clone(), debug, trace }, future)
    }

    /// Echoes the id on the response.
    pub fn echo(self, response: &mut Response) {
        response.headers_mut().insert(HeaderName::from_static(HEADER), self.0);
    }
}

/// Client ids are echoed only when short and printable, so logs cannot be forged through them.
fn is_acceptable(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_printable_ids_are_echoed() {
        assert!(is_acceptable("abc-123-def"));
        assert!(!is_acceptable(""));
        assert!(!is_acceptable("has space"));
        assert!(!is_acceptable(&"x".repeat(129)));
    }
}
