//! The e-commerce microservices of seed 001: a gateway and five services that call each other
//! through breakers, the multi-service target where one slow service cascades into the others.
//!
//! Start at [`server::build`]: it picks a [`role::Role`]'s router from [`services`] and wraps it
//! in the steps every service runs (`kit::layers::pipeline`). Calls between services go through [`upstream`]; customers' tokens are [`auth`]'s,
//! the services' own [`service_token`]'s;
//! PostgreSQL is [`store`]'s and RabbitMQ [`events`]'.

pub mod auth;
pub mod config;
pub mod events;
pub mod role;
pub mod server;
pub mod service_token;
pub mod services;
pub mod store;
pub mod upstream;
