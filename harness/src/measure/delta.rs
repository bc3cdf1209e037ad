//! Measurements that travel: a worker's [`Recorder`] (made with [`Recorder::draining`]) keeps
//! what it recorded since its last [`Recorder::drain`] as a [`Delta`], and the coordinator's
//! recorder [`Recorder::absorb`]s every worker's deltas. Histograms travel as HDR V2 with
//! DEFLATE (base64 in JSON) and are added bucket by bucket, so merged counts are the sums and
//! merged percentiles are those of one histogram fed every sample.
//!
//! Per-second points are merged by second of the phase (each worker counts from its own start,
//! which the phase barrier lines up). A second is settled, its p95 computed and its histogram
//! dropped, once the newest delta is [`SETTLE_AFTER_S`] seconds past it; a worker that far
//! behind has already made the run invalid. Only the phase's first [`FAILURES_PER_KIND`]
//! failures per request and kind are kept, as in one process.

use std::collections::BTreeMap;

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use super::{Counts, FAILURES_PER_KIND, FailureSample, Inner, Recorder, Response, Tally, TimelinePoint, histogram};

/// Seconds after which a merged second is settled.
const SETTLE_AFTER_S: u64 = 10;

/// What one recorder measured since its last drain.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Delta {
    /// The phase's tally, then one per request (none when the phase has one request).
    pub tallies: Vec<TallyDelta>,
    /// Failing responses kept, with their request index, status and kind.
    pub failures: Vec<(usize, u16, String, FailureSample)>,
    /// Failing responses not kept.
    pub failures_not_kept: u64,
    /// First send and last response so far, ms since the recorder started.
    pub window_ms: Option<(u64, u64)>,
    /// The recorder's current second.
    pub second: u64,
}

/// One tally's part of a [`Delta`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TallyDelta {
    /// Responses.
    pub requests: u64,
    /// Of which errors.
    pub errors: u64,
    /// Responses per status.
    pub status_counts: BTreeMap<u16, u64>,
    /// Broken response rules.
    pub response_failures: BTreeMap<String, u64>,
    /// Latencies, µs (HDR V2 + DEFLATE, base64).
    pub histogram: String,
    /// Coordinated-omission corrected latencies (open model).
    pub corrected: Option<String>,
    /// Per second: its index, responses, errors and latencies.
    pub seconds: Vec<(u64, u64, u64, String)>,
}

/// A worker's running delta for one tally.
pub(super) struct PendingTally {
    counts: Counts,
    seconds: BTreeMap<u64, (u64, u64, Histogram<u64>)>,
}

/// A worker's running delta.
pub(super) struct Pending {
    tallies: Vec<PendingTally>,
    failures: Vec<(usize, u16, String, FailureSample)>,
    failures_not_kept: u64,
}

impl PendingTally {
    fn new(corrected: bool) -> Self {
        Self { counts: Counts::new(corrected), seconds: BTreeMap::new() }
    }

    fn record(&mut self, second: u64, response: &Response<'_>, micros: u64, interval: Option<std::time::Duration>) {
        self.counts.record(response, micros, interval);
        let (requests, errors, latencies) = self.seconds.entry(second).or_insert_with(|| (0, 0, histogram(2)));
        *requests += 1;
        *errors += response.is_error() as u64;
        latencies.saturating_record(micros);
    }

    fn take(&mut self) -> TallyDelta {
        let taken = std::mem::replace(self, Self::new(self.counts.corrected.is_some()));
        let counts = taken.counts;
        TallyDelta {
            requests: counts.requests,
            errors: counts.errors,
            status_counts: counts.status_counts,
            response_failures: counts.response_failures,
            histogram: encode(&counts.histogram),
            corrected: counts.corrected.as_ref().map(encode),
            seconds: taken.seconds.iter().map(|(s, (r, e, h))| (*s, *r, *e, encode(h))).collect(),
        }
    }
}

impl Pending {
    pub(super) fn new(tallies: usize, corrected: bool) -> Self {
        Self {
            tallies: (0..tallies).map(|_| PendingTally::new(corrected)).collect(),
            failures: Vec::new(),
            failures_not_kept: 0,
        }
    }

    /// Records a response into the phase's tally (0) and its request's (`1 + request`, when
    /// the phase has more than one request).
    pub(super) fn record(
        &mut self,
        second: u64,
        response: &Response<'_>,
        micros: u64,
        interval: Option<std::time::Duration>,
    ) {
        let request_tally = 1 + response.request;
        self.tallies[0].record(second, response, micros, interval);
        if let Some(tally) = self.tallies.get_mut(request_tally).filter(|_| request_tally > 0) {
            tally.record(second, response, micros, interval);
        }
    }

