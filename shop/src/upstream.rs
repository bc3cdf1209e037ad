//! [`Upstream`]: how one shop service calls another. Every call passes a circuit breaker (open:
//! fail fast with 503), carries the request id, and is bounded by one time budget that retries
//! share, so no call waits longer than `UPSTREAM_TIMEOUT_MS`. Each attempt is a span of the
//! request's trace and carries its `traceparent`. Idempotent calls (GET, HEAD, PUT,
//! DELETE) are retried after a transport failure or a 502/503/504, with full-jitter exponential
//! backoff; a POST is sent once, since its effect may have happened.
//!
//! Chaos faults naming the upstream (`POST /chaos/faults` on the calling service) act on each
//! attempt as a real failure would: `error` is no answer, `timeout` an answer that never comes
//! (the budget runs out), `latency` a slow answer.
//!
//! What counts against the breaker is the upstream failing itself: no answer, no answer in time,
//! or a 500. A 502, 503 or 504 is the upstream answering, promptly, that something *behind* it
//! failed; counting those would open the gateway's breaker to orders whenever products is down,
//! and cut off what orders can still serve (order history) — the cascade breakers are for.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use kit::chaos::FaultRegistry;
use kit::error::{ApiError, ApiResult};
use kit::layers::request_id;
use kit::metrics::Metrics;
use kit::resilience::circuit_breaker::CircuitBreaker;
use kit::trace;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};
use rand::Rng;
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::Instrument;

use crate::config::UpstreamSettings;
use crate::role::Role;

/// The `upstream_*` families, registered once per service next to target-app's.
#[derive(Clone)]
pub struct UpstreamMetrics {
    /// `upstream_requests_total{upstream,outcome}`: one per attempt; outcome is `ok`,
    /// `client_error`, `server_error`, `transport_error`, `timeout` or `breaker_open`.
    requests: IntCounterVec,
    /// `upstream_request_duration_seconds{upstream}`: per attempt.
    duration: HistogramVec,
    /// `upstream_retries_total{upstream}`.
    retries: IntCounterVec,
}

impl UpstreamMetrics {
    /// Registers the families in `metrics`' registry.
    pub fn register(metrics: &Metrics) -> anyhow::Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new("upstream_requests_total", "Calls to other shop services, by outcome"),
            &["upstream", "outcome"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new("upstream_request_duration_seconds", "Latency of calls to other shop services")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            &["upstream"],
        )?;
        let retries = IntCounterVec::new(Opts::new("upstream_retries_total", "Retried upstream calls"), &["upstream"])?;
        metrics.register(requests.clone())?;
        metrics.register(duration.clone())?;
        metrics.register(retries.clone())?;
        Ok(Self { requests, duration, retries })
    }
}

/// An answer from an upstream, read whole.
#[derive(Debug)]
pub struct Reply {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON, or a 502 naming the upstream when it is not what was expected.
    pub fn json<T: DeserializeOwned>(&self, upstream: Role) -> ApiResult<T> {
        serde_json::from_slice(&self.body).map_err(|e| ApiError::BadGateway {
            service: upstream.name(),
            details: json!({ "reason": format!("unexpected answer: {e}") }),
        })
    }
}

/// A client for one upstream service; cheap to clone.
#[derive(Clone)]
pub struct Upstream(Arc<Inner>);

struct Inner {
    role: Role,
    base: String,
    http: reqwest::Client,
    breaker: CircuitBreaker,
    settings: UpstreamSettings,
    metrics: UpstreamMetrics,
    faults: FaultRegistry,
}

impl Upstream {
    /// A client for `role` at `base`, with its own breaker exported as `circuit_breaker_*{service}`,
    /// obeying the faults in `faults` that name `role`.
    pub fn new(
        role: Role,
        base: &str,
        settings: &UpstreamSettings,
        metrics: &Metrics,
        upstream_metrics: &UpstreamMetrics,
        faults: FaultRegistry,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(settings.timeout)
            .pool_max_idle_per_host(64)
            .build()?;
        let breaker = CircuitBreaker::new(role.name(), settings.breaker.clone(), metrics.clone());
        Ok(Self(Arc::new(Inner {
            role,
            base: base.to_owned(),
            http,
            breaker,
            settings: settings.clone(),
            metrics: upstream_metrics.clone(),
            faults,
        })))
    }

