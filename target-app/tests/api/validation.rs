//! Cross-cutting request handling: request ids, error bodies for 404/405/413/400/415, CORS,
//! graceful shutdown.

use std::time::{Duration, Instant};

use crate::support::{assert_error_body, json_of, spawn_app, spawn_app_with};

#[tokio::test]
async fn request_id_is_echoed_or_minted_and_appears_in_error_bodies() {
    let app = spawn_app().await;
    let response =
        app.client.get(format!("{}/health/", app.address)).header("x-request-id", "abc-123-def").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123-def");
    let response = app.get("/health/").await;
    let minted = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&minted).unwrap().get_version_num(), 4);
    let response =
        app.client.get(format!("{}/nope", app.address)).header("x-request-id", "trace-42").send().await.unwrap();
    let (status, body) = json_of(response).await;
    assert_error_body(status, &body, 404, "ResourceNotFoundError");
    assert_eq!(body["request_id"], "trace-42");
}

#[tokio::test]
async fn forged_request_ids_are_replaced() {
    let app = spawn_app().await;
    let response =
        app.client.get(format!("{}/health/", app.address)).header("x-request-id", "evil\tid").send().await.unwrap();
    assert_ne!(response.headers()["x-request-id"], "evil\tid");
}

#[tokio::test]
async fn unknown_route_is_404_and_wrong_method_is_405_with_documented_bodies() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/does/not/exist").await;
    assert_error_body(status, &body, 404, "ResourceNotFoundError");
    let (status, body) = json_of(app.delete("/health/").await).await;
    assert_error_body(status, &body, 405, "MethodNotAllowedError");
}

#[tokio::test]
async fn body_rules_give_413_400_and_415() {
    let app = spawn_app().await;
    let url = format!("{}/examples/messaging/publish?queue_name=q", app.address);
    let huge = vec![b' '; 10 * 1024 * 1024 + 1];
    let response = app.client.post(&url).header("content-type", "application/json").body(huge).send().await.unwrap();
    let (status, body) = json_of(response).await;
    assert_error_body(status, &body, 413, "ValidationError");
    let response = app.client.post(&url).body("{\"a\":1}").send().await.unwrap();
    let (status, body) = json_of(response).await;
    assert_error_body(status, &body, 400, "ValidationError");
    let response = app.client.post(&url).header("content-type", "application/xml").body("<a/>").send().await.unwrap();
    let (status, body) = json_of(response).await;
    assert_error_body(status, &body, 415, "ValidationError");
}

#[tokio::test]
async fn cors_allows_listed_origins_only_unless_debug() {
    let app = spawn_app().await;
    let preflight = |origin: &'static str, address: String, client: reqwest::Client| async move {
        client
            .request(reqwest::Method::OPTIONS, format!("{address}/health/"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap()
    };
    let allowed = preflight("http://localhost:3000", app.address.clone(), app.client.clone()).await;
    assert_eq!(allowed.headers()["access-control-allow-origin"], "http://localhost:3000");
    assert_eq!(allowed.headers()["access-control-max-age"], "600");
    let denied = preflight("http://evil.example", app.address.clone(), app.client.clone()).await;
    assert!(denied.headers().get("access-control-allow-origin").is_none());

    let debug = spawn_app_with(|s| s.app.debug = true).await;
    let any = preflight("http://evil.example", debug.address.clone(), debug.client.clone()).await;
    assert_eq!(any.headers()["access-control-allow-origin"], "*");
    let plain = debug.client.get(format!("{}/health/", debug.address)).send().await.unwrap();
    assert_eq!(plain.headers()["access-control-allow-origin"], "*", "debug grants every caller");
}

#[tokio::test]
async fn simple_requests_get_cors_headers_by_origin_and_every_answer_varies_by_origin() {
    let app = spawn_app().await;
    let url = format!("{}/api/version", app.address);
    let from = |origin: &'static str| app.client.get(&url).header("origin", origin).send();
    let listed = from("http://localhost:3000").await.unwrap();
    assert_eq!(listed.headers()["access-control-allow-origin"], "http://localhost:3000");
    assert_eq!(listed.headers()["access-control-allow-credentials"], "true");
    assert_eq!(listed.headers()["access-control-expose-headers"], "x-request-id");
    let unlisted = from("http://evil.example").await.unwrap();
    assert!(unlisted.headers().get("access-control-allow-origin").is_none());
    let plain = app.client.get(&url).send().await.unwrap();
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get("access-control-allow-origin").is_none());
    for answer in [&listed, &unlisted, &plain] {
        let vary = answer.headers()["vary"].to_str().unwrap();
        assert!(vary.contains("origin"), "a shared cache must key answers by origin: {vary}");
        assert!(answer.headers().contains_key("x-request-id"));
    }
    let missing = app.client.get(format!("{}/no/such/route", app.address)).header("origin", "http://localhost:3000");
    let missing = missing.send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["access-control-allow-origin"], "http://localhost:3000", "errors are readable too");
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests() {
    let mut app = spawn_app().await;
    let client = app.client.clone();
    let url = format!("{}/demo/slow?delay_ms=700", app.address);
    let in_flight = tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) });
    // Shut down once the request is being served (the in-progress gauge shows it), not after a guess.
    let labels = r#"endpoint="/demo/slow",method="GET""#;
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.metric_opt("http_requests_in_progress", labels) != Some(1.0) {
        assert!(Instant::now() < deadline, "the request never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app.shutdown();
    let status = in_flight.await.unwrap().expect("in-flight request completes");
    assert_eq!(status, 200);
    let fresh = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while fresh.get(format!("{}/health/", app.address)).send().await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting new connections 5 s after shutdown");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
