//! `/health/*`.

use crate::support::{assert_error_body, dead_port, spawn_app, spawn_app_with};

#[tokio::test]
async fn simple_health_is_ok_without_dependencies() {
    let app = spawn_app_with(|s| s.postgres.port = dead_port()).await;
    let (status, body) = app.get_json("/health/").await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!({ "status": "ok" }));
}

#[tokio::test]
async fn bodies_rendered_once_are_still_labelled_json() {
    let app = spawn_app().await;
    for path in ["/health/", "/health/live", "/api/version"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], "application/json", "{path}");
        let body: serde_json::Value = response.json().await.expect("a JSON body");
        assert!(body.is_object(), "{path}: {body}");
    }
}

#[tokio::test]
async fn each_running_dependency_reports_healthy_with_details() {
    let app = spawn_app().await;
    let (_, vault) = app.get_json("/health/vault").await;
    assert_eq!(vault["status"], "healthy", "{vault}");
    assert_eq!(vault["details"]["sealed"], false);
    assert_eq!(vault["details"]["initialized"], true);
    let (_, postgres) = app.get_json("/health/postgres").await;
    assert_eq!(postgres["status"], "healthy", "{postgres}");
    assert!(postgres["version"].as_str().unwrap().starts_with("PostgreSQL"));
    let (_, mysql) = app.get_json("/health/mysql").await;
    assert_eq!(mysql["status"], "healthy", "{mysql}");
    let (_, redis) = app.get_json("/health/redis").await;
    assert_eq!(redis["status"], "healthy", "{redis}");
    assert_eq!(redis["cluster_state"], "ok");
    assert_eq!(redis["total_nodes"], 6);
    let (_, rabbit) = app.get_json("/health/rabbitmq").await;
    assert_eq!(rabbit["status"], "healthy", "{rabbit}");
}

#[tokio::test]
async fn dependency_pointed_at_a_dead_port_is_unhealthy_with_status_200() {
    let app = spawn_app_with(|s| s.mysql.port = dead_port()).await;
    let (status, body) = app.get_json("/health/mysql").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["error_type"], "DatabaseConnectionError");
}

#[tokio::test]
async fn mongodb_is_unhealthy_when_no_server_answers() {
    let app = spawn_app_with(|s| {
        s.mongodb.url = None;
        s.mongodb.port = dead_port();
    })
    .await;
    let started = std::time::Instant::now();
    let (status, body) = app.get_json("/health/mongodb").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "unhealthy", "{body}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "absent MongoDB must fail fast");
}

#[tokio::test]
async fn health_all_lists_six_services_and_breakers_and_degrades_when_one_is_down() {
    let app = spawn_app_with(|s| {
        s.mongodb.url = None;
        s.mongodb.port = dead_port();
    })
    .await;
    let (status, body) = app.get_json("/health/all").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "degraded", "{body}");
    let services = body["services"].as_object().unwrap();
    assert_eq!(services.len(), 6);
    for healthy in ["vault", "postgres", "mysql", "redis", "rabbitmq"] {
        assert_eq!(services[healthy]["status"], "healthy", "{healthy}: {body}");
    }
    assert_eq!(services["mongodb"]["status"], "unhealthy");
    assert_eq!(body["circuit_breakers"]["postgres"], "closed");
}

#[tokio::test]
async fn ready_is_200_when_required_dependencies_are_up_and_503_when_one_is_down() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/health/ready").await;
    assert_eq!(status, 200, "{body}");

    let app = spawn_app_with(|s| s.postgres.port = dead_port()).await;
    let (status, body) = app.get_json("/health/ready").await;
    assert_error_body(status, &body, 503, "ServiceUnavailableError");
    assert_eq!(body["details"]["failing"], serde_json::json!(["postgres"]));
}

#[tokio::test]
async fn ready_ignores_dependencies_not_listed() {
    let app = spawn_app_with(|s| {
        s.postgres.port = dead_port();
        s.dependencies.ready = vec!["redis".into()];
    })
    .await;
    let (status, body) = app.get_json("/health/ready").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn live_and_startup_probes_answer() {
    let app = spawn_app().await;
    assert_eq!(app.get_json("/health/live").await.0, 200);
    let (status, body) = app.get_json("/health/startup").await;
    assert_eq!(status, 200);
    assert!(body["uptime_seconds"].as_f64().unwrap() >= 0.0);
}

#[tokio::test]
async fn warm_up_connects_dependencies_before_the_first_request() {
    let app = spawn_app_with(|s| s.dependencies.warm_up = true).await;
    let labels = |service: &str| format!("service=\"{service}\"");
    for _ in 0..50 {
        if ["redis", "postgres", "mysql", "rabbitmq"]
            .iter()
            .all(|s| app.metric("dependency_calls_total", &labels(s)) > 0.0)
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("warm-up did not reach every dependency within 5 s");
}
