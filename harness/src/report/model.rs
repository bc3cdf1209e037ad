//! [`RunReport`]: everything one scenario run produced. `report.json` serialises it, the HTML
//! and JUnit renderers read it; nothing else computes results.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::checks::breaker::StateChange;
use crate::measure::{FailureSample, Percentiles, PhaseStats, SlowSample, TimelinePoint};
use crate::report::comparison::BaselineComparison;

/// Version of the `report.json` schema; bump on incompatible changes.
pub const SCHEMA_VERSION: u32 = 2;

/// How a run ended; the exit code follows from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every expectation held: exit 0.
    Passed,
    /// A dependency the scenario requires was not healthy, so nothing ran: exit 0, and the
    /// report says so (see [`RunReport::skipped`]).
    Skipped,
    /// An expectation or threshold failed: exit 1.
    Failed,
    /// The generator fell behind its schedule; numbers cannot be trusted: exit 4.
    Invalid,
    /// The target was unreachable or setup failed: exit 3.
    SetupFailed,
    /// Ctrl-C or SIGTERM ended the run (after its rollback): exit 5.
    Interrupted,
}

impl Verdict {
    /// The name in `report.json` (and the HTML badge's class).
    pub fn name(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
            Self::Invalid => "invalid",
            Self::SetupFailed => "setup_failed",
            Self::Interrupted => "interrupted",
        }
    }

    /// The name as summaries print it: `PASSED`, `SETUP FAILED`.
    pub fn label(self) -> String {
        self.name().replace('_', " ").to_uppercase()
    }

    /// The process exit code for this verdict.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Passed | Self::Skipped => 0,
            Self::Failed => 1,
            Self::SetupFailed => crate::EXIT_SETUP_FAILED,
            Self::Invalid => 4,
            Self::Interrupted => 5,
        }
    }
}

/// One scenario run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunReport {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Scenario name.
    pub scenario: String,
    /// Scenario description.
    pub description: String,
    /// The scenario file.
    pub scenario_file: String,
    /// The scenario text as run (after `${ENV}` interpolation).
    pub scenario_text: String,
    /// The seed every random choice used; rerun with `seed:` to replay.
    pub seed: u64,
    /// Target URL.
    pub target: String,
    /// Whether the harness started the target itself.
    pub self_hosted: bool,
    /// The target's version (`/api/version`), when it reports one: baselines compare like with
    /// like.
    #[serde(default)]
    pub target_version: Option<String>,
    /// UTC start time, RFC 3339.
    pub started_at: String,
    /// Wall time of the whole run, seconds.
    pub duration_s: f64,
    /// Outcome.
    pub verdict: Verdict,
    /// Why the run did not pass, in words.
    pub problems: Vec<String>,
    /// Why the run was skipped: the required dependencies that were not healthy.
    #[serde(default)]
    pub skipped: Option<String>,
    /// Headline: time from clearing a fault until recovery, seconds.
    pub time_to_recover_s: Option<f64>,
    /// Phases, in run order.
    pub phases: Vec<PhaseReport>,
    /// Rollback actions (always run).
    pub rollback: Vec<ActionLog>,
    /// Target CPU and memory over the run.
    pub resources: Vec<ResourceSample>,
    /// The fault proxies the run started, with their bound addresses.
    #[serde(default)]
    pub proxies: Vec<ProxyAddress>,
    /// The self-hosted target's log file and how it was bounded.
    #[serde(default)]
    pub target_log: Option<TargetLog>,
    /// Comparison with a baseline report, when one was given.
    pub baseline: Option<BaselineComparison>,
    /// What the run's trace receiver took in and dropped, when the harness hosted the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traces: Option<crate::trace::TraceSummary>,
}

