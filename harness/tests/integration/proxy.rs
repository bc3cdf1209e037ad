//! `harness proxy serve` against real clients: the third-party toxiproxy-python client (PyPI),
//! and raw TCP for the toxics' effects.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{free_port, shared};

/// An echo server on a free loopback port.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buffer).await {
                    if n == 0 || stream.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    address
}

/// `harness proxy serve` on a free port, killed on drop.
struct Served(Child, u16);

impl Served {
    fn start() -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_harness"))
            .args(["proxy", "serve", "--listen", &format!("127.0.0.1:{port}")])
            .stderr(Stdio::null())
            .spawn()
            .expect("harness runs");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the proxy API never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self(child, port)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.1)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a third-party client's script from `tests/fixtures/proxy/` (installed by
/// scripts/install-tools.sh) against a served API and an echo upstream; returns what it printed.
async fn run_client(script: &str) -> serde_json::Value {
    let upstream = echo_server().await;
    let served = Served::start();
    let script = format!("{}/tests/fixtures/proxy/{script}", env!("CARGO_MANIFEST_DIR"));
    let output = tokio::process::Command::new("python3")
        .args([&script, &served.1.to_string(), &upstream.port().to_string()])
        .output()
        .await
        .expect("python3 runs");
    assert!(output.status.success(), "{script}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn the_toxiproxy_python_client_adds_latency_and_removes_it() {
    let _stack = shared();
    let seen = run_client("toxiproxy_client.py").await;
    let ms = |key: &str| seen[key].as_f64().unwrap();
    let version: serde_json::Value = serde_json::from_str(seen["version"].as_str().unwrap()).unwrap();
    let parts: Vec<&str> = version["version"].as_str().unwrap().split('.').collect();
    assert!(parts.len() == 3 && parts.iter().all(|p| p.parse::<u32>().is_ok()), "a semver string: {seen}");
    assert_eq!(seen["toxics"], serde_json::json!(["lag"]), "{seen}");
    assert_eq!(seen["toxics_after"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["proxies_after"], serde_json::json!([]), "{seen}");
    let added = ms("toxic_ms") - ms("direct_ms");
    assert!((190.0..400.0).contains(&added), "a 200 ms latency toxic added {added:.1} ms: {seen}");
    assert!(ms("cleared_ms") < 50.0, "latency gone once the toxic is removed: {seen}");
}

#[tokio::test]
async fn chaos_toolkits_toxiproxy_extension_works_unchanged() {
    let _stack = shared();
    let seen = run_client("chaos_toolkit.py").await;
    for key in ["created", "exists", "toxic_created", "refused_while_disabled"] {
        assert_eq!(seen[key], true, "{key}: {seen}");
    }
    assert_eq!(seen["enabled_after_disable"], false, "{seen}");
    assert_eq!(seen["exists_after_delete"], false, "{seen}");
    let added = seen["toxic_ms"].as_f64().unwrap() - seen["direct_ms"].as_f64().unwrap();
    assert!((190.0..400.0).contains(&added), "a 200 ms latency toxic added {added:.1} ms: {seen}");
    assert!(seen["cleared_ms"].as_f64().unwrap() < 50.0, "{seen}");
}

/// Creates a proxy named `name` to `upstream` through the API and returns its listen address.
async fn proxy_to(served: &Served, name: &str, upstream: SocketAddr) -> String {
    let client = reqwest::Client::new();
    let created = client
        .post(served.url("/proxies"))
        .json(&serde_json::json!({"name": name, "upstream": upstream.to_string()}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    created.json::<serde_json::Value>().await.unwrap()["listen"].as_str().unwrap().to_owned()
}

async fn add_toxic(served: &Served, proxy: &str, toxic: serde_json::Value) {
    let response =
        reqwest::Client::new().post(served.url(&format!("/proxies/{proxy}/toxics"))).json(&toxic).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn api_errors_follow_toxiproxy() {
    let _stack = shared();
    let upstream = echo_server().await;
    let served = Served::start();
    proxy_to(&served, "db", upstream).await;
    let client = reqwest::Client::new();
    let again = client.post(served.url("/proxies")).json(&serde_json::json!({"name": "db", "upstream": "127.0.0.1:1"}));
    assert_eq!(again.send().await.unwrap().status(), 409);
    assert_eq!(client.get(served.url("/proxies/nope")).send().await.unwrap().status(), 404);
    let bad = client.post(served.url("/proxies/db/toxics")).json(&serde_json::json!({"type": "earthquake"}));
    let bad = bad.send().await.unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("latency, bandwidth"), "the error lists the toxic types");
    let browser = client.get(served.url("/proxies")).header("user-agent", "Mozilla/5.0");
    assert_eq!(browser.send().await.unwrap().status(), 403);
    add_toxic(&served, "db", serde_json::json!({"type": "latency", "attributes": {"latency": 10}})).await;
    let named = client.get(served.url("/proxies/db/toxics/latency_downstream")).send().await.unwrap();
    assert_eq!(named.status(), 200, "the default name is <type>_<stream>");
    assert_eq!(client.post(served.url("/reset")).send().await.unwrap().status(), 204);
    let toxics: serde_json::Value =
        client.get(served.url("/proxies/db/toxics")).send().await.unwrap().json().await.unwrap();
    assert_eq!(toxics, serde_json::json!([]), "reset removes every toxic");
}

#[tokio::test]
async fn a_disabled_proxy_cuts_open_connections_and_refuses_new_ones() {
    let _stack = shared();
    let upstream = echo_server().await;
    let served = Served::start();
    let listen = proxy_to(&served, "db", upstream).await;
    let mut open = TcpStream::connect(&listen).await.unwrap();
    open.write_all(b"x").await.unwrap();
    let mut byte = [0u8; 1];
    open.read_exact(&mut byte).await.unwrap();
    let client = reqwest::Client::new();
    let off = client.post(served.url("/proxies/db")).json(&serde_json::json!({"enabled": false})).send().await.unwrap();
    assert_eq!(off.json::<serde_json::Value>().await.unwrap()["enabled"], false);
    let read = tokio::time::timeout(Duration::from_secs(2), open.read(&mut byte)).await.expect("the cut is prompt");
    assert!(matches!(read, Ok(0) | Err(_)), "the open connection is closed: {read:?}");
    assert!(TcpStream::connect(&listen).await.is_err(), "new connections are refused");
    client.post(served.url("/proxies/db")).json(&serde_json::json!({"enabled": true})).send().await.unwrap();
    assert!(TcpStream::connect(&listen).await.is_ok(), "enabled again on the same port");
}

#[tokio::test]
async fn timeout_reset_and_limit_toxics_end_connections_as_documented() {
    let _stack = shared();
    let upstream = echo_server().await;
    let served = Served::start();
    // timeout: data is dropped, and the connection closes after the timeout.
    let listen = proxy_to(&served, "blackhole", upstream).await;
    add_toxic(&served, "blackhole", serde_json::json!({"type": "timeout", "attributes": {"timeout": 300}})).await;
    let mut stream = TcpStream::connect(&listen).await.unwrap();
    let started = Instant::now();
    stream.write_all(b"ping").await.unwrap();
    let mut buffer = [0u8; 8];
    let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buffer)).await.expect("closed in time");
    assert!(matches!(read, Ok(0) | Err(_)), "no data passes a timeout toxic: {read:?}");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(250) && waited < Duration::from_secs(2), "closed after {waited:?}");
    // reset_peer: the client sees a reset.
    let listen = proxy_to(&served, "reset", upstream).await;
    add_toxic(
        &served,
        "reset",
        serde_json::json!({"type": "reset_peer", "stream": "upstream", "attributes": {"timeout": 0}}),
    )
    .await;
    add_toxic(&served, "reset", serde_json::json!({"type": "reset_peer", "attributes": {"timeout": 0}})).await;
    let mut stream = TcpStream::connect(&listen).await.unwrap();
    stream.write_all(b"ping").await.unwrap();
    let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buffer)).await.expect("reset in time");
    assert!(matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset), "an RST, not a FIN: {read:?}");
    // limit_data: exactly the limit passes, then the connection closes.
    let listen = proxy_to(&served, "limited", upstream).await;
    add_toxic(&served, "limited", serde_json::json!({"type": "limit_data", "attributes": {"bytes": 5}})).await;
    let mut stream = TcpStream::connect(&listen).await.unwrap();
    stream.write_all(b"0123456789").await.unwrap();
    let mut received = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut received)).await.expect("closed");
    assert_eq!(received, b"01234");
}

