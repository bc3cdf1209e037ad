//! [`Response`]: one response (or transport failure) as the load generator saw it.

use std::time::Duration;

/// One response as the load generator saw it.
pub struct Response<'a> {
    /// Index of the request in the phase's request list.
    pub request: usize,
    /// HTTP status, 0 for a transport failure.
    pub status: u16,
    /// Time from send to the end of the body.
    pub latency: Duration,
    /// The `X-Cache` header.
    pub x_cache: Option<&'a str>,
    /// Whether `Retry-After` was present.
    pub retry_after: bool,
    /// Names of the response rules it broke.
    pub broken_rules: &'a [&'a str],
    /// The transport error kind and message, when no response came.
    pub transport_error: Option<(&'static str, String)>,
    /// The `X-Request-ID` header.
    pub request_id: Option<&'a str>,
    /// The trace it started, when it was sent with a sampled `traceparent`.
    pub trace_id: Option<u128>,
    /// The body.
    pub body: &'a [u8],
}

impl Response<'_> {
    /// A transport failure or a 4xx/5xx answer.
    pub fn is_error(&self) -> bool {
        self.status == 0 || self.status >= 400
    }

    /// Failures are sampled per request and kind: the status, the transport error kind (status
    /// 0), or "rule" for a success that broke a response rule. Nothing is allocated: every
    /// failing response is classified, and most are only counted.
    pub(super) fn failure_kind(&self) -> Option<(u16, &'static str)> {
        match &self.transport_error {
            Some((kind, _)) => Some((0, kind)),
            None if self.status >= 400 => Some((self.status, "")),
            None if !self.broken_rules.is_empty() => Some((self.status, "rule")),
            None => None,
        }
    }
}
