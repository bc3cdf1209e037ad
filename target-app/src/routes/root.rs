//! `GET /`: what this API is and where to look next.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// The routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(root))
}

/// API information, under the reference implementation's keys (`name, version, description,
/// docs, health, metrics, security, redis_cluster, examples, note`) so its clients keep
/// working; what this implementation adds sits under those keys.
#[utoipa::path(get, path = "/", responses((status = 200, description = "API information")))]
async fn root(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "name": state.settings.app.name,
        "version": env!("CARGO_PKG_VERSION"),
        "description": "Reference implementation of infrastructure integration patterns, in Rust",
        "docs": "/docs",
        "health": "/health/all",
        "metrics": "/metrics",
        "security": {
            "rate_limiting": state.settings.rate_limit.enabled,
            "circuit_breakers": true,
            "chaos_api": state.settings.chaos.enabled,
        },
        "redis_cluster": {
            "nodes": "/redis/cluster/nodes",
            "slots": "/redis/cluster/slots",
            "info": "/redis/cluster/info",
            "node_info": "/redis/nodes/{node_name}/info",
        },
        "examples": {
            "openapi": "/openapi.json",
            "health": "/health/{service}",
            "vault": "/examples/vault/secret/{service_name}",
            "database": "/examples/database/{postgres|mysql|mongodb}/query",
            "cache": "/examples/cache/{key}",
            "messaging": "/examples/messaging/publish",
            "demo": "/demo/{slow|error|cpu|memory|panic}",
        },
        "note": "Passwords are masked in API responses for security",
    }))
}
