//! Cross-cutting behaviour as tower layers; [`crate::app::router`] stacks them in order.

pub mod cache;
pub mod circuit_breaker;
pub mod content;
pub mod keyed_gate;
pub mod metrics;
pub mod rate_limit;
pub mod request_id;
