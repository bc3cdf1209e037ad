//! The YAML scenario format (the scenario and phase types here; requests, targets and proxies are
//! written as the [`crate::plan`] types they become), loading with `file:line:column` errors
//! that name what was expected (and the nearest valid key), and `compile` into a
//! [`crate::plan::Plan`]. Actions, load blocks, proxies, interpolation, file discovery and hints
//! have their own modules. New action = a variant in [`action`] with its arm in
//! [`action::compile_step`], its [`crate::plan::Step`], and its arm in [`crate::actions`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::checks;
use crate::plan::{Plan, Request, Target, Topology};

pub mod action;
pub mod files;
pub mod interpolate;
pub mod load;
pub mod proxies;
pub mod suggest;

pub use action::Action;
use action::compile_step;
pub use files::collect;
pub use interpolate::interpolate;
pub use load::Load;
use load::phase_limit;
use load::resolve_load;
use suggest::{find_line, line_column, with_suggestion};

/// One scenario file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in report paths.
    pub name: String,
    /// What the scenario shows.
    #[serde(default)]
    pub description: String,
    /// Where to send traffic; absent means "start target-app myself".
    #[serde(default)]
    pub target: Target,
    /// The target may be a URL off this machine (like `--allow-remote`).
    #[serde(default)]
    pub allow_remote: bool,
    /// Seed for every random choice (think time, request mix); random when absent.
    pub seed: Option<u64>,
    /// Free-form labels for `harness list` and selection.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Dependencies that must report healthy on the target (`/health/{name}`) for the run to
    /// mean anything; when one does not, the run is skipped (not passed) and says why.
    #[serde(default)]
    pub requires: Vec<wire::Dependency>,
    /// Phases, run in order.
    pub phases: Vec<Phase>,
    /// Actions that always run at the end, even after a failure or Ctrl-C.
    #[serde(default)]
    pub rollback: Vec<Action>,
    /// TCP fault proxies the run starts, by name; `network:` and `proxy:` actions act on them.
    #[serde(default)]
    pub proxies: proxies::Proxies,
    /// Traces of the requests sent (see [`TraceSpec`]).
    #[serde(default)]
    pub trace: TraceSpec,
}

/// `trace:`: the share of requests that carry a sampled `traceparent`. A target the harness
/// hosts exports to the harness and samples every request unless this says less; a target
/// given by URL gets no `traceparent` unless this asks for one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSpec {
    /// From 0 (none) to 1 (every request).
    pub sample: Option<f64>,
}

impl Scenario {
    /// Every action of every phase (before, then after) and of rollback, in that order.
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.phases.iter().flat_map(|p| p.before.iter().chain(&p.after)).chain(&self.rollback)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetSpec {
    url: Option<String>,
    topology: Option<Topology>,
    chaos_token: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

/// The YAML form of the target: a URL, or a mapping with a URL, a chaos token, a topology and
/// env for a self-hosted target.
impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TargetVisitor;
        impl<'de> Visitor<'de> for TargetVisitor {
            type Value = Target;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a URL or a mapping with url, topology, chaos_token and env")
            }
            fn visit_str<E: de::Error>(self, url: &str) -> Result<Target, E> {
                Ok(Target { url: Some(url.to_owned()), ..Target::default() })
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Target, M::Error> {
                let spec = TargetSpec::deserialize(de::value::MapAccessDeserializer::new(map))?;
                if spec.url.is_some() && spec.topology.is_some() {
                    return Err(de::Error::custom("target: give a url or a topology to host, not both"));
                }
                Ok(Target { url: spec.url, topology: spec.topology, chaos_token: spec.chaos_token, env: spec.env })
            }
        }
        deserializer.deserialize_any(TargetVisitor)
    }
}

/// One phase: actions before, load with requests, expectations, actions after.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// Name, unique within the scenario.
    pub name: String,
    /// Actions run before the load starts.
    #[serde(default)]
    pub before: Vec<Action>,
    /// How much load, for how long.
    pub load: Load,
    /// The requests every user sends, weighted.
    pub requests: Vec<Request>,
    /// What must hold afterwards: one block, or a list of blocks scoped to requests.
    #[serde(default)]
    pub expect: checks::Expect,
    /// Actions run after the load ends.
    #[serde(default)]
    pub after: Vec<Action>,
}

/// A scenario ready to run: parsed, validated and compiled to its [`Plan`].
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    /// What runs.
    pub plan: Plan,
    /// Where it came from.
    pub path: PathBuf,
    /// The file's text, for the report (masked by [`crate::redact`] before it is written).
    pub text: String,
    /// The file's text before `${VAR}`s were filled in (workers name requests from it).
    pub written: String,
    /// Secret values the scenario holds: `${VAR}`s named like secrets, `Authorization` and
    /// `Cookie` header values, the chaos token, and secret-named target env values.
    pub secrets: Vec<String>,
}

/// A scenario that cannot run, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "{}:{line}:{column}: {}", self.file.display(), self.message),
            (Some(line), None) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            _ => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

