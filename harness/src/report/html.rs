//! `index.html`: one self-contained page per run (inline CSS and SVG, no network), written with
//! maud, which escapes by construction. Verdict, every expectation with its measurement, the
//! baseline comparison, per-phase percentiles, each phase's requests worst first with their
//! failing responses (and the target's log lines for them), charts over time with faults and
//! actions marked and breaker states as bands, status codes, actions, the scenario text. Also the
//! runs index `reports/index.html`. Everything shown is computed in the report model first.

use std::path::Path;

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::checks::breaker::BreakerState;
use crate::measure::TimelinePoint;
use crate::report::model::{Measures, PhaseReport, RunReport};

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}\
main{max-width:1180px;margin:0 auto;padding:24px}h1{margin:0 0 4px;font-size:24px}h2{margin:28px 0 8px;font-size:18px}h3{margin:18px 0 6px;font-size:15px}\
.muted{color:#5b6475}.badge{display:inline-block;padding:3px 10px;border-radius:12px;font-weight:600;color:#fff}\
.passed{background:#1f8f4e}.skipped{background:#6b7280}.failed{background:#c62f2f}.invalid{background:#b46a00}.setup_failed{background:#6b3fa0}.interrupted{background:#374151}\
table{border-collapse:collapse;width:100%;background:#fff;margin:6px 0}th,td{border:1px solid #dde1e8;padding:5px 8px;text-align:left;vertical-align:top}\
th{background:#eef1f5}td.num{text-align:right;font-variant-numeric:tabular-nums}.ok{color:#1f8f4e;font-weight:600}.bad{color:#c62f2f;font-weight:600}.warn{color:#b46a00;font-weight:600}\
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:10px 14px;min-width:150px}\
.card b{display:block;font-size:20px}pre{background:#fff;border:1px solid #dde1e8;padding:12px;overflow:auto;white-space:pre-wrap}\
pre.body{max-height:180px;margin:4px 0}svg{background:#fff;border:1px solid #dde1e8}details{margin:4px 0}";

/// Line colours, in order; the sixth is "other".
const COLORS: [&str; 6] = ["#2f6fd6", "#c62f2f", "#1f8f4e", "#b46a00", "#6b3fa0", "#8a93a6"];

/// Renders one run's page.
pub fn render(report: &RunReport) -> String {
    let (passed, total) = report.expectation_counts();
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "Gauntlet: " (report.scenario) } style { (PreEscaped(STYLE)) } }
            body { main {
                h1 { (report.scenario) " " span.badge.(report.verdict.name()) #verdict { (report.verdict.label()) } }
                p.muted { (report.description) }
                div.cards {
                    div.card { "expectations" b { (passed) " / " (total) } }
                    div.card { "time to recover" b { (report.time_to_recover_s.map_or_else(|| "–".to_owned(), |t| format!("{t:.1}s"))) } }
                    div.card { "duration" b { (format!("{:.1}s", report.duration_s)) } }
                    div.card { "seed" b { (report.seed) } }
                    div.card { "target" b style="font-size:13px" { (report.target) @if report.self_hosted { " (self-hosted)" } } }
                }
                p.muted { "Started " (report.started_at) " · exit code " (report.verdict.exit_code()) }
                @if !report.proxies.is_empty() {
                    p.muted { "Fault proxies: " @for (i, proxy) in report.proxies.iter().enumerate() {
                        @if i > 0 { " · " } (proxy.name) " " (proxy.listen) " → " (proxy.upstream)
                    } }
                }
                @if let Some(reason) = &report.skipped {
                    h2 { "Skipped" } p { "Nothing was sent: this scenario " (reason) "." }
                }
                @if !report.problems.is_empty() {
                    h2 { "Problems" } ul { @for problem in &report.problems { li.bad { (problem) } } }
                }
                @if !report.phases.is_empty() {
                    (expectations_table(report))
                    (crate::report::baseline::render(report))
                    (phases_table(report))
                    @for phase in &report.phases { (phase_requests(phase)) }
                    (over_time(report))
                    (status_codes(report))
                }
                (actions_table(report))
                @if let Some(log) = &report.target_log {
                    h2 { "Target log" }
                    p {
                        a href=(log.file) { (log.file) } ": " (log.written) " of " (log.lines) " lines kept ("
                        (log.bound) "; " (log.sampled_out) " left out by sampling, " (log.over_size) " by the size bound)."
                    }
                }
                h2 { "Scenario" }
                p.muted { (report.scenario_file) }
                pre { (report.scenario_text) }
            } }
        }
    }
    .into_string()
}

fn verdict_cell(passed: bool) -> Markup {
    html! { td.(if passed { "ok" } else { "bad" }) { (if passed { "PASS" } else { "FAIL" }) } }
}

/// Every expectation with its measurement, then the baseline comparison's rows.
fn expectations_table(report: &RunReport) -> Markup {
    html! {
        h2 { "Expectations" }
        table {
            tr { th { "phase" } th { "kind" } th { "expected" } th { "measured" } th { "result" } }
            @for phase in &report.phases {
                @for e in &phase.expectations {
                    tr { td { (phase.name) } td { (e.kind) } td { (e.expected) } td { (e.measured) } (verdict_cell(e.passed)) }
                }
            }
        }
    }
}

/// Per-phase load, counts and percentiles.
fn phases_table(report: &RunReport) -> Markup {
    html! {
        h2 { "Phases" }
        table {
            tr {
                th { "phase" } th { "load" } th { "requests" } th { "req/s" } th { "errors" }
                th { "p50 ms" } th { "p90 ms" } th { "p95 ms" } th { "p99 ms" } th { "max ms" }
            }
            @for phase in &report.phases {
                tr {
                    td { (phase.name) }
                    td {
                        (phase.load)
                        @if let Some(s) = &phase.schedule {
                            br; span.(if s.behind { "bad" } else { "muted" }) { (format!("{:.1} of {:.0}/s intended", s.achieved_rate, s.intended_rate)) }
                        }
                    }
                    td.num { (phase.measures.requests) }
                    td.num { (format!("{:.1}", phase.measures.throughput)) }
                    td.num { (phase.measures.errors) " (" (format!("{:.2}", phase.measures.error_rate * 100.0)) "%)" }
                    (latency_cells(&phase.measures))
                }
            }
        }
    }
}

/// p50, p90, p95 (with the corrected p95 and p99 of an open-model phase), p99 and max cells.
fn latency_cells(measures: &Measures) -> Markup {
    let latency = &measures.latency;
    html! {
        td.num { (format!("{:.3}", latency.p50)) }
        td.num { (format!("{:.3}", latency.p90)) }
        td.num {
            (format!("{:.3}", latency.p95))
            @if let Some(c) = &measures.latency_corrected {
                br; span.muted { (format!("corrected p95 {:.3} / p99 {:.3}", c.p95, c.p99)) }
            }
        }
        td.num { (format!("{:.3}", latency.p99)) }
        td.num { (format!("{:.3}", latency.max)) }
    }
}

/// One phase's requests (worst first), its failing responses and what its bounds dropped.
fn phase_requests(phase: &PhaseReport) -> Markup {
    html! {
        h3 { "Requests in " (phase.name) }
        table {
            tr {
                th { "request" } th { "requests" } th { "req/s" } th { "errors" } th { "statuses" }
                th { "p50 ms" } th { "p90 ms" } th { "p95 ms" } th { "p99 ms" } th { "max ms" }
            }
            @for r in &phase.by_request {
                tr {
                    td { (r.name) }
                    td.num { (r.measures.requests) }
                    td.num { (format!("{:.1}", r.measures.throughput)) }
                    td.num.(if r.measures.errors > 0 { "bad" } else { "" }) { (r.measures.errors) }
                    td { @for (status, count) in &r.measures.status_counts {
                        (if *status == 0 { "no response".to_owned() } else { status.to_string() }) " × " (count) " "
                    } }
                    (latency_cells(&r.measures))
                }
            }
        }
        @if !phase.failures.is_empty() {
            p { b { "Failing requests" } " (the first " (crate::measure::FAILURES_PER_KIND) " of each request and kind of failure)" }
            table.failures {
                tr { th { "at" } th { "request" } th { "answer" } th { "took" } th { "request id" } th { "body and target log" } }
                @for f in &phase.failures {
                    tr {
                        td.num { (format!("{:.2}s", f.at_s)) }
                        td {
                            (f.method) " " (f.path)
                            @if f.name != format!("{} {}", f.method, f.path) { br; span.muted { (f.name) } }
                        }
                        td.bad {
                            (f.status.map_or_else(|| "no response".to_owned(), |s| s.to_string()))
                            @if let Some(error) = &f.error { br; (error) }
                        }
                        td.num { (format!("{:.1}ms", f.elapsed_ms)) }
                        td { (f.request_id.as_deref().unwrap_or("–")) }
                        td {
                            @if let Some(body) = &f.body { pre.body { (body) } }
                            @if !f.target_log.is_empty() {
                                details { summary { "target log (" (f.target_log.len()) " lines)" } pre.body { @for line in &f.target_log { (line) "\n" } } }
                            }
                        }
                    }
                }
            }
        }
        @for note in &phase.dropped { p.warn { "Bounded: " (note) } }
    }
}

/// A data series for [`line_chart`]: one segment per phase, so idle gaps between phases are
/// not drawn as traffic.
struct Series {
    label: String,
    color: &'static str,
    segments: Vec<Vec<(f64, f64)>>,
}

/// A vertical marker: a phase start, a fault, an action.
struct Marker {
    at_s: f64,
    label: String,
    color: &'static str,
}

/// A horizontal band under a chart: one breaker's state over time.
struct Band {
    label: String,
    spans: Vec<(f64, f64, BreakerState)>,
}

const WIDTH: f64 = 1100.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const PLOT_HEIGHT: f64 = 200.0;
const LABEL_ROW: f64 = 12.0;
const BAND_HEIGHT: f64 = 14.0;

/// Marker labels in rows, so none overlaps another: each goes into the first row where the
/// label before it has ended; labels that find no row keep only their tooltip.
fn label_rows(markers: &[Marker], x: &dyn Fn(f64) -> f64) -> Vec<Option<usize>> {
    const ROWS: usize = 4;
    let mut ends = [f64::MIN; ROWS];
    markers
        .iter()
        .map(|m| {
            let start = x(m.at_s) + 3.0;
            let row = ends.iter().position(|end| *end < start)?;
            ends[row] = start + m.label.chars().count() as f64 * 5.6 + 8.0;
            Some(row)
        })
        .collect()
}

/// An SVG line chart: y gridlines, x ticks in seconds, markers with non-overlapping labels, a
/// legend and breaker bands.
fn line_chart(title: &str, unit: &str, series: &[Series], markers: &[Marker], bands: &[Band]) -> Markup {
    let all = series.iter().flat_map(|s| s.segments.iter().flatten());
    let x_max = all.clone().map(|p| p.0).chain(markers.iter().map(|m| m.at_s)).fold(1.0_f64, f64::max);
    let y_max = all.map(|p| p.1).fold(0.0_f64, f64::max).max(1e-9) * 1.1;
    let x = |v: f64| LEFT + v / x_max * (WIDTH - LEFT - RIGHT);
    let rows = label_rows(markers, &x);
    let used_rows = rows.iter().flatten().max().map_or(0, |r| r + 1) as f64;
    // Title, then the legend's row, then the marker labels' rows.
    let legend_y = 38.0;
    let top = 46.0 + used_rows * LABEL_ROW;
    let plot_bottom = top + PLOT_HEIGHT;
    let bands_top = plot_bottom + 34.0;
    let height = bands_top + bands.len() as f64 * (BAND_HEIGHT + 4.0) + if bands.is_empty() { 0.0 } else { 16.0 };
    let y = |v: f64| plot_bottom - v / y_max * PLOT_HEIGHT;
    let step = nice_step(x_max / 10.0);
    let ticks: Vec<f64> = (0..).map(|i| i as f64 * step).take_while(|t| *t <= x_max).collect();
    html! {
        svg viewBox=(format!("0 0 {WIDTH} {height:.0}")) width="100%" role="img" aria-label=(title) {
            text x=(LEFT) y="18" font-weight="600" { (title) }
            @for (s, at) in series.iter().zip(legend_offsets(series)) {
                text x=(format!("{:.0}", LEFT + at)) y=(legend_y) font-size="12" fill=(s.color) { "■ " (s.label) }
            }
            @for tick in 0..=4 {
                @let value = y_max * tick as f64 / 4.0;
                line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(format!("{:.1}", y(value))) y2=(format!("{:.1}", y(value))) stroke="#eef1f5" {}
                text x=(LEFT - 4.0) y=(format!("{:.1}", y(value) + 4.0)) font-size="11" text-anchor="end" { (format!("{value:.1}{unit}")) }
            }
            line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(plot_bottom) y2=(plot_bottom) stroke="#8a93a6" {}
            @for tick in &ticks {
                line x1=(format!("{:.1}", x(*tick))) x2=(format!("{:.1}", x(*tick))) y1=(plot_bottom) y2=(plot_bottom + 4.0) stroke="#8a93a6" {}
                text x=(format!("{:.1}", x(*tick))) y=(plot_bottom + 15.0) font-size="11" text-anchor="middle" { (seconds_label(*tick, step)) }
            }
            text x=(WIDTH - RIGHT) y=(plot_bottom + 28.0) font-size="11" text-anchor="end" { "seconds since the run started" }
            @for (marker, row) in markers.iter().zip(&rows) {
                g {
                    title { (format!("{:.2}s: {}", marker.at_s, marker.label)) }
                    line x1=(format!("{:.1}", x(marker.at_s))) x2=(format!("{:.1}", x(marker.at_s))) y1=(top - used_rows * LABEL_ROW) y2=(plot_bottom) stroke=(marker.color) stroke-dasharray="4 3" {}
                    @if let Some(row) = row {
                        text x=(format!("{:.1}", x(marker.at_s) + 3.0)) y=(format!("{:.0}", top - used_rows * LABEL_ROW + (*row as f64 + 1.0) * LABEL_ROW - 2.0)) font-size="10" fill=(marker.color) { (marker.label) }
                    }
                }
            }
            @for s in series {
                @for segment in &s.segments {
                    @if let [(px, py)] = segment.as_slice() {
                        circle cx=(format!("{:.1}", x(*px))) cy=(format!("{:.1}", y(*py))) r="3" fill=(s.color) {}
                    } @else {
                        polyline fill="none" stroke=(s.color) stroke-width="2"
                            points=(segment.iter().map(|(px, py)| format!("{:.1},{:.1}", x(*px), y(*py))).collect::<Vec<_>>().join(" ")) {}
                    }
                }
            }
            @for (index, band) in bands.iter().enumerate() {
                @let band_y = bands_top + index as f64 * (BAND_HEIGHT + 4.0);
                text x=(LEFT - 4.0) y=(format!("{:.1}", band_y + 11.0)) font-size="11" text-anchor="end" { (band.label) }
                @for (from, to, state) in &band.spans {
                    rect x=(format!("{:.1}", x(*from))) y=(format!("{band_y:.1}")) width=(format!("{:.1}", (x(*to) - x(*from)).max(1.0))) height=(BAND_HEIGHT) fill=(state_color(*state)) {
                        title { (band.label) " breaker " (state.name()) (format!(" from {from:.1}s to {to:.1}s")) }
                    }
                }
            }
            @if !bands.is_empty() {
                @let legend_y = bands_top + bands.len() as f64 * (BAND_HEIGHT + 4.0) + 10.0;
                @for (index, state) in [BreakerState::Closed, BreakerState::HalfOpen, BreakerState::Open].iter().enumerate() {
                    text x=(format!("{:.0}", LEFT + index as f64 * 140.0)) y=(format!("{legend_y:.0}")) font-size="11" fill=(state_color(*state)) { "■ breaker " (state.name()) }
                }
            }
        }
    }
}

/// Where each legend entry starts, after the ones before it.
fn legend_offsets(series: &[Series]) -> Vec<f64> {
    let mut at = 0.0;
    series
        .iter()
        .map(|s| {
            let start = at;
            at += s.label.chars().count() as f64 * 6.6 + 30.0;
            start
        })
        .collect()
}

/// A tick in seconds with as many decimals as the step needs (`0.3s`, not `0.30000000000000004s`).
fn seconds_label(tick: f64, step: f64) -> String {
    let decimals = if step >= 1.0 { 0 } else { (-step.log10()).ceil() as usize };
    format!("{tick:.decimals$}s")
}

fn state_color(state: BreakerState) -> &'static str {
    match state {
        BreakerState::Closed => "#9bd3ae",
        BreakerState::HalfOpen => "#f2c46d",
        BreakerState::Open => "#e58b8b",
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let power = 10f64.powf(raw.max(1e-9).log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|step| *step >= raw).unwrap_or(10.0 * power)
}

/// Per-phase segments of a timeline value, placed on the run's time axis.
fn segments<'a>(
    phases: impl Iterator<Item = (f64, &'a [TimelinePoint])>,
    value: impl Fn(&TimelinePoint) -> f64,
) -> Vec<Vec<(f64, f64)>> {
    phases
        .map(|(start, points)| {
            points.iter().filter(|t| t.requests > 0).map(|t| (start + t.second as f64 + 0.5, value(t))).collect()
        })
        .collect()
}

/// Phase starts, faults and other actions as chart markers.
fn markers(report: &RunReport) -> Vec<Marker> {
    let mut markers: Vec<Marker> = report
        .phases
        .iter()
        .flat_map(|phase| {
            let start = Marker { at_s: phase.started_at_s, label: phase.name.clone(), color: "#8a93a6" };
            let actions = phase.actions.iter().filter(|a| a.kind != "wait").map(|a| Marker {
                at_s: a.at_s,
                label: a.description.clone(),
                color: match a.kind.as_str() {
                    "proxy" if a.description.starts_with("enable") => "#1f8f4e",
                    "process" if a.description.starts_with("resume") || a.description.starts_with("restart") => {
                        "#1f8f4e"
                    }
                    "chaos" | "network" | "proxy" | "process" => "#c62f2f",
                    "clear_chaos" | "clear_network" => "#1f8f4e",
                    _ => "#6b3fa0",
                },
            });
            std::iter::once(start).chain(actions)
        })
        .collect();
    markers.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    markers
}

/// One band per breaker seen in any phase: each polled state lasts until the next change or
/// the end of its phase.
fn bands(report: &RunReport) -> Vec<Band> {
    let mut services: Vec<&String> = report.phases.iter().flat_map(|p| p.breakers.keys()).collect();
    services.sort();
    services.dedup();
    services
        .into_iter()
        .map(|service| Band {
            label: service.clone(),
            spans: report
                .phases
                .iter()
                .filter_map(|p| p.breakers.get(service).map(|changes| (p, changes)))
                .flat_map(|(phase, changes)| {
                    let end = phase.started_at_s + phase.duration_s;
                    changes.iter().enumerate().map(move |(i, change)| {
                        let until = changes.get(i + 1).map_or(end, |next| next.at_s);
                        (change.at_s, until.max(change.at_s), change.state)
                    })
                })
                .collect(),
        })
        .collect()
}

/// Latency per request name (the five busiest, the rest as "other": the slowest of their p95s
/// each second), throughput, and target resources over the run.
fn over_time(report: &RunReport) -> Markup {
    let markers = markers(report);
    let bands = bands(report);
    let mut volume: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for r in report.phases.iter().flat_map(|p| &p.by_request) {
        *volume.entry(&r.name).or_default() += r.measures.requests;
    }
    let mut busiest: Vec<(&str, u64)> = volume.into_iter().collect();
    busiest.sort_by_key(|(_, requests)| std::cmp::Reverse(*requests));
    let top: Vec<&str> = busiest.iter().take(5).map(|(name, _)| *name).collect();
    let mut latency: Vec<Series> = top
        .iter()
        .zip(COLORS)
        .map(|(name, color)| Series {
            label: (*name).to_owned(),
            color,
            segments: segments(
                report.phases.iter().filter_map(|p| {
                    p.by_request
                        .iter()
                        .find(|r| r.name == *name)
                        .map(|r| (p.started_at_s, r.measures.timeline.as_slice()))
                }),
                |t| t.p95_ms,
            ),
        })
        .collect();
    if busiest.len() > top.len() {
        let other = report.phases.iter().map(|p| {
            let mut seconds: std::collections::BTreeMap<u64, f64> = std::collections::BTreeMap::new();
            for point in
                p.by_request.iter().filter(|r| !top.contains(&r.name.as_str())).flat_map(|r| &r.measures.timeline)
            {
                if point.requests > 0 {
                    let slot = seconds.entry(point.second).or_default();
                    *slot = slot.max(point.p95_ms);
                }
            }
            seconds.into_iter().map(|(second, p95)| (p.started_at_s + second as f64 + 0.5, p95)).collect()
        });
        latency.push(Series { label: "other (slowest)".into(), color: COLORS[5], segments: other.collect() });
    }
    let phases = || report.phases.iter().map(|p| (p.started_at_s, p.measures.timeline.as_slice()));
    let throughput = [
        Series { label: "responses/s".into(), color: COLORS[0], segments: segments(phases(), |t| t.requests as f64) },
        Series { label: "errors/s".into(), color: COLORS[1], segments: segments(phases(), |t| t.errors as f64) },
    ];
    html! {
        h2 { "Over time" }
        (line_chart("Latency p95 per second, by request", "ms", &latency, &markers, &bands))
        (line_chart("Throughput per second", "", &throughput, &markers, &bands))
        @if report.resources.is_empty() {
            p.muted { "The target reported no CPU/memory (no /api/info)." }
        } @else {
            (line_chart("Target CPU", "%", &[Series { label: "cpu %".into(), color: COLORS[3], segments: vec![report.resources.iter().map(|r| (r.at_s, r.cpu_percent)).collect()] }], &markers, &[]))
            (line_chart("Target memory", "MB", &[Series { label: "RSS MiB".into(), color: COLORS[4], segments: vec![report.resources.iter().map(|r| (r.at_s, r.memory_mb)).collect()] }], &markers, &[]))
        }
    }
}

/// Responses per status code and phase.
fn status_codes(report: &RunReport) -> Markup {
    html! {
        h2 { "Status codes" }
        table {
            tr { th { "phase" } th { "status" } th { "responses" } th { "share" } }
            @for phase in &report.phases {
                @for (status, count) in &phase.measures.status_counts {
                    tr {
                        td { (phase.name) }
                        td { (if *status == 0 { "no response (transport error)".to_owned() } else { status.to_string() }) }
                        td.num { (count) }
                        td.num { (format!("{:.2}%", *count as f64 / phase.measures.requests.max(1) as f64 * 100.0)) }
                    }
                }
            }
        }
    }
}

/// Every action (phases' before/after, then rollback) with its time and result.
fn actions_table(report: &RunReport) -> Markup {
    html! {
        h2 { "Actions" }
        table {
            tr { th { "at" } th { "stage" } th { "kind" } th { "what" } th { "took" } th { "result" } }
            @for action in report.phases.iter().flat_map(|p| &p.actions).chain(&report.rollback) {
                tr {
                    td.num { (format!("{:.2}s", action.at_s)) }
                    td { (action.stage) } td { (action.kind) } td { (action.description) }
                    td.num { (format!("{:.0}ms", action.duration_ms)) }
                    td.(if action.ok { "ok" } else { "bad" }) { (action.message) }
                }
            }
        }
    }
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
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "Gauntlet runs" } style { (PreEscaped(STYLE)) } }
            body { main {
                h1 { "Gauntlet runs" }
                table {
                    tr { th { "started" } th { "scenario" } th { "verdict" } th { "expectations" } th { "duration" } th { "files" } }
                    @for (directory, report) in &runs {
                        @let (passed, total) = report.expectation_counts();
                        tr {
                            td { (report.started_at) }
                            td { a href=(format!("{directory}/index.html")) { (report.scenario) } }
                            td { span.badge.(report.verdict.name()) { (report.verdict.name().replace('_', " ")) } }
                            td.num { (passed) " / " (total) }
                            td.num { (format!("{:.1}s", report.duration_s)) }
                            td { a href=(format!("{directory}/report.json")) { "json" } " · " a href=(format!("{directory}/junit.xml")) { "junit" } }
                        }
                    }
                }
            } }
        }
    };
    std::fs::write(root.join("index.html"), page.into_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_labels_never_share_a_row_where_they_would_overlap() {
        let marker = |at_s: f64, label: &str| Marker { at_s, label: label.into(), color: "#000" };
        let markers =
            [marker(0.0, "inject postgres error fault"), marker(0.1, "clear all chaos faults"), marker(50.0, "x")];
        let rows = label_rows(&markers, &|v| v * 10.0);
        assert_eq!(rows, [Some(0), Some(1), Some(0)]);
    }

    #[test]
    fn axis_steps_are_round() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(3.2), 5.0);
        assert_eq!(nice_step(14.0), 20.0);
        assert_eq!(seconds_label(0.30000000000000004, 0.1), "0.3s");
        assert_eq!(seconds_label(20.0, 5.0), "20s");
    }
}
