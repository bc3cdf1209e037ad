//! The command line (clap derive); doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit codes, shown under `--help`.
pub const EXIT_CODES: &str = "Exit codes:
  0  every check passed (or a scenario was skipped: a dependency it `requires` was unhealthy)
  1  a check or threshold failed
  2  invalid scenario or usage
  3  target unreachable or setup failed (including a failed `before` action)
  4  run invalid: the load generator fell behind its schedule, so its numbers cannot be trusted
  5  interrupted by Ctrl-C or SIGTERM (after the rollback); later scenarios do not run";

/// Gauntlet: run YAML chaos and load scenarios against a target, check its resilience, write
/// reports, and gate CI on the result.
#[derive(Debug, Parser)]
#[command(name = "harness", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenario files or directories of them, in order.
    Run(RunArgs),
    /// Check scenario files without running them.
    Validate {
        /// Scenario files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// List the scenarios found and what each checks.
    List {
        /// Scenario files or directories.
        #[arg(default_value = "scenarios")]
        paths: Vec<PathBuf>,
    },
    /// Manual fault injection against a running target (its /chaos API and /demo endpoints).
    Fault(FaultArgs),
    /// TCP fault proxies behind a Toxiproxy-compatible HTTP API (`serve`), and a client for any
    /// such API, real Toxiproxy included (`list`, `create`, `toxic add`, ...).
    Proxy(ProxyArgs),
    /// Run scenarios as the coordinator of workers that join from elsewhere (Kubernetes: see
    /// harness/deploy/kubernetes); needs --workers.
    Coordinate {
        /// The run, as for `harness run`.
        #[command(flatten)]
        run: RunArgs,
        /// Where workers reach the coordinator.
        #[arg(long, default_value = "0.0.0.0:7070")]
        listen: std::net::SocketAddr,
        /// The secret every worker presents (at least 16 characters).
        #[arg(long, env = crate::distributed::token::ENV, hide_env_values = true)]
        token: String,
        /// After the run, keep serving the report directory at `/reports/` (behind the same
        /// token) this long, e.g. `10m`, so it can be fetched from a pod that is about to end.
        #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse_duration)]
        serve_report_for: Option<std::time::Duration>,
    },
    /// Send a share of a coordinator's load (started by `run --workers`, or by Kubernetes).
    Worker {
        /// The coordinator's URL, e.g. http://gauntlet-coordinator:7070.
        #[arg(long)]
        coordinator: String,
        /// This worker's index, 0 to N-1 (an Indexed Job sets JOB_COMPLETION_INDEX).
        #[arg(long, env = "JOB_COMPLETION_INDEX")]
        index: usize,
        /// The coordinator's secret.
        #[arg(long, env = crate::distributed::token::ENV, hide_env_values = true)]
        token: String,
    },
    /// The runs recorded in the reports directory's history.json, as a table.
    History {
        /// Where run directories and history.json are.
        #[arg(long, default_value = "reports")]
        report_dir: PathBuf,
        /// Only this scenario's runs.
        #[arg(long)]
        scenario: Option<String>,
        /// The newest N runs.
        #[arg(long, default_value_t = 20)]
        last: usize,
        /// Print the rows as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Re-render a report.json (HTML, JUnit) and optionally compare it with a baseline.
    Report {
        /// The report.json to re-render.
        report: PathBuf,
        /// How to compare with a baseline.
        #[command(flatten)]
        baseline: BaselineArgs,
    },
}

/// `harness run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files or directories.
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
    /// Target base URL (http or https); overrides the scenarios' targets. Without it, and
    /// without a target URL in the scenario, the harness starts target-app itself.
    #[arg(long, env = "GAUNTLET_TARGET")]
    pub target: Option<String>,
    /// Allow a target that is not on this machine (any http or https URL; HTTPS uses the
    /// platform's trust roots). Without it, a non-loopback target is refused (exit 2).
    #[arg(long, env = ALLOW_REMOTE_ENV)]
    pub allow_remote: bool,
    /// The target-app binary to self-host (default: next to this binary).
    #[arg(long, env = "GAUNTLET_TARGET_BIN")]
    pub target_bin: Option<PathBuf>,
    /// The shop binary, for scenarios with `target: {topology: shop}` (default: next to this
    /// binary).
    #[arg(long, env = "GAUNTLET_SHOP_BIN")]
    pub shop_bin: Option<PathBuf>,
    /// Where run directories are written.
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// No live progress lines; one summary line per scenario.
    #[arg(long)]
    pub quiet: bool,
    /// End a scenario at its first failed phase: its later phases do not run (the rollback
    /// still does), and the report says which were left out.
    #[arg(long)]
    pub fail_fast: bool,
    /// How to compare with a baseline.
    #[command(flatten)]
    pub baseline: BaselineArgs,
    /// How far (percent) an open-model phase may fall short of its rate before the run is invalid.
    #[arg(long, default_value_t = 10.0)]
    pub schedule_budget: f64,
    /// Serve the run's live Prometheus metrics on this address (e.g. 127.0.0.1:9464) while it
    /// runs; off by default. See README "Watching a run live".
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Push the same series with Prometheus remote write to URL (e.g.
    /// http://prometheus:9090/api/v1/write) every second while the run lasts; off by default.
    #[arg(long, value_name = "URL")]
    pub metrics_push: Option<String>,
    /// Also write a Markdown summary (verdicts, failed checks with their failing requests,
    /// baseline rows) to FILE, for a CI job's summary page.
    #[arg(long, value_name = "FILE")]
    pub summary_md: Option<PathBuf>,
    /// GitHub Actions' job summary file: the Markdown summary is appended to it.
    #[arg(long, env = "GITHUB_STEP_SUMMARY", hide = true)]
    pub github_step_summary: Option<PathBuf>,
    /// Spread each phase's load over N local worker processes (see README "Distributed runs").
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
}

/// `--baseline` and its rule (see README "Baseline gates").
#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// Compare with this earlier report.json; a regression fails the run.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Latency and error-rate regression tolerated against the baseline, in percent.
    #[arg(long, default_value_t = 10.0)]
    pub max_regression: f64,
    /// A latency regression must also exceed this many milliseconds (absolute floor).
    #[arg(long, default_value_t = 1.0)]
    pub min_regression_ms: f64,
    /// Fail when the scenario text, a phase's load or the target's version differs from the
    /// baseline's (otherwise the difference is only reported).
    #[arg(long)]
    pub strict_baseline: bool,
}

