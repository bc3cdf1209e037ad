//! `/examples/cache/{key}`.

use crate::support::{assert_error_body, dead_port, json_of, spawn_app, spawn_app_with};

#[tokio::test]
async fn set_get_and_delete_round_trip_with_ttl() {
    let app = spawn_app().await;
    let (status, body) = json_of(
        app.client.post(format!("{}/examples/cache/user:123?value=hello&ttl=60", app.address)).send().await.unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, serde_json::json!({ "key": "user:123", "value": "hello", "ttl": 60, "action": "set" }));
    let (_, body) = app.get_json("/examples/cache/user:123").await;
    assert_eq!(body["exists"], true);
    assert_eq!(body["value"], "hello");
    let ttl = body["ttl"].as_i64().unwrap();
    assert!((58..=60).contains(&ttl), "{body}");
    let (_, body) = json_of(app.delete("/examples/cache/user:123").await).await;
    assert_eq!(body, serde_json::json!({ "key": "user:123", "deleted": true, "action": "delete" }));
    let (_, body) = app.get_json("/examples/cache/user:123").await;
    assert_eq!(body["exists"], false);
    assert_eq!(body["value"], serde_json::Value::Null);
    let (_, body) = json_of(app.delete("/examples/cache/user:123").await).await;
    assert_eq!(body["deleted"], false);
}

#[tokio::test]
async fn value_without_ttl_reports_no_expiration() {
    let app = spawn_app().await;
    app.client.post(format!("{}/examples/cache/forever?value=x", app.address)).send().await.unwrap();
    let (_, body) = app.get_json("/examples/cache/forever").await;
    assert_eq!(body["ttl"], "no expiration");
}

#[tokio::test]
async fn keys_are_isolated_by_the_app_prefix() {
    let a = spawn_app().await;
    let b = spawn_app().await;
    a.client.post(format!("{}/examples/cache/shared?value=a", a.address)).send().await.unwrap();
    let (_, body) = b.get_json("/examples/cache/shared").await;
    assert_eq!(body["exists"], false);
}

#[tokio::test]
async fn bad_keys_values_and_ttls_are_422() {
    let app = spawn_app().await;
    let post = |query: String| app.client.post(format!("{}/examples/cache/{query}", app.address)).send();
    for query in [
        "ok?value=x&ttl=0".to_owned(),
        "ok?value=x&ttl=86401".to_owned(),
        "ok?value=x&ttl=soon".to_owned(),
        "ok".to_owned(),
        format!("ok?value={}", "v".repeat(10_001)),
        "bad%20key?value=x".to_owned(),
        "%0A%09G%20?value=x".to_owned(),
        "%20G?value=x".to_owned(),
        format!("{}?value=x", "k".repeat(201)),
    ] {
        let (status, body) = json_of(post(query.clone()).await.unwrap()).await;
        assert_error_body(status, &body, 422, "ValidationError");
    }
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let url = format!("{}/examples/cache/%0A%09G%20", app.address);
        let (status, body) = json_of(app.client.request(method, url).send().await.unwrap()).await;
        assert_error_body(status, &body, 422, "ValidationError");
    }
    let (status, _) = json_of(post(format!("{}?value=x&ttl=86400", "k".repeat(200))).await.unwrap()).await;
    assert_eq!(status, 200, "the limits themselves are allowed");
}

#[tokio::test]
async fn redis_outage_is_a_503_cache_error() {
    let app = spawn_app_with(|s| s.redis.nodes = vec![("127.0.0.1".into(), dead_port())]).await;
    let (status, body) = app.get_json("/examples/cache/anything").await;
    assert_error_body(status, &body, 503, "CacheConnectionError");
}
