//! The fault API every service serves under `/chaos`: inject, list and clear faults in a
//! [`FaultRegistry`]. Every call needs `Authorization: Bearer $CHAOS_TOKEN` (401 without, 403
//! with a wrong one), checked by [`require_token`] on the whole router, so a new chaos route
//! cannot forget it.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRef, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::chaos::{FaultRegistry, FaultRequest};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};

/// The fault routes, unguarded, for any state that holds a [`FaultRegistry`]; a service adds
/// its own chaos routes and then guards them all with [`guard`].
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    FaultRegistry: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(list_faults, inject_fault, clear_faults)).routes(routes!(clear_fault))
}

/// [`require_token`] over every route of `router` added so far.
pub fn guard<S: Clone + Send + Sync + 'static>(
    router: OpenApiRouter<S>,
    token: Option<SecretString>,
) -> OpenApiRouter<S> {
    router.route_layer(from_fn_with_state(Arc::new(token), require_token))
}

/// The fault routes alone over `faults`, guarded: a service with no chaos routes of its own
/// (the shop's, whose faults name what they call).
pub fn fault_router(token: Option<SecretString>, faults: FaultRegistry) -> axum::Router {
    let (router, _) = guard(routes::<FaultRegistry>(), token).split_for_parts();
    router.with_state(faults)
}

/// Lets a request through only with `Authorization: Bearer <CHAOS_TOKEN>`, compared in
/// constant time, so the time a refusal takes says nothing about how much of the token matched.
async fn require_token(
    State(expected): State<Arc<Option<SecretString>>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let unauthorized = |status, message: &str| ApiError::Authentication { status, message: message.to_owned() };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized(StatusCode::UNAUTHORIZED, "Authorization: Bearer <CHAOS_TOKEN> is required"))?;
    let expected = expected.as_ref().as_ref().map_or("", |t| t.expose_secret());
    let matches: bool = presented.trim().as_bytes().ct_eq(expected.as_bytes()).into();
    if expected.is_empty() || !matches {
        return Err(unauthorized(StatusCode::FORBIDDEN, "Invalid chaos token"));
    }
    Ok(next.run(request).await)
}

/// Inject a fault into one dependency's client path.
#[utoipa::path(post, path = "/chaos/faults", tag = "Chaos", request_body = FaultRequest,
    responses((status = 201, description = "Injected", body = crate::chaos::Fault), (status = 401, description = "No token"),
        (status = 403, description = "Wrong token"), (status = 422, description = "Bad fault")))]
async fn inject_fault(
    State(faults): State<FaultRegistry>,
    ApiJson(request): ApiJson<FaultRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    request.validate(faults.known()).map_err(|(field, reason)| ApiError::invalid(field, reason))?;
    let fault = faults.inject(request);
    Ok((StatusCode::CREATED, Json(json!(fault))))
}

/// List active faults.
#[utoipa::path(get, path = "/chaos/faults", tag = "Chaos", responses((status = 200, description = "Active faults")))]
async fn list_faults(State(faults): State<FaultRegistry>) -> Json<Value> {
    let active = faults.list();
    Json(json!({ "count": active.len(), "faults": active }))
}

/// Clear every fault.
#[utoipa::path(delete, path = "/chaos/faults", tag = "Chaos", responses((status = 200, description = "Cleared")))]
async fn clear_faults(State(faults): State<FaultRegistry>) -> Json<Value> {
    Json(json!({ "cleared": faults.clear_all() }))
}

/// Clear one fault.
#[utoipa::path(delete, path = "/chaos/faults/{id}", tag = "Chaos",
    params(("id" = String, Path, description = "Fault id")),
    responses((status = 200, description = "Cleared"), (status = 404, description = "No such active fault")))]
async fn clear_fault(State(faults): State<FaultRegistry>, ApiPath(id): ApiPath<String>) -> ApiResult<Json<Value>> {
    if faults.clear(&id) {
        Ok(Json(json!({ "cleared": id })))
    } else {
        Err(ApiError::not_found(format!("No active fault {id:?}")))
    }
}
