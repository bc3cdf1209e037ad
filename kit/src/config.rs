//! The settings every service shares (listener, logs, Vault, PostgreSQL, RabbitMQ, breakers,
//! the chaos API) and [`Vars`], the environment lookups each service's own `config` builds its
//! tree with. Every default matches the native dev stack that `make services` starts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

/// What every service reads: its listener and switches, logs, Vault, PostgreSQL, RabbitMQ and
/// the chaos API, and how long one dependency call may take.
#[derive(Clone, Debug)]
pub struct ServiceSettings {
    /// Listener, identity and debug switches.
    pub app: AppSettings,
    /// Log format and optional rotating file.
    pub log: LogSettings,
    /// Vault (or OpenBao) address and credentials.
    pub vault: VaultSettings,
    /// PostgreSQL address (credentials come from Vault).
    pub postgres: SqlSettings,
    /// RabbitMQ address (credentials and vhost come from Vault).
    pub rabbitmq: RabbitSettings,
    /// The `/chaos/*` control API.
    pub chaos: ChaosSettings,
    /// `DEPENDENCY_TIMEOUT_MS`: bound on any single dependency call.
    pub dependency_timeout: Duration,
}

impl ServiceSettings {
    /// Reads every section; `name` is the default of `APP_NAME`.
    pub fn from_vars(vars: &Vars, name: &str) -> anyhow::Result<Self> {
        Ok(Self {
            app: AppSettings::from_vars(vars, name)?,
            log: LogSettings::from_vars(vars),
            vault: VaultSettings::from_vars(vars),
            postgres: SqlSettings::from_vars(vars, "POSTGRES", 5432)?,
            rabbitmq: RabbitSettings::from_vars(vars)?,
            chaos: ChaosSettings::from_vars(vars)?,
            dependency_timeout: dependency_timeout(vars)?,
        })
    }
}

