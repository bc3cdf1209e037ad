//! `index.html`: one self-contained page per run (inline CSS and SVG, no network), written with
//! maud, which escapes by construction. Verdict, every expectation with its measurement, the
//! baseline comparison, per-phase percentiles, each phase's requests worst first with their
//! failing responses (with the target's log lines and trace waterfall for each) and slowest
//! responses, charts over time with faults and actions marked and breaker states as bands,
//! status codes, actions, the scenario text.
//! Everything shown is computed in the report model first.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::report::model::{Measures, PhaseReport, RunReport};
use crate::report::{charts, waterfall};

/// Each verdict's badge colour, shared by the run page and the dashboard.
pub const VERDICT_COLORS: &str = ".passed{background:#1f8f4e}.skipped{background:#6b7280}.failed{background:#c62f2f}\
.invalid{background:#b46a00}.setup_failed{background:#6b3fa0}.interrupted{background:#374151}";

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}\
main{max-width:1180px;margin:0 auto;padding:24px}h1{margin:0 0 4px;font-size:24px}h2{margin:28px 0 8px;font-size:18px}h3{margin:18px 0 6px;font-size:15px}\
.muted{color:#5b6475}.badge{display:inline-block;padding:3px 10px;border-radius:12px;font-weight:600;color:#fff}\
table{border-collapse:collapse;width:100%;background:#fff;margin:6px 0}th,td{border:1px solid #dde1e8;padding:5px 8px;text-align:left;vertical-align:top}\
th{background:#eef1f5}td.num{text-align:right;font-variant-numeric:tabular-nums}.ok{color:#1f8f4e;font-weight:600}.bad{color:#c62f2f;font-weight:600}.warn{color:#b46a00;font-weight:600}\
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:10px 14px;min-width:150px}\
.card b{display:block;font-size:20px}pre{background:#fff;border:1px solid #dde1e8;padding:12px;overflow:auto;white-space:pre-wrap}\
pre.body{max-height:180px;margin:4px 0}svg{background:#fff;border:1px solid #dde1e8}details{margin:4px 0}";

/// Renders one run's page.
pub fn render(report: &RunReport) -> String {
    let (passed, total) = report.expectation_counts();
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "Gauntlet: " (report.scenario) } style { (PreEscaped(STYLE)) (PreEscaped(VERDICT_COLORS)) (PreEscaped(waterfall::STYLE)) } }
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
                    (charts::over_time(report))
                    (status_codes(report))
                }
                (actions_table(report))
                @if let Some(traces) = &report.traces {
                    h2 { "Traces" }
                    p id="traces" {
                        (traces.spans_received) " spans received from the target's services; the traces of "
                        (traces.traces_kept) " samples kept (the others discarded as they arrived)"
                        @if traces.spans_dropped + traces.traces_not_kept + traces.bad_exports > 0 {
                            span.warn { "; bounded: " (traces.spans_dropped) " spans and " (traces.traces_not_kept)
                                " traces not kept, " (traces.bad_exports) " exports unreadable" }
                        }
                        "."
                    }
                }
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
                            (trace_details(f.trace_id.as_deref(), f.trace.as_ref()))
                        }
                    }
                }
            }
        }
        @if !phase.slowest.is_empty() {
            p { b { "Slowest requests" } " (the " (crate::measure::SLOWEST_PER_REQUEST) " slowest successful ones of each request, with their traces)" }
            table.slowest {
                tr { th { "at" } th { "request" } th { "status" } th { "took" } th { "request id" } th { "trace" } }
                @for s in &phase.slowest {
                    tr {
                        td.num { (format!("{:.2}s", s.at_s)) }
                        td { (s.name) }
                        td { (s.status) }
                        td.num { (format!("{:.1}ms", s.elapsed_ms)) }
                        td { (s.request_id.as_deref().unwrap_or("–")) }
                        td { (trace_details(Some(&s.trace_id), s.trace.as_ref())) }
                    }
                }
            }
        }
        @for note in &phase.dropped { p.warn { "Bounded: " (note) } }
    }
}

/// A sample's trace: its waterfall when the spans arrived, else its id to look up elsewhere.
fn trace_details(trace_id: Option<&str>, trace: Option<&crate::trace::Trace>) -> Markup {
    html! {
        @match (trace_id, trace) {
            (Some(id), Some(trace)) => details.trace open { summary { "trace (" (trace.spans.len()) " spans)" } (waterfall::render(id, trace)) },
            (Some(id), None) => span.muted { "trace " (id) },
            _ => {},
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
