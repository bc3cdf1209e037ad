//! [`ShopSettings`] and [`load`], the only place the shop reads the environment.
//!
//! Vault, PostgreSQL, RabbitMQ, logging, the chaos API and the request timeout are the settings
//! every service shares ([`ServiceSettings`]: `VAULT_ADDR`, `POSTGRES_HOST`, `LOG_FORMAT`,
//! `REQUEST_TIMEOUT_MS`, ...); the shop adds its own below, read with the same [`Vars`]. Every
//! default matches `make services`, so `shop users` needs no environment at all.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use kit::config::{BreakerSettings, Rate, ServiceSettings, Vars};
use secrecy::SecretString;

use crate::role::Role;

/// Everything a shop service can be configured with.
#[derive(Clone, Debug)]
pub struct ShopSettings {
    /// What every service reads: listener, logs, Vault, PostgreSQL, RabbitMQ, the chaos API.
    pub base: ServiceSettings,
    /// `SHOP_HOST`: the address every service binds.
    pub host: IpAddr,
    /// `SHOP_<ROLE>_PORT`: 0 picks a free port (tests do this).
    pub ports: HashMap<Role, u16>,
    /// `<ROLE>_URL`: where each service is reached by the others.
    pub urls: HashMap<Role, String>,
    /// `SHOP_DATABASE`: the PostgreSQL database; each service owns one schema in it.
    pub database: String,
    /// `ORDER_EVENTS_QUEUE`: the durable queue `order.created` events go to.
    pub events_queue: String,
    /// `NOTIFICATIONS_PREFETCH`: unacknowledged deliveries the consumer holds at most.
    pub prefetch: u16,
    /// Calls from one service to another.
    pub upstream: UpstreamSettings,
    /// `GATEWAY_RATE_LIMIT`: requests per client IP, e.g. `6000/minute`.
    pub client_rate: Rate,
    /// `GATEWAY_MAX_CLIENTS`: clients the rate limiter tracks at once; more share one bucket.
    pub max_clients: usize,
    /// `JWT_TTL_S`: how long an issued token is valid.
    pub token_ttl: Duration,
    /// `SHOP_ADMIN_EMAIL`: the administrator the users service keeps.
    pub admin_email: String,
    /// `SHOP_ADMIN_PASSWORD`: their password; no administrator is kept without one.
    pub admin_password: Option<SecretString>,
    /// `ARGON2_MEMORY_KIB`: argon2id's memory cost (the OWASP minimum, 19 MiB, by default).
    pub argon2_memory_kib: u32,
}

/// How one service calls another.
#[derive(Clone, Debug)]
pub struct UpstreamSettings {
    /// `UPSTREAM_TIMEOUT_MS`: the whole budget of one call, retries included.
    pub timeout: Duration,
    /// `UPSTREAM_RETRIES`: extra attempts for idempotent calls (GET, PUT, DELETE).
    pub retries: u32,
    /// `UPSTREAM_BACKOFF_MS`: the first retry waits up to this long (full jitter, doubling).
    pub backoff: Duration,
    /// `UPSTREAM_BREAKER_FAILURES` / `UPSTREAM_BREAKER_RESET_S`: one breaker per upstream.
    pub breaker: BreakerSettings,
    /// `UPSTREAM_HEALTH_TIMEOUT_MS`: the gateway's per-service health check.
    pub health_timeout: Duration,
}

/// Reads the process environment.
pub fn load() -> anyhow::Result<ShopSettings> {
    from_vars(std::env::vars())
}

