//! [`ClientLimiter`]: a fixed-window request budget per client IP, in memory, with a bounded
//! number of tracked clients. When the map is full of live windows, new clients share one
//! overflow bucket (and `gateway_rate_limit_overflow_total` counts them), so a flood of source
//! addresses can neither grow memory nor escape the limit.
//!
//! `governor`'s keyed limiter was the alternative: its map grows with every key until
//! `retain_recent` is called and has no cap, so bounding it needs the same bookkeeping as this.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kit::config::Rate;
use prometheus::IntCounter;

/// The per-client budget.
pub struct ClientLimiter {
    rate: Rate,
    max_clients: usize,
    windows: Mutex<HashMap<IpAddr, Window>>,
    overflow: IntCounter,
}

struct Window {
    started: Instant,
    used: u64,
}

/// The key clients share once the map is full.
const OVERFLOW: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

impl ClientLimiter {
    /// `rate` per client, tracking at most `max_clients`.
    pub fn new(rate: Rate, max_clients: usize, overflow: IntCounter) -> Self {
        Self { rate, max_clients, windows: Mutex::default(), overflow }
    }

    /// The limit in words, e.g. `100/minute`.
    pub fn describe(&self) -> String {
        format!("{}/{}s", self.rate.limit, self.rate.window.as_secs())
    }

    /// Counts one request from `client`: `Err(time until its window resets)` when over budget.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.check_at(client, Instant::now())
    }

    fn check_at(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut windows = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let window = self.rate.window;
        let mut key = client;
        if !windows.contains_key(&key) && windows.len() >= self.max_clients {
            windows.retain(|_, w| now.duration_since(w.started) < window);
            if windows.len() >= self.max_clients {
                self.overflow.inc();
                key = OVERFLOW;
            }
        }
        let entry = windows.entry(key).or_insert(Window { started: now, used: 0 });
        if now.duration_since(entry.started) >= window {
            *entry = Window { started: now, used: 0 };
        }
        if entry.used >= self.rate.limit {
            return Err(window.saturating_sub(now.duration_since(entry.started)));
        }
        entry.used += 1;
        Ok(())
    }

    /// Clients tracked now (at most `max_clients` + the overflow bucket).
    pub fn tracked(&self) -> usize {
        self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(limit: u64, max_clients: usize) -> ClientLimiter {
        let rate = Rate { limit, window: Duration::from_secs(60) };
        ClientLimiter::new(rate, max_clients, IntCounter::new("overflow", "test").unwrap())
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    #[test]
    fn each_client_gets_its_own_budget_until_the_window_ends() {
        let limiter = limiter(2, 10);
        let start = Instant::now();
        assert!(limiter.check_at(ip(1), start).is_ok());
        assert!(limiter.check_at(ip(1), start).is_ok());
        let wait = limiter.check_at(ip(1), start + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(limiter.check_at(ip(2), start).is_ok(), "another client is not affected");
        assert!(limiter.check_at(ip(1), start + Duration::from_secs(60)).is_ok(), "a new window");
    }

    #[test]
    fn a_full_map_sends_new_clients_to_one_shared_bucket_and_counts_them() {
        let limiter = limiter(3, 2);
        let start = Instant::now();
        limiter.check_at(ip(1), start).unwrap();
        limiter.check_at(ip(2), start).unwrap();
        for last in 3..6 {
            limiter.check_at(ip(last), start).unwrap();
        }
        assert!(limiter.check_at(ip(6), start).is_err(), "the overflow bucket has its own limit");
        assert_eq!(limiter.tracked(), 3);
        assert_eq!(limiter.overflow.get(), 4);
        // Once windows expire, new clients get their own entries again.
        assert!(limiter.check_at(ip(7), start + Duration::from_secs(61)).is_ok());
        assert_eq!(limiter.tracked(), 1);
    }
}
