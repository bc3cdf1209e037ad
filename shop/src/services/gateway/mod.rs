//! The gateway: the shop's single entry point. It forwards `/api/<service>/...` to the service
//! (see [`forward`]), limits each client (see [`client_limit`]), and answers `/health` by asking
//! every service at once, each within its own timeout: healthy when all are, degraded otherwise.
//! Browsing outlives a products outage on the catalogue's last good answers (see [`fallback`]).

pub mod client_limit;
pub mod fallback;
pub mod forward;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{any, get};
use serde_json::{Value, json};

use crate::config::ShopSettings;
use crate::role::Role;
use crate::upstream::Upstream;
use client_limit::ClientLimiter;

/// What the handlers share.
#[derive(Clone)]
pub struct GatewayState {
    /// One client (and breaker) per service.
    pub upstreams: Arc<HashMap<Role, Upstream>>,
    /// Per-client request budget.
    pub limiter: Arc<ClientLimiter>,
    /// The catalogue's last good answers.
    pub last_good: Arc<fallback::LastGood>,
    /// Plain HTTP for health checks, which must not trip the breakers.
    pub health_http: reqwest::Client,
    /// Settings (body limit, health timeout).
    pub settings: Arc<ShopSettings>,
}

/// The routes: `/`, `/health`, and `/api/<service>` with everything below it.
pub fn router(state: GatewayState) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/health", get(health_check))
        .route("/api/{service}", any(forward::forward))
        .route("/api/{service}/", any(forward::forward))
        .route("/api/{service}/{*rest}", any(forward::forward))
        .with_state(state)
}

async fn root() -> axum::Json<Value> {
    let services: Vec<&str> = Role::UPSTREAMS.iter().map(|r| r.name()).collect();
    axum::Json(json!({ "message": "API Gateway is running", "services": services }))
}

/// Always 200 while the gateway runs: `status` is `healthy` when every service answered its
/// `/health` with 200 in time, `degraded` otherwise, with each service's state and breaker.
async fn health_check(State(state): State<GatewayState>) -> axum::Json<Value> {
    let timeout = state.settings.upstream.health_timeout;
    let checks = Role::UPSTREAMS.iter().map(|role| {
        let upstream = &state.upstreams[role];
        let request = state.health_http.get(format!("{}/health", upstream.base())).timeout(timeout).send();
        async move {
            let status = match request.await {
                Ok(response) if response.status().is_success() => "healthy",
                Ok(_) => "unhealthy",
                Err(error) if error.is_timeout() => "timeout",
                Err(_) => "unreachable",
            };
            (role.name(), json!({ "status": status, "breaker": upstream.breaker().state() }))
        }
    });
    let services: serde_json::Map<String, Value> =
        futures::future::join_all(checks).await.into_iter().map(|(name, check)| (name.to_owned(), check)).collect();
    let healthy = services.values().all(|s| s["status"] == "healthy");
    axum::Json(json!({ "status": if healthy { "healthy" } else { "degraded" }, "services": services }))
}
