//! Per-client-IP, per-endpoint-class fixed-window rate limits. Counters live in the Redis
//! Cluster so several app replicas share one limit; when Redis fails the decision is taken in
//! memory instead (logged and counted), so an outage is neither a 500 nor an open door.
//!
//! Every request gets a token number in its window; requests numbered up to the limit pass.
//! Numbers come from Redis in leased ranges (`INCRBY`), so a busy client costs one round trip
//! per lease, not per request. A lease starts at one token and doubles while the client keeps
//! coming back in the same window, up to [`lease_cap`]. One process is exact; replicas never
//! admit more than the limit together, and may admit up to one unused lease each fewer.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use tokio::time::Instant;

use crate::clients::redis::{HOT_PATH_BUDGET, RedisCluster};
use crate::config::{Rate, RateLimitSettings};
use crate::resilience::keyed_gate::KeyedGate;
use kit::metrics::{IntCounterVec, IntGaugeVec, Metrics};

/// The endpoint classes, each with its own limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// Everything but health and metrics.
    Default,
    /// `/health/*`.
    Health,
    /// `/metrics`.
    Metrics,
}

impl Class {
    /// The class a path belongs to; `None` for the token-authenticated `/chaos` control plane,
    /// which must stay usable for an operator while clients are being limited.
    pub fn of(path: &str) -> Option<Self> {
        if path == "/chaos" || path.starts_with("/chaos/") {
            None
        } else if path == "/health" || path.starts_with("/health/") {
            Some(Self::Health)
        } else if path == "/metrics" {
            Some(Self::Metrics)
        } else {
            Some(Self::Default)
        }
    }

    /// The class's name in metrics and keys.
    pub fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Health => "health",
            Self::Metrics => "metrics",
        }
    }
}

/// Token numbers leased from Redis for one client and class in one window.
#[derive(Debug, Default)]
struct Lease {
    window: u64,
    /// Unused ranges of token numbers, inclusive, oldest first.
    ranges: VecDeque<(u64, u64)>,
    /// Size of the last lease taken; the next one doubles it.
    size: u64,
}

impl Lease {
    fn take(&mut self) -> Option<u64> {
        let (next, end) = self.ranges.front_mut()?;
        let token = *next;
        if *next == *end {
            self.ranges.pop_front();
        } else {
            *next += 1;
        }
        Some(token)
    }
}

/// The largest lease for a limit: a sixteenth of it, so a replica's unused lease costs the
/// combined limit at most that; small limits are counted one request at a time. At most 4,096,
/// so a client sending 100k req/s costs about 25 Redis round trips a second (at 64 the round
/// trips and the burst waiting on each made the limiter cost 12-36% of `/health/`'s req/s).
pub fn lease_cap(limit: u64) -> u64 {
    (limit / 16).clamp(1, 4096)
}

/// The limiter shared by every request.
pub struct RateLimiter {
    settings: RateLimitSettings,
    redis: RedisCluster,
    metrics: LimitMetrics,
    /// Leases by client and class (the window is inside), so the hot path allocates nothing.
    leases: Mutex<HashMap<(Class, IpAddr), Lease>>,
    /// One lease request per key at a time, so a burst shares growing leases.
    leasing: KeyedGate,
    memory: Mutex<HashMap<String, u64>>,
    in_memory: AtomicBool,
}

/// The limiter's metric families, in the app's registry.
struct LimitMetrics {
    /// `rate_limit_exceeded_total{endpoint}`.
    exceeded: IntCounterVec,
    /// `rate_limit_backend{backend}`: 1 for the backend in use (`redis` or `memory`).
    backend: IntGaugeVec,
    /// `rate_limit_fallback_total{class}`: decisions taken in memory because Redis failed.
    fallbacks: IntCounterVec,
}

impl LimitMetrics {
    fn register(metrics: &Metrics) -> Self {
        Self {
            exceeded: metrics.counter("rate_limit_exceeded_total", "Requests rejected with 429", &["endpoint"]),
            backend: metrics.gauge("rate_limit_backend", "Rate limiter backend in use (1)", &["backend"]),
            fallbacks: metrics.counter(
                "rate_limit_fallback_total",
                "Rate limit decisions taken in memory because Redis failed",
                &["class"],
            ),
        }
    }
}