/// Reads, interpolates, parses and validates one scenario file.
pub fn load(path: &Path) -> Result<LoadedScenario, ScenarioError> {
    let error = |line, column, message: String| ScenarioError { file: path.to_owned(), line, column, message };
    let raw = std::fs::read_to_string(path).map_err(|e| error(None, None, format!("cannot read: {e}")))?;
    let mut secrets = Vec::new();
    let runtime = interpolate::declared(&raw);
    let text = interpolate(&raw, interpolate::variable, &runtime, &mut secrets).map_err(|(at, message)| {
        let (line, column) = line_column(&raw, at);
        error(Some(line), Some(column), message)
    })?;
    let mut loaded = parse_interpolated(&text, &raw, path)?;
    loaded.secrets.extend(secrets);
    Ok(loaded)
}

/// The secret values written in the scenario itself: header values that carry credentials, the
/// chaos token, and target env values named like secrets.
fn written_secrets(scenario: &Scenario) -> Vec<String> {
    let requests = scenario.phases.iter().flat_map(|p| p.requests.iter().flat_map(|r| &r.headers));
    let actions = scenario.actions();
    let action_headers = actions.filter_map(|a| match a {
        Action::Http(http) => Some(&http.headers),
        _ => None,
    });
    let headers = requests
        .chain(action_headers.flatten())
        .filter(|(name, _)| crate::redact::is_secret_header(name))
        .map(|(_, value)| value.clone());
    let env =
        scenario.target.env.iter().filter(|(name, _)| crate::redact::is_secret_name(name)).map(|(_, v)| v.clone());
    headers.chain(env).chain(scenario.target.chaos_token.clone()).collect()
}

/// Parses and validates scenario text that holds no `${VAR}` to fill.
pub fn parse(text: &str, path: &Path) -> Result<LoadedScenario, ScenarioError> {
    parse_interpolated(text, text, path)
}

/// Parses and validates `text`, the interpolation of `written`: requests without a `name` are
/// named after their path as written ([`name_by_template`]).
pub fn parse_interpolated(text: &str, written: &str, path: &Path) -> Result<LoadedScenario, ScenarioError> {
    let error = |line, column, message: String| ScenarioError { file: path.to_owned(), line, column, message };
    let mut scenario: Scenario = serde_yaml::from_str(text).map_err(|e| {
        let location = e.location();
        error(
            location.as_ref().map(|l| l.line()),
            location.as_ref().map(|l| l.column()),
            with_suggestion(&e.to_string()),
        )
    })?;
    name_by_template(&mut scenario, written);
    let plan = compile(&scenario, text).map_err(|(line, message)| error(line, None, message))?;
    let secrets = written_secrets(&scenario);
    Ok(LoadedScenario { plan, path: path.to_owned(), text: text.to_owned(), written: written.to_owned(), secrets })
}

/// Compiles a parsed scenario into its [`Plan`], checking what its types cannot; an error
/// carries the line of `text` it concerns, when known.
fn compile(scenario: &Scenario, text: &str) -> Result<Plan, (Option<usize>, String)> {
    if scenario.phases.is_empty() {
        return Err((None, "a scenario needs at least one phase".into()));
    }
    let shop = scenario.target.is_shop();
    let phase_names: Vec<String> = scenario.phases.iter().map(|p| p.name.clone()).collect();
    let mut names = std::collections::HashSet::new();
    let mut phases = Vec::new();
    for (index, phase) in scenario.phases.iter().enumerate() {
        let at = |message: String| {
            let line = find_line(text, &format!("name: {}", phase.name));
            (line, format!("phases[{index}] ({}): {message}", phase.name))
        };
        if !names.insert(phase.name.clone()) {
            return Err(at("phase names must be unique".into()));
        }
        if phase.requests.is_empty() {
            return Err(at("requests: at least one request is needed".into()));
        }
        for request in &phase.requests {
            validate_request(request).map_err(at)?;
        }
        let steps = |actions: &[Action]| actions.iter().map(|a| compile_step(a, shop)).collect::<Result<Vec<_>, _>>();
        let before = steps(&phase.before).map_err(at)?;
        let after = steps(&phase.after).map_err(at)?;
        let load = resolve_load(&phase.load).map_err(at)?;
        let limit = phase_limit(&phase.load, &load).map_err(at)?;
        let think_time =
            phase.load.think_time.as_deref().map(crate::duration::parse_think_time).transpose().map_err(at)?;
        let request_names: Vec<String> = phase.requests.iter().map(Request::display_name).collect();
        let expectations = checks::compile(&phase.expect, &phase_names, &request_names).map_err(at)?;
        phases.push(crate::plan::Phase {
            name: phase.name.clone(),
            before,
            load,
            think_time,
            limit,
            requests: phase.requests.clone(),
            expectations,
            after,
        });
    }
    let rollback = scenario
        .rollback
        .iter()
        .map(|action| compile_step(action, shop))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| (find_line(text, "rollback:"), format!("rollback: {m}")))?;
    proxies::validate(scenario).map_err(|m| (find_line(text, "proxies:"), m))?;
    action::validate_chaos(scenario).map_err(|m| (find_line(text, "chaos:"), m))?;
    if let Some(sample) = scenario.trace.sample.filter(|s| !(0.0..=1.0).contains(s)) {
        return Err((find_line(text, "sample:"), format!("trace.sample: {sample} is not between 0 and 1")));
    }
    Ok(Plan {
        name: scenario.name.clone(),
        description: scenario.description.clone(),
        target: scenario.target.clone(),
        allow_remote: scenario.allow_remote,
        seed: scenario.seed,
        tags: scenario.tags.clone(),
        requires: scenario.requires.clone(),
        phases,
        rollback,
        proxies: scenario.proxies.clone(),
        trace_sample: scenario.trace.sample,
    })
}

