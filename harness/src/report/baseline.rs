//! `--baseline`: compares a run with an earlier report, per phase and per request name, and
//! fails only on a regression that holds up against run-to-run noise.
//!
//! The rule, statistic by statistic:
//! - Latency (p50, p95, p99): a regression is both relative and absolute: slower than the
//!   baseline by more than `--max-regression` (default 10%) AND by more than
//!   `--min-regression` (default 1 ms). A 0.19 ms wiggle on a 1.5 ms p99 is noise, not a fault.
//! - A percentile is comparable only when both runs have at least [`MIN_TAIL`] responses
//!   beyond it (p50: 20, p95: 200, p99: 1,000 responses). With fewer, the percentile is close to
//!   the maximum, one outlier decides it, and the row says "not comparable", neither pass nor fail.
//! - Error rate: a regression when it rose by more than `--max-regression` of the baseline's
//!   rate and by more than one percentage point; comparable from [`MIN_REQUESTS`] requests.
//! - Throughput is shown, not judged: in a closed model it follows latency, which is judged.
//! - Like with like: when the scenario text (its `seed:` aside), a phase's load or the target's
//!   version differ from the baseline's, the comparison says so at the top; with
//!   `--strict-baseline` that difference fails the run.

use std::path::Path;

use maud::{Markup, html};

use crate::report::comparison::{BaselineComparison, Row, RowVerdict, Rule};
use crate::report::model::{Measures, RunReport};

/// Responses a percentile needs beyond it, in both runs, to be compared.
pub const MIN_TAIL: f64 = 10.0;
/// Requests an error rate needs, in both runs, to be compared.
pub const MIN_REQUESTS: u64 = 20;

/// Compares `report` with `baseline` (read from `file`), stores the comparison in the report,
/// and sets its verdict again.
pub fn compare(report: &mut RunReport, baseline: &RunReport, file: &Path, rule: Rule) {
    let mut rows = Vec::new();
    for phase in &report.phases {
        let Some(before) = baseline.phases.iter().find(|p| p.name == phase.name) else {
            rows.push(Row {
                phase: phase.name.clone(),
                request: None,
                statistic: "phase".into(),
                baseline: 0.0,
                current: 0.0,
                verdict: RowVerdict::NotComparable,
                reason: "phase missing from the baseline".into(),
            });
            continue;
        };
        rows.extend(statistics(&phase.name, None, &before.measures, &phase.measures, rule));
        for request in &phase.by_request {
            if let Some(earlier) = before.by_request.iter().find(|r| r.name == request.name) {
                rows.extend(statistics(&phase.name, Some(&request.name), &earlier.measures, &request.measures, rule));
            }
        }
    }
    report.baseline = Some(BaselineComparison {
        file: file.display().to_string(),
        rule,
        mismatches: mismatches(report, baseline),
        rows,
    });
    report.verdict = report.decide();
}

/// The rows of one phase (or one request of it): p50, p95, p99, error rate, throughput.
fn statistics(phase: &str, request: Option<&str>, old: &Measures, new: &Measures, rule: Rule) -> Vec<Row> {
    let row = |statistic: &str, baseline: f64, current: f64, (verdict, reason): (RowVerdict, String)| Row {
        phase: phase.to_owned(),
        request: request.map(str::to_owned),
        statistic: statistic.to_owned(),
        baseline,
        current,
        verdict,
        reason,
    };
    let fewest = old.requests.min(new.requests);
    let mut rows: Vec<Row> = [
        ("p50", 0.50, old.latency.p50, new.latency.p50),
        ("p95", 0.95, old.latency.p95, new.latency.p95),
        ("p99", 0.99, old.latency.p99, new.latency.p99),
    ]
    .into_iter()
    .map(|(statistic, quantile, before, now)| {
        let needed = (MIN_TAIL / (1.0 - quantile)).round() as u64;
        let judged = if fewest < needed {
            (RowVerdict::NotComparable, format!("not comparable: {fewest} responses, {statistic} needs {needed}"))
        } else {
            latency_verdict(before, now, rule)
        };
        row(statistic, before, now, judged)
    })
    .collect();
    let judged = if fewest < MIN_REQUESTS {
        (RowVerdict::NotComparable, format!("not comparable: {fewest} requests, the error rate needs {MIN_REQUESTS}"))
    } else {
        let limit = old.error_rate + (old.error_rate * rule.max_regression).max(0.01);
        let reason = format!(
            "{:.2}% against {:.2}% (fails above {:.2}%)",
            new.error_rate * 100.0,
            old.error_rate * 100.0,
            limit * 100.0
        );
        (if new.error_rate > limit { RowVerdict::Fail } else { RowVerdict::Pass }, reason)
    };
    rows.push(row("error_rate", old.error_rate, new.error_rate, judged));
    let reason = format!(
        "{:.1}/s against {:.1}/s ({})",
        new.throughput,
        old.throughput,
        percent_change(old.throughput, new.throughput)
    );
    rows.push(row("throughput", old.throughput, new.throughput, (RowVerdict::Info, reason)));
    rows
}

