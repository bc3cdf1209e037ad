//! Traces: a hosted target-app exports its spans to the harness's receiver, and the report
//! keeps whole traces for its samples, within the memory goal. (The shop's traces across
//! services are checked in `shop_scenarios`.)

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// The spans of a sample's trace.
pub(crate) fn spans(sample: &Value) -> &[Value] {
    sample["trace"]["spans"].as_array().map_or(&[], Vec::as_slice)
}

#[test]
fn target_app_spans_reach_the_harness_with_a_postgres_child() {
    let _stack = shared();
    let reports = report_dir("traced-postgres");
    let output = run(&fixture("traced-postgres.yaml"), &reports, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let (report, _) = report(&reports);
    assert!(report["traces"]["spans_received"].as_u64().unwrap() >= 20, "{}", report["traces"]);
    let slowest = report["phases"][0]["slowest"].as_array().expect("slowest samples");
    assert!(!slowest.is_empty());
    for sample in slowest {
        let spans = spans(sample);
        let request = spans
            .iter()
            .find(|s| s["name"] == "GET /examples/database/postgres/query")
            .unwrap_or_else(|| panic!("no request span in {spans:?}"));
        assert_eq!(request["service"], "target-app");
        let query = spans.iter().find(|s| s["name"] == "postgres query").expect("a postgres span");
        assert_eq!(query["parent_span_id"], request["span_id"], "{spans:?}");
        assert!(query["duration_us"].as_u64().unwrap() <= request["duration_us"].as_u64().unwrap());
    }
}

#[test]
fn a_traced_soak_keeps_the_harness_under_200_mib() {
    let _stack = alone();
    let reports = report_dir("traced-soak");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["run", &fixture("traced-soak.yaml"), "--quiet", "--report-dir", reports.to_str().unwrap()])
        .current_dir(workspace())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // VmHWM is the peak so far: the last reading before the harness exits is its peak.
    let status = format!("/proc/{}/status", child.id());
    let (mut peak_kib, deadline) = (0u64, Instant::now() + Duration::from_secs(120));
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        if let Some(kib) = std::fs::read_to_string(&status)
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse::<u64>().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let (report, _) = report(&reports);
    let received = report["traces"]["spans_received"].as_u64().unwrap();
    let requests = report["phases"][0]["requests"].as_u64().unwrap();
    println!(
        "traced soak: {requests} requests, {received} spans received, harness peak RSS {:.1} MiB (goal < 200)",
        peak_kib as f64 / 1024.0
    );
    assert!(received >= 10_000, "the receiver was exercised: {received} spans");
    assert!(peak_kib > 0 && peak_kib < 200 * 1024, "harness peak RSS {peak_kib} KiB");
}
