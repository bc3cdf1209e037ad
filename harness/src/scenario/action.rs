//! Actions as scenarios write them: the steps a phase runs before and after its load, and
//! rollback runs at the end, each compiled to a [`Step`] of the plan ([`compile_step`]).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::Scenario;
use crate::duration::parse_duration;
use crate::plan::{HttpStep, ProcessStep, Signal, Step, default_method};
use wire::chaos::FaultRequest;
use wire::toxic::{Kind, Stream, Toxic, ToxicType};
use wire::{Dependency, ShopService};

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
    /// A shell command with a timeout.
    Exec(ExecAction),
    /// Add a toxic to one of the scenario's proxies.
    Network(NetworkAction),
    /// Turn a proxy off (refuse new connections, cut open ones) or back on.
    Proxy(ProxyToggle),
    /// Remove every toxic and re-enable every proxy.
    ClearNetwork(ClearNetworkAction),
    /// Send a signal to a process the project started.
    Process(ProcessAction),
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
    network: Option<NetworkAction>,
    proxy: Option<ProxyToggle>,
    clear_network: Option<ClearNetworkAction>,
    process: Option<ProcessAction>,
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
        actions.extend(spec.network.map(Action::Network));
        actions.extend(spec.proxy.map(Action::Proxy));
        actions.extend(spec.clear_network.map(Action::ClearNetwork));
        actions.extend(spec.process.map(Action::Process));
        match actions.len() {
            1 => Ok(actions.remove(0)),
            _ => Err("an action has exactly one of the keys chaos, clear_chaos, wait, http, exec, network, proxy, \
                      clear_network, process"
                .into()),
        }
    }
}

/// `chaos:` fields: the chaos API's request, where it goes and how long it may take.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChaosAction {
    /// What gets the fault: one of target-app's dependencies, or under `topology: shop` a shop
    /// service its callers call (or Vault, RabbitMQ).
    pub dependency: String,
    /// Under `topology: shop`, the one service whose calls get the fault; every service when
    /// absent.
    #[serde(default)]
    pub service: Option<ShopService>,
    /// error, latency or timeout.
    pub kind: wire::FaultKind,
    /// Delay for latency faults.
    pub latency_ms: Option<u64>,
    /// Chance per call.
    pub probability: Option<f64>,
    /// Lifetime of the fault on the target.
    pub duration_s: Option<u64>,
    /// How long the injection call may take (default 10s).
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
    /// Values to keep from the JSON answer for every later request and check of the run:
    /// name → JSON pointer (see [`crate::variables`]).
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
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

/// `network:` fields: a toxic on one proxy, with the attributes its type takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkAction {
    /// The proxy, by its name under `proxies:`.
    pub proxy: String,
    /// latency, bandwidth, slow_close, timeout, reset_peer, limit_data, slicer or noop.
    pub toxic: ToxicType,
    /// Toxic name; default `<toxic>_<stream>`.
    pub name: Option<String>,
    /// upstream (client to server) or downstream (the default).
    #[serde(default = "downstream")]
    pub stream: Stream,
    /// Share of connections it applies to, 0 to 1 (default 1).
    #[serde(default = "always")]
    pub toxicity: f32,
    /// Removed again after this long, e.g. `30s`; stays until cleared when absent.
    pub duration: Option<String>,
    /// latency: delay per chunk.
    pub latency_ms: Option<u64>,
    /// latency: plus or minus this much.
    pub jitter_ms: Option<u64>,
    /// bandwidth: KB/s.
    pub rate_kbps: Option<u64>,
    /// slow_close: delay before the close.
    pub delay_ms: Option<u64>,
    /// timeout: close after this long (0 or absent: never, a blackhole); reset_peer: RST after it.
    pub timeout_ms: Option<u64>,
    /// limit_data: close after this many bytes.
    pub bytes: Option<u64>,
    /// slicer: average slice size in bytes.
    pub average_size: Option<usize>,
    /// slicer: slice sizes vary by up to this many bytes.
    pub size_variation: Option<usize>,
    /// slicer: pause between slices.
    pub delay_us: Option<u64>,
}

fn downstream() -> Stream {
    Stream::Downstream
}

fn always() -> f32 {
    1.0
}

