//! The request steps every service runs: the request id, metrics, the head limit and the
//! security headers.

pub mod content;
pub mod metrics;
pub mod request_id;
pub mod security_headers;
