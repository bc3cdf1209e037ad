//! `/orders/`: placing (validate over HTTP, reserve, store, publish), compensation, reading with
//! the user's data, and each upstream's outage.

use std::time::{Duration, Instant};

use serde_json::json;
use shop::role::Role;

use crate::support::{assert_error, dead_url, hung_url, spawn_shop, spawn_shop_with};

#[tokio::test]
async fn an_order_reserves_stock_totals_prices_and_reads_back_with_its_user() {
    let shop = spawn_shop().await;
    let (user, token) = shop.register("ann@example.com").await;
    let (widget, gadget) = (shop.product(9.99, 10).await, shop.product(0.5, 3).await);
    let items = json!({ "items": [{ "product_id": widget, "quantity": 2 }, { "product_id": gadget, "quantity": 3 }] });
    let (status, order) = shop.post("/orders/", Some(&token), items).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!((order["user_id"].as_str(), order["status"].as_str()), (Some(user.as_str()), Some("confirmed")));
    assert_eq!(order["total"].as_f64(), Some(21.48), "{order}");
    assert_eq!(shop.stock(&widget).await, (8, 2));
    assert_eq!(shop.stock(&gadget).await, (0, 3));
    let id = order["id"].as_str().unwrap();
    let (status, read) = shop.get(&format!("/orders/{id}"), Some(&token)).await;
    assert_eq!((status.as_u16(), read["degraded"].as_bool()), (200, Some(false)), "{read}");
    assert_eq!(read["user"]["email"], "ann@example.com");
    let (_, mine) = shop.get("/orders/", Some(&token)).await;
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    let (_, stats) = shop.get("/orders/stats", Some(&shop.admin)).await;
    assert_eq!(stats["orders"], 1, "{stats}");
    let (_, only) = shop.get(&format!("/orders/stats?product_id={widget}"), Some(&shop.admin)).await;
    assert_eq!(only["orders"], 1, "an order holding the product: {only}");
    let unordered = shop.product(1.0, 1).await;
    let (_, none) = shop.get(&format!("/orders/stats?product_id={unordered}"), Some(&shop.admin)).await;
    assert_eq!(none["orders"], 0, "no order holds a product nobody ordered: {none}");
    let (_, other) = shop.register("bob@example.com").await;
    let (status, error) = shop.get(&format!("/orders/{id}"), Some(&other)).await;
    assert_error(status, &error, 404, "ResourceNotFoundError");
}

#[tokio::test]
async fn bad_orders_are_422_and_too_few_units_409() {
    let shop = spawn_shop().await;
    let (_, token) = shop.register("ann@example.com").await;
    let product = shop.product(1.0, 2).await;
    let unknown = uuid::Uuid::new_v4();
    for items in [
        json!([]),
        json!([{ "product_id": product, "quantity": 0 }]),
        json!([{ "product_id": product, "quantity": 1 }, { "product_id": product, "quantity": 1 }]),
        json!([{ "product_id": unknown, "quantity": 1 }]),
        json!([{ "product_id": "nope", "quantity": 1 }]),
    ] {
        let (status, error) = shop.post("/orders/", Some(&token), json!({ "items": items })).await;
        assert_error(status, &error, 422, "ValidationError");
    }
    let (status, error) = shop.order(&token, &product, 3).await;
    assert_error(status, &error, 409, "ConflictError");
    assert_eq!(shop.stock(&product).await, (2, 0));
}

#[tokio::test]
async fn a_failure_after_reserving_releases_every_reservation() {
    let shop = spawn_shop().await;
    let (_, token) = shop.register("ann@example.com").await;
    let (plenty, none) = (shop.product(1.0, 5).await, shop.product(1.0, 0).await);
    let items = json!({ "items": [{ "product_id": plenty, "quantity": 2 }, { "product_id": none, "quantity": 1 }] });
    let (status, error) = shop.post("/orders/", Some(&token), items).await;
    assert_error(status, &error, 409, "ConflictError");
    assert_eq!(shop.stock(&plenty).await, (5, 0), "the first line's reservation was released");
    let (_, stats) = shop.get("/orders/stats", Some(&shop.admin)).await;
    assert_eq!(stats["orders"], 0);
}