impl NetworkAction {
    /// The toxic it adds; an attribute its type does not take is an error.
    pub fn toxic(&self) -> Result<Toxic, String> {
        let given: Vec<(&str, bool)> = vec![
            ("latency_ms", self.latency_ms.is_some()),
            ("jitter_ms", self.jitter_ms.is_some()),
            ("rate_kbps", self.rate_kbps.is_some()),
            ("delay_ms", self.delay_ms.is_some()),
            ("timeout_ms", self.timeout_ms.is_some()),
            ("bytes", self.bytes.is_some()),
            ("average_size", self.average_size.is_some()),
            ("size_variation", self.size_variation.is_some()),
            ("delay_us", self.delay_us.is_some()),
        ];
        let (kind, takes): (Kind, &[&str]) = match self.toxic {
            ToxicType::Latency => (
                Kind::Latency { latency: self.latency_ms.unwrap_or(0), jitter: self.jitter_ms.unwrap_or(0) },
                &["latency_ms", "jitter_ms"],
            ),
            ToxicType::Bandwidth => (Kind::Bandwidth { rate: self.rate_kbps.unwrap_or(0) }, &["rate_kbps"]),
            ToxicType::SlowClose => (Kind::SlowClose { delay: self.delay_ms.unwrap_or(0) }, &["delay_ms"]),
            ToxicType::Timeout => (Kind::Timeout { timeout: self.timeout_ms.unwrap_or(0) }, &["timeout_ms"]),
            ToxicType::ResetPeer => (Kind::ResetPeer { timeout: self.timeout_ms.unwrap_or(0) }, &["timeout_ms"]),
            ToxicType::LimitData => (Kind::LimitData { bytes: self.bytes.unwrap_or(0) }, &["bytes"]),
            ToxicType::Slicer => (
                Kind::Slicer {
                    average_size: self.average_size.unwrap_or(0),
                    size_variation: self.size_variation.unwrap_or(0),
                    delay: self.delay_us.unwrap_or(0),
                },
                &["average_size", "size_variation", "delay_us"],
            ),
            ToxicType::Noop => (Kind::Noop {}, &[]),
        };
        if let Some((field, _)) = given.iter().find(|(field, set)| *set && !takes.contains(field)) {
            let takes = if takes.is_empty() { "nothing".to_owned() } else { takes.join(", ") };
            return Err(format!("network: a {} toxic takes {takes}, not {field}", self.toxic));
        }
        if !(0.0..=1.0).contains(&self.toxicity) {
            return Err(format!("network.toxicity must be between 0 and 1, not {}", self.toxicity));
        }
        let name = self.name.clone().unwrap_or_else(|| Toxic::default_name(self.toxic, self.stream));
        Ok(Toxic { name, stream: self.stream, toxicity: self.toxicity, kind })
    }
}

/// `proxy:` fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyToggle {
    /// The proxy, by its name under `proxies:`.
    pub name: String,
    /// false: refuse new connections and cut open ones; true: accept again.
    pub enabled: bool,
}

/// `clear_network:` fields (none).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearNetworkAction {}

/// `process:` fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessAction {
    /// A name from `scripts/services.sh status` (`redis-7002`, `vault`) or `target-app`.
    pub name: String,
    /// What to do to it.
    pub signal: Signal,
}

/// Checks that every `chaos:` action names what its target can fault: target-app's
/// dependencies, or under `topology: shop` a [`wire::ShopFaultTarget`] and, in `service`, a
/// [`wire::ShopService`].
pub fn validate_chaos(scenario: &Scenario) -> Result<(), String> {
    let shop = scenario.target.is_shop();
    for action in scenario.actions() {
        let Action::Chaos(chaos) = action else { continue };
        let names = if shop { wire::ShopFaultTarget::NAMES } else { Dependency::NAMES };
        if !names.contains(&chaos.dependency.as_str()) {
            return Err(unknown("chaos.dependency", &chaos.dependency, names));
        }
        if let (Some(service), false) = (chaos.service, shop) {
            return Err(format!("chaos.service \"{service}\": only a shop (target topology: shop) has services"));
        }
    }
    Ok(())
}

