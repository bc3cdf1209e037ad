//! Forwarding `/api/<service>/<rest>` to `<service>/<service>/<rest>`: method, path, query, body
//! and headers, minus hop-by-hop ones, with the request id passed on (the [`Upstream`] adds it)
//! and the client's address in `X-Forwarded-For`. An upstream that cannot be reached answers
//! 502, one that runs out of time 504, one whose breaker is open 503, all with the documented
//! body; whatever an upstream answers is passed back as it came. Steps the services take on
//! each other (reserving stock) are not routed: 401 without a token, 403 with one. A public catalogue read that
//! products cannot answer gets the last good answer instead (see [`super::fallback`]).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use kit::error::{ApiError, ApiResult};

use super::GatewayState;
use crate::auth::{forbidden, unauthorized};
use crate::role::Role;

/// Headers that belong to one connection, not to the message (RFC 9110 §7.6.1), plus `host`
/// and `content-length`, which the outgoing request sets itself.
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// The service a first path segment names; `auth` is the users service's.
fn service_of(segment: &str) -> Option<Role> {
    match segment {
        "users" | "auth" => Some(Role::Users),
        "products" => Some(Role::Products),
        "orders" => Some(Role::Orders),
        "inventory" => Some(Role::Inventory),
        "notifications" => Some(Role::Notifications),
        _ => None,
    }
}

/// Whether `path` (under `/api`) is a step only the services take on each other: reserving and
/// releasing stock (`/inventory/{id}/reserve`, `/inventory/{id}/release`) are the orders
/// service's. The gateway routes them for nobody.
fn between_services(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(segments.as_slice(), ["inventory", _, "reserve" | "release"])
}

/// Forwards one request.
pub async fn forward(
    State(state): State<GatewayState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> ApiResult<Response> {
    if let Err(retry_after) = state.limiter.check(peer.ip()) {
        return Err(ApiError::RateLimit { limit: state.limiter.describe(), retry_after });
    }
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().strip_prefix("/api").unwrap_or_default();
    let segment = path.trim_start_matches('/').split('/').next().unwrap_or_default();
    let role = service_of(segment).ok_or_else(|| ApiError::not_found(format!("No service serves /api/{segment}")))?;
    if between_services(path) {
        return Err(match parts.headers.contains_key(axum::http::header::AUTHORIZATION) {
            true => forbidden("Reserving and releasing stock are steps of placing an order: POST /api/orders/"),
            false => unauthorized("Bearer token required"),
        });
    }
    let target = match parts.uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let body = axum::body::to_bytes(body, state.settings.base.app.max_body_bytes)
        .await
        .map_err(|_| ApiError::bad_request(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"))?;
    let mut headers = without_hop_by_hop(&parts.headers);
    headers.remove(axum::http::header::CONTENT_LENGTH);
    let forwarded = match parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(earlier) => format!("{earlier}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded) {
        headers.insert(HeaderName::from_static("x-forwarded-for"), value);
    }
    let public_catalogue = role == Role::Products
        && parts.method == axum::http::Method::GET
        && !parts.headers.contains_key(axum::http::header::AUTHORIZATION);
    let outcome = state.upstreams[&role].send(parts.method, &target, headers, body).await;
    let (status, headers, body) = match outcome {
        Ok(reply) if public_catalogue && reply.status == StatusCode::OK => {
            let headers = without_hop_by_hop(&reply.headers);
            state.last_good.keep(&target, &headers, &reply.body);
            (reply.status, headers, reply.body)
        }
        Ok(reply) if !(public_catalogue && reply.status.is_server_error()) => {
            (reply.status, without_hop_by_hop(&reply.headers), reply.body)
        }
        failed => match public_catalogue.then(|| state.last_good.serve(&target)).flatten() {
            Some(stale) => {
                tracing::warn!(%target, "products cannot answer; serving its last good answer");
                stale
            }
            None => {
                let reply = failed?;
                (reply.status, without_hop_by_hop(&reply.headers), reply.body)
            }
        },
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

fn without_hop_by_hop(headers: &HeaderMap) -> HeaderMap {
    let mut kept = headers.clone();
    // A `Connection` header can name more hop-by-hop headers.
    let named: Vec<String> = headers
        .get_all(axum::http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|name| name.trim().to_ascii_lowercase()))
        .collect();
    for name in HOP_BY_HOP.iter().copied().chain(named.iter().map(String::as_str)) {
        kept.remove(name);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "close, x-private"),
            ("x-private", "1"),
            ("te", "trailers"),
            ("x-kept", "yes"),
            ("host", "a"),
        ] {
            headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        let kept = without_hop_by_hop(&headers);
        let names: Vec<&str> = kept.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["x-kept"]);
    }

    #[test]
    fn first_segments_name_services() {
        assert_eq!(service_of("auth"), Some(Role::Users));
        assert_eq!(service_of("orders"), Some(Role::Orders));
        assert_eq!(service_of("admin"), None);
    }
}
