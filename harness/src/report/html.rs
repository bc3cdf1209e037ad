//! `index.html`: one self-contained page per run (inline CSS and SVG, no network): verdict,
//! every expectation with its measurement, per-phase percentiles, latency and throughput over
//! time with fault injections marked, status codes, target CPU/memory, the scenario text.
//! Also the runs index `reports/index.html`.

use std::fmt::Write;
use std::path::Path;

use crate::report::escape;
use crate::report::model::RunReport;

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}\
main{max-width:1180px;margin:0 auto;padding:24px}h1{margin:0 0 4px;font-size:24px}h2{margin:28px 0 8px;font-size:18px}\
.muted{color:#5b6475}.badge{display:inline-block;padding:3px 10px;border-radius:12px;font-weight:600;color:#fff}\
.passed{background:#1f8f4e}.skipped{background:#6b7280}.failed{background:#c62f2f}.invalid{background:#b46a00}.setup_failed{background:#6b3fa0}\
table{border-collapse:collapse;width:100%;background:#fff;margin:6px 0}th,td{border:1px solid #dde1e8;padding:5px 8px;text-align:left;vertical-align:top}\
th{background:#eef1f5}td.num{text-align:right;font-variant-numeric:tabular-nums}.ok{color:#1f8f4e;font-weight:600}.bad{color:#c62f2f;font-weight:600}\
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:10px 14px;min-width:150px}\
.card b{display:block;font-size:20px}pre{background:#fff;border:1px solid #dde1e8;padding:12px;overflow:auto}svg{background:#fff;border:1px solid #dde1e8}";

/// A data series for [`line_chart`]: one segment per phase, so idle gaps between phases are
/// not drawn as traffic.
struct Series<'a> {
    label: &'a str,
    color: &'a str,
    segments: Vec<Vec<(f64, f64)>>,
}

/// An SVG line chart with vertical markers (fault injections, phase starts).
fn line_chart(title: &str, unit: &str, series: &[Series<'_>], markers: &[(f64, String, &str)]) -> String {
    let (width, height, left, right, top, bottom) = (1100.0, 260.0, 60.0, 20.0, 28.0, 30.0);
    let all = series.iter().flat_map(|s| s.segments.iter().flatten());
    let x_max = all.clone().map(|p| p.0).chain(markers.iter().map(|m| m.0)).fold(1.0_f64, f64::max);
    let y_max = all.map(|p| p.1).fold(0.0_f64, f64::max).max(1e-9) * 1.1;
    let x = |v: f64| left + v / x_max * (width - left - right);
    let y = |v: f64| height - bottom - v / y_max * (height - top - bottom);
    let mut svg = format!(
        "<svg viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\" aria-label=\"{}\"><text x=\"{left}\" y=\"18\" font-weight=\"600\">{}</text>",
        escape(title),
        escape(title)
    );
    for tick in 0..=4 {
        let value = y_max * tick as f64 / 4.0;
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{py:.1}\" y2=\"{py:.1}\" stroke=\"#eef1f5\"/><text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{value:.1}{unit}</text>",
            width - right,
            left - 4.0,
            y(value) + 4.0,
            py = y(value)
        );
    }
    for (at, label, color) in markers {
        let _ = write!(
            svg,
            "<line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{top}\" y2=\"{}\" stroke=\"{color}\" stroke-dasharray=\"4 3\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"10\" fill=\"{color}\">{}</text>",
            height - bottom,
            x(*at) + 3.0,
            top + 10.0,
            escape(label),
            px = x(*at)
        );
    }
    for (index, s) in series.iter().enumerate() {
        for segment in &s.segments {
            let points: Vec<String> = segment.iter().map(|(px, py)| format!("{:.1},{:.1}", x(*px), y(*py))).collect();
            let _ = match segment.as_slice() {
                [(px, py)] => {
                    write!(svg, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\"/>", x(*px), y(*py), s.color)
                }
                _ => write!(
                    svg,
                    "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>",
                    s.color,
                    points.join(" ")
                ),
            };
        }
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"18\" font-size=\"12\" fill=\"{}\">■ {}</text>",
            width - right - 260.0 + index as f64 * 130.0,
            s.color,
            escape(s.label)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">seconds since start</text></svg>",
        width - right,
        height - 6.0
    );
    svg
}

/// Renders one run's page.
pub fn render(report: &RunReport) -> String {
    let mut page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Gauntlet: {}</title><style>{STYLE}</style></head><body><main>",
        escape(&report.scenario)
    );
    let _ = write!(
        page,
        "<h1>{} <span class=\"badge {}\" id=\"verdict\">{}</span></h1><p class=\"muted\">{}</p>",
        escape(&report.scenario),
        report.verdict.name(),
        report.verdict.label(),
        escape(&report.description)
    );
    let (passed, total) = report.expectation_counts();
    let _ = write!(
        page,
        "<div class=\"cards\"><div class=\"card\">expectations<b>{passed} / {}</b></div><div class=\"card\">time to recover<b>{}</b></div>\
         <div class=\"card\">duration<b>{:.1}s</b></div><div class=\"card\">seed<b>{}</b></div><div class=\"card\">target<b style=\"font-size:13px\">{}{}</b></div></div>\
         <p class=\"muted\">Started {} · exit code {}</p>",
        total,
        report.time_to_recover_s.map_or_else(|| "–".to_owned(), |t| format!("{t:.1}s")),
        report.duration_s,
        report.seed,
        escape(&report.target),
        if report.self_hosted { " (self-hosted)" } else { "" },
        escape(&report.started_at),
        report.verdict.exit_code()
    );
    if let Some(reason) = &report.skipped {
        let _ = write!(page, "<h2>Skipped</h2><p>Nothing was sent: this scenario {}.</p>", escape(reason));
    }
    if !report.problems.is_empty() {
        page.push_str("<h2>Problems</h2><ul>");
        for problem in &report.problems {
            let _ = write!(page, "<li class=\"bad\">{}</li>", escape(problem));
        }
        page.push_str("</ul>");
    }

    if !report.phases.is_empty() {
        expectations_table(&mut page, report);
        phases_table(&mut page, report);
        over_time(&mut page, report);
        status_codes(&mut page, report);
    }
    actions_table(&mut page, report);
    let _ = write!(
        page,
        "<h2>Scenario</h2><p class=\"muted\">{}</p><pre>{}</pre>",
        escape(&report.scenario_file),
        escape(&report.scenario_text)
    );

    page.push_str("</main></body></html>\n");
    page
}

/// Every expectation with its measurement, then the baseline comparison's rows.
fn expectations_table(page: &mut String, report: &RunReport) {
    page.push_str("<h2>Expectations</h2><table><tr><th>phase</th><th>kind</th><th>expected</th><th>measured</th><th>result</th></tr>");
    for (phase, e) in report.phases.iter().flat_map(|p| p.expectations.iter().map(move |e| (p, e))) {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
            escape(&phase.name),
            escape(&e.kind),
            escape(&e.expected),
            escape(&e.measured),
            if e.passed { "ok" } else { "bad" },
            if e.passed { "PASS" } else { "FAIL" }
        );
    }
    for row in report.baseline.iter().flat_map(|b| &b.rows) {
        let _ = write!(
            page,
            "<tr><td>baseline</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
            escape(&row.kind),
            escape(&row.expected),
            escape(&row.measured),
            if row.passed { "ok" } else { "bad" },
            if row.passed { "PASS" } else { "FAIL" }
        );
    }
    page.push_str("</table>");
}

/// Per-phase load, counts and percentiles, with links to goose's own reports.
fn phases_table(page: &mut String, report: &RunReport) {
    page.push_str(
        "<h2>Phases</h2><table><tr><th>phase</th><th>load</th><th>requests</th><th>req/s</th><th>errors</th>\
         <th>p50 ms</th><th>p90 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th><th>goose report</th></tr>",
    );
    for phase in &report.phases {
        let corrected = phase
            .latency_corrected
            .as_ref()
            .map(|c| format!("<br><span class=\"muted\">corrected p95 {:.3} / p99 {:.3}</span>", c.p95, c.p99))
            .unwrap_or_default();
        let schedule = phase
            .schedule
            .as_ref()
            .map(|s| {
                format!(
                    "<br><span class=\"{}\">{:.1} of {:.0}/s intended</span>",
                    if s.behind { "bad" } else { "muted" },
                    s.achieved_rate,
                    s.intended_rate
                )
            })
            .unwrap_or_default();
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}{schedule}</td><td class=\"num\">{}</td><td class=\"num\">{:.1}</td><td class=\"num\">{} ({:.2}%)</td>\
             <td class=\"num\">{:.3}</td><td class=\"num\">{:.3}</td><td class=\"num\">{:.3}{corrected}</td><td class=\"num\">{:.3}</td><td class=\"num\">{:.3}</td><td>{}</td></tr>",
            escape(&phase.name),
            escape(&phase.load),
            phase.requests,
            phase.throughput,
            phase.errors,
            phase.error_rate * 100.0,
            phase.latency.p50,
            phase.latency.p90,
            phase.latency.p95,
            phase.latency.p99,
            phase.latency.max,
            phase.goose_report.as_ref().map_or_else(String::new, |f| format!("<a href=\"{0}\">{0}</a>", escape(f)))
        );
    }
    page.push_str("</table>");
}

