//! CORS: `DEBUG=true` allows every origin; otherwise only `CORS_ORIGINS`, with credentials.
//!
//! tower-http's [`CorsLayer`] answers every preflight and every request that names an `Origin`.
//! A request without one (API clients, load generators, probes: most traffic) only gets the
//! headers the layer adds whatever the origin (`Vary`, and the credentials, exposed-header and
//! `*` origin grants the policy makes). Those are worked out once, by asking the layer itself,
//! and copied onto such answers: the layer would otherwise build a header map and format
//! `Vary` on every request, and its clone with the route stack copies a `Vec`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::ORIGIN;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::response::Response;
use futures::FutureExt;
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::config::Settings;
use kit::layers::request_id;

/// The policy, and what it adds to an answer to a request without an `Origin`.
pub struct Cors {
    layer: CorsLayer,
    without_origin: Vec<(HeaderName, HeaderValue)>,
}

impl Cors {
    /// The policy `settings` ask for.
    pub fn new(settings: &Settings) -> Arc<Self> {
        let layer = policy(settings);
        let without_origin = headers_without_origin(&layer);
        Arc::new(Self { layer, without_origin })
    }

    /// Whether `request` needs the layer: a preflight, or a request that names its origin.
    pub fn applies(request: &Request) -> bool {
        request.method() == Method::OPTIONS || request.headers().contains_key(ORIGIN)
    }

    /// The layer, for requests it [applies](Self::applies) to.
    pub fn layer(&self) -> &CorsLayer {
        &self.layer
    }

    /// Adds the headers the layer gives an answer to a request without an `Origin`.
    pub fn add_without_origin(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.without_origin {
            headers.insert(name.clone(), value.clone());
        }
    }
}

fn policy(settings: &Settings) -> CorsLayer {
    let base = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::PUT, Method::PATCH, Method::OPTIONS])
        .max_age(std::time::Duration::from_secs(600))
        .expose_headers([HeaderName::from_static(request_id::HEADER)]);
    if settings.app.debug {
        base.allow_origin(Any).allow_headers(Any)
    } else {
        // A predicate over a shared list rather than `AllowOrigin::list`, whose `Vec` is cloned
        // with the layer.
        let origins: Arc<[HeaderValue]> = settings.app.cors_origins.iter().filter_map(|o| o.parse().ok()).collect();
        let allowed = AllowOrigin::predicate(move |origin, _| origins.contains(origin));
        base.allow_origin(allowed).allow_credentials(true).allow_headers([
            axum::http::header::CONTENT_TYPE,
            axum::http::header::AUTHORIZATION,
            HeaderName::from_static(request_id::HEADER),
        ])
    }
}

/// What `layer` adds to an empty answer to `GET /` without an `Origin`.
fn headers_without_origin(layer: &CorsLayer) -> Vec<(HeaderName, HeaderValue)> {
    let empty = tower::service_fn(|_: Request| async { Ok::<_, Infallible>(Response::new(Body::empty())) });
    let probe = Request::get("/").body(Body::empty()).expect("a static request");
    let answered = layer.layer(empty).oneshot(probe).now_or_never();
    let answer = answered.expect("the CORS layer answers at once").expect("infallible");
    answer.headers().iter().map(|(name, value)| (name.clone(), value.clone())).collect()
}

#[cfg(test)]
mod tests {
    use axum::http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, VARY};

    use super::*;

    #[test]
    fn an_answer_without_an_origin_gets_what_the_layer_would_add() {
        let added = |debug: bool| {
            let vars = [("DEBUG".to_owned(), debug.to_string())];
            let mut headers = HeaderMap::new();
            Cors::new(&crate::config::from_vars(vars).unwrap()).add_without_origin(&mut headers);
            headers
        };
        let listed = added(false);
        assert!(listed.contains_key(VARY), "answers to listed origins differ, so caches must key by origin");
        assert!(!listed.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
        assert_eq!(added(true)[ACCESS_CONTROL_ALLOW_ORIGIN], "*", "debug grants every caller the same");
    }
}
