//! The coordinator's shared secret. Orders carry the interpolated scenario (passwords and tokens
//! included) and the run's captures, so the coordinator answers only requests that present
//! `Authorization: Bearer <token>`, compared in constant time; anything else is a 401.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

/// Where `coordinate` and `worker` read the token, and how `run --workers` hands its own to the
/// local workers (the environment, not the command line that `ps` shows).
pub const ENV: &str = "GAUNTLET_COORDINATOR_TOKEN";

/// The shortest token accepted from a user.
const MIN_LENGTH: usize = 16;

/// A coordinator token. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct Token(Arc<str>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

impl Token {
    /// A user's token, refused when shorter than 16 characters.
    pub fn new(value: &str) -> anyhow::Result<Self> {
        let value = value.trim();
        anyhow::ensure!(
            value.chars().count() >= MIN_LENGTH,
            "the coordinator token ({ENV} or --token) must be at least {MIN_LENGTH} characters"
        );
        Ok(Self(value.into()))
    }

    /// A random token (256 bits) for a run's own local workers.
    pub fn random() -> Self {
        let bytes: [u8; 32] = rand::random();
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>().into())
    }

    /// The value to present.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether an `Authorization` header presents this token.
    fn presented_by(&self, authorization: Option<&str>) -> bool {
        let presented = authorization.and_then(|value| value.strip_prefix("Bearer ")).unwrap_or_default();
        presented.as_bytes().ct_eq(self.0.as_bytes()).into()
    }
}

/// The layer on every coordinator route: 401 unless the request presents the token.
pub async fn require(State(token): State<Token>, request: Request, next: Next) -> Response {
    let authorization = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if token.presented_by(authorization) {
        next.run(request).await
    } else {
        (StatusCode::UNAUTHORIZED, "this coordinator needs its token: Authorization: Bearer <token>").into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_is_accepted() {
        let token = Token::new("0123456789abcdef").unwrap();
        assert!(token.presented_by(Some("Bearer 0123456789abcdef")));
        assert!(!token.presented_by(Some("Bearer 0123456789abcdeg")));
        assert!(!token.presented_by(Some("Bearer 0123456789abcdef0")));
        assert!(!token.presented_by(Some("0123456789abcdef")));
        assert!(!token.presented_by(None));
        assert!(Token::new("short").is_err());
        assert_ne!(Token::random().expose(), Token::random().expose());
        assert_eq!(format!("{token:?}"), "Token(..)");
    }
}
