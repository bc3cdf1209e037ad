//! The YAML scenario format: types, `${ENV}` interpolation, loading and validation with
//! `file:line:column` errors that name what was expected (and the nearest valid key).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::checks::{self, Scoped};

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
    pub requires: Vec<Dependency>,
    /// Phases, run in order.
    pub phases: Vec<Phase>,
    /// Actions that always run at the end, even after a failure or Ctrl-C.
    #[serde(default)]
    pub rollback: Vec<Action>,
}

/// A dependency of the target, named as its chaos API and `/health/{name}` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Dependency {
    /// Vault (OpenBao).
    Vault,
    /// PostgreSQL.
    Postgres,
    /// MySQL/MariaDB.
    Mysql,
    /// MongoDB.
    Mongodb,
    /// The Redis Cluster.
    Redis,
    /// RabbitMQ.
    Rabbitmq,
}

impl Dependency {
    /// The name the target uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::Vault => "vault",
            Self::Postgres => "postgres",
            Self::Mysql => "mysql",
            Self::Mongodb => "mongodb",
            Self::Redis => "redis",
            Self::Rabbitmq => "rabbitmq",
        }
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The target: a URL, or a mapping with a URL, a chaos token and env for a self-hosted target.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// Base URL of a running target; `None` starts `target-app` on a free loopback port.
    pub url: Option<String>,
    /// Bearer token for the target's `/chaos` API.
    pub chaos_token: Option<String>,
    /// Environment for the self-hosted target.
    pub env: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetSpec {
    url: Option<String>,
    chaos_token: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TargetVisitor;
        impl<'de> Visitor<'de> for TargetVisitor {
            type Value = Target;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a URL or a mapping with url, chaos_token and env")
            }
            fn visit_str<E: de::Error>(self, url: &str) -> Result<Target, E> {
                Ok(Target { url: Some(url.to_owned()), ..Target::default() })
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Target, M::Error> {
                let spec = TargetSpec::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Target { url: spec.url, chaos_token: spec.chaos_token, env: spec.env })
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
    pub requests: Vec<RequestSpec>,
    /// What must hold afterwards: one block, or a list of blocks scoped to requests.
    #[serde(default)]
    pub expect: checks::Expect,
    /// Actions run after the load ends.
    #[serde(default)]
    pub after: Vec<Action>,
}

/// Closed model (`users` with `duration`, `iterations` or a `ramp`) or open model (`rate`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// Concurrent users (closed model), or the pool serving an open-model `rate`.
    pub users: Option<usize>,
    /// How long to run, e.g. `5s`.
    pub duration: Option<String>,
    /// Requests per user (each user sends its request list this many times).
    pub iterations: Option<usize>,
    /// Open model: requests per second, e.g. `200/s`.
    pub rate: Option<String>,
    /// A goose test plan, e.g. `10,5s;10,20s;0,2s` (users, time to reach them; ...).
    pub ramp: Option<String>,
    /// Pause between a user's requests: `100ms` or a seeded random range `50ms..200ms`.
    pub think_time: Option<String>,
    /// Hard limit on the phase's wall time (default: its duration + 60 s, or 10 min for
    /// iterations); a phase that runs over ends the run as invalid.
    pub max_duration: Option<String>,
}

/// The load model a [`Load`] resolves to.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadModel {
    /// `users` for `duration`.
    Duration {
        /// Users.
        users: usize,
        /// Run time.
        duration: Duration,
    },
    /// `users`, each sending its requests `iterations` times.
    Iterations {
        /// Users.
        users: usize,
        /// Iterations per user.
        iterations: usize,
    },
    /// A goose test plan.
    Ramp {
        /// The plan text.
        plan: String,
        /// Its total duration.
        duration: Duration,
    },
    /// Open model: a fixed request rate served by a pool of users.
    Rate {
        /// Requests per second.
        per_second: usize,
        /// Run time.
        duration: Duration,
        /// Users in the pool.
        users: usize,
    },
}

/// One request of a phase.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// HTTP method, default GET.
    #[serde(default = "default_method")]
    pub method: String,
    /// Path (joined to the target URL).
    pub path: String,
    /// Query parameters.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Extra headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON body.
    pub body: Option<serde_json::Value>,
    /// Relative weight within the phase (default 1).
    #[serde(default = "default_weight")]
    pub weight: usize,
    /// Name in reports (default `METHOD path`).
    pub name: Option<String>,
}

fn default_method() -> String {
    "GET".to_owned()
}
fn default_weight() -> usize {
    1
}

impl RequestSpec {
    /// The name used in reports.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| format!("{} {}", self.method.to_uppercase(), self.path))
    }

    /// The path with its query, as reports show what was sent.
    pub fn target(&self) -> String {
        if self.query.is_empty() {
            return self.path.clone();
        }
        let query: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}?{}", self.path, query.join("&"))
    }
}

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

