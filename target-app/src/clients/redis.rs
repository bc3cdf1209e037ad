//! [`RedisCluster`]: one cluster-aware, multiplexed connection (no `MOVED` surprises) used by the
//! cache API, the response cache, the rate limiter and the cluster introspection endpoints.
//! The password comes from Vault (`redis-1`); the connection is made on first use.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use serde::Serialize;
use serde_json::Value;

use crate::config::RedisSettings;
use kit::clients::dependency::{Dependency, counts_as_failure};
use kit::clients::lazy::Lazy;
use kit::clients::vault::SecretSource;
use kit::error::{ApiError, ApiResult};

/// Budget for the Redis calls on every request's path (rate-limit leases, response-cache
/// entries): slower than this is a recorded failure, and the caller carries on without Redis.
pub const HOT_PATH_BUDGET: Duration = Duration::from_millis(250);

/// How often a failing connection may be replaced to relearn the cluster's topology.
const TOPOLOGY_RETRY: Duration = Duration::from_secs(1);

/// The Redis Cluster; cheap to clone.
#[derive(Clone)]
pub struct RedisCluster {
    settings: RedisSettings,
    secrets: SecretSource,
    dependency: Dependency,
    connection: Lazy<ClusterConnection>,
    /// When the connection was last dropped for failing (see [`RedisCluster::run_within`]).
    replaced_at: Arc<Mutex<Option<Instant>>>,
}

/// A value read with its remaining lifetime.
#[derive(Debug)]
pub struct Entry {
    /// The stored text.
    pub value: String,
    /// Seconds left, or `None` when the key never expires.
    pub ttl: Option<i64>,
}

impl RedisCluster {
    /// Prepares the connection; nothing connects until the first command.
    pub fn connect(settings: &RedisSettings, secrets: SecretSource, dependency: Dependency) -> Self {
        Self {
            settings: settings.clone(),
            secrets,
            dependency,
            connection: Lazy::default(),
            replaced_at: Arc::default(),
        }
    }

    /// The namespace every key the app writes starts with.
    pub fn key_prefix(&self) -> &str {
        &self.settings.key_prefix
    }

    /// `redis-1`..`redis-N` → the configured masters' addresses.
    pub fn node_address(&self, name: &str) -> Option<(String, u16)> {
        let index: usize = name.strip_prefix("redis-")?.parse().ok()?;
        self.settings.nodes.get(index.checked_sub(1)?).cloned()
    }

    /// Reads a key and its TTL.
    #[tracing::instrument(skip_all, fields(key))]
    pub async fn get(&self, key: &str) -> ApiResult<Option<Entry>> {
        self.run("get", |mut c| async move {
            let (value, ttl): (Option<String>, i64) = redis::pipe().get(key).ttl(key).query_async(&mut c).await?;
            Ok(value.map(|value| Entry { value, ttl: (ttl >= 0).then_some(ttl) }))
        })
        .await
    }

    /// Stores text, with an optional TTL in seconds.
    #[tracing::instrument(skip_all, fields(key))]
    pub async fn set(&self, key: &str, value: &str, ttl: Option<u64>) -> ApiResult<()> {
        self.run("set", |mut c| async move {
            match ttl {
                Some(seconds) => c.set_ex(key, value, seconds).await,
                None => c.set(key, value).await,
            }
        })
        .await
    }

    /// Stores bytes with a TTL (response cache entries), within [`HOT_PATH_BUDGET`].
    pub async fn set_bytes(&self, key: &str, value: &[u8], ttl: Duration) -> ApiResult<()> {
        self.run_within("set", HOT_PATH_BUDGET, |mut c| async move { c.set_ex(key, value, ttl.as_secs().max(1)).await })
            .await
    }

    /// Reads bytes (response cache entries), within [`HOT_PATH_BUDGET`].
    pub async fn get_bytes(&self, key: &str) -> ApiResult<Option<Vec<u8>>> {
        self.run_within("get", HOT_PATH_BUDGET, |mut c| async move { c.get(key).await }).await
    }

    /// Deletes a key; true when it existed.
    #[tracing::instrument(skip_all, fields(key))]
    pub async fn delete(&self, key: &str) -> ApiResult<bool> {
        self.run("delete", |mut c| async move { c.del::<_, u64>(key).await.map(|n| n > 0) }).await
    }

    /// Adds `amount` to a window counter (`INCRBY` then `EXPIRE`) within `budget` (what is left
    /// of a request's [`HOT_PATH_BUDGET`]); returns the new total.
    pub async fn incr_window(&self, key: &str, amount: u64, expire: Duration, budget: Duration) -> ApiResult<u64> {
        self.run_within("incr", budget, |mut c| async move {
            let (count,): (u64,) = redis::pipe()
                .incr(key, amount)
                .expire(key, expire.as_secs() as i64)
                .ignore()
                .query_async(&mut c)
                .await?;
            Ok(count)
        })
        .await
    }