    /// The service this client calls.
    pub fn role(&self) -> Role {
        self.0.role
    }

    /// Its breaker, for health output.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.0.breaker
    }

    /// Where it is.
    pub fn base(&self) -> &str {
        &self.0.base
    }

    /// `GET path` with the caller's `Authorization`.
    pub async fn get(&self, path: &str, authorization: &str) -> ApiResult<Reply> {
        self.send(Method::GET, path, with_authorization(authorization), Bytes::new()).await
    }

    /// [`Upstream::get`] within half the usual budget, for data an answer can do without: a
    /// hung upstream then still leaves the caller time to answer before its own caller, on the
    /// same budget, gives up.
    pub async fn get_optional(&self, path: &str, authorization: &str) -> ApiResult<Reply> {
        let budget = self.0.settings.timeout / 2;
        self.send_with(Method::GET, path, with_authorization(authorization), Bytes::new(), true, budget).await
    }

    /// `POST path` with a JSON body and the caller's `Authorization`.
    pub async fn post_json(&self, path: &str, authorization: &str, body: &serde_json::Value) -> ApiResult<Reply> {
        let mut headers = with_authorization(authorization);
        headers.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self.send(Method::POST, path, headers, Bytes::from(body.to_string())).await
    }

    /// [`Upstream::post_json`] for a POST that is idempotent by design (a release by
    /// reservation id), so it is retried like a GET.
    pub async fn post_json_retried(
        &self,
        path: &str,
        authorization: &str,
        body: &serde_json::Value,
    ) -> ApiResult<Reply> {
        let mut headers = with_authorization(authorization);
        headers.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self.send_with(Method::POST, path, headers, Bytes::from(body.to_string()), true, self.0.settings.timeout).await
    }

    /// Sends one request (retrying idempotent methods) within the time budget. A transport
    /// failure is a 502, the budget running out a 504, an open breaker a 503; an answer,
    /// whatever its status, is returned as it came.
    pub async fn send(&self, method: Method, path: &str, headers: HeaderMap, body: Bytes) -> ApiResult<Reply> {
        let idempotent = matches!(method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE);
        self.send_with(method, path, headers, body, idempotent, self.0.settings.timeout).await
    }

    /// Sends within `budget`, retrying only when `idempotent`.
    async fn send_with(
        &self,
        method: Method,
        path: &str,
        mut headers: HeaderMap,
        body: Bytes,
        idempotent: bool,
        budget: std::time::Duration,
    ) -> ApiResult<Reply> {
        let inner = &self.0;
        let name = inner.role.name();
        if let Some(id) = request_id::current().and_then(|id| HeaderValue::from_str(&id).ok()) {
            headers.entry(request_id::HEADER).or_insert(id);
        }
        let attempts = if idempotent { 1 + inner.settings.retries } else { 1 };
        let deadline = Instant::now() + budget;
        let url = format!("{}{path}", inner.base);
        let mut last = None;
        for attempt in 0..attempts {
            if attempt > 0 {
                let ceiling = inner.settings.backoff * 2u32.pow(attempt - 1);
                let pause = ceiling.mul_f64(rand::rng().random::<f64>());
                if Instant::now() + pause >= deadline {
                    break;
                }
                tokio::time::sleep(pause).await;
                inner.metrics.retries.with_label_values(&[name]).inc();
            }
            let permit = match inner.breaker.acquire() {
                Ok(permit) => permit,
                Err(retry_after) => {
                    inner.metrics.requests.with_label_values(&[name, "breaker_open"]).inc();
                    kit::span_event!(upstream = name, "breaker open: call refused");
                    return Err(ApiError::CircuitBreaker { service: name, retry_after });
                }
            };
            let span = trace::upstream_span(name, method.as_str(), path, attempt + 1);
            let mut headers = headers.clone();
            span.in_scope(|| trace::inject(&mut headers));
            let started = Instant::now();
            let request = inner.http.request(method.clone(), &url).headers(headers).body(body.clone());
            let call = async {
                inner.faults.apply(name).await.map_err(|e| e.to_string())?;
                let response = request.send().await.map_err(|e| e.to_string())?;
                let (status, headers) = (response.status(), response.headers().clone());
                Ok::<_, String>(Reply { status, headers, body: read_bounded(response, MAX_REPLY_BYTES).await? })
            };
            let outcome = tokio::time::timeout_at(deadline.into(), call).instrument(span.clone()).await;
            inner.metrics.duration.with_label_values(&[name]).observe(started.elapsed().as_secs_f64());
            if let Ok(Ok(reply)) = &outcome {
                span.record("http.response.status_code", reply.status.as_u16());
            }
            let (label, result) = match outcome {
                Err(_) => {
                    permit.record(false);
                    inner.metrics.requests.with_label_values(&[name, "timeout"]).inc();
                    tracing::warn!(upstream = name, %path, "upstream call ran out of time");
                    trace::fail(&span, "ran out of time");
                    return Err(ApiError::Timeout);
                }
                Ok(Err(error)) => {
                    permit.record(false);
                    tracing::warn!(upstream = name, %path, %error, "upstream call failed");
                    trace::fail(&span, &error);
                    let details = json!({ "reason": error });
                    ("transport_error", Err(ApiError::BadGateway { service: name, details }))
                }
                Ok(Ok(reply)) if reply.status.is_server_error() => {
                    permit.record(!counts_against(reply.status));
                    trace::fail(&span, reply.status.as_str());
                    ("server_error", Ok(reply))
                }
                Ok(Ok(reply)) => {
                    permit.record(true);
                    let label = if reply.status.is_client_error() { "client_error" } else { "ok" };
                    inner.metrics.requests.with_label_values(&[name, label]).inc();
                    return Ok(reply);
                }
            };
            inner.metrics.requests.with_label_values(&[name, label]).inc();
            let retriable = match &result {
                Ok(reply) => matches!(reply.status.as_u16(), 502..=504),
                Err(_) => true,
            };
            last = Some(result);
            if !retriable {
                break;
            }
        }
        last.unwrap_or(Err(ApiError::Timeout))
    }
}

