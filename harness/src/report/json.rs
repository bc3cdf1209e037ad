//! `report.json`: the [`RunReport`] as pretty JSON (stable schema, see `SCHEMA_VERSION`).

use std::path::Path;

use crate::report::model::{RunReport, SCHEMA_VERSION};

/// Serialises a report.
pub fn render(report: &RunReport) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(report)?)
}

/// Reads a report back, refusing newer schema versions (version 1 lacks only per-request
/// statistics, failures and breaker timelines, which read as empty).
pub fn read(path: &Path) -> anyhow::Result<RunReport> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let report: RunReport =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: not a Gauntlet report: {e}", path.display()))?;
    anyhow::ensure!(
        (1..=SCHEMA_VERSION).contains(&report.schema_version),
        "{}: schema version {} (this harness reads {SCHEMA_VERSION})",
        path.display(),
        report.schema_version
    );
    Ok(report)
}
