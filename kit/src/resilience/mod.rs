//! The circuit breaker every dependency call consults.

pub mod circuit_breaker;
