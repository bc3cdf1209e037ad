//! `harness run --workers 3` against the self-hosted target: the merged counts are the workers'
//! sums, a lost worker makes the run invalid (exit 4, named), and a scenario that needs one send
//! order is refused. (That merged percentiles equal one histogram's is shown in
//! `measure::delta`'s unit tests.)

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

mod common;
use common::*;

#[test]
fn three_workers_send_exactly_the_phase_and_the_report_sums_them() {
    let reports = report_dir("distributed");
    let output = run(&fixture("distributed.yaml"), &reports, &["--workers", "3"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let (report, _) = report(&reports);
    let counted = &report["phases"][0];
    // 7 users x 20 iterations x 2 requests, split 3 + 2 + 2 users.
    assert_eq!(counted["requests"], 280, "{counted}");
    let workers: Vec<u64> =
        counted["workers"].as_array().unwrap().iter().map(|w| w["requests"].as_u64().unwrap()).collect();
    assert_eq!(workers, [120, 80, 80]);
    let by_request: u64 =
        counted["by_request"].as_array().unwrap().iter().map(|r| r["requests"].as_u64().unwrap()).sum();
    assert_eq!(by_request, 280);
    let timed = &report["phases"][1];
    let sum: u64 = timed["workers"].as_array().unwrap().iter().map(|w| w["requests"].as_u64().unwrap()).sum();
    assert!(sum > 0 && timed["requests"].as_u64() == Some(sum), "{timed}");
    let seconds: u64 = timed["timeline"].as_array().unwrap().iter().map(|p| p["requests"].as_u64().unwrap()).sum();
    assert_eq!(seconds, sum, "the merged timeline holds every response");
}

/// The PIDs of `parent`'s children whose command line holds every one of `words`.
fn children(parent: u32, words: &[&str]) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The parent PID is the second field after the parenthesised command name.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default().replace('\0', " ");
        if ppid == Some(parent) && words.iter().all(|w| cmdline.contains(w)) {
            found.push(pid);
        }
    }
    found
}

#[test]
fn a_worker_killed_mid_phase_makes_the_run_invalid_and_is_named() {
    let reports = report_dir("distributed-killed");
    let harness = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["run", &fixture("distributed-long.yaml"), "--quiet", "--workers", "3", "--report-dir"])
        .arg(&reports)
        .current_dir(workspace())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let victim = loop {
        assert!(started.elapsed() < Duration::from_secs(60), "no worker 1 appeared");
        if let Some(pid) = children(harness.id(), &["worker", "--index 1"]).first() {
            break *pid;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Well into the phase: the target is up and every worker is sending.
    std::thread::sleep(Duration::from_secs(6));
    assert!(Command::new("kill").args(["-KILL", &victim.to_string()]).status().unwrap().success());
    let output = harness.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
    assert!(started.elapsed() < Duration::from_secs(20), "the run ended on the loss, not at the phase's end");
    let (report, _) = report(&reports);
    let problems: Vec<&str> = report["problems"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(problems.iter().any(|p| p.contains("distributed load invalid: worker 1")), "{problems:?}");
}

#[test]
fn a_check_that_needs_one_send_order_is_refused_with_workers() {
    let output = run(
        &workspace().join("scenarios/rate-limits.yaml").display().to_string(),
        &report_dir("spread"),
        &["--workers", "2"],
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("needs every response in one send order"));
}

#[test]
fn the_kubernetes_recipe_parses_and_its_worker_counts_agree() {
    let dir = workspace().join("harness/deploy/kubernetes");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let kustomization: Value = serde_yaml::from_str(&read("kustomization.yaml")).unwrap();
    let mut kinds = Vec::new();
    let mut workers_job = Value::Null;
    let mut token_sources = Vec::new();
    for resource in kustomization["resources"].as_array().unwrap() {
        for document in serde_yaml::Deserializer::from_str(&read(resource.as_str().unwrap())) {
            let document = Value::deserialize(document).unwrap();
            kinds.push(document["kind"].as_str().unwrap().to_owned());
            if document["kind"] == "Job" {
                let container = &document["spec"]["template"]["spec"]["containers"][0];
                assert_eq!(container["imagePullPolicy"], "IfNotPresent", "a loaded local image is used as it is");
                assert!(document["spec"]["ttlSecondsAfterFinished"].as_u64().is_some(), "finished Jobs are cleaned up");
                let env = document["spec"]["template"]["spec"]["containers"][0]["env"].as_array().cloned();
                let token = env.unwrap_or_default().into_iter().find(|v| v["name"] == "GAUNTLET_COORDINATOR_TOKEN");
                token_sources.push(token.map(|v| v["valueFrom"]["secretKeyRef"].clone()));
            }
            if document["spec"]["completionMode"] == "Indexed" {
                workers_job = document;
            }
        }
    }
    assert_eq!(kinds, ["Job", "Service", "Job"]);
    assert_eq!(kustomization["labels"][0]["includeTemplates"], true, "the pods carry the labels too");
    assert_eq!(kustomization["configMapGenerator"][0]["options"]["disableNameSuffixHash"], true, "re-appliable Jobs");
    // The coordinator and the workers read the token from the same Secret.
    assert!(token_sources[0].as_ref().is_some_and(|s| s["name"].is_string()), "{token_sources:?}");
    assert_eq!(token_sources[0], token_sources[1]);
    let literals = kustomization["configMapGenerator"][0]["literals"].as_array().unwrap();
    let workers = literals.iter().filter_map(Value::as_str).find_map(|l| l.strip_prefix("WORKERS=")).unwrap();
    let workers: u64 = workers.parse().unwrap();
    assert_eq!(workers_job["spec"]["completions"].as_u64(), Some(workers));
    assert_eq!(workers_job["spec"]["parallelism"].as_u64(), Some(workers));
    let args = &workers_job["spec"]["template"]["spec"]["containers"][0]["args"];
    assert_eq!(args[0], "worker");
    // The arguments parse as the harness's own command line.
    let worker: Vec<String> = args.as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect();
    let output = Command::new(env!("CARGO_BIN_EXE_harness")).args(&worker).arg("--help").output().unwrap();
    assert!(output.status.success(), "{}", describe(&output));
}

#[test]
fn a_worker_that_falls_behind_its_schedule_makes_the_run_invalid_and_is_named() {
    let reports = report_dir("distributed-behind");
    let output = run(&fixture("fell-behind.yaml"), &reports, &["--workers", "2"]);
    assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
    let (report, _) = report(&reports);
    let problems: Vec<&str> = report["problems"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let named = |p: &&str| p.contains("distributed load invalid: worker") && p.contains("fell behind its schedule");
    assert!(problems.iter().any(named), "{problems:?}");
}
