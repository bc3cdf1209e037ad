//! The catalogue's last good answers, so browsing survives a products outage: the gateway keeps
//! each public `GET /api/products/...` answer that was a 200 and, when products cannot answer
//! (breaker open, no answer, out of time, a 5xx), serves the last one for that path and query
//! with `X-Cache: STALE`. Only answers to requests without `Authorization` are kept or served:
//! the catalogue is the same for everyone, anything personal is not.
//!
//! Bounded: at most [`MAX_ENTRIES`] answers of at most [`MAX_BODY_BYTES`] each; when full, the
//! oldest is dropped, counted in `gateway_stale_evictions_total`. Served answers are counted in
//! `gateway_stale_answers_total`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use prometheus::IntCounter;

/// Most answers kept.
pub const MAX_ENTRIES: usize = 1024;
/// Largest answer kept.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The last good answers, by path and query.
pub struct LastGood {
    entries: Mutex<Entries>,
    served: IntCounter,
    evicted: IntCounter,
}

/// Answers by key, and the keys oldest first.
#[derive(Default)]
struct Entries {
    answers: HashMap<String, (HeaderMap, Bytes)>,
    order: VecDeque<String>,
}

impl LastGood {
    /// Empty, counting into `served` and `evicted`.
    pub fn new(served: IntCounter, evicted: IntCounter) -> Self {
        Self { entries: Mutex::default(), served, evicted }
    }

    /// Keeps a 200 answer to `key`.
    pub fn keep(&self, key: &str, headers: &HeaderMap, body: &Bytes) {
        if body.len() > MAX_BODY_BYTES {
            return;
        }
        let Entries { answers, order } = &mut *self.entries.lock().expect("last good");
        if answers.insert(key.to_owned(), (headers.clone(), body.clone())).is_none() {
            order.push_back(key.to_owned());
            while order.len() > MAX_ENTRIES {
                if let Some(oldest) = order.pop_front() {
                    answers.remove(&oldest);
                    self.evicted.inc();
                }
            }
        }
    }

    /// The last good answer to `key`, marked stale.
    pub fn serve(&self, key: &str) -> Option<(StatusCode, HeaderMap, Bytes)> {
        let entries = self.entries.lock().expect("last good");
        let (headers, body) = entries.answers.get(key)?;
        let mut headers = headers.clone();
        headers.insert("x-cache", HeaderValue::from_static("STALE"));
        self.served.inc();
        Some((StatusCode::OK, headers, body.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_served_stale_and_the_oldest_go_first_when_full() {
        let (served, evicted) = (IntCounter::new("s", "s").unwrap(), IntCounter::new("e", "e").unwrap());
        let last = LastGood::new(served.clone(), evicted.clone());
        assert!(last.serve("/products/").is_none());
        for n in 0..=MAX_ENTRIES {
            last.keep(&format!("/products/{n}"), &HeaderMap::new(), &Bytes::from(n.to_string()));
        }
        assert_eq!(evicted.get(), 1);
        assert!(last.serve("/products/0").is_none(), "the oldest was dropped");
        let (status, headers, body) = last.serve("/products/7").unwrap();
        assert_eq!(
            (status, &headers["x-cache"], &body[..]),
            (StatusCode::OK, &HeaderValue::from_static("STALE"), &b"7"[..])
        );
        assert_eq!(served.get(), 1);
        last.keep("/big", &HeaderMap::new(), &Bytes::from(vec![0; MAX_BODY_BYTES + 1]));
        assert!(last.serve("/big").is_none());
    }
}
