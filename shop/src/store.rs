//! [`Store`]: a service's PostgreSQL pool, in its own schema of the shop database, with its sqlx
//! migrations applied. Credentials come from Vault's `postgres` secret, as target-app's do.

use std::time::Duration;

use kit::clients::vault::SecretSource;
use kit::error::ApiError;
use serde_json::json;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

use crate::config::ShopSettings;
use crate::role::Role;

static USERS: Migrator = sqlx::migrate!("./migrations/users");
static PRODUCTS: Migrator = sqlx::migrate!("./migrations/products");
static INVENTORY: Migrator = sqlx::migrate!("./migrations/inventory");
static ORDERS: Migrator = sqlx::migrate!("./migrations/orders");
static NOTIFICATIONS: Migrator = sqlx::migrate!("./migrations/notifications");

/// Most connections one service holds.
const POOL_SIZE: u32 = 16;

/// Longest a request waits for a pooled connection before answering 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// A service's database handle; cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// The pool; every connection's `search_path` is the service's schema.
    pub pool: PgPool,
}

impl Store {
    /// Creates the database and `role`'s schema when missing, migrates it and opens the pool.
    pub async fn connect(settings: &ShopSettings, secrets: &SecretSource, role: Role) -> anyhow::Result<Self> {
        let migrator = match role {
            Role::Users => &USERS,
            Role::Products => &PRODUCTS,
            Role::Inventory => &INVENTORY,
            Role::Orders => &ORDERS,
            Role::Notifications => &NOTIFICATIONS,
            Role::Gateway => anyhow::bail!("the gateway has no database"),
        };
        let (server, admin_database) = server_options(settings, secrets).await?;
        let options = server.application_name(&format!("shop-{role}"));
        ensure_database(options.clone().database(&admin_database), &settings.database).await?;
        let schema = role.name();
        let mut first = sqlx::PgConnection::connect_with(&options.clone().database(&settings.database)).await?;
        // Two services starting at once may both try; the loser's error is harmless.
        if let Err(error) =
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS {schema}"))).execute(&mut first).await
        {
            tracing::debug!(%error, "schema created concurrently");
        }
        first.close().await?;
        let options = options.database(&settings.database).options([("search_path", schema)]);
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        migrator.run(&pool).await?;
        Ok(Self { pool })
    }
}

/// The server's address (settings) and credentials (Vault's `postgres` secret), and the database
/// that secret names, to connect to while the shop's own may not exist yet.
async fn server_options(settings: &ShopSettings, secrets: &SecretSource) -> anyhow::Result<(PgConnectOptions, String)> {
    let secret = secrets.secret("postgres").await.map_err(|e| anyhow::anyhow!("reading Vault secret postgres: {e}"))?;
    let field = |key: &str| secret.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let postgres = &settings.base.postgres;
    let options = PgConnectOptions::new()
        .host(&postgres.host)
        .port(postgres.port)
        .username(&field("user"))
        .password(&field("password"));
    Ok((options, field("database")))
}

/// Creates `name` unless it exists; a concurrent creator winning the race is fine.
async fn ensure_database(admin: PgConnectOptions, name: &str) -> anyhow::Result<()> {
    let mut connection = sqlx::PgConnection::connect_with(&admin).await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut connection)
        .await?;
    if !exists {
        // The name was checked to be letters, digits and underscores (ShopSettings::validate).
        if let Err(error) =
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut connection).await
        {
            let raced = error.as_database_error().and_then(|e| e.code()).is_some_and(|c| c == "42P04" || c == "23505");
            if !raced {
                return Err(error.into());
            }
        }
    }
    connection.close().await?;
    Ok(())
}

/// Drops the shop database: what a harness run created, removed after it.
pub async fn drop_database(settings: &ShopSettings, secrets: &SecretSource) -> anyhow::Result<()> {
    let (server, admin_database) = server_options(settings, secrets).await?;
    let mut connection = sqlx::PgConnection::connect_with(&server.database(&admin_database)).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", settings.database)))
        .execute(&mut connection)
        .await?;
    connection.close().await?;
    Ok(())
}

/// A driver error as the client sees it: an outage is the documented 503, anything else a 500
/// whose cause is logged, not shown.
pub fn db_error(error: sqlx::Error) -> ApiError {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolClosed => {
            ApiError::DatabaseConnection { database: "PostgreSQL", details: json!({ "reason": error.to_string() }) }
        }
        other => ApiError::Internal(anyhow::Error::new(other).context("PostgreSQL query")),
    }
}

/// `query` as a `postgres <operation>` span of the request's trace.
pub fn traced<F: Future>(operation: &'static str, query: F) -> tracing::instrument::Instrumented<F> {
    tracing::Instrument::instrument(query, kit::trace::client_span("postgres", operation))
}

/// Whether `error` is a unique-constraint violation.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    error.as_database_error().is_some_and(|e| e.is_unique_violation())
}
