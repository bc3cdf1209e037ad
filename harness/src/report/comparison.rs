//! What `--baseline` found: the [`Rule`] it judged by and one [`Row`] per statistic, held in
//! the report ([`BaselineComparison`]); [`crate::report::baseline`] fills them in.

use serde::{Deserialize, Serialize};

/// The thresholds of a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Relative tolerance, as a share (0.10 = 10%).
    pub max_regression: f64,
    /// Absolute floor for latency, ms.
    pub min_regression_ms: f64,
    /// Whether a scenario, load or target-version difference fails the run.
    pub strict: bool,
}

/// How one row came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowVerdict {
    /// Within the rule.
    Pass,
    /// A regression.
    Fail,
    /// Too few samples to say.
    NotComparable,
    /// Shown, not judged.
    Info,
}

/// One statistic of one phase (or one request of it), baseline against now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The phase.
    pub phase: String,
    /// The request name, for per-request rows.
    pub request: Option<String>,
    /// `p50`, `p95`, `p99`, `error_rate` or `throughput`.
    pub statistic: String,
    /// The baseline's value (ms, share, or per second).
    pub baseline: f64,
    /// This run's value.
    pub current: f64,
    /// The verdict.
    pub verdict: RowVerdict,
    /// Why, in words.
    pub reason: String,
}

impl Row {
    /// `phase` or `phase [request]`, as summaries name the row.
    pub fn subject(&self) -> String {
        match &self.request {
            Some(request) => format!("{} [{request}]", self.phase),
            None => self.phase.clone(),
        }
    }
}

/// The result of `--baseline`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineComparison {
    /// The baseline report file.
    pub file: String,
    /// The thresholds used.
    pub rule: Rule,
    /// How this run differs from the baseline's (scenario text, load, target version).
    pub mismatches: Vec<String>,
    /// One row per phase (and request name) and statistic.
    pub rows: Vec<Row>,
}

impl BaselineComparison {
    /// Whether the comparison passes: no regression, and no mismatch when strict.
    pub fn passed(&self) -> bool {
        self.rows.iter().all(|r| r.verdict != RowVerdict::Fail) && (!self.rule.strict || self.mismatches.is_empty())
    }

    /// The failures, as `(subject, expected, measured)` for stdout and JUnit.
    pub fn failures(&self) -> Vec<(String, String, String)> {
        let mut failures: Vec<(String, String, String)> = self
            .rows
            .iter()
            .filter(|r| r.verdict == RowVerdict::Fail)
            .map(|r| (r.subject(), format!("{} within the baseline rule", r.statistic), r.reason.clone()))
            .collect();
        if self.rule.strict {
            for mismatch in &self.mismatches {
                failures.push((
                    "run".into(),
                    "same scenario, load and target as the baseline".into(),
                    mismatch.clone(),
                ));
            }
        }
        failures
    }
}
