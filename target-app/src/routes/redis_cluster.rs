//! Redis Cluster introspection: nodes, slot distribution, cluster info, one node's INFO.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::clients::redis::{ClusterNode, RedisCluster};
use crate::state::AppState;
use kit::error::{ApiError, ApiResult};
use kit::extract::ApiPath;

/// Hash slots in a Redis Cluster.
const MAX_SLOTS: u64 = 16_384;

/// The routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(cluster_nodes))
        .routes(routes!(cluster_slots))
        .routes(routes!(cluster_info))
        .routes(routes!(node_info))
}

/// All cluster nodes with roles and slots.
#[utoipa::path(get, path = "/redis/cluster/nodes", tag = "Redis Cluster", responses((status = 200, description = "Nodes")))]
async fn cluster_nodes(State(redis): State<Arc<RedisCluster>>) -> ApiResult<Json<Value>> {
    let nodes = redis.nodes().await?;
    Ok(Json(json!({ "status": "success", "total_nodes": nodes.len(), "nodes": nodes })))
}

/// Slot distribution across masters and their replicas.
#[utoipa::path(get, path = "/redis/cluster/slots", tag = "Redis Cluster", responses((status = 200, description = "Slots")))]
async fn cluster_slots(State(redis): State<Arc<RedisCluster>>) -> ApiResult<Json<Value>> {
    let nodes = redis.nodes().await?;
    Ok(Json(slot_distribution(&nodes)))
}

/// The seed's slot report, derived from `CLUSTER NODES`.
pub fn slot_distribution(nodes: &[ClusterNode]) -> Value {
    let endpoint = |n: &ClusterNode| json!({ "host": n.host, "port": n.port, "node_id": n.node_id });
    let mut ranges: Vec<(u64, Value)> = Vec::new();
    let mut total = 0;
    for master in nodes.iter().filter(|n| n.role == "master") {
        let replicas: Vec<Value> =
            nodes.iter().filter(|n| n.master_id.as_deref() == Some(master.node_id.as_str())).map(endpoint).collect();
        for range in &master.slot_ranges {
            let count = range.end - range.start + 1;
            total += count;
            ranges.push((
                range.start,
                json!({
                    "start_slot": range.start,
                    "end_slot": range.end,
                    "slots_count": count,
                    "master": endpoint(master),
                    "replicas": replicas,
                }),
            ));
        }
    }
    ranges.sort_by_key(|(start, _)| *start);
    json!({
        "status": "success",
        "total_slots": total,
        "max_slots": MAX_SLOTS,
        "coverage_percentage": (total as f64 * 10_000.0 / MAX_SLOTS as f64).round() / 100.0,
        "slot_distribution": ranges.into_iter().map(|(_, r)| r).collect::<Vec<_>>(),
    })
}

/// Cluster state and statistics.
#[utoipa::path(get, path = "/redis/cluster/info", tag = "Redis Cluster", responses((status = 200, description = "Cluster info")))]
async fn cluster_info(State(redis): State<Arc<RedisCluster>>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "status": "success", "cluster_info": redis.cluster_info().await? })))
}

/// Detailed INFO of one node: `redis-1`..`redis-3` name the configured masters.
#[utoipa::path(get, path = "/redis/nodes/{node_name}/info", tag = "Redis Cluster",
    params(("node_name" = String, Path, description = "redis-1, redis-2 or redis-3")),
    responses((status = 200, description = "Node INFO"), (status = 404, description = "Unknown node")))]
async fn node_info(State(redis): State<Arc<RedisCluster>>, ApiPath(node): ApiPath<String>) -> ApiResult<Json<Value>> {
    let (host, port) =
        redis.node_address(&node).ok_or_else(|| ApiError::not_found(format!("Unknown node {node:?}")))?;
    let info = redis.node_info(&host, port).await?;
    Ok(Json(json!({ "status": "success", "node": node, "info": info })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_coverage_with_replicas_attached() {
        let nodes: Vec<ClusterNode> = [
            "a 127.0.0.1:7001@17001 master - 0 0 1 connected 0-5460",
            "b 127.0.0.1:7002@17002 master - 0 0 2 connected 5461-10922",
            "c 127.0.0.1:7003@17003 master - 0 0 3 connected 10923-16383",
            "d 127.0.0.1:7004@17004 slave a 0 0 1 connected",
        ]
        .iter()
        .filter_map(|l| ClusterNode::parse(l))
        .collect();
        let report = slot_distribution(&nodes);
        assert_eq!(report["total_slots"], 16384);
        assert_eq!(report["coverage_percentage"], 100.0);
        assert_eq!(report["slot_distribution"][0]["replicas"][0]["port"], 7004);
        assert_eq!(report["slot_distribution"][1]["replicas"].as_array().unwrap().len(), 0);
    }
}
