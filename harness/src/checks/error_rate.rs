//! `error_rate: "< 1%"`: the share of transport failures and statuses >= 400.

use crate::checks::{Observed, Outcome};
use crate::comparison::{Comparison, Unit};

/// A limit on the phase's error share.
#[derive(Debug, Clone)]
pub struct ErrorRate {
    comparison: Comparison,
}

impl ErrorRate {
    /// Compiles `"< 1%"`.
    pub fn compile(comparison: &str) -> Result<Self, String> {
        Ok(Self { comparison: Comparison::parse_as(comparison, &[Unit::Ratio], "error_rate")? })
    }

    /// In words.
    pub fn describe(&self) -> String {
        format!("error rate {}", self.comparison)
    }

    /// The error share against the limit.
    pub fn evaluate(&self, observed: &Observed<'_>) -> Outcome {
        let stats = observed.stats;
        if stats.requests == 0 {
            return Outcome::no_samples();
        }
        let rate = stats.error_rate();
        Outcome::new(self.comparison.holds(rate), format!("{:.2}% ({}/{})", rate * 100.0, stats.errors, stats.requests))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Expectation;
    use crate::checks::test_support::{evaluate, stats};

    #[test]
    fn counts_4xx_5xx_and_transport_failures() {
        let s = stats(&[200, 200, 429, 0]);
        assert!(evaluate(&Expectation::ErrorRate(ErrorRate::compile("<= 50%").unwrap()), &s).passed);
        assert!(!evaluate(&Expectation::ErrorRate(ErrorRate::compile("< 50%").unwrap()), &s).passed);
    }
}
