//! The [`Settings`] tree and [`load`], the only place that reads the environment.
//!
//! Every default matches the native dev stack that `make services` starts, so a bare
//! `cargo run -p target-app` needs no environment at all.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

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

/// Listener, identity and debug switches.
#[derive(Clone, Debug)]
pub struct AppSettings {
    /// `APP_NAME`.
    pub name: String,
    /// `HOST`: the address to bind.
    pub host: IpAddr,
    /// `PORT`: 0 picks a free port (tests do this).
    pub port: u16,
    /// `DEBUG`: permissive CORS, error causes in 5xx bodies.
    pub debug: bool,
    /// `ENVIRONMENT`: reported by `/api/info`.
    pub environment: String,
    /// `CORS_ORIGINS`: allowed origins when not in debug mode.
    pub cors_origins: Vec<String>,
    /// `REQUEST_TIMEOUT_MS`: upper bound for any request (504 beyond it).
    pub request_timeout: Duration,
    /// `MAX_BODY_BYTES`: larger bodies get 413.
    pub max_body_bytes: usize,
    /// `HEADER_READ_TIMEOUT_MS`: a connection whose request head has not arrived within this is
    /// closed, and so is a keep-alive connection idle this long (a slow client cannot hold one);
    /// 0 turns the bound off (for measuring its cost, not for serving).
    pub header_read_timeout: Duration,
    /// `MAX_HEADER_BYTES`: a larger request head (request line and headers) gets 431.
    pub max_header_bytes: usize,
    /// `BEHIND_TLS`: the deployment serves clients over TLS, so responses carry
    /// `Strict-Transport-Security`.
    pub behind_tls: bool,
    /// `SECURITY_HEADERS`: send the security headers (off where a gateway in front adds its
    /// own, so answers do not carry two).
    pub security_headers: bool,
}

/// Log format and optional rotating file.
#[derive(Clone, Debug)]
pub struct LogSettings {
    /// `LOG_FORMAT=json` for JSON lines, anything else for human-readable text.
    pub json: bool,
    /// `LOG_FILE`: also write JSON lines to this file, rotated daily.
    pub file: Option<PathBuf>,
}

/// Vault address and credentials.
#[derive(Clone, Debug)]
pub struct VaultSettings {
    /// `VAULT_ADDR`.
    pub addr: String,
    /// `VAULT_APPROLE_DIR`: holds `role-id` and `secret-id`; preferred over the token.
    pub approle_dir: PathBuf,
    /// `VAULT_TOKEN`: fallback when AppRole login is not possible.
    pub token: Option<SecretString>,
    /// `VAULT_MOUNT`: the KV v2 mount.
    pub mount: String,
}

/// Address of a SQL server; credentials come from Vault.
#[derive(Clone, Debug)]
pub struct SqlSettings {
    /// `POSTGRES_HOST` / `MYSQL_HOST`.
    pub host: String,
    /// `POSTGRES_PORT` / `MYSQL_PORT`.
    pub port: u16,
    /// `POSTGRES_DATABASE` / `MYSQL_DATABASE`: overrides the database named in Vault.
    pub database: Option<String>,
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

/// RabbitMQ address; credentials and vhost come from Vault.
#[derive(Clone, Debug)]
pub struct RabbitSettings {
    /// `RABBITMQ_HOST`.
    pub host: String,
    /// `RABBITMQ_PORT`.
    pub port: u16,
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

/// A limit such as `100/minute`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests allowed per window.
    pub limit: u64,
    /// Window length.
    pub window: Duration,
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (count, unit) =
            text.split_once('/').ok_or_else(|| format!("expected N/second|minute|hour, got {text:?}"))?;
        let limit: u64 = count.trim().parse().map_err(|_| format!("{count:?} is not a whole number"))?;
        if limit == 0 {
            return Err("the limit must be at least 1".into());
        }
        let seconds = match unit.trim() {
            "second" | "s" => 1,
            "minute" | "m" => 60,
            "hour" | "h" => 3600,
            other => return Err(format!("unknown unit {other:?}, expected second|minute|hour")),
        };
        Ok(Self { limit, window: Duration::from_secs(seconds) })
    }
}

impl std::fmt::Display for Rate {
    /// The form it is configured in, e.g. `100/minute`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.window.as_secs() {
            1 => "second",
            60 => "minute",
            _ => "hour",
        };
        write!(f, "{}/{unit}", self.limit)
    }
}

