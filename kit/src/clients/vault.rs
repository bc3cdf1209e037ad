//! [`SecretSource`]: reads KV v2 secrets from Vault, logging in with AppRole (files in
//! `VAULT_APPROLE_DIR`) and falling back to `VAULT_TOKEN`. One long-lived HTTP client; a new
//! login only when the token is refused.

use std::sync::Arc;

use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use tokio::sync::RwLock;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;

use crate::clients::dependency::Dependency;
use crate::config::VaultSettings;
use crate::error::{ApiError, ApiResult};

/// A secret's fields, as stored in Vault.
pub type Secret = Map<String, Value>;

/// Vault access for the whole app; cheap to clone.
#[derive(Clone)]
pub struct SecretSource {
    settings: VaultSettings,
    dependency: Dependency,
    /// Token-less client for logins, built once.
    anonymous: Arc<VaultClient>,
    /// Plain HTTP for `sys/health`: vaultrs 0.8 cannot parse OpenBao's answer (it requires
    /// `performance_standby`, which OpenBao omits).
    http: reqwest::Client,
    client: Arc<RwLock<Option<Arc<VaultClient>>>>,
}

impl SecretSource {
    /// Prepares the source; the first secret read logs in. Fails only on a malformed address.
    pub fn connect(settings: &VaultSettings, dependency: Dependency) -> anyhow::Result<Self> {
        let anonymous = Arc::new(new_client(&settings.addr, "")?);
        let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).build()?;
        Ok(Self { settings: settings.clone(), dependency, anonymous, http, client: Arc::default() })
    }

    /// Reads one secret. `ResourceNotFound` when it does not exist; a 503 when Vault is down.
    #[tracing::instrument(skip_all, fields(secret = name))]
    pub async fn secret(&self, name: &str) -> ApiResult<Secret> {
        self.dependency.call("read_secret", self.read(name)).await
    }

    /// The secret's field `key` as text, or a configuration error naming what is missing.
    pub async fn field(&self, name: &str, key: &str) -> ApiResult<String> {
        let secret = self.secret(name).await?;
        text_field(&secret, key)
            .ok_or_else(|| ApiError::Configuration(format!("Vault secret {name:?} has no field {key:?}")))
    }

    /// Vault's `sys/health`: initialised, sealed, standby, version.
    #[tracing::instrument(skip_all)]
    pub async fn health(&self) -> ApiResult<Value> {
        self.dependency
            .call("health", async {
                // Non-200 answers (sealed 503, standby 429) still carry the JSON body.
                let url = format!("{}/v1/sys/health", self.settings.addr.trim_end_matches('/'));
                let unavailable = |e: reqwest::Error| self.dependency.unavailable("health", e.to_string());
                let health: Value =
                    self.http.get(url).send().await.map_err(unavailable)?.json().await.map_err(unavailable)?;
                Ok(json!({
                    "initialized": health["initialized"],
                    "sealed": health["sealed"],
                    "standby": health["standby"],
                    "version": health["version"],
                }))
            })
            .await
    }

    async fn read(&self, name: &str) -> ApiResult<Secret> {
        let client = self.client(false).await?;
        match vaultrs::kv2::read::<Secret>(client.as_ref(), &self.settings.mount, name).await {
            Err(ClientError::APIError { code: 403, .. }) => {
                // The token expired or was revoked: log in again once.
                let client = self.client(true).await?;
                vaultrs::kv2::read::<Secret>(client.as_ref(), &self.settings.mount, name)
                    .await
                    .map_err(|e| self.read_error(name, &e))
            }
            other => other.map_err(|e| self.read_error(name, &e)),
        }
    }

    fn read_error(&self, name: &str, error: &ClientError) -> ApiError {
        match error {
            ClientError::APIError { code: 404, .. } => {
                let details = json!({ "resource_type": "secret", "resource_id": name, "secret_path": name });
                ApiError::ResourceNotFound { message: format!("Secret {name:?} not found in Vault"), details }
            }
            other => self.failure("read_secret", other),
        }
    }

    fn failure(&self, operation: &str, error: &ClientError) -> ApiError {
        tracing::warn!(error = %error, operation, "vault call failed");
        self.dependency.unavailable(operation, error.to_string())
    }

    async fn client(&self, relogin: bool) -> ApiResult<Arc<VaultClient>> {
        if !relogin && let Some(client) = self.client.read().await.as_ref() {
            return Ok(client.clone());
        }
        let mut slot = self.client.write().await;
        if let (false, Some(client)) = (relogin, slot.as_ref()) {
            return Ok(client.clone());
        }
        let token = self.login().await?;
        let client = Arc::new(new_client(&self.settings.addr, &token).map_err(ApiError::Internal)?);
        *slot = Some(client.clone());
        Ok(client)
    }

    /// AppRole first (as the seed documents), then the static token.
    async fn login(&self) -> ApiResult<String> {
        let dir = &self.settings.approle_dir;
        let role = tokio::fs::read_to_string(dir.join("role-id")).await;
        let secret = tokio::fs::read_to_string(dir.join("secret-id")).await;
        if let (Ok(role), Ok(secret)) = (role, secret) {
            match vaultrs::auth::approle::login(self.anonymous.as_ref(), "approle", role.trim(), secret.trim()).await {
                Ok(auth) => {
                    tracing::info!("authenticated to Vault with AppRole");
                    return Ok(auth.client_token);
                }
                Err(error) => tracing::warn!(%error, "AppRole login failed, falling back to VAULT_TOKEN"),
            }
        }
        match &self.settings.token {
            Some(token) => Ok(token.expose_secret().to_owned()),
            None => Err(self.dependency.unavailable("login", "AppRole login failed and VAULT_TOKEN is not set".into())),
        }
    }
}

fn new_client(addr: &str, token: &str) -> anyhow::Result<VaultClient> {
    let mut builder = VaultClientSettingsBuilder::default();
    builder.address(addr).token(token);
    let settings = builder.build().map_err(|e| anyhow::anyhow!("VAULT_ADDR={addr:?}: {e}"))?;
    Ok(VaultClient::new(settings)?)
}

/// A field as text whether Vault stored it as a string or a number.
pub fn text_field(secret: &Secret, key: &str) -> Option<String> {
    match secret.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}