/// One phase's results.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PhaseReport {
    /// Phase name.
    pub name: String,
    /// The load, in words.
    pub load: String,
    /// Seconds from run start to the load's start.
    pub started_at_s: f64,
    /// Seconds the load ran.
    pub duration_s: f64,
    /// Its counts, rates and percentiles.
    #[serde(flatten)]
    pub measures: Measures,
    /// The same statistics per request name, worst first (most errors, then slowest p99).
    #[serde(default)]
    pub by_request: Vec<RequestReport>,
    /// The first failing responses of each request name and kind of failure, in time order.
    #[serde(default)]
    pub failures: Vec<FailureSample>,
    /// The slowest successful traced responses per request name, slowest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slowest: Vec<SlowSample>,
    /// What a bounded buffer dropped in this phase, in words (empty when nothing was).
    #[serde(default)]
    pub dropped: Vec<String>,
    /// Each breaker's polled state: the state at the phase's start, then every change.
    #[serde(default)]
    pub breakers: BTreeMap<String, Vec<StateChange>>,
    /// Actions before and after the load.
    pub actions: Vec<ActionLog>,
    /// Each expectation and its verdict.
    pub expectations: Vec<ExpectationResult>,
    /// For open-model phases: intended vs achieved rate.
    pub schedule: Option<Schedule>,
    /// In a distributed run, what each worker sent (their sum is the phase's count).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<WorkerCount>,
}

/// One request name's statistics within a phase.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RequestReport {
    /// The request's name (`METHOD path` unless given).
    pub name: String,
    /// Its counts, rates and percentiles.
    #[serde(flatten)]
    pub measures: Measures,
}

/// What a phase, or one request name within it, measured: counts, rates, percentiles and the
/// per-second timeline.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Measures {
    /// Responses recorded.
    pub requests: u64,
    /// Transport failures and statuses >= 400.
    pub errors: u64,
    /// Responses per second.
    pub throughput: f64,
    /// errors / requests.
    pub error_rate: f64,
    /// Responses per status (0 = transport failure).
    #[serde(deserialize_with = "status_keys")]
    pub status_counts: BTreeMap<u16, u64>,
    /// Raw latency percentiles, ms.
    pub latency: Percentiles,
    /// Coordinated-omission corrected percentiles, ms (open-model phases).
    pub latency_corrected: Option<Percentiles>,
    /// Per-second requests, errors and p95.
    pub timeline: Vec<TimelinePoint>,
}

/// Status counts read back: JSON object keys are strings, and a flattened struct does not turn
/// them into numbers by itself.
fn status_keys<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<u16, u64>, D::Error> {
    let counts = BTreeMap::<String, u64>::deserialize(deserializer)?;
    counts
        .into_iter()
        .map(|(status, count)| status.parse().map(|s| (s, count)).map_err(serde::de::Error::custom))
        .collect()
}

impl Measures {
    /// The report's view of a phase's (or request's) statistics.
    pub fn of(stats: &PhaseStats) -> Self {
        Self {
            requests: stats.requests,
            errors: stats.errors,
            throughput: stats.throughput(),
            error_rate: stats.error_rate(),
            status_counts: stats.status_counts.clone(),
            latency: stats.latency.clone(),
            latency_corrected: stats.latency_corrected.clone(),
            timeline: stats.timeline.clone(),
        }
    }
}

/// An action and how it went.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ActionLog {
    /// `before`, `after` or `rollback`.
    pub stage: String,
    /// The YAML key: chaos, clear_chaos, wait, http, exec, network, proxy, clear_network, process.
    pub kind: String,
    /// What it did.
    pub description: String,
    /// Seconds from run start.
    pub at_s: f64,
    /// How long it took.
    pub duration_ms: f64,
    /// Whether it succeeded.
    pub ok: bool,
    /// Its answer or error.
    pub message: String,
}

/// One expectation's verdict.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ExpectationResult {
    /// The YAML key of its kind.
    pub kind: String,
    /// What was expected.
    pub expected: String,
    /// What was measured.
    pub measured: String,
    /// Whether it held.
    pub passed: bool,
}

/// Intended vs achieved request rate of an open-model phase.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Schedule {
    /// Requests per second asked for.
    pub intended_rate: f64,
    /// Requests per second achieved.
    pub achieved_rate: f64,
    /// Whether the generator fell behind beyond the budget.
    pub behind: bool,
}

