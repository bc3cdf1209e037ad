//! `/chaos/*`: auth, validation, listing, clearing, expiry.

use std::time::Duration;

use serde_json::json;

use crate::support::{CHAOS_TOKEN, assert_error_body, json_of, spawn_app, spawn_app_with};

#[tokio::test]
async fn chaos_calls_need_the_bearer_token() {
    let app = spawn_app().await;
    let url = format!("{}/chaos/faults", app.address);
    let (status, body) = json_of(app.client.get(&url).send().await.unwrap()).await;
    assert_error_body(status, &body, 401, "AuthenticationError");
    let (status, body) = json_of(app.client.get(&url).bearer_auth("wrong").send().await.unwrap()).await;
    assert_error_body(status, &body, 403, "AuthenticationError");
    let (status, _) = json_of(app.client.get(&url).bearer_auth(CHAOS_TOKEN).send().await.unwrap()).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bad_fault_bodies_are_422_with_the_reason() {
    let app = spawn_app().await;
    for (body, field) in [
        (json!({ "dependency": "oracle", "kind": "error" }), "dependency"),
        (json!({ "dependency": "postgres", "kind": "error", "probability": 2.0 }), "probability"),
        (json!({ "dependency": "postgres", "kind": "error", "duration_s": 0 }), "duration_s"),
        (json!({ "dependency": "postgres", "kind": "explode" }), "kind"),
        (json!({ "dependency": "postgres", "kind": "error", "colour": "red" }), "colour"),
        (json!({ "kind": "error" }), "dependency"),
    ] {
        let response = app
            .client
            .post(format!("{}/chaos/faults", app.address))
            .bearer_auth(CHAOS_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, error) = json_of(response).await;
        assert_error_body(status, &error, 422, "ValidationError");
        assert!(error.to_string().contains(field), "{field} not named in {error}");
    }
}

#[tokio::test]
async fn faults_are_listed_cleared_by_id_and_expire_by_themselves() {
    let app = spawn_app().await;
    let lasting =
        app.inject_fault(json!({ "dependency": "mysql", "kind": "latency", "latency_ms": 10, "duration_s": 60 })).await;
    app.inject_fault(json!({ "dependency": "redis", "kind": "error", "duration_s": 1 })).await;
    let list = |app: &crate::support::TestApp| {
        app.client.get(format!("{}/chaos/faults", app.address)).bearer_auth(CHAOS_TOKEN).send()
    };
    let (_, body) = json_of(list(&app).await.unwrap()).await;
    assert_eq!(body["count"], 2);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (_, body) = json_of(list(&app).await.unwrap()).await;
    assert_eq!(body["count"], 1, "the 1-second fault expired: {body}");
    let delete =
        |id: &str| app.client.delete(format!("{}/chaos/faults/{id}", app.address)).bearer_auth(CHAOS_TOKEN).send();
    assert_eq!(delete(&lasting).await.unwrap().status(), 200);
    let (status, body) = json_of(delete(&lasting).await.unwrap()).await;
    assert_error_body(status, &body, 404, "ResourceNotFoundError");
    assert_eq!(app.metric("chaos_faults_injected_total", r#"dependency="mysql",kind="latency""#), 1.0);
}

#[tokio::test]
async fn latency_fault_delays_calls_to_its_dependency_only() {
    // The dependency timeout is raised so a 1.5 s fault delays calls without failing them.
    let app = spawn_app_with(|s| s.dependencies.timeout = Duration::from_secs(5)).await;
    app.inject_fault(json!({ "dependency": "mysql", "kind": "latency", "latency_ms": 1500 })).await;
    let started = std::time::Instant::now();
    assert_eq!(app.get("/examples/database/mysql/query").await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(1500));
    let started = std::time::Instant::now();
    assert_eq!(app.get("/examples/database/postgres/query").await.status(), 200);
    assert!(started.elapsed() < Duration::from_millis(1000), "postgres does not get mysql's 1.5 s");
}

#[tokio::test]
async fn timeout_fault_is_a_503_after_the_dependency_timeout_not_a_hang() {
    let app = spawn_app_with(|s| s.dependencies.timeout = Duration::from_millis(300)).await;
    app.inject_fault(json!({ "dependency": "postgres", "kind": "timeout" })).await;
    let started = std::time::Instant::now();
    let (status, body) = app.get_json("/examples/database/postgres/query").await;
    assert_error_body(status, &body, 503, "DatabaseConnectionError");
    assert!(started.elapsed() >= Duration::from_millis(300) && started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn chaos_api_is_absent_unless_enabled() {
    let app = spawn_app_with(|s| s.chaos.enabled = false).await;
    let response =
        app.client.get(format!("{}/chaos/faults", app.address)).bearer_auth(CHAOS_TOKEN).send().await.unwrap();
    assert_eq!(response.status(), 404);
}
