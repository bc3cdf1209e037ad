//! [`SqlDatabase`]: a sqlx pool to PostgreSQL or MySQL/MariaDB, made on first use from Vault
//! credentials. The two differ only in their [`Dialect`].

use std::marker::PhantomData;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::pool::PoolOptions;
use sqlx::{Connection, Database, Executor, FromRow, IntoArguments, Pool};

use crate::config::SqlSettings;
use kit::clients::dependency::Dependency;
use kit::clients::lazy::Lazy;
use kit::clients::vault::{SecretSource, text_field};
use kit::error::{ApiError, ApiResult};

/// What differs between the SQL servers: the driver, the Vault secret, the SQL text.
pub trait Dialect: Send + Sync + 'static {
    /// The sqlx driver.
    type Db: Database;
    /// The Vault secret holding `user`, `password` and `database`.
    const SECRET: &'static str;
    /// The example endpoint's query, returning the server's current time as text.
    const TIMESTAMP_SQL: &'static str;
    /// The health check's query, returning the server version as text.
    const VERSION_SQL: &'static str;
    /// Connect options for the server at `settings` with these credentials.
    fn options(
        settings: &SqlSettings,
        user: &str,
        password: &str,
        database: &str,
    ) -> <<Self::Db as Database>::Connection as Connection>::Options;
}

/// PostgreSQL.
pub struct Postgres;

impl Dialect for Postgres {
    type Db = sqlx::Postgres;
    const SECRET: &'static str = "postgres";
    const TIMESTAMP_SQL: &'static str = "SELECT current_timestamp::text";
    const VERSION_SQL: &'static str = "SELECT version()";

    fn options(settings: &SqlSettings, user: &str, password: &str, database: &str) -> sqlx::postgres::PgConnectOptions {
        sqlx::postgres::PgConnectOptions::new()
            .host(&settings.host)
            .port(settings.port)
            .username(user)
            .password(password)
            .database(database)
            .application_name("target-app")
    }
}

/// MySQL and MariaDB.
pub struct MySql;

impl Dialect for MySql {
    type Db = sqlx::MySql;
    const SECRET: &'static str = "mysql";
    const TIMESTAMP_SQL: &'static str = "SELECT CAST(NOW(6) AS CHAR)";
    const VERSION_SQL: &'static str = "SELECT CAST(VERSION() AS CHAR)";

    fn options(settings: &SqlSettings, user: &str, password: &str, database: &str) -> sqlx::mysql::MySqlConnectOptions {
        sqlx::mysql::MySqlConnectOptions::new()
            .host(&settings.host)
            .port(settings.port)
            .username(user)
            .password(password)
            .database(database)
    }
}

/// The PostgreSQL the example endpoints query.
pub type PostgresDatabase = SqlDatabase<Postgres>;
/// The MySQL the example endpoints query.
pub type MysqlDatabase = SqlDatabase<MySql>;

/// A SQL server the example endpoints query.
pub struct SqlDatabase<D: Dialect> {
    settings: SqlSettings,
    secrets: SecretSource,
    dependency: Dependency,
    pool: Lazy<Pool<D::Db>>,
    dialect: PhantomData<D>,
}

impl<D: Dialect> SqlDatabase<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    (String,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
{
    /// Prepares the pool; nothing connects until the first query.
    pub fn connect(settings: &SqlSettings, secrets: SecretSource, dependency: Dependency) -> Self {
        Self { settings: settings.clone(), secrets, dependency, pool: Lazy::default(), dialect: PhantomData }
    }

    /// The server's current time, as the seed's example endpoint reports it.
    #[tracing::instrument(skip_all, fields(database = D::SECRET))]
    pub async fn current_timestamp(&self) -> ApiResult<String> {
        self.query_text(D::TIMESTAMP_SQL).await
    }

    /// Health: the server version string.
    #[tracing::instrument(skip_all, fields(database = D::SECRET))]
    pub async fn health(&self) -> ApiResult<Value> {
        let version = self.query_text(D::VERSION_SQL).await?;
        Ok(json!({ "version": version }))
    }

    async fn query_text(&self, sql: &'static str) -> ApiResult<String> {
        let pool = self.pool.get_or_connect(|| self.new_pool()).await?;
        let dependency = &self.dependency;
        dependency
            .call("query", async {
                let result = sqlx::query_scalar::<_, String>(sql).fetch_one(&pool).await;
                if result.is_err() {
                    // Reconnect next time, with credentials read from Vault again.
                    self.pool.reset().await;
                }
                result.map_err(|e| dependency.unavailable("query", e.to_string()))
            })
            .await
    }

    async fn new_pool(&self) -> ApiResult<Pool<D::Db>> {
        let secret = self.secrets.secret(D::SECRET).await?;
        let field = |key: &str| {
            text_field(&secret, key)
                .ok_or_else(|| ApiError::Configuration(format!("Vault secret {:?} lacks {key:?}", D::SECRET)))
        };
        let database = self.settings.database.clone().map_or_else(|| field("database"), Ok)?;
        let options = D::options(&self.settings, &field("user")?, &field("password")?, &database);
        Ok(PoolOptions::<D::Db>::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(2))
            .connect_lazy_with(options))
    }
}
