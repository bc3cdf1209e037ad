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
    /// The API gateway: forwards /api/*, aggregates health, limits clients.
    Gateway,
    /// Accounts and tokens.
    Users,
    /// The catalogue.
    Products,
    /// Stock and reservations.
    Inventory,
    /// Orders: validate, reserve, store, publish order.created.
    Orders,
    /// Consumes order.created and records notifications.
    Notifications,
    /// Drop SHOP_DATABASE (what `harness run` does after a shop scenario).
    DropDatabase,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = config::load()?;
    let _log_guard = telemetry::init(&settings.base.log);
    let role = match cli {
        Cli::Gateway => Role::Gateway,
        Cli::Users => Role::Users,
        Cli::Products => Role::Products,
        Cli::Inventory => Role::Inventory,
        Cli::Orders => Role::Orders,
        Cli::Notifications => Role::Notifications,
        Cli::DropDatabase => return shop::server::drop_database(&settings).await,
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
