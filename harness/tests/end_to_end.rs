//! End to end: the harness binary runs fixture scenarios against the real target-app (started by
//! the harness itself, or by the test when it must outlive the run) on the real dev stack, and
//! the tests assert on exit codes and `report.json`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name).display().to_string()
}

fn report_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gauntlet-e2e-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs the harness from the workspace root (where `.services/` lives).
fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness")).args(args).current_dir(workspace()).output().expect("harness runs")
}

fn run(scenario: &str, reports: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", scenario, "--quiet", "--report-dir", reports.to_str().unwrap()];
    args.extend_from_slice(extra);
    harness(&args)
}

/// The report.json of the only run in `reports`.
fn report(reports: &Path) -> (Value, PathBuf) {
    let run = std::fs::read_dir(reports)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.join("report.json").is_file())
        .expect("a run directory with report.json");
    (serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap(), run)
}

fn expectations(report: &Value) -> Vec<&Value> {
    report["phases"].as_array().unwrap().iter().flat_map(|p| p["expectations"].as_array().unwrap()).collect()
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

const ALL_KINDS: [&str; 10] = [
    "status",
    "latency",
    "error_rate",
    "throughput",
    "response",
    "rate_limit",
    "breaker",
    "cache",
    "metrics",
    "recovery",
];

#[test]
fn every_kind_passes_against_the_real_target_with_exit_0() {
    let reports = report_dir("pass");
    let output = run(&fixture("every-kind-passes.yaml"), &reports, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().filter(|line| !line.is_empty()).collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("PASSED"),
        "--quiet prints one summary line and nothing of goose's: {stdout:?}"
    );
    let (report, run_dir) = report(&reports);
    assert_eq!(report["verdict"], "passed");
    assert_eq!(report["seed"], 42);
    let all = expectations(&report);
    for kind in ALL_KINDS {
        assert!(all.iter().any(|e| e["kind"] == kind && e["passed"] == true), "no passing {kind}: {report:#}");
    }
    assert!(report["time_to_recover_s"].as_f64().unwrap() >= 1.5, "headline time to recover");
    let steady = &report["phases"][0];
    assert_eq!(steady["requests"], 5);
    assert!(steady["latency"]["p50"].as_f64().unwrap() > 0.0);
    assert!(steady["latency"]["p50"].as_f64().unwrap().fract() != 0.0, "microsecond precision, not whole ms");
    for file in ["index.html", "junit.xml", "goose-01-steady.html"] {
        assert!(run_dir.join(file).is_file(), "{file} missing");
    }
    let junit = std::fs::read_to_string(run_dir.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), all.len());
    assert!(!junit.contains("<failure"));
    let index = std::fs::read_to_string(reports.join("index.html")).unwrap();
    assert!(index.contains("every-kind-passes"));
}

