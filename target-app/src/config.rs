//! The [`Settings`] tree and [`load`], the only place that reads the environment.
//!
//! Every default matches the native dev stack that `make services` starts, so a bare
//! `cargo run -p target-app` needs no environment at all.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use kit::config::Vars;
pub use kit::config::{
    AppSettings, BreakerSettings, ChaosSettings, LogSettings, RabbitSettings, Rate, SqlSettings, VaultSettings,
};

/// Everything the app can be configured with, one section per dependency or concern.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Listener, identity and debug switches.
    pub app: AppSettings,
    /// Log format and optional rotating file.
    pub log: LogSettings,
    /// Vault (or OpenBao) address and credentials.
    pub vault: VaultSettings,
    /// PostgreSQL address (credentials come from Vault).
    pub postgres: SqlSettings,
    /// MySQL/MariaDB address (credentials come from Vault).
    pub mysql: SqlSettings,
    /// MongoDB address (credentials come from Vault).
    pub mongodb: MongoSettings,
    /// Redis Cluster nodes and key namespace.
    pub redis: RedisSettings,
    /// RabbitMQ address (credentials and vhost come from Vault).
    pub rabbitmq: RabbitSettings,
    /// Per-IP rate limits.
    pub rate_limit: RateLimitSettings,
    /// Per-dependency circuit breakers.
    pub breaker: BreakerSettings,
    /// Redis-backed response caching.
    pub response_cache: ResponseCacheSettings,
    /// The `/demo/*` fault injectors and their caps.
    pub faults: FaultSettings,
    /// The `/chaos/*` control API.
    pub chaos: ChaosSettings,
    /// Timeouts and readiness rules for dependency calls.
    pub dependencies: DependencySettings,
}

/// MongoDB address; credentials come from Vault.
#[derive(Clone, Debug)]
pub struct MongoSettings {
    /// `MONGODB_HOST`.
    pub host: String,
    /// `MONGODB_PORT`.
    pub port: u16,
    /// `MONGODB_URL`: a full connection string; used as is (Vault credentials are added when
    /// it carries none).
    pub url: Option<String>,
    /// `MONGODB_DATABASE`: overrides the database named in Vault.
    pub database: Option<String>,
}

/// Redis Cluster nodes and key namespace.
#[derive(Clone, Debug)]
pub struct RedisSettings {
    /// `REDIS_NODES`: the masters, in order; `redis-1`..`redis-N` name them.
    pub nodes: Vec<(String, u16)>,
    /// `REDIS_KEY_PREFIX`: namespace for every key the app writes.
    pub key_prefix: String,
}

/// Per-IP rate limits, one per endpoint class.
#[derive(Clone, Debug)]
pub struct RateLimitSettings {
    /// `RATE_LIMIT_ENABLED`.
    pub enabled: bool,
    /// `RATE_LIMIT_DEFAULT`: every route that is not health or metrics.
    pub default: Rate,
    /// `RATE_LIMIT_HEALTH`: `/health/*`.
    pub health: Rate,
    /// `RATE_LIMIT_METRICS`: `/metrics`.
    pub metrics: Rate,
    /// `TRUSTED_PROXIES`: peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
}

/// Redis-backed response caching.
#[derive(Clone, Debug)]
pub struct ResponseCacheSettings {
    /// `RESPONSE_CACHE_ENABLED`.
    pub enabled: bool,
    /// `RESPONSE_CACHE_ROUTES`: `template=seconds` pairs, comma-separated.
    pub routes: HashMap<String, Duration>,
}

