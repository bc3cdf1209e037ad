//! Injected dependency faults ([`FaultRegistry`]), consulted by every dependency call before
//! the circuit breaker sees its result, so breakers react as they would to a real outage.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;

pub use wire::chaos::FaultRequest;
use wire::{Dependency, FaultKind};

use crate::metrics::Metrics;

/// An active fault, as listed by `GET /chaos/faults`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Fault {
    /// Id for `DELETE /chaos/faults/{id}`.
    pub id: String,
    /// The dependency it affects.
    pub dependency: String,
    /// What it does.
    #[schema(value_type = String)]
    pub kind: FaultKind,
    /// Delay for latency faults.
    pub latency_ms: u64,
    /// Chance per call.
    pub probability: f64,
    /// Requested lifetime.
    pub duration_s: u64,
    /// Seconds left before it expires.
    pub expires_in_s: f64,
    #[serde(skip)]
    expires_at: Instant,
}

/// The set of active faults; cheap to clone.
#[derive(Clone)]
pub struct FaultRegistry {
    faults: Arc<RwLock<Vec<Fault>>>,
    known: &'static [&'static str],
    metrics: Metrics,
}

impl FaultRegistry {
    /// An empty registry for target-app's dependencies ([`Dependency`]).
    pub fn new(metrics: Metrics) -> Self {
        Self::naming(Dependency::NAMES, metrics)
    }

    /// An empty registry whose faults may name any of `known`.
    pub fn naming(known: &'static [&'static str], metrics: Metrics) -> Self {
        Self { faults: Arc::default(), known, metrics }
    }

    /// The names a fault may take.
    pub fn known(&self) -> &'static [&'static str] {
        self.known
    }

    /// Adds a validated fault and returns it with its id.
    pub fn inject(&self, request: FaultRequest) -> Fault {
        let fault = Fault {
            id: uuid::Uuid::new_v4().to_string(),
            expires_at: Instant::now() + Duration::from_secs(request.duration_s),
            expires_in_s: request.duration_s as f64,
            dependency: request.dependency,
            kind: request.kind,
            latency_ms: request.latency_ms,
            probability: request.probability,
            duration_s: request.duration_s,
        };
        let kind =
            serde_json::to_value(fault.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        self.metrics.chaos_injected.with_label_values(&[&fault.dependency, &kind]).inc();
        tracing::warn!(id = %fault.id, dependency = %fault.dependency, kind, probability = fault.probability,
            duration_s = fault.duration_s, "chaos fault injected");
        let mut faults = self.faults.write().expect("fault lock");
        faults.retain(|f| f.expires_at > Instant::now());
        faults.push(fault.clone());
        fault
    }

    /// Active faults with their remaining lifetime.
    pub fn list(&self) -> Vec<Fault> {
        let now = Instant::now();
        self.faults
            .read()
            .expect("fault lock")
            .iter()
            .filter(|f| f.expires_at > now)
            .map(|f| Fault { expires_in_s: (f.expires_at - now).as_secs_f64(), ..f.clone() })
            .collect()
    }

    /// Removes one fault; false when no such id was active.
    pub fn clear(&self, id: &str) -> bool {
        let mut faults = self.faults.write().expect("fault lock");
        let before = faults.len();
        faults.retain(|f| f.id != id);
        let removed = faults.len() != before;
        if removed {
            tracing::warn!(id, "chaos fault cleared");
        }
        removed
    }

    /// Removes every fault and returns how many were active.
    pub fn clear_all(&self) -> usize {
        let mut faults = self.faults.write().expect("fault lock");
        let count = faults.iter().filter(|f| f.expires_at > Instant::now()).count();
        faults.clear();
        tracing::warn!(count, "all chaos faults cleared");
        count
    }

    /// The fault to apply to one call to `dependency`, after rolling its probability.
    pub fn pick(&self, dependency: &str) -> Option<(FaultKind, Duration)> {
        let faults = self.faults.read().expect("fault lock");
        if faults.is_empty() {
            return None;
        }
        let now = Instant::now();
        faults
            .iter()
            .find(|f| f.dependency == dependency && f.expires_at > now)
            .filter(|f| rand::random::<f64>() < f.probability)
            .map(|f| (f.kind, Duration::from_millis(f.latency_ms)))
    }
}

/// What a call that met an injected `error` fault fails with.
#[derive(Debug, thiserror::Error)]
#[error("injected fault: error")]
pub struct InjectedError;

impl FaultRegistry {
    /// Applies the fault picked for one call to `dependency`, before the call: an `error` fails
    /// it at once, a `timeout` never answers (the caller's deadline decides, as with a hung
    /// system), a `latency` waits first, counting against the caller's deadline like real
    /// slowness.
    pub async fn apply(&self, dependency: &str) -> Result<(), InjectedError> {
        let picked = self.pick(dependency);
        if let Some((kind, delay)) = &picked {
            crate::span_event!(dependency, kind = ?kind, delay_ms = delay.as_millis() as u64, "chaos fault injected");
        }
        match picked {
            Some((FaultKind::Error, _)) => return Err(InjectedError),
            Some((FaultKind::Timeout, _)) => std::future::pending::<()>().await,
            // Never a zero sleep: tokio's timer would hold every call until its next tick.
            Some((FaultKind::Latency, delay)) if !delay.is_zero() => tokio::time::sleep(delay).await,
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(dependency: &str, duration_s: u64) -> FaultRequest {
        FaultRequest {
            dependency: dependency.into(),
            kind: FaultKind::Error,
            latency_ms: 0,
            probability: 1.0,
            duration_s,
        }
    }

    #[test]
    fn validation_names_the_bad_field() {
        assert_eq!(request("oracle", 5).validate(Dependency::NAMES).unwrap_err().0, "dependency");
        assert_eq!(request("postgres", 0).validate(Dependency::NAMES).unwrap_err().0, "duration_s");
        assert_eq!(request("products", 5).validate(&["products"]), Ok(()));
        let mut r = request("postgres", 5);
        r.probability = 1.5;
        assert_eq!(r.validate(Dependency::NAMES).unwrap_err().0, "probability");
    }

    #[test]
    fn faults_apply_only_to_their_dependency_and_clear() {
        let registry = FaultRegistry::new(Metrics::new("test"));
        let fault = registry.inject(request("postgres", 60));
        assert!(registry.pick("postgres").is_some());
        assert!(registry.pick("mysql").is_none());
        assert!(registry.clear(&fault.id));
        assert!(registry.pick("postgres").is_none());
        assert!(!registry.clear(&fault.id));
    }

    #[test]
    fn zero_probability_never_fires() {
        let registry = FaultRegistry::new(Metrics::new("test"));
        registry.inject(FaultRequest { probability: 0.0, ..request("redis", 60) });
        assert!((0..1000).all(|_| registry.pick("redis").is_none()));
    }
}
