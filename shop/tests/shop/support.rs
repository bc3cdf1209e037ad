//! [`spawn_shop`]: all six services on free ports, wired to each other, with a fresh database
//! and queue, and a [`Shop`] with helpers named after requests.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use shop::auth::Keys;
use shop::config::ShopSettings;
use shop::role::Role;
use tokio::sync::oneshot;

/// The administrator password every test shop keeps.
pub(crate) const ADMIN_PASSWORD: &str = "test-admin-password";

/// A running shop.
pub(crate) struct Shop {
    /// `http://127.0.0.1:<port>` of each service.
    pub(crate) urls: HashMap<Role, String>,
    /// A client without proxies.
    pub(crate) client: reqwest::Client,
    /// The settings the services run with.
    pub(crate) settings: ShopSettings,
    /// The administrator's token.
    pub(crate) admin: String,
    stops: HashMap<Role, oneshot::Sender<()>>,
}

/// The normal settings with test overrides: port 0 everywhere, a database and queue of the
/// test's own, cheap password hashing, quick upstream timeouts and breakers.
pub(crate) fn test_settings() -> ShopSettings {
    let mut settings = shop::config::load().expect("settings load");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    if settings.base.vault.approle_dir.is_relative() {
        settings.base.vault.approle_dir = root.join(&settings.base.vault.approle_dir);
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    settings.database = format!("shop_test_{}", &id[..12]);
    settings.events_queue = format!("shop.test.{}", &id[..12]);
    settings.admin_password = Some(ADMIN_PASSWORD.to_owned().into());
    settings.argon2_memory_kib = 1024;
    settings.upstream.timeout = Duration::from_millis(1500);
    settings.upstream.breaker.failure_threshold = 3;
    settings.upstream.breaker.reset_timeout = Duration::from_secs(2);
    settings.upstream.health_timeout = Duration::from_millis(500);
    for role in Role::ALL {
        settings.ports.insert(role, 0);
    }
    settings
}

/// The shop with [`test_settings`].
pub(crate) async fn spawn_shop() -> Shop {
    spawn_shop_with(|_| {}).await
}

/// The shop with [`test_settings`] changed by `configure` (which may point a service's URL
/// elsewhere: that service is then not started).
pub(crate) async fn spawn_shop_with(configure: impl FnOnce(&mut ShopSettings)) -> Shop {
    let mut settings = test_settings();
    let defaults = settings.urls.clone();
    configure(&mut settings);
    let mut shop =
        Shop { urls: HashMap::new(), client: client(), settings, admin: String::new(), stops: HashMap::new() };
    for role in Role::ALL {
        if role != Role::Gateway && shop.settings.urls[&role] != defaults[&role] {
            continue; // pointed elsewhere by the test
        }
        let service = shop::server::build(role, shop.settings.clone()).await.expect("service builds");
        let url = format!("http://127.0.0.1:{}", service.port);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(service.run(async {
            let _ = stopped.await;
        }));
        shop.settings.urls.insert(role, url.clone());
        shop.urls.insert(role, url);
        shop.stops.insert(role, stop);
    }
    shop.admin = shop.token("admin@shop.local", ADMIN_PASSWORD).await;
    shop
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().unwrap()
}

/// A loopback port nothing listens on.
pub(crate) fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port())
}

/// A listener that completes TCP handshakes (the kernel's backlog) but never reads: a service
/// that is stopped with SIGSTOP looks exactly like this to its callers.
pub(crate) fn hung_url() -> (String, std::net::TcpListener) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port()), listener)
}

/// Status and JSON body of a response.
pub(crate) async fn json_of(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text })))
}

impl Drop for Shop {
    fn drop(&mut self) {
        for (_, stop) in self.stops.drain() {
            let _ = stop.send(());
        }
        // The test's database goes with it; a runtime of its own, since this one is ending.
        let settings = self.settings.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let _ = shop::server::drop_database(&settings).await;
            });
        })
        .join();
    }
}

impl Shop {
    /// The gateway's `http://127.0.0.1:<port>/api`.
    pub(crate) fn api(&self) -> String {
        format!("{}/api", self.urls[&Role::Gateway])
    }

