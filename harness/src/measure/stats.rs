//! What a phase measured, as the checks and the report read it: percentiles, the per-second
//! timeline, failure and slowest samples, and the ordered samples sequence checks walk.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::{FAILURE_BODY_BYTES, MAX_SAMPLES, RequestLabel, Response};
use crate::trace::Trace;

/// One response, as sequence checks need it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    /// HTTP status, 0 for a transport failure.
    pub status: u16,
    /// The `X-Cache` header, if any.
    pub x_cache: Option<String>,
    /// Whether `Retry-After` was present.
    pub retry_after: bool,
    /// When it was sent, in milliseconds since the phase's recorder started.
    pub sent_ms: u64,
    /// Its latency in microseconds.
    pub latency_us: u64,
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Fastest.
    pub min: f64,
    /// Slowest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Percentiles {
    pub(super) fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self::default();
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Self {
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p95: ms(histogram.value_at_quantile(0.95)),
            p99: ms(histogram.value_at_quantile(0.99)),
            p999: ms(histogram.value_at_quantile(0.999)),
            min: ms(histogram.min()),
            max: ms(histogram.max()),
            mean: histogram.mean() / 1000.0,
        }
    }

    /// The value named in a scenario (`p95`, `max`, ...).
    pub fn get(&self, name: &str) -> Option<f64> {
        Some(match name {
            "p50" | "median" => self.p50,
            "p90" => self.p90,
            "p95" => self.p95,
            "p99" => self.p99,
            "p999" => self.p999,
            "min" => self.min,
            "max" => self.max,
            "mean" | "avg" => self.mean,
            _ => return None,
        })
    }
}

/// One second of a phase.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TimelinePoint {
    /// Seconds since the phase started.
    pub second: u64,
    /// Responses completed in this second.
    pub requests: u64,
    /// Of which errors (transport failures and status >= 400).
    pub errors: u64,
    /// 95th percentile latency of this second, ms.
    pub p95_ms: f64,
}

/// A failing response (an error status, a broken response rule, or no response at all), kept
/// so the report can say which request failed and what it answered.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FailureSample {
    /// The request's name.
    pub name: String,
    /// Seconds from the start of the run to when it was sent.
    pub at_s: f64,
    /// HTTP method.
    pub method: String,
    /// Path and query as sent.
    pub path: String,
    /// The status, or `None` when no response came.
    pub status: Option<u16>,
    /// Why it failed: the transport error kind (`refused`, `reset`, `closed`, `timeout`, ...)
    /// with its message, or the response rules it broke.
    pub error: Option<String>,
    /// How long it took, ms.
    pub elapsed_ms: f64,
    /// The target's `X-Request-ID` for it, when it answered with one.
    pub request_id: Option<String>,
    /// The response body, cut to [`FAILURE_BODY_BYTES`] (lossy UTF-8).
    pub body: Option<String>,
    /// The self-hosted target's log lines for `request_id` (filled in after the run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_log: Vec<String>,
    /// The trace it started, when it was sent with a sampled `traceparent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// That trace's spans, when the harness received them (filled in after the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Trace>,
}

impl FailureSample {
    /// The sample of failing `response` to `label`, sent `at` into the run.
    pub(super) fn of(response: &Response<'_>, label: Option<&RequestLabel>, at: Duration) -> Self {
        let error = match &response.transport_error {
            Some((kind, message)) => Some(format!("{kind}: {message}")),
            None if !response.broken_rules.is_empty() => Some(format!("broke {}", response.broken_rules.join("; "))),
            None => None,
        };
        let body = response.body.get(..FAILURE_BODY_BYTES.min(response.body.len())).unwrap_or_default();
        Self {
            name: label.map_or_else(String::new, |l| l.name.clone()),
            at_s: at.as_secs_f64(),
            method: label.map_or_else(String::new, |l| l.method.clone()),
            path: label.map_or_else(String::new, |l| l.path.clone()),
            status: (response.status != 0).then_some(response.status),
            error,
            elapsed_ms: response.latency.as_secs_f64() * 1000.0,
            request_id: response.request_id.map(str::to_owned),
            body: (response.transport_error.is_none()).then(|| String::from_utf8_lossy(body).into_owned()),
            target_log: Vec::new(),
            trace_id: response.trace_id.map(crate::trace::trace_id_hex),
            trace: None,
        }
    }
}

/// One of the slowest successful responses of a request name in a phase, kept with its trace.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SlowSample {
    /// The request's name.
    pub name: String,
    /// Seconds from the start of the run to when it was sent.
    pub at_s: f64,
    /// Its status.
    pub status: u16,
    /// How long it took, ms.
    pub elapsed_ms: f64,
    /// The target's `X-Request-ID` for it.
    pub request_id: Option<String>,
    /// The trace it started.
    pub trace_id: String,
    /// That trace's spans, when the harness received them (filled in after the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Trace>,
}

/// What a phase, or one request name within it, measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PhaseStats {
    /// Responses (and transport failures) recorded.
    pub requests: u64,
    /// Transport failures and statuses >= 400.
    pub errors: u64,
    /// Wall time of the load, seconds.
    pub duration_s: f64,
    /// Responses per status (0 = transport failure).
    pub status_counts: BTreeMap<u16, u64>,
    /// Raw latency percentiles.
    pub latency: Percentiles,
    /// Coordinated-omission corrected percentiles (open-model phases).
    pub latency_corrected: Option<Percentiles>,
    /// Per-second requests, errors and p95.
    pub timeline: Vec<TimelinePoint>,
    /// Failing responses per response check (header and JSON expectations).
    pub response_failures: BTreeMap<String, u64>,
    /// Responses in completion order, when the phase's checks need them (see
    /// [`PhaseStats::every_sample`]).
    #[serde(skip)]
    pub samples: Vec<Sample>,
    /// Whether `samples` was kept at all.
    #[serde(skip)]
    pub samples_kept: bool,
    /// Responses not kept in `samples` because [`MAX_SAMPLES`] was reached.
    #[serde(skip)]
    pub samples_dropped: u64,
    /// The same statistics per request name.
    #[serde(skip)]
    pub by_request: BTreeMap<String, PhaseStats>,
    /// The first [`FAILURES_PER_KIND`] failing responses per request name and kind.
    #[serde(skip)]
    pub failures: Vec<FailureSample>,
    /// The slowest successful traced responses per request name, slowest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slowest: Vec<SlowSample>,
    /// Failing responses beyond those kept in `failures`.
    #[serde(skip)]
    pub failures_not_kept: u64,
}

impl PhaseStats {
    /// Achieved throughput, responses per second.
    pub fn throughput(&self) -> f64 {
        if self.duration_s > 0.0 { self.requests as f64 / self.duration_s } else { 0.0 }
    }

    /// Share of errors.
    pub fn error_rate(&self) -> f64 {
        if self.requests > 0 { self.errors as f64 / self.requests as f64 } else { 0.0 }
    }

    /// Every response in order, or why a check that needs them all cannot have them: the phase
    /// did not keep them, a bound dropped some, or there were none. Such a check fails then; it
    /// never passes on a part.
    pub fn every_sample(&self) -> Result<&[Sample], String> {
        if !self.samples_kept {
            return Err("this phase did not keep its responses in order".into());
        }
        if self.samples_dropped > 0 {
            return Err(format!(
                "{} responses beyond the {MAX_SAMPLES} kept in order were dropped; cannot judge every response",
                self.samples_dropped
            ));
        }
        if self.samples.is_empty() {
            return Err("no samples in this phase".into());
        }
        Ok(&self.samples)
    }
}
