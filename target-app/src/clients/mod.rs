//! Clients for the systems only target-app calls, one file each: PostgreSQL and MySQL, MongoDB,
//! the Redis Cluster. Vault, RabbitMQ and the dependency guard are in [`kit::clients`].

pub mod mongo;
pub mod redis;
pub mod sql;
