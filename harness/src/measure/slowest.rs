//! [`Slowest`]: the few slowest successful traced responses of each request in a phase, kept
//! with their trace ids so the report can show where their time went.

use std::time::Duration;

use super::{RequestLabel, Response, SlowSample};

/// Slowest successful traced responses kept per request name.
pub const SLOWEST_PER_REQUEST: usize = 3;

/// Per request, its slowest responses, slowest first, each with its trace.
pub(super) struct Slowest(Vec<Vec<(SlowSample, u128)>>);

impl Slowest {
    /// Room for `requests` requests.
    pub(super) fn new(requests: usize) -> Self {
        Self((0..requests).map(|_| Vec::new()).collect())
    }

    /// Keeps `response` (sent `at` into the run, starting trace `trace`) if it is among its
    /// request's slowest: then `Some` of the trace it displaced, if any; `None` if not kept.
    pub(super) fn offer(
        &mut self,
        response: &Response<'_>,
        label: Option<&RequestLabel>,
        at: Duration,
        trace: u128,
    ) -> Option<Option<u128>> {
        let kept = self.0.get_mut(response.request)?;
        let elapsed_ms = response.latency.as_secs_f64() * 1000.0;
        let full = kept.len() >= SLOWEST_PER_REQUEST;
        if full && kept.last().is_some_and(|(s, _)| s.elapsed_ms >= elapsed_ms) {
            return None;
        }
        let displaced = if full { kept.pop().map(|(_, trace)| trace) } else { None };
        let sample = SlowSample {
            name: label.map_or_else(String::new, |l| l.name.clone()),
            at_s: at.as_secs_f64(),
            status: response.status,
            elapsed_ms,
            request_id: response.request_id.map(str::to_owned),
            trace_id: crate::trace::trace_id_hex(trace),
            trace: None,
        };
        let position = kept.partition_point(|(s, _)| s.elapsed_ms >= elapsed_ms);
        kept.insert(position, (sample, trace));
        Some(displaced)
    }

    /// Every request's kept samples, slowest first.
    pub(super) fn samples(&self) -> Vec<SlowSample> {
        let mut samples: Vec<SlowSample> = self.0.iter().flatten().map(|(sample, _)| sample.clone()).collect();
        samples.sort_by(|a, b| b.elapsed_ms.total_cmp(&a.elapsed_ms));
        samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::tests::response;

    #[test]
    fn only_the_slowest_few_are_kept_and_the_displaced_trace_is_named() {
        let mut slowest = Slowest::new(1);
        let mut offer =
            |trace, ms| slowest.offer(&response(0, 200, Duration::from_millis(ms)), None, Duration::ZERO, trace);
        for (trace, ms) in [(1, 5), (2, 9), (3, 7)] {
            assert_eq!(offer(trace, ms), Some(None), "kept, nothing displaced");
        }
        assert_eq!(offer(4, 1), None, "faster than the kept: not kept");
        assert_eq!(offer(5, 8), Some(Some(1)), "kept in place of the fastest kept");
        let kept: Vec<f64> = slowest.samples().iter().map(|s| s.elapsed_ms).collect();
        assert_eq!(kept, [9.0, 8.0, 7.0]);
    }
}