#[tokio::test]
async fn a_broker_outage_is_503_and_the_order_is_neither_stored_nor_holding_stock() {
    let dead_port: u16 = dead_url().rsplit(':').next().unwrap().parse().unwrap();
    let shop = spawn_shop_with(|s| s.base.rabbitmq.port = dead_port).await;
    let (_, token) = shop.register("ann@example.com").await;
    let product = shop.product(1.0, 5).await;
    let (status, error) = shop.order(&token, &product, 2).await;
    assert_error(status, &error, 503, "MessageQueueError");
    assert_eq!(shop.stock(&product).await, (5, 0));
    let (_, stats) = shop.get("/orders/stats", Some(&shop.admin)).await;
    assert_eq!(stats["orders"], 0);
}

#[tokio::test]
async fn with_users_down_orders_fail_fast_but_reading_one_is_degraded_not_failed() {
    let mut shop = spawn_shop().await;
    let (_, token) = shop.register("ann@example.com").await;
    let product = shop.product(1.0, 5).await;
    let (_, order) = shop.order(&token, &product, 1).await;
    shop.stop(Role::Users).await;
    let (status, read) = shop.get(&format!("/orders/{}", order["id"].as_str().unwrap()), Some(&token)).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!((read["user"].is_null(), read["degraded"].as_bool()), (true, Some(true)), "{read}");
    let (status, error) = shop.order(&token, &product, 1).await;
    assert!(status == 502 || status == 503, "{status} {error}");
    assert!(["BadGatewayError", "CircuitBreakerError"].contains(&error["error"].as_str().unwrap()), "{error}");
    // Three refused attempts opened the orders → users breaker: now nothing is even tried.
    let (status, error) = shop.order(&token, &product, 1).await;
    assert_error(status, &error, 503, "CircuitBreakerError");
    assert_eq!(error["details"]["service"], "users");
    assert_eq!(shop.stock(&product).await, (4, 1), "failed orders hold nothing");
}

#[tokio::test]
async fn a_hung_products_service_costs_each_order_its_timeout_until_the_breaker_opens() {
    let (hung, _listener) = hung_url();
    let shop = spawn_shop_with(|s| {
        s.urls.insert(Role::Products, hung.clone());
        s.upstream.timeout = Duration::from_millis(400);
    })
    .await;
    let (_, token) = shop.register("ann@example.com").await;
    let product = uuid::Uuid::new_v4().to_string();
    for _ in 0..3 {
        let started = Instant::now();
        let (status, error) = shop.order(&token, &product, 1).await;
        assert_error(status, &error, 504, "TimeoutError");
        assert!(
            started.elapsed() < Duration::from_millis(1000),
            "waited {:?}, past its 400 ms budget",
            started.elapsed()
        );
    }
    let started = Instant::now();
    let (status, error) = shop.order(&token, &product, 1).await;
    assert_error(status, &error, 503, "CircuitBreakerError");
    assert!(started.elapsed() < Duration::from_millis(200), "an open breaker fails fast: {:?}", started.elapsed());
}

#[tokio::test]
async fn an_inventory_outage_is_502_and_nothing_is_stored() {
    let shop = spawn_shop_with(|s| _ = s.urls.insert(Role::Inventory, dead_url())).await;
    let (_, token) = shop.register("ann@example.com").await;
    let body = json!({ "name": "Widget", "price": 1, "category": "tools" });
    let (_, product) = shop.post("/products/", Some(&shop.admin), body).await;
    let (status, error) = shop.order(&token, product["id"].as_str().unwrap(), 1).await;
    assert_error(status, &error, 502, "BadGatewayError");
    assert_eq!(error["details"]["service"], "inventory");
    let (_, stats) = shop.get("/orders/stats", Some(&shop.admin)).await;
    assert_eq!(stats["orders"], 0);
}