/// A scenario ready to run: parsed, validated, with compiled expectations.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    /// The scenario.
    pub scenario: Scenario,
    /// Where it came from.
    pub path: PathBuf,
    /// The file's text, for the report (masked by [`crate::redact`] before it is written).
    pub text: String,
    /// Secret values the scenario holds: `${VAR}`s named like secrets, `Authorization` and
    /// `Cookie` header values, the chaos token, and secret-named target env values.
    pub secrets: Vec<String>,
    /// Each phase's load model, in phase order.
    pub loads: Vec<LoadModel>,
    /// Each phase's expectations, in phase order.
    pub expectations: Vec<Vec<Scoped>>,
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

/// Expands `${VAR}` and `${VAR:-default}` from `lookup`; an unset variable without default is an
/// error. The values of variables named like secrets ([`crate::redact::is_secret_name`]) are
/// pushed to `secrets`.
pub fn interpolate(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
    secrets: &mut Vec<String>,
) -> Result<String, (usize, String)> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or((offset + start, "unterminated ${".to_owned()))?;
        let expression = &after[..end];
        let (name, default) = match expression.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (expression, None),
        };
        let value = match (lookup(name), default) {
            (Some(value), _) => value,
            (None, Some(default)) => default.to_owned(),
            (None, None) => {
                return Err((
                    offset + start,
                    format!("environment variable {name} is not set (use ${{{name}:-default}})"),
                ));
            }
        };
        if crate::redact::is_secret_name(name) {
            secrets.push(value.clone());
        }
        out.push_str(&value);
        offset += start + 2 + end + 1;
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Reads, interpolates, parses and validates one scenario file.
pub fn load(path: &Path) -> Result<LoadedScenario, ScenarioError> {
    let error = |line, column, message: String| ScenarioError { file: path.to_owned(), line, column, message };
    let raw = std::fs::read_to_string(path).map_err(|e| error(None, None, format!("cannot read: {e}")))?;
    let mut secrets = Vec::new();
    let text = interpolate(&raw, |name| std::env::var(name).ok(), &mut secrets).map_err(|(at, message)| {
        let (line, column) = line_column(&raw, at);
        error(Some(line), Some(column), message)
    })?;
    let mut loaded = parse(&text, path)?;
    loaded.secrets.extend(secrets);
    Ok(loaded)
}

/// The secret values written in the scenario itself: header values that carry credentials, the
/// chaos token, and target env values named like secrets.
fn written_secrets(scenario: &Scenario) -> Vec<String> {
    let requests = scenario.phases.iter().flat_map(|p| p.requests.iter().flat_map(|r| &r.headers));
    let actions = scenario.phases.iter().flat_map(|p| p.before.iter().chain(&p.after)).chain(&scenario.rollback);
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

/// Parses and validates scenario text (already interpolated).
pub fn parse(text: &str, path: &Path) -> Result<LoadedScenario, ScenarioError> {
    let error = |line, column, message: String| ScenarioError { file: path.to_owned(), line, column, message };
    let scenario: Scenario = serde_yaml::from_str(text).map_err(|e| {
        let location = e.location();
        error(
            location.as_ref().map(|l| l.line()),
            location.as_ref().map(|l| l.column()),
            with_suggestion(&e.to_string()),
        )
    })?;
    let mut loads = Vec::new();
    let mut expectations = Vec::new();
    let mut names = std::collections::HashSet::new();
    if scenario.phases.is_empty() {
        return Err(error(None, None, "a scenario needs at least one phase".into()));
    }
    for (index, phase) in scenario.phases.iter().enumerate() {
        let at = |message: String| {
            let line = find_line(text, &format!("name: {}", phase.name));
            error(line, None, format!("phases[{index}] ({}): {message}", phase.name))
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
        for action in phase.before.iter().chain(&phase.after) {
            validate_action(action).map_err(at)?;
        }
        let model = resolve_load(&phase.load).map_err(at)?;
        phase_limit(&phase.load, &model).map_err(at)?;
        loads.push(model);
        let names: Vec<String> = phase.requests.iter().map(RequestSpec::display_name).collect();
        expectations.push(checks::compile(&phase.expect, &scenario.phases, &names).map_err(at)?);
    }
    for action in &scenario.rollback {
        validate_action(action).map_err(|m| error(find_line(text, "rollback:"), None, format!("rollback: {m}")))?;
    }
    let secrets = written_secrets(&scenario);
    Ok(LoadedScenario { scenario, path: path.to_owned(), text: text.to_owned(), secrets, loads, expectations })
}

/// Scenario files named on the command line: files as given, directories expanded to their
/// `*.yaml`/`*.yml` files in name order.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                .collect();
            found.sort();
            files.extend(found);
        } else if path.exists() {
            files.push(path.clone());
        } else {
            return Err(format!("{}: no such file or directory", path.display()));
        }
    }
    Ok(files)
}

