//! The run plan: a scenario compiled once ([`crate::scenario::compile`]) into what the runner
//! executes. Nothing here is parsed again: durations are [`Duration`]s, names that are fixed
//! sets are [`wire`] enums, faults and toxics are the messages sent, loads are resolved
//! [`LoadModel`]s and expectations are compiled. It imports no other module of the harness but
//! the compiled expectations ([`crate::checks::Scoped`]).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::checks::Scoped;
use wire::chaos::FaultRequest;
use wire::toxic::Toxic;
use wire::{Dependency, ShopService};

/// One scenario, ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Short name, used in report paths.
    pub name: String,
    /// What the scenario shows.
    pub description: String,
    /// Where traffic goes.
    pub target: Target,
    /// The target may be a URL off this machine.
    pub allow_remote: bool,
    /// Seed for every random choice; random when absent.
    pub seed: Option<u64>,
    /// Labels for `harness list` and selection.
    pub tags: Vec<String>,
    /// Dependencies that must report healthy on the target for the run to mean anything.
    pub requires: Vec<Dependency>,
    /// Phases, run in order.
    pub phases: Vec<Phase>,
    /// Steps that always run at the end, even after a failure or Ctrl-C.
    pub rollback: Vec<Step>,
    /// TCP fault proxies the run starts, by name.
    pub proxies: BTreeMap<String, ProxySpec>,
    /// `trace.sample`: the share of requests sent with a sampled `traceparent`, when given.
    pub trace_sample: Option<f64>,
}

impl Plan {
    /// Every step of every phase (before, then after) and of rollback, in that order.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.phases.iter().flat_map(|p| p.before.iter().chain(&p.after)).chain(&self.rollback)
    }

    /// Whether the target is a shop the harness hosts or reaches (`topology: shop`).
    pub fn is_shop(&self) -> bool {
        self.target.is_shop()
    }
}

/// The target: a URL, or what to host, with its chaos token and env.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// Base URL of a running target; `None` starts `target-app` (or the topology) on free
    /// loopback ports.
    pub url: Option<String>,
    /// What to self-host instead of target-app.
    pub topology: Option<Topology>,
    /// Bearer token for the target's `/chaos` API.
    pub chaos_token: Option<String>,
    /// Environment for the self-hosted target.
    pub env: BTreeMap<String, String>,
}

impl Target {
    /// Whether it is a shop (`topology: shop`).
    pub fn is_shop(&self) -> bool {
        self.topology == Some(Topology::Shop)
    }
}

/// A multi-service target the harness can host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Topology {
    /// The shop: a gateway and five services; load goes to the gateway.
    Shop,
}

/// One phase: steps before, load with requests, expectations, steps after.
#[derive(Debug, Clone)]
pub struct Phase {
    /// Name, unique within the scenario.
    pub name: String,
    /// Steps run before the load starts.
    pub before: Vec<Step>,
    /// How much load, for how long.
    pub load: LoadModel,
    /// Pause between a user's requests, as a (min, max) range.
    pub think_time: Option<(Duration, Duration)>,
    /// The phase's wall-time limit; a phase that runs over ends the run as invalid.
    pub limit: Duration,
    /// The requests every user sends, weighted.
    pub requests: Vec<Request>,
    /// What must hold afterwards, each scoped to a request name or to the whole phase.
    pub expectations: Vec<Scoped>,
    /// Steps run after the load ends.
    pub after: Vec<Step>,
}

/// One request of a phase. Its strings may hold `${name}`s a user fills from its captures at
/// send time ([`crate::variables`]), so they stay text.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
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
    /// Values to keep from a 2xx JSON answer for this user's later requests: name → JSON
    /// pointer.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// Sent once by each user when it starts, in file order, before the weighted requests
    /// (register, log in); `weight` is then ignored.
    #[serde(default)]
    pub once: bool,
}

/// The method a request or an `http:` step sends when none is given.
pub fn default_method() -> String {
    "GET".to_owned()
}
fn default_weight() -> usize {
    1
}