/// The `/demo/*` fault injectors.
#[derive(Clone, Debug)]
pub struct FaultSettings {
    /// `DEMO_ENABLED`: merge the `/demo/*` routes at all.
    pub enabled: bool,
    /// `DEMO_MAX_DELAY_MS`: cap for `/demo/slow` and for `hold_ms`.
    pub max_delay_ms: u64,
    /// `DEMO_MAX_CPU_MS`: cap for `/demo/cpu`.
    pub max_cpu_ms: u64,
    /// `DEMO_MAX_MEMORY_MB`: cap for `/demo/memory`, across all concurrent calls.
    pub max_memory_mb: u64,
    /// `DEMO_MAX_CPU_BURNERS`: how many `/demo/cpu` calls may burn at once.
    pub max_cpu_burners: u64,
}

/// Timeouts and readiness rules for dependency calls.
#[derive(Clone, Debug)]
pub struct DependencySettings {
    /// `DEPENDENCY_TIMEOUT_MS`: bound on any single dependency call.
    pub timeout: Duration,
    /// `HEALTH_CHECK_TIMEOUT_MS`: bound on each check of `/health/all`.
    pub health_timeout: Duration,
    /// `READY_DEPENDENCIES`: dependencies whose outage makes `/health/ready` answer 503.
    pub ready: Vec<String>,
    /// `WARM_UP`: connect Redis, the SQL pools and RabbitMQ in the background at start.
    pub warm_up: bool,
}

/// Reads the settings from the process environment.
pub fn load() -> anyhow::Result<Settings> {
    from_vars(std::env::vars())
}

/// Builds settings from `(name, value)` pairs; [`load`] passes the environment.
pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Settings> {
    let vars = Vars::new(vars);
    let default_cache_routes = "/health/all=30,/examples/vault/secret/{service_name}=300,\
                                /examples/vault/secret/{service_name}/{key}=300";
    let settings = Settings {
        app: AppSettings::from_vars(&vars, "DevStack Core Reference API")?,
        log: LogSettings::from_vars(&vars),
        vault: VaultSettings::from_vars(&vars),
        postgres: SqlSettings::from_vars(&vars, "POSTGRES", 5432)?,
        mysql: SqlSettings::from_vars(&vars, "MYSQL", 3306)?,
        mongodb: MongoSettings {
            host: vars.text("MONGODB_HOST", "127.0.0.1"),
            port: vars.parse("MONGODB_PORT", "27017")?,
            url: vars.get("MONGODB_URL").map(str::to_owned),
            database: vars.get("MONGODB_DATABASE").map(str::to_owned),
        },
        redis: RedisSettings {
            nodes: vars
                .list("REDIS_NODES", "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003")
                .iter()
                .map(|node| parse_host_port(node))
                .collect::<Result<_, _>>()
                .map_err(|e| anyhow::anyhow!("REDIS_NODES: {e}"))?,
            key_prefix: vars.text("REDIS_KEY_PREFIX", "devstack:"),
        },
        rabbitmq: RabbitSettings::from_vars(&vars)?,
        rate_limit: RateLimitSettings {
            enabled: vars.flag("RATE_LIMIT_ENABLED", true)?,
            default: vars.parse("RATE_LIMIT_DEFAULT", "100/minute")?,
            health: vars.parse("RATE_LIMIT_HEALTH", "200/minute")?,
            metrics: vars.parse("RATE_LIMIT_METRICS", "1000/minute")?,
            trusted_proxies: vars
                .list("TRUSTED_PROXIES", "")
                .iter()
                .map(|ip| ip.parse().map_err(|_| anyhow::anyhow!("TRUSTED_PROXIES: {ip:?} is not an IP address")))
                .collect::<anyhow::Result<_>>()?,
        },
        breaker: BreakerSettings {
            failure_threshold: vars.parse("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "5")?,
            reset_timeout: Duration::from_secs_f64(vars.parse("CIRCUIT_BREAKER_RESET_TIMEOUT", "60")?),
        },
        response_cache: ResponseCacheSettings {
            enabled: vars.flag("RESPONSE_CACHE_ENABLED", true)?,
            routes: vars
                .list("RESPONSE_CACHE_ROUTES", default_cache_routes)
                .iter()
                .map(|pair| parse_route_ttl(pair))
                .collect::<Result<_, _>>()
                .map_err(|e| anyhow::anyhow!("RESPONSE_CACHE_ROUTES: {e}"))?,
        },
        faults: FaultSettings {
            enabled: vars.flag("DEMO_ENABLED", true)?,
            max_delay_ms: vars.parse("DEMO_MAX_DELAY_MS", "30000")?,
            max_cpu_ms: vars.parse("DEMO_MAX_CPU_MS", "10000")?,
            max_memory_mb: vars.parse("DEMO_MAX_MEMORY_MB", "1024")?,
            max_cpu_burners: vars.parse("DEMO_MAX_CPU_BURNERS", "2")?,
        },
        chaos: ChaosSettings::from_vars(&vars)?,
        dependencies: DependencySettings {
            timeout: kit::config::dependency_timeout(&vars)?,
            health_timeout: vars.millis("HEALTH_CHECK_TIMEOUT_MS", 2_000)?,
            ready: vars.list("READY_DEPENDENCIES", "vault,postgres,mysql,redis,rabbitmq"),
            warm_up: vars.flag("WARM_UP", true)?,
        },
    };
    settings.validate()?;
    Ok(settings)
}

impl Settings {
    /// Rejects combinations that parse but cannot work, naming the key at fault.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.breaker.failure_threshold == 0 {
            anyhow::bail!("CIRCUIT_BREAKER_FAILURE_THRESHOLD must be at least 1");
        }
        if self.redis.nodes.is_empty() {
            anyhow::bail!("REDIS_NODES must name at least one node");
        }
        for name in &self.dependencies.ready {
            name.parse::<wire::Dependency>().map_err(|e| anyhow::anyhow!("READY_DEPENDENCIES: {e}"))?;
        }
        Ok(())
    }
}

