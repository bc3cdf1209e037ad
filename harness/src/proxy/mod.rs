//! TCP fault proxies: each listens on a loopback port, forwards to an upstream, and applies its
//! toxics ([`toxic`]) to the bytes of each connection ([`link`]). [`Proxies`] is the registry
//! behind the Toxiproxy-compatible HTTP API ([`api`]); it follows Toxiproxy's semantics for
//! creating, disabling (refuse new connections and cut open ones, keep the toxics) and resetting.
//!
//! Why not the `noxious` crate (a Rust port of Toxiproxy): its last release is from 2021, it has
//! no `reset_peer`, its control API is `#[doc(hidden)]` and built on `bmrng` 0.4, and its HTTP
//! layer (warp 0.3 on hyper 0.14) is unpublished, so the API would be written here anyway.

pub mod api;
pub mod client;
pub mod link;
pub mod toxic;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use link::Toxics;
use toxic::Toxic;

/// Open connections one proxy keeps at most; beyond it new ones are refused (and logged).
pub const MAX_CONNECTIONS: usize = 4096;
/// Proxies one registry holds at most; creating more is a 400.
pub const MAX_PROXIES: usize = 1024;
/// Toxics one proxy holds at most; adding more is a 400.
pub const MAX_TOXICS: usize = 64;

/// A proxy as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProxyView {
    /// Unique name.
    pub name: String,
    /// `host:port` it listens on (the bound port once listening, when 0 was asked for).
    pub listen: String,
    /// `host:port` it forwards to.
    pub upstream: String,
    /// Whether it accepts connections.
    pub enabled: bool,
    /// Its toxics, in the order they apply.
    pub toxics: Vec<Toxic>,
}

/// Why an operation failed, with the HTTP status Toxiproxy answers for it.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// 404.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409.
    #[error("{0} already exists")]
    Exists(&'static str),
    /// 400.
    #[error("{0}")]
    Invalid(String),
    /// 500: the listen address could not be bound.
    #[error("cannot listen on {address}: {reason}")]
    Listen {
        /// The address.
        address: String,
        /// The OS error.
        reason: String,
    },
}

struct Proxy {
    listen: String,
    upstream: String,
    toxics: Toxics,
    /// The accept loop, which owns the open connections; `None` while disabled.
    running: Option<JoinHandle<()>>,
}

impl Proxy {
    fn view(&self, name: &str) -> ProxyView {
        ProxyView {
            name: name.to_owned(),
            listen: self.listen.clone(),
            upstream: self.upstream.clone(),
            enabled: self.running.is_some(),
            toxics: self.toxics.list(),
        }
    }

    async fn enable(&mut self, name: &str) -> Result<(), ProxyError> {
        if self.running.is_some() {
            return Ok(());
        }
        let listener = TcpListener::bind(&self.listen)
            .await
            .map_err(|e| ProxyError::Listen { address: self.listen.clone(), reason: e.to_string() })?;
        if let Ok(bound) = listener.local_addr() {
            self.listen = bound.to_string();
        }
        self.running =
            Some(tokio::spawn(accept(name.to_owned(), listener, self.upstream.clone(), self.toxics.clone())));
        Ok(())
    }

    /// Closes the listener and every open connection; the toxics stay. Returns once the accept
    /// loop is gone, so the port can be bound again at once.
    async fn disable(&mut self) {
        if let Some(task) = self.running.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(task) = self.running.take() {
            task.abort();
        }
    }
}

async fn accept(name: String, listener: TcpListener, upstream: String, toxics: Toxics) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else { continue };
        while connections.try_join_next().is_some() {}
        if connections.len() >= MAX_CONNECTIONS {
            tracing::warn!(proxy = name, limit = MAX_CONNECTIONS, "connection refused: too many open connections");
            continue;
        }
        let (upstream, toxics) = (upstream.clone(), toxics.clone());
        connections.spawn(async move {
            match TcpStream::connect(&upstream).await {
                Ok(server) => link::run(client, server, toxics).await,
                Err(error) => tracing::debug!(upstream, %error, "upstream refused the connection"),
            }
        });
    }
}

