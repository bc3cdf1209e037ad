//! A trace as a waterfall: one bar per span, indented under its parent, placed and sized by
//! its time within the trace, coloured by service; breaker decisions and injected faults are
//! marked on their span's bar. Plain HTML and inline CSS, like the rest of the page.

use maud::{Markup, html};

use crate::trace::{Trace, TraceSpan};

/// The waterfall's CSS, added to the page's.
pub const STYLE: &str = ".waterfall{background:#fff;border:1px solid #dde1e8;padding:6px;margin:4px 0;font-size:12px}\
.waterfall .row{display:flex;align-items:center;height:18px}.waterfall .label{width:38%;flex:none;box-sizing:border-box;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}\
.waterfall .lane{position:relative;flex:1;height:12px;background:#f1f3f6}.waterfall .bar{position:absolute;top:0;height:12px;min-width:1px;border-radius:2px}\
.waterfall .bar.error{outline:2px solid #c62f2f}.waterfall .mark{position:absolute;top:-3px;width:3px;height:18px;background:#c62f2f}\
.waterfall .took{width:80px;text-align:right;font-variant-numeric:tabular-nums}";

const COLORS: [&str; 8] = ["#3b6fd8", "#1f8f4e", "#b46a00", "#6b3fa0", "#0f7c8c", "#a23b72", "#5b6475", "#8c6d1f"];

/// The waterfall of `trace`, its id in the heading.
pub fn render(trace_id: &str, trace: &Trace) -> Markup {
    let total = trace.spans.iter().map(|s| s.start_us + s.duration_us).max().unwrap_or(0).max(1) as f64;
    let mut services: Vec<&str> = Vec::new();
    for span in &trace.spans {
        if !services.contains(&span.service.as_str()) {
            services.push(&span.service);
        }
    }
    let color = |service: &str| COLORS[services.iter().position(|s| *s == service).unwrap_or(0) % COLORS.len()];
    let percent = |us: u64| format!("{:.3}%", us as f64 / total * 100.0);
    html! {
        div.waterfall data-trace-id=(trace_id) {
            div.muted { "trace " (trace_id) " · " (trace.spans.len()) " spans · "
                @for service in &services { span style={ "color:" (color(service)) } { "■ " (service) " " } }
            }
            @for (depth, span) in in_tree_order(&trace.spans) {
                div.row.span title=(describe(span)) {
                    div.label style={ "padding-left:" (depth * 12) "px" } { b { (span.service) } " " (span.name) }
                    div.lane {
                        div.bar.(if span.status == "error" { "error" } else { "" })
                            style={ "left:" (percent(span.start_us)) ";width:" (percent(span.duration_us)) ";background:" (color(&span.service)) } {}
                        @for event in span.events.iter().filter(|e| e.is_marked()) {
                            div.mark title=(event.name) style={ "left:" (percent(event.at_us)) } {}
                        }
                    }
                    div.took { (format!("{:.1} ms", span.duration_us as f64 / 1000.0)) }
                }
            }
        }
    }
}

/// What a bar's tooltip says: the span, its status and its events.
fn describe(span: &TraceSpan) -> String {
    let mut text = format!(
        "{} {} ({}): {:.3} ms from {:.3} ms",
        span.service,
        span.name,
        span.status,
        span.duration_us as f64 / 1000.0,
        span.start_us as f64 / 1000.0
    );
    for event in &span.events {
        text.push_str(&format!("\n{:.3} ms: {}", event.at_us as f64 / 1000.0, event.name));
        for (key, value) in &event.attributes {
            text.push_str(&format!(" {key}={value}"));
        }
    }
    text
}

/// The spans depth first, children by start, each with its depth; a span whose parent is not
/// in the trace (the harness's own, or one lost to a bound) starts a tree of its own.
fn in_tree_order(spans: &[TraceSpan]) -> Vec<(usize, &TraceSpan)> {
    let known = |id: &Option<String>| id.as_ref().is_some_and(|id| spans.iter().any(|s| &s.span_id == id));
    let mut ordered = Vec::with_capacity(spans.len());
    let mut stack: Vec<(usize, &TraceSpan)> =
        spans.iter().filter(|s| !known(&s.parent_span_id)).map(|s| (0, s)).collect();
    stack.sort_by_key(|(_, s)| std::cmp::Reverse(s.start_us));
    while let Some((depth, span)) = stack.pop() {
        ordered.push((depth, span));
        let mut children: Vec<&TraceSpan> =
            spans.iter().filter(|s| s.parent_span_id.as_ref() == Some(&span.span_id)).collect();
        children.sort_by_key(|s| std::cmp::Reverse(s.start_us));
        stack.extend(children.into_iter().map(|s| (depth + 1, s)));
        if ordered.len() > spans.len() {
            break; // a cycle in what a service sent; show what was ordered
        }
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, parent: Option<&str>, start_us: u64) -> TraceSpan {
        TraceSpan {
            service: "gateway".into(),
            name: id.into(),
            span_id: id.into(),
            parent_span_id: parent.map(str::to_owned),
            start_us,
            duration_us: 10,
            status: "unset".into(),
            events: Vec::new(),
        }
    }

    #[test]
    fn children_follow_their_parent_in_start_order_and_orphans_are_roots() {
        let spans = vec![
            span("root", Some("harness"), 0),
            span("b", Some("root"), 5),
            span("a", Some("root"), 1),
            span("c", Some("a"), 2),
        ];
        let order: Vec<(usize, &str)> = in_tree_order(&spans).into_iter().map(|(d, s)| (d, s.name.as_str())).collect();
        assert_eq!(order, [(0, "root"), (1, "a"), (2, "c"), (1, "b")]);
    }
}
