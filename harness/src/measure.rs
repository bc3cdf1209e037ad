//! Measurement: a [`Recorder`] shared by a phase's goose users keeps one [`Tally`] for the
//! phase and one per request name (microsecond HDR histograms, raw and, in open-model phases,
//! coordinated-omission corrected; a per-second timeline; status counts), the first failing
//! responses of each kind ([`FailureSample`]), and, for phases whose checks walk every response
//! in order, those responses ([`Sample`]). [`Recorder::finish`] turns it into [`PhaseStats`].
//!
//! Every buffer is bounded: the timeline holds one point per second (the per-second histogram
//! is reset as each second closes), failure samples stop at [`FAILURES_PER_KIND`] per request
//! and kind, and ordered responses at [`MAX_SAMPLES`]. What a bound dropped is counted, the
//! report says so, and a check that needed the dropped responses fails.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

mod delta;
pub mod label;
mod response;
mod slowest;
mod stats;

pub use delta::{Delta, TallyDelta};
pub use label::RequestLabel;
pub use response::Response;
pub use slowest::SLOWEST_PER_REQUEST;
use slowest::Slowest;
pub use stats::{FailureSample, Percentiles, PhaseStats, Sample, SlowSample, TimelinePoint};

/// Longest latency a histogram tracks (larger values are clamped): 10 minutes in µs.
const MAX_MICROS: u64 = 600_000_000;
/// Ordered responses kept per phase for sequence checks (rate limit, cache, recovery).
pub const MAX_SAMPLES: usize = 1_000_000;
/// Failing responses kept per request name and kind of failure.
pub const FAILURES_PER_KIND: usize = 5;
/// Bytes of a failing response's body kept in its sample.
pub const FAILURE_BODY_BYTES: usize = 2048;
/// The kinds failures are kept by: an error status (""), a broken rule, a transport failure's
/// kind (see [`crate::client::TransportError::kind`]), or a request that could not be rendered.
const FAILURE_KINDS: [&str; 10] =
    ["", "rule", "refused", "reset", "closed", "timeout", "tls", "connect", "http", "unresolved"];

/// What every tally counts of its responses: in one process ([`Tally`]) and in a worker's
/// running delta ([`delta::PendingTally`]).
struct Counts {
    requests: u64,
    errors: u64,
    histogram: Histogram<u64>,
    corrected: Option<Histogram<u64>>,
    status_counts: BTreeMap<u16, u64>,
    response_failures: BTreeMap<String, u64>,
}

impl Counts {
    fn new(corrected: bool) -> Self {
        Self {
            requests: 0,
            errors: 0,
            histogram: histogram(3),
            corrected: corrected.then(|| histogram(3)),
            status_counts: BTreeMap::new(),
            response_failures: BTreeMap::new(),
        }
    }

    /// Counts one response of `micros`; with an open model's `interval`, also into the
    /// coordinated-omission corrected histogram.
    fn record(&mut self, response: &Response<'_>, micros: u64, interval: Option<Duration>) {
        self.requests += 1;
        self.errors += response.is_error() as u64;
        self.histogram.saturating_record(micros);
        if let (Some(corrected), Some(interval)) = (self.corrected.as_mut(), interval) {
            let _ = corrected.record_correct(micros, (interval.as_micros() as u64).max(1));
        }
        *self.status_counts.entry(response.status).or_default() += 1;
        for rule in response.broken_rules {
            *self.response_failures.entry((*rule).to_owned()).or_default() += 1;
        }
    }
}

/// Counts, histograms and timeline of a set of responses (a phase, or one request name).
struct Tally {
    counts: Counts,
    timeline: Vec<TimelinePoint>,
    /// The open second: its index, and its latencies (reset when it closes).
    second: u64,
    second_histogram: Histogram<u64>,
    /// Seconds merged from workers' deltas, not yet settled into the timeline.
    merging: BTreeMap<u64, (u64, u64, Histogram<u64>)>,
}

fn histogram(significant_figures: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, significant_figures).expect("valid histogram bounds")
}

impl Tally {
    fn new(corrected: bool) -> Self {
        Self {
            counts: Counts::new(corrected),
            timeline: Vec::new(),
            second: 0,
            second_histogram: histogram(2),
            merging: BTreeMap::new(),
        }
    }

    fn record(&mut self, second: u64, response: &Response<'_>, micros: u64, interval: Option<Duration>) {
        self.roll_to(second);
        self.counts.record(response, micros, interval);
        self.second_histogram.saturating_record(micros);
        let point = self.timeline.last_mut().expect("roll_to opened the second");
        point.requests += 1;
        point.errors += response.is_error() as u64;
    }

