//! `breaker: {service: postgres, state: open, transitions: [open, half_open, closed]}`: the
//! breaker's final state from `circuit_breaker_state`, and its transitions during the phase,
//! checked in order against the state polled every 100 ms (plus the
//! `circuit_breaker_{opened,half_open,closed}_total` counter deltas).
//!
//! A poll can miss a short state: half-open lasts one probe. Between two polled states the
//! breaker can only have taken its legal path (closed → open → half_open → closed, or
//! half_open → open), so a polled `open → closed` means `open → half_open → closed`. The wanted
//! transitions must appear, in order, in that path; and each counter must have risen at least as
//! often as its state is wanted, so a transition the polls missed entirely still needs the
//! target's own count.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::checks::{Observed, Outcome};
use crate::prometheus::MetricSet;

/// A breaker state, as `circuit_breaker_state` encodes it (0, 1, 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls fail fast.
    Open,
    /// One probe call is let through.
    HalfOpen,
}

impl BreakerState {
    /// The state a gauge value encodes, if any.
    pub fn from_gauge(value: f64) -> Option<Self> {
        match value as i64 {
            0 => Some(Self::Closed),
            1 => Some(Self::Open),
            2 => Some(Self::HalfOpen),
            _ => None,
        }
    }

    /// The YAML name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [Self::Closed, Self::Open, Self::HalfOpen].into_iter().find(|s| s.name() == name)
    }

    /// The state a breaker in this state moves to next on its own path (from half-open,
    /// closing is the success path; reopening is the other legal move).
    fn next(self) -> Self {
        match self {
            Self::Closed => Self::Open,
            Self::Open => Self::HalfOpen,
            Self::HalfOpen => Self::Closed,
        }
    }
}

/// A polled state change: the state at the phase's start, then every change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateChange {
    /// Seconds from the start of the run.
    pub at_s: f64,
    /// The state from then on.
    pub state: BreakerState,
}

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
    state: Option<BreakerState>,
    transitions: Vec<BreakerState>,
}

impl Breaker {
    /// Compiles the spec, rejecting unknown state names.
    pub fn compile(spec: &BreakerSpec) -> Result<Self, String> {
        let parse = |name: &String| {
            BreakerState::parse(name).ok_or_else(|| format!("breaker: {name:?} is not one of closed, open, half_open"))
        };
        let state = spec.state.as_ref().map(parse).transpose()?;
        let transitions = spec.transitions.iter().map(parse).collect::<Result<Vec<_>, _>>()?;
        if state.is_none() && transitions.is_empty() {
            return Err("breaker: give a state, transitions, or both".into());
        }
        Ok(Self { service: spec.service.clone(), state, transitions })
    }

    /// In words.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(state) = self.state {
            parts.push(format!("ends {}", state.name()));
        }
        if !self.transitions.is_empty() {
            let names: Vec<&str> = self.transitions.iter().map(|s| s.name()).collect();
            parts.push(format!("transitions {} in order", names.join(" → ")));
        }
        format!("{} breaker {}", self.service, parts.join(", "))
    }

    /// Reads the final state and counter deltas from the scrapes and the order from the polled
    /// timeline; a missing metric or an empty timeline fails.
    pub fn evaluate(&self, observed: &Observed<'_>) -> Outcome {
        let (Some(before), Some(after)) = (observed.metrics_before, observed.metrics_after) else {
            return Outcome::new(false, "no /metrics scrape from the target");
        };
        let labels: BTreeMap<String, String> = [("service".to_owned(), self.service.clone())].into();
        let Some(state) = after.sum("circuit_breaker_state", &labels).and_then(BreakerState::from_gauge) else {
            return Outcome::new(
                false,
                format!("circuit_breaker_state{{service=\"{}\"}} never appeared", self.service),
            );
        };
        let delta = |suffix: &str| counter_delta(before, after, &format!("circuit_breaker_{suffix}_total"), &labels);
        let deltas = [
            (BreakerState::Open, delta("opened")),
            (BreakerState::HalfOpen, delta("half_open")),
            (BreakerState::Closed, delta("closed")),
        ];
        let polled: Vec<BreakerState> = observed
            .breaker_states
            .get(&self.service)
            .map(|changes| changes.iter().map(|c| c.state).collect())
            .unwrap_or_default();
        let path = legal_path(&polled);
        let names: Vec<&str> = polled.iter().map(|s| s.name()).collect();
        let measured = format!(
            "state {}; polled {}; opened +{}, half_open +{}, closed +{}",
            state.name(),
            if names.is_empty() { "nothing".to_owned() } else { names.join(" → ") },
            deltas[0].1,
            deltas[1].1,
            deltas[2].1,
        );
        let state_ok = self.state.is_none_or(|want| want == state);
        let counted = deltas.iter().all(|(wanted_state, happened)| {
            *happened >= self.transitions.iter().filter(|t| *t == wanted_state).count() as f64
        });
        let in_order = self.transitions.is_empty() || (!polled.is_empty() && is_subsequence(&self.transitions, &path));
        Outcome::new(state_ok && counted && in_order, measured)
    }
}

