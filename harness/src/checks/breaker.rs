//! `breaker: {service: postgres, state: open, transitions: [open, half_open, closed]}`: the
//! breaker's final state from `circuit_breaker_state`, and its transitions during the phase
//! from the `circuit_breaker_{opened,half_open,closed}_total` counter deltas.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::checks::{Observed, Outcome};
use crate::prometheus::MetricSet;

const STATES: [&str; 3] = ["closed", "open", "half_open"];

/// The YAML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerSpec {
    /// The dependency whose breaker is checked.
    pub service: String,
    /// State at the end of the phase.
    pub state: Option<String>,
    /// Transitions that must have happened during the phase, in order.
    #[serde(default)]
    pub transitions: Vec<String>,
}

/// The compiled check.
#[derive(Debug, Clone)]
pub struct Breaker {
    /// The dependency.
    pub service: String,
    state: Option<String>,
    transitions: Vec<String>,
}

impl Breaker {
    /// Compiles the spec, rejecting unknown state names.
    pub fn compile(spec: &BreakerSpec) -> Result<Self, String> {
        for state in spec.state.iter().chain(&spec.transitions) {
            if !STATES.contains(&state.as_str()) {
                return Err(format!("breaker: {state:?} is not one of {}", STATES.join(", ")));
            }
        }
        if spec.state.is_none() && spec.transitions.is_empty() {
            return Err("breaker: give a state, transitions, or both".into());
        }
        Ok(Self { service: spec.service.clone(), state: spec.state.clone(), transitions: spec.transitions.clone() })
    }

    /// In words.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(state) = &self.state {
            parts.push(format!("ends {state}"));
        }
        if !self.transitions.is_empty() {
            parts.push(format!("transitions {}", self.transitions.join(" → ")));
        }
        format!("{} breaker {}", self.service, parts.join(", "))
    }

    /// Reads state and counter deltas from the scrapes; a missing metric fails.
    pub fn evaluate(&self, observed: &Observed<'_>) -> Outcome {
        let (Some(before), Some(after)) = (observed.metrics_before, observed.metrics_after) else {
            return Outcome::new(false, "no /metrics scrape from the target");
        };
        let labels: BTreeMap<String, String> = [("service".to_owned(), self.service.clone())].into();
        let Some(gauge) = after.sum("circuit_breaker_state", &labels) else {
            return Outcome::new(
                false,
                format!("circuit_breaker_state{{service=\"{}\"}} never appeared", self.service),
            );
        };
        let state = match gauge as i64 {
            0 => "closed",
            1 => "open",
            _ => "half_open",
        };
        let delta = |suffix: &str| counter_delta(before, after, &format!("circuit_breaker_{suffix}_total"), &labels);
        let deltas = [("open", delta("opened")), ("half_open", delta("half_open")), ("closed", delta("closed"))];
        let polled = observed.breaker_states.get(&self.service).map(|s| s.join(" → ")).unwrap_or_default();
        let measured = format!(
            "state {state}; opened +{}, half_open +{}, closed +{}{}",
            deltas[0].1,
            deltas[1].1,
            deltas[2].1,
            if polled.is_empty() { String::new() } else { format!("; polled {polled}") }
        );
        let state_ok = self.state.as_deref().is_none_or(|want| want == state);
        let transitions_ok = deltas.iter().all(|(name, happened)| {
            let wanted = self.transitions.iter().filter(|t| t == name).count() as f64;
            *happened >= wanted
        });
        Outcome::new(state_ok && transitions_ok, measured)
    }
}

fn counter_delta(before: &MetricSet, after: &MetricSet, name: &str, labels: &BTreeMap<String, String>) -> f64 {
    after.sum(name, labels).unwrap_or(0.0) - before.sum(name, labels).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::test_support::stats;

    fn scrape(state: u8, opened: u8, half: u8, closed: u8) -> MetricSet {
        MetricSet::parse(&format!(
            "circuit_breaker_state{{service=\"postgres\"}} {state}\n\
             circuit_breaker_opened_total{{service=\"postgres\"}} {opened}\n\
             circuit_breaker_half_open_total{{service=\"postgres\"}} {half}\n\
             circuit_breaker_closed_total{{service=\"postgres\"}} {closed}\n"
        ))
    }

    fn run(spec: BreakerSpec, before: &MetricSet, after: &MetricSet) -> Outcome {
        let stats = stats(&[200]);
        let (states, earlier) = (BTreeMap::new(), BTreeMap::new());
        Breaker::compile(&spec).unwrap().evaluate(&Observed {
            stats: &stats,
            metrics_before: Some(before),
            metrics_after: Some(after),
            breaker_states: &states,
            earlier: &earlier,
            since_fault_cleared: None,
        })
    }

    fn spec(state: Option<&str>, transitions: &[&str]) -> BreakerSpec {
        BreakerSpec {
            service: "postgres".into(),
            state: state.map(str::to_owned),
            transitions: transitions.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn state_and_transitions_pass_when_they_happened() {
        let outcome =
            run(spec(Some("closed"), &["open", "half_open", "closed"]), &scrape(0, 0, 0, 0), &scrape(0, 1, 1, 1));
        assert!(outcome.passed, "{outcome:?}");
    }

    #[test]
    fn wrong_state_or_missing_transition_fails() {
        assert!(!run(spec(Some("open"), &[]), &scrape(0, 0, 0, 0), &scrape(0, 0, 0, 0)).passed);
        assert!(
            !run(spec(None, &["open"]), &scrape(1, 1, 0, 0), &scrape(1, 1, 0, 0)).passed,
            "opened before the phase"
        );
    }

    #[test]
    fn missing_metric_fails_closed() {
        let empty = MetricSet::default();
        assert!(!run(spec(Some("closed"), &[]), &empty, &empty).passed);
        let mut other = spec(Some("closed"), &[]);
        other.service = "oracle".into();
        assert!(!run(other, &scrape(0, 0, 0, 0), &scrape(0, 0, 0, 0)).passed);
    }
}
