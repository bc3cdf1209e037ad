//! The DevStack Core Reference API in Rust: the target service Gauntlet attacks.
//!
//! Start at [`app::App::build`]; routes live in [`routes`], the handles they share in
//! [`state`], cross-cutting behaviour in [`layers`] (the mechanisms they wire in in
//! [`resilience`]), external systems in [`clients`]. What
//! it shares with the shop's services (serving, the error body, the chaos API, ...) is in [`kit`].

pub mod app;
pub mod clients;
pub mod config;
pub mod contract;
pub mod demo_budget;
pub mod identity;
pub mod layers;
pub mod rendered;
pub mod resilience;
pub mod routes;
pub mod state;
pub mod validation;
