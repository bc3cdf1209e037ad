//! The inventory service: stock per product, and reservations against it. A reservation never
//! oversells: it is one conditional `UPDATE ... WHERE available >= quantity`, which PostgreSQL
//! re-checks under the row lock when reservations race, and the table's checks refuse a
//! negative count besides. Each reservation is a row with the caller's id, so a retried reserve
//! or release is applied once. Reserve and release are steps of placing an order: only the orders
//! service may take them ([`ServiceCaller`]); administrators set the stock.

use axum::Router;
use axum::extract::{FromRef, State};
use axum::routing::{get, post};
use kit::error::{ApiError, ApiResult};
use kit::extract::{ApiJson, ApiPath};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::{Admin, Keys};
use crate::role::Role;
use crate::service_token::{ServiceCaller, ServiceKeys};
use crate::services::health;
use crate::store::{Store, db_error};

/// Most units one reservation may hold.
const MAX_QUANTITY: i32 = 10_000;

/// What the handlers share.
#[derive(Clone)]
pub struct InventoryState {
    /// The `inventory` schema.
    pub store: Store,
    /// Token keys.
    pub keys: Keys,
    /// Service token keys: reserve and release are the orders service's.
    pub service: ServiceKeys,
}

impl FromRef<InventoryState> for Keys {
    fn from_ref(state: &InventoryState) -> Keys {
        state.keys.clone()
    }
}

impl FromRef<InventoryState> for ServiceKeys {
    fn from_ref(state: &InventoryState) -> ServiceKeys {
        state.service.clone()
    }
}

/// The routes.
pub fn router(state: InventoryState) -> Router {
    Router::new()
        .route("/inventory/{product_id}", get(get_stock).put(set_stock))
        .route("/inventory/{product_id}/reserve", post(reserve))
        .route("/inventory/{product_id}/release", post(release))
        .route("/health", get(health_check))
        .with_state(state)
}

/// `PUT /inventory/{product_id}`: the units available to reserve.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockLevel {
    available: i32,
}

/// `POST /inventory/{product_id}/reserve`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReserveRequest {
    quantity: i32,
    /// The caller's id for this reservation (orders passes one per item); new when absent.
    reservation_id: Option<Uuid>,
}

/// `POST /inventory/{product_id}/release`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    reservation_id: Uuid,
    /// Units to give back; all that the reservation still holds when absent.
    quantity: Option<i32>,
}

/// A product's stock.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Stock {
    product_id: Uuid,
    available: i32,
    reserved: i32,
}

/// A reservation's state after reserve or release.
#[derive(Debug, Serialize)]
pub struct Reservation {
    reservation_id: Uuid,
    product_id: Uuid,
    /// Units it holds now.
    quantity: i32,
    /// The product's units still available.
    available: i32,
}

async fn get_stock(
    State(state): State<InventoryState>,
    ApiPath(product_id): ApiPath<Uuid>,
) -> ApiResult<axum::Json<Stock>> {
    sqlx::query_as::<_, Stock>("SELECT product_id, available, reserved FROM stock WHERE product_id = $1")
        .bind(product_id)
        .fetch_optional(&state.store.pool)
        .await
        .map_err(db_error)?
        .map(axum::Json)
        .ok_or_else(|| not_stocked(product_id))
}

#[tracing::instrument(skip_all, fields(%product_id))]
async fn set_stock(
    State(state): State<InventoryState>,
    _admin: Admin,
    ApiPath(product_id): ApiPath<Uuid>,
    ApiJson(level): ApiJson<StockLevel>,
) -> ApiResult<axum::Json<Stock>> {
    if !(0..=1_000_000_000).contains(&level.available) {
        return Err(ApiError::invalid("available", "must be 0-1000000000"));
    }
    let stock = sqlx::query_as::<_, Stock>(
        "INSERT INTO stock (product_id, available) VALUES ($1, $2) \
         ON CONFLICT (product_id) DO UPDATE SET available = EXCLUDED.available, updated_at = now() \
         RETURNING product_id, available, reserved",
    )
    .bind(product_id)
    .bind(level.available)
    .fetch_one(&state.store.pool)
    .await
    .map_err(db_error)?;
    Ok(axum::Json(stock))
}