/// Parses `5s`, `250ms`, `2m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| format!("{text:?} is not a duration like 5s or 250ms: {e}"))
}

fn resolve_load(load: &Load) -> Result<LoadModel, String> {
    if let Some(think) = &load.think_time {
        parse_think_time(think)?;
        if load.rate.is_some() {
            return Err(
                "load: think_time applies to closed-model phases; an open-model rate sets its own schedule".into()
            );
        }
    }
    let duration =
        load.duration.as_deref().map(parse_duration).transpose().map_err(|e| format!("load.duration: {e}"))?;
    match (load.rate.as_deref(), &load.ramp, load.iterations, duration) {
        (Some(rate), None, None, Some(duration)) => {
            let per_second: usize = rate
                .trim()
                .strip_suffix("/s")
                .and_then(|n| n.trim().parse().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("load.rate: {rate:?} must look like 200/s"))?;
            let users = load.users.unwrap_or_else(|| (per_second / 5).clamp(2, 1000));
            Ok(LoadModel::Rate { per_second, duration, users })
        }
        (Some(_), _, _, _) => Err("load: an open-model rate needs a duration and no iterations or ramp".into()),
        (None, Some(plan), None, None) if load.users.is_none() => {
            if !plan.trim_end().trim_end_matches(|c: char| c.is_ascii_alphanumeric()).trim_end().ends_with(";0,") {
                return Err(format!(
                    "load.ramp: {plan:?} must end at 0 users (e.g. ...;0,1s) so the phase stops by itself"
                ));
            }
            let duration = plan
                .split(';')
                .map(|step| {
                    step.split_once(',')
                        .map(|(_, t)| parse_duration(t))
                        .unwrap_or_else(|| Err(format!("{step:?} is not users,time")))
                })
                .sum::<Result<Duration, String>>()
                .map_err(|e| format!("load.ramp: {e}"))?;
            Ok(LoadModel::Ramp { plan: plan.clone(), duration })
        }
        (None, Some(_), _, _) => {
            Err("load: a ramp gives users over time by itself; drop users, duration and iterations".into())
        }
        (None, None, Some(iterations), None) if iterations > 0 => {
            Ok(LoadModel::Iterations { users: load.users.unwrap_or(1).max(1), iterations })
        }
        (None, None, None, Some(duration)) => {
            Ok(LoadModel::Duration { users: load.users.unwrap_or(1).max(1), duration })
        }
        (None, None, Some(_), Some(_)) => Err("load: give duration or iterations, not both".into()),
        _ => Err("load: expected users with duration or iterations, a ramp, or rate with duration".into()),
    }
}

/// The wall-time limit of a phase: `max_duration`, or the planned duration + 60 s, or 10 min.
pub fn phase_limit(load: &Load, model: &LoadModel) -> Result<Duration, String> {
    if let Some(limit) = &load.max_duration {
        return parse_duration(limit).map_err(|e| format!("load.max_duration: {e}"));
    }
    Ok(match model {
        LoadModel::Duration { duration, .. } | LoadModel::Ramp { duration, .. } | LoadModel::Rate { duration, .. } => {
            *duration + Duration::from_secs(60)
        }
        LoadModel::Iterations { .. } => Duration::from_secs(600),
    })
}

/// Parses think time: `100ms` or `50ms..200ms`, as (min, max).
pub fn parse_think_time(text: &str) -> Result<(Duration, Duration), String> {
    let (low, high) = text.split_once("..").unwrap_or((text, text));
    let (low, high) = (parse_duration(low)?, parse_duration(high)?);
    if low > high {
        return Err(format!("think_time: {text:?} has its range backwards"));
    }
    Ok((low, high))
}

