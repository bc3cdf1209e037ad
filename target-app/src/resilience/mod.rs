//! Mechanisms that keep the app standing when clients or dependencies misbehave. The layers and
//! the dependency clients wire them in.

pub mod keyed_gate;
pub mod rate_limiter;
pub mod response_cache;
