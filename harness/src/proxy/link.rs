//! One proxied connection: two pipes (upstream, downstream) that apply the proxy's current
//! toxics to each chunk they forward. Toxics added or removed while the connection is open take
//! effect on its next chunk, as in Toxiproxy; whether a toxic applies to this connection is
//! drawn once, from its toxicity.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;
use tokio::time::Instant;

use super::toxic::{self, Kind, Stream, Toxic};

/// The toxics of a proxy, shared with its open connections, which are told of every change.
#[derive(Clone)]
pub struct Toxics {
    list: Arc<RwLock<Vec<Toxic>>>,
    changed: Arc<watch::Sender<u64>>,
}

impl Default for Toxics {
    fn default() -> Self {
        Self { list: Arc::default(), changed: Arc::new(watch::Sender::new(0)) }
    }
}

impl Toxics {
    /// A copy of the current list.
    pub fn list(&self) -> Vec<Toxic> {
        self.list.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Changes the list with `change` and tells the open connections; returns what `change` did.
    pub fn update<T>(&self, change: impl FnOnce(&mut Vec<Toxic>) -> T) -> T {
        let outcome = change(&mut self.list.write().unwrap_or_else(std::sync::PoisonError::into_inner));
        self.changed.send_modify(|version| *version += 1);
        outcome
    }
}

/// How one pipe ended.
#[derive(Debug, PartialEq)]
enum End {
    /// The source closed; the other direction may go on.
    Eof,
    /// A toxic closed the connection.
    Close,
    /// A toxic reset the connection.
    Reset,
}

/// Forwards between `client` and `upstream` until both directions end or a toxic ends the link.
pub async fn run(client: TcpStream, upstream: TcpStream, toxics: Toxics) {
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (client_read, mut client_write) = client.into_split();
    let (upstream_read, mut upstream_write) = upstream.into_split();
    let end = {
        let mut up = Box::pin(pipe(client_read, &mut upstream_write, Stream::Upstream, toxics.clone()));
        let mut down = Box::pin(pipe(upstream_read, &mut client_write, Stream::Downstream, toxics));
        match tokio::select! { end = &mut up => (end, down), end = &mut down => (end, up) } {
            (End::Eof, rest) => rest.await,
            (end, _) => end,
        }
    };
    if end == End::Reset {
        reset(client_write);
        reset(upstream_write);
    }
}

/// Closes with a TCP RST instead of a FIN: a zero linger makes the close abortive, and
/// `forget` skips the write half's shutdown, which would send a FIN first.
fn reset(write: OwnedWriteHalf) {
    let stream: &TcpStream = write.as_ref();
    #[allow(deprecated)] // set_linger blocks on close only for a non-zero linger
    let _ = stream.set_linger(Some(Duration::ZERO));
    write.forget();
}

/// Forwards `source` to `sink` through the toxics of `stream`; returns how it ended.
async fn pipe(mut source: OwnedReadHalf, sink: &mut OwnedWriteHalf, stream: Stream, toxics: Toxics) -> End {
    let mut applies: HashMap<String, bool> = HashMap::new();
    let mut buffer = vec![0u8; 32 * 1024];
    let mut ends = Ends::default();
    let mut changed = toxics.changed.subscribe();
    // The change notice is armed once per change, not once per chunk: registering a waiter on
    // every read cost the proxy 3% of its CPU.
    'toxics: loop {
        let mut change = std::pin::pin!(changed.changed());
        loop {
            let active = active(&toxics, stream, &mut applies);
            // As in Toxiproxy, removing the timeout toxic that holds a connection closes it.
            let held = active.iter().any(|k| matches!(k, Kind::Timeout { .. }));
            if std::mem::replace(&mut ends.held, held) && !held {
                return End::Close;
            }
            let deadline = ends.deadline(&active);
            let read = tokio::select! {
                read = source.read(&mut buffer) => read,
                () = sleep_until(deadline) => return if ends.reset_at == deadline { End::Reset } else { End::Close },
                // `toxics` holds the sender, so the notice cannot fail while this pipe runs.
                _ = &mut change => continue 'toxics,
            };
            match read {
                Ok(0) | Err(_) => return close(sink, &active).await,
                Ok(n) => {
                    if let Err(end) = forward(sink, &buffer[..n], &active, &mut ends).await {
                        return end;
                    }
                }
            }
        }
    }
}