/// Every proxy, by name. Cloning shares the registry.
#[derive(Clone, Default)]
pub struct Proxies(Arc<tokio::sync::Mutex<BTreeMap<String, Proxy>>>);

/// A proxy to create: Toxiproxy's `POST /proxies` body.
#[derive(Clone, Debug, Deserialize)]
pub struct NewProxy {
    /// Unique name.
    pub name: String,
    /// `host:port` to forward to.
    pub upstream: String,
    /// `host:port` to listen on; a free loopback port when absent.
    #[serde(default = "loopback_any")]
    pub listen: String,
    /// Whether to listen at once.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn loopback_any() -> String {
    "127.0.0.1:0".to_owned()
}

fn yes() -> bool {
    true
}

/// A partial update of a proxy.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ProxyUpdate {
    /// New listen address (the proxy re-binds).
    pub listen: Option<String>,
    /// New upstream (for new connections).
    pub upstream: Option<String>,
    /// Turn it off (cut every connection) or on.
    pub enabled: Option<bool>,
}

impl Proxies {
    /// Every proxy, by name.
    pub async fn list(&self) -> BTreeMap<String, ProxyView> {
        self.0.lock().await.iter().map(|(name, p)| (name.clone(), p.view(name))).collect()
    }

    /// One proxy.
    pub async fn get(&self, name: &str) -> Result<ProxyView, ProxyError> {
        self.0.lock().await.get(name).map(|p| p.view(name)).ok_or(ProxyError::NotFound("proxy"))
    }

    /// Creates a proxy, listening at once when enabled.
    pub async fn create(&self, new: NewProxy) -> Result<ProxyView, ProxyError> {
        if new.name.is_empty() || new.upstream.is_empty() {
            return Err(ProxyError::Invalid("missing required field: name and upstream".into()));
        }
        check_address("listen", &new.listen)?;
        let mut proxies = self.0.lock().await;
        if proxies.contains_key(&new.name) {
            return Err(ProxyError::Exists("proxy"));
        }
        if proxies.len() >= MAX_PROXIES {
            return Err(ProxyError::Invalid(format!("at most {MAX_PROXIES} proxies")));
        }
        let mut proxy = Proxy { listen: new.listen, upstream: new.upstream, toxics: Toxics::default(), running: None };
        if new.enabled {
            proxy.enable(&new.name).await?;
        }
        let view = proxy.view(&new.name);
        proxies.insert(new.name, proxy);
        Ok(view)
    }

    /// Changes listen, upstream or enabled.
    pub async fn update(&self, name: &str, update: ProxyUpdate) -> Result<ProxyView, ProxyError> {
        let mut proxies = self.0.lock().await;
        let proxy = proxies.get_mut(name).ok_or(ProxyError::NotFound("proxy"))?;
        let enable = update.enabled.unwrap_or(proxy.running.is_some());
        // A new upstream or listen address takes a new accept loop: open connections are cut.
        let mut restart = false;
        if let Some(upstream) = update.upstream.filter(|u| *u != proxy.upstream) {
            proxy.upstream = upstream;
            restart = true;
        }
        if let Some(listen) = update.listen.filter(|l| *l != proxy.listen) {
            check_address("listen", &listen)?;
            proxy.listen = listen;
            restart = true;
        }
        if restart || !enable {
            proxy.disable().await;
        }
        if enable {
            proxy.enable(name).await?;
        }
        Ok(proxy.view(name))
    }

    /// Removes a proxy, closing its connections.
    pub async fn delete(&self, name: &str) -> Result<(), ProxyError> {
        let mut proxy = self.0.lock().await.remove(name).ok_or(ProxyError::NotFound("proxy"))?;
        proxy.disable().await;
        Ok(())
    }

