//! [`Target`]: the system under test. Either a URL given by the user (loopback, or any URL
//! with `--allow-remote`), or `target-app` started by the harness on a free loopback port with
//! the scenario's env, waited for on `/health/ready`, its log bounded ([`crate::target_log`]),
//! and stopped (by its PID) when the handle drops. Also the HTTP calls the
//! harness makes besides the load: chaos API, `/metrics` and `/api/info` scrapes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

pub mod address;
pub mod ports;
pub mod shop;

use address::{OBSERVER_ADDRESS, RUN_OPT_IN, SCRAPER_ADDRESS, TargetError, check_allowed, is_loopback};
use shop::ShopPorts;

use crate::hosting::{Hosting, Launch, TARGET_APP};
use crate::plan::Target as TargetSpec;
use crate::prometheus::MetricSet;
use crate::report::model::{ResourceSample, TargetLog};
use crate::scenario::interpolate;
use wire::Dependency;
use wire::ShopService;
use wire::chaos::FaultRequest;

/// A running target.
pub struct Target {
    /// Base URL, e.g. `http://127.0.0.1:41234` (the shop's gateway when it hosts the shop).
    pub url: String,
    token: Option<String>,
    client: reqwest::Client,
    /// The processes the harness started, when it hosts the target.
    hosting: Option<Hosting>,
    /// Each hosted shop service's own URL, where its chaos API is; empty for any other target,
    /// whose chaos API is at `url`.
    shop_services: Vec<(String, String)>,
}

/// The harness's own client; calls to a loopback target come from `source`.
fn client(url: &str, source: std::net::IpAddr) -> reqwest::Client {
    let builder = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30));
    let builder = if is_loopback(url) { builder.local_address(source) } else { builder };
    builder.build().expect("HTTP client builds")
}

impl Target {
    /// Connects to `url` (from `--target`) or the scenario's target, starting `target-app` (or
    /// the shop, for `topology: shop`) when neither gives a URL. `log_dir` receives the
    /// self-hosted target's log.
    pub async fn open(
        spec: &TargetSpec,
        url_override: Option<&str>,
        allow_remote: bool,
        hosting: SelfHosting<'_>,
    ) -> Result<Self, TargetError> {
        let SelfHosting { binaries, uses_chaos, run_env, shop_ports, log } = hosting;
        match url_override.or(spec.url.as_deref()) {
            Some(url) => {
                let target = Self::at(url, spec.chaos_token.clone(), allow_remote)?;
                target
                    .client
                    .get(format!("{}/", target.url))
                    .send()
                    .await
                    .map_err(|e| TargetError::Unreachable { url: target.url.clone(), reason: e.to_string() })?;
                Ok(target)
            }
            None if spec.is_shop() => {
                let ports = match shop_ports {
                    Some(ports) => ports.clone(),
                    None => ShopPorts::pick()?,
                };
                Self::start_shop(spec, binaries, uses_chaos, run_env, &ports, log).await
            }
            None => Self::start(spec, binaries, uses_chaos, run_env, log).await,
        }
    }

    /// A handle for read-only calls (scrapes) to an already running target, from
    /// [`SCRAPER_ADDRESS`].
    pub fn observer(url: String) -> Self {
        Self { client: client(&url, SCRAPER_ADDRESS), url, token: None, hosting: None, shop_services: Vec::new() }
    }

    /// A handle for a running target at `url` with the chaos `token`; nothing is started. A
    /// URL off this machine needs `allow_remote`.
    pub fn at(url: &str, token: Option<String>, allow_remote: bool) -> Result<Self, TargetError> {
        check_allowed(url, allow_remote, RUN_OPT_IN)?;
        let url = url.trim_end_matches('/').to_owned();
        Ok(Self { client: client(&url, OBSERVER_ADDRESS), url, token, hosting: None, shop_services: Vec::new() })
    }

    /// The chaos token the harness uses (chosen by it for a self-hosted target), for redaction.
    pub fn chaos_token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The names of the processes the harness hosts (`target-app`, or the shop's services).
    pub fn hosted_names(&self) -> Vec<String> {
        self.hosting.as_ref().map(Hosting::names).unwrap_or_default()
    }

    /// The PID of the hosted process `name`.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.hosting.as_ref()?.pid(name)
    }

    /// Kills the hosted process `name` and starts it again on the same port with the same env,
    /// its log going on in the same file; returns once it is ready.
    pub async fn restart(&self, name: &str) -> Result<(), TargetError> {
        let hosting =
            self.hosting.as_ref().ok_or_else(|| TargetError::Start("the harness did not start this target".into()))?;
        hosting.restart(name).await
    }

