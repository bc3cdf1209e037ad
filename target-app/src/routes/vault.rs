//! Vault examples: a whole secret or one field, sensitive values masked as `***`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;
use crate::validation;
use kit::clients::vault::SecretSource;
use kit::error::{ApiError, ApiResult};
use kit::extract::ApiPath;

const NOTE: &str = "Passwords are masked in API responses for security";

/// The routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_secret)).routes(routes!(get_secret_key))
}

/// Whether a field name marks a value that must never be shown.
pub fn is_sensitive(field: &str) -> bool {
    let field = field.to_ascii_lowercase();
    ["password", "passwd", "secret", "token", "private", "credential", "api_key", "apikey"]
        .iter()
        .any(|s| field.contains(s))
}

fn mask(field: &str, value: &Value) -> Value {
    if is_sensitive(field) { json!("***") } else { value.clone() }
}

/// Fetch all credentials for a service (cached 5 min).
#[utoipa::path(get, path = "/examples/vault/secret/{service_name}", tag = "Vault Examples",
    params(("service_name" = String, Path, description = "1-50 of [a-zA-Z0-9_-]", pattern = "^[a-zA-Z0-9_-]{1,50}$")),
    responses((status = 200, description = "Secret fields, sensitive ones masked"), (status = 404, description = "No such secret"),
        (status = 422, description = "Bad service name"), (status = 503, description = "Vault unavailable")))]
async fn get_secret(
    State(secrets): State<Arc<SecretSource>>,
    ApiPath(service): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    validation::name("service_name", &service, 50, "_-")?;
    let secret = secrets.secret(&service).await?;
    let data: serde_json::Map<String, Value> = secret.iter().map(|(k, v)| (k.clone(), mask(k, v))).collect();
    Ok(Json(json!({ "service": service, "data": data, "note": NOTE })))
}

/// Fetch one credential field (cached 5 min).
#[utoipa::path(get, path = "/examples/vault/secret/{service_name}/{key}", tag = "Vault Examples",
    params(("service_name" = String, Path, description = "1-50 of [a-zA-Z0-9_-]", pattern = "^[a-zA-Z0-9_-]{1,50}$"), ("key" = String, Path, description = "1-100 of [a-zA-Z0-9_-]", pattern = "^[a-zA-Z0-9_-]{1,100}$")),
    responses((status = 200, description = "The field, masked if sensitive"), (status = 404, description = "No such secret or key"),
        (status = 422, description = "Bad name or key"), (status = 503, description = "Vault unavailable")))]
async fn get_secret_key(
    State(secrets): State<Arc<SecretSource>>,
    ApiPath((service, key)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    validation::name("service_name", &service, 50, "_-")?;
    validation::name("key", &key, 100, "_-")?;
    let secret = secrets.secret(&service).await?;
    let value = secret.get(&key).ok_or_else(|| ApiError::ResourceNotFound {
        message: format!("Key {key:?} not found in secret {service:?}"),
        details: json!({
            "resource_type": "secret_key",
            "resource_id": format!("{service}/{key}"),
            "secret_path": service,
            "key": key,
        }),
    })?;
    Ok(Json(json!({ "service": service, "key": key, "value": mask(&key, value), "note": NOTE })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_tokens_are_masked() {
        assert!(is_sensitive("password"));
        assert!(is_sensitive("DB_PASSWORD"));
        assert!(is_sensitive("api_key"));
        assert!(!is_sensitive("user"));
        assert!(!is_sensitive("database"));
        assert_eq!(mask("password", &json!("hunter2")), json!("***"));
        assert_eq!(mask("user", &json!("dev_admin")), json!("dev_admin"));
    }
}
