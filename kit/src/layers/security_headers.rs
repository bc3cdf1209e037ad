//! Security headers on every response (seed 002: "Use security headers (e.g., CORS, CSP)"):
//! nothing may sniff a JSON answer into a script, frame it, or learn where it was linked from.
//! API answers get the strictest Content-Security-Policy (`default-src 'none'`); the Swagger UI
//! under `/docs` gets one that lets its own scripts, styles and images run and fetch the spec
//! from this origin, and nothing else. `Cross-Origin-Resource-Policy: cross-origin`, because
//! CORS decides which origins may read an answer. `Strict-Transport-Security` only when the
//! deployment says it is served over TLS (`BEHIND_TLS`): sent over plain HTTP it would be
//! ignored, and a wrong one locks browsers out. Every value is static, so adding them costs
//! header inserts and no formatting.

use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// The policy of every API answer.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
/// The policy of the Swagger UI page and its assets.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; \
                            img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";
/// `Strict-Transport-Security` behind TLS: a year, subdomains included.
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

const CROSS_ORIGIN_RESOURCE_POLICY: HeaderName = HeaderName::from_static("cross-origin-resource-policy");

/// Whether `path` is the Swagger UI's (its page, scripts and styles).
pub fn is_docs(path: &str) -> bool {
    path.starts_with("/docs")
}

/// Adds the headers to `headers` of an answer, the Swagger UI's when `docs`; `behind_tls` adds
/// HSTS.
pub fn apply(headers: &mut HeaderMap, docs: bool, behind_tls: bool) {
    let csp = if docs { DOCS_CSP } else { API_CSP };
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(CROSS_ORIGIN_RESOURCE_POLICY, HeaderValue::from_static("cross-origin"));
    if behind_tls {
        headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_answers_get_the_strict_policy_and_docs_one_that_runs_swagger() {
        let mut api = HeaderMap::new();
        apply(&mut api, is_docs("/health/"), false);
        assert_eq!(api[CONTENT_SECURITY_POLICY], API_CSP);
        assert_eq!(api[X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(!api.contains_key(STRICT_TRANSPORT_SECURITY), "no HSTS over plain HTTP");
        let mut docs = HeaderMap::new();
        apply(&mut docs, is_docs("/docs/swagger-ui.css"), true);
        assert_eq!(docs[CONTENT_SECURITY_POLICY], DOCS_CSP);
        assert_eq!(docs[STRICT_TRANSPORT_SECURITY], HSTS);
    }
}
