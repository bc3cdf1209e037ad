//! The rate-limit step: [`RateLimiter`] decides before any work is done for the request. Over
//! the limit the answer is 429 with `Retry-After`; every limited response reports its window in
//! `X-RateLimit-*`.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::metrics::endpoint_of;
use crate::resilience::rate_limiter::{Class, RateLimiter};

// Names built once: a `&str` name is parsed and validated on every insert.
const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Runs `next` when `request` is within its limit (or its class is not limited), answers 429
/// otherwise.
pub async fn limit<F: Future<Output = Response>>(
    limiter: &RateLimiter,
    request: Request,
    next: impl FnOnce(Request) -> F,
) -> Response {
    let decision = match Class::of(request.uri().path()).filter(|_| limiter.enabled()) {
        Some(class) => {
            let peer = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::from([127, 0, 0, 1]), |info| info.0.ip());
            Some((class, limiter.check(class, limiter.client_ip(peer, request.headers())).await))
        }
        None => None,
    };
    // `next` is called in one place only: each call site would take its own room in this future.
    let mut response = match decision {
        Some((class, refused)) if !refused.allowed => {
            limiter.count_refusal(endpoint_of(&request));
            ApiError::RateLimit { limit: limiter.rate(class).to_string(), retry_after: refused.retry_after }
                .into_response()
        }
        _ => next(request).await,
    };
    if let Some((_, decision)) = decision {
        let headers = response.headers_mut();
        headers.reserve(8); // these three, the request id and CORS's, in one allocation
        headers.insert(LIMIT, HeaderValue::from(decision.limit));
        headers.insert(REMAINING, HeaderValue::from(decision.remaining));
        headers.insert(RESET, HeaderValue::from(decision.reset_at));
    }
    response
}
