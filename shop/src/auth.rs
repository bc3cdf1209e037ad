//! Tokens: [`Keys`] issues and verifies HS256 JWTs with `sub`, `role` and `exp`, signed with the
//! secret Vault holds (`secret/shop`, field `jwt_secret`); [`Caller`] is the verified bearer of a
//! request, and says who may do what. Password hashing is [`passwords`]'.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use kit::error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a user may do beyond their own account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum UserRole {
    /// Manages products, stock and every account.
    Admin,
    /// Manages their own account and orders.
    User,
}

/// A token's claims.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: Uuid,
    /// Their role when the token was issued.
    pub role: UserRole,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
}

/// The signing and verifying keys; cheap to clone.
#[derive(Clone)]
pub struct Keys(Arc<KeyPair>);

struct KeyPair {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl Keys {
    /// Keys for `secret`, issuing tokens valid for `ttl`.
    pub fn new(secret: &[u8], ttl: Duration) -> anyhow::Result<Self> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Self(Arc::new(KeyPair {
            encoding: EncodingKey::from_secret(secret)?,
            decoding: DecodingKey::from_secret(secret)?,
            validation,
            ttl,
        })))
    }

    /// A token for `user` with `role`, expiring after the configured lifetime.
    pub fn issue(&self, user: Uuid, role: UserRole) -> ApiResult<String> {
        self.issue_until(user, role, now() + self.0.ttl.as_secs())
    }

    /// A token expiring at `exp` (Unix seconds); tests use one in the past.
    pub fn issue_until(&self, user: Uuid, role: UserRole, exp: u64) -> ApiResult<String> {
        let claims = Claims { sub: user, role, iat: now(), exp };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.0.encoding)
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("signing a token")))
    }

    /// The token's claims, or a 401 saying whether it expired or is not ours.
    pub fn verify(&self, token: &str) -> ApiResult<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.0.decoding, &self.0.validation).map(|data| data.claims).map_err(
            |error| match error.kind() {
                ErrorKind::ExpiredSignature => unauthorized("Token expired"),
                _ => unauthorized("Invalid token"),
            },
        )
    }

    /// How long issued tokens last.
    pub fn ttl(&self) -> Duration {
        self.0.ttl
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A 401 with `message`.
pub fn unauthorized(message: &str) -> ApiError {
    ApiError::Authentication { status: StatusCode::UNAUTHORIZED, message: message.to_owned() }
}

/// A 403 with `message`.
pub fn forbidden(message: &str) -> ApiError {
    ApiError::Authentication { status: StatusCode::FORBIDDEN, message: message.to_owned() }
}

/// The verified bearer of a request. Extracting it answers 401 when the token is missing,
/// malformed, expired or signed with another key.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The token's claims.
    pub claims: Claims,
    /// The `Authorization` value, passed on when this service calls another for the caller.
    pub authorization: String,
}

impl Caller {
    /// The caller's user id.
    pub fn id(&self) -> Uuid {
        self.claims.sub
    }

    /// Whether the caller is an administrator.
    pub fn is_admin(&self) -> bool {
        self.claims.role == UserRole::Admin
    }

    /// 403 unless an administrator.
    pub fn require_admin(&self) -> ApiResult<()> {
        if self.is_admin() { Ok(()) } else { Err(forbidden("Administrator role required")) }
    }

    /// 403 unless the caller is `user` or an administrator.
    pub fn require_self_or_admin(&self, user: Uuid) -> ApiResult<()> {
        if self.is_admin() || self.id() == user { Ok(()) } else { Err(forbidden("Not your account")) }
    }
}

impl<S> FromRequestParts<S> for Caller
where
    Keys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| unauthorized("Bearer token required"))?;
        let authorization = value.to_str().map_err(|_| unauthorized("Invalid token"))?;
        let token = authorization
            .strip_prefix("Bearer ")
            .or_else(|| authorization.strip_prefix("bearer "))
            .ok_or_else(|| unauthorized("Bearer token required"))?;
        let claims = Keys::from_ref(state).verify(token.trim())?;
        Ok(Self { claims, authorization: authorization.to_owned() })
    }
}

/// A [`Caller`] who is an administrator: 401 without a valid token, 403 for another role, both
/// before the body is read (so a user's malformed write is a 403, not a 422).
#[derive(Clone, Debug)]
pub struct Admin(pub Caller);

impl<S> FromRequestParts<S> for Admin
where
    Keys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let caller = <Caller as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        caller.require_admin()?;
        Ok(Self(caller))
    }
}

/// No `Authorization` header: `None`; a header with a bad token is still a 401.
impl<S> axum::extract::OptionalFromRequestParts<S> for Caller
where
    Keys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, ApiError> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(None);
        }
        <Self as FromRequestParts<S>>::from_request_parts(parts, state).await.map(Some)
    }
}

/// argon2id password hashing, off the async threads (a hash takes tens of milliseconds).
pub mod passwords {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};
    use argon2::{Algorithm, Argon2, Params, Version};
    use kit::error::{ApiError, ApiResult};

    fn hasher(memory_kib: u32) -> ApiResult<Argon2<'static>> {
        let params = Params::new(memory_kib, 2, 1, None)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// The PHC string of `password` with a fresh salt.
    pub async fn hash(password: String, memory_kib: u32) -> ApiResult<String> {
        tokio::task::spawn_blocking(move || {
            let hash = hasher(memory_kib)?
                .hash_password(password.as_bytes())
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing a password: {e}")))?;
            Ok(hash.to_string())
        })
        .await
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?
    }

    /// Whether `password` matches the PHC string `hash` (whose own parameters are used).
    pub async fn verify(password: String, hash: String) -> ApiResult<bool> {
        tokio::task::spawn_blocking(move || {
            Ok(Argon2::default().verify_password(password.as_bytes(), hash.as_str()).is_ok())
        })
        .await
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_with_its_key_and_not_with_another_or_after_expiry() {
        let keys = Keys::new(b"one secret of enough length", Duration::from_secs(60)).unwrap();
        let user = Uuid::new_v4();
        let claims = keys.verify(&keys.issue(user, UserRole::Admin).unwrap()).unwrap();
        assert_eq!((claims.sub, claims.role), (user, UserRole::Admin));
        let other = Keys::new(b"another secret of enough length", Duration::from_secs(60)).unwrap();
        let error = other.verify(&keys.issue(user, UserRole::User).unwrap()).unwrap_err();
        assert_eq!(error.to_string(), "Invalid token");
        let expired = keys.issue_until(user, UserRole::User, now() - 5).unwrap();
        assert_eq!(keys.verify(&expired).unwrap_err().to_string(), "Token expired");
        assert_eq!(keys.verify("not.a.token").unwrap_err().to_string(), "Invalid token");
    }

    #[tokio::test]
    async fn a_password_hash_verifies_only_its_password() {
        let hash = passwords::hash("correct horse".into(), 64).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(passwords::verify("correct horse".into(), hash.clone()).await.unwrap());
        assert!(!passwords::verify("wrong horse".into(), hash).await.unwrap());
    }
}
