//! `reports/index.html`, drawn from `history.json`: one row per scenario with its last verdict,
//! a sparkline of each key figure (p95, error rate, time to recover) over its last
//! [`SPARK_RUNS`] runs, the last run's change against the median of the runs before it, and a
//! link to every run kept. Times are local to the machine that wrote the page. A filter (plain
//! CSS, no script) shows only failed or flaky scenarios: flaky is a verdict that changed between
//! two runs of the same target version. Self-contained: no network.

use std::path::Path;

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::report::history::{Run, local_time};
use crate::report::model::Verdict;

/// Runs a sparkline and a median look back on.
pub const SPARK_RUNS: usize = 20;

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}\
main{max-width:1200px;margin:0 auto;padding:24px}table{border-collapse:collapse;width:100%;background:#fff}\
th,td{padding:6px 8px;border-bottom:1px solid #e3e6eb;text-align:left;vertical-align:middle}\
th{font-weight:600;background:#eef1f5}.num{text-align:right;font-variant-numeric:tabular-nums}\
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-weight:600;color:#fff;font-size:12px}\
.muted{color:#5b6475;font-size:12px}\
.runs a{margin-right:4px;text-decoration:none;font-size:12px}.worse{color:#c62f2f}.better{color:#1f8f4e}\
.flag{font-size:11px;border:1px solid #b46a00;color:#b46a00;border-radius:8px;padding:0 5px;margin-left:6px}\
#only-failed:checked~table tr.scenario:not(.failed){display:none}\
#only-flaky:checked~table tr.scenario:not(.flaky){display:none}";

/// A key figure of a run, as the dashboard shows it.
struct Figure {
    title: &'static str,
    value: fn(&Run) -> Option<f64>,
    /// How a change reads: a rise is worse for all three.
    format: fn(f64) -> String,
}

const FIGURES: [Figure; 3] = [
    Figure { title: "p95", value: |r| Some(r.p95_ms), format: |v| format!("{v:.2} ms") },
    Figure { title: "error rate", value: |r| Some(r.error_rate), format: |v| format!("{:.2}%", v * 100.0) },
    Figure { title: "time to recover", value: |r| r.time_to_recover_s, format: |v| format!("{v:.1} s") },
];

/// Writes `root/index.html` for `runs` (oldest first, as history keeps them).
pub fn write(root: &Path, runs: &[Run]) -> anyhow::Result<()> {
    std::fs::write(root.join("index.html"), render(runs).into_string())?;
    Ok(())
}

/// One scenario's runs, oldest first.
struct Scenario<'a> {
    name: &'a str,
    runs: Vec<&'a Run>,
}

impl Scenario<'_> {
    fn last(&self) -> &Run {
        self.runs.last().expect("a scenario has runs")
    }

    fn failed(&self) -> bool {
        !matches!(self.last().verdict, Verdict::Passed | Verdict::Skipped)
    }

    /// A verdict that changed between two consecutive runs of the same target version.
    fn flaky(&self) -> bool {
        let recent = &self.runs[self.runs.len().saturating_sub(SPARK_RUNS)..];
        let judged: Vec<&&Run> = recent.iter().filter(|r| r.verdict != Verdict::Skipped).collect();
        judged
            .windows(2)
            .any(|pair| pair[0].target_version == pair[1].target_version && pair[0].verdict != pair[1].verdict)
    }
}

/// The sparkline's values (the last [`SPARK_RUNS`] runs that have the figure, oldest first)
/// and the last value's change against the median of the ones before it.
pub fn trend(runs: &[&Run], value: fn(&Run) -> Option<f64>) -> (Vec<f64>, Option<f64>) {
    let values: Vec<f64> = runs.iter().filter_map(|r| value(r)).collect();
    let values = values[values.len().saturating_sub(SPARK_RUNS)..].to_vec();
    let change = match values.split_last() {
        Some((last, earlier)) if !earlier.is_empty() => {
            let mut sorted = earlier.to_vec();
            sorted.sort_by(f64::total_cmp);
            let middle = sorted.len() / 2;
            let median =
                if sorted.len() % 2 == 0 { (sorted[middle - 1] + sorted[middle]) / 2.0 } else { sorted[middle] };
            (median > 0.0).then(|| last / median - 1.0)
        }
        _ => None,
    };
    (values, change)
}

fn render(runs: &[Run]) -> Markup {
    let mut scenarios: Vec<Scenario<'_>> = Vec::new();
    for run in runs {
        match scenarios.iter_mut().find(|s| s.name == run.scenario) {
            Some(scenario) => scenario.runs.push(run),
            None => scenarios.push(Scenario { name: &run.scenario, runs: vec![run] }),
        }
    }
    scenarios.sort_by(|a, b| b.last().started_at.cmp(&a.last().started_at));
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "Gauntlet runs" } style { (PreEscaped(STYLE)) (PreEscaped(crate::report::html::VERDICT_COLORS)) } }
            body { main {
                h1 { "Gauntlet runs" }
                p.muted { (runs.len()) " runs of " (scenarios.len()) " scenarios, from history.json; times are local ("
                    (chrono::Local::now().format("UTC%:z")) ")." }
                input #all type="radio" name="filter" checked;
                label for="all" { " all " }
                input #only-failed type="radio" name="filter";
                label for="only-failed" { " failed " }
                input #only-flaky type="radio" name="filter";
                label for="only-flaky" { " flaky" }
                table {
                    tr {
                        th { "scenario" } th { "last verdict" } th { "last run" }
                        @for figure in &FIGURES { th { (figure.title) } th { "vs median" } }
                        th { "runs, newest first" }
                    }
                    @for scenario in &scenarios {
                        (scenario_row(scenario))
                    }
                }
            } }
        }
    }
}

