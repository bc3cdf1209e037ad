//! `/users/` and `/auth/token`.

use serde_json::json;

use crate::support::{assert_error, spawn_shop};

#[tokio::test]
async fn a_registered_user_logs_in_reads_and_updates_their_account() {
    let shop = spawn_shop().await;
    let (id, token) = shop.register("ann@example.com").await;
    let (status, me) = shop.get(&format!("/users/{id}"), Some(&token)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!((me["email"].as_str(), me["role"].as_str()), (Some("ann@example.com"), Some("user")));
    assert!(me.get("password_hash").is_none() && me.get("password").is_none(), "{me}");
    let (status, updated) = shop.put(&format!("/users/{id}"), Some(&token), json!({ "full_name": "Ann B" })).await;
    assert_eq!((status.as_u16(), updated["full_name"].as_str()), (200, Some("Ann B")), "{updated}");
    let (status, _) = shop.put(&format!("/users/{id}"), Some(&token), json!({ "password": "new-password-1" })).await;
    assert_eq!(status, 200);
    assert!(!shop.token("ann@example.com", "new-password-1").await.is_empty());
}

#[tokio::test]
async fn a_duplicate_email_is_409_whatever_its_case() {
    let shop = spawn_shop().await;
    shop.register("bob@example.com").await;
    let body = json!({ "email": "BOB@example.com", "full_name": "Bob", "password": "password123" });
    let (status, error) = shop.post("/users/", None, body).await;
    assert_error(status, &error, 409, "ConflictError");
    assert_eq!(error["details"]["field"], "email");
}

#[tokio::test]
async fn bad_registrations_are_422_naming_the_field() {
    let shop = spawn_shop().await;
    for (body, field) in [
        (json!({ "email": "not-an-email", "full_name": "X", "password": "password123" }), "email"),
        (json!({ "email": "x@example.com", "full_name": "", "password": "password123" }), "full_name"),
        (json!({ "email": "x@example.com", "full_name": "X", "password": "short" }), "password"),
    ] {
        let (status, error) = shop.post("/users/", None, body).await;
        assert_error(status, &error, 422, "ValidationError");
        assert_eq!(error["details"]["field"], field, "{error}");
    }
    let (status, error) = shop
        .post(
            "/users/",
            None,
            json!({ "email": "x@example.com", "full_name": "X", "password": "password123", "extra": 1 }),
        )
        .await;
    assert_error(status, &error, 422, "ValidationError");
    let (status, error) = shop.get("/users/not-a-uuid", Some(&shop.admin)).await;
    assert_error(status, &error, 422, "ValidationError");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_401() {
    let shop = spawn_shop().await;
    shop.register("cat@example.com").await;
    let (status, wrong) =
        shop.post("/auth/token", None, json!({ "email": "cat@example.com", "password": "wrong-password" })).await;
    assert_error(status, &wrong, 401, "AuthenticationError");
    let (status, unknown) =
        shop.post("/auth/token", None, json!({ "email": "nobody@example.com", "password": "wrong-password" })).await;
    assert_error(status, &unknown, 401, "AuthenticationError");
    assert_eq!(wrong["message"], unknown["message"]);
}

#[tokio::test]
async fn only_an_administrator_lists_users_or_makes_another_administrator() {
    let shop = spawn_shop().await;
    let (_, token) = shop.register("dan@example.com").await;
    let (status, error) = shop.get("/users/", Some(&token)).await;
    assert_error(status, &error, 403, "AuthenticationError");
    let (status, users) = shop.get("/users/?limit=10", Some(&shop.admin)).await;
    assert_eq!(status, 200, "{users}");
    assert_eq!(users.as_array().unwrap().len(), 2, "the administrator and dan: {users}");
    let admin = json!({ "email": "eve@example.com", "full_name": "Eve", "password": "password123", "role": "admin" });
    let (status, error) = shop.post("/users/", Some(&token), admin.clone()).await;
    assert_error(status, &error, 403, "AuthenticationError");
    let (status, created) = shop.post("/users/", Some(&shop.admin), admin).await;
    assert_eq!((status.as_u16(), created["role"].as_str()), (201, Some("admin")), "{created}");
    let (status, error) = shop.get("/users/?limit=1000", Some(&shop.admin)).await;
    assert_error(status, &error, 422, "ValidationError");
}

#[tokio::test]
async fn a_user_cannot_read_or_change_another_account_or_their_own_role() {
    let shop = spawn_shop().await;
    let (ann, ann_token) = shop.register("ann@example.com").await;
    let (bob, _) = shop.register("bob@example.com").await;
    let (status, error) = shop.get(&format!("/users/{bob}"), Some(&ann_token)).await;
    assert_error(status, &error, 403, "AuthenticationError");
    let (status, error) = shop.put(&format!("/users/{bob}"), Some(&ann_token), json!({ "full_name": "Mallory" })).await;
    assert_error(status, &error, 403, "AuthenticationError");
    let (status, error) = shop.put(&format!("/users/{ann}"), Some(&ann_token), json!({ "role": "admin" })).await;
    assert_error(status, &error, 403, "AuthenticationError");
    let (status, error) = shop.get(&format!("/users/{}", uuid::Uuid::new_v4()), Some(&shop.admin)).await;
    assert_error(status, &error, 404, "ResourceNotFoundError");
}