    /// Closes the open second (its p95 is final) and opens `second`, with empty seconds between.
    fn roll_to(&mut self, second: u64) {
        if !self.timeline.is_empty() && second <= self.second {
            return;
        }
        self.close_second();
        let first = if self.timeline.is_empty() { 0 } else { self.second + 1 };
        for gap in first..=second {
            self.timeline.push(TimelinePoint { second: gap, requests: 0, errors: 0, p95_ms: 0.0 });
        }
        self.second = second;
    }

    fn close_second(&mut self) {
        if let Some(point) = self.timeline.last_mut()
            && !self.second_histogram.is_empty()
        {
            point.p95_ms = self.second_histogram.value_at_quantile(0.95) as f64 / 1000.0;
            self.second_histogram.reset();
        }
    }

    fn stats(&mut self, duration_s: f64) -> PhaseStats {
        self.close_second();
        self.settle(u64::MAX);
        let counts = &self.counts;
        PhaseStats {
            requests: counts.requests,
            errors: counts.errors,
            duration_s,
            status_counts: counts.status_counts.clone(),
            latency: Percentiles::of(&counts.histogram),
            latency_corrected: counts.corrected.as_ref().map(Percentiles::of),
            timeline: self.timeline.clone(),
            response_failures: counts.response_failures.clone(),
            ..PhaseStats::default()
        }
    }
}

struct Inner {
    /// When the first recorded request was sent, and the last response arrived.
    window: Option<(Instant, Instant)>,
    phase: Tally,
    by_request: Vec<Tally>,
    samples: Vec<Sample>,
    samples_dropped: u64,
    failures: BTreeMap<(usize, u16, &'static str), Vec<FailureSample>>,
    failures_not_kept: u64,
    /// Per request: the slowest successful traced responses.
    slowest: Slowest,
    /// What was recorded since the last drain, in a worker ([`Recorder::draining`]).
    pending: Option<delta::Pending>,
}

/// Collects one phase's responses from every goose user.
pub struct Recorder {
    started: Instant,
    run_started: Instant,
    /// For open-model phases: each user's intended interval between requests.
    expected_interval: Option<Duration>,
    requests: Vec<RequestLabel>,
    keep_samples: bool,
    inner: Mutex<Inner>,
    live: Option<crate::live::LivePhase>,
    /// Where the traces of kept samples are asked for.
    traces: Option<std::sync::Arc<crate::trace::Store>>,
}

impl Recorder {
    /// A recorder for a phase sending `requests`; `expected_interval` turns on
    /// coordinated-omission correction, `keep_samples` keeps every response in order (for the
    /// checks that walk them), and failure times count from `run_started`.
    pub fn new(
        requests: Vec<RequestLabel>,
        expected_interval: Option<Duration>,
        keep_samples: bool,
        run_started: Instant,
    ) -> Self {
        let corrected = expected_interval.is_some();
        Self {
            started: Instant::now(),
            run_started,
            expected_interval,
            keep_samples,
            inner: Mutex::new(Inner {
                window: None,
                phase: Tally::new(corrected),
                // A phase of one request is its own per-request tally: record it once.
                by_request: if requests.len() > 1 {
                    requests.iter().map(|_| Tally::new(corrected)).collect()
                } else {
                    Vec::new()
                },
                samples: Vec::new(),
                samples_dropped: 0,
                failures: BTreeMap::new(),
                failures_not_kept: 0,
                slowest: Slowest::new(requests.len()),
                pending: None,
            }),
            requests,
            live: None,
            traces: None,
        }
    }

    /// The recorder, keeping the traces of its failure and slowest samples in `traces`.
    pub fn with_traces(mut self, traces: Option<std::sync::Arc<crate::trace::Store>>) -> Self {
        self.traces = traces;
        self
    }

    /// The recorder, also counting into the run's live metrics.
    pub fn with_live(mut self, live: Option<crate::live::LivePhase>) -> Self {
        self.live = live;
        self
    }

    /// The phase's live series, when `--metrics-listen` is on.
    pub fn live(&self) -> Option<&crate::live::LivePhase> {
        self.live.as_ref()
    }