    async fn start(
        spec: &TargetSpec,
        binaries: &Binaries,
        uses_chaos: bool,
        run_env: &[(String, String)],
        log: LogDestination<'_>,
    ) -> Result<Self, TargetError> {
        let binary = binaries.target_app()?;
        let port = ports::free_ports(1)?[0];
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        env.insert("HOST".into(), "127.0.0.1".into());
        env.insert("PORT".into(), port.to_string());
        env.insert("LOG_FORMAT".into(), "json".into());
        env.insert("REDIS_KEY_PREFIX".into(), format!("gauntlet-{}-{port}:", std::process::id()));
        let token = finish_env(&mut env, spec, uses_chaos, run_env);
        let url = format!("http://127.0.0.1:{port}");
        let hosting = Self::hosting(&url, log, token.as_deref())?;
        let launch =
            Launch { name: TARGET_APP.into(), binary, args: Vec::new(), env, ready_url: format!("{url}/health/ready") };
        let target = Self {
            client: client(&url, OBSERVER_ADDRESS),
            url,
            token,
            hosting: Some(hosting),
            shop_services: Vec::new(),
        };
        target.hosting.as_ref().expect("just set").start(launch, Duration::from_secs(60)).await?;
        Ok(target)
    }

    /// The shop: every service on a free port (leaves first, the gateway last), each told where
    /// the others are, all sharing a database and queue made for this run (dropped afterwards);
    /// ready once the gateway reports every service healthy.
    async fn start_shop(
        spec: &TargetSpec,
        binaries: &Binaries,
        uses_chaos: bool,
        run_env: &[(String, String)],
        ports: &ShopPorts,
        log: LogDestination<'_>,
    ) -> Result<Self, TargetError> {
        let binary = binaries.shop()?;
        let gateway_port = ports.port(ShopService::Gateway.name()).expect("every service has a port");
        let ports = &ports.0;
        let run = crate::scenario::interpolate::variable(crate::scenario::interpolate::RUN_ID).unwrap_or_default();
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        env.insert("LOG_FORMAT".into(), "json".into());
        env.insert("SHOP_HOST".into(), "127.0.0.1".into());
        env.insert("SHOP_DATABASE".into(), format!("gauntlet_shop_{run}_{gateway_port}"));
        env.insert("ORDER_EVENTS_QUEUE".into(), format!("gauntlet.shop.{run}.{gateway_port}.order.created"));
        if let Some(password) = interpolate::variable(interpolate::SHOP_ADMIN_PASSWORD) {
            env.insert(interpolate::SHOP_ADMIN_PASSWORD.into(), password);
        }
        for (name, port) in ports {
            let upper = name.to_uppercase();
            env.insert(format!("SHOP_{upper}_PORT"), port.to_string());
            env.insert(format!("{upper}_URL"), format!("http://127.0.0.1:{port}"));
        }
        let token = finish_env(&mut env, spec, uses_chaos, run_env);
        let url = format!("http://127.0.0.1:{gateway_port}");
        let hosting = Self::hosting(&url, log, token.as_deref())?;
        let launch = |name: &str, port: u16, ready: &str| Launch {
            name: name.to_owned(),
            binary: binary.clone(),
            args: vec![name.to_owned()],
            env: env.clone(),
            ready_url: format!("http://127.0.0.1:{port}{ready}"),
        };
        hosting.on_stop(Launch { name: "shop-cleanup".into(), ..launch("drop-database", 0, "") });
        let target = Self {
            client: client(&url, OBSERVER_ADDRESS),
            url,
            token,
            hosting: Some(hosting),
            shop_services: ports
                .iter()
                .map(|(name, port)| ((*name).to_owned(), format!("http://127.0.0.1:{port}")))
                .collect(),
        };
        let hosting = target.hosting.as_ref().expect("just set");
        let launches = ports.iter().map(|(name, port)| launch(name, *port, "/health")).collect();
        hosting.start_all(launches, Duration::from_secs(60)).await?;
        Ok(target)
    }

    /// The hosting of a target at `url`, its log masking the run's secrets and the target's
    /// chaos `token`.
    fn hosting(url: &str, log: LogDestination<'_>, token: Option<&str>) -> Result<Hosting, TargetError> {
        std::fs::create_dir_all(log.dir).map_err(|e| TargetError::Start(e.to_string()))?;
        let mut redactor = log.redactor.clone();
        redactor.add(token);
        Ok(Hosting::new(&log.dir.join("target.log"), redactor, client(url, OBSERVER_ADDRESS)))
    }

    /// Stops a self-hosted target: SIGTERM (graceful drain), then SIGKILL after 5 s; returns
    /// how its log was written.
    pub async fn stop(&mut self) -> Option<TargetLog> {
        self.hosting.take()?.stop().await
    }

