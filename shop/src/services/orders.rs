//! The orders service. Placing an order checks the user and each product over HTTP, all at
//! once (through [`Upstream`]: breaker, timeout, bounded retries), reserves stock item by item,
//! stores the order and publishes `order.created` in one step: the row is committed only once
//! the broker confirmed the event. Any failure after a reservation releases every reservation
//! made (compensation). Reading an order adds the user's data, and still answers, marked
//! degraded, when the users service cannot (it waits for users at most half its budget, see
//! [`Upstream::get_optional`]).

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use kit::clients::rabbit::EventPublisher;
use kit::error::{ApiError, ApiResult};
use kit::extract::{ApiJson, ApiPath, ApiQuery};
use kit::layers::request_id;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::{Admin, Caller, Keys};
use crate::events::OrderCreated;
use crate::role::Role;
use crate::service_token::ServiceKeys;
use crate::services::{Page, health};
use crate::store::{Store, db_error, traced};
use crate::upstream::{Reply, Upstream};

/// Most lines one order may have.
const MAX_ITEMS: usize = 20;

/// Most units of one product per order.
const MAX_QUANTITY: i32 = 1000;

/// What the handlers share.
#[derive(Clone)]
pub struct OrdersState {
    /// The `orders` schema.
    pub store: Store,
    /// Token keys.
    pub keys: Keys,
    /// Signs the calls that reserve and release stock.
    pub service: ServiceKeys,
    /// The users service.
    pub users: Upstream,
    /// The products service.
    pub products: Upstream,
    /// The inventory service.
    pub inventory: Upstream,
    /// Where `order.created` goes.
    pub events: Arc<EventPublisher>,
    /// The queue's name.
    pub queue: String,
    /// `DEBUG`, carried into the task that places an order.
    pub debug: bool,
}

impl FromRef<OrdersState> for Keys {
    fn from_ref(state: &OrdersState) -> Keys {
        state.keys.clone()
    }
}

/// The routes.
pub fn router(state: OrdersState) -> Router {
    Router::new()
        .route("/orders", post(create_order).get(list_orders))
        .route("/orders/", post(create_order).get(list_orders))
        .route("/orders/stats", get(order_stats))
        .route("/orders/{id}", get(get_order))
        .route("/health", get(health_check))
        .with_state(state)
}

/// `POST /orders/`: what to buy; the buyer is the token's user.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    items: Vec<NewItem>,
}

/// One line of [`NewOrder`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    product_id: Uuid,
    quantity: i32,
}

/// One line of a stored order.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Item {
    product_id: Uuid,
    quantity: i32,
    unit_price_cents: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    user_id: Uuid,
    status: String,
    total_cents: i64,
    items: sqlx::types::Json<Vec<Item>>,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl Row {
    fn to_json(&self) -> Value {
        let items: Vec<Value> = self
            .items
            .iter()
            .map(|i| json!({ "product_id": i.product_id, "quantity": i.quantity, "unit_price": i.unit_price_cents as f64 / 100.0 }))
            .collect();
        json!({
            "id": self.id,
            "user_id": self.user_id,
            "status": self.status,
            "total": self.total_cents as f64 / 100.0,
            "items": items,
            "created_at": self.created_at,
        })
    }
}

macro_rules! columns {
    () => {
        "id, user_id, status, total_cents, items, created_at"
    };
}

#[tracing::instrument(skip_all, fields(user_id = %caller.id()))]
async fn create_order(
    State(state): State<OrdersState>,
    caller: Caller,
    ApiJson(order): ApiJson<NewOrder>,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    validate(&order)?;
    // Run to the end even if the client hangs up: a half-placed order would hold reservations.
    let debug = state.debug;
    let task = async move { place(&state, &caller, order.items).await };
    let task = match request_id::current_id() {
        // Scoped here, within the request: the task keeps its id and its trace.
        Some(id) => tokio::spawn(id.scope(debug, task)),
        None => tokio::spawn(task),
    };
    let row = task.await.map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("placing an order")))??;
    Ok((StatusCode::CREATED, axum::Json(row.to_json())))
}

fn validate(order: &NewOrder) -> ApiResult<()> {
    if order.items.is_empty() || order.items.len() > MAX_ITEMS {
        return Err(ApiError::invalid("items", format!("must hold 1-{MAX_ITEMS} lines")));
    }
    let mut seen = std::collections::HashSet::new();
    for item in &order.items {
        if !(1..=MAX_QUANTITY).contains(&item.quantity) {
            return Err(ApiError::invalid("quantity", format!("must be 1-{MAX_QUANTITY}")));
        }
        if !seen.insert(item.product_id) {
            return Err(ApiError::invalid("items", format!("product {} is listed twice", item.product_id)));
        }
    }
    Ok(())
}