#[tracing::instrument(skip_all, fields(%product_id))]
async fn reserve(
    State(state): State<InventoryState>,
    caller: ServiceCaller,
    ApiPath(product_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<ReserveRequest>,
) -> ApiResult<axum::Json<Reservation>> {
    caller.require(Role::Orders)?;
    let quantity = request.quantity;
    if !(1..=MAX_QUANTITY).contains(&quantity) {
        return Err(ApiError::invalid("quantity", format!("must be 1-{MAX_QUANTITY}")));
    }
    let id = request.reservation_id.unwrap_or_else(Uuid::new_v4);
    let mut tx = state.store.pool.begin().await.map_err(db_error)?;
    let inserted = sqlx::query(
        "INSERT INTO reservations (id, product_id, quantity) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(product_id)
    .bind(quantity)
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(error) if error.as_database_error().is_some_and(|e| e.is_foreign_key_violation()) => {
            return Err(not_stocked(product_id));
        }
        Err(error) => return Err(db_error(error)),
        Ok(done) if done.rows_affected() == 0 => {
            // A retry of a reservation already made: answer what it holds, change nothing.
            let (held_product, held): (Uuid, i32) =
                sqlx::query_as("SELECT product_id, quantity FROM reservations WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_error)?;
            if held_product != product_id {
                return Err(ApiError::Conflict {
                    message: "Reservation id already used for another product".into(),
                    details: json!({ "reservation_id": id }),
                });
            }
            let available = available(&mut tx, product_id).await?;
            return Ok(axum::Json(Reservation { reservation_id: id, product_id, quantity: held, available }));
        }
        Ok(_) => {}
    }
    let left: Option<i32> = sqlx::query_scalar(
        "UPDATE stock SET available = available - $2, reserved = reserved + $2, updated_at = now() \
         WHERE product_id = $1 AND available >= $2 RETURNING available",
    )
    .bind(product_id)
    .bind(quantity)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_error)?;
    let Some(available) = left else {
        // Dropping the transaction rolls the reservation row back.
        return Err(ApiError::Conflict {
            message: "Insufficient stock".into(),
            details: json!({ "product_id": product_id, "requested": quantity }),
        });
    };
    tx.commit().await.map_err(db_error)?;
    Ok(axum::Json(Reservation { reservation_id: id, product_id, quantity, available }))
}

#[tracing::instrument(skip_all, fields(%product_id))]
async fn release(
    State(state): State<InventoryState>,
    caller: ServiceCaller,
    ApiPath(product_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<ReleaseRequest>,
) -> ApiResult<axum::Json<Reservation>> {
    caller.require(Role::Orders)?;
    let id = request.reservation_id;
    let mut tx = state.store.pool.begin().await.map_err(db_error)?;
    let held: Option<i32> =
        sqlx::query_scalar("SELECT quantity FROM reservations WHERE id = $1 AND product_id = $2 FOR UPDATE")
            .bind(id)
            .bind(product_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
    let held =
        held.ok_or_else(|| ApiError::not_found(format!("Reservation {id} not found for product {product_id}")))?;
    let quantity = request.quantity.unwrap_or(held);
    if !(0..=MAX_QUANTITY).contains(&quantity) {
        return Err(ApiError::invalid("quantity", format!("must be 0-{MAX_QUANTITY}")));
    }
    if quantity > held {
        return Err(ApiError::Conflict {
            message: "Cannot release more than the reservation holds".into(),
            details: json!({ "reservation_id": id, "held": held, "requested": quantity }),
        });
    }
    sqlx::query("UPDATE reservations SET quantity = quantity - $2 WHERE id = $1")
        .bind(id)
        .bind(quantity)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    let available: i32 = sqlx::query_scalar(
        "UPDATE stock SET available = available + $2, reserved = reserved - $2, updated_at = now() \
         WHERE product_id = $1 RETURNING available",
    )
    .bind(product_id)
    .bind(quantity)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    Ok(axum::Json(Reservation { reservation_id: id, product_id, quantity: held - quantity, available }))
}

async fn health_check(State(state): State<InventoryState>) -> axum::response::Response {
    health("inventory", &state.store).await
}

async fn available(tx: &mut sqlx::PgConnection, product_id: Uuid) -> ApiResult<i32> {
    sqlx::query_scalar("SELECT available FROM stock WHERE product_id = $1")
        .bind(product_id)
        .fetch_one(tx)
        .await
        .map_err(db_error)
}

fn not_stocked(product_id: Uuid) -> ApiError {
    ApiError::not_found(format!("No stock recorded for product {product_id}"))
}