    /// Toxiproxy's `/populate`: creates each proxy that does not exist; one whose upstream and
    /// listen address are unchanged is left exactly as it is (enabled or not, its toxics kept);
    /// any other is replaced by a new one, its connections cut and its toxics dropped. An unset
    /// listen address (the default any-port) counts as unchanged. Returns them all.
    pub async fn populate(&self, proxies: Vec<NewProxy>) -> Result<Vec<ProxyView>, (ProxyError, Vec<ProxyView>)> {
        let mut done = Vec::new();
        for new in proxies {
            let outcome = match self.get(&new.name).await {
                Ok(existing)
                    if existing.upstream == new.upstream
                        && [loopback_any(), existing.listen.clone()].contains(&new.listen) =>
                {
                    Ok(existing)
                }
                Ok(existing) => {
                    let _ = self.delete(&new.name).await;
                    let listen = if new.listen == loopback_any() { existing.listen } else { new.listen.clone() };
                    self.create(NewProxy { listen, ..new }).await
                }
                Err(_) => self.create(new).await,
            };
            match outcome {
                Ok(view) => done.push(view),
                Err(error) => return Err((error, done)),
            }
        }
        Ok(done)
    }

    /// Re-enables every proxy and removes every toxic (Toxiproxy's `/reset`, and rollback).
    pub async fn reset(&self) -> Result<(), ProxyError> {
        let mut proxies = self.0.lock().await;
        for (name, proxy) in proxies.iter_mut() {
            proxy.toxics.update(Vec::clear);
            proxy.enable(name).await?;
        }
        Ok(())
    }

    /// A proxy's toxics.
    pub async fn toxics(&self, proxy: &str) -> Result<Vec<Toxic>, ProxyError> {
        Ok(self.toxics_of(proxy).await?.list())
    }

    /// Adds a toxic; 409 when one of that name exists.
    pub async fn add_toxic(&self, proxy: &str, toxic: Toxic) -> Result<Toxic, ProxyError> {
        if !(0.0..=1.0).contains(&toxic.toxicity) {
            return Err(ProxyError::Invalid(format!("toxicity must be between 0 and 1, not {}", toxic.toxicity)));
        }
        let toxics = self.toxics_of(proxy).await?;
        toxics.update(|list| {
            if list.iter().any(|t| t.name == toxic.name) {
                return Err(ProxyError::Exists("toxic"));
            }
            if list.len() >= MAX_TOXICS {
                return Err(ProxyError::Invalid(format!("at most {MAX_TOXICS} toxics per proxy")));
            }
            list.push(toxic.clone());
            Ok(toxic)
        })
    }

    /// One toxic.
    pub async fn toxic(&self, proxy: &str, name: &str) -> Result<Toxic, ProxyError> {
        let toxics = self.toxics_of(proxy).await?;
        toxics.list().into_iter().find(|t| t.name == name).ok_or(ProxyError::NotFound("toxic"))
    }

    /// Replaces a toxic's attributes and toxicity with `change`'s outcome.
    pub async fn update_toxic(
        &self,
        proxy: &str,
        name: &str,
        change: impl FnOnce(&Toxic) -> Result<Toxic, ProxyError>,
    ) -> Result<Toxic, ProxyError> {
        let toxics = self.toxics_of(proxy).await?;
        toxics.update(|list| {
            let toxic = list.iter_mut().find(|t| t.name == name).ok_or(ProxyError::NotFound("toxic"))?;
            *toxic = change(toxic)?;
            Ok(toxic.clone())
        })
    }

    /// Removes a toxic.
    pub async fn remove_toxic(&self, proxy: &str, name: &str) -> Result<(), ProxyError> {
        let toxics = self.toxics_of(proxy).await?;
        toxics.update(|list| {
            let before = list.len();
            list.retain(|t| t.name != name);
            if list.len() == before { Err(ProxyError::NotFound("toxic")) } else { Ok(()) }
        })
    }

    async fn toxics_of(&self, proxy: &str) -> Result<Toxics, ProxyError> {
        self.0.lock().await.get(proxy).map(|p| p.toxics.clone()).ok_or(ProxyError::NotFound("proxy"))
    }
}

/// `host:port`, the host an IP address or a name (`localhost:0`, as Toxiproxy's README writes
/// it), resolved when the proxy binds.
fn check_address(field: &str, address: &str) -> Result<(), ProxyError> {
    if address.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() && !host.contains(['/', ' ']) => Ok(()),
        _ => Err(ProxyError::Invalid(format!("{field} must be host:port, not {address:?}"))),
    }
}
