//! `--baseline`: compares p95, p99 and error rate of each phase with an earlier report and
//! fails on a regression beyond `--max-regression`.

use std::path::Path;

use crate::report::model::{BaselineComparison, ExpectationResult, RunReport};

/// Adds the comparison to `report`; phases are matched by name.
pub fn compare(report: &mut RunReport, baseline: &RunReport, file: &Path, max_regression: f64) {
    let mut rows = Vec::new();
    for phase in &report.phases {
        let Some(before) = baseline.phases.iter().find(|p| p.name == phase.name) else {
            rows.push(ExpectationResult {
                kind: "baseline".into(),
                expected: format!("{}: present in baseline", phase.name),
                measured: "phase missing from the baseline".into(),
                passed: false,
            });
            continue;
        };
        for (statistic, old, new) in
            [("p95", before.latency.p95, phase.latency.p95), ("p99", before.latency.p99, phase.latency.p99)]
        {
            let limit = old * (1.0 + max_regression);
            rows.push(ExpectationResult {
                kind: "baseline".into(),
                expected: format!(
                    "{} {statistic} <= {limit:.3}ms (baseline {old:.3}ms + {:.0}%)",
                    phase.name,
                    max_regression * 100.0
                ),
                measured: format!("{new:.3}ms ({:+.1}%)", if old > 0.0 { (new - old) / old * 100.0 } else { 0.0 }),
                passed: new <= limit,
            });
        }
        // Error rate: relative when the baseline had errors, one percentage point otherwise.
        let limit = if before.error_rate > 0.0 { before.error_rate * (1.0 + max_regression) } else { 0.01 };
        rows.push(ExpectationResult {
            kind: "baseline".into(),
            expected: format!("{} error rate <= {:.2}%", phase.name, limit * 100.0),
            measured: format!("{:.2}% (baseline {:.2}%)", phase.error_rate * 100.0, before.error_rate * 100.0),
            passed: phase.error_rate <= limit,
        });
    }
    report.baseline = Some(BaselineComparison { file: file.display().to_string(), max_regression, rows });
}