impl Request {
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

/// The load model of a phase.
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

impl LoadModel {
    /// Worker `index`'s part of this load among `workers`: users (and an open model's rate)
    /// split as evenly as whole numbers allow, the first workers taking one more; iterations
    /// per user and durations unchanged. `None` when the part is empty, or for a ramp, whose
    /// plan does not split (validation refuses it in distributed runs).
    pub fn share(&self, index: usize, workers: usize) -> Option<LoadModel> {
        let part = |total: usize| total / workers + usize::from(index < total % workers);
        let share = match *self {
            Self::Duration { users, duration } => Self::Duration { users: part(users), duration },
            Self::Iterations { users, iterations } => Self::Iterations { users: part(users), iterations },
            Self::Rate { per_second, duration, users } => {
                let per_second = part(per_second);
                Self::Rate { per_second, duration, users: part(users).max(usize::from(per_second > 0)) }
            }
            Self::Ramp { .. } => return None,
        };
        match share {
            Self::Duration { users: 0, .. } | Self::Iterations { users: 0, .. } | Self::Rate { per_second: 0, .. } => {
                None
            }
            share => Some(share),
        }
    }
}

/// A step run before or after a phase's load, or at rollback.
#[derive(Debug, Clone)]
pub enum Step {
    /// Inject a fault through the target's `/chaos/faults` (under a shop, in `service` alone
    /// or in every service).
    Chaos {
        /// The request sent.
        fault: FaultRequest,
        /// The one shop service whose calls get it.
        service: Option<ShopService>,
        /// How long the injection may take.
        timeout: Duration,
    },
    /// Clear every chaos fault.
    ClearChaos {
        /// How long the call may take.
        timeout: Duration,
    },
    /// Sleep.
    Wait(Duration),
    /// A one-off request.
    Http(HttpStep),
    /// A shell command (`sh -c`, with `TARGET_URL` set), killed after `timeout`.
    Exec {
        /// The command.
        command: String,
        /// How long it may run.
        timeout: Duration,
    },
    /// Add a toxic to one of the run's proxies.
    Network {
        /// The proxy, by name.
        proxy: String,
        /// What it adds.
        toxic: Toxic,
        /// Removed again after this long; stays until cleared when `None`.
        lasts: Option<Duration>,
    },
    /// Turn a proxy off (refuse new connections, cut open ones) or back on.
    Proxy {
        /// The proxy, by name.
        name: String,
        /// Whether it accepts connections afterwards.
        enabled: bool,
    },
    /// Remove every toxic and re-enable every proxy.
    ClearNetwork,
    /// Send a signal to a process the project started.
    Process(ProcessStep),
}

impl Step {
    /// Whether it ends faults, so a later phase's recovery is timed from it.
    pub fn clears_faults(&self) -> bool {
        match self {
            Self::ClearChaos { .. } | Self::ClearNetwork => true,
            Self::Proxy { enabled, .. } => *enabled,
            Self::Process(process) => !process.signal.stops(),
            _ => false,
        }
    }
}

/// An `http:` step.
#[derive(Debug, Clone)]
pub struct HttpStep {
    /// Method, upper case.
    pub method: String,
    /// Path on the target, or a full loopback URL (may hold `${name}`s).
    pub path: String,
    /// Extra headers.
    pub headers: BTreeMap<String, String>,
    /// JSON body.
    pub body: Option<serde_json::Value>,
    /// Status that counts as success (any 2xx when `None`).
    pub expect_status: Option<u16>,
    /// How long the request may take.
    pub timeout: Duration,
    /// Values to keep from the JSON answer for the rest of the run: name → JSON pointer.
    pub capture: BTreeMap<String, String>,
}

/// A `process:` step: a process by name and what to do to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessStep {
    /// A name from `scripts/services.sh status` (`redis-7002`, `vault`) or a hosted service.
    pub name: String,
    /// What to do to it.
    pub signal: Signal,
}

/// What a process step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    /// SIGSTOP: it stays alive but answers nothing.
    Pause,
    /// SIGCONT.
    Resume,
    /// SIGKILL.
    Kill,
    /// SIGKILL if alive, then start it again as the dev stack does.
    Restart,
}

impl Signal {
    /// Whether it takes the process out (pause, kill) rather than bringing it back.
    pub fn stops(self) -> bool {
        matches!(self, Self::Pause | Self::Kill)
    }

    /// The YAML name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Kill => "kill",
            Self::Restart => "restart",
        }
    }
}

/// One proxy: where it forwards, and optionally where it listens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySpec {
    /// `host:port` to forward to; absent only for a shop service's proxy (that service).
    pub upstream: Option<String>,
    /// `ip:port` to listen on; a free loopback port when absent.
    pub listen: Option<String>,
}