fn latency_verdict(old: f64, new: f64, rule: Rule) -> (RowVerdict, String) {
    let over_relative = new > old * (1.0 + rule.max_regression);
    let over_absolute = new - old > rule.min_regression_ms;
    let reason = format!(
        "{new:.3}ms against {old:.3}ms ({}, {:+.3}ms; fails beyond +{:.0}% and +{}ms)",
        percent_change(old, new),
        new - old,
        rule.max_regression * 100.0,
        rule.min_regression_ms
    );
    (if over_relative && over_absolute { RowVerdict::Fail } else { RowVerdict::Pass }, reason)
}

fn percent_change(old: f64, new: f64) -> String {
    if old > 0.0 { format!("{:+.1}%", (new - old) / old * 100.0) } else { "new".to_owned() }
}

/// What makes the two runs unlike: the scenario text (its seed aside), a phase's load, the
/// target's version.
fn mismatches(report: &RunReport, baseline: &RunReport) -> Vec<String> {
    let without_seed =
        |text: &str| text.lines().filter(|l| !l.trim_start().starts_with("seed:")).collect::<Vec<_>>().join("\n");
    let mut found = Vec::new();
    if without_seed(&report.scenario_text) != without_seed(&baseline.scenario_text) {
        found.push(format!("the scenario text differs from the baseline's ({})", baseline.scenario_file));
    }
    for phase in &report.phases {
        if let Some(before) = baseline.phases.iter().find(|p| p.name == phase.name)
            && before.load != phase.load
        {
            found.push(format!("phase {}: load {} against the baseline's {}", phase.name, phase.load, before.load));
        }
    }
    if report.target_version != baseline.target_version {
        found.push(format!(
            "target version {} against the baseline's {}",
            report.target_version.as_deref().unwrap_or("unknown"),
            baseline.target_version.as_deref().unwrap_or("unknown")
        ));
    }
    found
}

/// The comparison table for the HTML page: baseline against now, deltas coloured by verdict.
pub fn render(report: &RunReport) -> Markup {
    let Some(comparison) = &report.baseline else {
        return html! {};
    };
    let class = |verdict: RowVerdict| match verdict {
        RowVerdict::Pass => "ok",
        RowVerdict::Fail => "bad",
        RowVerdict::NotComparable => "warn",
        RowVerdict::Info => "muted",
    };
    let label = |verdict: RowVerdict| match verdict {
        RowVerdict::Pass => "PASS",
        RowVerdict::Fail => "FAIL",
        RowVerdict::NotComparable => "not comparable",
        RowVerdict::Info => "shown only",
    };
    let rule = comparison.rule;
    html! {
        h2 { "Baseline comparison" }
        p.muted {
            "Against " (comparison.file) ". Latency fails only when slower by more than "
            (format!("{:.0}%", rule.max_regression * 100.0)) " and by more than " (rule.min_regression_ms) " ms; "
            "a percentile needs " (MIN_TAIL) " responses beyond it in both runs; the error rate fails when it rose by more than "
            (format!("{:.0}%", rule.max_regression * 100.0)) " of the baseline's and one percentage point."
        }
        @for mismatch in &comparison.mismatches {
            p.(if rule.strict { "bad" } else { "warn" }) { "Not like with like: " (mismatch) @if !rule.strict { " (fails only with --strict-baseline)" } }
        }
        table {
            tr { th { "phase" } th { "request" } th { "statistic" } th { "baseline" } th { "now" } th { "delta" } th { "verdict" } }
            @for row in &comparison.rows {
                tr {
                    td { (row.phase) } td { (row.request.as_deref().unwrap_or("all")) } td { (row.statistic) }
                    td.num { (format_value(&row.statistic, row.baseline)) }
                    td.num { (format_value(&row.statistic, row.current)) }
                    td.num.(class(row.verdict)) { (percent_change(row.baseline, row.current)) }
                    td.(class(row.verdict)) { (label(row.verdict)) br; span.muted { (row.reason) } }
                }
            }
        }
    }
}

