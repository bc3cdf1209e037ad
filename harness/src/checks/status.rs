//! `status: {200: ">= 99%", 5xx: "< 1%", 200|503: "== 100%"}`: the share of responses with a
//! status or class, or with any of several.

use crate::checks::{Observed, Outcome};
use crate::comparison::{Comparison, Unit};

/// Share of responses matching a status code or class.
#[derive(Debug, Clone)]
pub struct StatusShare {
    key: String,
    comparison: Comparison,
}

impl StatusShare {
    /// Compiles `key: comparison`; the key is a code (`503`), a class (`5xx`) or several joined
    /// by `|`, the value a share.
    pub fn compile(key: &str, comparison: &str) -> Result<Self, String> {
        for part in key.split('|') {
            let valid_code = part.parse::<u16>().is_ok_and(|c| (100..600).contains(&c));
            let valid_class =
                part.len() == 3 && part.ends_with("xx") && ('1'..='5').contains(&part.chars().next().unwrap_or('0'));
            if !valid_code && !valid_class {
                return Err(format!("status key {key:?} must be a code like 200, a class like 5xx, or 200|503"));
            }
        }
        let comparison = Comparison::parse_as(comparison, &[Unit::Ratio], &format!("status.{key}"))?;
        Ok(Self { key: key.to_owned(), comparison })
    }

    fn matches(&self, status: u16) -> bool {
        self.key.split('|').any(|part| match part.strip_suffix("xx") {
            Some(class) => status / 100 == class.parse::<u16>().unwrap_or(0),
            None => part.parse() == Ok(status),
        })
    }

    /// In words.
    pub fn describe(&self) -> String {
        format!("status {} share {}", self.key, self.comparison)
    }

    /// Share of matching responses against the comparison.
    pub fn evaluate(&self, observed: &Observed<'_>) -> Outcome {
        let stats = observed.stats;
        if stats.requests == 0 {
            return Outcome::no_samples();
        }
        let matching: u64 = stats.status_counts.iter().filter(|(s, _)| self.matches(**s)).map(|(_, n)| n).sum();
        let share = matching as f64 / stats.requests as f64;
        Outcome::new(self.comparison.holds(share), format!("{:.2}% ({matching}/{})", share * 100.0, stats.requests))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Expectation;
    use crate::checks::test_support::{evaluate, stats};

    fn check(key: &str, comparison: &str) -> Expectation {
        Expectation::Status(StatusShare::compile(key, comparison).unwrap())
    }

    #[test]
    fn passes_and_fails_on_the_share() {
        let s = stats(&[200, 200, 200, 503]);
        assert!(evaluate(&check("200", ">= 75%"), &s).passed);
        assert!(!evaluate(&check("200", ">= 99%"), &s).passed);
        assert!(evaluate(&check("5xx", "<= 25%"), &s).passed);
        assert!(!evaluate(&check("5xx", "< 25%"), &s).passed);
        assert!(evaluate(&check("200|503", "== 100%"), &stats(&[200, 503, 503])).passed);
        assert!(!evaluate(&check("200|503", "== 100%"), &stats(&[200, 503, 500])).passed);
    }

    #[test]
    fn zero_samples_fail_closed_and_bad_keys_are_rejected() {
        assert!(!evaluate(&check("200", ">= 0%"), &stats(&[])).passed);
        assert!(StatusShare::compile("ok", ">= 1%").is_err());
        assert!(StatusShare::compile("200|", ">= 1%").is_err());
        assert!(StatusShare::compile("200", "< 250ms").is_err());
    }
}
