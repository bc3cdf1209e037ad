//! `recovery: {within: 10s, baseline: steady, tolerance: 10%}`: time from the last
//! `clear_chaos` until the per-second success rate and p95 are back within `tolerance` of the
//! baseline phase and stay there. Time-to-recover is a headline figure of the report.

use serde::Deserialize;

use crate::checks::{Observed, Outcome};
use crate::duration::parse_duration;
use crate::measure::PhaseStats;

/// The YAML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverySpec {
    /// Longest acceptable time to recover, e.g. `10s`.
    pub within: String,
    /// The steady phase to compare with (default: the first phase).
    pub baseline: Option<String>,
    /// Allowed distance from the baseline (default 10%).
    pub tolerance: Option<String>,
}

/// The fewest responses a stretch of the phase is judged on.
const MIN_STRETCH: usize = 20;

/// The compiled check.
#[derive(Debug, Clone)]
pub struct Recovery {
    within_s: f64,
    baseline: String,
    tolerance: f64,
}

impl Recovery {
    /// Compiles the spec; the baseline must name another phase.
    pub fn compile(spec: &RecoverySpec, phases: &[String]) -> Result<Self, String> {
        let within_s = parse_duration(&spec.within).map_err(|e| format!("recovery.within: {e}"))?.as_secs_f64();
        let baseline = match &spec.baseline {
            Some(name) if phases.contains(name) => name.clone(),
            Some(name) => return Err(format!("recovery.baseline: no phase named {name:?}")),
            None => phases.first().cloned().ok_or("recovery needs a baseline phase")?,
        };
        let tolerance = match &spec.tolerance {
            Some(text) => text
                .trim()
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<f64>().ok())
                .map(|n| n / 100.0)
                .ok_or_else(|| format!("recovery.tolerance: {text:?} must look like 10%"))?,
            None => 0.10,
        };
        Ok(Self { within_s, baseline, tolerance })
    }

    /// In words.
    pub fn describe(&self) -> String {
        format!("recovers to within {:.0}% of {} in {}s", self.tolerance * 100.0, self.baseline, self.within_s)
    }

    /// Seconds after the phase's start at which it recovered: the send time of the first
    /// response from which every later stretch of responses has errors within the baseline's
    /// rate plus the tolerance, and at most the tolerance plus 5% (the p95 sense) slower than the
    /// baseline's p95 plus the tolerance. A stretch is judged once it holds [`MIN_STRETCH`]
    /// responses (or the whole phase, if shorter): a share of one or two responses says nothing,
    /// and one slow last response used to deny a recovery the phase plainly made.
    pub fn recovered_after(&self, stats: &PhaseStats, baseline: &PhaseStats) -> Option<f64> {
        let error_budget = baseline.error_rate() + self.tolerance;
        let slow_budget = 0.05 + self.tolerance;
        let slow_limit_us = ((baseline.latency.p95 * (1.0 + self.tolerance) + 1.0) * 1000.0) as u64;
        let (mut errors, mut slow, mut recovered_at) = (0usize, 0usize, None);
        // Walk back from the end: `recovered_at` is the earliest start whose every suffix is healthy.
        for (index, sample) in stats.samples.iter().enumerate().rev() {
            errors += (sample.status == 0 || sample.status >= 400) as usize;
            slow += (sample.latency_us > slow_limit_us) as usize;
            let length = stats.samples.len() - index;
            if length < MIN_STRETCH.min(stats.samples.len()) {
                continue;
            }
            let length = length as f64;
            if errors as f64 / length <= error_budget && slow as f64 / length <= slow_budget {
                recovered_at = Some(index);
            } else {
                // This suffix is unhealthy, so no earlier start qualifies.
                break;
            }
        }
        recovered_at.map(|index| stats.samples[index].sent_ms as f64 / 1000.0)
    }

    /// Seconds from the last `clear_chaos` until recovery, when it recovered.
    pub fn time_to_recover(&self, observed: &Observed<'_>) -> Option<f64> {
        let baseline = observed.earlier.get(&self.baseline)?;
        observed.stats.every_sample().ok()?;
        Some(observed.since_fault_cleared? + self.recovered_after(observed.stats, baseline)?)
    }

    /// Time to recover against `within`.
    pub fn evaluate(&self, observed: &Observed<'_>) -> Outcome {
        let Some(baseline) = observed.earlier.get(&self.baseline) else {
            return Outcome::new(false, format!("baseline phase {:?} has not run before this one", self.baseline));
        };
        if let Err(reason) = observed.stats.every_sample() {
            return Outcome::new(false, reason);
        }
        let Some(cleared) = observed.since_fault_cleared else {
            return Outcome::new(false, "no clear_chaos before this phase: nothing to recover from");
        };
        match self.recovered_after(observed.stats, baseline) {
            Some(after) => {
                let total = cleared + after;
                Outcome::new(total <= self.within_s, format!("recovered {total:.1}s after the fault was cleared"))
            }
            None => Outcome::new(false, "did not recover during the phase"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::test_support::stats;
    use crate::measure::Sample;
    use std::collections::BTreeMap;

    /// One sample per entry: (sent second, status, latency ms).
    fn samples(list: &[(u64, u16, u64)]) -> PhaseStats {
        let mut s = stats(&[]);
        s.samples = list
            .iter()
            .map(|(at, status, ms)| Sample {
                status: *status,
                x_cache: None,
                retry_after: false,
                sent_ms: at * 1000,
                latency_us: ms * 1000,
            })
            .collect();
        s.requests = s.samples.len() as u64;
        s
    }

    fn run_on(phase: &PhaseStats, cleared: f64, within: &str) -> Outcome {
        let check = Recovery {
            within_s: parse_duration(within).unwrap().as_secs_f64(),
            baseline: "steady".into(),
            tolerance: 0.1,
        };
        let mut baseline = stats(&[200; 10]);
        baseline.latency.p95 = 5.0;
        let earlier: BTreeMap<String, PhaseStats> = [("steady".to_owned(), baseline)].into();
        let states = BTreeMap::new();
        check.evaluate(&Observed {
            stats: phase,
            metrics_before: None,
            metrics_after: None,
            breaker_states: &states,
            earlier: &earlier,
            since_fault_cleared: Some(cleared),
            readings: &BTreeMap::new(),
        })
    }

    fn run(errors_per_second: &[u64], cleared: f64, within: &str) -> Outcome {
        let list: Vec<(u64, u16, u64)> = errors_per_second
            .iter()
            .enumerate()
            .flat_map(|(second, errors)| (0..10).map(move |i| (second as u64, if i < *errors { 503 } else { 200 }, 2)))
            .collect();
        run_on(&samples(&list), cleared, within)
    }

    #[test]
    fn one_slow_probe_does_not_hide_a_recovery() {
        let mut list = vec![(0, 200, 40)];
        list.extend((0..9).map(|_| (0, 200, 2)));
        let outcome = run_on(&samples(&list), 2.5, "10s");
        assert!(outcome.passed, "{outcome:?}");
        assert!(outcome.measured.contains("2.5s"), "{}", outcome.measured);
    }

    #[test]
    fn a_slow_last_response_does_not_deny_a_recovery_but_a_slow_stretch_does() {
        let mut list: Vec<(u64, u16, u64)> = (0..30).map(|i| (i / 10, 200, 2)).collect();
        list.push((3, 200, 40));
        let outcome = run_on(&samples(&list), 1.0, "10s");
        assert!(outcome.passed && outcome.measured.contains("1.0s"), "{outcome:?}");
        // The last 20 responses slow: that stretch is judged, and it did not recover.
        list.extend((0..20).map(|_| (4, 200, 40)));
        assert_eq!(run_on(&samples(&list), 1.0, "10s").measured, "did not recover during the phase");
    }

    #[test]
    fn recovery_time_counts_from_the_clear() {
        let outcome = run(&[10, 5, 0, 0, 0], 3.0, "10s");
        assert!(outcome.passed, "{outcome:?}");
        // Second 1 ends with five successes; from there the error share stays within 10%.
        assert!(outcome.measured.contains("4.0s"), "{}", outcome.measured);
    }

    #[test]
    fn slow_or_absent_recovery_fails() {
        assert!(!run(&[10, 10, 10, 0], 8.5, "10s").passed, "10.5 s is too slow");
        assert!(!run(&[10, 10, 10, 10], 0.0, "10s").passed, "never recovered");
    }
}
