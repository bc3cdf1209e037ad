//! Every route, one file per feature; [`router`] merges them and generates `/openapi.json`
//! from the handlers' annotations. To add an endpoint: a handler in its feature file, listed in
//! that file's `router()`; a new feature adds one `.merge` here.

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Settings;
use crate::state::AppState;
use kit::error::ApiError;

pub mod cache;
pub mod chaos;
pub mod database;
pub mod faults;
pub mod health;
pub mod info;
pub mod messaging;
pub mod metrics;
pub mod redis_cluster;
pub mod root;
pub mod vault;

#[derive(OpenApi)]
#[openapi(info(
    title = "DevStack Core - Reference API (Rust)",
    description = "Infrastructure integration patterns: Vault, PostgreSQL, MySQL, MongoDB, Redis Cluster, RabbitMQ, with rate limits, circuit breakers, response caching and fault injection."
))]
struct ApiDoc;

/// All routes; `/demo/*` only when `DEMO_ENABLED`, `/chaos/*` only when `CHAOS_ENABLED`.
pub fn router(settings: &Settings) -> Router<AppState> {
    let mut api = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(root::router())
        .merge(health::router())
        .merge(info::router())
        .merge(vault::router())
        .merge(database::router())
        .merge(cache::router())
        .merge(messaging::router())
        .merge(redis_cluster::router())
        .merge(metrics::router());
    if settings.faults.enabled {
        api = api.merge(faults::router());
    }
    if settings.chaos.enabled {
        api = api.merge(chaos::router(settings.chaos.token.clone()));
    }
    let (router, openapi) = api.split_for_parts();
    let openapi = crate::contract::complete(openapi, settings);
    router
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("No route for {}", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
