//! Per-dependency circuit breakers: closed → open after N consecutive failures, open fails fast,
//! half-open after the reset timeout lets exactly one probe through, which closes or re-opens it.
//!
//! Clients do not use this directly; [`crate::clients::dependency::Dependency`] wraps every call.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::BreakerSettings;
use crate::metrics::Metrics;

/// The three states, with the numbers exported as `circuit_breaker_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls pass; failures are counted.
    Closed = 0,
    /// Calls fail fast until the reset timeout passes.
    Open = 1,
    /// One probe call is in flight or allowed.
    HalfOpen = 2,
}

#[derive(Debug)]
enum Inner {
    Closed { consecutive_failures: u32 },
    Open { until: Instant },
    HalfOpen { probe_in_flight: bool },
}

/// One dependency's breaker; cheap to clone (shared state).
#[derive(Clone)]
pub struct CircuitBreaker {
    service: &'static str,
    settings: BreakerSettings,
    inner: Arc<Mutex<Inner>>,
    metrics: Metrics,
}

/// Permission to make one call; report the outcome with [`Permit::record`]. A permit dropped
/// without a verdict (the client hung up and the request was cancelled) says nothing about the
/// dependency: it is not counted, and a half-open probe slot is freed for the next caller.
/// Timeouts are verdicts, recorded by [`crate::clients::dependency::Dependency`].
pub struct Permit {
    breaker: CircuitBreaker,
    done: bool,
}

impl CircuitBreaker {
    /// A closed breaker for `service`, exporting its state at once.
    pub fn new(service: &'static str, settings: BreakerSettings, metrics: Metrics) -> Self {
        metrics.breaker_state.with_label_values(&[service]).set(BreakerState::Closed as i64);
        for counter in
            [&metrics.breaker_opened, &metrics.breaker_half_open, &metrics.breaker_closed, &metrics.breaker_failures]
        {
            counter.with_label_values(&[service]).inc_by(0);
        }
        Self { service, settings, inner: Arc::new(Mutex::new(Inner::Closed { consecutive_failures: 0 })), metrics }
    }

