//! `latency: {p95: "< 250ms"}`: a percentile of the phase's microsecond histogram. Open-model
//! phases are judged on coordinated-omission corrected values.

use crate::checks::{Observed, Outcome};
use crate::comparison::{Comparison, Unit};
use crate::measure::Percentiles;

/// A limit on one latency statistic.
#[derive(Debug, Clone)]
pub struct LatencyLimit {
    statistic: String,
    comparison: Comparison,
}

impl LatencyLimit {
    /// Compiles `p95: "< 250ms"`.
    pub fn compile(statistic: &str, comparison: &str) -> Result<Self, String> {
        if Percentiles::default().get(statistic).is_none() {
            return Err(format!("latency.{statistic}: expected one of p50, p90, p95, p99, p999, min, max, mean"));
        }
        let comparison = Comparison::parse_as(comparison, &[Unit::Millis], &format!("latency.{statistic}"))?;
        Ok(Self { statistic: statistic.to_owned(), comparison })
    }

    /// In words.
    pub fn describe(&self) -> String {
        format!("latency {} {}", self.statistic, self.comparison)
    }

    /// The statistic (corrected when available) against the limit.
    pub fn evaluate(&self, observed: &Observed<'_>) -> Outcome {
        let stats = observed.stats;
        if stats.requests == 0 {
            return Outcome::no_samples();
        }
        let raw = stats.latency.get(&self.statistic).unwrap_or(f64::NAN);
        match stats.latency_corrected.as_ref().and_then(|c| c.get(&self.statistic)) {
            Some(corrected) => {
                Outcome::new(self.comparison.holds(corrected), format!("{corrected:.3}ms corrected ({raw:.3}ms raw)"))
            }
            None => Outcome::new(self.comparison.holds(raw), format!("{raw:.3}ms")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Expectation;
    use crate::checks::test_support::{evaluate, stats};

    #[test]
    fn passes_under_and_fails_over_the_limit() {
        let mut s = stats(&[200; 10]);
        s.latency.p95 = 12.5;
        let under = Expectation::Latency(LatencyLimit::compile("p95", "< 20ms").unwrap());
        let over = Expectation::Latency(LatencyLimit::compile("p95", "< 10ms").unwrap());
        assert!(evaluate(&under, &s).passed);
        assert!(!evaluate(&over, &s).passed);
    }

    #[test]
    fn corrected_values_take_precedence() {
        let mut s = stats(&[200; 10]);
        s.latency.p99 = 1.0;
        s.latency_corrected = Some(Percentiles { p99: 900.0, ..Percentiles::default() });
        let check = Expectation::Latency(LatencyLimit::compile("p99", "< 100ms").unwrap());
        assert!(!evaluate(&check, &s).passed);
    }

    #[test]
    fn unknown_statistics_are_rejected() {
        assert!(LatencyLimit::compile("p42", "< 1ms").is_err());
        assert!(LatencyLimit::compile("p95", ">= 99%").is_err());
    }
}
