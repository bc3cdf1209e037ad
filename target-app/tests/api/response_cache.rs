//! Response caching: MISS then HIT, TTL expiry, Vault secrets, cache-down fallback, invalidation.

use std::time::Duration;

use crate::support::{CHAOS_TOKEN, dead_port, json_of, spawn_app, spawn_app_with};

fn x_cache(response: &reqwest::Response) -> String {
    response.headers().get("x-cache").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

#[tokio::test]
async fn health_all_is_a_miss_then_a_hit_with_the_same_body() {
    let app = spawn_app().await;
    let first = app.get("/health/all").await;
    assert_eq!(x_cache(&first), "MISS");
    let first_body = first.text().await.unwrap();
    let second = app.get("/health/all").await;
    assert_eq!(x_cache(&second), "HIT");
    assert_eq!(second.text().await.unwrap(), first_body);
    assert_eq!(app.metric("cache_hits_total", r#"endpoint="/health/all""#), 1.0);
    assert_eq!(app.metric("cache_misses_total", r#"endpoint="/health/all""#), 1.0);
}

#[tokio::test]
async fn entries_expire_after_their_ttl() {
    let app = spawn_app_with(|s| {
        s.response_cache.routes = [("/health/all".to_owned(), Duration::from_secs(1))].into();
    })
    .await;
    assert_eq!(x_cache(&app.get("/health/all").await), "MISS");
    assert_eq!(x_cache(&app.get("/health/all").await), "HIT");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(x_cache(&app.get("/health/all").await), "MISS");
}

#[tokio::test]
async fn vault_secrets_are_cached_per_path() {
    let app = spawn_app().await;
    assert_eq!(x_cache(&app.get("/examples/vault/secret/postgres").await), "MISS");
    assert_eq!(x_cache(&app.get("/examples/vault/secret/postgres").await), "HIT");
    assert_eq!(x_cache(&app.get("/examples/vault/secret/mysql").await), "MISS");
    assert_eq!(x_cache(&app.get("/examples/vault/secret/postgres/user").await), "MISS");
    let not_cached = app.get("/examples/vault/secret/no-such").await;
    assert_eq!(not_cached.status(), 404);
    assert_eq!(x_cache(&app.get("/examples/vault/secret/no-such").await), "", "errors are never cached");
}

#[tokio::test]
async fn uncached_routes_carry_no_cache_header() {
    let app = spawn_app().await;
    assert_eq!(x_cache(&app.get("/health/").await), "");
}

#[tokio::test]
async fn concurrent_misses_compute_once() {
    let app = spawn_app().await;
    let responses = futures::future::join_all((0..20).map(|_| app.get("/health/all"))).await;
    let misses = responses.iter().filter(|r| x_cache(r) == "MISS").count();
    assert_eq!(misses, 1, "only one request recomputes a missing entry");
}

#[tokio::test]
async fn cache_outage_is_a_miss_not_a_failure() {
    let app = spawn_app_with(|s| s.redis.nodes = vec![("127.0.0.1".into(), dead_port())]).await;
    for _ in 0..2 {
        let response = app.get("/examples/vault/secret/postgres").await;
        assert_eq!(response.status(), 200);
        assert_eq!(x_cache(&response), "MISS");
    }
    assert!(app.metric("cache_errors_total", r#"endpoint="/examples/vault/secret/{service_name}""#) >= 2.0);
}

#[tokio::test]
async fn invalidation_by_pattern_forces_a_miss() {
    let app = spawn_app().await;
    app.get("/health/all").await;
    assert_eq!(x_cache(&app.get("/health/all").await), "HIT");
    let response = app
        .client
        .delete(format!("{}/chaos/cache?pattern=/health/*", app.address))
        .bearer_auth(CHAOS_TOKEN)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deleted"], 1);
    assert_eq!(x_cache(&app.get("/health/all").await), "MISS");
    assert_eq!(app.metric("cache_invalidations_total", r#"pattern="/health/*""#), 1.0);
}
