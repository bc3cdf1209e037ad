//! `probe: {path: /examples/messaging/queue/q/info, json: /message_count, equals_responses: 200}`:
//! a number the target reports (a JSON field of a GET), read before the load and again after
//! the phase, whose growth must equal the phase's count of responses with a status. It proves
//! "nothing lost, nothing duplicated": exactly one queued message per 200 answer.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::checks::reading::{Moment, Reading, answer};
use crate::checks::{Observed, Outcome};

/// The YAML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    /// Path on the target to GET.
    pub path: String,
    /// JSON pointer to a number in its answer.
    pub json: String,
    /// The status whose responses the number must grow by.
    pub equals_responses: u16,
}

/// The compiled check.
#[derive(Debug, Clone)]
pub struct Probe {
    spec: ProbeSpec,
}

impl Probe {
    /// Compiles the spec.
    pub fn compile(spec: &ProbeSpec) -> Result<Self, String> {
        super::reading::check_reading("probe", &spec.path, &spec.json)?;
        Ok(Self { spec: spec.clone() })
    }

    /// Where its readings are kept.
    pub fn key(&self) -> String {
        format!("{}#{}", self.spec.path, self.spec.json)
    }

    /// What it reads: its path before the load and again after the phase.
    pub fn readings(&self) -> Vec<Reading> {
        let at =
            |at| Reading { key: self.key(), at, path: self.spec.path.clone(), headers: BTreeMap::new(), settle: None };
        vec![at(Moment::BeforeLoad), at(Moment::AfterPhase)]
    }

    /// The number in one answer; a missing or non-numeric field is an error that names what was
    /// there by kind only (the answer may hold secrets).
    pub fn read(&self, answer: &Value) -> Result<f64, String> {
        let found = answer.pointer(&self.spec.json);
        found.and_then(Value::as_f64).ok_or_else(|| {
            let kind = match found {
                None => "nothing",
                Some(Value::Null) => "null",
                Some(Value::Bool(_)) => "a boolean",
                Some(Value::String(_)) => "a string",
                Some(Value::Array(_)) => "an array",
                Some(Value::Object(_)) => "an object",
                Some(Value::Number(_)) => "a number out of range",
            };
            format!("{} has no number at {}: found {kind}", self.spec.path, self.spec.json)
        })
    }

    /// In words.
    pub fn describe(&self) -> String {
        format!("{} {} grows by the number of {} responses", self.spec.path, self.spec.json, self.spec.equals_responses)
    }

    /// The growth against the count of responses with the status.
    pub fn evaluate(&self, observed: &Observed<'_>) -> Outcome {
        let read = |at| answer(observed.readings, at, &self.key()).and_then(|answer| self.read(answer));
        let (before, after) = match (read(Moment::BeforeLoad), read(Moment::AfterPhase)) {
            (Ok(before), Ok(after)) => (before, after),
            (Err(why), _) | (_, Err(why)) => return Outcome::new(false, why),
        };
        if observed.stats.requests == 0 {
            return Outcome::no_samples();
        }
        let wanted = observed.stats.status_counts.get(&self.spec.equals_responses).copied().unwrap_or(0);
        let grown = after - before;
        Outcome::new(
            grown == wanted as f64,
            format!("grew by {grown} ({before} → {after}); {wanted} responses were {}", self.spec.equals_responses),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::reading::Readings;
    use crate::checks::test_support::stats;
    use serde_json::json;

    fn probe() -> Probe {
        Probe::compile(&ProbeSpec { path: "/q".into(), json: "/message_count".into(), equals_responses: 200 }).unwrap()
    }

    fn evaluate(counts: Result<(f64, f64), String>, statuses: &[u16]) -> Outcome {
        let probe = probe();
        let answers = match counts {
            Ok((before, after)) => [Ok(json!({"message_count": before})), Ok(json!({"message_count": after}))],
            Err(why) => [Err(why.clone()), Err(why)],
        };
        let at = [Moment::BeforeLoad, Moment::AfterPhase];
        let readings: Readings = at.into_iter().map(|at| (at, probe.key())).zip(answers).collect();
        let (stats, empty, earlier) = (stats(statuses), BTreeMap::new(), BTreeMap::new());
        probe.evaluate(&Observed {
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
    fn growth_must_equal_the_count_of_the_status() {
        assert!(evaluate(Ok((5.0, 7.0)), &[200, 503, 200]).passed);
        let lost = evaluate(Ok((5.0, 6.0)), &[200, 503, 200]);
        assert!(!lost.passed && lost.measured.contains("grew by 1"), "{}", lost.measured);
        assert!(!evaluate(Ok((5.0, 8.0)), &[200, 503, 200]).passed, "a duplicate fails too");
    }

    #[test]
    fn unread_probes_and_empty_phases_fail() {
        assert!(!evaluate(Err("503".into()), &[200]).passed);
        assert!(!evaluate(Ok((0.0, 0.0)), &[]).passed);
        let null = probe().read(&serde_json::json!({"message_count": null, "password": "s3cr3t"})).unwrap_err();
        assert!(null.ends_with("found null") && !null.contains("s3cr3t"), "{null}");
        assert_eq!(probe().read(&serde_json::json!({"message_count": 4})), Ok(4.0));
    }
}
