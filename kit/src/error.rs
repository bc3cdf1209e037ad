//! [`ApiError`], the app's one error type, and its single [`IntoResponse`].
//!
//! Variants follow the seed's exception hierarchy. Every error response carries the documented
//! body `{error, message, status_code, details, request_id}`; 5xx causes are logged here and
//! only shown to clients in debug mode.

use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::layers::request_id;

/// Result type of every handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// An error a client can see, named after the seed's exception classes.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A dependency is down or not answering; the generic 503.
    #[error("{message}")]
    ServiceUnavailable {
        /// What failed, in words.
        message: String,
        /// Which dependency and why.
        details: Value,
    },
    /// Vault is unreachable, sealed or refused us.
    #[error("Vault service is currently unavailable")]
    VaultUnavailable {
        /// Which secret and why.
        details: Value,
    },
    /// PostgreSQL, MySQL or MongoDB failed.
    #[error("{database} database is currently unavailable")]
    DatabaseConnection {
        /// Display name of the database.
        database: &'static str,
        /// Why.
        details: Value,
    },
    /// The Redis Cluster failed.
    #[error("Redis cache is currently unavailable")]
    CacheConnection {
        /// Why.
        details: Value,
    },
    /// RabbitMQ failed.
    #[error("Message queue is currently unavailable")]
    MessageQueue {
        /// Why.
        details: Value,
    },
    /// A circuit breaker is open; nothing was sent to the dependency.
    #[error("Circuit breaker for {service} is open")]
    CircuitBreaker {
        /// The dependency whose breaker is open.
        service: &'static str,
        /// When a probe will be allowed again.
        retry_after: Duration,
    },
    /// Server misconfiguration.
    #[error("{0}")]
    Configuration(String),
    /// Input that breaks a documented rule (422 unless a more precise status applies).
    #[error("{message}")]
    Validation {
        /// The status: 422 for bad values, 400/413/415 for malformed requests.
        status: StatusCode,
        /// What was wrong.
        message: String,
        /// Which field, and the rule it broke.
        details: Value,
    },
    /// The thing asked for does not exist.
    #[error("{message}")]
    ResourceNotFound {
        /// What was not found.
        message: String,
        /// What was looked for, where the route knows (`resource_type`, `resource_id`, ...).
        details: Value,
    },
    /// Credentials missing (401) or wrong (403).
    #[error("{message}")]
    Authentication {
        /// 401 or 403.
        status: StatusCode,
        /// What was wrong.
        message: String,
    },
    /// The request conflicts with the current state (a duplicate, or not enough stock).
    #[error("{message}")]
    Conflict {
        /// What conflicts.
        message: String,
        /// With what.
        details: Value,
    },
    /// An upstream service answered nothing usable (refused, reset, malformed).
    #[error("Upstream service {service} is unavailable")]
    BadGateway {
        /// The upstream.
        service: &'static str,
        /// Why.
        details: Value,
    },
    /// The client is over its rate limit.
    #[error("Rate limit exceeded: {limit}")]
    RateLimit {
        /// The limit that was hit, e.g. `100/minute`.
        limit: String,
        /// Seconds until the window resets.
        retry_after: Duration,
    },
    /// The request took longer than the server allows.
    #[error("Request timed out")]
    Timeout,
    /// The method is not allowed on this path.
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// A failure requested through `/demo/error`, with the status asked for.
    #[error("Injected failure")]
    Injected(StatusCode),
    /// Anything else; the cause is logged, not shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The error class recorded by the metrics layer as `http_errors_total{error_type}`.
