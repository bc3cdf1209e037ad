//! Reports: [`model::RunReport`] is written as `report.json` ([`json`]), `index.html`
//! ([`html`], one self-contained file) and `junit.xml` ([`junit`]); `reports/index.html` lists
//! every run, newest first. [`baseline`] compares a run with an earlier one.

use std::path::Path;

pub mod baseline;
pub mod charts;
pub mod comparison;
pub mod dashboard;
pub mod history;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod waterfall;

use model::RunReport;

/// Escapes text for HTML and XML content and attribute values (the HTML and JUnit renderers).
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// One failing request in one line: name, what it answered (or why nothing came), request id.
pub fn describe_failure(failure: &crate::measure::FailureSample) -> String {
    let answer = match (failure.status, &failure.error) {
        (Some(status), Some(error)) => format!("{status}, {error}"),
        (Some(status), None) => status.to_string(),
        (None, Some(error)) => format!("no response ({error})"),
        (None, None) => "no response".to_owned(),
    };
    let id = failure.request_id.as_deref().map_or_else(String::new, |id| format!(" [request id {id}]"));
    format!("{} {} at {:.2}s → {answer} in {:.1}ms{id}", failure.method, failure.path, failure.at_s, failure.elapsed_ms)
}

/// Writes the run's three files into `directory`, adds its row to the history beside it and
/// redraws the dashboard (`index.html`) there.
pub fn write(report: &RunReport, directory: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(directory)?;
    std::fs::write(directory.join("report.json"), json::render(report)?)?;
    std::fs::write(directory.join("index.html"), html::render(report))?;
    std::fs::write(directory.join("junit.xml"), junit::render(report))?;
    if let (Some(root), Some(name)) = (directory.parent(), directory.file_name()) {
        let runs = history::append(root, history::Run::of(report, &name.to_string_lossy()))?;
        dashboard::write(root, &runs)?;
    }
    Ok(())
}
