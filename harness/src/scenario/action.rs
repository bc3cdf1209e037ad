//! Actions: the steps a phase runs before and after its load, and rollback runs at the end.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Dependency, default_method, parse_duration};

/// A step run before or after a phase, or at rollback: a one-key mapping such as
/// `- chaos: {...}` or `- wait: 3s`.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "ActionSpec")]
pub enum Action {
    /// Inject a dependency fault through the target's `/chaos/faults`.
    Chaos(ChaosAction),
    /// Clear chaos faults (all, or one dependency's).
    ClearChaos(ClearChaosAction),
    /// Sleep, e.g. `3s`.
    Wait(String),
    /// Any one-off request, e.g. `/demo/memory?mb=200`.
    Http(HttpAction),
    /// A shell command with a timeout, e.g. stop a Redis Cluster master.
    Exec(ExecAction),
}

/// The YAML form of an [`Action`]: exactly one key set.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionSpec {
    chaos: Option<ChaosAction>,
    clear_chaos: Option<ClearChaosAction>,
    wait: Option<String>,
    http: Option<HttpAction>,
    exec: Option<ExecAction>,
}

impl TryFrom<ActionSpec> for Action {
    type Error = String;

    fn try_from(spec: ActionSpec) -> Result<Self, Self::Error> {
        let mut actions: Vec<Action> = Vec::new();
        actions.extend(spec.chaos.map(Action::Chaos));
        actions.extend(spec.clear_chaos.map(Action::ClearChaos));
        actions.extend(spec.wait.map(Action::Wait));
        actions.extend(spec.http.map(Action::Http));
        actions.extend(spec.exec.map(Action::Exec));
        match actions.len() {
            1 => Ok(actions.remove(0)),
            _ => Err("an action has exactly one of the keys chaos, clear_chaos, wait, http, exec".into()),
        }
    }
}

/// `chaos:` fields, as the target's chaos API takes them.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChaosAction {
    /// The dependency whose client path gets the fault.
    pub dependency: Dependency,
    /// error, latency or timeout.
    pub kind: String,
    /// Delay for latency faults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Chance per call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Lifetime of the fault on the target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<u64>,
    /// How long the injection call may take (default 10s).
    #[serde(skip_serializing)]
    pub timeout: Option<String>,
}

/// `clear_chaos:` fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearChaosAction {
    /// How long the call may take (default 10s).
    pub timeout: Option<String>,
}

/// `http:` fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpAction {
    /// Method, default GET.
    #[serde(default = "default_method")]
    pub method: String,
    /// Path on the target, or a full loopback URL.
    pub path: String,
    /// Extra headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON body.
    pub body: Option<serde_json::Value>,
    /// Status that counts as success (default: any 2xx).
    pub expect_status: Option<u16>,
    /// How long the request may take (default 30s).
    pub timeout: Option<String>,
}

/// `exec:` fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecAction {
    /// Run with `sh -c`; the variable `TARGET_URL` is set.
    pub command: String,
    /// How long it may run (default 30s); it is killed after.
    pub timeout: Option<String>,
}

/// Checks an action's values that its types cannot.
pub fn validate_action(action: &Action) -> Result<(), String> {
    let timeout = match action {
        Action::Wait(duration) => return parse_duration(duration).map(|_| ()).map_err(|e| format!("wait: {e}")),
        Action::Chaos(chaos) => {
            const KINDS: [&str; 3] = ["error", "latency", "timeout"];
            if !KINDS.contains(&chaos.kind.as_str()) {
                return Err(format!("chaos.kind {:?} is not one of {}", chaos.kind, KINDS.join(", ")));
            }
            &chaos.timeout
        }
        Action::ClearChaos(clear) => &clear.timeout,
        Action::Http(http) => &http.timeout,
        Action::Exec(exec) => &exec.timeout,
    };
    timeout.as_deref().map(parse_duration).transpose().map(|_| ()).map_err(|e| format!("timeout: {e}"))
}
