//! End to end: the harness binary runs fixture scenarios against the real target-app (started by
//! the harness itself, or by the test when it must outlive the run) on the real dev stack, and
//! the tests assert on exit codes and `report.json`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::*;

const ALL_KINDS: [&str; 11] = [
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
    "probe",
];

#[test]
fn every_kind_passes_against_the_real_target_with_exit_0() {
    let _stack = shared();
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
    let probe = all.iter().find(|e| e["kind"] == "probe").unwrap();
    assert!(probe["measured"].as_str().unwrap().starts_with("grew by 3 "), "{probe}");
    assert!(steady["latency"]["p50"].as_f64().unwrap() > 0.0);
    assert!(steady["latency"]["p50"].as_f64().unwrap().fract() != 0.0, "microsecond precision, not whole ms");
    for file in ["index.html", "junit.xml", "target.log"] {
        assert!(run_dir.join(file).is_file(), "{file} missing");
    }
    let written: Vec<String> =
        std::fs::read_dir(&run_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!written.iter().any(|f| f.starts_with("goose")), "no goose page contradicting our report: {written:?}");
    assert!(report["target_log"]["written"].as_u64().unwrap() > 0, "{:#}", report["target_log"]);
    assert_eq!(steady["by_request"][0]["name"], "GET /health/");
    assert_eq!(steady["by_request"][0]["requests"], 5);
    assert!(steady["failures"].as_array().unwrap().is_empty());
    let junit = std::fs::read_to_string(run_dir.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), all.len());
    assert!(!junit.contains("<failure"));
    let index = std::fs::read_to_string(reports.join("index.html")).unwrap();
    assert!(index.contains("every-kind-passes"));
}

#[test]
fn every_kind_fails_when_its_expectation_is_wrong_with_exit_1() {
    let _stack = shared();
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
    // The self-hosted target's log lines for a failing request's id sit beside its sample.
    let failures: Vec<&Value> =
        report["phases"].as_array().unwrap().iter().flat_map(|p| p["failures"].as_array().unwrap()).collect();
    let logged = failures.iter().find(|f| !f["target_log"].as_array().is_none_or(|l| l.is_empty()));
    let logged = logged.unwrap_or_else(|| panic!("no failure sample carries target log lines: {failures:#?}"));
    let id = logged["request_id"].as_str().unwrap();
    assert!(
        logged["target_log"].as_array().unwrap().iter().all(|line| line.as_str().unwrap().contains(id)),
        "{logged}"
    );
}

