//! `/inventory/{product_id}`: stock, reserve, release; and no overselling under concurrency.

use reqwest::Method;
use serde_json::json;
use shop::role::Role;

use crate::support::{assert_error, json_of, spawn_shop};

#[tokio::test]
async fn reserve_and_release_move_units_between_available_and_reserved_once_per_id() {
    let shop = spawn_shop().await;
    let product = shop.product(1.0, 10).await;
    let reservation = uuid::Uuid::new_v4();
    let reserve = json!({ "quantity": 4, "reservation_id": reservation });
    for _ in 0..2 {
        // The retry of a reservation is answered, not applied again.
        let (status, held) = shop.stock_step(&product, "reserve", reserve.clone()).await;
        assert_eq!(
            (status.as_u16(), held["quantity"].as_i64(), held["available"].as_i64()),
            (200, Some(4), Some(6)),
            "{held}"
        );
    }
    assert_eq!(shop.stock(&product).await, (6, 4));
    let release = json!({ "reservation_id": reservation, "quantity": 1 });
    let (status, left) = shop.stock_step(&product, "release", release.clone()).await;
    assert_eq!((status.as_u16(), left["quantity"].as_i64()), (200, Some(3)), "{left}");
    let (status, rest) = shop.stock_step(&product, "release", json!({ "reservation_id": reservation })).await;
    assert_eq!((status.as_u16(), rest["quantity"].as_i64()), (200, Some(0)), "{rest}");
    // Releasing a fully released reservation again is a no-op, not a second refund.
    let (status, _) = shop.stock_step(&product, "release", json!({ "reservation_id": reservation })).await;
    assert_eq!(status, 200);
    assert_eq!(shop.stock(&product).await, (10, 0));
    let (status, error) = shop.stock_step(&product, "release", release).await;
    assert_error(status, &error, 409, "ConflictError");
}

#[tokio::test]
async fn bad_quantities_are_422_missing_stock_404_and_too_much_409() {
    let shop = spawn_shop().await;
    let product = shop.product(1.0, 2).await;
    for quantity in [0, -1, 10_001] {
        let (status, error) = shop.stock_step(&product, "reserve", json!({ "quantity": quantity })).await;
        assert_error(status, &error, 422, "ValidationError");
    }
    let (status, error) = shop.stock_step(&product, "reserve", json!({ "quantity": 3 })).await;
    assert_error(status, &error, 409, "ConflictError");
    assert_eq!(shop.stock(&product).await, (2, 0), "a refused reservation leaves nothing behind");
    let unknown = uuid::Uuid::new_v4();
    let (status, error) = shop.stock_step(&unknown.to_string(), "reserve", json!({ "quantity": 1 })).await;
    assert_error(status, &error, 404, "ResourceNotFoundError");
    let (status, error) = shop.get(&format!("/inventory/{unknown}"), None).await;
    assert_error(status, &error, 404, "ResourceNotFoundError");
    let (status, error) =
        shop.put(&format!("/inventory/{product}"), Some(&shop.admin), json!({ "available": -5 })).await;
    assert_error(status, &error, 422, "ValidationError");
    let (status, error) = shop.stock_step(&product, "release", json!({ "reservation_id": unknown })).await;
    assert_error(status, &error, 404, "ResourceNotFoundError");
}

#[tokio::test]
async fn three_hundred_concurrent_reservations_of_one_unit_never_oversell_a_stock_of_100() {
    let shop = spawn_shop().await;
    let product = shop.product(1.0, 100).await;
    // Straight at the inventory service, as orders calls it: the gateway plays no part here.
    let url = format!("{}/inventory/{product}/reserve", shop.urls[&Role::Inventory]);
    let service = shop.orders_service().await;
    let calls = (0..300)
        .map(|_| shop.client.post(&url).header("authorization", &service).json(&json!({ "quantity": 1 })).send());
    let mut statuses = std::collections::BTreeMap::new();
    let mut lowest = i64::MAX;
    for response in futures::future::join_all(calls).await {
        let (status, body) = json_of(response.expect("request sent")).await;
        *statuses.entry(status.as_u16()).or_insert(0) += 1;
        if status == 200 {
            lowest = lowest.min(body["available"].as_i64().unwrap());
        }
    }
    assert_eq!(statuses, [(200, 100), (409, 200)].into(), "exactly the stock was reserved");
    assert_eq!(lowest, 0, "no answer ever saw a negative count");
    assert_eq!(shop.stock(&product).await, (0, 100));
}

#[tokio::test]
async fn customers_and_anonymous_callers_cannot_reserve_or_release_and_stock_stays() {
    let shop = spawn_shop().await;
    let (_, token) = shop.register("ann@example.com").await;
    let product = shop.product(1.0, 10).await;
    let (status, held) = shop.stock_step(&product, "reserve", json!({ "quantity": 2 })).await;
    assert_eq!(status, 200, "{held}");
    let reservation = held["reservation_id"].as_str().unwrap().to_owned();
    let inventory = &shop.urls[&Role::Inventory];
    for (step, body) in [("reserve", json!({ "quantity": 8 })), ("release", json!({ "reservation_id": reservation }))] {
        let through_gateway = format!("{}/inventory/{product}/{step}", shop.api());
        let direct = format!("{inventory}/inventory/{product}/{step}");
        for url in [&through_gateway, &direct] {
            for (caller, expected) in [(None, 401), (Some(token.as_str()), 403), (Some(shop.admin.as_str()), 403)] {
                let (status, error) = json_of(shop.call(Method::POST, url, caller, Some(body.clone())).await).await;
                assert_error(status, &error, expected, "AuthenticationError");
            }
        }
    }
    assert_eq!(shop.stock(&product).await, (8, 2), "nothing a customer sent moved a unit");
    let (status, order) = shop.order(&token, &product, 8).await;
    assert_eq!(status, 201, "orders still reserve: {order}");
    assert_eq!(shop.stock(&product).await, (0, 10));
}
