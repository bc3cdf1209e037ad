//! The shop scenarios of the library, each against a shop the harness hosts on the real dev
//! stack: each passes as shipped, and fails (exit 1, on the tightened check) when one
//! expectation is tightened past what happened. Each takes the dev stack alone: shops of six
//! services each, side by side on two cores, would measure each other, not themselves.

use serde_json::Value;

use crate::common::*;
use crate::traces::spans;

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
    let (report, file) = tightened_fails(
        "shop-cascade",
        "json: /status, equals: degraded}",
        "json: /status, equals: healthy}",
        r#"/health /status equals "healthy""#,
    );
    // Rollback resumed the paused service whatever the scenario did.
    let rollback = report["rollback"].as_array().unwrap();
    assert!(rollback.iter().all(|a| a["ok"] == true), "{rollback:?}");

    // The failed orders' traces cross the gateway and orders, and show why they failed: the
    // call to the paused products that waited out its budget, or the breaker that refused it.
    let failures = report["phases"][1]["failures"].as_array().unwrap();
    let orders: Vec<&Value> = failures.iter().filter(|f| f["name"] == "place order").collect();
    assert!(!orders.is_empty(), "no failed order sampled");
    let explained = orders.iter().find(|failure| {
        let spans = spans(failure);
        let from = |service: &str| spans.iter().any(|s| s["service"] == service);
        let waited = spans.iter().any(|s| {
            s["service"] == "orders" && s["name"] == "GET products" && s["duration_us"].as_u64().unwrap() >= 900_000
        });
        let refused = spans
            .iter()
            .flat_map(|s| s["events"].as_array().map_or(&[][..], Vec::as_slice))
            .any(|e| e["name"].as_str().unwrap().contains("breaker open"));
        from("gateway") && from("orders") && (waited || refused)
    });
    let explained = explained.unwrap_or_else(|| panic!("no failed order's trace explains it: {orders:#?}"));

    // The page draws that trace as a waterfall.
    let (_, run_dir) = crate::common::report(file.parent().unwrap());
    let dom = headless_dom(&run_dir.join("index.html"));
    let id = explained["trace_id"].as_str().unwrap();
    assert!(dom.contains(&format!("data-trace-id=\"{id}\"")), "no waterfall for trace {id}");
    assert!(dom.contains("class=\"bar") && dom.contains("class=\"mark"), "bars and breaker or fault marks");
}

#[test]
fn shop_notifications() {
    let _stack = alone();
    let report = tightened_fails_alone(
        "shop-notifications",
        "json: /duplicates, equals: 0}",
        "json: /duplicates, equals: 1}",
        "/duplicates equals 1",
    );
    // The consumer's handling of an order's message is in the order's trace.
    let slowest = report["phases"][0]["slowest"].as_array().expect("slowest samples");
    let joined = slowest.iter().any(|sample| {
        let spans = spans(sample);
        spans.iter().any(|s| s["service"] == "orders" && s["name"] == "POST /orders/")
            && spans
                .iter()
                .any(|s| s["service"] == "notifications" && s["name"].as_str().unwrap().ends_with(" process"))
    });
    assert!(joined, "no order's trace holds the consumer's span: {slowest:#?}");
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
