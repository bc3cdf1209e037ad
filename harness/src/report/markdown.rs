//! The run as Markdown, for where CI shows it (`--summary-md FILE`, and appended to
//! `$GITHUB_STEP_SUMMARY` when that is set, as GitHub Actions and k6 do): a verdict table, every
//! failed check with its first failing requests, and every baseline row that did not pass.

use std::path::Path;

use crate::report::comparison::RowVerdict;
use crate::report::model::RunReport;

/// Failing requests shown under each failed check.
const SAMPLES: usize = 3;

/// The summary of `runs`, each with its report directory.
pub fn render(runs: &[(RunReport, std::path::PathBuf)]) -> String {
    let worst = runs.iter().map(|(r, _)| r.verdict).max().map_or_else(|| "NO RUNS".to_owned(), |v| v.label());
    let mut out = format!("## Gauntlet: {worst}\n\n");
    out.push_str("| scenario | verdict | checks | duration | recovered in | report |\n|---|---|---|---|---|---|\n");
    for (report, directory) in runs {
        let (passed, total) = report.expectation_counts();
        out.push_str(&format!(
            "| {} | {} | {passed}/{total} | {:.1}s | {} | {} |\n",
            cell(&report.scenario),
            report.verdict.label(),
            report.duration_s,
            report.time_to_recover_s.map_or_else(|| "-".to_owned(), |t| format!("{t:.1}s")),
            cell(&directory.join("index.html").display().to_string()),
        ));
    }
    let failed: Vec<String> = runs.iter().flat_map(|(report, _)| failed_checks(report)).collect();
    if !failed.is_empty() {
        out.push_str("\n### Failed checks\n\n");
        out.push_str(&failed.join(""));
    }
    let rows: Vec<String> = runs.iter().flat_map(|(report, _)| baseline_rows(report)).collect();
    if !rows.is_empty() {
        out.push_str("\n### Baseline\n\n| scenario | subject | statistic | baseline | now | verdict |\n|---|---|---|---|---|---|\n");
        out.push_str(&rows.join(""));
    }
    let problems: Vec<String> = runs
        .iter()
        .flat_map(|(r, _)| r.problems.iter().map(move |p| format!("- **{}**: {}\n", cell(&r.scenario), cell(p))))
        .collect();
    if !problems.is_empty() {
        out.push_str("\n### Problems\n\n");
        out.push_str(&problems.join(""));
    }
    out
}

fn failed_checks(report: &RunReport) -> Vec<String> {
    let mut out = Vec::new();
    for phase in &report.phases {
        for check in phase.expectations.iter().filter(|e| !e.passed) {
            out.push(format!(
                "- **{}** / {} `{}`: expected {}, measured {}\n",
                cell(&report.scenario),
                cell(&phase.name),
                check.kind,
                cell(&check.expected),
                cell(&check.measured)
            ));
            for failure in phase.failures.iter().take(SAMPLES) {
                out.push(format!("  - `{}`\n", crate::report::describe_failure(failure).replace('`', "'")));
            }
        }
    }
    out
}

fn baseline_rows(report: &RunReport) -> Vec<String> {
    let Some(comparison) = &report.baseline else { return Vec::new() };
    comparison
        .rows
        .iter()
        .filter(|row| row.verdict != RowVerdict::Pass && row.verdict != RowVerdict::Info)
        .map(|row| {
            format!(
                "| {} | {} | {} | {:.3} | {:.3} | {:?}: {} |\n",
                cell(&report.scenario),
                cell(&row.subject()),
                row.statistic,
                row.baseline,
                row.current,
                row.verdict,
                cell(&row.reason)
            )
        })
        .collect()
}

/// Text safe inside a table cell or list item: pipes escaped, one line.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Writes the summary to `file`, and appends it to `step_summary` (GitHub's
/// `$GITHUB_STEP_SUMMARY`) when given.
pub fn write(summary: &str, file: Option<&Path>, step_summary: Option<&Path>) -> std::io::Result<()> {
    if let Some(file) = file {
        std::fs::write(file, summary)?;
    }
    if let Some(step_summary) = step_summary {
        use std::io::Write;
        let mut appended = std::fs::OpenOptions::new().create(true).append(true).open(step_summary)?;
        writeln!(appended, "{summary}")?;
    }
    Ok(())
}
