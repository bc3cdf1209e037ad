//! [`App::build`] (builds the [`AppState`], binds, reports the port) and [`router`], the one
//! place where the cross-cutting layers are stacked.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::layers::cors::Cors;
use crate::layers::pipeline::PipelineLayer;
use crate::routes;
use crate::state::AppState;

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
        kit::serve::serve(self.listener, self.router, &self.state.settings.app, shutdown).await;
        tracing::info!("target-app stopped");
        Ok(())
    }
}

/// The routes behind every cross-cutting step.
///
/// CORS comes first: it answers preflights before they reach a limit, and puts its headers on
/// every response, a 429 or a 500 included, so browsers can read them. The [`Pipeline`] runs
/// it and every other step, in the order it documents. The body limit sits at the handler,
/// where bodies are read.
///
/// The two go on in one `layer` call: each call wraps every route in one more boxed service
/// that is cloned, and its future boxed, on every request.
///
/// [`Pipeline`]: crate::layers::pipeline::Pipeline
pub fn router(state: AppState) -> Router {
    let settings = state.settings.clone();
    let steps = tower::ServiceBuilder::new()
        .layer(PipelineLayer::new(state.clone(), Cors::new(&settings)))
        .layer(DefaultBodyLimit::max(settings.app.max_body_bytes));
    routes::router(&settings).layer(steps).with_state(state)
}