/// The states entered along the polled timeline, with the states a poll missed filled in along
/// the breaker's own path (the first polled state is where the phase started, not a transition).
fn legal_path(polled: &[BreakerState]) -> Vec<BreakerState> {
    let mut path = Vec::new();
    for pair in polled.windows(2) {
        let (mut at, to) = (pair[0], pair[1]);
        // half_open → open is legal directly; anything else walks the cycle.
        while at != to && !(at == BreakerState::HalfOpen && to == BreakerState::Open) {
            at = at.next();
            if at != to {
                path.push(at);
            }
        }
        path.push(to);
    }
    path
}

fn is_subsequence(wanted: &[BreakerState], path: &[BreakerState]) -> bool {
    let mut path = path.iter();
    wanted.iter().all(|w| path.any(|p| p == w))
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

    fn polled(states: &[BreakerState]) -> BTreeMap<String, Vec<StateChange>> {
        let changes = states.iter().enumerate().map(|(i, s)| StateChange { at_s: i as f64, state: *s }).collect();
        [("postgres".to_owned(), changes)].into()
    }

    fn run(spec: BreakerSpec, before: &MetricSet, after: &MetricSet) -> Outcome {
        use BreakerState::*;
        run_polled(spec, before, after, &polled(&[Closed, Open, HalfOpen, Closed]))
    }

    fn run_polled(
        spec: BreakerSpec,
        before: &MetricSet,
        after: &MetricSet,
        states: &BTreeMap<String, Vec<StateChange>>,
    ) -> Outcome {
        let stats = stats(&[200]);
        let earlier = BTreeMap::new();
        Breaker::compile(&spec).unwrap().evaluate(&Observed {
            stats: &stats,
            metrics_before: Some(before),
            metrics_after: Some(after),
            breaker_states: states,
            earlier: &earlier,
            since_fault_cleared: None,
            readings: &BTreeMap::new(),
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
    fn transitions_are_checked_in_polled_order_with_missed_states_filled_in() {
        use BreakerState::*;
        let want = || spec(None, &["open", "half_open", "closed"]);
        let (before, after) = (scrape(0, 0, 0, 0), scrape(0, 1, 1, 1));
        // The half-open probe fell between two polls: open → closed implies it.
        assert!(run_polled(want(), &before, &after, &polled(&[Closed, Open, Closed])).passed);
        // Counters say it all happened, but the polls saw the breaker close before it opened.
        let reversed = spec(None, &["closed", "open"]);
        let outcome = run_polled(reversed, &before, &scrape(1, 1, 1, 1), &polled(&[HalfOpen, Closed, Open]));
        assert!(outcome.passed, "half_open → closed → open holds closed, open in order: {outcome:?}");
        let outcome = run_polled(spec(None, &["closed", "half_open"]), &before, &after, &polled(&[Open, Closed]));
        assert!(!outcome.passed, "closed came after half_open, not before: {outcome:?}");
        // No polled timeline is no evidence of order.
        assert!(!run_polled(want(), &before, &after, &BTreeMap::new()).passed);
        assert_eq!(legal_path(&[Closed, HalfOpen]), [Open, HalfOpen]);
        assert_eq!(legal_path(&[HalfOpen, Open]), [Open]);
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