/// One decision, with what the `X-RateLimit-*` headers report.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The class limit.
    pub limit: u64,
    /// Requests left in this window.
    pub remaining: u64,
    /// Unix time (seconds) when the window resets.
    pub reset_at: u64,
    /// Time until then.
    pub retry_after: Duration,
}

impl RateLimiter {
    /// A limiter counting in `redis`, falling back to memory.
    pub fn new(settings: &RateLimitSettings, redis: RedisCluster, metrics: &Metrics) -> Self {
        let metrics = LimitMetrics::register(metrics);
        metrics.backend.with_label_values(&["redis"]).set(1);
        metrics.backend.with_label_values(&["memory"]).set(0);
        for class in [Class::Default, Class::Health, Class::Metrics] {
            metrics.fallbacks.with_label_values(&[class.name()]).inc_by(0);
        }
        Self {
            settings: settings.clone(),
            redis,
            metrics,
            leases: Mutex::default(),
            leasing: KeyedGate::default(),
            memory: Mutex::default(),
            in_memory: AtomicBool::default(),
        }
    }

    /// Whether limits are enforced at all (`RATE_LIMIT_ENABLED`).
    pub fn enabled(&self) -> bool {
        self.settings.enabled
    }

    /// Counts a request refused with 429 (`rate_limit_exceeded_total{endpoint}`).
    pub fn count_refusal(&self, endpoint: &str) {
        self.metrics.exceeded.with_label_values(&[endpoint]).inc();
    }

    /// The limit of `class`.
    pub fn rate(&self, class: Class) -> Rate {
        match class {
            Class::Default => self.settings.default,
            Class::Health => self.settings.health,
            Class::Metrics => self.settings.metrics,
        }
    }

    /// Counts one request from `client` in `class` and decides.
    pub async fn check(&self, class: Class, client: IpAddr) -> Decision {
        let rate = self.rate(class);
        let window = rate.window.as_secs().max(1);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let index = now.as_secs() / window;
        let count = match self.leased_token(class, client, index) {
            Some(token) => token,
            // Boxed: the Redis round trip is rare, and inline it would make every request's
            // future larger to build and move.
            None => Box::pin(self.lease(class, client, index, rate)).await,
        };
        let reset_at = (index + 1) * window;
        Decision {
            allowed: count <= rate.limit,
            limit: rate.limit,
            remaining: rate.limit.saturating_sub(count),
            reset_at,
            retry_after: Duration::from_secs(reset_at).saturating_sub(now),
        }
    }

    /// A token from a new lease, one lease request per client and class at a time. The lease,
    /// waiting for the gate included, fits in one [`HOT_PATH_BUDGET`]: when Redis hangs, the
    /// callers queued behind a lease must not each wait out a timeout of their own in turn.
    async fn lease(&self, class: Class, client: IpAddr, index: u64, rate: Rate) -> u64 {
        let key = format!("{}ratelimit:{}:{client}:{index}", self.redis.key_prefix(), class.name());
        let deadline = Instant::now() + HOT_PATH_BUDGET;
        let Ok(_gate) = tokio::time::timeout_at(deadline, self.leasing.enter(&key)).await else {
            self.set_backend(true, Some("no lease within the hot-path budget"));
            return self.count_in_memory(class, key, index);
        };
        // Whoever held the gate may have leased enough for this request too.
        match self.leased_token(class, client, index) {
            Some(token) => token,
            None => {
                let budget = deadline.saturating_duration_since(Instant::now());
                self.lease_from_redis(class, client, key, index, rate, budget).await
            }
        }
    }

    /// The next token of this window's lease, if one is left.
    fn leased_token(&self, class: Class, client: IpAddr, window: u64) -> Option<u64> {
        let mut leases = self.leases.lock().expect("lease lock");
        leases.get_mut(&(class, client)).filter(|lease| lease.window == window).and_then(Lease::take)
    }

