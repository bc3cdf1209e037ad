//! `--metrics-listen` against a real Prometheus (Debian's `prometheus`, started here on a free
//! loopback port, scraping every second): after a short run, Prometheus holds the harness's
//! series (requests by request name, users, the phase, the chaos fault) and the target's.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// The JSON a GET answers with 2xx, if any.
async fn get(url: &str) -> Option<Value> {
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().unwrap();
    let response = client.get(url).send().await.ok()?.error_for_status().ok()?;
    Some(response.json().await.unwrap_or(Value::Null))
}

/// Polls `url` every 200 ms for up to `limit` until it answers 2xx.
async fn answers(url: &str, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if get(url).await.is_some() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

async fn start_target(port: u16) -> Started {
    let binary = Path::new(env!("CARGO_BIN_EXE_harness")).with_file_name("target-app");
    let child = Command::new(&binary)
        .current_dir(workspace())
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("LOG_FORMAT", "json")
        .env("RATE_LIMIT_ENABLED", "false")
        .env("REDIS_KEY_PREFIX", format!("gauntlet-live-{port}:"))
        .env("CHAOS_ENABLED", "true")
        .env("CHAOS_TOKEN", "live-test-token")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (cargo build --workspace)", binary.display()));
    let started = Started(child);
    let ready = format!("http://127.0.0.1:{port}/health/");
    assert!(answers(&ready, Duration::from_secs(60)).await, "target-app never answered");
    started
}

async fn start_prometheus(port: u16, scraped: &[(&str, u16)], dir: &Path, extra: &[&str]) -> Started {
    let jobs: String = scraped
        .iter()
        .map(|(job, port)| format!("  - job_name: {job}\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"))
        .collect();
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, format!("global: {{scrape_interval: 1s, scrape_timeout: 900ms}}\nscrape_configs:\n{jobs}"))
        .unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus is installed (make tools)");
    let started = Started(child);
    let ready = format!("http://127.0.0.1:{port}/-/ready");
    assert!(answers(&ready, Duration::from_secs(30)).await, "prometheus never became ready");
    started
}

/// Runs `live.yaml` against the target-app on `target_port` with `options`, off the runtime.
async fn run_live(target_port: u16, options: &[&str], reports: &Path) -> std::process::Output {
    let mut args = vec!["--target".to_owned(), format!("http://127.0.0.1:{target_port}")];
    args.extend(options.iter().map(|o| (*o).to_owned()));
    let reports = reports.to_owned();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&fixture("live.yaml"), &reports, &args)
    })
    .await
    .unwrap()
}