/// serde's wording for an unknown name, so it gets the same "did you mean" hint.
fn unknown(field: &str, name: &str, known: &[&str]) -> String {
    let known: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    super::suggest::with_suggestion(&format!("{field}: unknown variant `{name}`, expected one of {}", known.join(", ")))
}

/// The plan's step for an action, with its durations read and its toxic built; a value its
/// types cannot check is an error.
pub fn compile_step(action: &Action, shop: bool) -> Result<Step, String> {
    let timeout = |given: &Option<String>, default: Duration| {
        given
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map(|t| t.unwrap_or(default))
            .map_err(|e| format!("timeout: {e}"))
    };
    Ok(match action {
        Action::Chaos(chaos) => {
            let fault = FaultRequest::new(chaos.dependency.clone(), chaos.kind).with(
                chaos.latency_ms,
                chaos.probability,
                chaos.duration_s,
            );
            let service = chaos.service.filter(|_| shop);
            Step::Chaos { fault, service, timeout: timeout(&chaos.timeout, CHAOS_TIMEOUT)? }
        }
        Action::ClearChaos(clear) => Step::ClearChaos { timeout: timeout(&clear.timeout, CHAOS_TIMEOUT)? },
        Action::Wait(duration) => Step::Wait(parse_duration(duration).map_err(|e| format!("wait: {e}"))?),
        Action::Http(http) => Step::Http(HttpStep {
            method: http.method.to_uppercase(),
            path: http.path.clone(),
            headers: http.headers.clone(),
            body: http.body.clone(),
            expect_status: http.expect_status,
            timeout: timeout(&http.timeout, STEP_TIMEOUT)?,
            capture: http.capture.clone(),
        }),
        Action::Exec(exec) => {
            Step::Exec { command: exec.command.clone(), timeout: timeout(&exec.timeout, STEP_TIMEOUT)? }
        }
        Action::Network(network) => {
            let toxic = network.toxic()?;
            let lasts = network.duration.as_deref().map(parse_duration).transpose();
            Step::Network {
                proxy: network.proxy.clone(),
                toxic,
                lasts: lasts.map_err(|e| format!("network.duration: {e}"))?,
            }
        }
        Action::Proxy(toggle) => Step::Proxy { name: toggle.name.clone(), enabled: toggle.enabled },
        Action::ClearNetwork(_) => Step::ClearNetwork,
        Action::Process(process) => Step::Process(ProcessStep { name: process.name.clone(), signal: process.signal }),
    })
}

/// How long a chaos call may take unless the action says.
const CHAOS_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an `http` or `exec` action may take unless it says.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn parse(target: &str, chaos: &str) -> Result<crate::scenario::LoadedScenario, String> {
        let text = format!(
            "name: s\ntarget: {target}\nphases: [{{name: p, before: [{{chaos: {chaos}}}], load: {{iterations: 1}}, \
             requests: [{{path: /}}]}}]\n"
        );
        crate::scenario::parse(&text, Path::new("s.yaml")).map_err(|e| e.message)
    }

    #[test]
    fn a_chaos_fault_names_what_its_target_can_fault() {
        assert!(parse("{env: {}}", "{dependency: postgres, kind: error}").is_ok());
        let shop_name = parse("{env: {}}", "{dependency: products, kind: error}").unwrap_err();
        assert!(
            shop_name.contains("one of `vault`, `postgres`, `mysql`, `mongodb`, `redis`, `rabbitmq`"),
            "{shop_name}"
        );
        let service = parse("{env: {}}", "{dependency: postgres, kind: error, service: orders}").unwrap_err();
        assert!(service.contains("only a shop"), "{service}");

        let shop = "{topology: shop}";
        assert!(parse(shop, "{dependency: inventory, kind: error, service: orders}").is_ok());
        assert!(parse(shop, "{dependency: rabbitmq, kind: timeout}").is_ok());
        let postgres = parse(shop, "{dependency: postgres, kind: error}").unwrap_err();
        assert!(
            postgres.contains("`users`, `products`, `orders`, `inventory`, `notifications`, `vault`"),
            "{postgres}"
        );
        let unknown = parse(shop, "{dependency: users, kind: error, service: order}").unwrap_err();
        assert!(unknown.contains("unknown variant `order`") && unknown.contains("did you mean `orders`?"), "{unknown}");
    }
}
