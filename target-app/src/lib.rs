//! The DevStack Core Reference API in Rust: the target service Gauntlet attacks.
//!
//! Start at [`app::App::build`]; routes live in [`routes`], the handles they share in
//! [`state`], cross-cutting behaviour in [`layers`] (the mechanisms they wire in in
//! [`resilience`]), external systems in [`clients`].

pub mod app;
pub mod chaos;
pub mod clients;
pub mod config;
pub mod contract;
pub mod demo_budget;
pub mod error;
pub mod extract;
pub mod identity;
pub mod layers;
pub mod metrics;
pub mod probe;
pub mod rendered;
pub mod resilience;
pub mod routes;
pub mod serve;
pub mod state;
pub mod telemetry;
pub mod validation;
