//! [`serve`]: HTTP/1.1 connections on hyper's own connection builder, drained on shutdown.
//!
//! `axum::serve` puts every request through hyper-util's HTTP/1-or-2 connection, an upgrade
//! channel and a cloned make-service; this app speaks HTTP/1.1 and upgrades nothing, and that
//! path cost `/health/` several percent of its throughput per core (issue 10; see the README).

use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::Service;

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and waits for
/// in-flight requests. Handlers see the client's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) {
    let connections = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    pause_after(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().call(request)
        });
        let connection = connections.watch(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
}

/// A refused or reset connection is the client's business; anything else (out of file
/// descriptors, say) is logged and accepting pauses a second, as `axum::serve` does.
async fn pause_after(error: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if !matches!(error.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        tracing::error!(%error, "accepting a connection failed; pausing a second");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