    /// Takes a new lease from Redis within `budget` and returns its first token; counts in memory
    /// when Redis fails.
    async fn lease_from_redis(
        &self,
        class: Class,
        client: IpAddr,
        key: String,
        window: u64,
        rate: Rate,
        budget: Duration,
    ) -> u64 {
        let size = {
            let leases = self.leases.lock().expect("lease lock");
            let previous = leases.get(&(class, client)).filter(|l| l.window == window).map_or(0, |l| l.size);
            (previous * 2).clamp(1, lease_cap(rate.limit))
        };
        let expire = Duration::from_secs(rate.window.as_secs().max(1) + 1);
        match self.redis.incr_window(&key, size, expire, budget).await {
            Ok(total) => {
                self.set_backend(false, None);
                let mut leases = self.leases.lock().expect("lease lock");
                if leases.len() > 100_000 {
                    leases.retain(|_, lease| lease.window == window);
                }
                let lease = leases.entry((class, client)).or_default();
                if lease.window != window {
                    *lease = Lease { window, ..Lease::default() };
                }
                lease.size = size;
                lease.ranges.push_back((total + 1 - size, total));
                lease.take().expect("a lease has at least one token")
            }
            Err(error) => {
                self.set_backend(true, Some(&error.to_string()));
                self.count_in_memory(class, key, window)
            }
        }
    }

    fn count_in_memory(&self, class: Class, key: String, index: u64) -> u64 {
        self.metrics.fallbacks.with_label_values(&[class.name()]).inc();
        let mut counts = self.memory.lock().expect("rate limit lock");
        if counts.len() > 100_000 {
            // Drop windows that have ended; keys end in their window index.
            let current = format!(":{index}");
            counts.retain(|k, _| k.ends_with(&current));
        }
        let count = counts.entry(key).or_insert(0);
        *count += 1;
        *count
    }

    /// Logs and exports backend changes once, not on every request.
    fn set_backend(&self, memory: bool, reason: Option<&str>) {
        if self.in_memory.swap(memory, Ordering::Relaxed) != memory {
            self.metrics.backend.with_label_values(&["memory"]).set(memory as i64);
            self.metrics.backend.with_label_values(&["redis"]).set(!memory as i64);
            if memory {
                tracing::warn!(reason, "rate limiter falling back to in-memory counters");
            } else {
                tracing::info!("rate limiter back on Redis counters");
            }
        }
    }

    /// The client address: the socket peer, or the first untrusted hop of `X-Forwarded-For`
    /// when the peer is a trusted proxy.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.settings.trusted_proxies.contains(&peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|hop| hop.trim().parse().ok())
            .collect();
        hops.into_iter().rev().find(|hop| !self.settings.trusted_proxies.contains(hop)).unwrap_or(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_hand_out_their_ranges_in_order() {
        let mut lease = Lease { window: 1, ranges: VecDeque::from([(3, 4), (9, 9)]), size: 2 };
        assert_eq!([lease.take(), lease.take(), lease.take(), lease.take()], [Some(3), Some(4), Some(9), None]);
    }

    #[test]
    fn small_limits_are_counted_one_request_at_a_time() {
        assert_eq!(lease_cap(5), 1);
        assert_eq!(lease_cap(100), 6);
        assert_eq!(lease_cap(1_000_000), 4096);
    }

    #[test]
    fn classes_follow_the_documented_routes() {
        assert_eq!(Class::of("/health/"), Some(Class::Health));
        assert_eq!(Class::of("/health/all"), Some(Class::Health));
        assert_eq!(Class::of("/metrics"), Some(Class::Metrics));
        assert_eq!(Class::of("/healthz"), Some(Class::Default));
        assert_eq!(Class::of("/examples/cache/x"), Some(Class::Default));
        assert_eq!(Class::of("/chaos/faults"), None);
        assert_eq!(Class::of("/chaosmonkey"), Some(Class::Default));
    }
}
