//! `/products/`.

use serde_json::json;

use crate::support::{assert_error, spawn_shop};

#[tokio::test]
async fn an_administrator_creates_updates_and_anyone_reads_products() {
    let shop = spawn_shop().await;
    let id = shop.product(19.99, 5).await;
    shop.post(
        "/products/",
        Some(&shop.admin),
        json!({ "name": "Hammer", "price": 5, "category": "garden", "description": "big" }),
    )
    .await;
    let (status, product) = shop.get(&format!("/products/{id}"), None).await;
    assert_eq!((status.as_u16(), product["price"].as_f64()), (200, Some(19.99)), "{product}");
    let (status, updated) = shop.put(&format!("/products/{id}"), Some(&shop.admin), json!({ "price": 24.5 })).await;
    assert_eq!(
        (status.as_u16(), updated["price"].as_f64(), updated["name"].as_str()),
        (200, Some(24.5), Some("Widget"))
    );
    let (status, all) = shop.get("/products/", None).await;
    assert_eq!((status.as_u16(), all.as_array().unwrap().len()), (200, 2), "{all}");
    let (_, garden) = shop.get("/products/?category=garden", None).await;
    assert_eq!(garden.as_array().unwrap().len(), 1, "{garden}");
    assert_eq!(garden[0]["name"], "Hammer");
    let (_, page) = shop.get("/products/?skip=1&limit=1", None).await;
    assert_eq!(page.as_array().unwrap().len(), 1, "{page}");
}

#[tokio::test]
async fn bad_products_are_422_and_unknown_ones_404() {
    let shop = spawn_shop().await;
    for (body, field) in [
        (json!({ "name": "", "price": 1, "category": "c" }), "name"),
        (json!({ "name": "x", "price": -1, "category": "c" }), "price"),
        (json!({ "name": "x", "price": 1.001, "category": "c" }), "price"),
        (json!({ "name": "x", "price": 1, "category": "" }), "category"),
    ] {
        let (status, error) = shop.post("/products/", Some(&shop.admin), body).await;
        assert_error(status, &error, 422, "ValidationError");
        assert_eq!(error["details"]["field"], field, "{error}");
    }
    let (status, error) =
        shop.post("/products/", Some(&shop.admin), json!({ "name": "x", "price": "cheap", "category": "c" })).await;
    assert_error(status, &error, 422, "ValidationError");
    let (status, error) = shop.get(&format!("/products/{}", uuid::Uuid::new_v4()), None).await;
    assert_error(status, &error, 404, "ResourceNotFoundError");
    let (status, error) =
        shop.put(&format!("/products/{}", uuid::Uuid::new_v4()), Some(&shop.admin), json!({ "price": 1 })).await;
    assert_error(status, &error, 404, "ResourceNotFoundError");
}
