//! [`Store`]: the spans the receiver takes in, kept only for traces the report wants.
//!
//! A sample's request is recorded before its spans arrive (services export in batches), but not
//! always: a span may end, and be exported, before the harness has read the whole response.
//! So a span of a trace nobody wants yet waits in a recent window (by count, bytes and age);
//! when the recorder wants the trace ([`Store::want`]), its waiting spans move to the kept ones
//! and later spans join them. Everything else leaves the window unread. Kept traces are bounded
//! by count, spans per trace and bytes; what a bound lost is counted ([`TraceSummary`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{SpanEvent, Trace, TraceSpan, TraceSummary};

/// Most traces kept for a run's samples.
pub const MAX_TRACES: usize = 2_000;
/// Most spans kept of one trace.
pub const MAX_SPANS_PER_TRACE: usize = 512;
/// Most bytes of kept spans.
pub const MAX_KEPT_BYTES: usize = 32 << 20;
/// How long, at most, an unwanted trace's spans wait.
pub const RECENT_FOR: Duration = Duration::from_secs(10);
/// Most bytes of spans waiting.
pub const MAX_RECENT_BYTES: usize = 16 << 20;

/// One span as received, times in Unix nanoseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct RawSpan {
    /// `service.name` of the resource that sent it.
    pub service: String,
    /// Its name.
    pub name: String,
    /// Its id.
    pub span_id: u64,
    /// Its parent's id, 0 for a root.
    pub parent: u64,
    /// Start, Unix ns.
    pub start_ns: u64,
    /// End, Unix ns.
    pub end_ns: u64,
    /// `ok`, `error` or `unset`.
    pub status: String,
    /// Events: name, Unix ns, attributes.
    pub events: Vec<(String, u64, BTreeMap<String, String>)>,
}

impl RawSpan {
    /// Roughly what it holds in memory.
    fn bytes(&self) -> usize {
        let events: usize = self
            .events
            .iter()
            .map(|(name, _, attributes)| {
                48 + name.len() + attributes.iter().map(|(k, v)| 48 + k.len() + v.len()).sum::<usize>()
            })
            .sum();
        128 + self.service.len() + self.name.len() + self.status.len() + events
    }
}

/// The run's spans, see the module doc.
#[derive(Default)]
pub struct Store {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    kept: HashMap<u128, Vec<RawSpan>>,
    kept_bytes: usize,
    recent: HashMap<u128, Vec<RawSpan>>,
    /// Traces in `recent` by first arrival, for eviction.
    arrivals: VecDeque<(Instant, u128)>,
    recent_bytes: usize,
    summary: TraceSummary,
}

impl Store {
    /// Takes in spans of trace `trace`.
    pub fn add(&self, trace: u128, spans: Vec<RawSpan>) {
        let mut inner = self.inner.lock().expect("trace store");
        inner.summary.spans_received += spans.len() as u64;
        if inner.kept.contains_key(&trace) {
            inner.keep(trace, spans);
            return;
        }
        let now = Instant::now();
        inner.recent_bytes += spans.iter().map(RawSpan::bytes).sum::<usize>();
        match inner.recent.get_mut(&trace) {
            Some(waiting) => waiting.extend(spans),
            None => {
                inner.recent.insert(trace, spans);
                inner.arrivals.push_back((now, trace));
            }
        }
        inner.evict(now);
    }

    /// Keeps trace `trace` for the report, with any of its spans still waiting; false when
    /// [`MAX_TRACES`] are kept already.
    pub fn want(&self, trace: u128) -> bool {
        let mut inner = self.inner.lock().expect("trace store");
        if inner.kept.contains_key(&trace) {
            return true;
        }
        if inner.kept.len() >= MAX_TRACES {
            inner.summary.traces_not_kept += 1;
            return false;
        }
        inner.kept.insert(trace, Vec::new());
        if let Some(waiting) = inner.recent.remove(&trace) {
            inner.recent_bytes -= waiting.iter().map(RawSpan::bytes).sum::<usize>();
            inner.keep(trace, waiting);
        }
        true
    }

    /// No longer keeps `trace` (a sample that stopped being among the slowest).
    pub fn release(&self, trace: u128) {
        let mut inner = self.inner.lock().expect("trace store");
        if let Some(spans) = inner.kept.remove(&trace) {
            inner.kept_bytes -= spans.iter().map(RawSpan::bytes).sum::<usize>();
        }
    }

    /// The kept trace `trace`, times relative to its first span; `None` when no span came.
    pub fn trace(&self, trace: u128) -> Option<Trace> {
        let inner = self.inner.lock().expect("trace store");
        inner.kept.get(&trace).filter(|spans| !spans.is_empty()).map(|spans| relative(spans))
    }

