//! [`Sink`]: an OTLP/HTTP trace receiver (`POST /v1/traces`, protobuf or JSON, decoded with the
//! `opentelemetry-proto` crate) on a loopback port, feeding the run's [`Store`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;

use super::store::{RawSpan, Store};

/// Largest export request read; a larger one gets 413 and is counted as unread.
const MAX_EXPORT_BYTES: usize = 8 << 20;

/// The receiver, serving until dropped.
pub struct Sink {
    store: Arc<Store>,
    address: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Sink {
    /// Listens on a free loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        let store = Arc::new(Store::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let app = Router::new()
            .route("/v1/traces", post(export))
            .layer(DefaultBodyLimit::max(MAX_EXPORT_BYTES))
            .with_state(store.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { store, address, server })
    }

    /// The spans received.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// What a service must be started with to export here, as the OpenTelemetry specification
    /// names it: the endpoint, and batches sent every 200 ms so a run's last spans arrive before
    /// its report is written.
    pub fn target_env(&self) -> Vec<(String, String)> {
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), format!("http://{}", self.address)),
            ("OTEL_EXPORTER_OTLP_PROTOCOL".into(), "http/protobuf".into()),
            ("OTEL_BSP_SCHEDULE_DELAY".into(), "200".into()),
            ("OTEL_TRACES_SAMPLER".into(), "parentbased_always_on".into()),
        ]
    }

    /// Waits for spans still in the services' batches (one batch interval and some).
    pub async fn settle(&self) {
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn export(State(store): State<Arc<Store>>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let decoded = match json {
        true => serde_json::from_slice::<ExportTraceServiceRequest>(&body).map_err(|e| e.to_string()),
        false => ExportTraceServiceRequest::decode(body).map_err(|e| e.to_string()),
    };
    let request = match decoded {
        Ok(request) => request,
        Err(why) => {
            store.bad_export();
            return (StatusCode::BAD_REQUEST, why).into_response();
        }
    };
    for (trace, spans) in spans_by_trace(request) {
        store.add(trace, spans);
    }
    // An empty ExportTraceServiceResponse, in the encoding the request came in.
    match json {
        true => ([(header::CONTENT_TYPE, "application/json")], "{}").into_response(),
        false => ([(header::CONTENT_TYPE, "application/x-protobuf")], Bytes::new()).into_response(),
    }
}

/// The request's spans, grouped by trace; spans without a valid trace or span id are skipped.
pub(super) fn spans_by_trace(request: ExportTraceServiceRequest) -> HashMap<u128, Vec<RawSpan>> {
    let mut traces: HashMap<u128, Vec<RawSpan>> = HashMap::new();
    for resource_spans in request.resource_spans {
        let attributes = resource_spans.resource.map(|r| r.attributes).unwrap_or_default();
        let service = attribute(&attributes, "service.name").unwrap_or_else(|| "unknown".into());
        for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
            let (Ok(trace), Ok(span_id)) =
                (<[u8; 16]>::try_from(span.trace_id.as_slice()), <[u8; 8]>::try_from(span.span_id.as_slice()))
            else {
                continue;
            };
            let parent = <[u8; 8]>::try_from(span.parent_span_id.as_slice()).map_or(0, u64::from_be_bytes);
            let status = match span.status.map_or(0, |s| s.code) {
                1 => "ok",
                2 => "error",
                _ => "unset",
            };
            let events = span
                .events
                .into_iter()
                .map(|event| {
                    let attributes =
                        event.attributes.iter().map(|kv| (kv.key.clone(), text(kv.value.as_ref()))).collect();
                    (event.name, event.time_unix_nano, attributes)
                })
                .collect();
            traces.entry(u128::from_be_bytes(trace)).or_default().push(RawSpan {
                service: service.clone(),
                name: span.name,
                span_id: u64::from_be_bytes(span_id),
                parent,
                start_ns: span.start_time_unix_nano,
                end_ns: span.end_time_unix_nano,
                status: status.into(),
                events,
            });
        }
    }
    traces
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).map(|kv| text(kv.value.as_ref()))
}

/// An attribute's value as text.
fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON_EXPORT: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"orders"}}]},
        "scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
        "parentSpanId":"eee19b7ec3c1b173","name":"postgres query","kind":3,"startTimeUnixNano":"1544712660000000000",
        "endTimeUnixNano":"1544712661000000000","status":{"code":2},
        "events":[{"timeUnixNano":"1544712660500000000","name":"breaker open: call refused",
        "attributes":[{"key":"service","value":{"stringValue":"postgres"}}]}]}]}]}]}"#;

    #[test]
    fn an_otlp_json_export_is_read_as_the_specification_writes_it() {
        let request: ExportTraceServiceRequest = serde_json::from_str(JSON_EXPORT).unwrap();
        let traces = spans_by_trace(request.clone());
        let spans = &traces[&0x5b8efff798038103d269b633813fc60c];
        assert_eq!(spans[0].service, "orders");
        assert_eq!((spans[0].span_id, spans[0].parent), (0xeee19b7ec3c1b174, 0xeee19b7ec3c1b173));
        assert_eq!((spans[0].status.as_str(), spans[0].end_ns - spans[0].start_ns), ("error", 1_000_000_000));
        assert_eq!(spans[0].events[0].2["service"], "postgres");
        // The same request in protobuf reads the same.
        let decoded = ExportTraceServiceRequest::decode(request.encode_to_vec().as_slice()).unwrap();
        assert_eq!(spans_by_trace(decoded), traces);
    }
}