impl RunReport {
    /// The verdict: a setup failure, interruption or overrun was recorded when it happened; a run
    /// whose required dependencies were unhealthy is skipped; otherwise an open-model phase that
    /// fell behind makes the run invalid, and a failed expectation, baseline row or rollback action
    /// makes it fail.
    pub fn decide(&self) -> Verdict {
        let report = self;
        if matches!(report.verdict, Verdict::SetupFailed | Verdict::Invalid | Verdict::Interrupted) {
            report.verdict
        } else if report.skipped.is_some() {
            Verdict::Skipped
        } else if report.phases.iter().any(|p| p.schedule.as_ref().is_some_and(|s| s.behind)) {
            Verdict::Invalid
        } else if !report.all_passed() || report.rollback.iter().any(|action| !action.ok) {
            Verdict::Failed
        } else {
            Verdict::Passed
        }
    }

    /// How many expectations held, and how many there were, over every phase.
    pub fn expectation_counts(&self) -> (usize, usize) {
        let expectations = self.phases.iter().flat_map(|p| &p.expectations);
        (expectations.clone().filter(|e| e.passed).count(), expectations.count())
    }

    /// Whether every expectation (and baseline row) held.
    pub fn all_passed(&self) -> bool {
        self.phases.iter().flat_map(|p| &p.expectations).all(|e| e.passed)
            && self.baseline.as_ref().is_none_or(BaselineComparison::passed)
    }
}

/// One sample of the target's resource use (from its `/api/info`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ResourceSample {
    /// Seconds since the run started.
    pub at_s: f64,
    /// Process CPU, percent of one core.
    pub cpu_percent: f64,
    /// Process resident memory, MiB.
    pub memory_mb: f64,
}

/// Where one proxy listens and what it forwards to, for the report and the console.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProxyAddress {
    /// The name under `proxies:`.
    pub name: String,
    /// The bound `ip:port`.
    pub listen: String,
    /// `host:port` it forwards to.
    pub upstream: String,
}

/// Requests and errors one worker sent in a phase.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct WorkerCount {
    /// Its index.
    pub worker: usize,
    /// Responses it recorded.
    pub requests: u64,
    /// Of which errors.
    pub errors: u64,
}

/// How the target's log was written and bounded.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetLog {
    /// The file, relative to the run directory.
    pub file: String,
    /// Lines the target wrote.
    pub lines: u64,
    /// Lines kept in the file.
    pub written: u64,
    /// Routine lines left out by sampling.
    pub sampled_out: u64,
    /// Lines left out because the file reached [`MAX_BYTES`].
    pub over_size: u64,
    /// The rule, in words.
    pub bound: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_read_back_from_their_flattened_json() {
        let json = r#"{"name":"GET /","requests":3,"errors":1,"throughput":1.5,"error_rate":0.33,"status_counts":{"200":2,"0":1},"latency":{"p50":1.0,"p90":1.0,"p95":1.0,"p99":1.0,"p999":1.0,"min":1.0,"max":1.0,"mean":1.0},"latency_corrected":null,"timeline":[]}"#;
        let request: RequestReport = serde_json::from_str(json).unwrap();
        assert_eq!(request.measures.status_counts, BTreeMap::from([(0, 1), (200, 2)]));
        assert_eq!(serde_json::to_value(&request).unwrap()["status_counts"]["200"], 2);
    }

    #[test]
    fn verdict_names_are_the_report_json_names() {
        let all = [
            Verdict::Passed,
            Verdict::Skipped,
            Verdict::Failed,
            Verdict::Invalid,
            Verdict::SetupFailed,
            Verdict::Interrupted,
        ];
        for verdict in all {
            assert_eq!(serde_json::to_value(verdict).unwrap(), verdict.name());
        }
        assert_eq!(Verdict::SetupFailed.label(), "SETUP FAILED");
    }
}
