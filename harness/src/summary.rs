//! What a run prints on stdout: a table per scenario, every failed check with the first failing
//! requests behind it, every failed baseline row, problems, the verdict line, and after several
//! scenarios one table of them all. Columns are as wide as their longest cell.

use std::path::Path;

use crate::report;
use crate::report::model::RunReport;
use crate::table;

/// Failing requests printed under a phase's failed checks; the report has the rest.
pub const FAILURES_PRINTED: usize = 5;

/// The table at the end of a multi-scenario run: one row per scenario, its columns as wide as
/// the longest name needs.
pub fn print_totals(runs: &[(RunReport, std::path::PathBuf)]) {
    println!("\n{}", totals(runs));
}

/// The rows of [`print_totals`].
pub fn totals(runs: &[(RunReport, std::path::PathBuf)]) -> String {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|(report, _)| {
            let (passed, total) = report.expectation_counts();
            vec![
                report.scenario.clone(),
                report.verdict.label(),
                format!("{passed}/{total}"),
                format!("{:.1}s", report.duration_s),
                report.time_to_recover_s.map_or_else(|| "-".to_owned(), |t| format!("{t:.1}s")),
            ]
        })
        .collect();
    table::render(&["scenario", "verdict", "checks", "duration", "recovered in"], &rows)
}

/// One table per scenario (skipped with `--quiet`), then whatever failed, then the verdict line.
pub fn print(report: &RunReport, directory: &Path, quiet: bool) {
    let verdict = report.verdict.label();
    if !quiet {
        println!("\n{} — {}", report.scenario, report.description);
    }
    if !quiet && !report.phases.is_empty() {
        let rows: Vec<Vec<String>> = report
            .phases
            .iter()
            .map(|phase| {
                let m = &phase.measures;
                let passed = phase.expectations.iter().filter(|e| e.passed).count();
                vec![
                    phase.name.clone(),
                    m.requests.to_string(),
                    format!("{:.1}", m.throughput),
                    format!("{:.2}%", m.error_rate * 100.0),
                    format!("{:.3}", m.latency.p50),
                    format!("{:.3}", m.latency.p95),
                    format!("{:.3}", m.latency.p99),
                    format!("{passed}/{}", phase.expectations.len()),
                ]
            })
            .collect();
        let headers = ["phase", "requests", "req/s", "errors", "p50 ms", "p95 ms", "p99 ms", "checks"];
        println!("{}", table::render(&headers, &rows));
        if let Some(seconds) = report.time_to_recover_s {
            println!("time to recover: {seconds:.1}s");
        }
    }
    // What failed is printed even with --quiet: it is what a CI log is read for.
    for phase in &report.phases {
        for failed in phase.expectations.iter().filter(|e| !e.passed) {
            println!("  FAIL {}/{}: {} (measured {})", phase.name, failed.kind, failed.expected, failed.measured);
        }
        if phase.expectations.iter().any(|e| !e.passed) {
            for failure in phase.failures.iter().take(FAILURES_PRINTED) {
                println!("       {}", report::describe_failure(failure));
            }
            if phase.failures.len() > FAILURES_PRINTED {
                println!("       ... {} more failing requests in report.json", phase.failures.len() - FAILURES_PRINTED);
            }
        }
    }
    if let Some(comparison) = &report.baseline {
        for mismatch in &comparison.mismatches {
            println!(
                "  NOTE baseline: {mismatch}{}",
                if comparison.rule.strict { "" } else { " (fails only with --strict-baseline)" }
            );
        }
        for (subject, expected, measured) in comparison.failures() {
            println!("  FAIL {subject}/baseline: {expected} (measured {measured})");
        }
    }
    for problem in &report.problems {
        println!("  PROBLEM {problem}");
    }
    if let Some(reason) = &report.skipped {
        println!("  SKIPPED: nothing was sent; this scenario {reason}");
    }
    println!("{verdict:<12} {} (seed {}) → {}", report.scenario, report.seed, directory.join("index.html").display());
}
