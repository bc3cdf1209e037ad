//! Request size and content-type rules: a request head over `MAX_HEADER_BYTES` gets 431
//! ([`check_head`], on every route), bodies over the limit 413, a body without a content type
//! 400, an unlisted content type 415. GET/HEAD/OPTIONS and the documentation, metrics and
//! health routes are exempt from the body rules, as the seed documents.

use axum::extract::Request;
use axum::http::{Method, StatusCode, header};

use crate::error::ApiError;

/// Media types a body may have.
pub const ALLOWED_TYPES: [&str; 4] =
    ["application/json", "application/x-www-form-urlencoded", "multipart/form-data", "text/plain"];

/// 431 when the request line and headers of `request` take more than `max_head` bytes (as
/// sent: `name: value` and CRLF per header).
pub fn check_head(request: &Request, max_head: usize) -> Result<(), ApiError> {
    let line = request.method().as_str().len() + request.uri().path_and_query().map_or(1, |p| p.as_str().len()) + 12;
    let headers: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if line + headers > max_head {
        return Err(ApiError::bad_request(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("Request header fields exceed the {max_head}-byte limit"),
        ));
    }
    Ok(())
}

/// The rule `request` breaks, if any; `max_body` is the byte limit.
pub fn check(request: &Request, max_body: usize) -> Result<(), ApiError> {
    let path = request.uri().path();
    let exempt_path =
        path == "/metrics" || path == "/openapi.json" || path.starts_with("/docs") || path.starts_with("/health");
    if exempt_path || matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let headers = request.headers();
    let length: Option<u64> =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    if length.is_some_and(|n| n > max_body as u64) {
        return Err(ApiError::bad_request(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body exceeds the {max_body}-byte limit"),
        ));
    }
    let has_body = length.is_some_and(|n| n > 0) || headers.contains_key(header::TRANSFER_ENCODING);
    if !has_body {
        return Ok(());
    }
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::bad_request(
            StatusCode::BAD_REQUEST,
            "Content-Type header is required for a request body",
        ));
    };
    let media_type =
        content_type.to_str().unwrap_or_default().split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if !ALLOWED_TYPES.contains(&media_type.as_str()) {
        return Err(ApiError::bad_request(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Unsupported content type {media_type:?}; allowed: {}", ALLOWED_TYPES.join(", ")),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn post(headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().method("POST").uri("/examples/messaging/publish");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap()
    }

    fn status(request: &Request) -> Option<u16> {
        check(request, 100).err().map(|e| e.status().as_u16())
    }

    #[test]
    fn rules_pick_the_documented_status() {
        assert_eq!(status(&post(&[("content-length", "101"), ("content-type", "application/json")])), Some(413));
        assert_eq!(status(&post(&[("content-length", "5")])), Some(400));
        assert_eq!(status(&post(&[("content-length", "5"), ("content-type", "application/xml")])), Some(415));
        assert_eq!(
            status(&post(&[("content-length", "5"), ("content-type", "application/json; charset=utf-8")])),
            None
        );
        assert_eq!(status(&post(&[])), None);
    }
}