#[tokio::test]
async fn bandwidth_slicer_slow_close_and_toxicity_shape_the_stream() {
    let _stack = shared();
    let upstream = echo_server().await;
    let served = Served::start();
    // bandwidth: 20 KB/s makes a 10 KB echo take about half a second.
    let listen = proxy_to(&served, "narrow", upstream).await;
    add_toxic(&served, "narrow", serde_json::json!({"type": "bandwidth", "attributes": {"rate": 20}})).await;
    let mut stream = TcpStream::connect(&listen).await.unwrap();
    let started = Instant::now();
    stream.write_all(&[7u8; 10_000]).await.unwrap();
    let mut echoed = vec![0u8; 10_000];
    stream.read_exact(&mut echoed).await.unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(450) && took < Duration::from_secs(3), "10 KB at 20 KB/s took {took:?}");
    // slicer: 1,000 bytes in 100-byte slices 20 ms apart arrive over about 200 ms, intact.
    let listen = proxy_to(&served, "sliced", upstream).await;
    let slicer = serde_json::json!({"type": "slicer", "attributes": {"average_size": 100, "size_variation": 0, "delay": 20_000}});
    add_toxic(&served, "sliced", slicer).await;
    let mut stream = TcpStream::connect(&listen).await.unwrap();
    let started = Instant::now();
    let sent: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    stream.write_all(&sent).await.unwrap();
    let mut echoed = vec![0u8; 1000];
    stream.read_exact(&mut echoed).await.unwrap();
    assert_eq!(echoed, sent, "slices arrive whole and in order");
    assert!(started.elapsed() >= Duration::from_millis(180), "took {:?}", started.elapsed());
    // slow_close: the close reaches the client 300 ms after the server's.
    let listen = proxy_to(&served, "lingering", upstream).await;
    add_toxic(
        &served,
        "lingering",
        serde_json::json!({"type": "slow_close", "stream": "upstream", "attributes": {"delay": 300}}),
    )
    .await;
    let mut stream = TcpStream::connect(&listen).await.unwrap();
    let started = Instant::now();
    stream.shutdown().await.unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(280), "closed after {:?}", started.elapsed());
    // toxicity 0: the toxic never applies.
    let listen = proxy_to(&served, "spared", upstream).await;
    add_toxic(&served, "spared", serde_json::json!({"type": "timeout", "toxicity": 0.0, "attributes": {"timeout": 0}}))
        .await;
    let mut stream = TcpStream::connect(&listen).await.unwrap();
    stream.write_all(b"ping").await.unwrap();
    let mut echoed = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut echoed)).await.unwrap().unwrap();
    assert_eq!(&echoed, b"ping");
}

