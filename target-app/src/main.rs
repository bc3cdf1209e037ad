//! `target-app`: load settings, start telemetry, build the app, serve until SIGTERM or Ctrl-C.
//! `target-app health` checks a running one on the configured port (`/health/live` answers 200:
//! exit 0), for a container's health check.

use kit::{shutdown, telemetry};
use target_app::{app::App, config};

/// mimalloc instead of glibc's malloc: a request allocates and frees dozens of small objects,
/// and glibc spent 7% of `/health/`'s CPU on them (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    kit::runtime::build()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let settings = config::load()?;
    if std::env::args().nth(1).as_deref() == Some("health") {
        std::process::exit(if kit::probe::healthy(settings.app.port, "/health/live") { 0 } else { 1 });
    }
    let _telemetry = telemetry::init(&settings.log, "target-app");
    App::build(settings).await?.run(shutdown::signal()).await
}