    /// Deletes every key matching `pattern` on every master (`SCAN` + `DEL`); returns the count.
    pub async fn delete_matching(&self, pattern: &str) -> ApiResult<u64> {
        let masters: Vec<ClusterNode> = self.nodes().await?.into_iter().filter(|n| n.role == "master").collect();
        self.run("delete_matching", |mut c| async move {
            let mut deleted = 0;
            for node in &masters {
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: node.host.clone(),
                    port: node.port,
                });
                let mut cursor = 0u64;
                loop {
                    let mut scan = redis::cmd("SCAN");
                    scan.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(500);
                    let reply = c.route_command(scan, route.clone()).await?;
                    let (next, keys): (u64, Vec<String>) = redis::from_redis_value(reply)?;
                    for key in keys {
                        deleted += c.del::<_, u64>(&key).await?;
                    }
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
            }
            Ok(deleted)
        })
        .await
    }

    /// `CLUSTER NODES`, parsed.
    pub async fn nodes(&self) -> ApiResult<Vec<ClusterNode>> {
        let text: String = self
            .run("cluster_nodes", |mut c| async move { redis::cmd("CLUSTER").arg("NODES").query_async(&mut c).await })
            .await?;
        Ok(text.lines().filter_map(ClusterNode::parse).collect())
    }

    /// `CLUSTER INFO`, as a map with numbers where the value is numeric.
    pub async fn cluster_info(&self) -> ApiResult<BTreeMap<String, Value>> {
        let text: String = self
            .run("cluster_info", |mut c| async move { redis::cmd("CLUSTER").arg("INFO").query_async(&mut c).await })
            .await?;
        Ok(parse_info(&text))
    }

    /// `INFO` of one node, by address.
    pub async fn node_info(&self, host: &str, port: u16) -> ApiResult<BTreeMap<String, Value>> {
        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host: host.to_owned(), port });
        let reply =
            self.run("node_info", |mut c| async move { c.route_command(redis::cmd("INFO"), route).await }).await?;
        let text: String =
            redis::from_redis_value(reply).map_err(|e| self.dependency.unavailable("node_info", e.to_string()))?;
        Ok(parse_info(&text))
    }

    /// Runs one operation on the shared connection under the `redis` dependency guard.
    async fn run<T, F, Fut>(&self, operation: &'static str, op: F) -> ApiResult<T>
    where
        F: FnOnce(ClusterConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        self.run_within(operation, Duration::MAX, op).await
    }

    /// [`RedisCluster::run`] within a time budget, for the calls every request makes.
    ///
    /// A failing call drops the connection (at most once per [`TOPOLOGY_RETRY`]) so the next one
    /// reconnects and reads the slot map afresh: redis-rs retries a timed-out command on the same
    /// node and refreshes slots only on `MOVED`, which a paused master never sends, so without
    /// this the app would keep asking the old master after its replica took over.
    async fn run_within<T, F, Fut>(&self, operation: &'static str, budget: Duration, op: F) -> ApiResult<T>
    where
        F: FnOnce(ClusterConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        // Waiting for a connection (another caller may be reconnecting) counts against the budget.
        let limit = budget.min(self.dependency.timeout());
        let started = Instant::now();
        let connection = tokio::time::timeout(limit, self.connection.get_or_connect(|| self.open()))
            .await
            .map_err(|_| self.dependency.unavailable(operation, "no connection within the time budget".into()))??;
        let result = self
            .dependency
            .call_within(operation, limit.saturating_sub(started.elapsed()), async {
                op(connection).await.map_err(|e| self.dependency.unavailable(operation, e.to_string()))
            })
            .await;
        if matches!(&result, Err(error) if counts_as_failure(error)) && self.may_replace() {
            tracing::info!(operation, "dropping the Redis Cluster connection to relearn its topology");
            // In the background: a caller may be connecting right now, and this one must not
            // wait for it outside its budget.
            let connection = self.connection.clone();
            tokio::spawn(async move { connection.reset().await });
        }
        result
    }

    /// Whether [`TOPOLOGY_RETRY`] has passed since the connection was last dropped (and if so,
    /// notes now).
    fn may_replace(&self) -> bool {
        let mut replaced_at = self.replaced_at.lock().expect("replaced_at");
        if replaced_at.is_some_and(|at| at.elapsed() < TOPOLOGY_RETRY) {
            return false;
        }
        *replaced_at = Some(Instant::now());
        true
    }

    async fn open(&self) -> ApiResult<ClusterConnection> {
        let password = self.secrets.field("redis-1", "password").await?;
        let urls: Vec<String> =
            self.settings.nodes.iter().map(|(host, port)| format!("redis://{host}:{port}")).collect();
        let client = ClusterClientBuilder::new(urls)
            .password(password)
            .connection_timeout(Duration::from_millis(500))
            .response_timeout(Duration::from_secs(2))
            .retries(1)
            .build()
            .map_err(|e| ApiError::Configuration(format!("REDIS_NODES: {e}")))?;
        self.dependency
            .call("connect", async {
                client.get_async_connection().await.map_err(|e| self.dependency.unavailable("connect", e.to_string()))
            })
            .await
    }
}

/// One line of `CLUSTER NODES`, in the seed's response shape.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterNode {
    /// Node id.
    pub node_id: String,
    /// Announced host.
    pub host: String,
    /// Client port.
    pub port: u16,
    /// `master` or `replica`.
    pub role: String,
    /// Raw flags, e.g. `["master", "myself"]`.
    pub flags: Vec<String>,
    /// The master's id, for replicas.
    pub master_id: Option<String>,
    /// Milliseconds timestamp of the last ping sent.
    pub ping_sent: String,
    /// Milliseconds timestamp of the last pong received.
    pub pong_recv: String,
    /// Config epoch.
    pub config_epoch: u64,
    /// `connected` or `disconnected`.
    pub link_state: String,
    /// Number of slots served.
    pub slots_count: u64,
    /// Slot ranges served.
    pub slot_ranges: Vec<SlotRange>,
}

