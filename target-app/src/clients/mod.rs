//! Clients for the six external systems, one file each, plus the [`dependency::Dependency`]
//! guard every call goes through and the [`lazy::Lazy`] first-use connection slot.

pub mod dependency;
pub mod lazy;
pub mod mongo;
pub mod rabbit;
pub mod redis;
pub mod sql;
pub mod vault;