    /// Counts, for the report.
    pub fn summary(&self) -> TraceSummary {
        let inner = self.inner.lock().expect("trace store");
        TraceSummary {
            traces_kept: inner.kept.values().filter(|s| !s.is_empty()).count() as u64,
            ..inner.summary.clone()
        }
    }

    /// Counts an export that could not be read.
    pub fn bad_export(&self) {
        self.inner.lock().expect("trace store").summary.bad_exports += 1;
    }

    /// Bytes held now (kept and waiting), for tests of the bounds.
    pub fn bytes(&self) -> usize {
        let inner = self.inner.lock().expect("trace store");
        inner.kept_bytes + inner.recent_bytes
    }
}

impl Inner {
    fn keep(&mut self, trace: u128, spans: Vec<RawSpan>) {
        let Some(kept) = self.kept.get_mut(&trace) else { return };
        for span in spans {
            let bytes = span.bytes();
            if kept.len() >= MAX_SPANS_PER_TRACE || self.kept_bytes + bytes > MAX_KEPT_BYTES {
                self.summary.spans_dropped += 1;
            } else {
                self.kept_bytes += bytes;
                kept.push(span);
            }
        }
    }

    /// Lets the oldest waiting traces go while the window is over its age or bytes.
    fn evict(&mut self, now: Instant) {
        while let Some(&(arrived, trace)) = self.arrivals.front() {
            if now.duration_since(arrived) < RECENT_FOR && self.recent_bytes <= MAX_RECENT_BYTES {
                break;
            }
            self.arrivals.pop_front();
            if let Some(spans) = self.recent.remove(&trace) {
                self.recent_bytes -= spans.iter().map(RawSpan::bytes).sum::<usize>();
            }
        }
    }
}

/// The spans as the report shows them: by start, times from the first one.
fn relative(spans: &[RawSpan]) -> Trace {
    let origin = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let us = |ns: u64| ns.saturating_sub(origin) / 1_000;
    let mut spans: Vec<TraceSpan> = spans
        .iter()
        .map(|span| TraceSpan {
            service: span.service.clone(),
            name: span.name.clone(),
            span_id: format!("{:016x}", span.span_id),
            parent_span_id: (span.parent != 0).then(|| format!("{:016x}", span.parent)),
            start_us: us(span.start_ns),
            duration_us: span.end_ns.saturating_sub(span.start_ns) / 1_000,
            status: span.status.clone(),
            events: span
                .events
                .iter()
                .map(|(name, at, attributes)| SpanEvent {
                    name: name.clone(),
                    at_us: us(*at),
                    attributes: attributes.clone(),
                })
                .collect(),
        })
        .collect();
    spans.sort_by_key(|s| s.start_us);
    Trace { spans }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: u64, parent: u64, start_ns: u64) -> RawSpan {
        RawSpan {
            service: "orders".into(),
            name: "GET /api/orders/".into(),
            span_id: id,
            parent,
            start_ns,
            end_ns: start_ns + 5_000,
            status: "unset".into(),
            events: Vec::new(),
        }
    }

    #[test]
    fn spans_before_and_after_the_want_are_kept_and_others_are_not() {
        let store = Store::default();
        store.add(1, vec![span(2, 1, 3_000_000)]);
        store.add(9, vec![span(5, 0, 1_000)]);
        assert!(store.want(1));
        store.add(1, vec![span(1, 0, 1_000_000)]);
        let trace = store.trace(1).unwrap();
        assert_eq!(trace.spans.len(), 2);
        assert_eq!((trace.spans[0].start_us, trace.spans[1].start_us), (0, 2_000));
        assert_eq!(trace.spans[1].parent_span_id.as_deref(), Some("0000000000000001"));
        assert!(store.trace(9).is_none());
        assert_eq!(store.summary().traces_kept, 1);
        store.release(1);
        assert!(store.trace(1).is_none());
    }

    #[test]
    fn a_full_trace_counts_what_it_drops() {
        let store = Store::default();
        store.want(1);
        store.add(1, (0..MAX_SPANS_PER_TRACE as u64 + 3).map(|i| span(i + 1, 0, i)).collect());
        assert_eq!(store.trace(1).unwrap().spans.len(), MAX_SPANS_PER_TRACE);
        assert_eq!(store.summary().spans_dropped, 3);
    }

    #[test]
    fn the_recent_window_is_bounded_in_bytes() {
        let store = Store::default();
        for trace in 0..200_000u128 {
            store.add(trace, vec![span(1, 0, 0)]);
        }
        assert!(store.bytes() <= MAX_RECENT_BYTES, "{} bytes waiting", store.bytes());
        assert!(store.trace(0).is_none());
    }
}