    /// Stops `role` gracefully; its port then refuses connections.
    pub(crate) async fn stop(&mut self, role: Role) {
        let _ = self.stops.remove(&role).expect("running").send(());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    /// The keys the services sign with, read from Vault as they do.
    pub(crate) async fn keys(&self) -> Keys {
        let secrets = shop::server::vault(&self.settings).unwrap();
        shop::server::token_keys(&secrets, &self.settings).await.unwrap()
    }

    /// The `Authorization` value the orders service sends the inventory service, signed with
    /// the key Vault holds as the services do.
    pub(crate) async fn orders_service(&self) -> String {
        let secrets = shop::server::vault(&self.settings).unwrap();
        let keys = shop::server::service_keys(&secrets, Role::Orders).await.unwrap();
        keys.authorization(Role::Inventory).unwrap()
    }

    /// `POST` straight to the inventory service's `/inventory/{product}/{step}` (reserve or
    /// release) as the orders service does.
    pub(crate) async fn stock_step(&self, product: &str, step: &str, body: Value) -> (StatusCode, Value) {
        let url = format!("{}/inventory/{product}/{step}", self.urls[&Role::Inventory]);
        let request = self.client.post(url).header("authorization", self.orders_service().await).json(&body);
        json_of(request.send().await.expect("request sent")).await
    }

    /// `method` `url` with a bearer token and an optional JSON body.
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut request = self.client.request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request sent")
    }

    /// `GET` through the gateway.
    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        json_of(self.call(reqwest::Method::GET, &format!("{}{path}", self.api()), token, None).await).await
    }

    /// `POST` through the gateway.
    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        json_of(self.call(reqwest::Method::POST, &format!("{}{path}", self.api()), token, Some(body)).await).await
    }

    /// `PUT` through the gateway.
    pub(crate) async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        json_of(self.call(reqwest::Method::PUT, &format!("{}{path}", self.api()), token, Some(body)).await).await
    }

    /// A token for `email`.
    pub(crate) async fn token(&self, email: &str, password: &str) -> String {
        let (status, body) = self.post("/auth/token", None, json!({ "email": email, "password": password })).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Registers a user; returns their id and token.
    pub(crate) async fn register(&self, email: &str) -> (String, String) {
        let body = json!({ "email": email, "full_name": "Test User", "password": "password123" });
        let (status, user) = self.post("/users/", None, body).await;
        assert_eq!(status, 201, "{user}");
        (user["id"].as_str().unwrap().to_owned(), self.token(email, "password123").await)
    }

    /// Creates a product priced `price` with `stock` units; returns its id.
    pub(crate) async fn product(&self, price: f64, stock: i64) -> String {
        let body = json!({ "name": "Widget", "price": price, "category": "tools" });
        let (status, product) = self.post("/products/", Some(&self.admin), body).await;
        assert_eq!(status, 201, "{product}");
        let id = product["id"].as_str().unwrap().to_owned();
        let (status, stocked) =
            self.put(&format!("/inventory/{id}"), Some(&self.admin), json!({ "available": stock })).await;
        assert_eq!(status, 200, "{stocked}");
        id
    }

    /// The product's `(available, reserved)`.
    pub(crate) async fn stock(&self, product: &str) -> (i64, i64) {
        let (status, stock) = self.get(&format!("/inventory/{product}"), None).await;
        assert_eq!(status, 200, "{stock}");
        (stock["available"].as_i64().unwrap(), stock["reserved"].as_i64().unwrap())
    }

    /// `POST /api/orders/` for `quantity` of `product`.
    pub(crate) async fn order(&self, token: &str, product: &str, quantity: i64) -> (StatusCode, Value) {
        self.post("/orders/", Some(token), json!({ "items": [{ "product_id": product, "quantity": quantity }] })).await
    }
}

/// Asserts the documented error body with `status` and error class `error`.
pub(crate) fn assert_error(status: StatusCode, body: &Value, expected: u16, error: &str) {
    assert_eq!(status.as_u16(), expected, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["status_code"], expected, "{body}");
    assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}
