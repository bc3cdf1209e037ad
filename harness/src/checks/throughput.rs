//! `throughput: ">= 100/s"`: responses per second over the phase.

use crate::checks::{Observed, Outcome};
use crate::comparison::{Comparison, Unit};

/// A limit on achieved throughput.
#[derive(Debug, Clone)]
pub struct Throughput {
    comparison: Comparison,
}

impl Throughput {
    /// Compiles `">= 100/s"` (a bare number means per second too).
    pub fn compile(comparison: &str) -> Result<Self, String> {
        Ok(Self { comparison: Comparison::parse_as(comparison, &[Unit::PerSecond, Unit::Count], "throughput")? })
    }

    /// In words.
    pub fn describe(&self) -> String {
        format!("throughput {}", self.comparison)
    }

    /// Responses per second against the limit.
    pub fn evaluate(&self, observed: &Observed<'_>) -> Outcome {
        if observed.stats.requests == 0 {
            return Outcome::no_samples();
        }
        let rate = observed.stats.throughput();
        Outcome::new(self.comparison.holds(rate), format!("{rate:.1}/s"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Expectation;
    use crate::checks::test_support::{evaluate, stats};

    #[test]
    fn compares_responses_per_second() {
        let s = stats(&[200; 50]);
        assert!(evaluate(&Expectation::Throughput(Throughput::compile(">= 50/s").unwrap()), &s).passed);
        assert!(!evaluate(&Expectation::Throughput(Throughput::compile("> 50/s").unwrap()), &s).passed);
    }
}
