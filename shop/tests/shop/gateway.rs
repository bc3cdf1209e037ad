//! The gateway: forwarding, request ids, health, the client limit, each upstream's outage.

use reqwest::Method;
use serde_json::json;
use shop::role::Role;

use crate::support::{assert_error, json_of, spawn_shop, spawn_shop_with};

#[tokio::test]
async fn root_and_health_answer_and_health_lists_every_service() {
    let shop = spawn_shop().await;
    let gateway = &shop.urls[&Role::Gateway];
    let (status, root) = json_of(shop.call(Method::GET, gateway, None, None).await).await;
    assert_eq!((status.as_u16(), root["services"].as_array().map(Vec::len)), (200, Some(5)), "{root}");
    let (status, health) = json_of(shop.call(Method::GET, &format!("{gateway}/health"), None, None).await).await;
    assert_eq!((status.as_u16(), health["status"].as_str()), (200, Some("healthy")), "{health}");
    for role in Role::UPSTREAMS {
        assert_eq!(health["services"][role.name()]["status"], "healthy", "{health}");
        assert_eq!(health["services"][role.name()]["breaker"], "closed", "{health}");
    }
}

#[tokio::test]
async fn forwarding_keeps_query_and_request_id_and_adds_upstream_metrics() {
    let shop = spawn_shop().await;
    shop.product(1.0, 1).await;
    let response = shop
        .client
        .get(format!("{}/products/?category=tools&limit=1", shop.api()))
        .header("x-request-id", "gateway-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "gateway-test-1");
    let (status, page) = json_of(response).await;
    assert_eq!((status.as_u16(), page.as_array().map(Vec::len)), (200, Some(1)), "{page}");
    // The body of this 404 is written by the products service: the id travelled with the call.
    let unknown = uuid::Uuid::new_v4();
    let response = shop
        .client
        .get(format!("{}/products/{unknown}", shop.api()))
        .header("x-request-id", "gateway-test-2")
        .send()
        .await
        .unwrap();
    let (status, error) = json_of(response).await;
    assert_error(status, &error, 404, "ResourceNotFoundError");
    assert_eq!(error["request_id"], "gateway-test-2");
    let metrics =
        shop.client.get(format!("{}/metrics", shop.urls[&Role::Gateway])).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"upstream_requests_total{outcome="ok",upstream="products"}"#), "{metrics}");
    assert!(metrics.contains(r#"circuit_breaker_state{service="orders"} 0"#), "{metrics}");
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    let (status, error) = shop.get("/admin/", None).await;
    assert_error(status, &error, 404, "ResourceNotFoundError");
}

#[tokio::test]
async fn each_service_down_is_a_502_with_the_documented_body_and_a_degraded_health() {
    let mut shop = spawn_shop().await;
    let gateway = shop.urls[&Role::Gateway].clone();
    for role in Role::UPSTREAMS {
        shop.stop(role).await;
        let path = match role {
            Role::Users => "/users/".to_owned(),
            Role::Products => "/products/".to_owned(),
            Role::Orders => "/orders/".to_owned(),
            Role::Inventory => format!("/inventory/{}", uuid::Uuid::new_v4()),
            _ => "/notifications/".to_owned(),
        };
        let (status, error) = shop.get(&path, Some(&shop.admin)).await;
        assert_error(status, &error, 502, "BadGatewayError");
        assert_eq!(error["details"]["service"], role.name(), "{error}");
        assert!(error["details"].get("reason").is_none(), "causes stay in the log: {error}");
        let (status, health) = json_of(shop.call(Method::GET, &format!("{gateway}/health"), None, None).await).await;
        assert_eq!((status.as_u16(), health["status"].as_str()), (200, Some("degraded")), "{health}");
        assert_eq!(health["services"][role.name()]["status"], "unreachable", "{health}");
    }
}

#[tokio::test]
async fn a_client_over_its_limit_gets_429_with_retry_after() {
    let shop = spawn_shop_with(|s| s.client_rate = "8/minute".parse().unwrap()).await;
    // The fixture already spent one request logging the administrator in.
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let response = shop.call(Method::GET, &format!("{}/products/", shop.api()), None, None).await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
            let (status, error) = json_of(response).await;
            assert_error(status, &error, 429, "RateLimitError");
        }
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 200, 429]);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let shop = spawn_shop_with(|s| s.base.app.max_body_bytes = 1024).await;
    let (status, error) = shop.post("/users/", None, json!({ "email": "x".repeat(2000) })).await;
    assert_error(status, &error, 413, "ValidationError");
}

