//! What every Gauntlet service builds on: target-app and each of the shop's services.
//!
//! [`serve`] runs a router over HTTP/1.1 until [`shutdown::signal`], then drains; [`layers`]
//! are the request steps (id, metrics, head limit, security headers) and [`error`] the one error
//! body; [`config`] reads the shared settings; [`chaos`] and [`fault_routes`] are the fault
//! registry and its API; [`clients`] guard every dependency call ([`clients::dependency`]) and
//! reach Vault and RabbitMQ; [`resilience`] holds the circuit breaker; [`runtime`] is the tokio
//! runtime each service's `main` starts.

pub mod chaos;
pub mod clients;
pub mod config;
pub mod error;
pub mod extract;
pub mod fault_routes;
pub mod layers;
pub mod metrics;
pub mod probe;
pub mod resilience;
pub mod runtime;
pub mod serve;
pub mod shutdown;
pub mod telemetry;
pub mod trace;