async fn place(state: &OrdersState, caller: &Caller, items: Vec<NewItem>) -> ApiResult<Row> {
    let auth = caller.authorization.as_str();
    // The user and the products are read at once: neither needs the other.
    let user_path = format!("/users/{}", caller.id());
    let paths: Vec<String> = items.iter().map(|item| format!("/products/{}", item.product_id)).collect();
    let lookups = paths.iter().map(|path| state.products.get(path, auth));
    let (user, products) = tokio::join!(state.users.get(&user_path, auth), futures::future::join_all(lookups));
    let user = user?;
    match user.status.as_u16() {
        200 => {}
        404 => return Err(ApiError::invalid("user", "the token's user does not exist")),
        _ => return Err(answered(Role::Users, &user)),
    }
    let mut priced = Vec::with_capacity(items.len());
    for (item, reply) in items.iter().zip(products) {
        let reply = reply?;
        match reply.status.as_u16() {
            200 => {
                let product: Value = reply.json(Role::Products)?;
                let price = product["price"].as_f64().ok_or_else(|| bad_answer(Role::Products, "no price"))?;
                let unit_price_cents = (price * 100.0).round() as i64;
                priced.push(Item { product_id: item.product_id, quantity: item.quantity, unit_price_cents });
            }
            404 => return Err(ApiError::invalid("product_id", format!("product {} does not exist", item.product_id))),
            _ => return Err(answered(Role::Products, &reply)),
        }
    }
    let service = state.service.authorization(Role::Inventory)?;
    let mut reservations = Vec::with_capacity(priced.len());
    for item in &priced {
        let reservation_id = Uuid::new_v4();
        // Recorded before the call: a reserve that timed out may still have happened.
        reservations.push((item.product_id, reservation_id));
        let body = json!({ "quantity": item.quantity, "reservation_id": reservation_id });
        let path = format!("/inventory/{}/reserve", item.product_id);
        let outcome = state.inventory.post_json(&path, &service, &body).await;
        let failure = match outcome {
            Ok(reply) if reply.status == StatusCode::OK => continue,
            Ok(reply) if reply.status == StatusCode::CONFLICT => ApiError::Conflict {
                message: "Insufficient stock".into(),
                details: json!({ "product_id": item.product_id, "requested": item.quantity }),
            },
            Ok(reply) if reply.status == StatusCode::NOT_FOUND => {
                ApiError::invalid("product_id", format!("product {} is not stocked", item.product_id))
            }
            Ok(reply) => answered(Role::Inventory, &reply),
            Err(error) => error,
        };
        compensate(state, &reservations).await;
        return Err(failure);
    }
    match store_and_publish(state, caller, priced).await {
        Ok(row) => Ok(row),
        Err(error) => {
            compensate(state, &reservations).await;
            Err(error)
        }
    }
}

/// Inserts the order and commits only after the broker confirmed `order.created`.
async fn store_and_publish(state: &OrdersState, caller: &Caller, items: Vec<Item>) -> ApiResult<Row> {
    let total_cents = items.iter().map(|i| i.unit_price_cents * i64::from(i.quantity)).sum::<i64>();
    let mut tx = state.store.pool.begin().await.map_err(db_error)?;
    let row = sqlx::query_as::<_, Row>(concat!(
        "INSERT INTO orders (id, user_id, status, total_cents, items) VALUES ($1, $2, 'confirmed', $3, $4) RETURNING ",
        columns!(),
        ""
    ))
    .bind(Uuid::new_v4())
    .bind(caller.id())
    .bind(total_cents)
    .bind(sqlx::types::Json(&items));
    let row = traced("insert order", row.fetch_one(&mut *tx)).await.map_err(db_error)?;
    let event = OrderCreated { message_id: Uuid::new_v4(), order_id: row.id, user_id: row.user_id, total_cents };
    let event = serde_json::to_value(&event).map_err(|e| ApiError::Internal(e.into()))?;
    state.events.publish(&state.queue, &event).await?;
    tx.commit().await.map_err(db_error)?;
    tracing::info!(order_id = %row.id, total_cents, "order placed");
    Ok(row)
}

