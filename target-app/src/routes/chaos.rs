//! target-app's chaos API: the fault routes every service has ([`kit::fault_routes`]) and the
//! response cache's invalidation, all behind the chaos token. Merged only when
//! `CHAOS_ENABLED=true`.

use axum::Json;
use axum::extract::State;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use kit::error::ApiResult;
use kit::extract::ApiQuery;
use kit::fault_routes;

use crate::state::AppState;

/// The fault routes and [`invalidate_cache`], behind the chaos token.
pub fn router(token: Option<SecretString>) -> OpenApiRouter<AppState> {
    fault_routes::guard(fault_routes::routes().routes(routes!(invalidate_cache)), token)
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
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<InvalidateParams>,
) -> ApiResult<Json<Value>> {
    let pattern = params.pattern.unwrap_or_else(|| "*".to_owned());
    let deleted = state.cache.invalidate(&pattern).await?;
    Ok(Json(json!({ "pattern": pattern, "deleted": deleted })))
}