#[tokio::test]
async fn proxies_and_toxics_are_bounded() {
    let _stack = shared();
    let served = Served::start();
    let client = reqwest::Client::new();
    for i in 0..1025 {
        let new = serde_json::json!({"name": format!("p{i}"), "upstream": "127.0.0.1:1", "enabled": false});
        let status = client.post(served.url("/proxies")).json(&new).send().await.unwrap().status();
        assert_eq!(status, if i < 1024 { 201 } else { 400 }, "proxy {i}");
    }
    for i in 0..65 {
        let toxic = serde_json::json!({"name": format!("t{i}"), "type": "noop"});
        let status = client.post(served.url("/proxies/p0/toxics")).json(&toxic).send().await.unwrap().status();
        assert_eq!(status, if i < 64 { 200 } else { 400 }, "toxic {i}");
    }
}

#[tokio::test]
async fn populate_replaces_a_changed_proxy_and_leaves_an_unchanged_one_alone() {
    let _stack = shared();
    let (first, second) = (echo_server().await, echo_server().await);
    let served = Served::start();
    let client = reqwest::Client::new();
    let populate = |body: serde_json::Value| client.post(served.url("/populate")).json(&body).send();
    let created = populate(serde_json::json!([
        {"name": "same", "upstream": first.to_string(), "listen": "localhost:0"},
        {"name": "moved", "upstream": first.to_string()},
    ]))
    .await
    .unwrap();
    assert_eq!(created.status(), 201, "a hostname listen address is accepted");
    let created: serde_json::Value = created.json().await.unwrap();
    let same_listen = created["proxies"][0]["listen"].as_str().unwrap().to_owned();
    assert!(same_listen.starts_with("127.0.0.1:") || same_listen.starts_with("[::1]:"), "bound: {created}");
    for proxy in ["same", "moved"] {
        add_toxic(&served, proxy, serde_json::json!({"type": "latency", "attributes": {"latency": 10}})).await;
    }
    let off = client.post(served.url("/proxies/same")).json(&serde_json::json!({"enabled": false}));
    assert_eq!(off.send().await.unwrap().status(), 200);
    let again = populate(serde_json::json!([
        {"name": "same", "upstream": first.to_string()},
        {"name": "moved", "upstream": second.to_string()},
    ]))
    .await
    .unwrap();
    assert_eq!(again.status(), 201);
    let list: serde_json::Value = client.get(served.url("/proxies")).send().await.unwrap().json().await.unwrap();
    let same = &list["same"];
    assert_eq!(
        (same["enabled"].as_bool(), same["toxics"].as_array().map(Vec::len)),
        (Some(false), Some(1)),
        "left alone: {same}"
    );
    assert_eq!(same["listen"], same_listen.as_str());
    let moved = &list["moved"];
    assert_eq!(moved["upstream"], second.to_string());
    assert_eq!(
        (moved["enabled"].as_bool(), moved["toxics"].as_array().map(Vec::len)),
        (Some(true), Some(0)),
        "replaced: {moved}"
    );
}

