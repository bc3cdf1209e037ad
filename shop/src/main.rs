//! `shop <role>`: one of the seed-001 shop's services. Loads settings, starts telemetry, builds
//! the service and serves until SIGTERM or Ctrl-C, draining in-flight requests.
//! `shop drop-database` removes the database a harness run created.

use clap::Parser;
use kit::{shutdown, telemetry};
use shop::config;
use shop::role::Role;

/// mimalloc, as target-app: a request allocates and frees dozens of small objects, and glibc's
/// malloc took about 5% of the services' core placing orders (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

fn main() -> anyhow::Result<()> {
    kit::runtime::build()?.block_on(run(Cli::parse()))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = config::load()?;
    let name = match &cli {
        Cli::Serve(role) => role.name(),
        _ => "shop",
    };
    let _telemetry = telemetry::init(&settings.base.log, name);
    let role = match cli {
        Cli::Serve(role) => role,
        Cli::DropDatabase => return shop::server::drop_database(&settings).await,
        Cli::Health { service } => {
            let port = settings.port(Role::from(service));
            std::process::exit(if kit::probe::healthy(port, "/health") { 0 } else { 1 });
        }
    };
    shop::server::build(role, settings).await?.run(shutdown::signal()).await
}