    /// A failure the recorder kept (`Some`) or only counted (`None`).
    pub(super) fn failure(&mut self, key: (usize, u16, &'static str), kept: Option<FailureSample>) {
        match kept {
            Some(sample) => self.failures.push((key.0, key.1, key.2.to_owned(), sample)),
            None => self.failures_not_kept += 1,
        }
    }
}

impl Recorder {
    /// This recorder as a worker's: what it records is kept only as a [`Delta`] for
    /// [`Recorder::drain`] (its own statistics stay empty; the coordinator keeps them).
    pub fn draining(self) -> Self {
        let corrected = self.expected_interval.is_some();
        let tallies = 1 + if self.requests.len() > 1 { self.requests.len() } else { 0 };
        self.inner.lock().expect("recorder lock").pending = Some(Pending::new(tallies, corrected));
        self
    }

    /// What was recorded since the last drain (empty unless made [`Recorder::draining`]).
    pub fn drain(&self) -> Delta {
        let mut inner = self.inner.lock().expect("recorder lock");
        let window_ms = inner.window.map(|(first, last)| {
            let ms = |at: std::time::Instant| at.saturating_duration_since(self.started).as_millis() as u64;
            (ms(first), ms(last))
        });
        let second = self.started.elapsed().as_secs();
        let Some(pending) = inner.pending.as_mut() else { return Delta::default() };
        Delta {
            tallies: pending.tallies.iter_mut().map(PendingTally::take).collect(),
            failures: std::mem::take(&mut pending.failures),
            failures_not_kept: std::mem::take(&mut pending.failures_not_kept),
            window_ms,
            second,
        }
    }

    /// Adds a worker's delta to this recorder's measurements.
    pub fn absorb(&self, delta: &Delta) -> Result<(), String> {
        if let Some(live) = &self.live {
            // Per request: the request tallies, or the phase's when it has one request.
            let per_request = if delta.tallies.len() > 1 { &delta.tallies[1..] } else { &delta.tallies[..] };
            for (request, tally) in per_request.iter().enumerate() {
                live.add(request, tally.requests, tally.errors);
            }
        }
        let mut inner = self.inner.lock().expect("recorder lock");
        let inner = &mut *inner;
        let settle_before = delta.second.saturating_sub(SETTLE_AFTER_S);
        if let Some(phase) = delta.tallies.first() {
            inner.phase.absorb(phase, settle_before)?;
        }
        for (tally, part) in inner.by_request.iter_mut().zip(delta.tallies.iter().skip(1)) {
            tally.absorb(part, settle_before)?;
        }
        if let Some((first, last)) = delta.window_ms {
            let at = |ms: u64| self.started + std::time::Duration::from_millis(ms);
            let (first, last) = (at(first), at(last));
            inner.window = Some(inner.window.map_or((first, last), |(a, b)| (a.min(first), b.max(last))));
        }
        absorb_failures(inner, delta);
        Ok(())
    }
}

fn absorb_failures(inner: &mut Inner, delta: &Delta) {
    inner.failures_not_kept += delta.failures_not_kept;
    for (request, status, kind, sample) in &delta.failures {
        // The kinds are the recorder's own static names; an unknown one is kept under "".
        let kind = super::FAILURE_KINDS.iter().copied().find(|k| k == kind).unwrap_or("");
        let kept = inner.failures.entry((*request, *status, kind)).or_default();
        if kept.len() < FAILURES_PER_KIND {
            kept.push(sample.clone());
        } else {
            inner.failures_not_kept += 1;
        }
    }
}

impl Tally {
    /// Adds a delta; seconds before `settle_before` are settled into the timeline.
    fn absorb(&mut self, delta: &TallyDelta, settle_before: u64) -> Result<(), String> {
        let counts = &mut self.counts;
        counts.requests += delta.requests;
        counts.errors += delta.errors;
        for (status, count) in &delta.status_counts {
            *counts.status_counts.entry(*status).or_default() += count;
        }
        for (rule, count) in &delta.response_failures {
            *counts.response_failures.entry(rule.clone()).or_default() += count;
        }
        add(&mut counts.histogram, &delta.histogram)?;
        if let (Some(corrected), Some(part)) = (counts.corrected.as_mut(), &delta.corrected) {
            add(corrected, part)?;
        }
        for (second, requests, errors, latencies) in &delta.seconds {
            let (r, e, h) = self.merging.entry(*second).or_insert_with(|| (0, 0, histogram(2)));
            *r += requests;
            *e += errors;
            add(h, latencies)?;
        }
        self.settle(settle_before);
        Ok(())
    }

