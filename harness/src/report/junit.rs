//! `junit.xml`: one test case per expectation, one suite per phase, for CI dashboards.

use crate::report::comparison::RowVerdict;
use crate::report::escape;
use crate::report::model::RunReport;

/// Renders the JUnit XML.
pub fn render(report: &RunReport) -> String {
    let mut suites = String::new();
    let mut total = 0;
    let mut failures = 0;
    for phase in &report.phases {
        let failed = phase.expectations.iter().filter(|e| !e.passed).count();
        total += phase.expectations.len();
        failures += failed;
        suites.push_str(&format!(
            "  <testsuite name=\"{}.{}\" tests=\"{}\" failures=\"{failed}\" time=\"{:.3}\">\n",
            escape(&report.scenario),
            escape(&phase.name),
            phase.expectations.len(),
            phase.duration_s
        ));
        for expectation in &phase.expectations {
            let name = escape(&format!("{}: {}", expectation.kind, expectation.expected));
            if expectation.passed {
                suites.push_str(&format!("    <testcase name=\"{name}\" classname=\"{}\"/>\n", escape(&phase.name)));
            } else {
                suites.push_str(&format!(
                    "    <testcase name=\"{name}\" classname=\"{}\">\n      <failure message=\"measured {}\">{}</failure>\n    </testcase>\n",
                    escape(&phase.name),
                    escape(&expectation.measured),
                    escape(&failing_requests(phase))
                ));
            }
        }
        suites.push_str("  </testsuite>\n");
    }
    if let Some(comparison) = &report.baseline {
        let failed = comparison.failures();
        let judged = comparison.rows.iter().filter(|r| r.verdict == RowVerdict::Pass).count() + failed.len();
        total += judged;
        failures += failed.len();
        suites.push_str(&format!("  <testsuite name=\"baseline\" tests=\"{judged}\" failures=\"{}\">\n", failed.len()));
        for row in comparison.rows.iter().filter(|r| r.verdict == RowVerdict::Pass) {
            let name = escape(&format!("{}/{}: {}", row.subject(), row.statistic, row.reason));
            suites.push_str(&format!("    <testcase name=\"{name}\" classname=\"baseline\"/>\n"));
        }
        for (subject, expected, measured) in failed {
            suites.push_str(&format!(
                "    <testcase name=\"{}\" classname=\"baseline\">\n      <failure message=\"measured {}\"/>\n    </testcase>\n",
                escape(&format!("{subject}/baseline: {expected}")),
                escape(&measured)
            ));
        }
        suites.push_str("  </testsuite>\n");
    }
    if let Some(reason) = &report.skipped {
        total += 1;
        suites.push_str(&format!(
            "  <testsuite name=\"run\" tests=\"1\" skipped=\"1\"><testcase name=\"required dependencies healthy\"><skipped message=\"{}\"/></testcase></testsuite>\n",
            escape(reason)
        ));
    }
    if !report.problems.is_empty() {
        total += 1;
        failures += 1;
        suites.push_str(&format!(
            "  <testsuite name=\"run\" tests=\"1\" errors=\"1\"><testcase name=\"run completed\"><error message=\"{}\"/></testcase></testsuite>\n",
            escape(&report.problems.join("; "))
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"{}\" tests=\"{total}\" failures=\"{failures}\" skipped=\"{}\" time=\"{:.3}\">\n{suites}</testsuites>\n",
        escape(&report.scenario),
        usize::from(report.skipped.is_some()),
        report.duration_s
    )
}

/// The phase's failing requests, one per line, for a failed expectation's text.
fn failing_requests(phase: &crate::report::model::PhaseReport) -> String {
    if phase.failures.is_empty() {
        return "no failing requests were sampled in this phase".to_owned();
    }
    let lines: Vec<String> = phase.failures.iter().map(crate::report::describe_failure).collect();
    format!("failing requests:\n{}", lines.join("\n"))
}
