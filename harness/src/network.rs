//! A run's network faults: the scenario's `proxies:` started before the target (so a
//! self-hosted target connects through them), changed by `network:`, `proxy:` and
//! `clear_network:` actions, and reset by rollback whatever happened.

use std::time::Duration;

use crate::plan::ProxySpec;
use crate::proxy::toxic::Toxic;
use crate::proxy::{NewProxy, Proxies, ProxyUpdate};
use crate::report::model::ProxyAddress;
use crate::scenario::proxies;
use crate::target::shop::ShopPorts;
use wire::Dependency;

/// The running proxies of one run (none when the scenario declares none).
#[derive(Default)]
pub struct Network {
    proxies: Proxies,
    addresses: Vec<ProxyAddress>,
    /// The tasks that remove toxics with a `duration`; aborted with the run, so none keeps the
    /// proxies listening after it.
    timers: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for Network {
    fn drop(&mut self) {
        for timer in self.timers.get_mut().map(std::mem::take).unwrap_or_default() {
            timer.abort();
        }
    }
}

impl Network {
    /// Starts every proxy the scenario declares; one without an upstream forwards to the shop
    /// service of its name, on its port in `shop`.
    pub async fn start(specs: &proxies::Proxies, shop: Option<&ShopPorts>) -> anyhow::Result<Self> {
        let proxies = Proxies::default();
        let mut addresses = Vec::new();
        for (name, ProxySpec { upstream, listen }) in specs {
            let upstream = match (upstream, shop.and_then(|ports| ports.port(name))) {
                (Some(upstream), _) => upstream.clone(),
                (None, Some(port)) => format!("127.0.0.1:{port}"),
                (None, None) => anyhow::bail!("proxy {name}: no upstream, and no shop service of that name"),
            };
            let new = NewProxy {
                name: name.clone(),
                upstream,
                listen: listen.clone().unwrap_or_else(|| "127.0.0.1:0".into()),
                enabled: true,
            };
            let view = proxies.create(new).await.map_err(|e| anyhow::anyhow!("proxy {name}: {e}"))?;
            addresses.push(ProxyAddress { name: view.name, listen: view.listen, upstream: view.upstream });
        }
        Ok(Self { proxies, addresses, timers: Default::default() })
    }

    /// Every proxy's address.
    pub fn addresses(&self) -> &[ProxyAddress] {
        &self.addresses
    }

    /// The self-hosted target's variables for the proxies named after a dependency, and, for
    /// the shop, `<SERVICE>_URL` for those named after a shop service.
    pub fn target_env(&self) -> Vec<(String, String)> {
        self.addresses
            .iter()
            .filter_map(|address| {
                if address.name.parse::<wire::ShopService>().is_ok() {
                    let variable = format!("{}_URL", address.name.to_uppercase());
                    return Some(vec![(variable, format!("http://{}", address.listen))]);
                }
                let dependency: Dependency = address.name.parse().ok()?;
                proxies::target_env(dependency, &address.listen).ok()
            })
            .flatten()
            .collect()
    }

    /// Adds `toxic` to `proxy`; when it `lasts` a while, removes it again after that long.
    pub async fn add_toxic(&self, proxy: &str, toxic: Toxic, lasts: Option<Duration>) -> anyhow::Result<String> {
        let name = toxic.name.clone();
        self.proxies.add_toxic(proxy, toxic).await?;
        let Some(duration) = lasts else {
            return Ok(format!("toxic {name} added"));
        };
        let (proxies, proxy, toxic) = (self.proxies.clone(), proxy.to_owned(), name.clone());
        let timer = tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            // Already gone when cleared or rolled back first.
            let _ = proxies.remove_toxic(&proxy, &toxic).await;
        });
        self.timers.lock().expect("timers").push(timer);
        Ok(format!("toxic {name} added for {duration:?}"))
    }

    /// Turns a proxy off (refusing and cutting connections) or on.
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> anyhow::Result<String> {
        let view = self.proxies.update(name, ProxyUpdate { enabled: Some(enabled), ..ProxyUpdate::default() }).await?;
        Ok(format!("{} {}", view.listen, if view.enabled { "accepting" } else { "refusing connections" }))
    }

    /// Removes every toxic and re-enables every proxy.
    pub async fn clear(&self) -> anyhow::Result<String> {
        self.proxies.reset().await?;
        Ok(format!("{} proxies reset", self.addresses.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::toxic::{Kind, Stream};

    #[tokio::test]
    async fn dependency_proxies_point_the_target_at_themselves() {
        let specs: proxies::Proxies = serde_yaml::from_str(
            "{postgres: {upstream: '127.0.0.1:5432'}, vault: {upstream: '127.0.0.1:8200'}, other: {upstream: 'localhost:1'}}",
        )
        .unwrap();
        let network = Network::start(&specs, None).await.unwrap();
        let port = |name: &str| network.addresses().iter().find(|a| a.name == name).unwrap().listen.clone();
        let env = network.target_env();
        let postgres = port("postgres");
        assert!(env.contains(&("POSTGRES_PORT".into(), postgres.rsplit_once(':').unwrap().1.into())), "{env:?}");
        assert!(env.contains(&("VAULT_ADDR".into(), format!("http://{}", port("vault")))), "{env:?}");
        assert_eq!(env.len(), 3, "the proxy not named after a dependency sets nothing: {env:?}");
        assert!(!postgres.ends_with(":0"), "a bound port is reported: {postgres}");
    }

    #[tokio::test]
    async fn a_toxic_that_lasts_a_while_removes_itself_and_clear_resets_the_rest() {
        let specs: proxies::Proxies = serde_yaml::from_str("{db: {upstream: '127.0.0.1:1'}}").unwrap();
        let network = Network::start(&specs, None).await.unwrap();
        let toxic = |kind, stream| Toxic {
            name: Toxic::default_name(Kind::toxic_type(&kind), stream),
            stream,
            toxicity: 1.0,
            kind,
        };
        let lag = toxic(Kind::Latency { latency: 5, jitter: 0 }, Stream::Downstream);
        network.add_toxic("db", lag, Some(Duration::from_millis(50))).await.unwrap();
        network.add_toxic("db", toxic(Kind::Timeout { timeout: 0 }, Stream::Upstream), None).await.unwrap();
        assert_eq!(network.proxies.toxics("db").await.unwrap().len(), 2);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let left: Vec<String> = network.proxies.toxics("db").await.unwrap().into_iter().map(|t| t.name).collect();
        assert_eq!(left, ["timeout_upstream"]);
        network.set_enabled("db", false).await.unwrap();
        network.clear().await.unwrap();
        let db = network.proxies.get("db").await.unwrap();
        assert!(db.enabled && db.toxics.is_empty(), "{db:?}");
    }
}
