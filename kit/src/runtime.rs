//! The tokio runtime a service runs on. By default tokio's multi-threaded one (a worker per core
//! the process may use; `TOKIO_WORKER_THREADS` sets how many); `TOKIO_RUNTIME=current_thread`
//! runs everything on the thread that started it, for a server pinned to one core.

use anyhow::{Context, bail};

/// The runtime `TOKIO_RUNTIME` asks for (`multi_thread`, the default, or `current_thread`).
pub fn build() -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = match std::env::var("TOKIO_RUNTIME").as_deref().map(str::trim) {
        Err(_) | Ok("" | "multi_thread") => tokio::runtime::Builder::new_multi_thread(),
        Ok("current_thread") => tokio::runtime::Builder::new_current_thread(),
        Ok(other) => bail!("TOKIO_RUNTIME={other}: expected multi_thread or current_thread"),
    };
    builder.enable_all().build().context("starting the tokio runtime")
}
