//! `harness run --workers 3` against the self-hosted target: the merged counts are the workers'
//! sums, a lost worker makes the run invalid (exit 4, named), and a scenario that needs one send
//! order is refused. (That merged percentiles equal one histogram's is shown in
//! `measure::delta`'s unit tests.)

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use crate::common::*;

#[test]
fn three_workers_send_exactly_the_phase_and_the_report_sums_them() {
    let _stack = shared();
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
    let _stack = shared();
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
    let _stack = shared();
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
    let _stack = shared();
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
    assert_eq!(kinds, ["PersistentVolumeClaim", "Job", "Service", "Job"]);
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
    let _stack = shared();
    let reports = report_dir("distributed-behind");
    let output = run(&fixture("fell-behind.yaml"), &reports, &["--workers", "2"]);
    assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
    let (report, _) = report(&reports);
    let problems: Vec<&str> = report["problems"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let named = |p: &&str| p.contains("distributed load invalid: worker") && p.contains("fell behind its schedule");
    assert!(problems.iter().any(named), "{problems:?}");
}

/// `GET url` with an optional bearer token: the status and body.
fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut request = reqwest::Client::builder().no_proxy().build().unwrap().get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        match request.send().await {
            Ok(response) => (response.status().as_u16(), response.text().await.unwrap_or_default()),
            Err(_) => (0, String::new()),
        }
    })
}

/// The Kubernetes manifests run as local processes: the coordinator and every worker get
/// exactly the command, arguments and environment their Jobs give them (the ConfigMap's values,
/// the Secret's token, `JOB_COMPLETION_INDEX`), with the Service's name replaced by 127.0.0.1,
/// the image's `/scenarios` by the repository's, and the claim's mount by a directory. The run
/// passes, the report lands where the volume is, and the coordinator serves it afterwards
/// behind its token. A manifest that drifts from the command line fails here.
#[test]
fn the_manifests_run_as_local_processes_and_deliver_the_report() {
    let _stack = shared();
    let dir = workspace().join("harness/deploy/kubernetes");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let kustomization: Value = serde_yaml::from_str(&read("kustomization.yaml")).unwrap();
    let mut config: std::collections::BTreeMap<String, String> = kustomization["configMapGenerator"][0]["literals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).unwrap())
        .collect();
    // What a user sets in the kustomization for their run: here, a target-app of the test's own
    // and a scenario that passes without MongoDB; the report is served for a while only.
    let target_port = free_port();
    let target_app = Path::new(env!("CARGO_BIN_EXE_harness")).with_file_name("target-app");
    let _target = Started(
        Command::new(&target_app)
            .env("PORT", target_port.to_string())
            .env("RATE_LIMIT_ENABLED", "false")
            .env("REDIS_KEY_PREFIX", format!("k8s-{target_port}:"))
            .current_dir(workspace())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let target_url = format!("http://127.0.0.1:{target_port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(&format!("{target_url}/health/"), None).0 != 200 {
        assert!(Instant::now() < deadline, "target-app did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    config.insert("TARGET_URL".into(), target_url);
    config.insert("SCENARIO".into(), "/scenarios/../harness/tests/fixtures/distributed.yaml".into());
    config.insert("SERVE_REPORT_FOR".into(), "60s".into());

    let mut jobs = Vec::new();
    let mut service_port = None;
    for resource in kustomization["resources"].as_array().unwrap() {
        for document in serde_yaml::Deserializer::from_str(&read(resource.as_str().unwrap())) {
            let document = Value::deserialize(document).unwrap();
            match document["kind"].as_str().unwrap() {
                "Job" => jobs.push(document),
                "Service" => service_port = document["spec"]["ports"][0]["port"].as_u64(),
                _ => {}
            }
        }
    }
    let coordinator_port = free_port();
    let service = format!("gauntlet-coordinator:{}", service_port.expect("the coordinator's Service"));
    let reports = report_dir("k8s-local");
    std::fs::create_dir_all(&reports).unwrap();
    let token = "a-token-from-the-secret-0123456789";
    let substitute = |arg: &str| -> String {
        let mut arg = arg.to_owned();
        for (name, value) in &config {
            arg = arg.replace(&format!("$({name})"), value);
        }
        arg.replace(&service, &format!("127.0.0.1:{coordinator_port}"))
            .replace("0.0.0.0:7070", &format!("127.0.0.1:{coordinator_port}"))
            .replace("/scenarios/", &format!("{}/scenarios/", workspace().display()))
            .replace("/reports", reports.to_str().unwrap())
    };
    let launch = |job: &Value, index: Option<usize>| -> Started {
        let container = &job["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["command"][0], "/usr/local/bin/harness", "the image's harness");
        let args: Vec<String> =
            container["args"].as_array().unwrap().iter().map(|a| substitute(a.as_str().unwrap())).collect();
        let mut command = Command::new(env!("CARGO_BIN_EXE_harness"));
        command.args(&args).current_dir(workspace()).stdout(Stdio::piped()).stderr(Stdio::piped());
        if container["envFrom"][0]["configMapRef"]["name"] == "gauntlet" {
            command.envs(&config);
        }
        for variable in container["env"].as_array().unwrap() {
            let secret = &variable["valueFrom"]["secretKeyRef"];
            assert_eq!(secret["name"], "gauntlet-coordinator-token", "{variable}");
            command.env(variable["name"].as_str().unwrap(), token);
        }
        if let Some(index) = index {
            command.env("JOB_COMPLETION_INDEX", index.to_string());
        }
        Started(command.spawn().unwrap())
    };
    let (coordinator_job, workers_job) = match jobs[0]["spec"]["completionMode"] == "Indexed" {
        true => (&jobs[1], &jobs[0]),
        false => (&jobs[0], &jobs[1]),
    };
    let mounted = &coordinator_job["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0];
    assert_eq!(mounted["mountPath"], "/reports", "the report goes to the mounted claim");
    let claim = &coordinator_job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"];
    assert_eq!(claim, "gauntlet-reports", "a volume that outlives the pod");
    let mut coordinator = launch(coordinator_job, None);
    let workers: Vec<Started> = (0..workers_job["spec"]["completions"].as_u64().unwrap() as usize)
        .map(|i| launch(workers_job, Some(i)))
        .collect();

    // The run ends and the coordinator serves the report behind its token.
    let index = format!("http://127.0.0.1:{coordinator_port}/reports/index.html");
    let deadline = Instant::now() + Duration::from_secs(120);
    while get(&index, Some(token)).0 != 200 {
        if let Ok(Some(status)) = coordinator.0.try_wait() {
            panic!("the coordinator ended before serving its report: {status}");
        }
        assert!(Instant::now() < deadline, "the coordinator never served its report");
        std::thread::sleep(Duration::from_millis(500));
    }
    for mut worker in workers {
        let status = worker.0.wait().unwrap();
        assert!(status.success(), "a worker exits 0 once the run is over: {status}");
    }
    assert_eq!(get(&index, None).0, 401, "the report is behind the token");
    let (report, run_dir) = report(&reports);
    assert_eq!(report["verdict"], "passed", "{report:#}");
    let name = run_dir.file_name().unwrap().to_string_lossy().into_owned();
    let (status, served) = get(&format!("http://127.0.0.1:{coordinator_port}/reports/{name}/report.json"), Some(token));
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&served).unwrap()["verdict"], "passed");
    assert!(Command::new("kill").args(["-TERM", &coordinator.0.id().to_string()]).status().unwrap().success());
    let status = coordinator.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "the Job's outcome is the run's verdict");
}
