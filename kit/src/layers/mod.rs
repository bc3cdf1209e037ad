//! The request steps every service runs (the request id, metrics, the head limit, the security
//! headers) and [`pipeline`], which runs them in one order.

pub mod content;
pub mod metrics;
pub mod pipeline;
pub mod request_id;
pub mod security_headers;