/// An inclusive range of hash slots.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct SlotRange {
    /// First slot.
    pub start: u64,
    /// Last slot.
    pub end: u64,
}

impl ClusterNode {
    /// Parses `<id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slots...>`.
    pub fn parse(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 8 {
            return None;
        }
        let address = fields[1].split(['@', ',']).next()?;
        let (host, port) = address.rsplit_once(':')?;
        let flags: Vec<String> = fields[2].split(',').map(str::to_owned).collect();
        let role = if flags.iter().any(|f| f == "master") { "master" } else { "replica" };
        let slot_ranges: Vec<SlotRange> = fields[8..]
            .iter()
            .filter(|s| !s.starts_with('['))
            .filter_map(|s| match s.split_once('-') {
                Some((a, b)) => Some(SlotRange { start: a.parse().ok()?, end: b.parse().ok()? }),
                None => s.parse().ok().map(|n| SlotRange { start: n, end: n }),
            })
            .collect();
        Some(Self {
            node_id: fields[0].to_owned(),
            host: host.to_owned(),
            port: port.parse().ok()?,
            role: role.to_owned(),
            flags,
            master_id: (fields[3] != "-").then(|| fields[3].to_owned()),
            ping_sent: fields[4].to_owned(),
            pong_recv: fields[5].to_owned(),
            config_epoch: fields[6].parse().unwrap_or(0),
            link_state: fields[7].to_owned(),
            slots_count: slot_ranges.iter().map(|r| r.end - r.start + 1).sum(),
            slot_ranges,
        })
    }
}

/// Parses `INFO`-style `key:value` lines, skipping `#` headers; numeric values become numbers.
pub fn parse_info(text: &str) -> BTreeMap<String, Value> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.trim().split_once(':'))
        .map(|(key, value)| {
            let parsed = value.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(value));
            (key.to_owned(), parsed)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_master_and_replica_lines() {
        let master =
            ClusterNode::parse("abc 127.0.0.1:7001@17001 myself,master - 0 1698765432 1 connected 0-5460 6000")
                .unwrap();
        assert_eq!(master.role, "master");
        assert_eq!(master.port, 7001);
        assert_eq!(master.slot_ranges, vec![SlotRange { start: 0, end: 5460 }, SlotRange { start: 6000, end: 6000 }]);
        assert_eq!(master.slots_count, 5462);
        let replica = ClusterNode::parse("def 127.0.0.1:7004@17004 slave abc 0 1698765432 1 connected").unwrap();
        assert_eq!(replica.role, "replica");
        assert_eq!(replica.master_id.as_deref(), Some("abc"));
        assert!(ClusterNode::parse("garbage").is_none());
    }

    #[test]
    fn info_numbers_become_numbers() {
        let info = parse_info("# Server\r\nredis_version:7.0.15\r\narch_bits:64\r\n");
        assert_eq!(info["arch_bits"], Value::from(64));
        assert_eq!(info["redis_version"], Value::from("7.0.15"));
    }
}
