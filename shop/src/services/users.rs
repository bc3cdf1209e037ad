//! The users service: accounts (`/users/`) and tokens (`/auth/token`). Emails are unique (409),
//! passwords are stored as argon2id hashes, and writes need a token from an administrator or from
//! the account's own user. The administrator named by `SHOP_ADMIN_EMAIL` is kept at startup.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use kit::error::{ApiError, ApiResult};
use kit::extract::{ApiJson, ApiPath, ApiQuery};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::{Admin, Caller, Keys, UserRole, passwords, unauthorized};
use crate::config::ShopSettings;
use crate::services::{Page, health};
use crate::store::{Store, db_error, is_unique_violation};

/// What the handlers share.
#[derive(Clone)]
pub struct UsersState {
    /// The `users` schema.
    pub store: Store,
    /// Token keys.
    pub keys: Keys,
    /// Settings (argon2 cost, administrator).
    pub settings: Arc<ShopSettings>,
}

impl FromRef<UsersState> for Keys {
    fn from_ref(state: &UsersState) -> Keys {
        state.keys.clone()
    }
}

/// The routes.
pub fn router(state: UsersState) -> Router {
    Router::new()
        .route("/users", post(create_user).get(list_users))
        .route("/users/", post(create_user).get(list_users))
        .route("/users/{id}", get(get_user).put(update_user))
        .route("/auth/token", post(issue_token))
        .route("/health", get(health_check))
        .with_state(state)
}

/// `POST /users/`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    email: String,
    full_name: String,
    password: String,
    /// Only an administrator may create another administrator.
    role: Option<UserRole>,
}

/// `PUT /users/{id}`: the fields to change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    email: Option<String>,
    full_name: Option<String>,
    password: Option<String>,
    is_active: Option<bool>,
    role: Option<UserRole>,
}

/// `POST /auth/token`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    email: String,
    password: String,
}

/// An account as answered (never the hash).
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct User {
    id: Uuid,
    email: String,
    full_name: String,
    role: UserRole,
    is_active: bool,
}

macro_rules! columns {
    () => {
        "id, email, full_name, role, is_active"
    };
}

#[tracing::instrument(skip_all)]
async fn create_user(
    State(state): State<UsersState>,
    caller: Option<Caller>,
    ApiJson(new): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, axum::Json<User>)> {
    let role = new.role.unwrap_or(UserRole::User);
    if role == UserRole::Admin && !caller.as_ref().is_some_and(Caller::is_admin) {
        return Err(crate::auth::forbidden("Only an administrator can create an administrator"));
    }
    let email = valid_email(&new.email)?;
    valid_full_name(&new.full_name)?;
    valid_password(&new.password)?;
    let hash = passwords::hash(new.password, state.settings.argon2_memory_kib).await?;
    let user = sqlx::query_as::<_, User>(concat!(
        "INSERT INTO users (id, email, full_name, password_hash, role) VALUES ($1, $2, $3, $4, $5) RETURNING ",
        columns!(),
        ""
    ))
    .bind(Uuid::new_v4())
    .bind(&email)
    .bind(new.full_name.trim())
    .bind(hash)
    .bind(role)
    .fetch_one(&state.store.pool)
    .await
    .map_err(|e| duplicate_email(e, &email))?;
    tracing::info!(user_id = %user.id, "user created");
    Ok((StatusCode::CREATED, axum::Json(user)))
}