fn format_value(statistic: &str, value: f64) -> String {
    match statistic {
        "error_rate" => format!("{:.2}%", value * 100.0),
        "throughput" => format!("{value:.1}/s"),
        _ => format!("{value:.3}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: Rule = Rule { max_regression: 0.10, min_regression_ms: 1.0, strict: false };

    fn measures(p99: f64, requests: u64, error_rate: f64) -> Measures {
        Measures {
            requests,
            errors: (requests as f64 * error_rate) as u64,
            throughput: 100.0,
            error_rate,
            status_counts: Default::default(),
            latency: crate::measure::Percentiles { p50: p99 / 2.0, p95: p99 * 0.9, p99, ..Default::default() },
            latency_corrected: None,
            timeline: Vec::new(),
        }
    }

    fn judged(old_p99: f64, new_p99: f64, requests: u64) -> Vec<Row> {
        statistics("steady", None, &measures(old_p99, requests, 0.0), &measures(new_p99, requests, 0.0), RULE)
    }

    fn verdict_of(rows: &[Row], statistic: &str) -> RowVerdict {
        rows.iter().find(|r| r.statistic == statistic).unwrap().verdict
    }

    #[test]
    fn a_regression_over_both_thresholds_fails() {
        let rows = judged(10.0, 15.0, 5_000);
        assert_eq!(verdict_of(&rows, "p99"), RowVerdict::Fail, "{rows:?}");
        assert!(rows.iter().find(|r| r.statistic == "p99").unwrap().reason.contains("+50.0%"));
    }

    #[test]
    fn noise_under_the_absolute_floor_passes() {
        // A wiggle seen on a real run: 1.456 ms → 1.644 ms is +13% but only +0.19 ms.
        let rows = judged(1.456, 1.644, 5_000);
        assert_eq!(verdict_of(&rows, "p99"), RowVerdict::Pass, "{rows:?}");
        // Over the floor but within the tolerance passes too.
        assert_eq!(verdict_of(&judged(100.0, 105.0, 5_000), "p99"), RowVerdict::Pass);
    }

    #[test]
    fn a_five_request_phase_is_not_comparable() {
        let rows = judged(1.0, 50.0, 5);
        for statistic in ["p50", "p95", "p99", "error_rate"] {
            assert_eq!(verdict_of(&rows, statistic), RowVerdict::NotComparable, "{statistic}: {rows:?}");
        }
        // p99 needs 1,000 responses; p50 only 20.
        let rows = judged(10.0, 50.0, 500);
        assert_eq!(verdict_of(&rows, "p99"), RowVerdict::NotComparable);
        assert_eq!(verdict_of(&rows, "p50"), RowVerdict::Fail);
    }

    #[test]
    fn error_rate_needs_a_point_and_the_tolerance() {
        let rate = |old: f64, new: f64| {
            let rows = statistics("steady", None, &measures(1.0, 100, old), &measures(1.0, 100, new), RULE);
            verdict_of(&rows, "error_rate")
        };
        assert_eq!(rate(0.0, 0.005), RowVerdict::Pass);
        assert_eq!(rate(0.0, 0.02), RowVerdict::Fail);
        assert_eq!(rate(0.50, 0.54), RowVerdict::Pass);
        assert_eq!(rate(0.50, 0.60), RowVerdict::Fail);
        assert_eq!(verdict_of(&judged(1.0, 1.0, 100), "throughput"), RowVerdict::Info);
    }

    #[test]
    fn strict_comparisons_fail_on_a_mismatch() {
        let comparison = |strict| BaselineComparison {
            file: "b.json".into(),
            rule: Rule { strict, ..RULE },
            mismatches: vec!["target version 2 against the baseline's 1".into()],
            rows: Vec::new(),
        };
        assert!(comparison(false).passed());
        assert!(!comparison(true).passed());
        assert_eq!(comparison(true).failures().len(), 1);
    }
}
