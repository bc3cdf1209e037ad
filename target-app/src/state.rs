//! [`AppState`]: the handles every request shares, built once from the settings. It sits below
//! the routes and layers that read it, and imports none of them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::FromRef;

use crate::clients::mongo::MongoDatabase;
use crate::clients::redis::RedisCluster;
use crate::clients::sql::{MysqlDatabase, PostgresDatabase};
use crate::config::Settings;
use crate::demo_budget::DemoBudget;
use crate::rendered::RenderedJson;
use crate::resilience::rate_limiter::RateLimiter;
use crate::resilience::response_cache::ResponseCache;
use kit::chaos::FaultRegistry;
use kit::clients::dependency::Dependency;
use kit::clients::rabbit::EventPublisher;
use kit::clients::vault::SecretSource;
use kit::metrics::Metrics;
use kit::resilience::circuit_breaker::CircuitBreaker;

/// Handles shared by every request. One `Arc`, because axum clones the state (or the handle a
/// handler asks for, through [`FromRef`]) for every request.
#[derive(Clone)]
pub struct AppState(Arc<Handles>);

impl std::ops::Deref for AppState {
    type Target = Handles;

    fn deref(&self) -> &Handles {
        &self.0
    }
}

/// Lets handlers extract one handle (`State<Arc<RedisCluster>>`) instead of the whole state.
macro_rules! handle_from_state {
    ($($field:ident: $ty:ty),* $(,)?) => {
        $(impl FromRef<AppState> for $ty {
            fn from_ref(state: &AppState) -> Self {
                state.$field.clone()
            }
        })*
    };
}

handle_from_state!(
    settings: Arc<Settings>,
    metrics: Metrics,
    faults: FaultRegistry,
    secrets: Arc<SecretSource>,
    redis: Arc<RedisCluster>,
    rabbit: Arc<EventPublisher>,
);

/// The app's clients, layers' state and bookkeeping, built once in [`AppState::new`].
pub struct Handles {
    /// The settings the app started with.
    pub settings: Arc<Settings>,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Injected chaos faults.
    pub faults: FaultRegistry,
    /// One breaker per dependency, by name.
    pub breakers: Arc<BTreeMap<&'static str, CircuitBreaker>>,
    /// Vault.
    pub secrets: Arc<SecretSource>,
    /// PostgreSQL.
    pub postgres: Arc<PostgresDatabase>,
    /// MySQL.
    pub mysql: Arc<MysqlDatabase>,
    /// MongoDB.
    pub mongo: Arc<MongoDatabase>,
    /// The Redis Cluster.
    pub redis: Arc<RedisCluster>,
    /// RabbitMQ.
    pub rabbit: Arc<EventPublisher>,
    /// Response cache.
    pub cache: Arc<ResponseCache>,
    /// Rate limiter.
    pub limiter: Arc<RateLimiter>,
    /// The body of `/api/version`.
    pub version: RenderedJson,
    /// What the `/demo/*` injectors may hold at once.
    pub demo: DemoBudget,
    /// Process start, for uptime.
    pub started: Started,
    /// Host and process statistics for `/api/info`.
    pub system: Arc<Mutex<sysinfo::System>>,
}

/// When the process started.
#[derive(Clone, Copy, Debug)]
pub struct Started(pub Instant);

impl AppState {
    /// Builds every client; nothing connects yet (connections are made on first use).
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        let metrics = Metrics::new(&settings.app.name);
        let faults = FaultRegistry::new(metrics.clone());
        let breakers: BTreeMap<&'static str, CircuitBreaker> = wire::Dependency::NAMES
            .iter()
            .map(|name| (*name, CircuitBreaker::new(name, settings.breaker.clone(), metrics.clone())))
            .collect();
        let guard = |name: &str| {
            Dependency::new(breakers[name].clone(), faults.clone(), settings.dependencies.timeout, &metrics)
        };
        let secrets = SecretSource::connect(&settings.vault, guard("vault"))?;
        let redis = RedisCluster::connect(&settings.redis, secrets.clone(), guard("redis"));
        Ok(Self(Arc::new(Handles {
            postgres: Arc::new(PostgresDatabase::connect(&settings.postgres, secrets.clone(), guard("postgres"))),
            mysql: Arc::new(MysqlDatabase::connect(&settings.mysql, secrets.clone(), guard("mysql"))),
            mongo: Arc::new(MongoDatabase::connect(&settings.mongodb, secrets.clone(), guard("mongodb"))),
            rabbit: Arc::new(EventPublisher::connect(&settings.rabbitmq, secrets.clone(), guard("rabbitmq"))),
            cache: Arc::new(ResponseCache::new(&settings.response_cache, redis.clone(), &metrics)),
            limiter: Arc::new(RateLimiter::new(&settings.rate_limit, redis.clone(), &metrics)),
            system: Arc::new(Mutex::new(sysinfo::System::new()?)),
            demo: DemoBudget::new(&settings.faults),
            version: crate::identity::version_body(&settings),
            started: Started(Instant::now()),
            breakers: Arc::new(breakers),
            settings: Arc::new(settings),
            redis: Arc::new(redis),
            secrets: Arc::new(secrets),
            faults,
            metrics,
        })))
    }

    /// Connects Redis, the SQL pools and RabbitMQ in the background so the first requests do
    /// not all wait on a Vault login and a cluster handshake; failures are only logged (the
    /// endpoints report them, and connect again, on use).
    pub fn warm_up(&self) {
        let state = self.clone();
        tokio::spawn(async move {
            let (redis, postgres, mysql, rabbit) = tokio::join!(
                state.redis.cluster_info(),
                state.postgres.health(),
                state.mysql.health(),
                state.rabbit.health()
            );
            for (name, ok) in [
                ("redis", redis.is_ok()),
                ("postgres", postgres.is_ok()),
                ("mysql", mysql.is_ok()),
                ("rabbitmq", rabbit.is_ok()),
            ] {
                if !ok {
                    tracing::warn!(dependency = name, "not reachable at start-up; will connect on first use");
                }
            }
        });
    }
}