fn scenario_row(scenario: &Scenario<'_>) -> Markup {
    let last = scenario.last();
    let class = format!(
        "scenario{}{}",
        if scenario.failed() { " failed" } else { "" },
        if scenario.flaky() { " flaky" } else { "" }
    );
    html! {
        tr class=(class) data-scenario=(scenario.name) {
            td { (scenario.name) @if scenario.flaky() { span.flag { "flaky" } } }
            td { span.badge.(last.verdict.name()) { (last.verdict.label()) } }
            td { (local_time(&last.started_at)) br; span.muted { (last.target_version.as_deref().unwrap_or("version unknown")) } }
            @for figure in &FIGURES {
                @let (values, change) = trend(&scenario.runs, figure.value);
                td.num { (sparkline(figure.title, &values)) br; span.muted { (values.last().map_or_else(|| "–".to_owned(), |v| (figure.format)(*v))) } }
                td.num.delta.(match change { Some(c) if c > 0.0 => "worse", Some(c) if c < 0.0 => "better", _ => "" })
                    data-figure=(figure.title) data-delta=(change.map_or_else(String::new, |c| format!("{c:.4}"))) {
                    (change.map_or_else(|| "–".to_owned(), |c| format!("{:+.0}%", c * 100.0)))
                }
            }
            td.runs {
                @for (index, run) in scenario.runs.iter().enumerate().rev() {
                    a.(run.verdict.name()) href=(format!("{}/index.html", run.directory))
                        title=(format!("{} {}", local_time(&run.started_at), run.verdict.label())) { "#" (index + 1) }
                }
            }
        }
    }
}

/// An inline SVG polyline of `values`, scaled to its own range; the values ride along in
/// `data-values` for tools and tests.
fn sparkline(title: &str, values: &[f64]) -> Markup {
    const WIDTH: f64 = 120.0;
    const HEIGHT: f64 = 24.0;
    let data = values.iter().map(|v| format!("{v:.6}")).collect::<Vec<_>>().join(",");
    let (low, high) = values.iter().fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
    let span = if high > low { high - low } else { 1.0 };
    let step = if values.len() > 1 { WIDTH / (values.len() - 1) as f64 } else { 0.0 };
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", i as f64 * step, HEIGHT - 2.0 - (v - low) / span * (HEIGHT - 4.0)))
        .collect();
    html! {
        svg.spark width=(WIDTH) height=(HEIGHT) viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) data-figure=(title) data-values=(data) {
            title { (title) " over the last " (values.len()) " runs" }
            @if values.len() > 1 {
                polyline points=(points.join(" ")) fill="none" stroke="#2f6fd6" stroke-width="1.5" {}
            } @else if values.len() == 1 {
                circle cx="2" cy=(HEIGHT / 2.0) r="2" fill="#2f6fd6" {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_change_is_against_the_median_of_the_runs_before_the_last() {
        let value = |r: &Run| Some(r.p95_ms);
        let runs: Vec<Run> = [10.0, 30.0, 20.0, 26.0]
            .iter()
            .map(|p95| Run { p95_ms: *p95, ..serde_json::from_str(RUN).unwrap() })
            .collect();
        let refs: Vec<&Run> = runs.iter().collect();
        let (values, change) = trend(&refs, value);
        assert_eq!(values, [10.0, 30.0, 20.0, 26.0]);
        assert!((change.unwrap() - 0.3).abs() < 1e-9, "26 against the median 20: {change:?}");
        assert_eq!(trend(&refs[..1], value).1, None, "nothing to compare the first run with");
    }

    #[test]
    fn a_verdict_that_changed_on_the_same_version_is_flaky_and_a_failed_last_run_is_failed() {
        let run = |verdict: &str, version: &str| -> Run {
            let json = RUN
                .replace("\"passed\"", &format!("\"{verdict}\""))
                .replace("null,\n        \"seed\"", &format!("\"{version}\",\n        \"seed\""));
            serde_json::from_str(&json).unwrap()
        };
        let same = [run("passed", "1.0"), run("failed", "1.0"), run("passed", "1.0")];
        let upgraded = [run("passed", "1.0"), run("failed", "2.0")];
        let flaky = Scenario { name: "s", runs: same.iter().collect() };
        let changed = Scenario { name: "s", runs: upgraded.iter().collect() };
        assert!(flaky.flaky() && !flaky.failed());
        assert!(!changed.flaky() && changed.failed(), "a new version may change the verdict");
        let page = render(&same).into_string();
        assert!(page.contains(r#"class="scenario flaky""#), "the flaky filter finds it");
    }

    const RUN: &str = r#"{"started_at":"2026-12-05T00:00:00Z","directory":"d","scenario":"s","target_version":null,
        "seed":1,"verdict":"passed","checks_passed":1,"checks_total":1,"p95_ms":1.0,"error_rate":0.0,
        "throughput":1.0,"time_to_recover_s":null,"phases":[]}"#;
}
