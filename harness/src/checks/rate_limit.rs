//! `rate_limit: {allowed: 100}`: in send order, the first N responses pass, then every later
//! one is a 429 carrying `Retry-After`. Run it with one user so the order is the send order.

use serde::Deserialize;

use crate::checks::{Observed, Outcome};

/// The YAML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Requests allowed before the limit bites.
    pub allowed: u64,
    /// Whether 429s must carry `Retry-After` (default true).
    #[serde(default = "yes")]
    pub retry_after: bool,
}

fn yes() -> bool {
    true
}

/// The compiled check.
#[derive(Debug, Clone)]
pub struct RateLimit {
    spec: RateLimitSpec,
}

impl RateLimit {
    /// Compiles the spec.
    pub fn compile(spec: &RateLimitSpec) -> Result<Self, String> {
        if spec.allowed == 0 {
            return Err("rate_limit.allowed must be at least 1".into());
        }
        Ok(Self { spec: spec.clone() })
    }

    /// In words.
    pub fn describe(&self) -> String {
        format!(
            "first {} allowed, then 429{}",
            self.spec.allowed,
            if self.spec.retry_after { " with Retry-After" } else { "" }
        )
    }

    /// Walks the ordered responses.
    pub fn evaluate(&self, observed: &Observed<'_>) -> Outcome {
        let samples = match observed.stats.every_sample() {
            Ok(samples) => samples,
            Err(reason) => return Outcome::new(false, reason),
        };
        let allowed = self.spec.allowed as usize;
        if samples.len() <= allowed {
            return Outcome::new(false, format!("only {} responses: the limit was never reached", samples.len()));
        }
        let passed_first = samples[..allowed].iter().take_while(|s| (200..400).contains(&s.status)).count();
        if passed_first < allowed {
            return Outcome::new(
                false,
                format!("response {} was {} before the limit", passed_first + 1, samples[passed_first].status),
            );
        }
        let rest = &samples[allowed..];
        match rest.iter().position(|s| s.status != 429 || (self.spec.retry_after && !s.retry_after)) {
            Some(i) => Outcome::new(
                false,
                format!(
                    "{allowed} allowed, then response {} was {}{}",
                    allowed + i + 1,
                    rest[i].status,
                    if rest[i].status == 429 { " without Retry-After" } else { "" }
                ),
            ),
            None => Outcome::new(true, format!("{allowed} allowed, then {} × 429", rest.len())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Expectation;
    use crate::checks::test_support::{evaluate, stats};

    fn check(allowed: u64) -> Expectation {
        Expectation::RateLimit(RateLimit::compile(&RateLimitSpec { allowed, retry_after: true }).unwrap())
    }

    #[test]
    fn passes_on_exactly_n_then_429() {
        assert!(evaluate(&check(3), &stats(&[200, 200, 200, 429, 429])).passed);
    }

    #[test]
    fn fails_early_late_or_never() {
        assert!(!evaluate(&check(3), &stats(&[200, 200, 429, 429])).passed, "limited too early");
        assert!(!evaluate(&check(3), &stats(&[200, 200, 200, 200, 429])).passed, "limited too late");
        assert!(!evaluate(&check(3), &stats(&[200, 200, 200])).passed, "never limited");
        let mut s = stats(&[200, 429]);
        s.samples[1].retry_after = false;
        assert!(!evaluate(&check(1), &s).passed, "429 without Retry-After");
    }
}
