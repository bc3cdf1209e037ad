//! [`Dependency`]: the one path every call to an external system takes. It consults the circuit
//! breaker (fail fast when open), applies any injected chaos fault, bounds the call with the
//! dependency timeout, and reports the outcome back to the breaker; each call is a span of the
//! request's trace, a refusal by the breaker an event on it.

use std::future::Future;
use std::time::Duration;

use prometheus::{Counter, IntCounter};
use serde_json::json;
use tracing::Instrument;

use crate::chaos::FaultRegistry;
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use crate::resilience::circuit_breaker::CircuitBreaker;
use crate::trace;

/// Resilience wrapper for one named dependency; cheap to clone.
#[derive(Clone)]
pub struct Dependency {
    breaker: CircuitBreaker,
    faults: FaultRegistry,
    timeout: Duration,
    calls: IntCounter,
    seconds: Counter,
}

impl Dependency {
    /// Wraps calls to the dependency that `breaker` guards.
    pub fn new(breaker: CircuitBreaker, faults: FaultRegistry, timeout: Duration, metrics: &Metrics) -> Self {
        let calls = metrics.dependency_calls.with_label_values(&[breaker.service()]);
        let seconds = metrics.dependency_seconds.with_label_values(&[breaker.service()]);
        Self { breaker, faults, timeout, calls, seconds }
    }

    /// The dependency's name (`postgres`, `vault`, ...).
    pub fn name(&self) -> &'static str {
        self.breaker.service()
    }

    /// The breaker, for health output.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// Runs `call` under the breaker, chaos faults and the timeout. Errors that mean the
    /// dependency is unwell (outages, timeouts, internal failures) count against the breaker;
    /// a client's mistake (404, validation) does not.
    pub async fn call<T, F>(&self, operation: &'static str, call: F) -> ApiResult<T>
    where
        F: Future<Output = ApiResult<T>>,
    {
        self.call_within(operation, self.timeout, call).await
    }

    /// The longest any call may take (`DEPENDENCY_TIMEOUT_MS`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// [`Dependency::call`] with a tighter time budget, for calls on every request's hot path
    /// (rate-limit leases, response-cache reads); running over it is a recorded failure.
    pub async fn call_within<T, F>(&self, operation: &'static str, budget: Duration, call: F) -> ApiResult<T>
    where
        F: Future<Output = ApiResult<T>>,
    {
        let timeout = budget.min(self.timeout);
        let permit = self.breaker.acquire().map_err(|retry_after| {
            crate::span_event!(service = self.name(), operation, "breaker open: call refused");
            ApiError::CircuitBreaker { service: self.name(), retry_after }
        })?;
        self.calls.inc();
        let span = trace::client_span(self.name(), operation);
        let started = std::time::Instant::now();
        let result = self.run(operation, timeout, call).instrument(span.clone()).await;
        self.seconds.inc_by(started.elapsed().as_secs_f64());
        if let Err(error) = &result
            && counts_as_failure(error)
            && !span.is_disabled()
        {
            trace::fail(&span, &error.to_string());
        }
        permit.record(!matches!(&result, Err(e) if counts_as_failure(e)));
        result
    }

    async fn run<T, F>(&self, operation: &'static str, timeout: Duration, call: F) -> ApiResult<T>
    where
        F: Future<Output = ApiResult<T>>,
    {
        let call = async {
            self.faults.apply(self.name()).await.map_err(|e| self.unavailable(operation, e.to_string()))?;
            call.await
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(self.unavailable(operation, format!("timed out after {} ms", timeout.as_millis()))),
        }
    }

    /// The 503 this dependency answers with when it is down.
    pub fn unavailable(&self, operation: &str, reason: String) -> ApiError {
        let details = json!({ "service": self.name(), "operation": operation, "reason": reason });
        match self.name() {
            "vault" => ApiError::VaultUnavailable { details },
            "postgres" => ApiError::DatabaseConnection { database: "PostgreSQL", details },
            "mysql" => ApiError::DatabaseConnection { database: "MySQL", details },
            "mongodb" => ApiError::DatabaseConnection { database: "MongoDB", details },
            "redis" => ApiError::CacheConnection { details },
            "rabbitmq" => ApiError::MessageQueue { details },
            other => ApiError::ServiceUnavailable { message: format!("{other} is unavailable"), details },
        }
    }
}

/// Whether an error says the dependency itself is failing.
pub fn counts_as_failure(error: &ApiError) -> bool {
    error.status().is_server_error() && !matches!(error, ApiError::CircuitBreaker { .. })
}