fn parse_host_port(node: &str) -> Result<(String, u16), String> {
    let (host, port) = node.rsplit_once(':').ok_or_else(|| format!("{node:?} is not host:port"))?;
    let port = port.parse().map_err(|_| format!("{node:?} has a bad port"))?;
    Ok((host.to_owned(), port))
}

fn parse_route_ttl(pair: &str) -> Result<(String, Duration), String> {
    let (route, seconds) = pair.split_once('=').ok_or_else(|| format!("{pair:?} is not route=seconds"))?;
    let seconds: u64 = seconds.parse().map_err(|_| format!("{pair:?} has a bad TTL"))?;
    Ok((route.to_owned(), Duration::from_secs(seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_match_the_native_dev_stack() {
        let settings = from_vars(vars(&[])).unwrap();
        assert_eq!(settings.app.port, 8000);
        assert_eq!(settings.redis.nodes[0], ("127.0.0.1".to_string(), 7001));
        assert_eq!(settings.rate_limit.default, Rate { limit: 100, window: Duration::from_secs(60) });
        assert_eq!(settings.breaker.failure_threshold, 5);
        assert_eq!(settings.response_cache.routes["/health/all"], Duration::from_secs(30));
    }

    #[test]
    fn bad_value_names_the_key() {
        let err = from_vars(vars(&[("PORT", "eighty")])).unwrap_err().to_string();
        assert!(err.contains("PORT"), "{err}");
        let err = from_vars(vars(&[("RATE_LIMIT_HEALTH", "1/year")])).unwrap_err().to_string();
        assert!(err.contains("RATE_LIMIT_HEALTH"), "{err}");
    }

    #[test]
    fn chaos_without_token_is_rejected() {
        let err = from_vars(vars(&[("CHAOS_ENABLED", "true")])).unwrap_err().to_string();
        assert!(err.contains("CHAOS_TOKEN"), "{err}");
    }

    #[test]
    fn unknown_ready_dependency_is_rejected() {
        let err = from_vars(vars(&[("READY_DEPENDENCIES", "postgres,oracle")])).unwrap_err().to_string();
        assert!(err.contains("oracle"), "{err}");
    }
}
