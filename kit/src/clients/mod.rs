//! The [`dependency::Dependency`] guard every call to an external system goes through, the
//! [`lazy::Lazy`] first-use connection slot, and the clients every service may need: Vault and
//! RabbitMQ.

pub mod dependency;
pub mod lazy;
pub mod rabbit;
pub mod vault;
