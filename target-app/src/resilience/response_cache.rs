//! Redis-backed response caching for the routes configured in `RESPONSE_CACHE_ROUTES`
//! (by default `/health/all` for 30 s and the Vault secret endpoints for 5 min).
//!
//! Keys are built from route, path and sorted query, MD5-hashed past 200 characters, under the
//! app's key prefix. Responses say `X-Cache: HIT` or `MISS`. On a miss only one request per key
//! recomputes; the others wait for it and then read its entry. A cache failure is a miss,
//! counted and logged, never a failed request.

use std::future::Future;
use std::time::Duration;

use axum::body::{Body, HttpBody, to_bytes};
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use md5::{Digest, Md5};

use crate::clients::redis::RedisCluster;
use crate::config::ResponseCacheSettings;
use crate::resilience::keyed_gate::KeyedGate;
use kit::error::{ApiError, ApiResult};
use kit::metrics::{IntCounterVec, Metrics};

/// Responses larger than this are passed through uncached.
const MAX_CACHED_BYTES: usize = 1024 * 1024;
/// Keys longer than this are hashed.
const MAX_KEY_LEN: usize = 200;

/// The response cache, shared by the middleware as `Arc<ResponseCache>`.
pub struct ResponseCache {
    settings: ResponseCacheSettings,
    redis: RedisCluster,
    metrics: CacheMetrics,
    in_flight: KeyedGate,
}

/// The cache's metric families, in the app's registry.
struct CacheMetrics {
    /// `cache_hits_total{endpoint}`.
    hits: IntCounterVec,
    /// `cache_misses_total{endpoint}`.
    misses: IntCounterVec,
    /// `cache_errors_total{endpoint}`: cache failures that were served as misses.
    errors: IntCounterVec,
    /// `cache_invalidations_total{pattern}`.
    invalidations: IntCounterVec,
}

impl CacheMetrics {
    fn register(metrics: &Metrics) -> Self {
        Self {
            hits: metrics.counter("cache_hits_total", "Response cache hits", &["endpoint"]),
            misses: metrics.counter("cache_misses_total", "Response cache misses", &["endpoint"]),
            errors: metrics.counter("cache_errors_total", "Response cache failures served as misses", &["endpoint"]),
            invalidations: metrics.counter("cache_invalidations_total", "Cache invalidations", &["pattern"]),
        }
    }
}

impl ResponseCache {
    /// A cache storing in `redis` for the configured routes, each route's counters exported at
    /// 0 from the start (a dashboard or a check never finds a series missing).
    pub fn new(settings: &ResponseCacheSettings, redis: RedisCluster, metrics: &Metrics) -> Self {
        let metrics = CacheMetrics::register(metrics);
        for route in settings.routes.keys().filter(|_| settings.enabled) {
            for counter in [&metrics.hits, &metrics.misses, &metrics.errors] {
                counter.with_label_values(&[route.as_str()]).inc_by(0);
            }
        }
        Self { settings: settings.clone(), redis, metrics, in_flight: KeyedGate::default() }
    }

    /// The namespace of response entries.
    fn namespace(&self) -> String {
        format!("{}response:", self.redis.key_prefix())
    }

    /// Deletes cached responses whose key matches `pattern` (a Redis glob after the namespace,
    /// `*` for everything); returns how many were removed.
    pub async fn invalidate(&self, pattern: &str) -> ApiResult<u64> {
        let deleted = self.redis.delete_matching(&format!("{}{pattern}", self.namespace())).await?;
        self.metrics.invalidations.with_label_values(&[pattern]).inc();
        tracing::info!(pattern, deleted, "response cache invalidated");
        Ok(deleted)
    }

    async fn read(&self, key: &str, endpoint: &str) -> Option<Vec<u8>> {
        match self.redis.get_bytes(key).await {
            Ok(found) => found,
            Err(error) => self.failed(endpoint, &error.to_string()),
        }
    }

    async fn write(&self, key: &str, endpoint: &str, entry: &[u8], ttl: Duration) {
        if let Err(error) = self.redis.set_bytes(key, entry, ttl).await {
            self.failed(endpoint, &error.to_string());
        }
    }

    fn failed(&self, endpoint: &str, reason: &str) -> Option<Vec<u8>> {
        self.metrics.errors.with_label_values(&[endpoint]).inc();
        tracing::warn!(endpoint, reason, "response cache unavailable, serving uncached");
        None
    }

    /// Serves `request` from the cache when its route is cached and it is a GET, filling the
    /// entry from `next` on a miss; anything else goes straight to `next`.
    pub async fn serve<F: Future<Output = Response>>(
        &self,
        request: Request,
        next: impl FnOnce(Request) -> F,
    ) -> Response {
        let route = request.extensions().get::<MatchedPath>().cloned();
        let ttl = route.as_ref().and_then(|r| self.settings.routes.get(r.as_str())).copied();
        match (route, ttl, self.settings.enabled, request.method()) {
            // Boxed, so uncached routes do not carry the Redis calls' state in their future.
            (Some(route), Some(ttl), true, &Method::GET) => Box::pin(self.cached(route, ttl, request, next)).await,
            _ => next(request).await,
        }
    }