#[test]
fn every_kind_fails_when_its_expectation_is_wrong_with_exit_1() {
    let reports = report_dir("fail");
    let output = run(&fixture("every-kind-fails.yaml"), &reports, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let (report, run_dir) = report(&reports);
    assert_eq!(report["verdict"], "failed");
    let all = expectations(&report);
    assert!(all.iter().all(|e| e["passed"] == false), "every expectation in this fixture must fail: {report:#}");
    for kind in ALL_KINDS {
        assert!(all.iter().any(|e| e["kind"] == kind), "no {kind} expectation");
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.matches("  FAIL ").count(), all.len(), "--quiet still names every failed check: {stdout}");
    let missing = all.iter().find(|e| e["kind"] == "metrics").unwrap();
    assert!(missing["measured"].as_str().unwrap().contains("never appeared"), "fails closed: {missing}");
    let junit = std::fs::read_to_string(run_dir.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<failure").count(), all.len());
}

#[test]
fn unreachable_or_non_loopback_target_exits_3() {
    let reports = report_dir("unreachable");
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let output = run(&fixture("every-kind-passes.yaml"), &reports, &["--target", &format!("http://127.0.0.1:{dead}")]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let (report, _) = report(&reports);
    assert_eq!(report["verdict"], "setup_failed");
    assert!(report["problems"][0].as_str().unwrap().contains("unreachable"));

    let output = run(&fixture("every-kind-passes.yaml"), &report_dir("remote"), &["--target", "http://192.0.2.1:80"]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
}

#[test]
fn a_generator_that_falls_behind_makes_the_run_invalid_with_exit_4() {
    let reports = report_dir("behind");
    let output = run(&fixture("fell-behind.yaml"), &reports, &[]);
    assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
    let (report, _) = report(&reports);
    assert_eq!(report["verdict"], "invalid");
    let schedule = &report["phases"][0]["schedule"];
    assert_eq!(schedule["behind"], true);
    assert!(schedule["achieved_rate"].as_f64().unwrap() < 100.0);
    assert!(report["phases"][0]["latency_corrected"].is_object(), "open-model phases carry corrected percentiles");
}

#[test]
fn a_scenario_whose_required_dependency_is_unhealthy_is_skipped_without_sending() {
    let reports = report_dir("requires");
    let output = run(&fixture("requires-unhealthy.yaml"), &reports, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("SKIPPED"), "the summary says it was skipped, not passed: {stdout}");
    let (report, run_dir) = report(&reports);
    assert_eq!(report["verdict"], "skipped");
    let reason = report["skipped"].as_str().unwrap();
    assert!(reason.contains("mongodb, which is unhealthy"), "{reason}");
    assert!(!reason.contains("postgres"), "a healthy requirement is not named: {reason}");
    assert_eq!(report["phases"].as_array().unwrap().len(), 0, "no phase ran");
    let junit = std::fs::read_to_string(run_dir.join("junit.xml")).unwrap();
    assert!(junit.contains("<skipped message=") && !junit.contains("<failure"), "{junit}");

    // Several scenarios end with one table, a row each.
    let scenario = fixture("requires-unhealthy.yaml");
    let reports = report_dir("requires-twice");
    let output = harness(&["run", &scenario, &scenario, "--report-dir", reports.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let table = stdout.rsplit_once("recovered in").map_or("", |(_, rows)| rows);
    assert_eq!(table.matches("requires-unhealthy       SKIPPED").count(), 2, "{stdout}");
}

/// A target-app the test starts itself, so it outlives the harness run; killed on drop.
struct ExternalTarget {
    url: String,
    child: Child,
}

impl ExternalTarget {
    fn start(token: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let binary = Path::new(env!("CARGO_BIN_EXE_harness")).with_file_name("target-app");
        let child = Command::new(&binary)
            .env("PORT", port.to_string())
            .env("CHAOS_ENABLED", "true")
            .env("CHAOS_TOKEN", token)
            .env("RATE_LIMIT_ENABLED", "false")
            .env("REDIS_KEY_PREFIX", format!("e2e-{port}:"))
            .current_dir(workspace())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e} (build the workspace first)", binary.display()));
        let target = Self { url: format!("http://127.0.0.1:{port}"), child };
        for _ in 0..150 {
            if target.get("/health/").is_some() {
                return target;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("target-app did not start");
    }

    fn get(&self, path: &str) -> Option<String> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let response = reqwest::Client::new()
                .get(format!("{}{path}", self.url))
                .bearer_auth("rollback-token")
                .send()
                .await
                .ok()?;
            response.text().await.ok()
        })
    }
}

impl Drop for ExternalTarget {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn rollback_clears_faults_after_a_failing_phase() {
    let target = ExternalTarget::start("rollback-token");
    let reports = report_dir("rollback");
    let output = run(&fixture("failing-phase-with-rollback.yaml"), &reports, &["--target", &target.url]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let (report, _) = report(&reports);
    assert_eq!(report["phases"][0]["actions"][0]["kind"], "chaos");
    assert_eq!(report["phases"][0]["actions"][0]["ok"], true);
    assert_eq!(report["rollback"][0]["kind"], "clear_chaos");
    assert_eq!(report["rollback"][0]["ok"], true, "{report:#}");
    let faults: Value = serde_json::from_str(&target.get("/chaos/faults").unwrap()).unwrap();
    assert_eq!(faults["count"], 0, "the fault injected by the failed phase was rolled back");
}

#[test]
fn a_failed_before_action_is_a_setup_failure_and_rollback_still_runs() {
    let target = ExternalTarget::start("a-different-token");
    let reports = report_dir("setup");
    let output = run(&fixture("failing-phase-with-rollback.yaml"), &reports, &["--target", &target.url]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let (report, _) = report(&reports);
    assert!(report["problems"][0].as_str().unwrap().contains("before action"), "{report:#}");
    assert_eq!(report["rollback"].as_array().unwrap().len(), 1, "rollback ran");
}

#[test]
fn baseline_comparison_fails_on_a_regression_and_passes_against_itself() {
    let reports = report_dir("baseline");
    let output = run(&fixture("every-kind-passes.yaml"), &reports, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let (mut report, run_dir) = report(&reports);
    let json = run_dir.join("report.json");
    let rerun = harness(&["report", json.to_str().unwrap(), "--baseline", json.to_str().unwrap()]);
    assert_eq!(rerun.status.code(), Some(0), "a run does not regress against itself: {}", describe(&rerun));

    // A baseline twice as fast makes this run a >10% p95 regression.
    for phase in report["phases"].as_array_mut().unwrap() {
        for statistic in ["p95", "p99"] {
            let value = phase["latency"][statistic].as_f64().unwrap();
            phase["latency"][statistic] = Value::from(value / 2.0);
        }
    }
    let faster = reports.join("faster-baseline.json");
    std::fs::write(&faster, serde_json::to_string(&report).unwrap()).unwrap();
    let compared = harness(&["report", json.to_str().unwrap(), "--baseline", faster.to_str().unwrap()]);
    assert_eq!(compared.status.code(), Some(1), "{}", describe(&compared));
    let rewritten: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(rewritten["baseline"]["rows"].as_array().unwrap().iter().any(|r| r["passed"] == false));
}

#[test]
fn html_report_is_self_contained_and_renders_in_headless_chromium() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|p| Path::new(p).exists());
    let chromium = chromium.expect("chromium is required for this test: run `make tools` (apt-get install chromium)");
    let reports = report_dir("html");
    let output = run(&fixture("every-kind-passes.yaml"), &reports, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let (_, run_dir) = report(&reports);
    let page = run_dir.join("index.html");
    let html = std::fs::read_to_string(&page).unwrap();
    for external in ["src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(!html.contains(external), "the report loads {external}... from the network");
    }
    let profile = reports.join("chromium-profile");
    let screenshot = run_dir.join("screenshot.png");
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,2400",
    ];
    let url = format!("file://{}", page.display());
    let dom = Command::new(chromium)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", &url])
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("id=\"verdict\">PASSED"), "verdict rendered: {}", &dom[..dom.len().min(500)]);
    assert!(dom.contains("<svg"), "charts rendered");
    assert!(dom.contains("Time to recover") || dom.contains("time to recover"));
    let shot = Command::new(chromium)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(shot.status.success(), "{}", String::from_utf8_lossy(&shot.stderr));
    let png = std::fs::read(&screenshot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 50_000, "a rendered page, not a blank one ({} bytes)", png.len());
}
