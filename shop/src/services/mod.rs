//! One module per shop service, each with its state, handlers and `router`. What they share:
//! paging and the health answer of a service with a database.

pub mod gateway;
pub mod inventory;
pub mod notifications;
pub mod orders;
pub mod products;
pub mod users;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kit::error::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::json;

use crate::store::Store;

/// `?skip=&limit=` on list endpoints.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    skip: Option<i64>,
    limit: Option<i64>,
}

impl Page {
    /// `(skip, limit)`: skip ≥ 0 (default 0), limit 1-100 (default 100); 422 otherwise.
    pub fn bounds(&self) -> ApiResult<(i64, i64)> {
        let skip = self.skip.unwrap_or(0);
        let limit = self.limit.unwrap_or(100);
        if skip < 0 {
            return Err(ApiError::invalid("skip", "must be 0 or more"));
        }
        if !(1..=100).contains(&limit) {
            return Err(ApiError::invalid("limit", "must be 1-100"));
        }
        Ok((skip, limit))
    }
}

/// `GET /health` of a service with a database: 200 when a query succeeds within two seconds,
/// otherwise 503 with the reason.
pub async fn health(service: &str, store: &Store) -> Response {
    let ping = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&store.pool);
    match tokio::time::timeout(std::time::Duration::from_secs(2), ping).await {
        Ok(Ok(_)) => {
            axum::Json(json!({ "status": "healthy", "service": service, "postgres": "healthy" })).into_response()
        }
        outcome => {
            let reason = match outcome {
                Ok(Err(error)) => error.to_string(),
                _ => "timed out".to_owned(),
            };
            tracing::warn!(service, reason, "health check failed");
            let body = json!({ "status": "unhealthy", "service": service, "postgres": "unhealthy" });
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
        }
    }
}
