//! Measurement: a [`Recorder`] shared by a phase's goose users collects microsecond HDR
//! histograms (raw, and coordinated-omission corrected for open-model phases), a per-second
//! timeline and the ordered responses; [`Recorder::finish`] turns it into [`PhaseStats`].

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Longest latency a histogram tracks (larger values are clamped): 10 minutes in µs.
const MAX_MICROS: u64 = 600_000_000;
/// Ordered responses kept per phase for sequence checks (rate limit, cache).
const MAX_SAMPLES: usize = 100_000;

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
    fn of(histogram: &Histogram<u64>) -> Self {
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

/// What a phase measured.
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
    /// Responses in completion order (capped).
    #[serde(skip)]
    pub samples: Vec<Sample>,
    /// Failing responses per response check (header and JSON expectations).
    pub response_failures: BTreeMap<String, u64>,
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
}

struct Second {
    requests: u64,
    errors: u64,
    histogram: Histogram<u64>,
}

struct Inner {
    /// When the first recorded request was sent, and the last response arrived.
    window: Option<(Instant, Instant)>,
    histogram: Histogram<u64>,
    corrected: Option<Histogram<u64>>,
    seconds: Vec<Second>,
    status_counts: BTreeMap<u16, u64>,
    samples: Vec<Sample>,
    response_failures: BTreeMap<String, u64>,
    requests: u64,
    errors: u64,
}

/// Collects one phase's responses from every goose user.
pub struct Recorder {
    started: Instant,
    /// For open-model phases: each user's intended interval between requests.
    expected_interval: Option<Duration>,
    inner: Mutex<Inner>,
}

fn histogram(significant_figures: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, significant_figures).expect("valid histogram bounds")
}

impl Recorder {
    /// A recorder; `expected_interval` turns on coordinated-omission correction.
    pub fn new(expected_interval: Option<Duration>) -> Self {
        Self {
            started: Instant::now(),
            expected_interval,
            inner: Mutex::new(Inner {
                window: None,
                histogram: histogram(3),
                corrected: expected_interval.map(|_| histogram(3)),
                seconds: Vec::new(),
                status_counts: BTreeMap::new(),
                samples: Vec::new(),
                response_failures: BTreeMap::new(),
                requests: 0,
                errors: 0,
            }),
        }
    }

    /// Records one response (status 0 for a transport failure) and its failed response checks.
    pub fn record(&self, mut sample: Sample, latency: Duration, failed_checks: &[String]) {
        let micros = (latency.as_micros() as u64).clamp(1, MAX_MICROS);
        let second = self.started.elapsed().as_secs() as usize;
        let is_error = sample.status == 0 || sample.status >= 400;
        let now = Instant::now();
        let mut inner = self.inner.lock().expect("recorder lock");
        let sent = now.checked_sub(latency).unwrap_or(now);
        sample.sent_ms = sent.saturating_duration_since(self.started).as_millis() as u64;
        sample.latency_us = micros;
        inner.window = Some(inner.window.map_or((sent, now), |(first, _)| (first.min(sent), now)));
        inner.requests += 1;
        inner.errors += is_error as u64;
        inner.histogram.saturating_record(micros);
        if let (Some(corrected), Some(interval)) = (inner.corrected.as_mut(), self.expected_interval) {
            let _ = corrected.record_correct(micros, (interval.as_micros() as u64).max(1));
        }
        while inner.seconds.len() <= second {
            inner.seconds.push(Second { requests: 0, errors: 0, histogram: histogram(2) });
        }
        let bucket = &mut inner.seconds[second];
        bucket.requests += 1;
        bucket.errors += is_error as u64;
        bucket.histogram.saturating_record(micros);
        *inner.status_counts.entry(sample.status).or_default() += 1;
        for check in failed_checks {
            *inner.response_failures.entry(check.clone()).or_default() += 1;
        }
        if inner.samples.len() < MAX_SAMPLES {
            inner.samples.push(sample);
        }
    }

    /// Requests, errors and p95 (ms) so far, for the live progress line.
    pub fn progress(&self) -> (u64, u64, f64) {
        let inner = self.inner.lock().expect("recorder lock");
        (inner.requests, inner.errors, inner.histogram.value_at_quantile(0.95) as f64 / 1000.0)
    }

    /// Seconds since the recorder started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// When the recorder started (sample times count from here).
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The phase's statistics; its duration runs from the first request sent to the last
    /// response received (goose's start-up is not load time).
    pub fn finish(&self) -> PhaseStats {
        let inner = self.inner.lock().expect("recorder lock");
        let duration_s = inner.window.map_or(0.0, |(first, last)| (last - first).as_secs_f64());
        PhaseStats {
            requests: inner.requests,
            errors: inner.errors,
            duration_s,
            status_counts: inner.status_counts.clone(),
            latency: Percentiles::of(&inner.histogram),
            latency_corrected: inner.corrected.as_ref().map(Percentiles::of),
            timeline: inner
                .seconds
                .iter()
                .enumerate()
                .map(|(second, s)| TimelinePoint {
                    second: second as u64,
                    requests: s.requests,
                    errors: s.errors,
                    p95_ms: if s.histogram.is_empty() {
                        0.0
                    } else {
                        s.histogram.value_at_quantile(0.95) as f64 / 1000.0
                    },
                })
                .collect(),
            samples: inner.samples.clone(),
            response_failures: inner.response_failures.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(status: u16) -> Sample {
        Sample { status, x_cache: None, retry_after: false, sent_ms: 0, latency_us: 0 }
    }

    #[test]
    fn percentiles_are_microsecond_precise() {
        let recorder = Recorder::new(None);
        for micros in 1..=1000u64 {
            recorder.record(ok(200), Duration::from_micros(micros * 10), &[]);
        }
        let stats = recorder.finish();
        assert_eq!(stats.requests, 1000);
        assert!((stats.latency.p50 - 5.0).abs() < 0.01, "{:?}", stats.latency);
        assert!((stats.latency.max - 10.0).abs() < 0.01);
        assert!(stats.latency_corrected.is_none());
    }

    #[test]
    fn errors_are_transport_failures_and_4xx_5xx() {
        let recorder = Recorder::new(None);
        for status in [200, 204, 301, 404, 429, 503, 0] {
            recorder.record(ok(status), Duration::from_millis(1), &[]);
        }
        let stats = recorder.finish();
        assert_eq!(stats.errors, 4);
        assert_eq!(stats.status_counts[&0], 1);
    }

    #[test]
    fn correction_fills_in_requests_a_stall_held_back() {
        let recorder = Recorder::new(Some(Duration::from_millis(10)));
        for _ in 0..99 {
            recorder.record(ok(200), Duration::from_millis(1), &[]);
        }
        recorder.record(ok(200), Duration::from_secs(1), &[]);
        let stats = recorder.finish();
        let corrected = stats.latency_corrected.unwrap();
        assert!(stats.latency.p95 < 2.0, "raw p95 hides the stall: {:?}", stats.latency);
        assert!(corrected.p95 > 100.0, "corrected p95 shows it: {corrected:?}");
    }
}
