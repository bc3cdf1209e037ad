//! `/redis/*`.

use crate::support::{assert_error_body, spawn_app};

#[tokio::test]
async fn nodes_lists_three_masters_and_three_replicas() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/redis/cluster/nodes").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["total_nodes"], 6);
    let nodes = body["nodes"].as_array().unwrap();
    assert_eq!(nodes.iter().filter(|n| n["role"] == "master").count(), 3);
    let master = nodes.iter().find(|n| n["role"] == "master").unwrap();
    for field in [
        "node_id",
        "host",
        "port",
        "flags",
        "ping_sent",
        "pong_recv",
        "config_epoch",
        "link_state",
        "slots_count",
        "slot_ranges",
    ] {
        assert!(master.get(field).is_some(), "missing {field}: {master}");
    }
}

#[tokio::test]
async fn slots_cover_all_16384_with_replicas() {
    let app = spawn_app().await;
    let (_, body) = app.get_json("/redis/cluster/slots").await;
    assert_eq!(body["total_slots"], 16384, "{body}");
    assert_eq!(body["coverage_percentage"], 100.0);
    let ranges = body["slot_distribution"].as_array().unwrap();
    assert_eq!(ranges[0]["start_slot"], 0);
    assert!(ranges.iter().all(|r| r["replicas"].as_array().unwrap().len() == 1), "{body}");
}

#[tokio::test]
async fn cluster_info_reports_state_ok() {
    let app = spawn_app().await;
    let (_, body) = app.get_json("/redis/cluster/info").await;
    assert_eq!(body["cluster_info"]["cluster_state"], "ok");
    assert_eq!(body["cluster_info"]["cluster_size"], 3);
}

#[tokio::test]
async fn node_info_maps_names_to_configured_masters_and_404s_unknown_names() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/redis/nodes/redis-2/info").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["node"], "redis-2");
    assert_eq!(body["info"]["redis_mode"], "cluster");
    assert_eq!(body["info"]["tcp_port"], app.state.settings.redis.nodes[1].1);
    for unknown in ["redis-4", "redis-0", "mysql"] {
        let (status, body) = app.get_json(&format!("/redis/nodes/{unknown}/info")).await;
        assert_error_body(status, &body, 404, "ResourceNotFoundError");
    }
}
