//! Request ids: echo a sane `X-Request-ID` or mint a UUID4, and make it visible to every log
//! line (through a tracing span) and every error body (through a task-local).

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The header that carries the id both ways.
pub const HEADER: &str = "x-request-id";

/// Per-request context that [`crate::error::ApiError`] reads when it renders a body.
#[derive(Clone, Debug)]
struct RequestContext {
    id: String,
    debug: bool,
}

tokio::task_local! {
    static CONTEXT: RequestContext;
}

/// The id of the request being served, or `None` outside a request.
pub fn current() -> Option<String> {
    CONTEXT.try_with(|ctx| ctx.id.clone()).ok()
}

/// Whether the app runs with `DEBUG=true` (error bodies then carry causes).
pub fn debug_enabled() -> bool {
    CONTEXT.try_with(|ctx| ctx.debug).unwrap_or(false)
}

/// The id a request is known by, stored in its extensions for other layers.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Middleware: assign the id, run the rest of the stack inside its scope and span, echo it back.
pub async fn assign(State(debug): State<bool>, mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id);
    let context = RequestContext { id: id.clone(), debug };
    let mut response = CONTEXT.scope(context, next.run(request).instrument(span)).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
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