#[derive(Clone, Copy, Debug)]
pub struct ErrorType(pub &'static str);

impl ApiError {
    /// Shorthand for a 422 on one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::Validation {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            details: json!({ "field": field, "reason": message }),
            message: format!("Invalid {field}: {message}"),
        }
    }

    /// A 404 saying what was not found.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::ResourceNotFound { message: message.into(), details: json!({}) }
    }

    /// A malformed request with a precise status (400, 413, 415).
    pub fn bad_request(status: StatusCode, message: impl Into<String>) -> Self {
        Self::Validation { status, message: message.into(), details: json!({}) }
    }

    /// The seed's exception class name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ServiceUnavailable { .. } => "ServiceUnavailableError",
            Self::VaultUnavailable { .. } => "VaultUnavailableError",
            Self::DatabaseConnection { .. } => "DatabaseConnectionError",
            Self::CacheConnection { .. } => "CacheConnectionError",
            Self::MessageQueue { .. } => "MessageQueueError",
            Self::CircuitBreaker { .. } => "CircuitBreakerError",
            Self::Configuration(_) => "ConfigurationError",
            Self::Validation { .. } => "ValidationError",
            Self::ResourceNotFound { .. } => "ResourceNotFoundError",
            Self::Authentication { .. } => "AuthenticationError",
            Self::Conflict { .. } => "ConflictError",
            Self::BadGateway { .. } => "BadGatewayError",
            Self::RateLimit { .. } => "RateLimitError",
            Self::Timeout => "TimeoutError",
            Self::MethodNotAllowed => "MethodNotAllowedError",
            Self::Injected(_) => "InjectedFaultError",
            Self::Internal(_) => "InternalServerError",
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::ServiceUnavailable { .. }
            | Self::VaultUnavailable { .. }
            | Self::DatabaseConnection { .. }
            | Self::CacheConnection { .. }
            | Self::MessageQueue { .. }
            | Self::CircuitBreaker { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Configuration(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Validation { status, .. } | Self::Authentication { status, .. } => *status,
            Self::ResourceNotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            Self::RateLimit { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Injected(status) => *status,
        }
    }

    fn details(&self) -> Value {
        match self {
            Self::ServiceUnavailable { details, .. }
            | Self::VaultUnavailable { details }
            | Self::DatabaseConnection { details, .. }
            | Self::CacheConnection { details }
            | Self::MessageQueue { details }
            | Self::Conflict { details, .. }
            | Self::ResourceNotFound { details, .. }
            | Self::Validation { details, .. } => details.clone(),
            Self::BadGateway { service, details } => {
                let mut details = details.clone();
                if let Value::Object(map) = &mut details {
                    map.insert("service".into(), json!(service));
                }
                details
            }
            Self::CircuitBreaker { service, retry_after } => {
                json!({ "service": service, "retry_after": retry_after.as_secs().max(1) })
            }
            Self::RateLimit { limit, retry_after } => {
                json!({ "limit": limit, "retry_after": retry_after.as_secs().max(1) })
            }
            _ => json!({}),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::CircuitBreaker { retry_after, .. } | Self::RateLimit { retry_after, .. } => Some(*retry_after),
            Self::ServiceUnavailable { .. }
            | Self::VaultUnavailable { .. }
            | Self::DatabaseConnection { .. }
            | Self::CacheConnection { .. }
            | Self::MessageQueue { .. } => Some(Duration::from_secs(5)),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let request_id = request_id::current();
        let debug = request_id::debug_enabled();
        let mut details = self.details();
        let message = if status.is_server_error() {
            tracing::error!(error = self.name(), cause = ?self, status = status.as_u16(), "request failed");
            if let Value::Object(map) = &mut details {
                if debug {
                    map.insert("trace".into(), json!(format!("{self:?}")));
                } else {
                    // Driver messages can name hosts and users: logged above, not shown.
                    map.remove("reason");
                }
            }
            match &self {
                Self::Internal(_) | Self::Configuration(_) if !debug => "Internal server error".to_owned(),
                Self::Injected(_) => self.to_string(),
                other => other.to_string(),
            }
        } else {
            tracing::info!(error = self.name(), message = %self, status = status.as_u16(), "request rejected");
            self.to_string()
        };
        let body = json!({
            "error": self.name(),
            "message": message,
            "status_code": status.as_u16(),
            "details": details,
            "request_id": request_id,
        });
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(after) = self.retry_after() {
            let seconds = after.as_secs_f64().ceil().max(1.0) as u64;
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(ErrorType(self.name()));
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            StatusCode::BAD_REQUEST => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Self::Validation { status, message: rejection.body_text(), details: json!({ "location": "body" }) }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::Validation {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: rejection.body_text(),
            details: json!({ "location": "query" }),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::Validation {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: rejection.body_text(),
            details: json!({ "location": "path" }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependency_errors_are_503_with_retry_after() {
        let error = ApiError::DatabaseConnection { database: "PostgreSQL", details: json!({}) };
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        let response = error.into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    }

    #[test]
    fn breaker_error_rounds_retry_after_up() {
        let error = ApiError::CircuitBreaker { service: "vault", retry_after: Duration::from_millis(1500) };
        let response = error.into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn names_follow_the_seed_hierarchy() {
        assert_eq!(ApiError::invalid("key", "too long").name(), "ValidationError");
        assert_eq!(ApiError::Timeout.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(ApiError::not_found("x").status(), StatusCode::NOT_FOUND);
    }
}