/// Releases every reservation in `made`; a release that fails is logged, never hidden.
async fn compensate(state: &OrdersState, made: &[(Uuid, Uuid)]) {
    for (product_id, reservation_id) in made {
        let body = json!({ "reservation_id": reservation_id });
        let path = format!("/inventory/{product_id}/release");
        let released = match state.service.authorization(Role::Inventory) {
            Ok(auth) => state.inventory.post_json_retried(&path, &auth, &body).await,
            Err(error) => Err(error),
        };
        match released {
            Ok(reply) if reply.status.is_success() => tracing::info!(%reservation_id, "reservation released"),
            // The reserve itself never happened: nothing to give back.
            Ok(reply) if reply.status == StatusCode::NOT_FOUND => {}
            Ok(reply) => {
                tracing::error!(%reservation_id, status = reply.status.as_u16(), "release refused; stock stays held")
            }
            Err(error) => tracing::error!(%reservation_id, %error, "release failed; stock stays held"),
        }
    }
}

#[tracing::instrument(skip_all, fields(order_id = %id))]
async fn get_order(
    State(state): State<OrdersState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<axum::Json<Value>> {
    let row = sqlx::query_as::<_, Row>(concat!("SELECT ", columns!(), " FROM orders WHERE id = $1"))
        .bind(id)
        .fetch_optional(&state.store.pool)
        .await
        .map_err(db_error)?
        .filter(|row| caller.is_admin() || row.user_id == caller.id())
        .ok_or_else(|| ApiError::not_found(format!("Order {id} not found")))?;
    let mut answer = row.to_json();
    let user = state.users.get_optional(&format!("/users/{}", row.user_id), &caller.authorization).await;
    match user {
        Ok(reply) if reply.status == StatusCode::OK => {
            answer["user"] = reply.json(Role::Users)?;
            answer["degraded"] = json!(false);
        }
        outcome => {
            let reason = match outcome {
                Ok(reply) => format!("users answered {}", reply.status.as_u16()),
                Err(error) => error.to_string(),
            };
            tracing::warn!(%reason, "order answered without its user");
            answer["user"] = Value::Null;
            answer["degraded"] = json!(true);
            answer["degraded_reason"] = json!(reason);
        }
    }
    Ok(axum::Json(answer))
}

async fn list_orders(
    State(state): State<OrdersState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<axum::Json<Vec<Value>>> {
    let (skip, limit) = page.bounds()?;
    let rows = sqlx::query_as::<_, Row>(concat!(
        "SELECT ",
        columns!(),
        " FROM orders WHERE ($1 OR user_id = $2) ORDER BY created_at, id OFFSET $3 LIMIT $4"
    ))
    .bind(caller.is_admin())
    .bind(caller.id())
    .bind(skip)
    .bind(limit)
    .fetch_all(&state.store.pool)
    .await
    .map_err(db_error)?;
    Ok(axum::Json(rows.iter().map(Row::to_json).collect()))
}

/// `GET /orders/stats?product_id=` (administrators).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsQuery {
    /// Only orders holding this product: a run that made its own product counts only its own
    /// orders in a database other runs share.
    product_id: Option<Uuid>,
}

/// `GET /orders/stats` (administrators): how many orders are stored (holding `product_id`,
/// when given), to check a run's effect.
async fn order_stats(
    State(state): State<OrdersState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<StatsQuery>,
) -> ApiResult<axum::Json<Value>> {
    let holding = query.product_id.map(|id| json!([{ "product_id": id }]));
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE $1::jsonb IS NULL OR items @> $1::jsonb")
        .bind(holding)
        .fetch_one(&state.store.pool)
        .await
        .map_err(db_error)?;
    Ok(axum::Json(json!({ "orders": count })))
}

async fn health_check(State(state): State<OrdersState>) -> axum::response::Response {
    health("orders", &state.store).await
}

/// An upstream's unexpected answer: its 5xx becomes our 503 (the upstream is unwell); anything
/// else is a 502 (it answered something we cannot use).
fn answered(upstream: Role, reply: &Reply) -> ApiError {
    let status = reply.status.as_u16();
    if reply.status.is_server_error() {
        ApiError::ServiceUnavailable {
            message: format!("The {upstream} service is unavailable"),
            details: json!({ "service": upstream.name(), "status": status }),
        }
    } else {
        ApiError::BadGateway { service: upstream.name(), details: json!({ "status": status }) }
    }
}

fn bad_answer(upstream: Role, what: &str) -> ApiError {
    ApiError::BadGateway { service: upstream.name(), details: json!({ "reason": what }) }
}
