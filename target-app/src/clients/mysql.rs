//! [`MysqlDatabase`]: a sqlx pool to MySQL/MariaDB, made on first use from Vault credentials.

use serde_json::{Value, json};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};

use crate::clients::dependency::Dependency;
use crate::clients::lazy::Lazy;
use crate::clients::vault::{SecretSource, text_field};
use crate::config::SqlSettings;
use crate::error::{ApiError, ApiResult};

/// The MySQL the example endpoints query; cheap to clone.
#[derive(Clone)]
pub struct MysqlDatabase {
    settings: SqlSettings,
    secrets: SecretSource,
    dependency: Dependency,
    pool: Lazy<MySqlPool>,
}

impl MysqlDatabase {
    /// Prepares the pool; nothing connects until the first query.
    pub fn connect(settings: &SqlSettings, secrets: SecretSource, dependency: Dependency) -> Self {
        Self { settings: settings.clone(), secrets, dependency, pool: Lazy::default() }
    }

    /// `SELECT NOW()`, the MySQL twin of the PostgreSQL example.
    #[tracing::instrument(skip_all)]
    pub async fn current_timestamp(&self) -> ApiResult<String> {
        self.query_text("SELECT CAST(NOW(6) AS CHAR)").await
    }

    /// Health: the server version string.
    #[tracing::instrument(skip_all)]
    pub async fn health(&self) -> ApiResult<Value> {
        let version = self.query_text("SELECT CAST(VERSION() AS CHAR)").await?;
        Ok(json!({ "version": version }))
    }

    async fn query_text(&self, sql: &'static str) -> ApiResult<String> {
        let pool = self.pool.get_or_connect(|| self.new_pool()).await?;
        let dependency = &self.dependency;
        dependency
            .call("query", async {
                let result = sqlx::query_scalar::<_, String>(sql).fetch_one(&pool).await;
                if result.is_err() {
                    self.pool.reset().await;
                }
                result.map_err(|e| dependency.unavailable("query", e.to_string()))
            })
            .await
    }

    async fn new_pool(&self) -> ApiResult<MySqlPool> {
        let secret = self.secrets.secret("mysql").await?;
        let field = |key: &str| {
            text_field(&secret, key)
                .ok_or_else(|| ApiError::Configuration(format!("Vault secret \"mysql\" lacks {key:?}")))
        };
        let database = self.settings.database.clone().map_or_else(|| field("database"), Ok)?;
        let options = MySqlConnectOptions::new()
            .host(&self.settings.host)
            .port(self.settings.port)
            .username(&field("user")?)
            .password(&field("password")?)
            .database(&database);
        Ok(MySqlPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(std::time::Duration::from_secs(2))
            .connect_lazy_with(options))
    }
}