    /// The HTTP client the harness uses for everything but the load.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    fn chaos(&self, method: reqwest::Method, base: &str, path: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, format!("{base}{path}"));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Where chaos calls go, by service name: the target's URL, or each hosted shop service's
    /// (only `service`'s when given).
    fn chaos_bases(&self, service: Option<ShopService>) -> Vec<(&str, &str)> {
        if self.shop_services.is_empty() {
            return vec![("target", self.url.as_str())];
        }
        let services = self.shop_services.iter().map(|(name, url)| (name.as_str(), url.as_str()));
        services.filter(|(name, _)| service.is_none_or(|wanted| wanted.name() == *name)).collect()
    }

    /// `POST /chaos/faults` wherever the fault goes (see [`Target::chaos_bases`]: under a hosted
    /// shop, `service` alone or every service); returns each service's name with the fault as it
    /// echoed it.
    pub async fn inject(
        &self,
        fault: &FaultRequest,
        service: Option<ShopService>,
    ) -> anyhow::Result<Vec<(String, Value)>> {
        let bases = self.chaos_bases(service);
        anyhow::ensure!(!bases.is_empty(), "no hosted service is named {service:?}");
        let mut injected = Vec::with_capacity(bases.len());
        for (name, base) in bases {
            let response = self.chaos(reqwest::Method::POST, base, "/chaos/faults").json(fault).send().await?;
            let echoed = expect_ok(response).await.map_err(|e| e.context(format!("{name}'s chaos API")))?;
            injected.push((name.to_owned(), echoed));
        }
        Ok(injected)
    }

    /// `GET /chaos/faults` at the target's URL.
    pub async fn faults(&self) -> anyhow::Result<Value> {
        expect_ok(self.chaos(reqwest::Method::GET, &self.url, "/chaos/faults").send().await?).await
    }

    /// `DELETE /chaos/faults/{id}` at the target's URL.
    pub async fn clear(&self, id: &str) -> anyhow::Result<Value> {
        let path = format!("/chaos/faults/{id}");
        expect_ok(self.chaos(reqwest::Method::DELETE, &self.url, &path).send().await?).await
    }

    /// `DELETE /chaos/faults` wherever faults may be (every shop service); how many were active.
    pub async fn clear_all(&self) -> anyhow::Result<u64> {
        let mut cleared = 0;
        for (name, base) in self.chaos_bases(None) {
            let response = self.chaos(reqwest::Method::DELETE, base, "/chaos/faults").send().await?;
            let answer = expect_ok(response).await.map_err(|e| e.context(format!("{name}'s chaos API")))?;
            cleared += answer["cleared"].as_u64().unwrap_or(0);
        }
        Ok(cleared)
    }

    /// A GET of `path` that must answer 2xx with JSON.
    pub async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        expect_ok(self.client.get(format!("{}{path}", self.url)).send().await?).await
    }

    /// A `/metrics` scrape, or `None` if the target has none.
    pub async fn metrics(&self) -> Option<MetricSet> {
        let response = self.client.get(format!("{}/metrics", self.url)).send().await.ok()?;
        response.status().is_success().then_some(())?;
        Some(MetricSet::parse(&response.text().await.ok()?))
    }

    /// Those of `dependencies` that `/health/{name}` does not report healthy, each with what
    /// it reported instead.
    pub async fn unhealthy(&self, dependencies: &[Dependency]) -> Vec<String> {
        let checks = dependencies.iter().map(|dependency| async move {
            let answer = self.client.get(format!("{}/health/{dependency}", self.url)).send().await;
            let status = match answer {
                Ok(response) => match response.json::<Value>().await {
                    Ok(body) if body["status"] == "healthy" => return None,
                    Ok(body) => body["status"].as_str().unwrap_or("no status").to_owned(),
                    Err(error) => error.to_string(),
                },
                Err(error) => error.to_string(),
            };
            Some(format!("{dependency}, which is {status}"))
        });
        futures::future::join_all(checks).await.into_iter().flatten().collect()
    }

    /// The target's version from `/api/version` (`version`, with `build` when given).
    pub async fn version(&self) -> Option<String> {
        let body: Value = self.client.get(format!("{}/api/version", self.url)).send().await.ok()?.json().await.ok()?;
        let version = body["version"].as_str()?;
        Some(match body["build"].as_str() {
            Some(build) => format!("{version} ({build})"),
            None => version.to_owned(),
        })
    }

    /// Process CPU and memory from `/api/info`, if the target reports them.
    pub async fn resources(&self, at_s: f64) -> Option<ResourceSample> {
        let info: Value = self.client.get(format!("{}/api/info", self.url)).send().await.ok()?.json().await.ok()?;
        Some(ResourceSample {
            at_s,
            cpu_percent: info["process"]["cpu_percent"].as_f64()?,
            memory_mb: info["process"]["memory_bytes"].as_f64()? / (1024.0 * 1024.0),
        })
    }
}

async fn expect_ok(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body["message"].as_str().map_or_else(|| body.to_string(), str::to_owned);
        anyhow::bail!("{status}: {message}");
    }
    Ok(body)
}

