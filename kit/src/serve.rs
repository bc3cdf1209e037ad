//! [`serve`]: HTTP/1.1 connections on hyper's own connection builder, drained on shutdown.
//! A connection whose request head does not arrive within `HEADER_READ_TIMEOUT_MS` of its
//! accept or of its previous answer is closed, idle keep-alive connections included: a client
//! trickling header lines (slowloris) cannot hold a connection, and with it a file descriptor,
//! for as long as it likes. One timer per connection watches that ([`IdleSince`]), woken once
//! per timeout: hyper's own `header_read_timeout` arms and drops a boxed timer for every
//! request head, which cost `/health/` 8.5% of its throughput per core (docs/benchmarks.md). Heads over
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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tower::Service;

use crate::config::AppSettings;

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and waits for
/// in-flight requests. Handlers see the client's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(listener: TcpListener, router: Router, settings: &AppSettings, shutdown: impl Future<Output = ()>) {
    // No hyper timer: without one hyper arms no per-request header timeout.
    let builder = http1::Builder::new();
    let timeout = Some(settings.header_read_timeout).filter(|t| !t.is_zero());
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
        // Marked only when a watchdog reads it: with the timeout off, a request costs no marks.
        let idle = timeout.map(|_| Arc::new(IdleSince::new()));
        let watched = idle.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            if let Some(idle) = &watched {
                idle.mark_busy();
            }
            let (answer, idle) = (router.clone().call(request), watched.clone());
            async move {
                let answered = answer.await;
                if let Some(idle) = idle {
                    idle.mark_idle();
                }
                answered
            }
        });
        let connection = connections.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let ended = match (timeout, idle) {
                (Some(timeout), Some(idle)) => idle.close_after(timeout, connection).await,
                _ => Some(connection.await),
            };
            match ended {
                Some(Err(error)) => tracing::debug!(%peer, %error, "connection ended with an error"),
                None => tracing::debug!(%peer, "connection closed: no request head within the header read timeout"),
                Some(Ok(())) => {}
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
}

/// When a connection last went idle (accepted, or its last answer produced), in milliseconds
/// after its accept; [`IdleSince::BUSY`] while a request is served. Shared by the connection's
/// service, which marks it twice per request, and its watchdog, [`IdleSince::close_after`].
struct IdleSince {
    accepted: Instant,
    millis: AtomicU64,
}

impl IdleSince {
    const BUSY: u64 = u64::MAX;

    fn new() -> Self {
        Self { accepted: Instant::now(), millis: AtomicU64::new(0) }
    }

    fn mark_busy(&self) {
        self.millis.store(Self::BUSY, Ordering::Relaxed);
    }

    fn mark_idle(&self) {
        let millis = self.accepted.elapsed().as_millis() as u64;
        self.millis.store(millis, Ordering::Relaxed);
    }

    /// When an idle connection's next head is overdue; `None` while a request is served.
    fn deadline(&self, timeout: Duration) -> Option<Instant> {
        match self.millis.load(Ordering::Relaxed) {
            Self::BUSY => None,
            millis => Some(self.accepted + Duration::from_millis(millis) + timeout),
        }
    }

    /// Runs `connection` until it ends (`Some`), or until it has been idle for `timeout`
    /// (`None`; dropping it closes the socket). A busy connection is looked at again a
    /// `timeout` later; a request's own deadline is the request timeout's business.
    async fn close_after<F: Future>(&self, timeout: Duration, connection: F) -> Option<F::Output> {
        let mut connection = pin!(connection);
        let mut watchdog = pin!(tokio::time::sleep_until(self.accepted + timeout));
        loop {
            tokio::select! {
                biased;
                ended = &mut connection => return Some(ended),
                () = &mut watchdog => match self.deadline(timeout) {
                    Some(deadline) if deadline <= Instant::now() => return None,
                    Some(deadline) => watchdog.as_mut().reset(deadline),
                    None => watchdog.as_mut().reset(Instant::now() + timeout),
                },
            }
        }
    }
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
