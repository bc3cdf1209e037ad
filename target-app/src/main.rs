//! `target-app`: load settings, start telemetry, build the app, serve until SIGTERM or Ctrl-C.
//! `target-app health` checks a running one on the configured port (`/health/live` answers 200:
//! exit 0), for a container's health check.

use target_app::{app::App, config, telemetry};

/// mimalloc instead of glibc's malloc: a request allocates and frees dozens of small objects,
/// and glibc spent 7% of `/health/`'s CPU on them (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = config::load()?;
    if std::env::args().nth(1).as_deref() == Some("health") {
        std::process::exit(if target_app::probe::healthy(settings.app.port, "/health/live") { 0 } else { 1 });
    }
    let _log_guard = telemetry::init(&settings.log);
    App::build(settings).await?.run(shutdown_signal()).await
}

/// Resolves on SIGTERM or Ctrl-C; axum then stops accepting and drains in-flight requests.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => _ = signal.recv().await,
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
    tracing::info!("shutdown signal received, draining in-flight requests");
}
