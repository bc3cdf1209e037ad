//! `redis-failover` pauses a real Redis Cluster master, so it takes the dev stack alone: no
//! other test runs while the cluster fails over.

use std::path::Path;

use crate::common::*;

#[test]
fn redis_failover_passes_and_fails_when_tightened_and_rolls_back() {
    let _stack = alone();
    let shipped = workspace().join("scenarios/redis-failover.yaml");
    let reports = report_dir("redis-failover-pass");
    let output = run(shipped.to_str().unwrap(), &reports, &[]);
    assert_eq!(output.status.code(), Some(0), "as shipped: {}", describe(&output));

    // Tightened: the failed-over phase may not be slower than 1 µs.
    let text = std::fs::read_to_string(&shipped).unwrap();
    let from = r#"latency: {p95: "< 100ms"}"#;
    assert_eq!(text.matches(from).count(), 1);
    let reports = report_dir("redis-failover-fail");
    std::fs::create_dir_all(&reports).unwrap();
    let file = reports.join("redis-failover-tightened.yaml");
    std::fs::write(&file, text.replace(from, r#"latency: {p95: "< 1us"}"#)).unwrap();
    let output = run(file.to_str().unwrap(), &reports, &[]);
    assert_eq!(output.status.code(), Some(1), "tightened: {}", describe(&output));
    let (report, _) = report(&reports);
    let rollback = report["rollback"].as_array().unwrap();
    assert!(rollback.iter().all(|a| a["ok"] == true), "rollback: {rollback:?}");
    // The cluster is whole again, with 7001 leading: the next run starts where this one did.
    let status =
        std::process::Command::new("bash").arg(workspace().join("scripts/services.sh")).arg("status").output().unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("redis-cluster: up"), "{status}");
    assert!(Path::new(&workspace().join(".services/redis/7001/redis.pid")).is_file());
}