#[test]
fn an_unreachable_target_exits_3() {
    let _stack = shared();
    let reports = report_dir("unreachable");
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let output = run(&fixture("every-kind-passes.yaml"), &reports, &["--target", &format!("http://127.0.0.1:{dead}")]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let (report, _) = report(&reports);
    assert_eq!(report["verdict"], "setup_failed");
    assert!(report["problems"][0].as_str().unwrap().contains("unreachable"));
}

#[test]
fn a_generator_that_falls_behind_makes_the_run_invalid_with_exit_4() {
    let _stack = shared();
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
    let _stack = shared();
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
    let header =
        stdout.lines().rfind(|l| l.starts_with("scenario") && l.contains("recovered in")).expect("a totals table");
    let rows: Vec<&str> =
        stdout.lines().filter(|l| l.starts_with("requires-unhealthy ") && l.contains("SKIPPED")).collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    for row in rows {
        assert_eq!(row.find("SKIPPED"), header.find("verdict"), "columns aligned: {header:?} / {row:?}");
    }
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
    let _stack = shared();
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
    assert_eq!(report["phases"].as_array().unwrap().len(), 2, "the phase after the failed one ran");

    // With --fail-fast the later phase does not run; the rollback still does.
    let reports = report_dir("rollback-fail-fast");
    let output = run(&fixture("failing-phase-with-rollback.yaml"), &reports, &["--target", &target.url, "--fail-fast"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let (report, _) = crate::common::report(&reports);
    assert_eq!(report["phases"].as_array().unwrap().len(), 1, "{report:#}");
    let problems = report["problems"].as_array().unwrap();
    assert!(problems.iter().any(|p| p.as_str().unwrap().contains("1 later phase(s) did not run")), "{problems:?}");
    assert_eq!(report["rollback"][0]["ok"], true, "{report:#}");
    let faults: Value = serde_json::from_str(&target.get("/chaos/faults").unwrap()).unwrap();
    assert_eq!(faults["count"], 0, "rolled back after stopping early");
}

#[test]
fn a_failed_before_action_is_a_setup_failure_and_rollback_still_runs() {
    let _stack = shared();
    let target = ExternalTarget::start("a-different-token");
    let reports = report_dir("setup");
    let output = run(&fixture("failing-phase-with-rollback.yaml"), &reports, &["--target", &target.url]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let (report, _) = report(&reports);
    assert!(report["problems"][0].as_str().unwrap().contains("before action"), "{report:#}");
    assert_eq!(report["rollback"].as_array().unwrap().len(), 1, "rollback ran");
}

#[test]
fn sigterm_during_a_run_rolls_back_exits_5_and_runs_no_later_scenario() {
    let _stack = shared();
    let target = ExternalTarget::start("rollback-token");
    let reports = report_dir("interrupted");
    let scenario = fixture("interrupted.yaml");
    let child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["run", &scenario, &scenario, "--quiet", "--report-dir", reports.to_str().unwrap()])
        .args(["--target", &target.url])
        .current_dir(workspace())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let injected: Value = serde_json::from_str(&target.get("/chaos/faults").unwrap()).unwrap();
    assert_eq!(injected["count"], 1, "the phase is running with its fault: {injected}");
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let started = std::time::Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(15), "ended {:?} after SIGTERM", started.elapsed());
    assert_eq!(output.status.code(), Some(5), "{}", describe(&output));
    let runs = std::fs::read_dir(&reports).unwrap().filter(|e| e.as_ref().unwrap().path().is_dir()).count();
    assert_eq!(runs, 1, "the second scenario never started");
    let (report, _) = report(&reports);
    assert_eq!(report["verdict"], "interrupted", "{report:#}");
    assert!(report["problems"][0].as_str().unwrap().contains("SIGTERM"), "{report:#}");
    assert_eq!(report["rollback"][0]["ok"], true, "{report:#}");
    let faults: Value = serde_json::from_str(&target.get("/chaos/faults").unwrap()).unwrap();
    assert_eq!(faults["count"], 0, "the rollback cleared the fault");
}

#[test]
fn manual_fault_injection_prints_tables_or_json_and_watch_ends_on_ctrl_c() {
    let _stack = shared();
    let target = ExternalTarget::start("rollback-token");
    let fault = |args: &[&str]| {
        let mut all = vec!["fault"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--target", &target.url, "--token", "rollback-token"]);
        harness(&all)
    };
    let injected =
        fault(&["inject", "redis", "latency", "--latency-ms", "300", "--probability", "0.5", "--duration-s", "60"]);
    assert_eq!(injected.status.code(), Some(0), "{}", describe(&injected));
    let table = String::from_utf8_lossy(&injected.stdout).into_owned();
    let header = table.lines().next().unwrap();
    assert!(header.starts_with("id") && header.contains("dependency") && header.ends_with("expires in"), "{table}");
    assert!(
        table.contains("redis") && table.contains("latency 300ms, probability 0.5") && table.contains("60s"),
        "{table}"
    );
    let listed = fault(&["list"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("latency 300ms"), "{}", describe(&listed));
    let json: Value = serde_json::from_slice(&fault(&["list", "--json"]).stdout).expect("--json prints JSON");
    assert_eq!(json["count"], 1, "{json}");

    let watching = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["fault", "list", "--watch", "--target", &target.url, "--token", "rollback-token"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert!(Command::new("kill").args(["-INT", &watching.id().to_string()]).status().unwrap().success());
    let watched = watching.wait_with_output().unwrap();
    assert_eq!(watched.status.code(), Some(0), "Ctrl-C ends --watch cleanly: {}", describe(&watched));
    let frames = String::from_utf8_lossy(&watched.stdout).matches("expires in").count();
    assert!(frames >= 2, "refreshed every second: {}", describe(&watched));

    let cleared = fault(&["clear"]);
    assert_eq!(String::from_utf8_lossy(&cleared.stdout).trim(), "cleared 1 faults", "{}", describe(&cleared));
    let demo = fault(&["demo", "error", "rate=1", "status=503"]);
    let shown = String::from_utf8_lossy(&demo.stdout).into_owned();
    assert!(shown.starts_with("status 503") && shown.contains("status_code: 503"), "{}", describe(&demo));
}

#[test]
fn history_dashboard_and_markdown_summary_follow_fifteen_runs() {
    let _stack = shared();
    let target = ExternalTarget::start("rollback-token");
    let reports = report_dir("history");
    let scenarios = reports.join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    let files: Vec<String> = [("history-a", "/health/"), ("history-b", "/health/"), ("history-c", "/missing")]
        .iter()
        .map(|(name, path)| {
            let file = scenarios.join(format!("{name}.yaml"));
            let yaml = format!(
                "name: {name}\ndescription: one of three\ntarget: {{env: {{RATE_LIMIT_ENABLED: \"false\"}}}}\nphases:\n  - name: steady\n    load: {{users: 1, iterations: 3}}\n    requests:\n      - {{path: {path}}}\n    expect:\n      status: {{200: \"== 100%\"}}\n"
            );
            std::fs::write(&file, yaml).unwrap();
            file.display().to_string()
        })
        .collect();
    let step_summary = reports.join("step-summary.md");
    let summary = reports.join("summary.md");
    for round in 0..5 {
        let mut command = Command::new(env!("CARGO_BIN_EXE_harness"));
        command.args(["run", "--quiet", "--report-dir", reports.to_str().unwrap(), "--target", &target.url]);
        command.args(&files).args(["--summary-md", summary.to_str().unwrap()]).current_dir(workspace());
        if round == 4 {
            command.env("GITHUB_STEP_SUMMARY", &step_summary);
        }
        let output = command.output().unwrap();
        assert_eq!(output.status.code(), Some(1), "history-c fails: {}", describe(&output));
        let note = "NOTE history-a: target.env (RATE_LIMIT_ENABLED) is ignored for a target given by URL";
        assert!(String::from_utf8_lossy(&output.stdout).contains(note), "{}", describe(&output));
    }

    let history: Value = serde_json::from_str(&std::fs::read_to_string(reports.join("history.json")).unwrap()).unwrap();
    let runs = history.as_array().unwrap();
    assert_eq!(runs.len(), 15, "one row per scenario run");
    let of = |name: &str| runs.iter().filter(|r| r["scenario"] == name).collect::<Vec<_>>();
    for name in ["history-a", "history-b", "history-c"] {
        assert_eq!(of(name).len(), 5, "{name}");
    }

    // The dashboard's sparklines and changes are computed from history.json, here again.
    let index = std::fs::read_to_string(reports.join("index.html")).unwrap();
    for name in ["history-a", "history-b", "history-c"] {
        let row_at = index.find(&format!(r#"data-scenario="{name}""#)).unwrap_or_else(|| panic!("{name} row"));
        let row = &index[row_at..row_at + index[row_at..].find("</tr>").unwrap()];
        let p95: Vec<f64> = of(name).iter().map(|r| r["p95_ms"].as_f64().unwrap()).collect();
        let values = p95.iter().map(|v| format!("{v:.6}")).collect::<Vec<_>>().join(",");
        assert!(row.contains(&format!(r#"data-figure="p95" data-values="{values}""#)), "{name} sparkline: {row}");
        let mut earlier = p95[..4].to_vec();
        earlier.sort_by(f64::total_cmp);
        let median = (earlier[1] + earlier[2]) / 2.0;
        let delta = format!("{:.4}", p95[4] / median - 1.0);
        assert!(row.contains(&format!(r#"data-figure="p95" data-delta="{delta}""#)), "{name} change {delta}: {row}");
        assert_eq!(row.matches("/index.html\"").count(), 5, "a link to every run of {name}");
    }
    assert!(
        index.contains(r#"class="scenario failed" data-scenario="history-c""#),
        "the failed filter finds history-c"
    );
    let dom = headless_dom(&reports.join("index.html"));
    assert_eq!(dom.matches("class=\"scenario").count(), 3, "one row per scenario, rendered");
    assert!(dom.matches("<polyline").count() >= 6, "sparklines drawn");

    let table = harness(&["history", "--report-dir", reports.to_str().unwrap()]);
    let lines: Vec<String> = String::from_utf8_lossy(&table.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 16, "a header and 15 runs: {lines:#?}");
    assert!(lines[0].starts_with("started") && lines[0].contains("p95 ms"), "{lines:#?}");
    let two = harness(&[
        "history",
        "--report-dir",
        reports.to_str().unwrap(),
        "--scenario",
        "history-b",
        "--last",
        "2",
        "--json",
    ]);
    let two: Value = serde_json::from_slice(&two.stdout).unwrap();
    assert_eq!(two.as_array().unwrap().len(), 2);
    assert!(two.as_array().unwrap().iter().all(|r| r["scenario"] == "history-b"));

    // The history survives losing its file: rebuilt from the run directories.
    std::fs::remove_file(reports.join("history.json")).unwrap();
    let rebuilt = harness(&["history", "--report-dir", reports.to_str().unwrap(), "--json"]);
    assert_eq!(serde_json::from_slice::<Value>(&rebuilt.stdout).unwrap().as_array().unwrap().len(), 15);

    // The Markdown summary renders: a table of three scenarios, and the failed check.
    let markdown = std::fs::read_to_string(&summary).unwrap();
    let parser = pulldown_cmark::Parser::new_ext(&markdown, pulldown_cmark::Options::ENABLE_TABLES);
    let (mut rows, mut text) = (0, String::new());
    for event in parser {
        match event {
            pulldown_cmark::Event::End(pulldown_cmark::TagEnd::TableRow) => rows += 1,
            pulldown_cmark::Event::Text(t) | pulldown_cmark::Event::Code(t) => text.push_str(&t),
            _ => {}
        }
    }
    assert_eq!(rows, 3, "one table row per scenario: {markdown}");
    assert!(
        text.contains("Failed checks") && text.contains("history-c") && text.contains("GET /missing"),
        "{markdown}"
    );
    assert!(
        std::fs::read_to_string(&step_summary).unwrap().contains("## Gauntlet: FAILED"),
        "appended to GITHUB_STEP_SUMMARY"
    );
}

#[test]
fn baseline_comparison_fails_on_a_regression_and_passes_against_itself() {
    let _stack = shared();
    let reports = report_dir("baseline");
    let output = run(&fixture("every-kind-passes.yaml"), &reports, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let (mut report, run_dir) = report(&reports);
    let json = run_dir.join("report.json");
    let compare = |current: &Value, baseline: &Value, extra: &[&str]| {
        // `harness report` rewrites report.json, index.html and junit.xml in the report's directory.
        let (now, before) = (reports.join("now/report.json"), reports.join("before.json"));
        std::fs::create_dir_all(reports.join("now")).unwrap();
        std::fs::write(&now, serde_json::to_string(current).unwrap()).unwrap();
        std::fs::write(&before, serde_json::to_string(baseline).unwrap()).unwrap();
        let mut args = vec!["report", now.to_str().unwrap(), "--baseline", before.to_str().unwrap()];
        args.extend_from_slice(extra);
        let output = harness(&args);
        let compared: Value = serde_json::from_str(&std::fs::read_to_string(&now).unwrap()).unwrap();
        (output, compared)
    };
    let rerun = harness(&["report", json.to_str().unwrap(), "--baseline", json.to_str().unwrap()]);
    assert_eq!(rerun.status.code(), Some(0), "a run does not regress against itself: {}", describe(&rerun));

    // The 5-request phases of this fixture are too small to compare: even a 10x slower p99 is
    // "not comparable", neither pass nor fail.
    let mut slower = report.clone();
    slower["phases"][0]["latency"]["p99"] =
        Value::from(report["phases"][0]["latency"]["p99"].as_f64().unwrap() * 10.0 + 5.0);
    let (output, compared) = compare(&slower, &report, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let row = |compared: &Value, statistic: &str| {
        compared["baseline"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["phase"] == "steady" && r["request"].is_null() && r["statistic"] == statistic)
            .cloned()
            .unwrap()
    };
    assert_eq!(row(&compared, "p99")["verdict"], "not_comparable");

    // With enough samples, a regression over both thresholds fails and is printed...
    for phase in [&mut report, &mut slower] {
        phase["phases"][0]["requests"] = Value::from(5_000);
    }
    report["phases"][0]["latency"]["p99"] = Value::from(10.0);
    slower["phases"][0]["latency"]["p99"] = Value::from(20.0);
    let (output, compared) = compare(&slower, &report, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(row(&compared, "p99")["verdict"], "fail");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("FAIL steady/baseline: p99 within the baseline rule (measured 20.000ms against 10.000ms"),
        "{stdout}"
    );
    let junit = std::fs::read_to_string(reports.join("now/junit.xml")).unwrap();
    assert!(junit.contains("steady/baseline: p99"), "{junit}");
    // ...while noise under the 1 ms floor passes.
    slower["phases"][0]["latency"]["p99"] = Value::from(10.9);
    let (output, compared) = compare(&slower, &report, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(row(&compared, "p99")["verdict"], "pass");

    // Unlike runs are reported, and fail only when strict.
    slower["target_version"] = Value::from("9.9.9");
    let (output, _) = compare(&slower, &report, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("NOTE baseline: target version 9.9.9"),
        "{}",
        describe(&output)
    );
    let (output, _) = compare(&slower, &report, &["--strict-baseline"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
}

#[test]
fn html_report_is_self_contained_and_renders_in_headless_chromium() {
    let _stack = shared();
    let reports = report_dir("html");
    let output = run(&fixture("every-kind-passes.yaml"), &reports, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let (_, run_dir) = report(&reports);
    let dom = screenshot(&run_dir.join("index.html"), "PASSED");
    assert!(dom.contains("time to recover"));
    assert!(dom.contains("seconds since the run started") && dom.contains(">0s<"), "x axes in seconds");
    assert!(dom.contains("breaker closed") && dom.contains("mysql breaker open"), "breaker bands");
}

/// Renders `page` in headless Chromium, checks it is self-contained and shows `verdict`, takes
/// a screenshot beside it, and returns the DOM.
fn screenshot(page: &Path, verdict: &str) -> String {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|p| Path::new(p).exists());
    let chromium = chromium.expect("chromium is required for this test: run `make tools` (apt-get install chromium)");
    let html = std::fs::read_to_string(page).unwrap();
    for external in ["src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(!html.contains(external), "the report loads {external}... from the network");
    }
    let run_dir = page.parent().unwrap();
    let profile = run_dir.join("chromium-profile");
    let screenshot = run_dir.join("screenshot.png");
    let flags = CHROMIUM_FLAGS;
    let url = format!("file://{}", page.display());
    let dom = Command::new(chromium)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", &url])
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    assert!(dom.contains(&format!("id=\"verdict\">{verdict}")), "verdict rendered: {}", &dom[..dom.len().min(500)]);
    assert!(dom.contains("<svg"), "charts rendered");
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
    dom
}

/// A small HTTP/1.1 server on loopback with failing endpoints: `/drop` closes the connection
/// without answering, `/examples/...` answers 500 with a JSON body echoing the request's
/// Authorization and traceparent headers, `/redis/...` answers 404, anything else 200
/// `{"status":"ok"}`. The harness's own probes come from 127.0.0.2 and always get 200. Every
/// answer has an `X-Request-ID`.
struct FailingServer {
    url: String,
}

impl FailingServer {
    fn start() -> Self {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for (connection, stream) in listener.incoming().flatten().enumerate() {
                std::thread::spawn(move || {
                    let observer = stream.peer_addr().is_ok_and(|a| a.ip().to_string() == "127.0.0.2");
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut writer = stream;
                    for number in 0.. {
                        let mut request_line = String::new();
                        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                            return;
                        }
                        let (mut length, mut authorization, mut traceparent) = (0usize, String::new(), String::new());
                        loop {
                            let mut header = String::new();
                            if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                                break;
                            }
                            let (name, value) = header.split_once(':').unwrap_or((&header, ""));
                            match name.to_ascii_lowercase().as_str() {
                                "content-length" => length = value.trim().parse().unwrap_or(0),
                                "authorization" => authorization = value.trim().to_owned(),
                                "traceparent" => traceparent = value.trim().to_owned(),
                                _ => {}
                            }
                        }
                        let _ = reader.by_ref().take(length as u64).read_to_end(&mut Vec::new());
                        let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                        let (status, body) = match path.as_str() {
                            _ if observer => ("200 OK", r#"{"status":"ok"}"#.to_owned()),
                            "/drop" => return,
                            p if p.starts_with("/examples") => (
                                "500 Internal Server Error",
                                format!(
                                    r#"{{"error":"InternalError","message":"boom at {p}","auth":"{authorization}","traceparent":"{traceparent}"}}"#
                                ),
                            ),
                            p if p.starts_with("/redis") => ("404 Not Found", r#"{"error":"NotFound"}"#.to_owned()),
                            _ => ("200 OK", r#"{"status":"ok"}"#.to_owned()),
                        };
                        let response = format!(
                            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nx-request-id: rid-{connection}-{number}\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if writer.write_all(response.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { url }
    }
}

#[test]
fn a_url_target_gets_a_sampled_traceparent_when_the_scenario_asks_and_the_report_names_its_trace() {
    let _stack = shared();
    let server = FailingServer::start();
    let reports = report_dir("traced-url");
    std::fs::create_dir_all(&reports).unwrap();
    let scenario = reports.join("traced.yaml");
    let text = std::fs::read_to_string(fixture("failing-endpoints.yaml")).unwrap();
    std::fs::write(&scenario, text.replace("seed: 4\n", "seed: 4\ntrace: {sample: 1}\n")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["run", scenario.to_str().unwrap(), "--quiet", "--report-dir", reports.to_str().unwrap()])
        .args(["--target", &server.url])
        .env("GAUNTLET_E2E_TOKEN", "e2e-token")
        .current_dir(workspace())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let (report, _) = report(&reports);
    assert!(report["traces"].is_null(), "no receiver for a URL target");
    let failures = report["phases"][0]["failures"].as_array().unwrap();
    let broken: Vec<&Value> = failures.iter().filter(|f| f["status"] == 500).collect();
    assert!(!broken.is_empty(), "{failures:#?}");
    for failure in broken {
        let id = failure["trace_id"].as_str().expect("a trace id");
        assert_eq!(id.len(), 32);
        let sent = format!("\"traceparent\":\"00-{id}-");
        assert!(failure["body"].as_str().unwrap().contains(&sent), "{failure}");
        assert!(failure["trace"].is_null(), "its spans are in the target's own backend");
    }
}

#[test]
fn a_phase_whose_every_request_was_dropped_fails_its_header_and_json_checks() {
    let _stack = shared();
    let server = FailingServer::start();
    let reports = report_dir("dropped");
    let output = run(&fixture("every-request-dropped.yaml"), &reports, &["--target", &server.url]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let (report, _) = report(&reports);
    let phase = &report["phases"][0];
    assert_eq!(phase["status_counts"]["0"], 4, "{phase:#}");
    let checks: Vec<&Value> = phase["expectations"].as_array().unwrap().iter().collect();
    assert_eq!(checks.len(), 2);
    for check in &checks {
        assert_eq!(check["passed"], false, "no response cannot pass a per-response rule: {check}");
        assert!(check["measured"].as_str().unwrap().starts_with("4 of 4"), "{check}");
    }
    let failures = phase["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 4, "{failures:#?}");
    for failure in failures {
        assert!(failure["status"].is_null());
        assert!(failure["error"].as_str().unwrap().starts_with("closed"), "{failure}");
        assert_eq!((failure["method"].as_str(), failure["path"].as_str()), (Some("GET"), Some("/drop")));
    }
}

#[test]
fn a_failing_smoke_run_names_each_failing_request_with_status_and_body_and_hides_secrets() {
    let _stack = shared();
    let server = FailingServer::start();
    let reports = report_dir("smoke-failing");
    let secret = "e2e-s3cr3t-value";
    let output = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args([
            "run",
            &fixture("failing-endpoints.yaml"),
            "--report-dir",
            reports.to_str().unwrap(),
            "--target",
            &server.url,
        ])
        .env("GAUNTLET_E2E_TOKEN", secret)
        .current_dir(workspace())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let (report, run_dir) = report(&reports);
    let phase = &report["phases"][0];
    let failures = phase["failures"].as_array().unwrap();
    let failed = |path: &str, status: u64| {
        failures
            .iter()
            .find(|f| f["path"] == path && f["status"] == status)
            .unwrap_or_else(|| panic!("{path} {status} not among {failures:#?}"))
    };
    let broken = failed("/examples/database/postgres/query", 500);
    assert!(broken["body"].as_str().unwrap().contains("boom at /examples/database/postgres/query"), "{broken}");
    assert!(broken["request_id"].as_str().unwrap().starts_with("rid-"), "{broken}");
    assert!(broken["body"].as_str().unwrap().contains("\"traceparent\":\"\""), "a URL target gets none unasked");
    assert!(broken["trace_id"].is_null(), "{broken}");
    failed("/redis/cluster/info", 404);
    assert!(!failures.iter().any(|f| f["path"] == "/health/"), "a passing request is not a failure");
    let worst = &phase["by_request"][0];
    assert!(worst["errors"].as_u64().unwrap() > 0, "worst first: {worst}");
    let scoped = phase["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["expected"].as_str().unwrap().starts_with("[GET /health/]"))
        .unwrap();
    assert_eq!(scoped["passed"], true, "scoped to a request that passed: {scoped}");

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("/examples/database/postgres/query") && stdout.contains("→ 500"),
        "stdout names the failing requests: {stdout}"
    );
    let html = std::fs::read_to_string(run_dir.join("index.html")).unwrap();
    assert!(
        html.contains("boom at /examples/database/postgres/query") && html.contains("Failing requests"),
        "HTML shows them"
    );
    let junit = std::fs::read_to_string(run_dir.join("junit.xml")).unwrap();
    assert!(junit.contains("GET /examples/database/postgres/query"), "JUnit names them");
    for (file, text) in [
        ("stdout", stdout.to_string()),
        ("html", html),
        ("junit", junit),
        ("json", std::fs::read_to_string(run_dir.join("report.json")).unwrap()),
    ] {
        assert!(!text.contains(secret), "the secret reached {file}");
        assert!(!text.contains("literal-chaos-token"), "the chaos token reached {file}");
    }
    assert!(report["scenario_text"].as_str().unwrap().contains("Authorization: ***"), "{}", report["scenario_text"]);
    screenshot(&run_dir.join("index.html"), "FAILED");

    // The library's own smoke scenario against the same target names its failing requests too.
    let reports = report_dir("smoke-library");
    let output = run("scenarios/smoke.yaml", &reports, &["--target", &server.url]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let (smoke, run_dir) = self::report(&reports);
    let failures = smoke["phases"][0]["failures"].as_array().unwrap();
    for (path, status) in [("/examples/database/postgres/query", 500), ("/redis/cluster/info", 404)] {
        let failure = failures.iter().find(|f| f["path"] == path).unwrap_or_else(|| panic!("{path}: {failures:#?}"));
        assert_eq!(failure["status"], status, "{failure}");
        assert!(!failure["body"].as_str().unwrap().is_empty(), "{failure}");
    }
    let html = std::fs::read_to_string(run_dir.join("index.html")).unwrap();
    assert!(html.contains("GET /redis/cluster/info") && html.contains("NotFound"), "HTML names them");
}

#[test]
fn a_secret_anywhere_in_a_request_reaches_no_file_no_stdout_and_no_metric_label() {
    let _stack = shared();
    let reports = report_dir("secrets-everywhere");
    let listen =
        format!("127.0.0.1:{}", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port());
    let secret = "e2e-query-path-s3cret";
    let child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["run", &fixture("secrets-everywhere.yaml"), "--report-dir", reports.to_str().unwrap()])
        .args(["--metrics-listen", &listen])
        .env("GAUNTLET_SECRET_TOKEN", secret)
        .current_dir(workspace())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Scrape the live metrics while the phase runs: its request names are labels there.
    let mut scraped = String::new();
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(90) && !scraped.contains("/missing/") {
        std::thread::sleep(Duration::from_millis(200));
        let text = Command::new("curl").args(["-s", "--max-time", "2", &format!("http://{listen}/metrics")]).output();
        if let Ok(text) = text {
            scraped = String::from_utf8_lossy(&text.stdout).into_owned();
        }
    }
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(scraped.contains("GET /missing/${GAUNTLET_SECRET_TOKEN}"), "live labels name the template: {scraped}");

    let (report, run_dir) = report(&reports);
    let phase = &report["phases"][0];
    let names: Vec<&str> =
        phase["by_request"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    for name in ["GET /health/?api_key=${GAUNTLET_SECRET_TOKEN}", "GET /missing/${GAUNTLET_SECRET_TOKEN}"] {
        assert!(names.contains(&name), "a request is named by its template: {names:?}");
    }
    assert!(names.contains(&"GET /boom?token=***"), "a secret-named query value is masked: {names:?}");
    let failures = phase["failures"].as_array().unwrap();
    let missing = failures.iter().find(|f| f["name"] == "GET /missing/${GAUNTLET_SECRET_TOKEN}").unwrap();
    assert_eq!((missing["status"].as_u64(), missing["path"].as_str()), (Some(404), Some("/missing/***")), "{missing}");
    assert!(!missing["target_log"].as_array().unwrap().is_empty(), "the target's lines are shown, masked: {missing}");

    let mut texts = vec![
        ("stdout".to_owned(), String::from_utf8_lossy(&output.stdout).into_owned()),
        ("stderr".to_owned(), String::from_utf8_lossy(&output.stderr).into_owned()),
        ("live /metrics".to_owned(), scraped),
        ("runs index".to_owned(), std::fs::read_to_string(reports.join("index.html")).unwrap()),
    ];
    for entry in std::fs::read_dir(&run_dir).unwrap() {
        let path = entry.unwrap().path();
        texts.push((path.display().to_string(), String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned()));
    }
    assert!(texts.iter().any(|(file, text)| file.ends_with("target.log") && text.contains("/missing/***")));
    for (file, text) in &texts {
        for value in [secret, "literal-header-secret", "literal-query-secret"] {
            assert!(!text.contains(value), "{value} reached {file}");
        }
    }
}

#[test]
fn a_killed_target_app_is_restarted_on_its_port_by_a_process_action() {
    let _stack = shared();
    let reports = report_dir("restart");
    let output = run(&fixture("target-app-restart.yaml"), &reports, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let (report, run_dir) = report(&reports);
    let actions: Vec<&Value> =
        report["phases"].as_array().unwrap().iter().flat_map(|p| p["actions"].as_array().unwrap()).collect();
    assert!(actions.iter().all(|a| a["kind"] == "process" && a["ok"] == true), "{actions:?}");
    assert_eq!(report["phases"][1]["errors"], 3, "the killed target answered nothing");
    // Both processes' lines are in the one log file.
    let log = std::fs::read_to_string(run_dir.join("target.log")).unwrap();
    assert_eq!(log.matches("target-app listening").count(), 2, "{log}");
}

#[test]
fn a_remote_target_needs_the_opt_in() {
    let _stack = shared();
    let output =
        run(&fixture("every-kind-passes.yaml"), &report_dir("remote-refused"), &["--target", "http://192.0.2.1:80"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--allow-remote"), "{}", describe(&output));
}

#[test]
fn captured_values_fill_later_requests_per_user_and_per_run() {
    let _stack = shared();
    let reports = report_dir("captures");
    let output = run(&fixture("captures.yaml"), &reports, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let (report, _) = report(&reports);
    let phase = &report["phases"][0];
    // Each of the 2 users sent `version` once and `echo` 3 times, with the captured values.
    assert_eq!(phase["requests"], 8, "{phase:#}");
    let action = &phase["actions"][0];
    assert_eq!(action["message"], "answered 200 OK; captured app_version", "{action}");
}

#[test]
fn a_capture_that_finds_nothing_fails_and_so_does_every_request_that_needed_it() {
    let _stack = shared();
    let reports = report_dir("captures-missing");
    let output = run(&fixture("captures-missing.yaml"), &reports, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let (report, _) = report(&reports);
    let phase = &report["phases"][0];
    assert_eq!(phase["status_counts"]["0"], 6, "every echo went unsent: {phase:#}");
    let failed: Vec<&Value> =
        phase["expectations"].as_array().unwrap().iter().filter(|e| e["passed"] == false).collect();
    assert_eq!(failed.len(), 2, "echo's status and header rule: {failed:#?}");
    let failures = phase["failures"].as_array().unwrap();
    let error_of = |name: &str| failures.iter().find(|f| f["name"] == name).and_then(|f| f["error"].as_str());
    assert_eq!(error_of("version"), Some("broke capture"), "the answer without the value is named: {failures:#?}");
    assert_eq!(error_of("echo"), Some("unresolved: ${build} was never captured"), "{failures:#?}");
}
