//! Cache examples: get, set (with optional TTL) and delete text values in the Redis Cluster.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::clients::redis::RedisCluster;
use crate::state::AppState;
use crate::validation;
use kit::error::{ApiError, ApiResult};
use kit::extract::{ApiPath, ApiQuery};

/// Longest value accepted, in characters.
const MAX_VALUE_CHARS: usize = 10_000;
/// Longest TTL accepted, in seconds.
const MAX_TTL: u64 = 86_400;

/// The routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_value, set_value, delete_value))
}

/// Validates a key against the documented pattern `^[a-zA-Z0-9_:.-]+$` (whitespace anywhere,
/// surrounding included, is a 422, as in the reference), returning the Redis key it is stored
/// under.
fn storage_key(redis: &RedisCluster, key: &str) -> ApiResult<(String, String)> {
    validation::name("key", key, 200, "_:.-")?;
    Ok((format!("{}kv:{key}", redis.key_prefix()), key.to_owned()))
}

/// Get a value from the cache.
#[utoipa::path(get, path = "/examples/cache/{key}", tag = "Cache Examples",
    params(("key" = String, Path, description = "1-200 of [a-zA-Z0-9_:.-]", pattern = "^[a-zA-Z0-9_:.-]{1,200}$")),
    responses((status = 200, description = "Value, whether it exists, and its TTL"), (status = 422, description = "Bad key")))]
async fn get_value(State(redis): State<Arc<RedisCluster>>, ApiPath(key): ApiPath<String>) -> ApiResult<Json<Value>> {
    let (stored, key) = storage_key(&redis, &key)?;
    Ok(Json(match redis.get(&stored).await? {
        Some(entry) => json!({
            "key": key,
            "value": entry.value,
            "exists": true,
            "ttl": entry.ttl.map_or_else(|| json!("no expiration"), Value::from),
        }),
        None => json!({ "key": key, "value": null, "exists": false, "ttl": null }),
    }))
}

/// Query parameters of a set; raw strings so bad values get precise messages.
#[derive(Deserialize)]
struct SetParams {
    value: Option<String>,
    ttl: Option<String>,
}

/// Set a value with an optional TTL (1-86400 s).
#[utoipa::path(post, path = "/examples/cache/{key}", tag = "Cache Examples",
    params(("key" = String, Path, description = "1-200 of [a-zA-Z0-9_:.-]", pattern = "^[a-zA-Z0-9_:.-]{1,200}$"),
        ("value" = String, Query, description = "Value to cache (max 10,000 characters)", max_length = 10000),
        ("ttl" = Option<u64>, Query, description = "Seconds to live, 1-86400", minimum = 1, maximum = 86400)),
    responses((status = 200, description = "Stored"), (status = 422, description = "Bad key, value or TTL")))]
async fn set_value(
    State(redis): State<Arc<RedisCluster>>,
    ApiPath(key): ApiPath<String>,
    ApiQuery(params): ApiQuery<SetParams>,
) -> ApiResult<Json<Value>> {
    let (stored, key) = storage_key(&redis, &key)?;
    let value = params.value.ok_or_else(|| ApiError::invalid("value", "is required"))?;
    if value.chars().count() > MAX_VALUE_CHARS {
        return Err(ApiError::invalid("value", format!("must be at most {MAX_VALUE_CHARS} characters")));
    }
    let ttl = params
        .ttl
        .map(|raw| match raw.parse::<u64>() {
            Ok(ttl) if (1..=MAX_TTL).contains(&ttl) => Ok(ttl),
            _ => Err(ApiError::invalid("ttl", format!("must be a whole number of seconds from 1 to {MAX_TTL}"))),
        })
        .transpose()?;
    redis.set(&stored, &value, ttl).await?;
    Ok(Json(json!({ "key": key, "value": value, "ttl": ttl, "action": "set" })))
}

/// Delete a value from the cache.
#[utoipa::path(delete, path = "/examples/cache/{key}", tag = "Cache Examples",
    params(("key" = String, Path, description = "1-200 of [a-zA-Z0-9_:.-]", pattern = "^[a-zA-Z0-9_:.-]{1,200}$")),
    responses((status = 200, description = "Whether it existed"), (status = 422, description = "Bad key")))]
async fn delete_value(State(redis): State<Arc<RedisCluster>>, ApiPath(key): ApiPath<String>) -> ApiResult<Json<Value>> {
    let (stored, key) = storage_key(&redis, &key)?;
    let deleted = redis.delete(&stored).await?;
    Ok(Json(json!({ "key": key, "deleted": deleted, "action": "delete" })))
}
