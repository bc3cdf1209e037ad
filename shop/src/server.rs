//! [`build`]: one shop service, ready to serve. It connects what the role needs (Vault for the
//! token key and credentials, its PostgreSQL schema, RabbitMQ, the services it calls), adds
//! `/metrics`, wraps every route in the steps every service runs ([`StepsLayer`]) and binds the port.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use kit::chaos::FaultRegistry;
use kit::clients::dependency::Dependency;
use kit::clients::rabbit::EventPublisher;
use kit::clients::vault::SecretSource;
use kit::error::ApiError;
use kit::fault_routes::fault_router;
use kit::layers::pipeline::{Steps, StepsLayer};
use kit::metrics::Metrics;
use kit::resilience::circuit_breaker::CircuitBreaker;
use prometheus::IntCounter;
use tokio::net::TcpListener;
use wire::ShopFaultTarget;

use crate::auth::Keys;
use crate::config::ShopSettings;
use crate::events::Consumer;
use crate::role::Role;
use crate::service_token::ServiceKeys;
use crate::services::gateway::client_limit::ClientLimiter;
use crate::services::{gateway, inventory, notifications, orders, products, users};
use crate::store::Store;
use crate::upstream::{Upstream, UpstreamMetrics};

/// The Vault secret holding the token signing key (`jwt_secret`) and the services' own
/// (`service_secret`).
pub const JWT_SECRET: &str = "shop";

/// A bound service.
pub struct Service {
    /// Which one.
    pub role: Role,
    /// The port bound (useful with port 0).
    pub port: u16,
    listener: TcpListener,
    router: Router,
    settings: Arc<ShopSettings>,
}

