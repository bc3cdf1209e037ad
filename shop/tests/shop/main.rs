//! The shop's integration tests: every service runs in this process on port 0 against the real
//! PostgreSQL, RabbitMQ and OpenBao that `make services` starts, with a database and queue of its
//! own per test. One file per service.

mod auth;
mod chaos;
mod gateway;
mod inventory;
mod notifications;
mod orders;
mod products;
mod support;
mod users;