#[tracing::instrument(skip_all)]
async fn list_users(
    State(state): State<UsersState>,
    _admin: Admin,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<axum::Json<Vec<User>>> {
    let (skip, limit) = page.bounds()?;
    let users = sqlx::query_as::<_, User>(concat!(
        "SELECT ",
        columns!(),
        " FROM users ORDER BY created_at, id OFFSET $1 LIMIT $2"
    ))
    .bind(skip)
    .bind(limit)
    .fetch_all(&state.store.pool)
    .await
    .map_err(db_error)?;
    Ok(axum::Json(users))
}

#[tracing::instrument(skip_all, fields(user_id = %id))]
async fn get_user(
    State(state): State<UsersState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<axum::Json<User>> {
    caller.require_self_or_admin(id)?;
    find(&state, id).await.map(axum::Json)
}

#[tracing::instrument(skip_all, fields(user_id = %id))]
async fn update_user(
    State(state): State<UsersState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(update): ApiJson<UserUpdate>,
) -> ApiResult<axum::Json<User>> {
    caller.require_self_or_admin(id)?;
    if update.role.is_some() || update.is_active.is_some() {
        caller.require_admin()?;
    }
    let email = update.email.as_deref().map(valid_email).transpose()?;
    if let Some(name) = &update.full_name {
        valid_full_name(name)?;
    }
    let hash = match update.password {
        Some(password) => {
            valid_password(&password)?;
            Some(passwords::hash(password, state.settings.argon2_memory_kib).await?)
        }
        None => None,
    };
    let user = sqlx::query_as::<_, User>(concat!(
        "UPDATE users SET email = COALESCE($2, email), full_name = COALESCE($3, full_name), \
         password_hash = COALESCE($4, password_hash), is_active = COALESCE($5, is_active), role = COALESCE($6, role) \
         WHERE id = $1 RETURNING ",
        columns!(),
        ""
    ))
    .bind(id)
    .bind(&email)
    .bind(update.full_name.as_deref().map(str::trim))
    .bind(hash)
    .bind(update.is_active)
    .bind(update.role)
    .fetch_optional(&state.store.pool)
    .await
    .map_err(|e| duplicate_email(e, email.as_deref().unwrap_or_default()))?;
    user.map(axum::Json).ok_or_else(|| ApiError::not_found(format!("User {id} not found")))
}

#[tracing::instrument(skip_all)]
async fn issue_token(
    State(state): State<UsersState>,
    ApiJson(credentials): ApiJson<Credentials>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let row: Option<(Uuid, String, UserRole, bool)> =
        sqlx::query_as("SELECT id, password_hash, role, is_active FROM users WHERE email = $1")
            .bind(credentials.email.trim().to_lowercase())
            .fetch_optional(&state.store.pool)
            .await
            .map_err(db_error)?;
    // The same answer for an unknown email and a wrong password: no account probing.
    let Some((id, hash, role, active)) = row else { return Err(unauthorized("Invalid email or password")) };
    if !passwords::verify(credentials.password, hash).await? || !active {
        return Err(unauthorized("Invalid email or password"));
    }
    let token = state.keys.issue(id, role)?;
    Ok(axum::Json(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": state.keys.ttl().as_secs(),
        "user_id": id,
        "role": role,
    })))
}

async fn health_check(State(state): State<UsersState>) -> axum::response::Response {
    health("users", &state.store).await
}

async fn find(state: &UsersState, id: Uuid) -> ApiResult<User> {
    let query = sqlx::query_as::<_, User>(concat!("SELECT ", columns!(), " FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(&state.store.pool);
    crate::store::traced("select user", query)
        .await
        .map_err(db_error)?
        .ok_or_else(|| ApiError::not_found(format!("User {id} not found")))
}

/// Keeps the administrator `SHOP_ADMIN_EMAIL` with `SHOP_ADMIN_PASSWORD`, when one is set.
pub async fn keep_admin(store: &Store, settings: &ShopSettings) -> anyhow::Result<()> {
    let Some(password) = &settings.admin_password else { return Ok(()) };
    let hash = passwords::hash(password.expose_secret().to_owned(), settings.argon2_memory_kib)
        .await
        .map_err(|e| anyhow::anyhow!("hashing the administrator password: {e}"))?;
    sqlx::query(
        "INSERT INTO users (id, email, full_name, password_hash, role) VALUES ($1, $2, 'Administrator', $3, 'admin') \
         ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = 'admin', is_active = TRUE",
    )
    .bind(Uuid::new_v4())
    .bind(settings.admin_email.to_lowercase())
    .bind(hash)
    .execute(&store.pool)
    .await?;
    Ok(())
}

fn duplicate_email(error: sqlx::Error, email: &str) -> ApiError {
    if is_unique_violation(&error) {
        ApiError::Conflict {
            message: "Email already registered".into(),
            details: json!({ "field": "email", "email": email }),
        }
    } else {
        db_error(error)
    }
}

/// Lower-cased, trimmed, one `@` with text on both sides, at most 254 characters.
fn valid_email(email: &str) -> ApiResult<String> {
    let email = email.trim().to_lowercase();
    let well_formed = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        })
        && !email.chars().any(char::is_whitespace);
    if well_formed { Ok(email) } else { Err(ApiError::invalid("email", "must be an email address")) }
}

fn valid_full_name(name: &str) -> ApiResult<()> {
    let length = name.trim().chars().count();
    if (1..=200).contains(&length) {
        Ok(())
    } else {
        Err(ApiError::invalid("full_name", "must be 1-200 characters long"))
    }
}

fn valid_password(password: &str) -> ApiResult<()> {
    let length = password.chars().count();
    if (8..=128).contains(&length) {
        Ok(())
    } else {
        Err(ApiError::invalid("password", "must be 8-128 characters long"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(valid_email(" Ann@Example.COM ").unwrap(), "ann@example.com");
        for bad in ["", "ann", "@example.com", "ann@", "ann@example", "a b@example.com", "ann@.com"] {
            assert!(valid_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_need_eight_to_128_characters() {
        assert!(valid_password("seven77").is_err());
        assert!(valid_password("eight888").is_ok());
        assert!(valid_password(&"x".repeat(129)).is_err());
    }
}
