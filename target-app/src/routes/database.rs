//! Database examples: one query each against PostgreSQL, MySQL and MongoDB.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;
use kit::error::ApiResult;

/// The routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(postgres_query)).routes(routes!(mysql_query)).routes(routes!(mongodb_query))
}

/// Execute a test query on PostgreSQL.
#[utoipa::path(get, path = "/examples/database/postgres/query", tag = "Database Examples",
    responses((status = 200, description = "Query result"), (status = 503, description = "PostgreSQL or its breaker unavailable")))]
async fn postgres_query(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let result = state.postgres.current_timestamp().await?;
    Ok(Json(json!({ "database": "PostgreSQL", "query": "SELECT current_timestamp", "result": result })))
}

/// Execute a test query on MySQL.
#[utoipa::path(get, path = "/examples/database/mysql/query", tag = "Database Examples",
    responses((status = 200, description = "Query result"), (status = 503, description = "MySQL or its breaker unavailable")))]
async fn mysql_query(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let result = state.mysql.current_timestamp().await?;
    Ok(Json(json!({ "database": "MySQL", "query": "SELECT NOW()", "result": result })))
}

/// List collections on MongoDB.
#[utoipa::path(get, path = "/examples/database/mongodb/query", tag = "Database Examples",
    responses((status = 200, description = "Collections"), (status = 503, description = "MongoDB or its breaker unavailable")))]
async fn mongodb_query(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let collections = state.mongo.collections().await?;
    Ok(Json(json!({ "database": "MongoDB", "count": collections.len(), "collections": collections })))
}