#[tokio::test]
async fn removing_a_timeout_toxic_closes_the_connections_it_held() {
    let _stack = shared();
    let upstream = echo_server().await;
    let served = Served::start();
    let listen = proxy_to(&served, "held", upstream).await;
    add_toxic(&served, "held", serde_json::json!({"name": "hold", "type": "timeout", "attributes": {"timeout": 0}}))
        .await;
    let mut stream = TcpStream::connect(&listen).await.unwrap();
    stream.write_all(b"ping").await.unwrap();
    let mut buffer = [0u8; 8];
    let held = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buffer)).await;
    assert!(held.is_err(), "a timeout of 0 holds the connection open: {held:?}");
    let removed = reqwest::Client::new().delete(served.url("/proxies/held/toxics/hold")).send().await.unwrap();
    assert_eq!(removed.status(), 204);
    let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer)).await.expect("closed promptly");
    assert!(matches!(read, Ok(0) | Err(_)), "closed, as Toxiproxy does: {read:?}");
}

/// `harness proxy <client command> --api <served>`; its exit code and stdout.
fn client(served: &Served, args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("proxy")
        .args(args)
        .args(["--api", &served.url("")])
        .output()
        .expect("harness runs");
    (
        output.status.code(),
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
    )
}

#[tokio::test]
async fn the_proxy_client_commands_drive_a_served_api_by_hand() {
    let _stack = shared();
    let upstream = echo_server().await;
    let served = Served::start();
    let (code, created) = client(&served, &["create", "db", "--upstream", &upstream.to_string()]);
    assert_eq!(code, Some(0), "{created}");
    assert!(created.starts_with("name") && created.contains(&upstream.to_string()), "{created}");
    let (code, added) =
        client(&served, &["toxic", "add", "db", "-t", "latency", "-a", "latency=200", "-a", "jitter=5"]);
    assert_eq!(code, Some(0), "{added}");
    assert!(added.contains("latency_downstream") && added.contains("latency=200"), "{added}");
    let (_, listed) = client(&served, &["list"]);
    let row = listed.lines().find(|l| l.starts_with("db ")).unwrap_or_else(|| panic!("{listed}"));
    assert!(row.contains("yes") && row.trim_end().ends_with('1'), "one toxic, enabled: {listed}");
    let listen =
        reqwest::get(served.url("/proxies/db")).await.unwrap().json::<serde_json::Value>().await.unwrap()["listen"]
            .as_str()
            .unwrap()
            .to_owned();
    let mut stream = TcpStream::connect(&listen).await.unwrap();
    let started = Instant::now();
    stream.write_all(b"x").await.unwrap();
    let mut byte = [0u8; 1];
    stream.read_exact(&mut byte).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(190), "the toxic added by the client applies");
    let (_, toggled) = client(&served, &["toggle", "db"]);
    assert!(toggled.lines().nth(1).unwrap().contains(" no "), "{toggled}");
    let (_, json) = client(&served, &["inspect", "db", "--json"]);
    let inspected: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (inspected["enabled"].as_bool(), inspected["toxics"][0]["attributes"]["latency"].as_u64()),
        (Some(false), Some(200))
    );
    let (code, removed) = client(&served, &["toxic", "remove", "db", "-n", "latency_downstream"]);
    assert_eq!((code, removed.trim()), (Some(0), "removed toxic latency_downstream from db"));
    let (code, reset) = client(&served, &["reset"]);
    assert_eq!(code, Some(0), "{reset}");
    let (code, missing) = client(&served, &["inspect", "nope"]);
    assert_eq!(code, Some(3), "an API error is reported: {missing}");
    assert!(missing.contains("404") && missing.contains("proxy not found"), "{missing}");
    let (code, deleted) = client(&served, &["delete", "db"]);
    assert_eq!((code, deleted.trim()), (Some(0), "deleted proxy db"));
}