    async fn cached<F: Future<Output = Response>>(
        &self,
        route: MatchedPath,
        ttl: Duration,
        request: Request,
        next: impl FnOnce(Request) -> F,
    ) -> Response {
        let route = route.as_str();
        let key = cache_key(&self.namespace(), route, request.uri().path(), request.uri().query());
        if let Some(response) = self.read(&key, route).await.and_then(|entry| self.hit(route, entry)) {
            return response;
        }
        let _gate = self.in_flight.enter(&key).await;
        // Another request may have filled the entry while this one waited.
        if let Some(response) = self.read(&key, route).await.and_then(|entry| self.hit(route, entry)) {
            return response;
        }
        self.metrics.misses.with_label_values(&[route]).inc();
        let response = next(request).await;
        // Only bodies of known, cacheable size are buffered; anything else passes through untouched.
        let length = response.body().size_hint().exact();
        if response.status() != StatusCode::OK || length.is_none_or(|n| n > MAX_CACHED_BYTES as u64) {
            return response;
        }
        let (mut parts, body) = response.into_parts();
        match to_bytes(body, MAX_CACHED_BYTES).await {
            Ok(bytes) => {
                let content_type =
                    parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
                self.write(&key, route, &encode(content_type, &bytes), ttl).await;
                parts.headers.insert("x-cache", HeaderValue::from_static("MISS"));
                Response::from_parts(parts, Body::from(bytes))
            }
            Err(error) => ApiError::Internal(anyhow::anyhow!("reading a response to cache: {error}")).into_response(),
        }
    }

    /// The cached response, counted as a hit; `None` (a miss) when the entry read from Redis is
    /// not one this cache wrote: data from the network is never trusted to be well formed.
    fn hit(&self, route: &str, entry: Vec<u8>) -> Option<Response> {
        let Some(response) = cached_response(entry) else {
            tracing::warn!(route, "unreadable response cache entry; treated as a miss");
            return None;
        };
        self.metrics.hits.with_label_values(&[route]).inc();
        Some(response)
    }
}

/// The cache key for a request: route, path and sorted query, MD5-hashed when long.
pub fn cache_key(namespace: &str, route: &str, path: &str, query: Option<&str>) -> String {
    let mut pairs: Vec<&str> = query.unwrap_or_default().split('&').filter(|p| !p.is_empty()).collect();
    pairs.sort_unstable();
    let raw = format!("{route}|{path}?{}", pairs.join("&"));
    if namespace.len() + raw.len() > MAX_KEY_LEN {
        format!("{namespace}md5:{:x}", Md5::digest(raw.as_bytes()))
    } else {
        format!("{namespace}{raw}")
    }
}

fn cached_response(entry: Vec<u8>) -> Option<Response> {
    let (content_type, body) = decode(entry);
    let content_type = header::HeaderValue::from_str(&content_type).ok()?;
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header("x-cache", "HIT")
        .body(Body::from(body))
        .ok()
}

/// An entry is the content type, a newline, then the body.
fn encode(content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut entry = Vec::with_capacity(content_type.len() + 1 + body.len());
    entry.extend_from_slice(content_type.as_bytes());
    entry.push(b'\n');
    entry.extend_from_slice(body);
    entry
}

fn decode(mut entry: Vec<u8>) -> (String, Vec<u8>) {
    match entry.iter().position(|&b| b == b'\n') {
        Some(split) => {
            let body = entry.split_off(split + 1);
            entry.pop();
            (String::from_utf8_lossy(&entry).into_owned(), body)
        }
        None => ("application/json".to_owned(), entry),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_this_cache_did_not_write_is_a_miss_not_a_panic() {
        assert!(cached_response(encode("application/json", b"{}")).is_some());
        assert!(cached_response(b"bad\x01type\n{}".to_vec()).is_none(), "a control character in the content type");
    }

    #[test]
    fn keys_ignore_query_order_and_hash_when_long() {
        let a = cache_key("p:", "/r/{x}", "/r/1", Some("b=2&a=1"));
        let b = cache_key("p:", "/r/{x}", "/r/1", Some("a=1&b=2"));
        assert_eq!(a, b);
        assert_ne!(a, cache_key("p:", "/r/{x}", "/r/2", Some("a=1&b=2")));
        let long = cache_key("p:", "/r/{x}", &format!("/r/{}", "y".repeat(300)), None);
        assert!(long.starts_with("p:md5:") && long.len() == "p:md5:".len() + 32, "{long}");
    }

    #[test]
    fn entries_round_trip() {
        let (content_type, body) = decode(encode("application/json", b"{\"a\":\n1}"));
        assert_eq!(content_type, "application/json");
        assert_eq!(body, b"{\"a\":\n1}");
    }
}
