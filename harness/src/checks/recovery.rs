//! `recovery: {within: 10s, baseline: steady, tolerance: 10%}`: time from the last
//! `clear_chaos` until the per-second success rate and p95 are back within `tolerance` of the
//! baseline phase and stay there. Time-to-recover is a headline figure of the report.

use serde::Deserialize;

use crate::checks::{Observed, Outcome};
use crate::measure::PhaseStats;
use crate::scenario::{Phase, parse_duration};

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

/// The compiled check.
#[derive(Debug, Clone)]
pub struct Recovery {
    within_s: f64,
    baseline: String,
    tolerance: f64,
}

impl Recovery {
    /// Compiles the spec; the baseline must name another phase.
    pub fn compile(spec: &RecoverySpec, phases: &[Phase]) -> Result<Self, String> {
        let within_s = parse_duration(&spec.within).map_err(|e| format!("recovery.within: {e}"))?.as_secs_f64();
        let baseline = match &spec.baseline {
            Some(name) if phases.iter().any(|p| &p.name == name) => name.clone(),
            Some(name) => return Err(format!("recovery.baseline: no phase named {name:?}")),
            None => phases.first().map(|p| p.name.clone()).ok_or("recovery needs a baseline phase")?,
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

    /// Seconds after the phase start from which every second is healthy, if any.
    pub fn recovered_after(&self, stats: &PhaseStats, baseline: &PhaseStats) -> Option<f64> {
        let success = 1.0 - baseline.error_rate();
        let p95_limit = baseline.latency.p95 * (1.0 + self.tolerance) + 1.0;
        let healthy = |p: &crate::measure::TimelinePoint| {
            p.requests > 0
                && (1.0 - p.errors as f64 / p.requests as f64) >= success - self.tolerance
                && p.p95_ms <= p95_limit
        };
        let timeline = &stats.timeline;
        let last_unhealthy = timeline.iter().rposition(|p| !healthy(p));
        match last_unhealthy {
            None if !timeline.is_empty() => Some(0.0),
            Some(i) if i + 1 < timeline.len() => Some(timeline[i + 1].second as f64),
            _ => None,
        }
    }

    /// Seconds from the last `clear_chaos` until recovery, when it recovered.
    pub fn time_to_recover(&self, observed: &Observed<'_>) -> Option<f64> {
        let baseline = observed.earlier.get(&self.baseline)?;
        Some(observed.since_fault_cleared? + self.recovered_after(observed.stats, baseline)?)
    }

    /// Time to recover against `within`.
    pub fn evaluate(&self, observed: &Observed<'_>) -> Outcome {
        let Some(baseline) = observed.earlier.get(&self.baseline) else {
            return Outcome::new(false, format!("baseline phase {:?} has not run before this one", self.baseline));
        };
        if observed.stats.requests == 0 {
            return Outcome::no_samples();
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
    use crate::measure::TimelinePoint;
    use std::collections::BTreeMap;

    fn timeline(errors: &[u64]) -> PhaseStats {
        let mut s = stats(&[200; 10]);
        s.timeline = errors
            .iter()
            .enumerate()
            .map(|(i, e)| TimelinePoint { second: i as u64, requests: 10, errors: *e, p95_ms: 5.0 })
            .collect();
        s
    }

    fn run(errors: &[u64], cleared: f64, within: &str) -> Outcome {
        let check = Recovery {
            within_s: parse_duration(within).unwrap().as_secs_f64(),
            baseline: "steady".into(),
            tolerance: 0.1,
        };
        let mut baseline = stats(&[200; 10]);
        baseline.latency.p95 = 5.0;
        let earlier: BTreeMap<String, PhaseStats> = [("steady".to_owned(), baseline)].into();
        let s = timeline(errors);
        let states = BTreeMap::new();
        check.evaluate(&Observed {
            stats: &s,
            metrics_before: None,
            metrics_after: None,
            breaker_states: &states,
            earlier: &earlier,
            since_fault_cleared: Some(cleared),
        })
    }

    #[test]
    fn recovery_time_counts_from_the_clear() {
        let outcome = run(&[10, 5, 0, 0, 0], 3.0, "10s");
        assert!(outcome.passed, "{outcome:?}");
        assert!(outcome.measured.contains("5.0s"), "{}", outcome.measured);
    }

    #[test]
    fn slow_or_absent_recovery_fails() {
        assert!(!run(&[10, 10, 10, 0], 8.0, "10s").passed, "11 s is too slow");
        assert!(!run(&[10, 10, 10, 10], 0.0, "10s").passed, "never recovered");
    }
}