impl BaselineArgs {
    /// The comparison rule these flags set.
    pub fn rule(&self) -> crate::report::comparison::Rule {
        crate::report::comparison::Rule {
            max_regression: self.max_regression / 100.0,
            min_regression_ms: self.min_regression_ms,
            strict: self.strict_baseline,
        }
    }
}

/// The variable that opts in to targets off this machine, for scripts.
pub const ALLOW_REMOTE_ENV: &str = "GAUNTLET_ALLOW_REMOTE";

/// How a command a person runs by hand reaches its API and prints its answers.
#[derive(Debug, Args)]
pub struct ManualArgs {
    /// Allow a URL that is not on this machine (http or https). Without it, one is refused
    /// (exit 2).
    #[arg(long, global = true, env = ALLOW_REMOTE_ENV)]
    pub allow_remote: bool,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `harness fault`.
#[derive(Debug, Args)]
pub struct FaultArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: FaultCommand,
    /// Target base URL.
    #[arg(long, global = true, env = "GAUNTLET_TARGET", default_value = "http://127.0.0.1:8000")]
    pub target: String,
    /// Bearer token for the target's /chaos API.
    #[arg(long, global = true, env = "CHAOS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Remote opt-in and output.
    #[command(flatten)]
    pub manual: ManualArgs,
}

/// `harness proxy`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ProxyCommand,
    /// The proxy API the client commands talk to (any Toxiproxy-compatible one).
    #[arg(long, global = true, env = "TOXIPROXY_URL", default_value = "http://127.0.0.1:8474")]
    pub api: String,
    /// Remote opt-in and output (client commands).
    #[command(flatten)]
    pub manual: ManualArgs,
}