/// Each series of an instant query, as (labels, value).
async fn query(prometheus: u16, promql: &str) -> Vec<(Value, f64)> {
    let url = format!("http://127.0.0.1:{prometheus}/api/v1/query?query={}", urlencode(promql));
    let Some(answer) = get(&url).await else { return Vec::new() };
    let results = answer["data"]["result"].as_array().cloned().unwrap_or_default();
    results
        .into_iter()
        .map(|r| (r["metric"].clone(), r["value"][1].as_str().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)))
        .collect()
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn a_real_prometheus_scrapes_the_runs_series_and_the_targets() {
    let _stack = shared();
    let (target_port, metrics_port, prometheus_port) = (free_port(), free_port(), free_port());
    let dir = report_dir("live");
    std::fs::create_dir_all(&dir).unwrap();
    let _target = start_target(target_port).await;
    let scraped = [("harness", metrics_port), ("target", target_port)];
    let _prometheus = start_prometheus(prometheus_port, &scraped, &dir, &[]).await;

    let listen = format!("127.0.0.1:{metrics_port}");
    let reports = dir.join("reports");
    let output = run_live(target_port, &["--metrics-listen", &listen], &reports).await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains(&format!("live metrics: http://{listen}/metrics")));
    let (report, _) = report(&reports);
    let sent = report["phases"][0]["requests"].as_f64().unwrap();

    // What Prometheus scraped while the run lasted (the last second may fall after its last
    // scrape); it may take a moment to answer for the newest samples.
    let over_the_run =
        |promql: String| async move { query(prometheus_port, &format!("max_over_time({promql}[5m])")).await };
    let mut requests = Vec::new();
    let started = Instant::now();
    while requests.len() < 2 && started.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        requests = over_the_run(r#"gauntlet_requests_total{scenario="live",phase="steady"}"#.into()).await;
    }
    let names: Vec<&str> = requests.iter().filter_map(|(labels, _)| labels["request"].as_str()).collect();
    assert!(names.contains(&"health") && names.contains(&"version"), "{requests:?}");
    let seen: f64 = requests.iter().map(|(_, value)| value).sum();
    assert!(seen > 0.0 && seen <= sent, "Prometheus saw {seen} of {sent} requests");

    let single = |promql: &'static str| async move { over_the_run(promql.into()).await.first().map(|(_, v)| *v) };
    assert_eq!(single(r#"gauntlet_users_active{scenario="live",phase="steady"}"#).await, Some(2.0));
    assert_eq!(single(r#"gauntlet_phase_active{scenario="live",phase="steady"}"#).await, Some(1.0));
    assert_eq!(single(r#"gauntlet_faults_active{scenario="live",kind="chaos"}"#).await, Some(1.0));
    let latency = single(r#"gauntlet_request_duration_seconds_count{scenario="live",request="health"}"#).await;
    assert!(latency.is_some_and(|count| count > 0.0), "no latency histogram: {latency:?}");
    // The target's own series, from the same Prometheus.
    let handled = query(prometheus_port, r#"sum(max_over_time(http_requests_total{job="target"}[5m]))"#).await;
    let handled = handled.first().map(|(_, v)| *v);
    assert!(handled.is_some_and(|count| count >= seen), "target's http_requests_total: {handled:?}");

    // Every metric the Grafana dashboard queries is one the harness or the target exported.
    let names = get(&format!("http://127.0.0.1:{prometheus_port}/api/v1/label/__name__/values")).await.unwrap();
    let exported: Vec<&str> = names["data"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let queried = dashboard_metrics();
    assert!(queried.len() >= 10, "{queried:?}");
    let missing: Vec<&String> = queried.iter().filter(|name| !exported.contains(&name.as_str())).collect();
    assert!(missing.is_empty(), "the dashboard queries {missing:?}, which nothing exported (exported: {exported:?})");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_real_prometheus_receives_the_runs_series_by_remote_write() {
    let _stack = shared();
    let (target_port, prometheus_port) = (free_port(), free_port());
    let dir = report_dir("live-push");
    std::fs::create_dir_all(&dir).unwrap();
    let _target = start_target(target_port).await;
    let receiver = ["--web.enable-remote-write-receiver"];
    let _prometheus = start_prometheus(prometheus_port, &[], &dir, &receiver).await;

    let push = format!("http://127.0.0.1:{prometheus_port}/api/v1/write");
    let reports = dir.join("reports");
    let output = run_live(target_port, &["--metrics-push", &push], &reports).await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let (report, _) = report(&reports);
    let sent = report["phases"][0]["requests"].as_f64().unwrap();

    // Nothing scrapes: every sample Prometheus has arrived by remote write, the last push
    // carrying the final counts.
    let mut pushed = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        pushed =
            query(prometheus_port, r#"max_over_time(gauntlet_requests_total{scenario="live",phase="steady"}[5m])"#)
                .await;
        if pushed.iter().map(|(_, v)| v).sum::<f64>() >= sent {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let seen: f64 = pushed.iter().map(|(_, value)| value).sum();
    assert_eq!(seen, sent, "the final push carries every request: {pushed:?}");
    let names = get(&format!("http://127.0.0.1:{prometheus_port}/api/v1/label/__name__/values")).await.unwrap();
    let exported: Vec<&str> = names["data"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let harness_queries: Vec<String> = dashboard_metrics().into_iter().filter(|n| n.starts_with("gauntlet_")).collect();
    assert!(harness_queries.len() >= 5, "{harness_queries:?}");
    let missing: Vec<&String> = harness_queries.iter().filter(|name| !exported.contains(&name.as_str())).collect();
    assert!(missing.is_empty(), "the dashboard queries {missing:?}, which no push carried (pushed: {exported:?})");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The metric names in every panel and annotation query of the provisioned dashboard (which
/// must parse): PromQL with strings, label matchers, ranges and `by (...)` clauses taken out,
/// less function names and keywords.
fn dashboard_metrics() -> std::collections::BTreeSet<String> {
    let file = workspace().join("deploy/grafana/dashboards/gauntlet.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).expect("dashboard parses");
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut queries: Vec<&str> = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().expect("targets"))
        .filter_map(|t| t["expr"].as_str())
        .collect();
    assert_eq!(queries.len(), panels.iter().map(|p| p["targets"].as_array().unwrap().len()).sum::<usize>());
    queries.extend(dashboard["annotations"]["list"].as_array().unwrap().iter().filter_map(|a| a["expr"].as_str()));
    let strip = regex::Regex::new(r#""[^"]*"|\{[^}]*\}|\[[^\]]*\]|\b(by|without)\s*\([^)]*\)"#).unwrap();
    let word = regex::Regex::new(r"[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?").unwrap();
    const KEYWORDS: [&str; 7] = ["and", "or", "unless", "on", "ignoring", "bool", "offset"];
    let mut names = std::collections::BTreeSet::new();
    for query in queries {
        let bare = strip.replace_all(query, " ");
        for found in word.find_iter(&bare) {
            let token = found.as_str();
            if !token.ends_with('(') && !KEYWORDS.contains(&token) {
                names.insert(token.to_owned());
            }
        }
    }
    names
}
