//! Integration tests: the real app on port 0 against the real dev stack (`make services`).

mod breakers;
mod cache;
mod chaos;
mod connections;
mod database;
mod faults;
mod health;
mod messaging;
mod rate_limit;
mod redis_cluster;
mod response_cache;
mod root;
mod support;
mod validation;
mod vault;
