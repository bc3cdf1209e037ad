//! Tokens: 401 without one, with an expired one or one signed with another key; 403 for the
//! wrong role. Checked on every service that takes tokens.

use reqwest::Method;
use serde_json::json;
use shop::auth::{Keys, UserRole};

use crate::support::{assert_error, json_of, spawn_shop};

#[tokio::test]
async fn missing_expired_and_forged_tokens_are_401_everywhere() {
    let shop = spawn_shop().await;
    let (user, _) = shop.register("ann@example.com").await;
    let user_id: uuid::Uuid = user.parse().unwrap();
    let expired = shop.keys().await.issue_until(user_id, UserRole::Admin, 1).unwrap();
    let forged = Keys::new(b"not the shop's signing key at all", std::time::Duration::from_secs(60))
        .unwrap()
        .issue(user_id, UserRole::Admin)
        .unwrap();
    let product = shop.product(1.0, 1).await;
    let writes = [
        (Method::GET, format!("/users/{user}"), None),
        (Method::POST, "/products/".to_owned(), Some(json!({ "name": "x", "price": 1, "category": "c" }))),
        (Method::PUT, format!("/inventory/{product}"), Some(json!({ "available": 5 }))),
        (Method::POST, "/orders/".to_owned(), Some(json!({ "items": [{ "product_id": product, "quantity": 1 }] }))),
        (Method::GET, "/notifications/".to_owned(), None),
    ];
    for (method, path, body) in writes {
        let url = format!("{}{path}", shop.api());
        for (token, message) in [
            (None, "Bearer token required"),
            (Some(expired.as_str()), "Token expired"),
            (Some(forged.as_str()), "Invalid token"),
        ] {
            let (status, error) = json_of(shop.call(method.clone(), &url, token, body.clone()).await).await;
            assert_error(status, &error, 401, "AuthenticationError");
            assert_eq!(error["message"], message, "{method} {path}");
        }
    }
}

#[tokio::test]
async fn a_user_token_on_an_administrator_route_is_403_before_its_body_is_read() {
    let shop = spawn_shop().await;
    let (_, token) = shop.register("ann@example.com").await;
    let product = shop.product(1.0, 1).await;
    for (method, path) in [
        (Method::POST, "/products/".to_owned()),
        (Method::PUT, format!("/products/{product}")),
        (Method::PUT, format!("/inventory/{product}")),
        (Method::GET, "/orders/stats".to_owned()),
        (Method::GET, "/notifications/stats".to_owned()),
    ] {
        let url = format!("{}{path}", shop.api());
        let (status, error) =
            json_of(shop.call(method.clone(), &url, Some(&token), Some(json!({ "bad": true }))).await).await;
        assert_error(status, &error, 403, "AuthenticationError");
    }
}
