//! Cross-cutting behaviour, run for every request by [`pipeline::Pipeline`] in the order
//! [`crate::app::router`] documents. Each step is a small module; the mechanisms they wire in
//! live in [`crate::resilience`].

pub mod cors;
pub mod pipeline;
pub mod rate_limit;
