//! Distributed traces: W3C `traceparent` in and out, and the spans every service makes (the
//! inbound request, each dependency call, each upstream attempt, each message consumed), with
//! breaker decisions and injected faults as span events.
//!
//! Spans and events go to the `otel` target; only the exporter that [`crate::telemetry::init`]
//! installs when `OTEL_EXPORTER_OTLP_ENDPOINT` is set listens to it. Unset, no span is made (one
//! relaxed load), nothing is read from or written to headers, and the log lines are as before.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderMap;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The target every span and event of a trace is logged under.
pub const TARGET: &str = "otel";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (set once by [`crate::telemetry::init`]).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub(crate) fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// The span of one inbound request, continuing the caller's `traceparent`; named by the route
/// template (`GET /api/orders/{id}`), so traces group like the metrics do.
pub fn server_span(request: &Request) -> Span {
    if !enabled() {
        return Span::none();
    }
    let method = request.method().as_str();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
    let span = tracing::info_span!(
        target: TARGET,
        "request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    let parent = TraceContextPropagator::new().extract(&Headers(request.headers()));
    let _ = span.set_parent(parent);
    span
}

/// Records the answer's status on a [`server_span`]; a 5xx marks the span as failed.
pub fn record_status(span: &Span, status: u16) {
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
}

/// The span of one call to a dependency (`postgres query`, `redis lease`).
pub fn client_span(service: &'static str, operation: &'static str) -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::info_span!(
        target: TARGET,
        "call",
        otel.name = %format_args!("{service} {operation}"),
        otel.kind = "client",
        peer.service = service,
        otel.status_code = tracing::field::Empty,
    )
}

/// The span of one attempt of an HTTP call to another service; `attempt` counts from 1.
pub fn upstream_span(service: &'static str, method: &str, path: &str, attempt: u32) -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::info_span!(
        target: TARGET,
        "upstream",
        otel.name = %format_args!("{method} {service}"),
        otel.kind = "client",
        peer.service = service,
        url.path = path,
        attempt,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    )
}

/// Marks `span` as failed with `reason`.
pub fn fail(span: &Span, reason: &str) {
    if !span.is_disabled() {
        span.record("otel.status_code", "ERROR");
        tracing::info!(target: TARGET, parent: span, reason, "failed");
    }
}

/// The span of handling one message from `queue`, continuing the trace of whoever published it.
pub fn consumer_span(queue: &str, headers: Option<&FieldTable>) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::info_span!(
        target: TARGET,
        "consume",
        otel.name = %format_args!("{queue} process"),
        otel.kind = "consumer",
        messaging.system = "rabbitmq",
        messaging.destination.name = queue,
        otel.status_code = tracing::field::Empty,
    );
    if let Some(headers) = headers {
        let _ = span.set_parent(TraceContextPropagator::new().extract(&Amqp(headers)));
    }
    span
}

/// Writes the current span's `traceparent` into outgoing HTTP headers.
pub fn inject(headers: &mut HeaderMap) {
    if enabled() {
        TraceContextPropagator::new().inject_context(&Span::current().context(), &mut HeadersMut(headers));
    }
}

/// The current span's `traceparent` as AMQP message headers (empty when traces are off).
pub fn amqp_headers() -> FieldTable {
    let mut table = FieldTable::default();
    if enabled() {
        TraceContextPropagator::new().inject_context(&Span::current().context(), &mut AmqpMut(&mut table));
    }
    table
}

/// A breaker decision or an injected fault, as an event on the current span.
#[macro_export]
macro_rules! span_event {
    ($($field:tt)*) => { ::tracing::info!(target: $crate::trace::TARGET, $($field)*) };
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeadersMut<'a>(&'a mut HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (key.parse::<axum::http::HeaderName>(), value.parse()) {
            self.0.insert(name, value);
        }
    }
}

struct Amqp<'a>(&'a FieldTable);

impl Extractor for Amqp<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match self.0.inner().get(key)? {
            AMQPValue::LongString(value) => std::str::from_utf8(value.as_bytes()).ok(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        self.0.inner().keys().map(ShortString::as_str).collect()
    }
}

struct AmqpMut<'a>(&'a mut FieldTable);

impl Injector for AmqpMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.into(), AMQPValue::LongString(LongString::from(value)));
    }
}