    /// Moves merged seconds before `before` into the timeline, in order.
    pub(super) fn settle(&mut self, before: u64) {
        let later = self.merging.split_off(&before);
        for (second, (requests, errors, latencies)) in std::mem::replace(&mut self.merging, later) {
            let p95_ms = latencies.value_at_quantile(0.95) as f64 / 1000.0;
            match self.timeline.get_mut(second as usize) {
                // A second already settled gets late counts; its p95 stays.
                Some(point) => {
                    point.requests += requests;
                    point.errors += errors;
                }
                _ => {
                    let first = if self.timeline.is_empty() { 0 } else { self.second + 1 };
                    for gap in first..second {
                        self.timeline.push(TimelinePoint { second: gap, requests: 0, errors: 0, p95_ms: 0.0 });
                    }
                    self.timeline.push(TimelinePoint { second, requests, errors, p95_ms });
                    self.second = second;
                }
            }
        }
    }
}

fn encode(histogram: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Serializing into a Vec cannot fail on I/O; an empty string decodes as an empty histogram.
    let _ = V2DeflateSerializer::new().serialize(histogram, &mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn add(into: &mut Histogram<u64>, encoded: &str) -> Result<(), String> {
    if encoded.is_empty() {
        return Ok(());
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|e| format!("histogram: {e}"))?;
    let part: Histogram<u64> =
        Deserializer::new().deserialize(&mut bytes.as_slice()).map_err(|e| format!("histogram: {e:?}"))?;
    into.add(&part).map_err(|e| format!("histogram: {e:?}"))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::measure::RequestLabel;
    use crate::measure::tests::{label, response};

    fn labels() -> Vec<RequestLabel> {
        vec![label("/a"), label("/b")]
    }

    #[test]
    fn three_workers_merge_to_the_counts_and_percentiles_of_one_recorder_fed_everything() {
        let start = Instant::now();
        let one = Recorder::new(labels(), None, false, start);
        let workers: Vec<Recorder> = (0..3).map(|_| Recorder::new(labels(), None, false, start).draining()).collect();
        let merged = Recorder::new(labels(), None, false, start);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for round in 0..6 {
            for n in 0..3000 {
                let latency = Duration::from_micros(rng.random_range(50..2_000_000));
                let status = if n % 97 == 0 { 503 } else { 200 };
                let response = response(n % 2, status, latency);
                one.record(&response);
                workers[n % 3].record(&response);
            }
            // Drained mid-phase, as every second, and once more at the end.
            for worker in &workers {
                merged.absorb(&worker.drain()).unwrap();
            }
            if round == 5 {
                for worker in &workers {
                    merged.absorb(&worker.drain()).unwrap();
                }
            }
        }
        let (one, merged) = (one.finish(), merged.finish());
        assert_eq!((merged.requests, merged.errors), (one.requests, one.errors));
        assert_eq!(merged.requests, 18_000);
        assert_eq!(merged.latency, one.latency, "merged percentiles are exact");
        assert_eq!(merged.status_counts, one.status_counts);
        for name in ["/a", "/b"] {
            assert_eq!(merged.by_request[name].latency, one.by_request[name].latency, "{name}");
            assert_eq!(merged.by_request[name].requests, one.by_request[name].requests, "{name}");
        }
        let seconds: u64 = merged.timeline.iter().map(|p| p.requests).sum();
        assert_eq!(seconds, 18_000, "every response is in the timeline");
        assert_eq!(merged.failures.len(), FAILURES_PER_KIND * 2, "five per request and kind, as in one process");
        assert_eq!(merged.failures_not_kept, one.failures_not_kept);
    }

    #[test]
    fn a_corrupt_histogram_is_an_error() {
        let merged = Recorder::new(labels(), None, false, Instant::now());
        let delta = Delta {
            tallies: vec![TallyDelta { histogram: "bm9wZQ==".into(), ..TallyDelta::default() }],
            ..Delta::default()
        };
        assert!(merged.absorb(&delta).unwrap_err().starts_with("histogram"));
    }
}