/// Latency, throughput and target resources over the run, with phases and faults marked.
fn over_time(page: &mut String, report: &RunReport) {
    let mut markers: Vec<(f64, String, &str)> = Vec::new();
    for phase in &report.phases {
        markers.push((phase.started_at_s, phase.name.clone(), "#8a93a6"));
        for action in phase.actions.iter().filter(|a| a.kind == "chaos" || a.kind == "clear_chaos") {
            markers.push((
                action.at_s,
                action.description.clone(),
                if action.kind == "chaos" { "#c62f2f" } else { "#1f8f4e" },
            ));
        }
    }
    let over_time = |value: &dyn Fn(&crate::measure::TimelinePoint) -> f64| -> Vec<Vec<(f64, f64)>> {
        report
            .phases
            .iter()
            .map(|p| {
                p.timeline
                    .iter()
                    .filter(|t| t.requests > 0)
                    .map(|t| (p.started_at_s + t.second as f64 + 0.5, value(t)))
                    .collect()
            })
            .collect()
    };
    page.push_str("<h2>Over time</h2>");
    page.push_str(&line_chart(
        "Latency p95 per second",
        "ms",
        &[Series { label: "p95", color: "#2f6fd6", segments: over_time(&|t| t.p95_ms) }],
        &markers,
    ));
    page.push_str(&line_chart(
        "Throughput per second",
        "",
        &[
            Series { label: "responses/s", color: "#2f6fd6", segments: over_time(&|t| t.requests as f64) },
            Series { label: "errors/s", color: "#c62f2f", segments: over_time(&|t| t.errors as f64) },
        ],
        &markers,
    ));
    if report.resources.is_empty() {
        page.push_str("<p class=\"muted\">The target reported no CPU/memory (no /api/info).</p>");
    } else {
        page.push_str(&line_chart(
            "Target CPU",
            "%",
            &[Series {
                label: "cpu %",
                color: "#b46a00",
                segments: vec![report.resources.iter().map(|r| (r.at_s, r.cpu_percent)).collect()],
            }],
            &markers,
        ));
        page.push_str(&line_chart(
            "Target memory",
            "MB",
            &[Series {
                label: "RSS MiB",
                color: "#6b3fa0",
                segments: vec![report.resources.iter().map(|r| (r.at_s, r.memory_mb)).collect()],
            }],
            &markers,
        ));
    }
}