/// `harness proxy ...`.
#[derive(Debug, Subcommand)]
pub enum ProxyCommand {
    /// Serve proxies and the Toxiproxy HTTP API (`/version`, `/proxies`, `/proxies/{name}`,
    /// `/proxies/{name}/toxics[/{toxic}]`, `/reset`, `/populate`) until Ctrl-C.
    Serve {
        /// Address of the HTTP API (Toxiproxy's default port).
        #[arg(long, default_value = "127.0.0.1:8474")]
        listen: std::net::SocketAddr,
        /// Proxies to create at start: a JSON array of `{name, listen, upstream, enabled}`.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// List the proxies and how many toxics each has.
    List,
    /// Show one proxy and its toxics.
    Inspect {
        /// The proxy.
        name: String,
    },
    /// Create a proxy.
    Create {
        /// Its name.
        name: String,
        /// `host:port` to forward to.
        #[arg(short, long)]
        upstream: String,
        /// `host:port` to listen on (default: a free loopback port).
        #[arg(short, long)]
        listen: Option<String>,
    },
    /// Turn a proxy off (cutting its connections) or on again.
    Toggle {
        /// The proxy.
        name: String,
    },
    /// Delete a proxy.
    Delete {
        /// The proxy.
        name: String,
    },
    /// Enable every proxy and remove every toxic.
    Reset,
    /// Add or remove a toxic.
    #[command(subcommand)]
    Toxic(ToxicCommand),
}

/// `harness proxy toxic ...`.
#[derive(Debug, Subcommand)]
pub enum ToxicCommand {
    /// Add a toxic, e.g. `harness proxy toxic add db -t latency -a latency=200 -a jitter=20`.
    Add {
        /// The proxy.
        proxy: String,
        /// latency, bandwidth, slow_close, timeout, reset_peer, limit_data, slicer or noop.
        #[arg(short = 't', long = "type")]
        kind: String,
        /// Its name (default `<type>_<stream>`).
        #[arg(short, long)]
        name: Option<String>,
        /// upstream or downstream (default downstream).
        #[arg(short, long)]
        stream: Option<String>,
        /// Share of connections it applies to, 0.0-1.0 (default 1).
        #[arg(long)]
        toxicity: Option<f64>,
        /// An attribute as key=value (a number), repeated.
        #[arg(short, long = "attribute")]
        attributes: Vec<String>,
    },
    /// Remove a toxic.
    Remove {
        /// The proxy.
        proxy: String,
        /// The toxic's name.
        #[arg(short, long)]
        name: String,
    },
}

/// `harness fault ...`.
#[derive(Debug, Subcommand)]
pub enum FaultCommand {
    /// Inject a dependency fault.
    Inject {
        /// What gets the fault: vault, postgres, mysql, mongodb, redis or rabbitmq for
        /// target-app; users, products, orders, inventory, notifications, vault or rabbitmq on
        /// a shop service (the target validates it).
        dependency: String,
        /// error, latency or timeout.
        kind: wire::FaultKind,
        /// Delay for latency faults.
        #[arg(long)]
        latency_ms: Option<u64>,
        /// Chance per call, 0.0-1.0.
        #[arg(long)]
        probability: Option<f64>,
        /// Lifetime in seconds (the fault expires by itself).
        #[arg(long, default_value_t = 30)]
        duration_s: u64,
    },
    /// List active faults.
    List {
        /// Refresh the list every second until Ctrl-C.
        #[arg(long)]
        watch: bool,
    },
    /// Clear one fault by id, or all.
    Clear {
        /// The fault id; all faults when absent.
        id: Option<String>,
    },
    /// Call a /demo fault endpoint once, e.g. `harness fault demo memory mb=200 hold_ms=5000`.
    Demo {
        /// Which injector.
        kind: DemoKind,
        /// Query parameters as key=value.
        params: Vec<String>,
    },
}

/// The `/demo/*` endpoints.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DemoKind {
    /// /demo/slow (delay_ms)
    Slow,
    /// /demo/error (rate, status)
    Error,
    /// /demo/cpu (duration_ms)
    Cpu,
    /// /demo/memory (mb, hold_ms)
    Memory,
}

impl DemoKind {
    /// Its path under `/demo/`.
    pub fn path(self) -> &'static str {
        match self {
            Self::Slow => "slow",
            Self::Error => "error",
            Self::Cpu => "cpu",
            Self::Memory => "memory",
        }
    }
}