/// Connects everything `role` needs and binds its port. Fails, naming the cause, when Vault or
/// PostgreSQL cannot be reached at startup.
pub async fn build(role: Role, settings: ShopSettings) -> anyhow::Result<Service> {
    let settings = Arc::new(settings);
    let metrics = Metrics::new(&format!("shop-{role}"));
    let upstream_metrics = UpstreamMetrics::register(&metrics)?;
    let faults = FaultRegistry::naming(ShopFaultTarget::NAMES, metrics.clone());
    let upstream =
        |to: Role| Upstream::new(to, settings.url(to), &settings.upstream, &metrics, &upstream_metrics, faults.clone());
    let routes = match role {
        Role::Gateway => {
            let upstreams: HashMap<Role, Upstream> =
                Role::UPSTREAMS.iter().map(|&r| upstream(r).map(|u| (r, u))).collect::<anyhow::Result<_>>()?;
            let overflow = IntCounter::new(
                "gateway_rate_limit_overflow_total",
                "Requests from clients beyond GATEWAY_MAX_CLIENTS, limited in one shared bucket",
            )?;
            metrics.register(overflow.clone())?;
            let stale = IntCounter::new(
                "gateway_stale_answers_total",
                "Catalogue reads answered with the last good answer while products could not answer",
            )?;
            let evicted = IntCounter::new(
                "gateway_stale_evictions_total",
                "Last good catalogue answers dropped to stay within the bound",
            )?;
            metrics.register(stale.clone())?;
            metrics.register(evicted.clone())?;
            gateway::router(gateway::GatewayState {
                upstreams: Arc::new(upstreams),
                limiter: Arc::new(ClientLimiter::new(settings.client_rate, settings.max_clients, overflow)),
                last_good: Arc::new(gateway::fallback::LastGood::new(stale, evicted)),
                health_http: reqwest::Client::builder().no_proxy().build()?,
                settings: settings.clone(),
            })
        }
        _ => {
            let dependency = |name: &'static str| dependency(name, &settings, &metrics, &faults);
            let secrets = SecretSource::connect(&settings.base.vault, dependency("vault"))?;
            let keys = token_keys(&secrets, &settings).await?;
            let store = Store::connect(&settings, &secrets, role).await?;
            match role {
                Role::Users => {
                    users::keep_admin(&store, &settings).await?;
                    users::router(users::UsersState { store, keys, settings: settings.clone() })
                }
                Role::Products => products::router(products::ProductsState { store, keys }),
                Role::Inventory => {
                    let service = service_keys(&secrets, role).await?;
                    inventory::router(inventory::InventoryState { store, keys, service })
                }
                Role::Orders => orders::router(orders::OrdersState {
                    store,
                    keys,
                    service: service_keys(&secrets, role).await?,
                    users: upstream(Role::Users)?,
                    products: upstream(Role::Products)?,
                    inventory: upstream(Role::Inventory)?,
                    events: Arc::new(EventPublisher::connect(
                        &settings.base.rabbitmq,
                        secrets.clone(),
                        dependency("rabbitmq"),
                    )),
                    queue: settings.events_queue.clone(),
                    debug: settings.base.app.debug,
                }),
                Role::Notifications => {
                    let recorder = notifications::Recorder(store.clone());
                    let consumer = Consumer::start(
                        settings.base.rabbitmq.clone(),
                        secrets.clone(),
                        settings.events_queue.clone(),
                        settings.prefetch,
                        recorder,
                    );
                    notifications::router(notifications::NotificationsState { store, keys, consumer })
                }
                Role::Gateway => unreachable!("handled above"),
            }
        }
    };
    let routes = match &settings.base.chaos {
        chaos if chaos.enabled => routes.merge(fault_router(chaos.token.clone(), faults)),
        _ => routes,
    };
    let rendered = metrics.clone();
    let steps = StepsLayer::new(Steps::new(&settings.base.app, metrics));
    let router = routes
        .route("/metrics", get(move || async move { rendered.render() }))
        .fallback(|| async { ApiError::not_found("No such endpoint") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(settings.base.app.max_body_bytes))
        .layer(steps);
    let address = SocketAddr::new(settings.host, settings.port(role));
    let listener =
        TcpListener::bind(address).await.map_err(|e| anyhow::anyhow!("{role}: cannot bind {address}: {e}"))?;
    let port = listener.local_addr()?.port();
    Ok(Service { role, port, listener, router, settings })
}

/// A breaker-guarded, time-bounded dependency named `name` (`vault`, `rabbitmq`) that obeys
/// `faults`.
fn dependency(name: &'static str, settings: &ShopSettings, metrics: &Metrics, faults: &FaultRegistry) -> Dependency {
    let breaker = CircuitBreaker::new(name, settings.upstream.breaker.clone(), metrics.clone());
    Dependency::new(breaker, faults.clone(), settings.base.dependency_timeout, metrics)
}

/// The token keys, from the signing key Vault holds at `secret/shop`.
pub async fn token_keys(secrets: &SecretSource, settings: &ShopSettings) -> anyhow::Result<Keys> {
    let jwt = secrets
        .field(JWT_SECRET, "jwt_secret")
        .await
        .map_err(|e| anyhow::anyhow!("reading the token key from Vault (secret/{JWT_SECRET}): {e}"))?;
    Keys::new(jwt.as_bytes(), settings.token_ttl)
}

/// The service token keys of `role`, from the key Vault holds at `secret/shop`.
pub async fn service_keys(secrets: &SecretSource, role: Role) -> anyhow::Result<ServiceKeys> {
    let key = secrets
        .field(JWT_SECRET, "service_secret")
        .await
        .map_err(|e| anyhow::anyhow!("reading the service token key from Vault (secret/{JWT_SECRET}): {e}"))?;
    ServiceKeys::new(role, key.as_bytes())
}

/// A Vault client for `settings`, as every service but the gateway makes one.
pub fn vault(settings: &ShopSettings) -> anyhow::Result<SecretSource> {
    let metrics = Metrics::new("shop");
    let faults = FaultRegistry::naming(ShopFaultTarget::NAMES, metrics.clone());
    SecretSource::connect(&settings.base.vault, dependency("vault", settings, &metrics, &faults))
}

/// Drops `SHOP_DATABASE`, with credentials from Vault.
pub async fn drop_database(settings: &ShopSettings) -> anyhow::Result<()> {
    crate::store::drop_database(settings, &vault(settings)?).await
}

impl Service {
    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        tracing::info!(service = %self.role, port = self.port, "shop service listening");
        kit::serve::serve(self.listener, self.router, &self.settings.base.app, shutdown).await;
        tracing::info!(service = %self.role, "shop service stopped");
        Ok(())
    }
}