    /// Records one response.
    pub fn record(&self, response: &Response<'_>) {
        let micros = (response.latency.as_micros() as u64).clamp(1, MAX_MICROS);
        let failure_kind = response.failure_kind();
        if let Some(live) = &self.live {
            live.observe(response.request, response.latency, response.is_error());
        }
        let mut inner = self.inner.lock().expect("recorder lock");
        // Read the clock under the lock, so seconds arrive in order.
        let now = Instant::now();
        let second = now.saturating_duration_since(self.started).as_secs();
        let sent = now.checked_sub(response.latency).unwrap_or(now);
        inner.window = Some(inner.window.map_or((sent, now), |(first, _)| (first.min(sent), now)));
        let interval = self.expected_interval;
        // A worker's measurements go only into its delta: the coordinator keeps the tallies.
        if let Some(pending) = inner.pending.as_mut() {
            pending.record(second, response, micros, interval);
        } else {
            inner.phase.record(second, response, micros, interval);
            if let Some(tally) = inner.by_request.get_mut(response.request) {
                tally.record(second, response, micros, interval);
            }
        }
        if self.keep_samples {
            if inner.samples.len() < MAX_SAMPLES {
                inner.samples.push(Sample {
                    status: response.status,
                    x_cache: response.x_cache.map(str::to_owned),
                    retry_after: response.retry_after,
                    sent_ms: sent.saturating_duration_since(self.started).as_millis() as u64,
                    latency_us: micros,
                });
            } else {
                inner.samples_dropped += 1;
            }
        }
        if let Some((status, kind)) = failure_kind {
            let key = (response.request, status, kind);
            let kept = inner.failures.entry(key).or_default();
            let (label, at) = (self.requests.get(response.request), sent.saturating_duration_since(self.run_started));
            let sample = (kept.len() < FAILURES_PER_KIND).then(|| FailureSample::of(response, label, at));
            match &sample {
                Some(sample) => kept.push(sample.clone()),
                None => inner.failures_not_kept += 1,
            }
            let wanted = response.trace_id.filter(|_| sample.is_some());
            if let Some(pending) = inner.pending.as_mut() {
                pending.failure(key, sample);
            }
            self.keep_traces(wanted, None);
        } else if let Some(trace) = response.trace_id.filter(|_| inner.pending.is_none()) {
            let (label, at) = (self.requests.get(response.request), sent.saturating_duration_since(self.run_started));
            if let Some(displaced) = inner.slowest.offer(response, label, at, trace) {
                self.keep_traces(Some(trace), displaced);
            }
        }
    }

    /// Asks the trace store to keep `wanted` and let `released` go.
    fn keep_traces(&self, wanted: Option<u128>, released: Option<u128>) {
        if let Some(traces) = &self.traces {
            released.into_iter().for_each(|trace| traces.release(trace));
            wanted.into_iter().for_each(|trace| _ = traces.want(trace));
        }
    }

