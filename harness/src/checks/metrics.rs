//! `metrics: [{name: circuit_breaker_opened_total, labels: {service: postgres}, delta: ">= 1"}]`:
//! the change of a Prometheus series between the scrapes before and after the phase. A metric
//! that never appears fails; it is never read as zero.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::checks::{Observed, Outcome};
use crate::comparison::{Comparison, Unit};

/// The YAML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    /// Metric name.
    pub name: String,
    /// Labels the series must carry (others are summed over).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Comparison on after − before.
    pub delta: String,
}

/// The compiled check.
#[derive(Debug, Clone)]
pub struct MetricDelta {
    name: String,
    labels: BTreeMap<String, String>,
    delta: Comparison,
}

impl MetricDelta {
    /// Compiles the spec.
    pub fn compile(spec: &MetricSpec) -> Result<Self, String> {
        if spec.name.is_empty() || !spec.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            return Err(format!("metrics: {:?} is not a Prometheus metric name", spec.name));
        }
        let delta = Comparison::parse_as(&spec.delta, &[Unit::Count], &format!("metrics.{}.delta", spec.name))?;
        Ok(Self { name: spec.name.clone(), labels: spec.labels.clone(), delta })
    }

    fn series(&self) -> String {
        let labels: Vec<String> = self.labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }

    /// In words.
    pub fn describe(&self) -> String {
        format!("{} delta {}", self.series(), self.delta)
    }

    /// after − before against the comparison.
    pub fn evaluate(&self, observed: &Observed<'_>) -> Outcome {
        let (Some(before), Some(after)) = (observed.metrics_before, observed.metrics_after) else {
            return Outcome::new(false, "no /metrics scrape from the target");
        };
        let Some(end) = after.sum(&self.name, &self.labels) else {
            return Outcome::new(false, format!("{} never appeared", self.series()));
        };
        let start = before.sum(&self.name, &self.labels).unwrap_or(0.0);
        let delta = end - start;
        Outcome::new(self.delta.holds(delta), format!("{start} → {end} (delta {delta})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::test_support::stats;
    use crate::prometheus::MetricSet;

    fn run(delta: &str, before: &str, after: &str) -> Outcome {
        let spec = MetricSpec {
            name: "x_total".into(),
            labels: [("service".to_owned(), "a".to_owned())].into(),
            delta: delta.into(),
        };
        let (before, after) = (MetricSet::parse(before), MetricSet::parse(after));
        let (s, states, earlier) = (stats(&[200]), BTreeMap::new(), BTreeMap::new());
        MetricDelta::compile(&spec).unwrap().evaluate(&Observed {
            stats: &s,
            metrics_before: Some(&before),
            metrics_after: Some(&after),
            breaker_states: &states,
            earlier: &earlier,
            since_fault_cleared: None,
            readings: &BTreeMap::new(),
        })
    }

    #[test]
    fn delta_passes_and_fails() {
        assert!(run(">= 1", "x_total{service=\"a\"} 2", "x_total{service=\"a\"} 3").passed);
        assert!(!run(">= 1", "x_total{service=\"a\"} 3", "x_total{service=\"a\"} 3").passed);
    }

    #[test]
    fn missing_metric_fails_even_for_a_zero_delta() {
        assert!(!run("== 0", "", "other_total 1").passed);
    }
}
