//! The rate-limit step: [`decide`] before any work is done for the request, [`report`] on the
//! response. Over the limit the answer is 429 with `Retry-After`; every limited response
//! reports its window in `X-RateLimit-*`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, MatchedPath};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::resilience::rate_limiter::{Class, Decision, RateLimiter};
use kit::error::ApiError;
use kit::metrics::route_label;

// Names built once: a `&str` name is parsed and validated on every insert.
const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// The verdict on one request: refused with a ready 429, or allowed with the window to report
/// (`None` when its class is not limited).
pub enum Verdict {
    /// Over the limit: answer this 429.
    Refused(Response),
    /// Within the limit; `report` the window on the response.
    Allowed(Option<Decision>),
}

/// Counts a request, by its head, against its limit. It decides rather than wrapping the rest
/// of the pipeline: a wrapping future holds the request and every step below it once more, and
/// memmove, mostly futures being built and moved, was 4% of `/health/`'s CPU. Only
/// the head, because a body is not `Sync`: a borrowed request could not be held across an await.
pub async fn decide(limiter: &RateLimiter, request: &Parts) -> Verdict {
    let Some(class) = Class::of(request.uri.path()).filter(|_| limiter.enabled()) else {
        return Verdict::Allowed(None);
    };
    let peer =
        request.extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::from([127, 0, 0, 1]), |info| info.0.ip());
    let decision = limiter.check(class, limiter.client_ip(peer, &request.headers)).await;
    if decision.allowed {
        return Verdict::Allowed(Some(decision));
    }
    limiter.count_refusal(route_label(request.extensions.get::<MatchedPath>()));
    let mut response =
        ApiError::RateLimit { limit: limiter.rate(class).to_string(), retry_after: decision.retry_after }
            .into_response();
    report(Some(decision), &mut response);
    Verdict::Refused(response)
}

/// Puts the window of `decision` on `response` in `X-RateLimit-*`.
pub fn report(decision: Option<Decision>, response: &mut Response) {
    if let Some(decision) = decision {
        let headers = response.headers_mut();
        headers.reserve(8); // these three, the request id and CORS's, in one allocation
        headers.insert(LIMIT, number(decision.limit));
        headers.insert(REMAINING, number(decision.remaining));
        headers.insert(RESET, number(decision.reset_at));
    }
}

/// `n` as a header value in one allocation; `HeaderValue::from(u64)` takes two.
fn number(n: u64) -> HeaderValue {
    HeaderValue::from_bytes(itoa::Buffer::new().format(n).as_bytes()).expect("digits are a valid header value")
}
