//! The notifications service: consumes `order.created` (see [`crate::events::Consumer`]) and
//! records one notification per event, idempotently by message id, so a redelivery after a
//! crash is not a second notification. Reading them needs a token; users see their own.

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kit::error::ApiResult;
use kit::extract::ApiQuery;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::{Admin, Caller, Keys};
use crate::events::{Consumer, Handler, OrderCreated};
use crate::store::{Store, db_error};

/// What the handlers share.
#[derive(Clone)]
pub struct NotificationsState {
    /// The `notifications` schema.
    pub store: Store,
    /// Token keys.
    pub keys: Keys,
    /// The running consumer, for health.
    pub consumer: Consumer,
}

impl FromRef<NotificationsState> for Keys {
    fn from_ref(state: &NotificationsState) -> Keys {
        state.keys.clone()
    }
}

/// The routes.
pub fn router(state: NotificationsState) -> Router {
    Router::new()
        .route("/notifications", get(list_notifications))
        .route("/notifications/", get(list_notifications))
        .route("/notifications/stats", get(notification_stats))
        .route("/health", get(health_check))
        .with_state(state)
}

/// Stores one notification per `order.created`.
pub struct Recorder(pub Store);

impl Handler for Recorder {
    async fn handle(&self, event: OrderCreated) -> anyhow::Result<()> {
        let inserted = sqlx::query(
            "INSERT INTO notifications (message_id, order_id, user_id, kind) VALUES ($1, $2, $3, 'order_confirmation') \
             ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(event.message_id.to_string())
        .bind(event.order_id)
        .bind(event.user_id)
        .execute(&self.0.pool);
        let inserted = crate::store::traced("insert notification", inserted).await?;
        if inserted.rows_affected() == 0 {
            tracing::info!(order_id = %event.order_id, "redelivered order.created ignored");
        } else {
            tracing::info!(order_id = %event.order_id, "order confirmation recorded");
        }
        Ok(())
    }
}

/// `GET /notifications?order_id=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationQuery {
    order_id: Option<Uuid>,
}

/// A notification as answered.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Notification {
    message_id: String,
    order_id: Uuid,
    user_id: Uuid,
    kind: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

async fn list_notifications(
    State(state): State<NotificationsState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<NotificationQuery>,
) -> ApiResult<axum::Json<Vec<Notification>>> {
    let rows = sqlx::query_as::<_, Notification>(
        "SELECT message_id, order_id, user_id, kind, created_at FROM notifications \
         WHERE ($1::uuid IS NULL OR order_id = $1) AND ($2 OR user_id = $3) ORDER BY created_at LIMIT 100",
    )
    .bind(query.order_id)
    .bind(caller.is_admin())
    .bind(caller.id())
    .fetch_all(&state.store.pool)
    .await
    .map_err(db_error)?;
    Ok(axum::Json(rows))
}

/// `GET /notifications/stats` (administrators): notifications stored and the distinct orders
/// they cover; the two are equal when no order was notified twice.
async fn notification_stats(State(state): State<NotificationsState>, _admin: Admin) -> ApiResult<axum::Json<Value>> {
    let (notifications, orders): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT order_id) FROM notifications")
            .fetch_one(&state.store.pool)
            .await
            .map_err(db_error)?;
    Ok(axum::Json(json!({ "notifications": notifications, "orders": orders, "duplicates": notifications - orders })))
}

/// 503 while the consumer is not attached to the queue, or the database does not answer.
async fn health_check(State(state): State<NotificationsState>) -> Response {
    let database = crate::services::health("notifications", &state.store).await;
    if !database.status().is_success() {
        return database;
    }
    if state.consumer.connected() {
        axum::Json(
            json!({ "status": "healthy", "service": "notifications", "postgres": "healthy", "consumer": "connected" }),
        )
        .into_response()
    } else {
        let body = json!({ "status": "unhealthy", "service": "notifications", "postgres": "healthy", "consumer": "disconnected" });
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}