/// Names each unnamed request `METHOD path` with the path as `written`, before interpolation:
/// a secret filled in from the environment never reaches a report or a metric label through a
/// name, and `/users/${USER_ID}` stays one row whatever its value. Text whose written form is
/// not YAML on its own keeps the rendered path (which the redactor masks).
fn name_by_template(scenario: &mut Scenario, written: &str) {
    let Ok(written) = serde_yaml::from_str::<serde_yaml::Value>(written) else { return };
    let Some(phases) = written.get("phases").and_then(serde_yaml::Value::as_sequence) else { return };
    for (phase, written) in scenario.phases.iter_mut().zip(phases) {
        let Some(requests) = written.get("requests").and_then(serde_yaml::Value::as_sequence) else { continue };
        for (request, written) in phase.requests.iter_mut().zip(requests) {
            let path = written.get("path").and_then(serde_yaml::Value::as_str);
            if let (None, Some(path)) = (&request.name, path) {
                request.name = Some(format!("{} {path}", request.method.to_uppercase()));
            }
        }
    }
}

fn validate_request(request: &Request) -> Result<(), String> {
    const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];
    if !METHODS.contains(&request.method.to_uppercase().as_str()) {
        return Err(format!("method {:?} is not one of {}", request.method, METHODS.join(", ")));
    }
    if !request.path.starts_with('/') {
        return Err(format!("path {:?} must start with /", request.path));
    }
    if request.weight == 0 {
        return Err("weight must be at least 1".into());
    }
    for (name, value) in &request.headers {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!("headers: {name:?} is not a valid header name"));
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            return Err(format!("headers: the value of {name:?} cannot be sent (control characters?)"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use wire::Dependency;

    #[test]
    fn dependency_names_are_checked_with_a_suggestion() {
        let scenario = |head: &str| {
            let text =
                format!("{head}\nname: s\nphases: [{{name: p, load: {{iterations: 1}}, requests: [{{path: /}}]}}]\n");
            parse(&text, Path::new("s.yaml"))
        };
        assert_eq!(
            scenario("requires: [mongodb, redis]").unwrap().plan.requires,
            [Dependency::Mongodb, Dependency::Redis]
        );
        let error = scenario("requires: [mongo]").unwrap_err();
        assert_eq!((error.line, error.column), (Some(1), Some(12)), "{error}");
        assert!(error.message.contains("did you mean `mongodb`?"), "{error}");
        let error = scenario("rollback: [{chaos: {dependency: postgress, kind: error}}]").unwrap_err();
        assert!(error.message.contains("did you mean `postgres`?"), "{error}");
    }

    #[test]
    fn expectations_can_be_scoped_to_a_request_and_a_wrong_name_is_invalid() {
        let scenario = |expect: &str| {
            let text = format!(
                "name: s\nphases: [{{name: p, load: {{iterations: 1}}, requests: [{{path: /health/}}, {{path: /x, name: ex}}], expect: {expect}}}]\n"
            );
            parse(&text, Path::new("s.yaml"))
        };
        let loaded = scenario(
            "[{status: {2xx: '>= 50%'}}, {request: 'GET /health/', latency: {p95: '< 1s'}, headers: {x-id: present}}]",
        )
        .unwrap();
        let scopes: Vec<Option<&str>> =
            loaded.plan.phases[0].expectations.iter().map(|e| e.request.as_deref()).collect();
        assert_eq!(scopes, [None, Some("GET /health/"), Some("GET /health/")]);
        assert!(loaded.plan.phases[0].expectations[1].describe().starts_with("[GET /health/] "));
        assert_eq!(scenario("{request: ex, status: {200: '== 100%'}}").unwrap().plan.phases[0].expectations.len(), 1);
        let error = scenario("{request: 'GET /health', status: {200: '== 100%'}}").unwrap_err();
        assert!(error.message.contains("did you mean `GET /health/`?"), "{error}");
        let error = scenario("{request: ex, rate_limit: {allowed: 1}}").unwrap_err();
        assert!(error.message.contains("rate_limit judges the whole phase"), "{error}");
    }

    #[test]
    fn requests_with_headers_that_cannot_be_sent_are_invalid() {
        let request = |yaml: &str| validate_request(&serde_yaml::from_str::<Request>(yaml).unwrap());
        assert!(request("{path: /, headers: {x-id: '7'}}").is_ok());
        assert!(request("{path: /, headers: {'bad name': x}}").unwrap_err().contains("\"bad name\""));
        assert!(request("{path: /, headers: {x-id: \"a\\nb\"}}").unwrap_err().contains("cannot be sent"));
    }
}
