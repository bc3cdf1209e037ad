//! The report's charts over time, as inline SVG: latency per request name, throughput and
//! errors, target CPU and memory; phase starts, faults and actions marked, breaker states as
//! bands. Everything drawn is read from the report model.

use maud::{Markup, html};

use crate::checks::breaker::BreakerState;
use crate::measure::TimelinePoint;
use crate::report::model::RunReport;

/// Line colours, in order; the sixth is "other".
const COLORS: [&str; 6] = ["#2f6fd6", "#c62f2f", "#1f8f4e", "#b46a00", "#6b3fa0", "#8a93a6"];

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
    // Wide enough for the longest breaker band label (about 6.5 px a character at 11 px).
    let left = bands.iter().map(|b| b.label.chars().count() as f64 * 6.5 + 10.0).fold(LEFT, f64::max);
    let all = series.iter().flat_map(|s| s.segments.iter().flatten());
    let x_max = all.clone().map(|p| p.0).chain(markers.iter().map(|m| m.at_s)).fold(1.0_f64, f64::max);
    let y_max = all.map(|p| p.1).fold(0.0_f64, f64::max).max(1e-9) * 1.1;
    let x = |v: f64| left + v / x_max * (WIDTH - left - RIGHT);
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
            text x=(left) y="18" font-weight="600" { (title) }
            @for (s, at) in series.iter().zip(legend_offsets(series)) {
                text x=(format!("{:.0}", left + at)) y=(legend_y) font-size="12" fill=(s.color) { "■ " (s.label) }
            }
            @for tick in 0..=4 {
                @let value = y_max * tick as f64 / 4.0;
                line x1=(left) x2=(WIDTH - RIGHT) y1=(format!("{:.1}", y(value))) y2=(format!("{:.1}", y(value))) stroke="#eef1f5" {}
                text x=(left - 4.0) y=(format!("{:.1}", y(value) + 4.0)) font-size="11" text-anchor="end" { (format!("{value:.1}{unit}")) }
            }
            line x1=(left) x2=(WIDTH - RIGHT) y1=(plot_bottom) y2=(plot_bottom) stroke="#8a93a6" {}
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
                text x=(left - 4.0) y=(format!("{:.1}", band_y + 11.0)) font-size="11" text-anchor="end" { (band.label) }
                @for (from, to, state) in &band.spans {
                    rect x=(format!("{:.1}", x(*from))) y=(format!("{band_y:.1}")) width=(format!("{:.1}", (x(*to) - x(*from)).max(1.0))) height=(BAND_HEIGHT) fill=(state_color(*state)) {
                        title { (band.label) " breaker " (state.name()) (format!(" from {from:.1}s to {to:.1}s")) }
                    }
                }
            }
            @if !bands.is_empty() {
                @let legend_y = bands_top + bands.len() as f64 * (BAND_HEIGHT + 4.0) + 10.0;
                @for (index, state) in [BreakerState::Closed, BreakerState::HalfOpen, BreakerState::Open].iter().enumerate() {
                    text x=(format!("{:.0}", left + index as f64 * 140.0)) y=(format!("{legend_y:.0}")) font-size="11" fill=(state_color(*state)) { "■ breaker " (state.name()) }
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
pub fn over_time(report: &RunReport) -> Markup {
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

    #[test]
    fn a_long_breaker_label_fits_left_of_its_band() {
        let band = Band { label: "notifications".into(), spans: vec![(0.0, 1.0, BreakerState::Closed)] };
        let series = Series { label: "p95".into(), color: COLORS[0], segments: vec![vec![(0.0, 1.0), (1.0, 2.0)]] };
        let svg = line_chart("t", "ms", &[series], &[], &[band]).into_string();
        let label = regex::Regex::new(r#"<text x="([0-9.]+)"[^>]*>notifications</text>"#).unwrap();
        let right_edge: f64 = label.captures(&svg).expect("the band label is drawn")[1].parse().unwrap();
        // Right-aligned at its x: it needs about 6.5 px per character of 11 px text to its left.
        assert!(right_edge >= "notifications".len() as f64 * 6.5, "cut at the left edge: x = {right_edge}");
    }
}
