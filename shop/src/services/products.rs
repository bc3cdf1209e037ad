//! The products service: the catalogue. Anyone may read it; only an administrator writes (403
//! otherwise). Prices are kept in whole cents.

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::get;
use kit::error::{ApiError, ApiResult};
use kit::extract::{ApiJson, ApiPath, ApiQuery};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::{Admin, Keys};
use crate::services::{Page, health};
use crate::store::{Store, db_error};

/// What the handlers share.
#[derive(Clone)]
pub struct ProductsState {
    /// The `products` schema.
    pub store: Store,
    /// Token keys.
    pub keys: Keys,
}

impl FromRef<ProductsState> for Keys {
    fn from_ref(state: &ProductsState) -> Keys {
        state.keys.clone()
    }
}

/// The routes.
pub fn router(state: ProductsState) -> Router {
    Router::new()
        .route("/products", get(list_products).post(create_product))
        .route("/products/", get(list_products).post(create_product))
        .route("/products/{id}", get(get_product).put(update_product))
        .route("/health", get(health_check))
        .with_state(state)
}

/// `POST /products/`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    name: String,
    description: Option<String>,
    price: f64,
    category: String,
}

/// `PUT /products/{id}`: the fields to change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductUpdate {
    name: Option<String>,
    description: Option<String>,
    price: Option<f64>,
    category: Option<String>,
}

/// `GET /products/` filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductQuery {
    skip: Option<i64>,
    limit: Option<i64>,
    category: Option<String>,
}

/// A product as answered.
#[derive(Debug, Serialize)]
pub struct Product {
    id: Uuid,
    name: String,
    description: Option<String>,
    /// In currency units, two decimals.
    price: f64,
    category: String,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    name: String,
    description: Option<String>,
    price_cents: i64,
    category: String,
}

impl From<Row> for Product {
    fn from(row: Row) -> Self {
        Self {
            id: row.id,
            name: row.name,
            description: row.description,
            price: row.price_cents as f64 / 100.0,
            category: row.category,
        }
    }
}

macro_rules! columns {
    () => {
        "id, name, description, price_cents, category"
    };
}

#[tracing::instrument(skip_all)]
async fn create_product(
    State(state): State<ProductsState>,
    _admin: Admin,
    ApiJson(new): ApiJson<NewProduct>,
) -> ApiResult<(StatusCode, axum::Json<Product>)> {
    text("name", &new.name, 200)?;
    text("category", &new.category, 100)?;
    if let Some(description) = &new.description {
        long_text(description)?;
    }
    let cents = cents(new.price)?;
    let row = sqlx::query_as::<_, Row>(concat!(
        "INSERT INTO products (id, name, description, price_cents, category) VALUES ($1, $2, $3, $4, $5) RETURNING ",
        columns!(),
        ""
    ))
    .bind(Uuid::new_v4())
    .bind(new.name.trim())
    .bind(new.description)
    .bind(cents)
    .bind(new.category.trim())
    .fetch_one(&state.store.pool)
    .await
    .map_err(db_error)?;
    Ok((StatusCode::CREATED, axum::Json(row.into())))
}

#[tracing::instrument(skip_all)]
async fn list_products(
    State(state): State<ProductsState>,
    ApiQuery(query): ApiQuery<ProductQuery>,
) -> ApiResult<axum::Json<Vec<Product>>> {
    let (skip, limit) = Page { skip: query.skip, limit: query.limit }.bounds()?;
    let rows = sqlx::query_as::<_, Row>(concat!(
        "SELECT ",
        columns!(),
        " FROM products WHERE ($1::text IS NULL OR category = $1) ORDER BY created_at, id OFFSET $2 LIMIT $3"
    ))
    .bind(query.category)
    .bind(skip)
    .bind(limit)
    .fetch_all(&state.store.pool)
    .await
    .map_err(db_error)?;
    Ok(axum::Json(rows.into_iter().map(Product::from).collect()))
}

#[tracing::instrument(skip_all, fields(product_id = %id))]
async fn get_product(State(state): State<ProductsState>, ApiPath(id): ApiPath<Uuid>) -> ApiResult<axum::Json<Product>> {
    let row = sqlx::query_as::<_, Row>(concat!("SELECT ", columns!(), " FROM products WHERE id = $1"))
        .bind(id)
        .fetch_optional(&state.store.pool);
    let row = crate::store::traced("select product", row).await.map_err(db_error)?;
    row.map(|row| axum::Json(row.into())).ok_or_else(|| ApiError::not_found(format!("Product {id} not found")))
}

#[tracing::instrument(skip_all, fields(product_id = %id))]
async fn update_product(
    State(state): State<ProductsState>,
    _admin: Admin,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(update): ApiJson<ProductUpdate>,
) -> ApiResult<axum::Json<Product>> {
    if let Some(name) = &update.name {
        text("name", name, 200)?;
    }
    if let Some(category) = &update.category {
        text("category", category, 100)?;
    }
    if let Some(description) = &update.description {
        long_text(description)?;
    }
    let cents = update.price.map(cents).transpose()?;
    let row = sqlx::query_as::<_, Row>(concat!(
        "UPDATE products SET name = COALESCE($2, name), description = COALESCE($3, description), \
         price_cents = COALESCE($4, price_cents), category = COALESCE($5, category) WHERE id = $1 RETURNING ",
        columns!(),
        ""
    ))
    .bind(id)
    .bind(update.name.as_deref().map(str::trim))
    .bind(update.description)
    .bind(cents)
    .bind(update.category.as_deref().map(str::trim))
    .fetch_optional(&state.store.pool)
    .await
    .map_err(db_error)?;
    row.map(|row| axum::Json(row.into())).ok_or_else(|| ApiError::not_found(format!("Product {id} not found")))
}

async fn health_check(State(state): State<ProductsState>) -> axum::response::Response {
    health("products", &state.store).await
}

/// A price in whole cents: finite, 0 to 1,000,000, at most two decimals.
fn cents(price: f64) -> ApiResult<i64> {
    if !price.is_finite() || !(0.0..=1_000_000.0).contains(&price) {
        return Err(ApiError::invalid("price", "must be between 0 and 1000000"));
    }
    let cents = (price * 100.0).round();
    if (cents - price * 100.0).abs() > 1e-6 {
        return Err(ApiError::invalid("price", "must have at most two decimals"));
    }
    Ok(cents as i64)
}

fn text(field: &str, value: &str, max: usize) -> ApiResult<()> {
    let length = value.trim().chars().count();
    if (1..=max).contains(&length) {
        Ok(())
    } else {
        Err(ApiError::invalid(field, format!("must be 1-{max} characters long")))
    }
}

fn long_text(description: &str) -> ApiResult<()> {
    if description.chars().count() <= 2000 {
        Ok(())
    } else {
        Err(ApiError::invalid("description", "must be at most 2000 characters"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_become_whole_cents_or_a_422() {
        assert_eq!(cents(19.99).unwrap(), 1999);
        assert_eq!(cents(0.0).unwrap(), 0);
        for bad in [-0.01, f64::NAN, f64::INFINITY, 1_000_000.01, 1.005] {
            assert!(cents(bad).is_err(), "{bad}");
        }
    }
}
