//! `/inventory/{product_id}`: stock, reserve, release; and no overselling under concurrency.

use reqwest::Method;
use serde_json::json;
use shop::role::Role;

use crate::support::{assert_error, json_of, spawn_shop};

#[tokio::test]
async fn reserve_and_release_move_units_between_available_and_reserved_once_per_id() {
    let shop = spawn_shop().await;
    let (_, token) = shop.register("ann@example.com").await;
    let product = shop.product(1.0, 10).await;
    let reservation = uuid::Uuid::new_v4();
    let reserve = json!({ "quantity": 4, "reservation_id": reservation });
    for _ in 0..2 {
        // The retry of a reservation is answered, not applied again.
        let (status, held) = shop.post(&format!("/inventory/{product}/reserve"), Some(&token), reserve.clone()).await;
        assert_eq!(
            (status.as_u16(), held["quantity"].as_i64(), held["available"].as_i64()),
            (200, Some(4), Some(6)),
            "{held}"
        );
    }
    assert_eq!(shop.stock(&product).await, (6, 4));
    let release = json!({ "reservation_id": reservation, "quantity": 1 });
    let (status, left) = shop.post(&format!("/inventory/{product}/release"), Some(&token), release.clone()).await;
    assert_eq!((status.as_u16(), left["quantity"].as_i64()), (200, Some(3)), "{left}");
    let (status, rest) = shop
        .post(&format!("/inventory/{product}/release"), Some(&token), json!({ "reservation_id": reservation }))
        .await;
    assert_eq!((status.as_u16(), rest["quantity"].as_i64()), (200, Some(0)), "{rest}");
    // Releasing a fully released reservation again is a no-op, not a second refund.
    let (status, _) = shop
        .post(&format!("/inventory/{product}/release"), Some(&token), json!({ "reservation_id": reservation }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(shop.stock(&product).await, (10, 0));
    let (status, error) = shop.post(&format!("/inventory/{product}/release"), Some(&token), release).await;
    assert_error(status, &error, 409, "ConflictError");
}

#[tokio::test]
async fn bad_quantities_are_422_missing_stock_404_and_too_much_409() {
    let shop = spawn_shop().await;
    let (_, token) = shop.register("ann@example.com").await;
    let product = shop.product(1.0, 2).await;
    for quantity in [0, -1, 10_001] {
        let (status, error) =
            shop.post(&format!("/inventory/{product}/reserve"), Some(&token), json!({ "quantity": quantity })).await;
        assert_error(status, &error, 422, "ValidationError");
    }
    let (status, error) =
        shop.post(&format!("/inventory/{product}/reserve"), Some(&token), json!({ "quantity": 3 })).await;
    assert_error(status, &error, 409, "ConflictError");
    assert_eq!(shop.stock(&product).await, (2, 0), "a refused reservation leaves nothing behind");
    let unknown = uuid::Uuid::new_v4();
    let (status, error) =
        shop.post(&format!("/inventory/{unknown}/reserve"), Some(&token), json!({ "quantity": 1 })).await;
    assert_error(status, &error, 404, "ResourceNotFoundError");
    let (status, error) = shop.get(&format!("/inventory/{unknown}"), None).await;
    assert_error(status, &error, 404, "ResourceNotFoundError");
    let (status, error) =
        shop.put(&format!("/inventory/{product}"), Some(&shop.admin), json!({ "available": -5 })).await;
    assert_error(status, &error, 422, "ValidationError");
    let (status, error) =
        shop.post(&format!("/inventory/{product}/release"), Some(&token), json!({ "reservation_id": unknown })).await;
    assert_error(status, &error, 404, "ResourceNotFoundError");
}

#[tokio::test]
async fn three_hundred_concurrent_reservations_of_one_unit_never_oversell_a_stock_of_100() {
    let shop = spawn_shop().await;
    let (_, token) = shop.register("ann@example.com").await;
    let product = shop.product(1.0, 100).await;
    // Straight at the inventory service: the gateway's client limit plays no part here.
    let url = format!("{}/inventory/{product}/reserve", shop.urls[&Role::Inventory]);
    let calls = (0..300).map(|_| shop.call(Method::POST, &url, Some(&token), Some(json!({ "quantity": 1 }))));
    let mut statuses = std::collections::BTreeMap::new();
    let mut lowest = i64::MAX;
    for response in futures::future::join_all(calls).await {
        let (status, body) = json_of(response).await;
        *statuses.entry(status.as_u16()).or_insert(0) += 1;
        if status == 200 {
            lowest = lowest.min(body["available"].as_i64().unwrap());
        }
    }
    assert_eq!(statuses, [(200, 100), (409, 200)].into(), "exactly the stock was reserved");
    assert_eq!(lowest, 0, "no answer ever saw a negative count");
    assert_eq!(shop.stock(&product).await, (0, 100));
}