#[tokio::test]
async fn the_catalogue_is_served_stale_while_products_is_down_and_nothing_personal_is() {
    let mut shop = spawn_shop().await;
    let product = shop.product(3.0, 1).await;
    let (status, fresh) = shop.get("/products/?limit=10", None).await;
    assert_eq!(status, 200, "{fresh}");
    let (status, one) = shop.get(&format!("/products/{product}"), None).await;
    assert_eq!(status, 200, "{one}");
    shop.stop(Role::Products).await;

    for (path, kept) in [("/products/?limit=10", &fresh), (&format!("/products/{product}")[..], &one)] {
        let response = shop.call(Method::GET, &format!("{}{path}", shop.api()), None, None).await;
        assert_eq!(response.headers().get("x-cache").map(|v| v.to_str().unwrap()), Some("STALE"), "{path}");
        let (status, body) = json_of(response).await;
        assert_eq!((status.as_u16(), &body), (200, kept), "{path}");
    }
    // Never answered before, or asked with a token: the outage shows (a 502, or a 503 once the
    // retried reads opened the breaker).
    for (path, token) in [("/products/?limit=11", None), ("/products/?limit=10", Some(shop.admin.as_str()))] {
        let (status, error) = shop.get(path, token).await;
        let class = if status == 502 { "BadGatewayError" } else { "CircuitBreakerError" };
        assert_error(status, &error, if status == 502 { 502 } else { 503 }, class);
    }
    let metrics = shop.client.get(format!("{}/metrics", shop.urls[&Role::Gateway])).send().await.unwrap();
    let text = metrics.text().await.unwrap();
    let served = text.lines().find(|line| line.starts_with("gateway_stale_answers_total"));
    assert!(served.is_some_and(|line| line.ends_with(" 2")), "{served:?}");
}

#[tokio::test]
async fn every_service_sends_security_headers_refuses_oversized_heads_and_cuts_off_trickling_clients() {
    let timeout = std::time::Duration::from_millis(1500);
    let shop = spawn_shop_with(|s| s.base.app.header_read_timeout = timeout).await;
    for role in Role::ALL {
        let url = format!("{}/health", shop.urls[&role]);
        let answer = shop.client.get(&url).send().await.unwrap();
        for (name, value) in [
            ("content-security-policy", kit::layers::security_headers::API_CSP),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
        ] {
            assert_eq!(answer.headers()[name], value, "{role} {name}");
        }
        let (status, error) =
            json_of(shop.client.get(&url).header("x-padding", "a".repeat(20 * 1024)).send().await.unwrap()).await;
        assert_error(status, &error, 431, "ValidationError");
    }
    let address = shop.urls[&Role::Gateway].trim_start_matches("http://").to_owned();
    let held = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        let started = std::time::Instant::now();
        stream.write_all(b"GET /health HTTP/1.1\r\nHost: test\r\n").unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_millis(400))).unwrap();
        let mut buffer = [0u8; 1024];
        while started.elapsed() < std::time::Duration::from_secs(20) {
            match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let _ = stream.write_all(b"X-Slow: 1\r\n");
                }
                Err(_) => break,
            }
        }
        started.elapsed()
    })
    .await
    .unwrap();
    assert!(held < timeout + std::time::Duration::from_secs(2), "a trickling client held the gateway {held:?}");
}
