//! [`MongoDatabase`]: the official MongoDB driver, with short server-selection timeouts so an
//! absent server is a quick 503, not a 30-second wait.

use std::time::Duration;

use mongodb::bson::doc;
use mongodb::options::{ClientOptions, Credential};
use serde_json::{Value, json};

use crate::config::MongoSettings;
use kit::clients::dependency::Dependency;
use kit::clients::lazy::Lazy;
use kit::clients::vault::{SecretSource, text_field};
use kit::error::{ApiError, ApiResult};

/// The MongoDB the example endpoint lists collections of; cheap to clone.
#[derive(Clone)]
pub struct MongoDatabase {
    settings: MongoSettings,
    secrets: SecretSource,
    dependency: Dependency,
    database: Lazy<mongodb::Database>,
}

impl MongoDatabase {
    /// Prepares the client; nothing connects until the first call.
    pub fn connect(settings: &MongoSettings, secrets: SecretSource, dependency: Dependency) -> Self {
        Self { settings: settings.clone(), secrets, dependency, database: Lazy::default() }
    }

    /// Collection names of the configured database.
    #[tracing::instrument(skip_all)]
    pub async fn collections(&self) -> ApiResult<Vec<String>> {
        let database = self.database.get_or_connect(|| self.new_database()).await?;
        self.dependency
            .call("list_collections", async {
                database
                    .list_collection_names()
                    .await
                    .map_err(|e| self.dependency.unavailable("list_collections", e.to_string()))
            })
            .await
    }

    /// Health: `ping` and the server version.
    #[tracing::instrument(skip_all)]
    pub async fn health(&self) -> ApiResult<Value> {
        let database = self.database.get_or_connect(|| self.new_database()).await?;
        self.dependency
            .call("ping", async {
                let info = database
                    .run_command(doc! { "buildInfo": 1 })
                    .await
                    .map_err(|e| self.dependency.unavailable("ping", e.to_string()))?;
                Ok(json!({ "version": info.get_str("version").unwrap_or("unknown") }))
            })
            .await
    }

    async fn new_database(&self) -> ApiResult<mongodb::Database> {
        let secret = self.secrets.secret("mongodb").await?;
        let url = self
            .settings
            .url
            .clone()
            .unwrap_or_else(|| format!("mongodb://{}:{}/", self.settings.host, self.settings.port));
        let mut options = self
            .dependency
            .call("parse_url", async {
                ClientOptions::parse(&url).await.map_err(|e| ApiError::Configuration(format!("MONGODB_URL: {e}")))
            })
            .await?;
        if options.credential.is_none() {
            options.credential = Some(
                Credential::builder()
                    .username(text_field(&secret, "user"))
                    .password(text_field(&secret, "password"))
                    .source(Some("admin".to_owned()))
                    .build(),
            );
        }
        options.server_selection_timeout = Some(Duration::from_millis(1_000));
        options.connect_timeout = Some(Duration::from_millis(1_000));
        options.app_name = Some("target-app".to_owned());
        let name = self
            .settings
            .database
            .clone()
            .or_else(|| text_field(&secret, "database"))
            .unwrap_or_else(|| "dev_database".to_owned());
        let client = mongodb::Client::with_options(options)
            .map_err(|e| ApiError::Configuration(format!("MongoDB client: {e}")))?;
        Ok(client.database(&name))
    }
}