/// Completes a self-hosted target's env: the chaos API on (with a token the harness picks)
/// when the scenario uses it and its env does not decide, then the scenario's env, then the
/// proxies' addresses. Returns the chaos token.
fn finish_env(
    env: &mut BTreeMap<String, String>,
    spec: &TargetSpec,
    uses_chaos: bool,
    run_env: &[(String, String)],
) -> Option<String> {
    let mut token = spec.chaos_token.clone();
    if uses_chaos && !spec.env.contains_key("CHAOS_ENABLED") {
        let chosen = token.get_or_insert_with(|| format!("gauntlet-{}", rand::random::<u64>())).clone();
        env.insert("CHAOS_ENABLED".into(), "true".into());
        env.insert("CHAOS_TOKEN".into(), chosen);
    }
    env.extend(spec.env.clone());
    // Validation refused a scenario whose env sets what its proxies set.
    env.extend(run_env.iter().cloned());
    token.or_else(|| env.get("CHAOS_TOKEN").cloned())
}

/// What starting a self-hosted target takes besides its spec.
#[derive(Clone, Copy)]
pub struct SelfHosting<'a> {
    /// The programs.
    pub binaries: &'a Binaries,
    /// The scenario uses the chaos API (the hosted target gets it turned on).
    pub uses_chaos: bool,
    /// Variables the run adds: its proxies, its trace receiver.
    pub run_env: &'a [(String, String)],
    /// The shop's ports, when proxies were started in front of its services.
    pub shop_ports: Option<&'a ShopPorts>,
    /// Where `target.log` goes, and what it masks.
    pub log: LogDestination<'a>,
}

/// The directory `target.log` goes into, and the secrets masked in every line written there.
#[derive(Clone, Copy)]
pub struct LogDestination<'a> {
    /// The run's directory.
    pub dir: &'a Path,
    /// The run's secrets.
    pub redactor: &'a crate::redact::Redactor,
}

/// Where the programs the harness can host are: given on the command line, or next to the
/// running harness binary (both live in `target/<profile>/`).
#[derive(Clone, Debug, Default)]
pub struct Binaries {
    /// `--target-bin`.
    pub target_app: Option<PathBuf>,
    /// `--shop-bin`.
    pub shop: Option<PathBuf>,
}

impl Binaries {
    fn target_app(&self) -> Result<PathBuf, TargetError> {
        self.target_app.clone().or_else(|| beside_harness("target-app")).ok_or_else(|| {
            TargetError::Start(
                "target-app binary not found next to harness; build it (cargo build --workspace) or pass --target-bin"
                    .into(),
            )
        })
    }

    fn shop(&self) -> Result<PathBuf, TargetError> {
        self.shop.clone().or_else(|| beside_harness("shop")).ok_or_else(|| {
            TargetError::Start(
                "shop binary not found next to harness; build it (cargo build --workspace) or pass --shop-bin".into(),
            )
        })
    }
}

fn beside_harness(program: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    // Test binaries live one level deeper, in target/<profile>/deps/.
    [dir.join(program), dir.parent()?.join(program)].into_iter().find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::address::MANUAL_OPT_IN;
    use super::*;

    #[test]
    fn every_shop_service_gets_a_port_of_its_own() {
        for _ in 0..20 {
            let ports = ShopPorts::pick().unwrap();
            let distinct: std::collections::BTreeSet<u16> = ports.0.iter().map(|(_, p)| *p).collect();
            assert_eq!(distinct.len(), wire::ShopService::ALL.len(), "{ports:?}");
        }
    }

    #[test]
    fn only_loopback_targets_are_allowed() {
        assert!(is_loopback("http://127.0.0.1:8000"));
        assert!(is_loopback("http://localhost:8000/"));
        assert!(is_loopback("http://[::1]:8000"));
        assert!(!is_loopback("http://10.0.0.5:8000"));
        assert!(!is_loopback("https://example.com"));
        assert!(!is_loopback("not a url"));
    }

    #[test]
    fn remote_targets_need_the_opt_in() {
        let refused = check_allowed("https://example.com", false, RUN_OPT_IN).unwrap_err().to_string();
        assert!(refused.contains("--allow-remote") && refused.contains("allow_remote: true"), "{refused}");
        let refused = check_allowed("https://example.com", false, MANUAL_OPT_IN).unwrap_err().to_string();
        assert!(refused.contains("--allow-remote") && !refused.contains("scenario"), "{refused}");
        assert!(check_allowed("https://example.com", true, RUN_OPT_IN).is_ok());
        assert!(check_allowed("http://127.0.0.1:8000/", false, RUN_OPT_IN).is_ok());
        assert!(check_allowed("ftp://example.com", true, RUN_OPT_IN).is_err());
    }
}
