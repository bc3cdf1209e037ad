//! `reports/history.json`: one compact row per scenario run, so trends across runs can be seen
//! without opening every report. Each run appends its row (a run written again, after a
//! baseline comparison, replaces its own); at most [`KEEP_PER_SCENARIO`] rows are kept per
//! scenario, oldest dropped first; a missing or unreadable file is rebuilt from the run
//! directories beside it.
//!
//! A run's headline figures: `p95_ms` is its slowest phase's p95 (the phase a regression shows
//! in first), `error_rate` all errors over all requests, `throughput` all requests over the
//! phases' summed load time.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::report::model::{RunReport, Verdict};

/// The file, in the reports directory.
pub const FILE: &str = "history.json";
/// Rows kept per scenario.
pub const KEEP_PER_SCENARIO: usize = 200;

/// One run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// When it started, RFC 3339 (UTC).
    pub started_at: String,
    /// Its directory, relative to the reports directory.
    pub directory: String,
    /// The scenario.
    pub scenario: String,
    /// The target's version, when it reported one.
    pub target_version: Option<String>,
    /// The seed.
    pub seed: u64,
    /// How it ended.
    pub verdict: Verdict,
    /// Expectations that held.
    pub checks_passed: usize,
    /// Expectations in all.
    pub checks_total: usize,
    /// The slowest phase's p95, ms.
    pub p95_ms: f64,
    /// Errors over requests, all phases.
    pub error_rate: f64,
    /// Requests per second of load, all phases.
    pub throughput: f64,
    /// Seconds from clearing a fault until recovery.
    pub time_to_recover_s: Option<f64>,
    /// Each phase's figures, and each of its requests'.
    pub phases: Vec<PhaseRow>,
}

/// One phase (or one request name within it) of a [`Run`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseRow {
    /// The phase, or the request name.
    pub name: String,
    /// Latency percentiles, ms.
    pub p50_ms: f64,
    /// p95, ms.
    pub p95_ms: f64,
    /// p99, ms.
    pub p99_ms: f64,
    /// Errors over requests.
    pub error_rate: f64,
    /// Requests per second.
    pub throughput: f64,
    /// Per request name (empty for a request row).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<PhaseRow>,
}

impl Run {
    /// The row of `report`, written to `directory`.
    pub fn of(report: &RunReport, directory: &str) -> Self {
        let (checks_passed, checks_total) = report.expectation_counts();
        let requests: u64 = report.phases.iter().map(|p| p.measures.requests).sum();
        let errors: u64 = report.phases.iter().map(|p| p.measures.errors).sum();
        let seconds: f64 = report.phases.iter().map(|p| p.duration_s).sum();
        let row = |name: &str, m: &crate::report::model::Measures| PhaseRow {
            name: name.to_owned(),
            p50_ms: m.latency.p50,
            p95_ms: m.latency.p95,
            p99_ms: m.latency.p99,
            error_rate: m.error_rate,
            throughput: m.throughput,
            requests: Vec::new(),
        };
        Self {
            started_at: report.started_at.clone(),
            directory: directory.to_owned(),
            scenario: report.scenario.clone(),
            target_version: report.target_version.clone(),
            seed: report.seed,
            verdict: report.verdict,
            checks_passed,
            checks_total,
            p95_ms: report.phases.iter().map(|p| p.measures.latency.p95).fold(0.0, f64::max),
            error_rate: if requests > 0 { errors as f64 / requests as f64 } else { 0.0 },
            throughput: if seconds > 0.0 { requests as f64 / seconds } else { 0.0 },
            time_to_recover_s: report.time_to_recover_s,
            phases: report
                .phases
                .iter()
                .map(|phase| PhaseRow {
                    requests: phase.by_request.iter().map(|r| row(&r.name, &r.measures)).collect(),
                    ..row(&phase.name, &phase.measures)
                })
                .collect(),
        }
    }
}