/// `DEPENDENCY_TIMEOUT_MS` (2 s by default): bound on any single dependency call.
pub fn dependency_timeout(vars: &Vars) -> anyhow::Result<Duration> {
    vars.millis("DEPENDENCY_TIMEOUT_MS", 2_000)
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

/// RabbitMQ address; credentials and vhost come from Vault.
#[derive(Clone, Debug)]
pub struct RabbitSettings {
    /// `RABBITMQ_HOST`.
    pub host: String,
    /// `RABBITMQ_PORT`.
    pub port: u16,
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

/// Circuit breaker thresholds.
#[derive(Clone, Debug)]
pub struct BreakerSettings {
    /// Consecutive failures that open a breaker.
    pub failure_threshold: u32,
    /// How long a breaker stays open.
    pub reset_timeout: Duration,
}

/// The `/chaos/*` control API.
#[derive(Clone, Debug)]
pub struct ChaosSettings {
    /// `CHAOS_ENABLED`.
    pub enabled: bool,
    /// `CHAOS_TOKEN`: the bearer token every `/chaos` call must carry.
    pub token: Option<SecretString>,
}

impl AppSettings {
    /// `APP_NAME` (default `name`), `HOST`, `PORT`, `DEBUG`, ...; rejects a `MAX_HEADER_BYTES`
    /// below 1024.
    pub fn from_vars(vars: &Vars, name: &str) -> anyhow::Result<Self> {
        let app = Self {
            name: vars.text("APP_NAME", name),
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
        };
        if app.max_header_bytes < 1024 {
            anyhow::bail!("MAX_HEADER_BYTES must be at least 1024");
        }
        Ok(app)
    }
}

impl LogSettings {
    /// `LOG_FORMAT` (`json` by default) and `LOG_FILE`.
    pub fn from_vars(vars: &Vars) -> Self {
        Self { json: vars.text("LOG_FORMAT", "json") == "json", file: vars.get("LOG_FILE").map(PathBuf::from) }
    }
}

impl VaultSettings {
    /// `VAULT_ADDR`, `VAULT_APPROLE_DIR`, `VAULT_TOKEN`, `VAULT_MOUNT`.
    pub fn from_vars(vars: &Vars) -> Self {
        Self {
            addr: vars.text("VAULT_ADDR", "http://127.0.0.1:8200"),
            approle_dir: PathBuf::from(vars.text("VAULT_APPROLE_DIR", ".services/approles/reference-api")),
            token: vars.get("VAULT_TOKEN").map(|t| SecretString::from(t.to_owned())),
            mount: vars.text("VAULT_MOUNT", "secret"),
        }
    }
}

impl SqlSettings {
    /// `<prefix>_HOST`, `<prefix>_PORT` (default `port`) and `<prefix>_DATABASE`.
    pub fn from_vars(vars: &Vars, prefix: &str, port: u16) -> anyhow::Result<Self> {
        Ok(Self {
            host: vars.text(&format!("{prefix}_HOST"), "127.0.0.1"),
            port: vars.parse(&format!("{prefix}_PORT"), &port.to_string())?,
            database: vars.get(&format!("{prefix}_DATABASE")).map(str::to_owned),
        })
    }
}

impl RabbitSettings {
    /// `RABBITMQ_HOST`, `RABBITMQ_PORT`.
    pub fn from_vars(vars: &Vars) -> anyhow::Result<Self> {
        Ok(Self { host: vars.text("RABBITMQ_HOST", "127.0.0.1"), port: vars.parse("RABBITMQ_PORT", "5672")? })
    }
}

impl ChaosSettings {
    /// `CHAOS_ENABLED`, `CHAOS_TOKEN`; enabled without a token is an error.
    pub fn from_vars(vars: &Vars) -> anyhow::Result<Self> {
        let chaos = Self {
            enabled: vars.flag("CHAOS_ENABLED", false)?,
            token: vars.get("CHAOS_TOKEN").map(|t| SecretString::from(t.to_owned())),
        };
        if chaos.enabled && chaos.token.is_none() {
            anyhow::bail!("CHAOS_TOKEN must be set when CHAOS_ENABLED=true");
        }
        Ok(chaos)
    }
}

/// Environment lookups with defaults and errors that name the key.
pub struct Vars(HashMap<String, String>);

impl Vars {
    /// Lookups over `(name, value)` pairs; an empty value counts as unset.
    pub fn new(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Self(vars.into_iter().filter(|(_, v)| !v.is_empty()).collect())
    }

    /// The value of `key`, if set and not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The value of `key`, or `default`.
    pub fn text(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or(default).to_owned()
    }

    /// `key` parsed, or `default` parsed; the error names the key.
    pub fn parse<T: FromStr>(&self, key: &str, default: &str) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        let raw = self.get(key).unwrap_or(default);
        raw.trim().parse().map_err(|e| anyhow::anyhow!("{key}={raw:?} is invalid: {e}"))
    }

    /// `key` as a boolean (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`).
    pub fn flag(&self, key: &str, default: bool) -> anyhow::Result<bool> {
        match self.get(key).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some("0" | "false" | "no" | "off") => Ok(false),
            Some(other) => anyhow::bail!("{key}={other:?} is invalid: expected true or false"),
        }
    }

    /// `key` in milliseconds.
    pub fn millis(&self, key: &str, default: u64) -> anyhow::Result<Duration> {
        Ok(Duration::from_millis(self.parse(key, &default.to_string())?))
    }

    /// `key` split on commas, blanks dropped.
    pub fn list(&self, key: &str, default: &str) -> Vec<String> {
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

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
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
    fn shared_sections_read_their_variables_and_name_bad_ones() {
        let settings = ServiceSettings::from_vars(&vars(&[("PORT", "9000"), ("POSTGRES_DATABASE", "")]), "x").unwrap();
        assert_eq!(settings.app.port, 9000);
        assert_eq!(settings.app.name, "x");
        assert_eq!(settings.postgres.port, 5432);
        assert_eq!(settings.postgres.database, None, "an empty value counts as unset");
        let err = ServiceSettings::from_vars(&vars(&[("RABBITMQ_PORT", "amqp")]), "x").unwrap_err().to_string();
        assert!(err.contains("RABBITMQ_PORT"), "{err}");
        let err = ServiceSettings::from_vars(&vars(&[("MAX_HEADER_BYTES", "100")]), "x").unwrap_err().to_string();
        assert!(err.contains("MAX_HEADER_BYTES"), "{err}");
    }

    #[test]
    fn chaos_without_token_is_rejected() {
        let err = ChaosSettings::from_vars(&vars(&[("CHAOS_ENABLED", "true")])).unwrap_err().to_string();
        assert!(err.contains("CHAOS_TOKEN"), "{err}");
    }
}
