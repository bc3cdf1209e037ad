//! The chaos control API: inject, list and clear dependency faults; invalidate cached
//! responses. Merged only when `CHAOS_ENABLED=true`; every call needs `Authorization: Bearer
//! $CHAOS_TOKEN` (401 without, 403 with a wrong one).

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::{StatusCode, header, request::Parts};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;
use crate::chaos::{FaultRegistry, FaultRequest};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};

/// The routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_faults, inject_fault, clear_faults))
        .routes(routes!(clear_fault))
        .routes(routes!(invalidate_cache))
}

/// Proof that the request carries the chaos token; extract it first in every handler.
pub struct ChaosAuth;

impl FromRequestParts<AppState> for ChaosAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let unauthorized = |status, message: &str| ApiError::Authentication { status, message: message.to_owned() };
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| unauthorized(StatusCode::UNAUTHORIZED, "Authorization: Bearer <CHAOS_TOKEN> is required"))?;
        let expected = state.settings.chaos.token.as_ref().map(|t| t.expose_secret().to_owned()).unwrap_or_default();
        if expected.is_empty() || presented.trim() != expected {
            return Err(unauthorized(StatusCode::FORBIDDEN, "Invalid chaos token"));
        }
        Ok(Self)
    }
}

/// Inject a fault into one dependency's client path.
#[utoipa::path(post, path = "/chaos/faults", tag = "Chaos", request_body = FaultRequest,
    responses((status = 201, description = "Injected", body = crate::chaos::Fault), (status = 401, description = "No token"),
        (status = 403, description = "Wrong token"), (status = 422, description = "Bad fault")))]
async fn inject_fault(
    _auth: ChaosAuth,
    State(faults): State<FaultRegistry>,
    ApiJson(request): ApiJson<FaultRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    request.validate().map_err(|(field, reason)| ApiError::invalid(field, reason))?;
    let fault = faults.inject(request);
    Ok((StatusCode::CREATED, Json(json!(fault))))
}

/// List active faults.
#[utoipa::path(get, path = "/chaos/faults", tag = "Chaos", responses((status = 200, description = "Active faults")))]
async fn list_faults(_auth: ChaosAuth, State(faults): State<FaultRegistry>) -> Json<Value> {
    let active = faults.list();
    Json(json!({ "count": active.len(), "faults": active }))
}

/// Clear every fault.
#[utoipa::path(delete, path = "/chaos/faults", tag = "Chaos", responses((status = 200, description = "Cleared")))]
async fn clear_faults(_auth: ChaosAuth, State(faults): State<FaultRegistry>) -> Json<Value> {
    Json(json!({ "cleared": faults.clear_all() }))
}

/// Clear one fault.
#[utoipa::path(delete, path = "/chaos/faults/{id}", tag = "Chaos",
    params(("id" = String, Path, description = "Fault id")),
    responses((status = 200, description = "Cleared"), (status = 404, description = "No such active fault")))]
async fn clear_fault(
    _auth: ChaosAuth,
    State(faults): State<FaultRegistry>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    if faults.clear(&id) {
        Ok(Json(json!({ "cleared": id })))
    } else {
        Err(ApiError::ResourceNotFound(format!("No active fault {id:?}")))
    }
}

#[derive(Deserialize)]
struct InvalidateParams {
    pattern: Option<String>,
}

/// Invalidate cached responses whose key matches `pattern` (default `*`).
#[utoipa::path(delete, path = "/chaos/cache", tag = "Chaos",
    params(("pattern" = Option<String>, Query, description = "Glob after the response namespace, default *")),
    responses((status = 200, description = "Number of entries removed")))]
async fn invalidate_cache(
    _auth: ChaosAuth,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<InvalidateParams>,
) -> ApiResult<Json<Value>> {
    let pattern = params.pattern.unwrap_or_else(|| "*".to_owned());
    let deleted = state.cache.invalidate(&pattern).await?;
    Ok(Json(json!({ "pattern": pattern, "deleted": deleted })))
}
