//! Messaging examples: publish a JSON object to a durable queue; inspect a queue.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;
use crate::validation;
use kit::clients::rabbit::EventPublisher;
use kit::error::{ApiError, ApiResult};
use kit::extract::{ApiPath, ApiQuery};

/// Largest message accepted.
const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// The routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(publish)).routes(routes!(queue_info))
}

#[derive(Deserialize)]
struct PublishParams {
    queue_name: Option<String>,
}

/// Publish a JSON object (non-empty, at most 1 MB) to a durable queue, persistently.
#[utoipa::path(post, path = "/examples/messaging/publish", tag = "Messaging Examples",
    params(("queue_name" = String, Query, description = "1-100 of [a-zA-Z0-9_.-]", pattern = "^[a-zA-Z0-9_.-]{1,100}$")),
    request_body(content = Object, content_type = "application/json", description = "Message (JSON object, max 1 MB)"),
    responses((status = 200, description = "Published"), (status = 413, description = "Message over 1 MB"),
        (status = 422, description = "Bad queue name or message"), (status = 503, description = "RabbitMQ unavailable")))]
async fn publish(
    State(publisher): State<Arc<EventPublisher>>,
    ApiQuery(params): ApiQuery<PublishParams>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let queue = params.queue_name.ok_or_else(|| ApiError::invalid("queue_name", "is required"))?;
    validation::name("queue_name", &queue, 100, "_.-")?;
    // Read at most the 1 MB a message may have (not the app's general body limit): a larger
    // body is refused once its first megabyte is in, never buffered whole.
    let too_large = || ApiError::bad_request(StatusCode::PAYLOAD_TOO_LARGE, "Message exceeds 1 MB");
    let body = axum::body::to_bytes(body, MAX_MESSAGE_BYTES).await.map_err(|_| too_large())?;
    let message: Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid("message", format!("is not valid JSON: {e}")))?;
    match &message {
        Value::Object(fields) if !fields.is_empty() => {}
        Value::Object(_) => return Err(ApiError::invalid("message", "must not be empty")),
        _ => return Err(ApiError::invalid("message", "must be a JSON object")),
    }
    publisher.publish(&queue, &message).await?;
    Ok(Json(json!({ "queue": queue, "message": message, "action": "published" })))
}

/// Queue information: whether it exists, message and consumer counts.
#[utoipa::path(get, path = "/examples/messaging/queue/{queue_name}/info", tag = "Messaging Examples",
    params(("queue_name" = String, Path, description = "1-100 of [a-zA-Z0-9_.-]", pattern = "^[a-zA-Z0-9_.-]{1,100}$")),
    responses((status = 200, description = "Queue information"), (status = 422, description = "Bad queue name"),
        (status = 503, description = "RabbitMQ unavailable")))]
async fn queue_info(
    State(publisher): State<Arc<EventPublisher>>,
    ApiPath(queue): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    validation::name("queue_name", &queue, 100, "_.-")?;
    let stats = publisher.queue_info(&queue).await?;
    Ok(Json(json!({
        "queue": queue,
        "exists": stats.exists,
        "message_count": stats.message_count,
        "consumer_count": stats.consumer_count,
    })))
}
