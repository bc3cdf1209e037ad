//! `/chaos/faults` on a shop service: off unless `CHAOS_ENABLED`, behind the token, and a fault
//! naming a service acts on the calls to it from the service that holds it, and nowhere else.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shop::role::Role;

use crate::support::{Shop, assert_error, json_of, spawn_shop, spawn_shop_with};

const TOKEN: &str = "shop-chaos-test-token";

async fn chaos_shop() -> Shop {
    spawn_shop_with(|settings| {
        settings.base.chaos.enabled = true;
        settings.base.chaos.token = Some(TOKEN.to_owned().into());
    })
    .await
}

/// `POST /chaos/faults` on `role` itself (not through the gateway).
async fn inject(shop: &Shop, role: Role, fault: Value) -> (reqwest::StatusCode, Value) {
    let url = format!("{}/chaos/faults", shop.urls[&role]);
    json_of(shop.call(reqwest::Method::POST, &url, Some(TOKEN), Some(fault)).await).await
}

#[tokio::test]
async fn the_chaos_api_is_off_by_default_and_needs_the_token_when_on() {
    let shop = spawn_shop().await;
    let url = format!("{}/chaos/faults", shop.urls[&Role::Orders]);
    let (status, body) = json_of(shop.call(reqwest::Method::GET, &url, Some(TOKEN), None).await).await;
    assert_error(status, &body, 404, "ResourceNotFoundError");

    let shop = chaos_shop().await;
    let url = format!("{}/chaos/faults", shop.urls[&Role::Orders]);
    let (status, body) = json_of(shop.call(reqwest::Method::GET, &url, None, None).await).await;
    assert_error(status, &body, 401, "AuthenticationError");
    let (status, body) = json_of(shop.call(reqwest::Method::GET, &url, Some("wrong"), None).await).await;
    assert_error(status, &body, 403, "AuthenticationError");
    let (status, body) = inject(&shop, Role::Orders, json!({ "dependency": "postgres", "kind": "error" })).await;
    assert_error(status, &body, 422, "ValidationError");
    assert!(body.to_string().contains("users, products, orders, inventory, notifications, vault, rabbitmq"), "{body}");
}

#[tokio::test]
async fn an_error_fault_on_inventory_in_orders_fails_orders_then_opens_the_breaker_and_clears() {
    let shop = chaos_shop().await;
    let (_, token) = shop.register("ann@example.com").await;
    let product = shop.product(2.0, 5).await;
    let (status, fault) = inject(&shop, Role::Orders, json!({ "dependency": "inventory", "kind": "error" })).await;
    assert_eq!(status, 201, "{fault}");

    // The reserve finds no answer (502), and so do the releases that compensate it (the reserve
    // may have happened), which reaches the test breaker's threshold of 3: then 503 at once.
    let (status, error) = shop.order(&token, &product, 1).await;
    assert_error(status, &error, 502, "BadGatewayError");
    let started = Instant::now();
    let (status, error) = shop.order(&token, &product, 1).await;
    assert_error(status, &error, 503, "CircuitBreakerError");
    assert!(started.elapsed() < Duration::from_millis(200), "{:?}", started.elapsed());
    // Only orders' calls to inventory fail: the gateway reads stock, untouched and unreserved.
    assert_eq!(shop.stock(&product).await, (5, 0));

    let url = format!("{}/chaos/faults", shop.urls[&Role::Orders]);
    let (status, cleared) = json_of(shop.call(reqwest::Method::DELETE, &url, Some(TOKEN), None).await).await;
    assert_eq!((status.as_u16(), cleared["cleared"].as_u64()), (200, Some(1)), "{cleared}");
    tokio::time::sleep(shop.settings.upstream.breaker.reset_timeout + Duration::from_millis(200)).await;
    let (status, order) = shop.order(&token, &product, 1).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(shop.stock(&product).await, (4, 1));
}

#[tokio::test]
async fn a_timeout_fault_on_users_in_orders_degrades_an_order_read_within_the_budget() {
    let shop = chaos_shop().await;
    let (_, token) = shop.register("ann@example.com").await;
    let product = shop.product(2.0, 5).await;
    let (status, order) = shop.order(&token, &product, 1).await;
    assert_eq!(status, 201, "{order}");
    let (status, fault) = inject(&shop, Role::Orders, json!({ "dependency": "users", "kind": "timeout" })).await;
    assert_eq!(status, 201, "{fault}");

    let started = Instant::now();
    let (status, read) = shop.get(&format!("/orders/{}", order["id"].as_str().unwrap()), Some(&token)).await;
    let took = started.elapsed();
    assert_eq!((status.as_u16(), read["degraded"].as_bool(), &read["user"]), (200, Some(true), &Value::Null), "{read}");
    // Half the budget for the optional read, so the gateway, on the whole budget, still relays it.
    let budget = shop.settings.upstream.timeout / 2;
    assert!(took >= budget && took < budget + Duration::from_millis(500), "{took:?} against a {budget:?} budget");
    // The users service itself is fine: accounts answer through the gateway.
    let (status, me) = shop.get("/users/", Some(&shop.admin)).await;
    assert_eq!(status, 200, "{me}");
}
