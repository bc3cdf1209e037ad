//! The chaos API's request: the body of `POST /chaos/faults` as target-app and the shop take it
//! and the harness sends it.

use serde::{Deserialize, Serialize};

use crate::FaultKind;

/// A fault as requested by a client (the body of `POST /chaos/faults`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FaultRequest {
    /// What the service calls that gets the fault: for target-app one of vault, postgres,
    /// mysql, mongodb, redis, rabbitmq.
    pub dependency: String,
    /// `error`, `latency` or `timeout`.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub kind: FaultKind,
    /// Added delay for `latency` faults (0-60000 ms).
    #[serde(default = "default_latency")]
    pub latency_ms: u64,
    /// Chance that a call is affected (0.0-1.0).
    #[serde(default = "default_probability")]
    pub probability: f64,
    /// How long the fault lasts before it expires by itself (1-3600 s).
    #[serde(default = "default_duration")]
    pub duration_s: u64,
}

fn default_latency() -> u64 {
    500
}
fn default_probability() -> f64 {
    1.0
}
fn default_duration() -> u64 {
    30
}

impl FaultRequest {
    /// A fault of `kind` on `dependency` with the API's defaults: 500 ms, every call, 30 s.
    pub fn new(dependency: impl Into<String>, kind: FaultKind) -> Self {
        Self {
            dependency: dependency.into(),
            kind,
            latency_ms: default_latency(),
            probability: default_probability(),
            duration_s: default_duration(),
        }
    }

    /// The request with each value that is given in place of the API's default.
    pub fn with(self, latency_ms: Option<u64>, probability: Option<f64>, duration_s: Option<u64>) -> Self {
        Self {
            latency_ms: latency_ms.unwrap_or(self.latency_ms),
            probability: probability.unwrap_or(self.probability),
            duration_s: duration_s.unwrap_or(self.duration_s),
            ..self
        }
    }

    /// Checks every field, returning the first broken rule as `(field, reason)`; `known` are
    /// the names `dependency` may take.
    pub fn validate(&self, known: &[&str]) -> Result<(), (&'static str, String)> {
        if !known.contains(&self.dependency.as_str()) {
            return Err(("dependency", format!("must be one of {}", known.join(", "))));
        }
        if !(0.0..=1.0).contains(&self.probability) || self.probability.is_nan() {
            return Err(("probability", "must be between 0.0 and 1.0".into()));
        }
        if self.latency_ms > 60_000 {
            return Err(("latency_ms", "must be at most 60000".into()));
        }
        if !(1..=3600).contains(&self.duration_s) {
            return Err(("duration_s", "must be between 1 and 3600".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_fields_take_the_defaults_and_each_rule_names_its_field() {
        let request: FaultRequest = serde_json::from_str(r#"{"dependency": "redis", "kind": "latency"}"#).unwrap();
        assert_eq!(request, FaultRequest::new("redis", FaultKind::Latency));
        let given = request.clone().with(Some(20), None, Some(5));
        assert_eq!((given.latency_ms, given.probability, given.duration_s), (20, 1.0, 5));
        assert!(request.validate(crate::Dependency::NAMES).is_ok());
        assert_eq!(request.validate(&["postgres"]).unwrap_err().0, "dependency");
        let late = FaultRequest { latency_ms: 60_001, ..request.clone() };
        assert_eq!(late.validate(&["redis"]).unwrap_err().0, "latency_ms");
        let forever = FaultRequest { duration_s: 0, ..request };
        assert_eq!(forever.validate(&["redis"]).unwrap_err().0, "duration_s");
    }
}
