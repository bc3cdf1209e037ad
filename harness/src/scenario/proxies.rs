//! The scenario's `proxies:`: TCP fault proxies the harness runs for the length of the run. A
//! proxy named after a dependency (`postgres`, `mysql`, `rabbitmq`, `vault`, `mongodb`) gets
//! the self-hosted target's address variables for that dependency pointed at it. Under
//! `topology: shop`, a proxy named after a shop service (`products`, ...) may leave out its
//! upstream: it forwards to that service, and every other service reaches it through the proxy.

use std::collections::BTreeMap;

use super::{Action, Scenario};
pub use crate::plan::ProxySpec;
use wire::Dependency;

/// The self-hosted target's variables that point `dependency` at a proxy listening on `listen`,
/// or why that dependency cannot be proxied faithfully.
pub fn target_env(dependency: Dependency, listen: &str) -> Result<Vec<(String, String)>, String> {
    let (host, port) = listen.rsplit_once(':').ok_or_else(|| format!("{listen:?} is not host:port"))?;
    let pair = |prefix: &str| {
        Ok(vec![(format!("{prefix}_HOST"), host.to_owned()), (format!("{prefix}_PORT"), port.to_owned())])
    };
    match dependency {
        Dependency::Postgres => pair("POSTGRES"),
        Dependency::Mysql => pair("MYSQL"),
        Dependency::Rabbitmq => pair("RABBITMQ"),
        Dependency::Mongodb => pair("MONGODB"),
        Dependency::Vault => Ok(vec![("VAULT_ADDR".to_owned(), format!("http://{listen}"))]),
        Dependency::Redis => Err("the Redis Cluster cannot sit behind one proxy: its nodes announce their own \
                                  addresses, so the client's MOVED redirects would go around it; proxy each node \
                                  of the dev stack's second cluster, which announces the proxies' ports (see \
                                  scenarios/network-redis-latency.yaml), or use process faults on its nodes"
            .into()),
    }
}

/// Checks the proxies and the actions that name them.
pub fn validate(scenario: &Scenario) -> Result<(), String> {
    let shop = scenario.target.is_shop();
    for (name, spec) in &scenario.proxies {
        let shop_service = shop && name.parse::<wire::ShopService>().is_ok();
        match &spec.upstream {
            None if shop_service => {}
            None => {
                return Err(format!(
                    "proxies.{name}.upstream: required (only a shop service's proxy, under topology: shop, may leave it out)"
                ));
            }
            Some(upstream) => {
                let (host, port) = upstream.rsplit_once(':').unwrap_or_default();
                if host.is_empty() || port.parse::<u16>().is_err() {
                    return Err(format!("proxies.{name}.upstream: {upstream:?} is not host:port"));
                }
            }
        }
        if let Some(listen) = &spec.listen {
            listen.parse::<std::net::SocketAddr>().map_err(|_| {
                format!("proxies.{name}.listen: {listen:?} is not ip:port (127.0.0.1:0 picks a free port)")
            })?;
        }
        let Ok(dependency) = name.parse::<Dependency>() else { continue };
        let env = target_env(dependency, "127.0.0.1:0").map_err(|why| format!("proxies.{name}: {why}"))?;
        if let Some((variable, _)) = env.iter().find(|(variable, _)| scenario.target.env.contains_key(variable)) {
            return Err(format!(
                "target.env sets {variable}, which the {name} proxy sets for the self-hosted target; drop one"
            ));
        }
    }
    let actions = scenario.actions();
    let known = || scenario.proxies.keys().cloned().collect::<Vec<_>>().join(", ");
    for action in actions {
        let named = match action {
            Action::Network(network) => &network.proxy,
            Action::Proxy(toggle) => &toggle.name,
            _ => continue,
        };
        if !scenario.proxies.contains_key(named) {
            return Err(match scenario.proxies.is_empty() {
                true => format!("proxy {named:?} is not declared; add it under proxies: with its upstream"),
                false => format!("proxy {named:?} is not one of this scenario's proxies ({})", known()),
            });
        }
    }
    Ok(())
}

/// Every proxy by name, as the scenario declares them.
pub type Proxies = BTreeMap<String, ProxySpec>;

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn parse(yaml: &str) -> Result<crate::scenario::LoadedScenario, String> {
        let text =
            format!("name: s\n{yaml}\nphases: [{{name: p, load: {{iterations: 1}}, requests: [{{path: /}}]}}]\n");
        crate::scenario::parse(&text, Path::new("s.yaml")).map_err(|e| e.message)
    }

    #[test]
    fn proxies_and_the_actions_naming_them_are_checked() {
        assert!(parse("proxies: {postgres: {upstream: '127.0.0.1:5432'}}").is_ok());
        let redis = parse("proxies: {redis: {upstream: '127.0.0.1:7001'}}").unwrap_err();
        assert!(redis.contains("MOVED") && redis.contains("network-redis-latency"), "{redis}");
        let clash =
            parse("proxies: {vault: {upstream: '127.0.0.1:8200'}}\ntarget: {env: {VAULT_ADDR: x}}").unwrap_err();
        assert!(clash.contains("VAULT_ADDR"), "{clash}");
        assert!(parse("proxies: {db: {upstream: nowhere}}").unwrap_err().contains("host:port"));
        assert!(parse("target: {topology: shop}\nproxies: {products: {}}").is_ok());
        let missing = parse("proxies: {products: {}}").unwrap_err();
        assert!(missing.contains("only a shop service's proxy"), "{missing}");
        let unknown = parse("proxies: {db: {upstream: 'h:1'}}\nrollback: [{proxy: {name: dv, enabled: true}}]");
        assert!(unknown.unwrap_err().contains("(db)"));
        let wrong =
            parse("proxies: {db: {upstream: 'h:1'}}\nrollback: [{network: {proxy: db, toxic: latency, bytes: 5}}]");
        assert!(wrong.unwrap_err().contains("takes latency_ms, jitter_ms, not bytes"));
    }
}