/// Builds settings from `(name, value)` pairs; [`load`] passes the environment.
pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<ShopSettings> {
    let vars = Vars::new(vars);
    let base = ServiceSettings::from_vars(&vars, "DevStack Core Reference API")?;
    let host: IpAddr = vars.parse("SHOP_HOST", "127.0.0.1")?;
    let mut ports = HashMap::new();
    let mut urls = HashMap::new();
    for role in Role::ALL {
        let port: u16 = vars.parse(&role.port_var(), &role.default_port().to_string())?;
        ports.insert(role, port);
        let url = vars.text(&role.url_var(), &format!("http://127.0.0.1:{}", role.default_port()));
        if !url.starts_with("http://") && !url.starts_with("https://") {
            anyhow::bail!("{}: {url:?} is not an http(s) URL", role.url_var());
        }
        urls.insert(role, url.trim_end_matches('/').to_owned());
    }
    let settings = ShopSettings {
        host,
        ports,
        urls,
        database: vars.text("SHOP_DATABASE", "shop"),
        events_queue: vars.text("ORDER_EVENTS_QUEUE", "shop.order.created"),
        prefetch: vars.parse("NOTIFICATIONS_PREFETCH", "32")?,
        upstream: UpstreamSettings {
            timeout: vars.millis("UPSTREAM_TIMEOUT_MS", 2000)?,
            retries: vars.parse("UPSTREAM_RETRIES", "2")?,
            backoff: vars.millis("UPSTREAM_BACKOFF_MS", 50)?,
            breaker: BreakerSettings {
                failure_threshold: vars.parse("UPSTREAM_BREAKER_FAILURES", "5")?,
                reset_timeout: Duration::from_secs_f64(vars.parse("UPSTREAM_BREAKER_RESET_S", "5")?),
            },
            health_timeout: vars.millis("UPSTREAM_HEALTH_TIMEOUT_MS", 1000)?,
        },
        client_rate: vars.parse("GATEWAY_RATE_LIMIT", "100000/minute")?,
        max_clients: vars.parse("GATEWAY_MAX_CLIENTS", "10000")?,
        token_ttl: Duration::from_secs(vars.parse("JWT_TTL_S", "3600")?),
        admin_email: vars.text("SHOP_ADMIN_EMAIL", "admin@shop.local"),
        admin_password: vars.get("SHOP_ADMIN_PASSWORD").map(|p| SecretString::from(p.to_owned())),
        argon2_memory_kib: vars.parse("ARGON2_MEMORY_KIB", "19456")?,
        base,
    };
    settings.validate()?;
    Ok(settings)
}

impl ShopSettings {
    /// Rejects values that parse but cannot work, naming the variable.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !self.database.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') || self.database.is_empty() {
            anyhow::bail!("SHOP_DATABASE: {:?} must be letters, digits and underscores", self.database);
        }
        if self.upstream.breaker.failure_threshold == 0 {
            anyhow::bail!("UPSTREAM_BREAKER_FAILURES must be at least 1");
        }
        if self.upstream.timeout.is_zero() {
            anyhow::bail!("UPSTREAM_TIMEOUT_MS must be above 0");
        }
        if self.upstream.retries > 5 {
            anyhow::bail!("UPSTREAM_RETRIES must be at most 5");
        }
        if self.max_clients == 0 {
            anyhow::bail!("GATEWAY_MAX_CLIENTS must be at least 1");
        }
        if self.prefetch == 0 {
            anyhow::bail!("NOTIFICATIONS_PREFETCH must be at least 1");
        }
        if self.argon2_memory_kib < 8 {
            anyhow::bail!("ARGON2_MEMORY_KIB must be at least 8");
        }
        Ok(())
    }

    /// The port `role` binds.
    pub fn port(&self, role: Role) -> u16 {
        self.ports[&role]
    }

    /// Where `role` is reached.
    pub fn url(&self, role: Role) -> &str {
        &self.urls[&role]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> anyhow::Result<ShopSettings> {
        from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn defaults_match_the_dev_stack_and_each_role_has_its_port() {
        let settings = settings(&[]).unwrap();
        assert_eq!(settings.port(Role::Gateway), 8100);
        assert_eq!(settings.url(Role::Products), "http://127.0.0.1:8102");
        assert_eq!(settings.database, "shop");
    }

    #[test]
    fn bad_values_name_their_variable() {
        let error = settings(&[("SHOP_ORDERS_PORT", "eighty")]).unwrap_err().to_string();
        assert!(error.contains("SHOP_ORDERS_PORT"), "{error}");
        let error = settings(&[("SHOP_DATABASE", "shop; drop")]).unwrap_err().to_string();
        assert!(error.contains("SHOP_DATABASE"), "{error}");
        let error = settings(&[("USERS_URL", "users:8101")]).unwrap_err().to_string();
        assert!(error.contains("USERS_URL"), "{error}");
        let error = settings(&[("GATEWAY_RATE_LIMIT", "lots")]).unwrap_err().to_string();
        assert!(error.contains("GATEWAY_RATE_LIMIT"), "{error}");
    }
}
