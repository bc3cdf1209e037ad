//! The harness's integration tests, in one binary: each module drives the built `harness`
//! against the real dev stack (`make services`). Tests run side by side holding
//! [`common::shared`]; the few that pause part of the stack or need the cores to themselves hold
//! [`common::alone`].

// The guard orders whole tests, so async tests hold it across their awaits on purpose (each runs
// on its own runtime; no task of one test waits on another's).
#![allow(clippy::await_holding_lock)]

mod cli;
mod common;
mod distributed;
mod end_to_end;
mod fault_scenarios;
mod live;
mod proxy;
mod redis_failover;
mod shop_scenarios;
mod traces;
