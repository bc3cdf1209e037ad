//! `cache: {sequence: [MISS, HIT]}` or `cache: {hit_ratio: ">= 90%"}`: the `X-Cache` header of
//! the phase's responses, in send order. A response without the header fails the check.

use serde::Deserialize;

use crate::checks::{Observed, Outcome};
use crate::comparison::{Comparison, Unit};

/// The YAML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSpec {
    /// The first responses' `X-Cache` values, in order (default `[MISS, HIT]`).
    pub sequence: Option<Vec<String>>,
    /// Share of `HIT` over the whole phase.
    pub hit_ratio: Option<String>,
}

/// The compiled check.
#[derive(Debug, Clone)]
pub struct Cache {
    sequence: Vec<String>,
    hit_ratio: Option<Comparison>,
}

impl Cache {
    /// Compiles the spec.
    pub fn compile(spec: &CacheSpec) -> Result<Self, String> {
        let hit_ratio = spec
            .hit_ratio
            .as_deref()
            .map(|c| Comparison::parse_as(c, &[Unit::Ratio], "cache.hit_ratio"))
            .transpose()?;
        let sequence = match (&spec.sequence, &hit_ratio) {
            (Some(sequence), _) => sequence.clone(),
            (None, Some(_)) => Vec::new(),
            (None, None) => vec!["MISS".into(), "HIT".into()],
        };
        if let Some(bad) = sequence.iter().find(|s| *s != "HIT" && *s != "MISS") {
            return Err(format!("cache.sequence: {bad:?} is not HIT or MISS"));
        }
        Ok(Self { sequence, hit_ratio })
    }

    /// In words.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.sequence.is_empty() {
            parts.push(format!("X-Cache starts {}", self.sequence.join(", ")));
        }
        if let Some(ratio) = &self.hit_ratio {
            parts.push(format!("hit ratio {ratio}"));
        }
        parts.join("; ")
    }

    /// Compares the observed header sequence and hit share.
    pub fn evaluate(&self, observed: &Observed<'_>) -> Outcome {
        let samples = match observed.stats.every_sample() {
            Ok(samples) => samples,
            Err(reason) => return Outcome::new(false, reason),
        };
        let seen: Vec<&str> = samples.iter().map(|s| s.x_cache.as_deref().unwrap_or("none")).collect();
        let head = seen.iter().take(self.sequence.len().max(4)).copied().collect::<Vec<_>>().join(", ");
        let hits = seen.iter().filter(|s| **s == "HIT").count();
        let ratio = hits as f64 / seen.len() as f64;
        let sequence_ok =
            seen.len() >= self.sequence.len() && self.sequence.iter().zip(&seen).all(|(want, got)| want == got);
        let ratio_ok = self.hit_ratio.is_none_or(|c| c.holds(ratio));
        let every_response_labelled = !seen.contains(&"none");
        Outcome::new(
            sequence_ok && ratio_ok && every_response_labelled,
            format!("X-Cache {head}; hits {:.1}% ({hits}/{})", ratio * 100.0, seen.len()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Expectation;
    use crate::checks::test_support::{evaluate, stats};

    fn with_cache(values: &[&str]) -> crate::measure::PhaseStats {
        let mut s = stats(&vec![200; values.len()]);
        for (sample, value) in s.samples.iter_mut().zip(values) {
            sample.x_cache = (!value.is_empty()).then(|| value.to_string());
        }
        s
    }

    fn check(spec: CacheSpec) -> Expectation {
        Expectation::Cache(Cache::compile(&spec).unwrap())
    }

    #[test]
    fn miss_then_hit_passes_and_anything_else_fails() {
        let default = || check(CacheSpec { sequence: None, hit_ratio: None });
        assert!(evaluate(&default(), &with_cache(&["MISS", "HIT", "HIT"])).passed);
        assert!(!evaluate(&default(), &with_cache(&["MISS", "MISS"])).passed);
        assert!(!evaluate(&default(), &with_cache(&["MISS", "HIT", ""])).passed, "an unlabelled response fails");
    }

    #[test]
    fn hit_ratio_is_compared() {
        let spec = CacheSpec { sequence: None, hit_ratio: Some(">= 75%".into()) };
        assert!(evaluate(&check(spec.clone()), &with_cache(&["MISS", "HIT", "HIT", "HIT"])).passed);
        assert!(!evaluate(&check(spec), &with_cache(&["MISS", "MISS", "HIT", "HIT"])).passed);
    }
}
