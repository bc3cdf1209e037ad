//! Health checks: `/health/` (no dependencies), one per dependency, `/health/all` (in parallel,
//! each with its own timeout, with breaker states) and the probes `/health/live`,
//! `/health/ready` and `/health/startup`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::rendered::RenderedJson;
use crate::state::AppState;
use kit::error::{ApiError, ApiResult};

/// The routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health_simple))
        .routes(routes!(health_vault))
        .routes(routes!(health_postgres))
        .routes(routes!(health_mysql))
        .routes(routes!(health_mongodb))
        .routes(routes!(health_redis))
        .routes(routes!(health_rabbitmq))
        .routes(routes!(health_all))
        .routes(routes!(health_live))
        .routes(routes!(health_ready))
        .routes(routes!(health_startup))
}

/// Runs one dependency's check: `{status: healthy, ...}` or `{status: unhealthy, error, ...}`.
async fn check(state: &AppState, service: &str) -> Value {
    let result = match service {
        "vault" => state.secrets.health().await.map(|details| {
            let sealed = details["sealed"].as_bool().unwrap_or(true);
            (json!({ "details": details }), !sealed)
        }),
        "postgres" => state.postgres.health().await.map(|v| (v, true)),
        "mysql" => state.mysql.health().await.map(|v| (v, true)),
        "mongodb" => state.mongo.health().await.map(|v| (v, true)),
        "redis" => redis_health(state).await,
        "rabbitmq" => state.rabbit.health().await.map(|v| (v, true)),
        other => Err(ApiError::Configuration(format!("unknown dependency {other}"))),
    };
    let (mut body, healthy) = match result {
        Ok((Value::Object(fields), healthy)) => (fields, healthy),
        Ok((other, healthy)) => (Map::from_iter([("details".to_owned(), other)]), healthy),
        Err(error) => {
            let mut fields = Map::new();
            fields.insert("error".into(), json!(error.to_string()));
            fields.insert("error_type".into(), json!(error.name()));
            (fields, false)
        }
    };
    body.insert("status".into(), json!(if healthy { "healthy" } else { "unhealthy" }));
    Value::Object(body)
}

async fn redis_health(state: &AppState) -> ApiResult<(Value, bool)> {
    let info = state.redis.cluster_info().await?;
    let cluster_state = info.get("cluster_state").and_then(Value::as_str).unwrap_or("unknown").to_owned();
    let body = json!({
        "cluster_enabled": true,
        "cluster_state": cluster_state,
        "total_nodes": info.get("cluster_known_nodes").cloned().unwrap_or(Value::Null),
        "cluster_size": info.get("cluster_size").cloned().unwrap_or(Value::Null),
    });
    Ok((body, cluster_state == "ok"))
}

/// Every dependency checked in parallel, each bounded by `HEALTH_CHECK_TIMEOUT_MS`.
async fn check_all(state: &AppState, services: &[&str]) -> BTreeMap<String, Value> {
    let timeout = state.settings.dependencies.health_timeout;
    let checks = services.iter().map(|service| async move {
        let result = match tokio::time::timeout(timeout, check(state, service)).await {
            Ok(value) => value,
            Err(_) => {
                json!({ "status": "unhealthy", "error": format!("check timed out after {} ms", timeout.as_millis()) })
            }
        };
        ((*service).to_owned(), result)
    });
    futures::future::join_all(checks).await.into_iter().collect()
}

fn is_healthy(check: &Value) -> bool {
    check["status"] == "healthy"
}

/// `{"status": "ok"}`, the body of `/health/` and `/health/live`.
const STATUS_OK: RenderedJson = RenderedJson::fixed(r#"{"status":"ok"}"#);

/// Simple health check (no dependencies).
#[utoipa::path(get, path = "/health/", tag = "Health Checks", responses((status = 200, description = "Always ok")))]
async fn health_simple() -> RenderedJson {
    STATUS_OK
}

macro_rules! dependency_check {
    ($name:ident, $service:literal, $path:literal, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(get, path = $path, tag = "Health Checks", responses((status = 200, description = "healthy or unhealthy, with details")))]
        async fn $name(State(state): State<AppState>) -> Json<Value> {
            Json(check(&state, $service).await)
        }
    };
}

dependency_check!(health_vault, "vault", "/health/vault", "Check Vault health.");
dependency_check!(health_postgres, "postgres", "/health/postgres", "Check PostgreSQL health.");
dependency_check!(health_mysql, "mysql", "/health/mysql", "Check MySQL health.");
dependency_check!(health_mongodb, "mongodb", "/health/mongodb", "Check MongoDB health.");
dependency_check!(health_redis, "redis", "/health/redis", "Check Redis Cluster health: state and node count.");
dependency_check!(health_rabbitmq, "rabbitmq", "/health/rabbitmq", "Check RabbitMQ health.");

/// Aggregate health of all services, with circuit breaker states (cached for 30 s).
#[utoipa::path(get, path = "/health/all", tag = "Health Checks", responses((status = 200, description = "healthy or degraded")))]
async fn health_all(State(state): State<AppState>) -> Json<Value> {
    let services = check_all(&state, wire::Dependency::NAMES).await;
    let status = if services.values().all(is_healthy) { "healthy" } else { "degraded" };
    let breakers: BTreeMap<&str, _> = state.breakers.iter().map(|(name, b)| (*name, b.state())).collect();
    Json(json!({ "status": status, "services": services, "circuit_breakers": breakers }))
}

/// Liveness probe: the process serves requests.
#[utoipa::path(get, path = "/health/live", tag = "Health Checks", responses((status = 200, description = "Alive")))]
async fn health_live() -> RenderedJson {
    STATUS_OK
}

/// Readiness probe: 503 when a dependency in `READY_DEPENDENCIES` is down.
#[utoipa::path(get, path = "/health/ready", tag = "Health Checks", responses(
    (status = 200, description = "Ready"), (status = 503, description = "A required dependency is down")))]
async fn health_ready(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let required: Vec<&str> = state.settings.dependencies.ready.iter().map(String::as_str).collect();
    let checks = check_all(&state, &required).await;
    let failing: Vec<&String> = checks.iter().filter(|(_, c)| !is_healthy(c)).map(|(name, _)| name).collect();
    if failing.is_empty() {
        Ok(Json(json!({ "status": "ok", "checks": checks })))
    } else {
        Err(ApiError::ServiceUnavailable {
            message: format!(
                "Not ready: {} unavailable",
                failing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ),
            details: json!({ "failing": failing, "checks": checks }),
        })
    }
}

/// Startup probe: the app has finished starting (clients connect lazily).
#[utoipa::path(get, path = "/health/startup", tag = "Health Checks", responses((status = 200, description = "Started")))]
async fn health_startup(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "status": "ok", "uptime_seconds": state.started.0.elapsed().as_secs_f64() }))
}