/// Circuit breaker thresholds, shared by every dependency.
#[derive(Clone, Debug)]
pub struct BreakerSettings {
    /// `CIRCUIT_BREAKER_FAILURE_THRESHOLD`: consecutive failures that open a breaker.
    pub failure_threshold: u32,
    /// `CIRCUIT_BREAKER_RESET_TIMEOUT` (seconds): how long a breaker stays open.
    pub reset_timeout: Duration,
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

/// The `/chaos/*` control API.
#[derive(Clone, Debug)]
pub struct ChaosSettings {
    /// `CHAOS_ENABLED`.
    pub enabled: bool,
    /// `CHAOS_TOKEN`: the bearer token every `/chaos` call must carry.
    pub token: Option<SecretString>,
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
    let vars = Vars(vars.into_iter().filter(|(_, v)| !v.is_empty()).collect());
    let default_cache_routes = "/health/all=30,/examples/vault/secret/{service_name}=300,\
                                /examples/vault/secret/{service_name}/{key}=300";
    let settings = Settings {
        app: AppSettings {
            name: vars.text("APP_NAME", "DevStack Core Reference API"),
            host: vars.parse("HOST", "127.0.0.1")?,
            port: vars.parse("PORT", "8000")?,
            debug: vars.flag("DEBUG", false)?,
            environment: vars.text("ENVIRONMENT", "development"),
            cors_origins: vars
                .list("CORS_ORIGINS", "http://localhost:3000,http://localhost:8000,http://localhost:8080"),
            request_timeout: vars.millis("REQUEST_TIMEOUT_MS", 30_000)?,
            max_body_bytes: vars.parse("MAX_BODY_BYTES", "10485760")?,
            header_read_timeout: vars.millis("HEADER_READ_TIMEOUT_MS", 10_000)?,
            max_header_bytes: vars.parse("MAX_HEADER_BYTES", "16384")?,
            behind_tls: vars.flag("BEHIND_TLS", false)?,
            security_headers: vars.flag("SECURITY_HEADERS", true)?,
        },
        log: LogSettings {
            json: vars.text("LOG_FORMAT", "json") == "json",
            file: vars.get("LOG_FILE").map(PathBuf::from),
        },
        vault: VaultSettings {
            addr: vars.text("VAULT_ADDR", "http://127.0.0.1:8200"),
            approle_dir: PathBuf::from(vars.text("VAULT_APPROLE_DIR", ".services/approles/reference-api")),
            token: vars.get("VAULT_TOKEN").map(|t| SecretString::from(t.to_owned())),
            mount: vars.text("VAULT_MOUNT", "secret"),
        },
        postgres: SqlSettings {
            host: vars.text("POSTGRES_HOST", "127.0.0.1"),
            port: vars.parse("POSTGRES_PORT", "5432")?,
            database: vars.get("POSTGRES_DATABASE").map(str::to_owned),
        },
        mysql: SqlSettings {
            host: vars.text("MYSQL_HOST", "127.0.0.1"),
            port: vars.parse("MYSQL_PORT", "3306")?,
            database: vars.get("MYSQL_DATABASE").map(str::to_owned),
        },
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
        rabbitmq: RabbitSettings {
            host: vars.text("RABBITMQ_HOST", "127.0.0.1"),
            port: vars.parse("RABBITMQ_PORT", "5672")?,
        },
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
        chaos: ChaosSettings {
            enabled: vars.flag("CHAOS_ENABLED", false)?,
            token: vars.get("CHAOS_TOKEN").map(|t| SecretString::from(t.to_owned())),
        },
        dependencies: DependencySettings {
            timeout: vars.millis("DEPENDENCY_TIMEOUT_MS", 2_000)?,
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
        if self.app.max_header_bytes < 1024 {
            anyhow::bail!("MAX_HEADER_BYTES must be at least 1024");
        }
        if self.chaos.enabled && self.chaos.token.is_none() {
            anyhow::bail!("CHAOS_TOKEN must be set when CHAOS_ENABLED=true");
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

/// Environment lookups with defaults and errors that name the key.
struct Vars(HashMap<String, String>);

impl Vars {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn text(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or(default).to_owned()
    }

    fn parse<T: FromStr>(&self, key: &str, default: &str) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        let raw = self.get(key).unwrap_or(default);
        raw.trim().parse().map_err(|e| anyhow::anyhow!("{key}={raw:?} is invalid: {e}"))
    }

    fn flag(&self, key: &str, default: bool) -> anyhow::Result<bool> {
        match self.get(key).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some("0" | "false" | "no" | "off") => Ok(false),
            Some(other) => anyhow::bail!("{key}={other:?} is invalid: expected true or false"),
        }
    }

    fn millis(&self, key: &str, default: u64) -> anyhow::Result<Duration> {
        Ok(Duration::from_millis(self.parse(key, &default.to_string())?))
    }

    fn list(&self, key: &str, default: &str) -> Vec<String> {
        self.get(key)
            .unwrap_or(default)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
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
    fn rate_parses_each_unit_and_rejects_garbage() {
        assert_eq!("5/second".parse::<Rate>().unwrap().window, Duration::from_secs(1));
        assert_eq!("7/hour".parse::<Rate>().unwrap().limit, 7);
        assert!("ten/minute".parse::<Rate>().is_err());
        assert!("10/fortnight".parse::<Rate>().is_err());
        assert!("0/minute".parse::<Rate>().is_err());
    }

    #[test]
    fn rate_displays_as_configured() {
        for text in ["5/second", "100/minute", "7/hour"] {
            assert_eq!(text.parse::<Rate>().unwrap().to_string(), text);
        }
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