    /// Requests, errors and p95 (ms) so far, for the live progress line.
    pub fn progress(&self) -> (u64, u64, f64) {
        let inner = self.inner.lock().expect("recorder lock");
        let counts = &inner.phase.counts;
        (counts.requests, counts.errors, counts.histogram.value_at_quantile(0.95) as f64 / 1000.0)
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
    /// response received (goose's start-up is not load time). Per-request throughput uses the
    /// same duration.
    pub fn finish(&self) -> PhaseStats {
        let mut inner = self.inner.lock().expect("recorder lock");
        let duration_s = inner.window.map_or(0.0, |(first, last)| (last - first).as_secs_f64());
        let mut stats = inner.phase.stats(duration_s);
        for (label, tally) in self.requests.iter().zip(inner.by_request.iter_mut()) {
            if tally.counts.requests > 0 {
                stats.by_request.insert(label.name.clone(), tally.stats(duration_s));
            }
        }
        if let ([only], true) = (self.requests.as_slice(), stats.requests > 0) {
            stats.by_request.insert(only.name.clone(), stats.clone());
        }
        stats.samples = std::mem::take(&mut inner.samples);
        stats.samples_kept = self.keep_samples;
        stats.samples_dropped = inner.samples_dropped;
        stats.failures = inner.failures.values().flatten().cloned().collect();
        stats.failures.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        stats.failures_not_kept = inner.failures_not_kept;
        stats.slowest = inner.slowest.samples();
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn label(name: &str) -> RequestLabel {
        RequestLabel { name: name.into(), method: "GET".into(), path: name.into() }
    }

    #[test]
    fn a_single_request_phase_reports_itself_per_request() {
        let recorder = Recorder::new(vec![label("/only")], None, false, Instant::now());
        recorder.record(&response(0, 503, Duration::from_millis(4)));
        let stats = recorder.finish();
        let only = &stats.by_request["/only"];
        assert_eq!((only.requests, only.errors, only.latency.p50), (1, 1, stats.latency.p50));
    }

    fn recorder(keep_samples: bool, interval: Option<Duration>) -> Recorder {
        Recorder::new(vec![label("/a"), label("/b")], interval, keep_samples, Instant::now())
    }

    pub(super) fn response(request: usize, status: u16, latency: Duration) -> Response<'static> {
        Response {
            request,
            status,
            latency,
            x_cache: None,
            retry_after: false,
            broken_rules: &[],
            transport_error: (status == 0).then(|| ("closed", "connection closed before message completed".into())),
            request_id: None,
            trace_id: None,
            body: b"",
        }
    }

    #[test]
    fn percentiles_are_microsecond_precise() {
        let recorder = recorder(false, None);
        for micros in 1..=1000u64 {
            recorder.record(&response(0, 200, Duration::from_micros(micros * 10)));
        }
        let stats = recorder.finish();
        assert_eq!(stats.requests, 1000);
        assert!((stats.latency.p50 - 5.0).abs() < 0.01, "{:?}", stats.latency);
        assert!((stats.latency.max - 10.0).abs() < 0.01);
        assert!(stats.latency_corrected.is_none());
    }

    #[test]
    fn errors_are_transport_failures_and_4xx_5xx() {
        let recorder = recorder(false, None);
        for status in [200, 204, 301, 404, 429, 503, 0] {
            recorder.record(&response(0, status, Duration::from_millis(1)));
        }
        let stats = recorder.finish();
        assert_eq!(stats.errors, 4);
        assert_eq!(stats.status_counts[&0], 1);
    }

    #[test]
    fn correction_fills_in_requests_a_stall_held_back() {
        let recorder = recorder(false, Some(Duration::from_millis(10)));
        for _ in 0..99 {
            recorder.record(&response(0, 200, Duration::from_millis(1)));
        }
        recorder.record(&response(0, 200, Duration::from_secs(1)));
        let stats = recorder.finish();
        let corrected = stats.latency_corrected.unwrap();
        assert!(stats.latency.p95 < 2.0, "raw p95 hides the stall: {:?}", stats.latency);
        assert!(corrected.p95 > 100.0, "corrected p95 shows it: {corrected:?}");
    }

    #[test]
    fn each_request_name_gets_its_own_statistics() {
        let recorder = recorder(false, None);
        for _ in 0..3 {
            recorder.record(&response(0, 200, Duration::from_millis(1)));
        }
        recorder.record(&response(1, 500, Duration::from_millis(40)));
        let stats = recorder.finish();
        let (a, b) = (&stats.by_request["/a"], &stats.by_request["/b"]);
        assert_eq!((a.requests, a.errors, b.requests, b.errors), (3, 0, 1, 1));
        assert!(b.latency.p50 > 39.0 && a.latency.p50 < 2.0);
        assert_eq!(b.status_counts[&500], 1);
        assert_eq!(stats.requests, 4);
    }

    #[test]
    fn failures_keep_the_first_five_per_request_and_kind_and_count_the_rest() {
        let recorder = recorder(false, None);
        let body = vec![b'x'; 5000];
        for _ in 0..7 {
            recorder.record(&Response { body: &body, request_id: Some("rid-1"), ..response(1, 500, Duration::ZERO) });
        }
        for _ in 0..2 {
            recorder.record(&response(1, 0, Duration::from_millis(3)));
        }
        recorder.record(&response(0, 200, Duration::from_millis(1)));
        let stats = recorder.finish();
        assert_eq!(stats.failures.len(), 5 + 2);
        assert_eq!(stats.failures_not_kept, 2);
        let answered = stats.failures.iter().find(|f| f.status == Some(500)).unwrap();
        assert_eq!((answered.name.as_str(), answered.request_id.as_deref()), ("/b", Some("rid-1")));
        assert_eq!(answered.body.as_ref().unwrap().len(), FAILURE_BODY_BYTES);
        let dropped = stats.failures.iter().find(|f| f.status.is_none()).unwrap();
        assert!(dropped.error.as_ref().unwrap().starts_with("closed"), "{dropped:?}");
        assert!(dropped.body.is_none());
    }

    #[test]
    fn ordered_samples_are_kept_only_when_asked_and_a_check_cannot_pass_without_them() {
        let recorder = recorder(false, None);
        recorder.record(&response(0, 200, Duration::from_millis(1)));
        assert!(recorder.finish().every_sample().unwrap_err().contains("did not keep"));
        let recorder = self::recorder(true, None);
        recorder.record(&response(0, 200, Duration::from_millis(1)));
        assert_eq!(recorder.finish().every_sample().unwrap().len(), 1);
        let truncated = PhaseStats { samples_kept: true, samples_dropped: 3, ..recorder.finish() };
        assert!(truncated.every_sample().unwrap_err().contains("3 responses"));
    }

    #[test]
    fn the_timeline_has_one_point_per_second_with_gaps_filled() {
        let mut tally = Tally::new(false);
        let ok = response(0, 200, Duration::from_millis(2));
        tally.record(0, &ok, 2000, None);
        tally.record(0, &ok, 2000, None);
        tally.record(3, &ok, 9000, None);
        let stats = tally.stats(4.0);
        let requests: Vec<u64> = stats.timeline.iter().map(|p| p.requests).collect();
        assert_eq!(requests, [2, 0, 0, 1]);
        assert!(stats.timeline[0].p95_ms < 3.0 && stats.timeline[3].p95_ms > 8.0, "{:?}", stats.timeline);
    }
}
