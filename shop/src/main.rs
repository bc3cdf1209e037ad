//! `shop <role>`: one of the seed-001 shop's services. Loads settings, starts telemetry, builds
//! the service and serves until SIGTERM or Ctrl-C, draining in-flight requests.
//! `shop drop-database` removes the database a harness run created.

use clap::Parser;
use shop::config;
use shop::role::Role;
use target_app::telemetry;

/// One service of the shop (`shop orders`), or housekeeping (`shop drop-database`).
#[derive(Parser)]
#[command(version, about)]
enum Cli {
    /// Run one service.
    #[command(flatten)]
    Serve(Role),
    /// Drop SHOP_DATABASE (what `harness run` does after a shop scenario).
    DropDatabase,
    /// Check a running service on its configured port (`/health` answers 200: exit 0), for a
    /// container's health check.
    Health {
        /// The service.
        service: wire::ShopService,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = config::load()?;
    let _log_guard = telemetry::init(&settings.base.log);
    let role = match cli {
        Cli::Serve(role) => role,
        Cli::DropDatabase => return shop::server::drop_database(&settings).await,
        Cli::Health { service } => {
            let port = settings.port(Role::from(service));
            std::process::exit(if target_app::probe::healthy(port, "/health") { 0 } else { 1 });
        }
    };
    shop::server::build(role, settings).await?.run(shutdown_signal()).await
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => _ = signal.recv().await,
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
    tracing::info!("shutdown signal received, draining in-flight requests");
}
