//! What a check reads from the target besides the load: the JSON answer to a GET at one moment
//! of the phase ([`Reading`]). A check kind that needs one declares it
//! ([`super::Expectation::readings`]); the runner takes every declared reading at its moment and
//! hands the answers back in [`super::Observed::readings`], so it names no check kind.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

/// When in a phase a reading is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Moment {
    /// Before the phase's `before` steps.
    BeforeLoad,
    /// When the load is over, before the `after` steps (a fault the phase injected is still in
    /// place).
    AfterLoad,
    /// After the `after` steps.
    AfterPhase,
}

/// A GET a check needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// Where its answer is kept (with its moment).
    pub key: String,
    /// When it is taken.
    pub at: Moment,
    /// Path on the target; `${name}`s are the run's captures.
    pub path: String,
    /// Headers to send, with captures like the path.
    pub headers: BTreeMap<String, String>,
    /// Read again until the answer settles, or once when `None`.
    pub settle: Option<Settle>,
}

/// Read again (every 250 ms) until the value at `pointer` is `wanted` or `within` is up, for
/// effects that arrive late.
#[derive(Clone, Debug, PartialEq)]
pub struct Settle {
    /// JSON pointer into the answer.
    pub pointer: String,
    /// The value that ends the wait.
    pub wanted: Value,
    /// How long to keep reading.
    pub within: Duration,
}

impl Settle {
    /// Whether `answer` holds the wanted value.
    pub fn holds(&self, answer: &Value) -> bool {
        answer.pointer(&self.pointer).is_some_and(|found| same(found, &self.wanted))
    }
}

/// The answers by moment and key, or why one could not be read. Answers that are not 2xx JSON
/// are described by status or kind, never quoted (they may hold secrets).
pub type Readings = BTreeMap<(Moment, String), Result<Value, String>>;

/// The answer taken for `key` at `at`; "not read" when there is none.
pub fn answer<'a>(readings: &'a Readings, at: Moment, key: &str) -> Result<&'a Value, String> {
    match readings.get(&(at, key.to_owned())) {
        Some(Ok(answer)) => Ok(answer),
        Some(Err(why)) => Err(why.clone()),
        None => Err("not read".into()),
    }
}

/// Checks the `path` and `json` of a check that reads a JSON answer from the target (`probe`,
/// `state`): a path on the target and a JSON pointer into its answer.
pub fn check_reading(kind: &str, path: &str, json: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("{kind}.path {path:?} must start with /"));
    }
    if !json.starts_with('/') {
        return Err(format!("{kind}.json {json:?} must be a JSON pointer like /count"));
    }
    Ok(())
}

/// Equal, with numbers compared by value (`100` and `100.0` are the same).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_settles_on_its_value_and_a_missing_one_is_not_read() {
        let settle = Settle { pointer: "/n".into(), wanted: Value::from(2), within: Duration::ZERO };
        assert!(settle.holds(&serde_json::json!({"n": 2.0})));
        assert!(!settle.holds(&serde_json::json!({"n": 3})));
        assert!(!settle.holds(&serde_json::json!({})));
        let readings = Readings::from([((Moment::AfterLoad, "k".into()), Ok(Value::from(1)))]);
        assert_eq!(answer(&readings, Moment::AfterLoad, "k"), Ok(&Value::from(1)));
        assert_eq!(answer(&readings, Moment::BeforeLoad, "k"), Err("not read".into()));
    }
}
