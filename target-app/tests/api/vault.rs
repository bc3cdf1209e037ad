//! `/examples/vault/*`.

use crate::support::{assert_error_body, dead_port, spawn_app, spawn_app_with};

#[tokio::test]
async fn secret_is_returned_with_password_masked() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/examples/vault/secret/postgres").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["service"], "postgres");
    assert_eq!(body["data"]["user"], "dev_admin");
    assert_eq!(body["data"]["password"], "***");
    assert!(body["note"].as_str().unwrap().contains("masked"));
}

#[tokio::test]
async fn single_key_is_returned_and_sensitive_key_masked() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/examples/vault/secret/mysql/user").await;
    assert_eq!(status, 200);
    assert_eq!(body["value"], "dev_admin");
    let (_, body) = app.get_json("/examples/vault/secret/rabbitmq/password").await;
    assert_eq!(body["value"], "***");
}

#[tokio::test]
async fn missing_secret_or_key_is_404() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/examples/vault/secret/no-such-service").await;
    assert_error_body(status, &body, 404, "ResourceNotFoundError");
    let expected = serde_json::json!({
        "resource_type": "secret", "resource_id": "no-such-service", "secret_path": "no-such-service"
    });
    assert_eq!(body["details"], expected, "{body}");
    let (status, body) = app.get_json("/examples/vault/secret/postgres/no_such_key").await;
    assert_error_body(status, &body, 404, "ResourceNotFoundError");
    let expected = serde_json::json!({
        "resource_type": "secret_key", "resource_id": "postgres/no_such_key", "secret_path": "postgres", "key": "no_such_key"
    });
    assert_eq!(body["details"], expected, "{body}");
}

#[tokio::test]
async fn names_breaking_the_pattern_or_length_are_422() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/examples/vault/secret/bad.name").await;
    assert_error_body(status, &body, 422, "ValidationError");
    let long = "a".repeat(51);
    let (status, body) = app.get_json(&format!("/examples/vault/secret/{long}")).await;
    assert_error_body(status, &body, 422, "ValidationError");
    let long_key = "k".repeat(101);
    let (status, body) = app.get_json(&format!("/examples/vault/secret/postgres/{long_key}")).await;
    assert_error_body(status, &body, 422, "ValidationError");
}

#[tokio::test]
async fn vault_outage_is_a_503_with_the_documented_body() {
    let app = spawn_app_with(|s| s.vault.addr = format!("http://127.0.0.1:{}", dead_port())).await;
    let (status, body) = app.get_json("/examples/vault/secret/postgres").await;
    assert_error_body(status, &body, 503, "VaultUnavailableError");
    let (_, health) = app.get_json("/health/vault").await;
    assert_eq!(health["status"], "unhealthy");
}

#[tokio::test]
async fn static_token_is_used_when_approle_files_are_missing() {
    let app = spawn_app_with(|s| {
        s.vault.approle_dir = "/nonexistent/approle".into();
        s.vault.token = Some("dev-root-token".to_owned().into());
    })
    .await;
    let (status, body) = app.get_json("/examples/vault/secret/postgres").await;
    assert_eq!(status, 200, "{body}");
}
