//! The network-fault scenarios of the library, against the real dev stack through the harness's
//! own proxies: each passes as shipped, and fails (exit 1, on the tightened check) when one
//! expectation is tightened past what happened.

use std::path::Path;

mod common;
use common::*;

/// Runs `scenarios/<name>.yaml` as shipped, then with `from` replaced by `to`; the second run
/// must fail on an expectation whose description contains `tightened`.
fn passes_and_fails_when_tightened(name: &str, from: &str, to: &str, tightened: &str) {
    let shipped = workspace().join("scenarios").join(format!("{name}.yaml"));
    let reports = report_dir(&format!("{name}-pass"));
    let output = run(shipped.to_str().unwrap(), &reports, &[]);
    assert_eq!(output.status.code(), Some(0), "{name} as shipped: {}", describe(&output));

    let text = std::fs::read_to_string(&shipped).unwrap();
    assert_eq!(text.matches(from).count(), 1, "{from:?} must occur once in {name}");
    let reports = report_dir(&format!("{name}-fail"));
    std::fs::create_dir_all(&reports).unwrap();
    let file = reports.join(format!("{name}-tightened.yaml"));
    std::fs::write(&file, text.replace(from, to)).unwrap();
    let output = run(file.to_str().unwrap(), &reports, &[]);
    assert_eq!(output.status.code(), Some(1), "{name} tightened: {}", describe(&output));
    let (report, _) = report(&reports);
    let failed: Vec<&str> = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["expectations"].as_array().unwrap())
        .filter(|e| e["passed"] == false)
        .map(|e| e["expected"].as_str().unwrap())
        .collect();
    assert!(failed.iter().any(|e| e.contains(tightened)), "{name}: failed {failed:?}, wanted {tightened:?}");
    assert_rolled_back(&report, Path::new(&file));
}

/// Rollback reset the proxies whatever the scenario did.
fn assert_rolled_back(report: &serde_json::Value, file: &Path) {
    let rollback = report["rollback"].as_array().unwrap();
    assert!(
        rollback.iter().any(|a| a["kind"] == "clear_network" && a["ok"] == true),
        "{}: {rollback:?}",
        file.display()
    );
}

#[test]
fn network_postgres_latency() {
    passes_and_fails_when_tightened("network-postgres-latency", r#"p95: "< 900ms""#, r#"p95: "< 300ms""#, "p95 < 300");
}

#[test]
fn network_postgres_blackhole() {
    passes_and_fails_when_tightened(
        "network-postgres-blackhole",
        r#"max: "< 1100ms""#,
        r#"max: "< 900ms""#,
        "max < 900",
    );
}

#[test]
fn network_rabbitmq_reset() {
    passes_and_fails_when_tightened(
        "network-rabbitmq-reset",
        r#"503: "> 0%", 200: ">= 50%""#,
        r#"503: "== 0%", 200: ">= 50%""#,
        "status 503 share == 0",
    );
}

#[test]
fn network_redis_latency_through_announced_proxy_ports() {
    passes_and_fails_when_tightened(
        "network-redis-latency",
        r#"p50: ">= 200ms", p95: "< 600ms""#,
        r#"p50: ">= 200ms", p95: "< 150ms""#,
        "p95 < 150",
    );
}

#[test]
fn vault_down() {
    passes_and_fails_when_tightened(
        "vault-down",
        r#"status: {503: "== 100%"}"#,
        r#"status: {200: "== 100%"}"#,
        "[uncached] status 200",
    );
}