/// Responses per status code and phase.
fn status_codes(page: &mut String, report: &RunReport) {
    page.push_str("<h2>Status codes</h2><table><tr><th>phase</th><th>status</th><th>responses</th><th>share</th></tr>");
    for phase in &report.phases {
        for (status, count) in &phase.status_counts {
            let label = if *status == 0 { "transport error".to_owned() } else { status.to_string() };
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{label}</td><td class=\"num\">{count}</td><td class=\"num\">{:.2}%</td></tr>",
                escape(&phase.name),
                *count as f64 / phase.requests.max(1) as f64 * 100.0
            );
        }
    }
    page.push_str("</table>");
}

/// Every action (phases' before/after, then rollback) with its time and result.
fn actions_table(page: &mut String, report: &RunReport) {
    page.push_str("<h2>Actions</h2><table><tr><th>at</th><th>stage</th><th>kind</th><th>what</th><th>took</th><th>result</th></tr>");
    for action in report.phases.iter().flat_map(|p| &p.actions).chain(&report.rollback) {
        let _ = write!(
            page,
            "<tr><td class=\"num\">{:.2}s</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{:.0}ms</td><td class=\"{}\">{}</td></tr>",
            action.at_s,
            escape(&action.stage),
            escape(&action.kind),
            escape(&action.description),
            action.duration_ms,
            if action.ok { "ok" } else { "bad" },
            escape(&action.message)
        );
    }
    page.push_str("</table>");
}

/// Rewrites `root/index.html`: every run under `root` with a `report.json`, newest first.
pub fn write_index(root: &Path) -> anyhow::Result<()> {
    let mut runs: Vec<(String, RunReport)> = std::fs::read_dir(root)?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join("report.json").is_file())
        .filter_map(|entry| {
            let report = crate::report::json::read(&entry.path().join("report.json")).ok()?;
            Some((entry.file_name().to_string_lossy().into_owned(), report))
        })
        .collect();
    runs.sort_by(|a, b| b.0.cmp(&a.0));
    let mut page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Gauntlet runs</title><style>{STYLE}</style></head><body><main><h1>Gauntlet runs</h1>"
    );
    page.push_str("<table><tr><th>started</th><th>scenario</th><th>verdict</th><th>expectations</th><th>duration</th><th>files</th></tr>");
    for (directory, report) in &runs {
        let (passed, total) = report.expectation_counts();
        let _ = write!(
            page,
            "<tr><td>{}</td><td><a href=\"{dir}/index.html\">{}</a></td><td><span class=\"badge {}\">{}</span></td><td class=\"num\">{} / {}</td><td class=\"num\">{:.1}s</td>\
             <td><a href=\"{dir}/report.json\">json</a> · <a href=\"{dir}/junit.xml\">junit</a></td></tr>",
            escape(&report.started_at),
            escape(&report.scenario),
            report.verdict.name(),
            report.verdict.name().replace('_', " "),
            passed,
            total,
            report.duration_s,
            dir = escape(directory)
        );
    }
    page.push_str("</table></main></body></html>\n");
    std::fs::write(root.join("index.html"), page)?;
    Ok(())
}