    /// The dependency this breaker guards.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// The current state, moving open → half-open when the timeout has passed.
    pub fn state(&self) -> BreakerState {
        let mut inner = self.inner.lock().expect("breaker lock");
        self.advance(&mut inner);
        match *inner {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Asks to make a call: `Ok(permit)` or `Err(time until a probe is allowed)`.
    pub fn acquire(&self) -> Result<Permit, Duration> {
        let mut inner = self.inner.lock().expect("breaker lock");
        self.advance(&mut inner);
        match &mut *inner {
            Inner::Closed { .. } => Ok(Permit { breaker: self.clone(), done: false }),
            Inner::Open { until } => Err(until.saturating_duration_since(Instant::now())),
            Inner::HalfOpen { probe_in_flight } if !*probe_in_flight => {
                *probe_in_flight = true;
                Ok(Permit { breaker: self.clone(), done: false })
            }
            Inner::HalfOpen { .. } => Err(Duration::from_secs(1)),
        }
    }

    fn advance(&self, inner: &mut Inner) {
        if let Inner::Open { until } = *inner
            && Instant::now() >= until
        {
            *inner = Inner::HalfOpen { probe_in_flight: false };
            self.transition(BreakerState::HalfOpen);
        }
    }

    fn on_result(&self, success: bool) {
        let mut inner = self.inner.lock().expect("breaker lock");
        if !success {
            self.metrics.breaker_failures.with_label_values(&[self.service]).inc();
        }
        match (&mut *inner, success) {
            (Inner::Closed { consecutive_failures }, true) => *consecutive_failures = 0,
            (Inner::Closed { consecutive_failures }, false) => {
                *consecutive_failures += 1;
                if *consecutive_failures >= self.settings.failure_threshold {
                    *inner = Inner::Open { until: Instant::now() + self.settings.reset_timeout };
                    self.transition(BreakerState::Open);
                }
            }
            (Inner::HalfOpen { .. }, true) => {
                *inner = Inner::Closed { consecutive_failures: 0 };
                self.transition(BreakerState::Closed);
            }
            (Inner::HalfOpen { .. }, false) => {
                *inner = Inner::Open { until: Instant::now() + self.settings.reset_timeout };
                self.transition(BreakerState::Open);
            }
            // A call that started before the breaker opened reports late: nothing to change.
            (Inner::Open { .. }, _) => {}
        }
    }

    fn transition(&self, to: BreakerState) {
        let counter = match to {
            BreakerState::Open => &self.metrics.breaker_opened,
            BreakerState::HalfOpen => &self.metrics.breaker_half_open,
            BreakerState::Closed => &self.metrics.breaker_closed,
        };
        counter.with_label_values(&[self.service]).inc();
        self.metrics.breaker_state.with_label_values(&[self.service]).set(to as i64);
        tracing::warn!(service = self.service, state = ?to, "circuit breaker transition");
    }
}

impl Permit {
    /// Reports the call's outcome to the breaker.
    pub fn record(mut self, success: bool) {
        self.done = true;
        self.breaker.on_result(success);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done {
            let mut inner = self.breaker.inner.lock().expect("breaker lock");
            if let Inner::HalfOpen { probe_in_flight } = &mut *inner {
                *probe_in_flight = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: u32, reset_ms: u64) -> CircuitBreaker {
        let settings = BreakerSettings { failure_threshold: threshold, reset_timeout: Duration::from_millis(reset_ms) };
        CircuitBreaker::new("postgres", settings, Metrics::new("test"))
    }

    #[test]
    fn opens_after_threshold_consecutive_failures_only() {
        let b = breaker(3, 60_000);
        b.acquire().unwrap().record(false);
        b.acquire().unwrap().record(false);
        b.acquire().unwrap().record(true);
        b.acquire().unwrap().record(false);
        b.acquire().unwrap().record(false);
        assert_eq!(b.state(), BreakerState::Closed);
        b.acquire().unwrap().record(false);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.acquire().is_err());
    }

    #[test]
    fn half_open_admits_exactly_one_probe_then_closes_on_success() {
        let b = breaker(1, 10);
        b.acquire().unwrap().record(false);
        std::thread::sleep(Duration::from_millis(20));
        let probe = b.acquire().expect("one probe");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.acquire().is_err(), "a second probe must wait");
        probe.record(true);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn failed_probe_reopens() {
        let b = breaker(1, 10);
        b.acquire().unwrap().record(false);
        std::thread::sleep(Duration::from_millis(20));
        b.acquire().unwrap().record(false);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn cancelled_calls_are_not_failures_and_free_the_probe_slot() {
        let b = breaker(2, 10);
        for _ in 0..10 {
            drop(b.acquire().unwrap());
        }
        assert_eq!(b.state(), BreakerState::Closed, "hung-up clients do not open the breaker");
        b.acquire().unwrap().record(false);
        b.acquire().unwrap().record(false);
        std::thread::sleep(Duration::from_millis(20));
        drop(b.acquire().expect("probe"));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.acquire().expect("the abandoned probe's slot is free again").record(true);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn transitions_are_counted_in_metrics() {
        let b = breaker(1, 10);
        b.acquire().unwrap().record(false);
        std::thread::sleep(Duration::from_millis(20));
        b.acquire().unwrap().record(true);
        let text = b.metrics.render();
        assert!(text.contains("circuit_breaker_opened_total{service=\"postgres\"} 1"), "{text}");
        assert!(text.contains("circuit_breaker_half_open_total{service=\"postgres\"} 1"));
        assert!(text.contains("circuit_breaker_closed_total{service=\"postgres\"} 1"));
        assert!(text.contains("circuit_breaker_state{service=\"postgres\"} 0"));
    }
}
