//! `/`, `/openapi.json`, `/docs`, `/api/*`, `/metrics`.

use crate::support::spawn_app;

#[tokio::test]
async fn root_describes_the_api() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/").await;
    assert_eq!(status, 200);
    assert_eq!(body["name"], "DevStack Core Reference API");
    assert_eq!(body["docs"], "/docs");
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    let mut reference = [
        "name",
        "version",
        "description",
        "docs",
        "health",
        "metrics",
        "security",
        "redis_cluster",
        "examples",
        "note",
    ];
    reference.sort_unstable();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, reference, "the reference implementation's keys, and only those: {body}");
}

#[tokio::test]
async fn openapi_lists_every_route() {
    let app = spawn_app().await;
    let (status, spec) = app.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let paths = spec["paths"].as_object().unwrap();
    for path in [
        "/",
        "/health/",
        "/health/all",
        "/health/vault",
        "/health/postgres",
        "/health/mysql",
        "/health/mongodb",
        "/health/redis",
        "/health/rabbitmq",
        "/health/live",
        "/health/ready",
        "/health/startup",
        "/api/version",
        "/api/info",
        "/examples/vault/secret/{service_name}",
        "/examples/vault/secret/{service_name}/{key}",
        "/examples/database/postgres/query",
        "/examples/database/mysql/query",
        "/examples/database/mongodb/query",
        "/examples/cache/{key}",
        "/examples/messaging/publish",
        "/examples/messaging/queue/{queue_name}/info",
        "/redis/cluster/nodes",
        "/redis/cluster/slots",
        "/redis/cluster/info",
        "/redis/nodes/{node_name}/info",
        "/metrics",
        "/demo/slow",
        "/demo/error",
        "/demo/cpu",
        "/demo/memory",
        "/chaos/faults",
        "/chaos/faults/{id}",
    ] {
        assert!(paths.contains_key(path), "{path} missing from /openapi.json");
    }
    let cache = &paths["/examples/cache/{key}"];
    assert!(cache.get("get").is_some() && cache.get("post").is_some() && cache.get("delete").is_some());
}

#[tokio::test]
async fn docs_serve_swagger_ui_from_the_binary() {
    let app = spawn_app().await;
    let response = app.get("/docs/").await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let bundle = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(bundle.status(), 200, "assets must be bundled, not fetched");
    assert!(bundle.text().await.unwrap().len() > 100_000);
}

#[tokio::test]
async fn version_and_info_report_identity_uptime_and_resources() {
    let app = spawn_app().await;
    let (_, version) = app.get_json("/api/version").await;
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    assert!(version["build"].is_string() && version["environment"].is_string());
    let (_, info) = app.get_json("/api/info").await;
    assert!(info["uptime_seconds"].as_f64().unwrap() >= 0.0);
    assert!(info["process"]["memory_bytes"].as_u64().unwrap() > 1_000_000, "{info}");
    assert!(info["host"]["memory_total_bytes"].as_u64().unwrap() > info["host"]["memory_used_bytes"].as_u64().unwrap());
    assert!(info["host"]["cpu_count"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn metrics_use_documented_names_and_route_templates() {
    let app = spawn_app().await;
    app.get("/examples/cache/some-raw-key").await;
    app.get("/no/such/route").await;
    let response = app.get("/metrics").await;
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#"http_requests_total{endpoint="/examples/cache/{key}",method="GET",status="200"} 1"#),
        "{text}"
    );
    assert!(!text.contains("some-raw-key"), "raw paths must not become labels");
    assert!(text.contains(r#"endpoint="unmatched""#));
    for name in [
        "http_request_duration_seconds_bucket",
        "http_requests_in_progress",
        "http_errors_total",
        "app_info",
        "circuit_breaker_opened_total",
        "circuit_breaker_half_open_total",
        "circuit_breaker_closed_total",
        "circuit_breaker_failures_total",
        "circuit_breaker_state",
    ] {
        assert!(text.contains(name), "{name} missing");
    }
    assert!(text.contains(r#"http_errors_total{error_type="ResourceNotFoundError",status="404"} 1"#), "{text}");
    let bucket = r#"http_request_duration_seconds_bucket{endpoint="/examples/cache/{key}",method="GET",le="30"} 1"#;
    assert!(text.contains(bucket), "the buckets reach the 30 s deadline: {text}");
}

#[tokio::test]
async fn counters_with_known_labels_are_exported_at_zero_from_the_start() {
    let app = spawn_app().await;
    let text = app.get("/metrics").await.text().await.unwrap();
    for series in [
        r#"cache_hits_total{endpoint="/health/all"} 0"#,
        r#"cache_misses_total{endpoint="/examples/vault/secret/{service_name}"} 0"#,
        r#"cache_errors_total{endpoint="/health/all"} 0"#,
        r#"circuit_breaker_opened_total{service="mongodb"} 0"#,
        r#"circuit_breaker_failures_total{service="rabbitmq"} 0"#,
        r#"rate_limit_fallback_total{class="default"} 0"#,
        r#"rate_limit_fallback_total{class="health"} 0"#,
    ] {
        assert!(text.contains(series), "{series} missing: {text}");
    }
}

#[tokio::test]
async fn openapi_documents_validation_rules_caps_and_error_statuses() {
    let app = crate::support::spawn_app_with(|s| s.faults.max_delay_ms = 1234).await;
    let (_, spec) = app.get_json("/openapi.json").await;
    let paths = &spec["paths"];
    let slow = &paths["/demo/slow"]["get"]["parameters"][0]["schema"];
    assert_eq!((slow["minimum"].as_u64(), slow["maximum"].as_u64()), (Some(0), Some(1234)), "{slow}");
    let key = &paths["/examples/cache/{key}"]["get"]["parameters"][0]["schema"];
    assert_eq!(key["pattern"], "^[a-zA-Z0-9_:.-]{1,200}$", "{key}");
    let publish = &paths["/examples/messaging/publish"]["post"];
    assert!(publish["responses"]["414"].is_object(), "hyper's 414 is documented: {publish}");
    for status in ["400", "413", "415", "422", "429", "431", "503"] {
        assert_eq!(
            publish["responses"][status]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody",
            "{status}: {publish}"
        );
    }
    assert_eq!(publish["requestBody"]["content"]["application/json"]["schema"]["minProperties"], 1);
    assert!(spec["components"]["schemas"]["ErrorBody"]["required"].as_array().unwrap().len() == 5);
}