/// Every row in `root/history.json`, oldest first; rebuilt from the run directories when the
/// file is missing or unreadable.
pub fn read(root: &Path) -> Vec<Run> {
    match std::fs::read_to_string(root.join(FILE)).ok().and_then(|text| serde_json::from_str(&text).ok()) {
        Some(runs) => runs,
        None => rebuild(root),
    }
}

/// The rows of every run directory under `root` with a readable `report.json`, oldest first,
/// bounded as [`append`] bounds them.
pub fn rebuild(root: &Path) -> Vec<Run> {
    let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
    let mut runs: Vec<Run> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let report = crate::report::json::read(&entry.path().join("report.json")).ok()?;
            Some(Run::of(&report, &entry.file_name().to_string_lossy()))
        })
        .collect();
    runs.sort_by(|a, b| (&a.started_at, &a.directory).cmp(&(&b.started_at, &b.directory)));
    bound(runs)
}

/// Adds `run` to `root/history.json` (replacing an earlier row of the same directory) and
/// writes it back, bounded.
pub fn append(root: &Path, run: Run) -> anyhow::Result<Vec<Run>> {
    let mut runs = read(root);
    runs.retain(|r| r.directory != run.directory);
    runs.push(run);
    let runs = bound(runs);
    let temporary = root.join(format!("{FILE}.{}", std::process::id()));
    std::fs::write(&temporary, serde_json::to_string_pretty(&runs)?)?;
    std::fs::rename(&temporary, root.join(FILE))?;
    Ok(runs)
}

/// An RFC 3339 time in this machine's time zone, to the second.
pub fn local_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| rfc3339.to_owned())
}

/// `runs` as a table for a terminal, oldest first.
pub fn table(runs: &[Run]) -> String {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|run| {
            vec![
                local_time(&run.started_at),
                run.scenario.clone(),
                run.verdict.label(),
                format!("{}/{}", run.checks_passed, run.checks_total),
                format!("{:.2}", run.p95_ms),
                format!("{:.2}%", run.error_rate * 100.0),
                format!("{:.1}", run.throughput),
                run.time_to_recover_s.map_or_else(|| "-".to_owned(), |t| format!("{t:.1}s")),
                run.target_version.clone().unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    let headers = ["started", "scenario", "verdict", "checks", "p95 ms", "errors", "req/s", "recovered", "version"];
    crate::table::render(&headers, &rows)
}

/// The newest [`KEEP_PER_SCENARIO`] rows of each scenario, in their order.
fn bound(runs: Vec<Run>) -> Vec<Run> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    let mut kept: Vec<Run> = runs
        .into_iter()
        .rev()
        .filter(|run| {
            let count = seen.entry(run.scenario.clone()).or_default();
            *count += 1;
            *count <= KEEP_PER_SCENARIO
        })
        .collect();
    kept.reverse();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(scenario: &str, directory: &str) -> Run {
        Run {
            started_at: format!("2026-12-05T00:00:{directory:0>2}Z"),
            directory: directory.to_owned(),
            scenario: scenario.to_owned(),
            target_version: None,
            seed: 1,
            verdict: Verdict::Passed,
            checks_passed: 1,
            checks_total: 1,
            p95_ms: 1.0,
            error_rate: 0.0,
            throughput: 1.0,
            time_to_recover_s: None,
            phases: Vec::new(),
        }
    }

    #[test]
    fn each_scenario_keeps_its_newest_rows_and_a_rewritten_run_replaces_its_own() {
        let root = std::env::temp_dir().join(format!("gauntlet-history-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        for i in 0..KEEP_PER_SCENARIO + 3 {
            append(&root, run("a", &format!("a{i:04}"))).unwrap();
        }
        append(&root, run("b", "b0")).unwrap();
        let runs = append(&root, run("b", "b0")).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(runs.iter().filter(|r| r.scenario == "a").count(), KEEP_PER_SCENARIO);
        assert_eq!(runs.iter().find(|r| r.scenario == "a").unwrap().directory, "a0003", "the oldest went first");
        assert_eq!(runs.iter().filter(|r| r.scenario == "b").count(), 1, "written again, counted once");
    }
}
