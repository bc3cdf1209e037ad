//! `state: [{path: /api/inventory/${product_id}, json: /available, equals: 0}]`: what the
//! target reports through its API once the phase's load is over (before its `after` actions,
//! so a fault the phase injected is still in place) — a value (`equals`), or the count of
//! the phase's responses with a status (`equals_responses: 201`: one stored order per 201).
//! Paths and headers may use the run's captures (an admin token, a product id). With
//! `within: 10s` the value is read again until it holds or the time is up, for effects that
//! arrive late (a queue consumer catching up). An answer that is not 2xx JSON, or has nothing at
//! the pointer, fails and is described by kind, never quoted.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::checks::reading::{Moment, Reading, Settle, answer, same};
use crate::checks::{Observed, Outcome};
use crate::duration::parse_duration;
use crate::measure::PhaseStats;

/// The YAML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSpec {
    /// Path on the target to GET (`${name}`s are the run's captures).
    pub path: String,
    /// Headers to send, e.g. `authorization: Bearer ${admin_token}`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON pointer to the value.
    pub json: String,
    /// The value it must have.
    pub equals: Option<Value>,
    /// It must equal the number of the phase's (or the scoped request's) responses with this
    /// status.
    pub equals_responses: Option<u16>,
    /// Keep reading until it holds, for up to this long (default: one read).
    pub within: Option<String>,
}

/// The compiled check.
#[derive(Debug, Clone)]
pub struct State {
    /// The spec.
    pub spec: StateSpec,
    /// How long to keep reading.
    pub within: Duration,
}

impl State {
    /// Compiles the spec: a path, a pointer, and exactly one of `equals` and `equals_responses`.
    pub fn compile(spec: &StateSpec) -> Result<Self, String> {
        super::reading::check_reading("state", &spec.path, &spec.json)?;
        if spec.equals.is_some() == spec.equals_responses.is_some() {
            return Err("state: give exactly one of equals and equals_responses".into());
        }
        let within =
            spec.within.as_deref().map(parse_duration).transpose().map_err(|e| format!("state.within: {e}"))?;
        Ok(Self { spec: spec.clone(), within: within.unwrap_or_default() })
    }

    /// Where its reading is kept.
    pub fn key(&self) -> String {
        format!("{}#{}", self.spec.path, self.spec.json)
    }

    /// What it reads: its path when the load is over, again until it holds or `within` is up.
    pub fn reading(&self, stats: &PhaseStats) -> Reading {
        Reading {
            key: self.key(),
            at: Moment::AfterLoad,
            path: self.spec.path.clone(),
            headers: self.spec.headers.clone(),
            settle: Some(Settle { pointer: self.spec.json.clone(), wanted: self.wanted(stats), within: self.within }),
        }
    }

    /// The value it must have after a phase with `stats`.
    pub fn wanted(&self, stats: &PhaseStats) -> Value {
        match (&self.spec.equals, self.spec.equals_responses) {
            (Some(value), _) => value.clone(),
            (None, Some(status)) => Value::from(stats.status_counts.get(&status).copied().unwrap_or(0)),
            (None, None) => Value::Null,
        }
    }

    /// The value at the pointer of one answer, or what was there by kind.
    pub fn read(&self, answer: &Value) -> Result<Value, String> {
        match answer.pointer(&self.spec.json) {
            Some(Value::Null) | None => Err(format!("{} has nothing at {}", self.spec.path, self.spec.json)),
            Some(value) => Ok(value.clone()),
        }
    }

    /// In words.
    pub fn describe(&self) -> String {
        let wanted = match (&self.spec.equals, self.spec.equals_responses) {
            (Some(value), _) => value.to_string(),
            (None, Some(status)) => format!("the number of {status} responses"),
            (None, None) => "?".into(),
        };
        format!("{} {} equals {wanted}", self.spec.path, self.spec.json)
    }

    /// The reading against what the phase wants.
    pub fn evaluate(&self, observed: &Observed<'_>) -> Outcome {
        if observed.stats.requests == 0 {
            return Outcome::no_samples();
        }
        let wanted = self.wanted(observed.stats);
        match answer(observed.readings, Moment::AfterLoad, &self.key()).and_then(|answer| self.read(answer)) {
            Ok(value) => Outcome::new(same(&value, &wanted), format!("{value} (wanted {wanted})")),
            Err(why) => Outcome::new(false, why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::reading::Readings;
    use crate::checks::test_support::stats;
    use serde_json::json;

    fn state(yaml: &str) -> Result<State, String> {
        State::compile(&serde_yaml::from_str(yaml).unwrap())
    }

    /// Evaluates `state` with `answer` as what its path answered (`None`: not read).
    fn evaluate(state: &State, answer: Option<Result<Value, String>>, statuses: &[u16]) -> Outcome {
        let readings: Readings = answer.into_iter().map(|r| ((Moment::AfterLoad, state.key()), r)).collect();
        let (stats, empty, earlier) = (stats(statuses), BTreeMap::new(), BTreeMap::new());
        state.evaluate(&Observed {
            stats: &stats,
            metrics_before: None,
            metrics_after: None,
            breaker_states: &empty,
            earlier: &earlier,
            since_fault_cleared: None,
            readings: &readings,
        })
    }

    #[test]
    fn a_value_or_a_count_of_responses_must_match_exactly() {
        let stock = state("{path: /stock, json: /available, equals: 0}").unwrap();
        assert!(evaluate(&stock, Some(Ok(json!({"available": 0.0}))), &[201]).passed);
        let oversold = evaluate(&stock, Some(Ok(json!({"available": -3}))), &[201]);
        assert!(!oversold.passed && oversold.measured.contains("-3"), "{}", oversold.measured);
        let orders = state("{path: /stats, json: /orders, equals_responses: 201}").unwrap();
        assert!(evaluate(&orders, Some(Ok(json!({"orders": 2}))), &[201, 409, 201]).passed);
        assert!(!evaluate(&orders, Some(Ok(json!({"orders": 3}))), &[201, 409, 201]).passed, "one too many");
    }

    #[test]
    fn no_reading_no_samples_or_a_bad_spec_never_pass() {
        let stock = state("{path: /stock, json: /available, equals: 0}").unwrap();
        assert!(!evaluate(&stock, None, &[201]).passed);
        assert!(!evaluate(&stock, Some(Err("GET /stock answered 503".into())), &[201]).passed);
        assert!(!evaluate(&stock, Some(Ok(json!({"available": 0}))), &[]).passed);
        let missing = stock.read(&serde_json::json!({"secret": "s3cr3t"})).unwrap_err();
        assert!(!missing.contains("s3cr3t"), "{missing}");
        assert!(state("{path: /s, json: /a}").is_err());
        assert!(state("{path: /s, json: /a, equals: 1, equals_responses: 201}").is_err());
        assert!(state("{path: s, json: /a, equals: 1}").is_err());
        assert!(state("{path: /s, json: /a, equals: 1, within: soon}").is_err());
    }
}
