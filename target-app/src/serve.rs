//! [`serve`]: HTTP/1.1 connections on hyper's own connection builder, drained on shutdown.
//! A connection whose request head does not arrive within `HEADER_READ_TIMEOUT_MS`, or that
//! sits idle between requests that long, is closed: a client trickling header lines (slowloris)
//! cannot hold a connection, and with it a file descriptor, for as long as it likes. Heads over
//! `MAX_HEADER_BYTES` get the documented 431 from [`crate::layers::content`]; hyper's own
//! bound stays behind that (a request line over 64 KiB is its bare 414, a head that fills its
//! ~400 KB read buffer its bare 431), so that the documented answer is the one clients see.
//!
//! `axum::serve` puts every request through hyper-util's HTTP/1-or-2 connection, an upgrade
//! channel and a cloned make-service; this app speaks HTTP/1.1 and upgrades nothing, and that
//! path cost `/health/` several percent of its throughput per core (docs/benchmarks.md).

use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::Service;

use crate::config::AppSettings;

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and waits for
/// in-flight requests. Handlers see the client's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(listener: TcpListener, router: Router, settings: &AppSettings, shutdown: impl Future<Output = ()>) {
    let mut builder = http1::Builder::new();
    let timeout = Some(settings.header_read_timeout).filter(|t| !t.is_zero());
    builder.timer(TokioTimer::new()).header_read_timeout(timeout);
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
        let connection = connections.watch(builder.serve_connection(TokioIo::new(stream), service));
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
