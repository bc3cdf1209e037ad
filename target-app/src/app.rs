//! [`AppState`], [`App::build`] (binds, reports the port) and [`router`], the one place where
//! the cross-cutting layers are stacked.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::{HeaderName, HeaderValue, Method};
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::chaos::FaultRegistry;
use crate::clients::dependency::Dependency;
use crate::clients::mongo::MongoDatabase;
use crate::clients::rabbit::EventPublisher;
use crate::clients::redis::RedisCluster;
use crate::clients::sql::{MysqlDatabase, PostgresDatabase};
use crate::clients::vault::SecretSource;
use crate::config::Settings;
use crate::layers::pipeline::PipelineLayer;
use crate::layers::request_id;
use crate::metrics::Metrics;
use crate::resilience::circuit_breaker::CircuitBreaker;
use crate::resilience::rate_limiter::RateLimiter;
use crate::resilience::response_cache::ResponseCache;
use crate::routes;

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
    pub version: crate::routes::RenderedJson,
    /// What the `/demo/*` injectors may hold at once.
    pub demo: crate::routes::faults::DemoBudget,
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
        let breakers: BTreeMap<&'static str, CircuitBreaker> = crate::config::DEPENDENCIES
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
            cache: Arc::new(ResponseCache::new(&settings.response_cache, redis.clone(), metrics.clone())),
            limiter: Arc::new(RateLimiter::new(&settings.rate_limit, redis.clone(), metrics.clone())),
            system: Arc::new(Mutex::new(sysinfo::System::new()?)),
            demo: crate::routes::faults::DemoBudget::new(&settings.faults),
            version: crate::routes::info::version_body(&settings),
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

/// A bound, ready-to-serve app.
pub struct App {
    listener: TcpListener,
    router: Router,
    /// The port actually bound (useful with `PORT=0`).
    pub port: u16,
    /// The state the router serves, for tests that inspect it.
    pub state: AppState,
}

impl App {
    /// Builds the state and router and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let address = SocketAddr::new(settings.app.host, settings.app.port);
        let state = AppState::new(settings)?;
        let listener = TcpListener::bind(address).await.map_err(|e| anyhow::anyhow!("cannot bind {address}: {e}"))?;
        let port = listener.local_addr()?.port();
        Ok(Self { listener, router: router(state.clone()), port, state })
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        tracing::info!(port = self.port, "target-app listening");
        if self.state.settings.dependencies.warm_up {
            self.state.warm_up();
        }
        crate::serve::serve(self.listener, self.router, &self.state.settings.app, shutdown).await;
        tracing::info!("target-app stopped");
        Ok(())
    }
}

/// The routes behind every cross-cutting step.
///
/// CORS is outermost: it answers preflights before they reach a limit, and puts its headers on
/// every response, a 429 or a 500 included, so browsers can read them. The [`Pipeline`] runs
/// every other step, in the order it documents. The body limit sits at the handler, where
/// bodies are read.
///
/// The three go on in one `layer` call: each call wraps every route in one more boxed service
/// that is cloned, and its future boxed, on every request.
pub fn router(state: AppState) -> Router {
    let settings = state.settings.clone();
    let steps = tower::ServiceBuilder::new()
        .layer(cors(&settings))
        .layer(PipelineLayer(state.clone()))
        .layer(DefaultBodyLimit::max(settings.app.max_body_bytes));
    routes::router(&settings).layer(steps).with_state(state)
}

/// `DEBUG=true` allows every origin; otherwise only `CORS_ORIGINS`, with credentials.
fn cors(settings: &Settings) -> CorsLayer {
    let base = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::PUT, Method::PATCH, Method::OPTIONS])
        .max_age(std::time::Duration::from_secs(600))
        .expose_headers([HeaderName::from_static(request_id::HEADER)]);
    if settings.app.debug {
        base.allow_origin(Any).allow_headers(Any)
    } else {
        // A predicate over a shared list rather than `AllowOrigin::list`, whose `Vec` is cloned
        // with the route stack on every request.
        let origins: Arc<[HeaderValue]> = settings.app.cors_origins.iter().filter_map(|o| o.parse().ok()).collect();
        let allowed = AllowOrigin::predicate(move |origin, _| origins.contains(origin));
        base.allow_origin(allowed).allow_credentials(true).allow_headers([
            axum::http::header::CONTENT_TYPE,
            axum::http::header::AUTHORIZATION,
            HeaderName::from_static(request_id::HEADER),
        ])
    }
}