fn validate_request(request: &RequestSpec) -> Result<(), String> {
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

fn validate_action(action: &Action) -> Result<(), String> {
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

/// Adds "did you mean `x`?" to serde's unknown-field and unknown-variant errors.
fn with_suggestion(message: &str) -> String {
    let unknown = ["unknown field `", "unknown variant `"].iter().find_map(|prefix| {
        let start = message.find(prefix)? + prefix.len();
        let end = message[start..].find('`')? + start;
        Some(&message[start..end])
    });
    let expected: Vec<&str> = message
        .split_once("expected one of ")
        .map(|(_, list)| {
            list.split(", ").map(|s| s.trim_matches(|c: char| c == '`' || c.is_whitespace() || c == ',')).collect()
        })
        .unwrap_or_default();
    let nearest = unknown.and_then(|unknown| {
        expected
            .iter()
            .map(|candidate| (strsim::damerau_levenshtein(unknown, candidate), *candidate))
            .filter(|(distance, candidate)| *distance <= 3.max(candidate.len() / 3))
            .min()
            .map(|(_, candidate)| candidate)
    });
    match nearest {
        Some(candidate) => format!("{message} (did you mean `{candidate}`?)"),
        None => message.to_owned(),
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len(), |n| before.len() - n - 1) + 1;
    (line, column)
}

fn find_line(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|line| line.contains(needle)).map(|n| n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_expands_defaults_and_rejects_unset() {
        let lookup = |name: &str| (name == "HOST").then(|| "example".to_owned());
        let mut secrets = Vec::new();
        assert_eq!(interpolate("a ${HOST} b ${PORT:-80}", lookup, &mut secrets).unwrap(), "a example b 80");
        assert!(secrets.is_empty());
        assert_eq!(interpolate("t: ${API_TOKEN:-s3cr3t}", lookup, &mut secrets).unwrap(), "t: s3cr3t");
        assert_eq!(secrets, ["s3cr3t"], "a secret-named variable's value is remembered for redaction");
        let (at, message) = interpolate("x: ${MISSING}", lookup, &mut secrets).unwrap_err();
        assert_eq!(at, 3);
        assert!(message.contains("MISSING"));
    }

    #[test]
    fn suggestion_names_the_nearest_key() {
        let message = "phases[0]: unknown field `requets`, expected one of `name`, `before`, `load`, `requests`, `expect`, `after`";
        assert!(with_suggestion(message).ends_with("(did you mean `requests`?)"), "{}", with_suggestion(message));
        assert!(!with_suggestion("unknown field `zzzzzzzzzz`, expected one of `name`").contains("did you mean"));
    }

    #[test]
    fn dependency_names_are_checked_with_a_suggestion() {
        let scenario = |head: &str| {
            let text =
                format!("{head}\nname: s\nphases: [{{name: p, load: {{iterations: 1}}, requests: [{{path: /}}]}}]\n");
            parse(&text, Path::new("s.yaml"))
        };
        assert_eq!(
            scenario("requires: [mongodb, redis]").unwrap().scenario.requires,
            [Dependency::Mongodb, Dependency::Redis]
        );
        use Dependency::*;
        for dependency in [Vault, Postgres, Mysql, Mongodb, Redis, Rabbitmq] {
            assert_eq!(serde_json::to_value(dependency).unwrap(), dependency.name());
        }
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
        let scopes: Vec<Option<&str>> = loaded.expectations[0].iter().map(|e| e.request.as_deref()).collect();
        assert_eq!(scopes, [None, Some("GET /health/"), Some("GET /health/")]);
        assert!(loaded.expectations[0][1].describe().starts_with("[GET /health/] "));
        assert_eq!(scenario("{request: ex, status: {200: '== 100%'}}").unwrap().expectations[0].len(), 1);
        let error = scenario("{request: 'GET /health', status: {200: '== 100%'}}").unwrap_err();
        assert!(error.message.contains("did you mean `GET /health/`?"), "{error}");
        let error = scenario("{request: ex, rate_limit: {allowed: 1}}").unwrap_err();
        assert!(error.message.contains("rate_limit judges the whole phase"), "{error}");
    }

    #[test]
    fn requests_with_headers_that_cannot_be_sent_are_invalid() {
        let request = |yaml: &str| validate_request(&serde_yaml::from_str::<RequestSpec>(yaml).unwrap());
        assert!(request("{path: /, headers: {x-id: '7'}}").is_ok());
        assert!(request("{path: /, headers: {'bad name': x}}").unwrap_err().contains("\"bad name\""));
        assert!(request("{path: /, headers: {x-id: \"a\\nb\"}}").unwrap_err().contains("cannot be sent"));
    }

    #[test]
    fn loads_resolve_to_models() {
        let load = |yaml: &str| resolve_load(&serde_yaml::from_str::<Load>(yaml).unwrap());
        assert_eq!(
            load("{users: 4, duration: 5s}").unwrap(),
            LoadModel::Duration { users: 4, duration: Duration::from_secs(5) }
        );
        assert_eq!(load("{users: 2, iterations: 20}").unwrap(), LoadModel::Iterations { users: 2, iterations: 20 });
        assert!(matches!(load("{rate: 200/s, duration: 2s}").unwrap(), LoadModel::Rate { per_second: 200, .. }));
        assert!(
            matches!(load("{ramp: \"5,1s;5,2s;0,1s\"}").unwrap(), LoadModel::Ramp { duration, .. } if duration == Duration::from_secs(4))
        );
        assert!(load("{ramp: \"5,1s;5,2s\"}").unwrap_err().contains("end at 0 users"));
        assert!(load("{users: 2}").is_err());
        assert!(load("{users: 2, duration: 5s, iterations: 3}").is_err());
        assert!(load("{rate: fast, duration: 2s}").is_err());
        assert!(load("{users: 1, duration: soon}").is_err());
    }
}
