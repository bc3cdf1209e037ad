//! The network-fault scenarios of the library, against the real dev stack through the harness's
//! own proxies: each passes as shipped, and fails (exit 1, on the tightened check) when one
//! expectation is tightened past what happened.

use std::path::Path;

use crate::common::*;

/// [`tightened_fails`], and rollback reset the proxies.
fn passes_and_fails_when_tightened(name: &str, from: &str, to: &str, tightened: &str) {
    let (report, file) = tightened_fails(name, from, to, tightened);
    assert_rolled_back(&report, &file);
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
    let _stack = shared();
    passes_and_fails_when_tightened("network-postgres-latency", r#"p95: "< 900ms""#, r#"p95: "< 300ms""#, "p95 < 300");
}

#[test]
fn network_postgres_blackhole() {
    let _stack = shared();
    passes_and_fails_when_tightened(
        "network-postgres-blackhole",
        r#"max: "< 1100ms""#,
        r#"max: "< 900ms""#,
        "max < 900",
    );
}

#[test]
fn network_rabbitmq_reset() {
    let _stack = shared();
    passes_and_fails_when_tightened(
        "network-rabbitmq-reset",
        r#"503: "> 0%", 200: ">= 50%""#,
        r#"503: "== 0%", 200: ">= 50%""#,
        "status 503 share == 0",
    );
}

#[test]
fn network_redis_latency_through_announced_proxy_ports() {
    let _stack = shared();
    passes_and_fails_when_tightened(
        "network-redis-latency",
        r#"p50: ">= 200ms", p95: "< 600ms""#,
        r#"p50: ">= 200ms", p95: "< 150ms""#,
        "p95 < 150",
    );
}

#[test]
fn vault_down() {
    let _stack = shared();
    passes_and_fails_when_tightened(
        "vault-down",
        r#"status: {503: "== 100%"}"#,
        r#"status: {200: "== 100%"}"#,
        "[uncached] status 200",
    );
}
