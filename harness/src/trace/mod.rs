//! Traces of the requests the harness sends: a W3C `traceparent` on each ([`traceparent`]), and,
//! for a target the harness starts, an OTLP/HTTP receiver its services export to ([`Sink`])
//! that keeps whole traces only for the requests the report shows (every failure sample and
//! the slowest few per request name and phase), within bounds ([`store`]).

mod receiver;
pub mod store;

use hyper::header::HeaderValue;
use rand::Rng;
use serde::{Deserialize, Serialize};

pub use receiver::Sink;
pub use store::Store;

/// The header a trace context travels in.
pub const HEADER: &str = "traceparent";

/// A new trace for one request: its id and the `traceparent` that starts it, sampled (`-01`)
/// with probability `sample`. An unsampled request says so (`-00`), so services that sample by
/// their parent record nothing for it; the id is returned only for a sampled one.
pub fn traceparent(rng: &mut impl Rng, sample: f64) -> (Option<u128>, HeaderValue) {
    let (trace, span): (u128, u64) = (rng.random::<u128>().max(1), rng.random::<u64>().max(1));
    let sampled = sample >= 1.0 || rng.random::<f64>() < sample;
    let value = format!("00-{trace:032x}-{span:016x}-{}", if sampled { "01" } else { "00" });
    (sampled.then_some(trace), HeaderValue::from_str(&value).expect("hex is a valid header value"))
}

/// A trace id as W3C and OTLP write it: 32 lowercase hex digits.
pub fn trace_id_hex(trace: u128) -> String {
    format!("{trace:032x}")
}

/// One request's trace, as the report shows it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Trace {
    /// Its spans, by start; times count from the earliest span.
    pub spans: Vec<TraceSpan>,
}

/// One span of a trace.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TraceSpan {
    /// The service that recorded it (`service.name`).
    pub service: String,
    /// What it did (`GET /api/orders/`, `postgres query`).
    pub name: String,
    /// Its id, 16 hex digits.
    pub span_id: String,
    /// Its parent's id; absent for the trace's root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
    /// Microseconds from the start of the trace's first span.
    pub start_us: u64,
    /// How long it took, in microseconds.
    pub duration_us: u64,
    /// `ok`, `error` or `unset`.
    pub status: String,
    /// What happened inside it: breaker refusals and transitions, injected faults, failures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<SpanEvent>,
}

/// Something a span recorded at one moment.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SpanEvent {
    /// The event's message.
    pub name: String,
    /// Microseconds from the start of the trace's first span.
    pub at_us: u64,
    /// Its fields, as text.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub attributes: std::collections::BTreeMap<String, String>,
}

impl SpanEvent {
    /// Whether it is a breaker decision or an injected fault, which the waterfall marks.
    pub fn is_marked(&self) -> bool {
        self.name.contains("breaker") || self.name.contains("fault")
    }
}

/// What the run's receiver took in and what its bounds cost, for the report.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct TraceSummary {
    /// Spans received from the services.
    pub spans_received: u64,
    /// Traces kept for the report's samples.
    pub traces_kept: u64,
    /// Spans of kept traces lost to a bound (spans per trace, bytes), or that arrived after
    /// their trace had left the recent window unwanted.
    pub spans_dropped: u64,
    /// Samples whose trace could not be kept (too many traces).
    pub traces_not_kept: u64,
    /// Export requests that could not be read (not OTLP, too large).
    pub bad_exports: u64,
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn a_traceparent_is_w3c_and_sampled_as_asked() {
        let mut rng = StdRng::seed_from_u64(7);
        let (id, header) = traceparent(&mut rng, 1.0);
        let text = header.to_str().unwrap();
        let parts: Vec<&str> = text.split('-').collect();
        assert_eq!((parts[0], parts[1].len(), parts[2].len(), parts[3]), ("00", 32, 16, "01"));
        assert_eq!(parts[1], trace_id_hex(id.unwrap()));
        let (id, header) = traceparent(&mut rng, 0.0);
        assert!(id.is_none() && header.to_str().unwrap().ends_with("-00"));
        let sampled = (0..1000).filter(|_| traceparent(&mut rng, 0.1).0.is_some()).count();
        assert!((50..150).contains(&sampled), "{sampled} of 1000 sampled at 0.1");
    }
}