/// What a pipe remembers between chunks to end itself on time.
#[derive(Default)]
struct Ends {
    /// Bytes forwarded so far (for `limit_data`).
    passed: u64,
    /// When a `timeout` toxic closes the pipe.
    close_at: Option<Instant>,
    /// When a `reset_peer` toxic resets the connection.
    reset_at: Option<Instant>,
    /// A `timeout` toxic holds the pipe.
    held: bool,
}

impl Ends {
    /// The next deadline. A timeout toxic counts from when it is seen, so idle connections are
    /// closed too.
    fn deadline(&mut self, active: &[Kind]) -> Option<Instant> {
        if let Some(timeout) = active.iter().find_map(|k| match k {
            Kind::Timeout { timeout } if *timeout > 0 => Some(*timeout),
            _ => None,
        }) {
            self.close_at.get_or_insert(Instant::now() + Duration::from_millis(timeout));
        }
        [self.close_at, self.reset_at].into_iter().flatten().min()
    }
}

/// The source closed: waits out a `slow_close` toxic, then passes the close on.
async fn close(sink: &mut OwnedWriteHalf, active: &[Kind]) -> End {
    let delay = active
        .iter()
        .filter_map(|k| match k {
            Kind::SlowClose { delay } => Some(Duration::from_millis(*delay)),
            _ => None,
        })
        .max();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let _ = sink.shutdown().await;
    End::Eof
}

/// Applies the `active` toxics to one chunk and writes what is left of it; `Err` when a toxic
/// or the sink ends the pipe.
async fn forward(sink: &mut OwnedWriteHalf, mut data: &[u8], active: &[Kind], ends: &mut Ends) -> Result<(), End> {
    let mut sliced = None;
    for kind in active {
        match *kind {
            Kind::Latency { latency, jitter } => tokio::time::sleep(toxic::latency(latency, jitter)).await,
            Kind::Bandwidth { rate } => tokio::time::sleep(toxic::bandwidth(rate, data.len())).await,
            Kind::Timeout { .. } => data = &[],
            // As in Toxiproxy, the data that triggers the reset is not forwarded.
            Kind::ResetPeer { timeout } => {
                ends.reset_at.get_or_insert(Instant::now() + Duration::from_millis(timeout));
                data = &[];
            }
            Kind::LimitData { bytes } => {
                let allowed = bytes.saturating_sub(ends.passed).min(data.len() as u64) as usize;
                if allowed < data.len() {
                    let _ = sink.write_all(&data[..allowed]).await;
                    return Err(End::Close);
                }
            }
            Kind::Slicer { average_size, size_variation, delay } => {
                sliced = Some((toxic::slices(data.len(), average_size, size_variation), delay));
            }
            Kind::SlowClose { .. } | Kind::Noop {} => {}
        }
    }
    ends.passed += data.len() as u64;
    let written = match sliced {
        None => sink.write_all(data).await,
        Some((sizes, delay)) => write_sliced(sink, data, &sizes, Duration::from_micros(delay)).await,
    };
    written.map_err(|_| End::Close)
}

/// The kinds of the toxics on `stream` that apply to this connection, in the proxy's order.
fn active(toxics: &Toxics, stream: Stream, applies: &mut HashMap<String, bool>) -> Vec<Kind> {
    let toxics = toxics.list.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    toxics
        .iter()
        .filter(|t| t.stream == stream)
        .filter(|t| *applies.entry(t.name.clone()).or_insert_with(|| rand::random::<f32>() < t.toxicity))
        .map(|t| t.kind.clone())
        .collect()
}

async fn write_sliced(sink: &mut OwnedWriteHalf, data: &[u8], sizes: &[usize], delay: Duration) -> std::io::Result<()> {
    let mut offset = 0;
    for size in sizes {
        sink.write_all(&data[offset..offset + size]).await?;
        sink.flush().await?;
        offset += size;
        tokio::time::sleep(delay).await;
    }
    Ok(())
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
