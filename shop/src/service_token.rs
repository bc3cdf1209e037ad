//! Service tokens: some steps are one service's to take on another, never a customer's. The
//! orders service reserves and releases stock on the inventory service under a token of its own:
//! per call it signs an HS256 token naming itself (`sub`), the service it calls (`aud`) and a
//! one-minute expiry, with a key only the services read from Vault (`secret/shop`, field
//! `service_secret`) and customers' tokens are never signed with.
//!
//! Why a signed token and not the Vault credential itself on the wire: a token that leaks (in a
//! log, through a proxy) names one caller and one callee and is void within a minute, while the
//! key never leaves the services. [`ServiceCaller`] is the verified calling service.

use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use kit::error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};

use crate::auth::{Keys, forbidden, unauthorized};
use crate::role::Role;

/// How long a service token is valid.
const LIFETIME: Duration = Duration::from_secs(60);

/// A service token's claims.
#[derive(Debug, Serialize, Deserialize)]
struct ServiceClaims {
    /// The calling service.
    sub: String,
    /// The service called.
    aud: String,
    /// Expires at (Unix seconds).
    exp: u64,
}

/// Signs tokens for the services this one calls, and verifies tokens addressed to it (`own`).
#[derive(Clone)]
pub struct ServiceKeys {
    own: Role,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl ServiceKeys {
    /// Keys for the service `own`, from the shared service `secret`.
    pub fn new(own: Role, secret: &[u8]) -> anyhow::Result<Self> {
        Ok(Self { own, encoding: EncodingKey::from_secret(secret)?, decoding: DecodingKey::from_secret(secret)? })
    }

    /// The `Authorization` value for a call from this service to `to`.
    pub fn authorization(&self, to: Role) -> ApiResult<String> {
        let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
            + LIFETIME.as_secs();
        let claims = ServiceClaims { sub: self.own.name().to_owned(), aud: to.name().to_owned(), exp };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map(|token| format!("Bearer {token}"))
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("signing a service token")))
    }

    /// The calling service named by `token`, when it is addressed to this service and valid.
    fn verify(&self, token: &str) -> Option<Role> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        validation.set_audience(&[self.own.name()]);
        let claims = jsonwebtoken::decode::<ServiceClaims>(token, &self.decoding, &validation).ok()?.claims;
        Role::ALL.into_iter().find(|role| role.name() == claims.sub)
    }
}

/// The verified service that called. Extracting it answers 401 without a token or with one
/// that is neither a service token for this service nor a customer's, and 403 for a customer's
/// token: the step is not theirs to take.
#[derive(Clone, Copy, Debug)]
pub struct ServiceCaller(pub Role);

impl ServiceCaller {
    /// 403 unless the caller is `role`.
    pub fn require(self, role: Role) -> ApiResult<()> {
        match self.0 == role {
            true => Ok(()),
            false => Err(forbidden(&format!("Only the {role} service may do this"))),
        }
    }
}

impl<S> FromRequestParts<S> for ServiceCaller
where
    ServiceKeys: FromRef<S>,
    Keys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| unauthorized("Bearer token required"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .ok_or_else(|| unauthorized("Bearer token required"))?
            .trim();
        if let Some(service) = ServiceKeys::from_ref(state).verify(token) {
            return Ok(Self(service));
        }
        match Keys::from_ref(state).verify(token) {
            Ok(_) => Err(forbidden("This step of placing an order is for the shop's services, not for customers")),
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_token_names_its_caller_only_to_the_service_it_was_made_for() {
        let keys = |role| ServiceKeys::new(role, b"service secret of enough length").unwrap();
        let (orders, inventory, products) = (keys(Role::Orders), keys(Role::Inventory), keys(Role::Products));
        let authorization = orders.authorization(Role::Inventory).unwrap();
        let token = authorization.strip_prefix("Bearer ").unwrap();
        assert_eq!(inventory.verify(token), Some(Role::Orders));
        assert_eq!(products.verify(token), None, "addressed to inventory only");
        let other = ServiceKeys::new(Role::Inventory, b"another secret of enough length").unwrap();
        assert_eq!(other.verify(token), None, "signed with another key");
        let customer = Keys::new(b"service secret of enough length", Duration::from_secs(60)).unwrap();
        let customer_token = customer.issue(uuid::Uuid::new_v4(), crate::auth::UserRole::Admin).unwrap();
        assert_eq!(inventory.verify(&customer_token), None, "a customer's token is no service token, whatever its key");
    }
}
