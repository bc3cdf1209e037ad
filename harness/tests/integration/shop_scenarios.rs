//! The shop scenarios of the library, each against a shop the harness hosts on the real dev
//! stack: each passes as shipped, and fails (exit 1, on the tightened check) when one
//! expectation is tightened past what happened. Each takes the dev stack alone: shops of six
//! services each, side by side on two cores, would measure each other, not themselves.

use crate::common::*;

fn tightened_fails_alone(name: &str, from: &str, to: &str, tightened: &str) -> serde_json::Value {
    tightened_fails(name, from, to, tightened).0
}

#[test]
fn shop_no_oversell() {
    let _stack = alone();
    tightened_fails_alone("shop-no-oversell", r#"201: "== 20%""#, r#"201: "== 21%""#, "status 201 share == 21.00%");
}

#[test]
fn shop_happy_path() {
    let _stack = alone();
    tightened_fails_alone("shop-happy-path", r#"p95: "< 300ms""#, r#"p95: "< 1ms""#, "p95 < 1.000ms");
}

#[test]
fn shop_cascade() {
    let _stack = alone();
    let report = tightened_fails_alone(
        "shop-cascade",
        "json: /status, equals: degraded}",
        "json: /status, equals: healthy}",
        r#"/health /status equals "healthy""#,
    );
    // Rollback resumed the paused service whatever the scenario did.
    let rollback = report["rollback"].as_array().unwrap();
    assert!(rollback.iter().all(|a| a["ok"] == true), "{rollback:?}");
}

#[test]
fn shop_notifications() {
    let _stack = alone();
    tightened_fails_alone(
        "shop-notifications",
        "json: /duplicates, equals: 0}",
        "json: /duplicates, equals: 1}",
        "/duplicates equals 1",
    );
}

#[test]
fn shop_products_latency_through_a_proxy_in_front_of_a_service() {
    let _stack = alone();
    tightened_fails_alone(
        "shop-products-latency",
        "breaker: {service: products, state: closed}",
        "breaker: {service: products, state: open}",
        "products breaker ends open",
    );
}

#[test]
fn shop_inventory_errors_through_a_chaos_fault_in_one_service() {
    let _stack = alone();
    let report = tightened_fails_alone(
        "shop-inventory-errors",
        r#"json: /reserved, equals: 0}"#,
        r#"json: /reserved, equals: 1}"#,
        "/reserved equals 1",
    );
    // The fault went to orders alone, and rollback cleared the faults on every service.
    let actions = report["phases"][1]["actions"].as_array().unwrap();
    assert!(actions.iter().any(|a| a["description"] == "inject inventory error fault in orders"), "{actions:?}");
    let rollback = report["rollback"].as_array().unwrap();
    assert!(rollback.iter().all(|a| a["ok"] == true), "{rollback:?}");
}