/// Largest answer read from an upstream (the services' own lists are capped far below it); a
/// longer one is a transport failure, a 502.
const MAX_REPLY_BYTES: usize = 10 * 1024 * 1024;

/// The whole body, or an error once it passes `limit` bytes (nothing more is read).
async fn read_bounded(mut response: reqwest::Response, limit: usize) -> Result<Bytes, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > limit {
            return Err(format!("answer longer than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// Whether an upstream's 5xx answer says the upstream itself is failing (see the module doc).
fn counts_against(status: StatusCode) -> bool {
    !matches!(status.as_u16(), 502..=504)
}

fn with_authorization(authorization: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(authorization) {
        headers.insert(axum::http::header::AUTHORIZATION, value);
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_past_the_limit_is_refused_without_reading_the_rest() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let _ = socket.read(&mut [0u8; 1024]).await;
                let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n").await;
                let _ = socket.write_all(&[b'x'; 100]).await;
            }
        });
        let get = || reqwest::Client::new().get(format!("http://{address}/")).send();
        assert_eq!(read_bounded(get().await.unwrap(), 100).await.unwrap().len(), 100);
        let error = read_bounded(get().await.unwrap(), 99).await.unwrap_err();
        assert_eq!(error, "answer longer than 99 bytes");
    }

    #[test]
    fn only_an_upstreams_own_failure_counts_against_its_breaker() {
        assert!(counts_against(StatusCode::INTERNAL_SERVER_ERROR));
        for relayed in [StatusCode::BAD_GATEWAY, StatusCode::SERVICE_UNAVAILABLE, StatusCode::GATEWAY_TIMEOUT] {
            assert!(!counts_against(relayed), "{relayed}");
        }
    }
}
