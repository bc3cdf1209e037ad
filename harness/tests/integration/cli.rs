//! The command line: validation errors with positions, usage errors, help text, listing.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::common::shared;

fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness")).args(args).current_dir(fixtures()).output().expect("harness runs")
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn valid_scenarios_validate_with_exit_0() {
    let _stack = shared();
    let output = harness(&["validate", "every-kind-passes.yaml", "every-kind-fails.yaml"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("ok every-kind-passes.yaml (7 phases, 15 expectations)"),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn the_shipped_scenario_library_validates() {
    let _stack = shared();
    let output = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["validate", "scenarios"])
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).lines().count() >= 10);
}

/// The JSON Schema editors use, checked against the files the harness accepts and rejects, so
/// the two cannot drift apart unnoticed.
#[test]
fn the_json_schema_accepts_the_library_and_fixtures_and_rejects_an_unknown_key() {
    let _stack = shared();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("scenarios/schema.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema.json is a valid JSON Schema");
    let as_json = |path: &PathBuf| -> serde_json::Value {
        // `${VAR:-default}` is expanded to its default, as the harness would without the variable.
        let text = std::fs::read_to_string(path).unwrap();
        let text = regex::Regex::new(r"\$\{[A-Z_]+(?::-([^}]*))?\}").unwrap().replace_all(&text, "${1}");
        // Captured `${name}`s (lower case) stay as written, as the harness leaves them.
        serde_yaml::from_str(&text).unwrap()
    };
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(root.join("scenarios")).unwrap().map(|e| e.unwrap().path()).collect();
    files.extend(
        ["every-kind-passes.yaml", "every-kind-fails.yaml", "requires-unhealthy.yaml", "captures.yaml"]
            .map(|f| fixtures().join(f)),
    );
    files.retain(|path| path.extension().is_some_and(|e| e == "yaml"));
    assert!(files.len() >= 16, "{files:?}");
    for path in &files {
        let errors: Vec<String> =
            validator.iter_errors(&as_json(path)).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    }
    assert!(!validator.is_valid(&as_json(&fixtures().join("invalid.yaml"))), "an unknown key fails the schema too");
}

/// The schema is for editors and cannot import the wire crate, so this ties its lists of names
/// to the wire crate's: a name added there and not here fails.
#[test]
fn the_schema_lists_the_names_the_wire_crate_defines() {
    let _stack = shared();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("scenarios/schema.json")).unwrap()).unwrap();
    let names = |pointer: &str| -> Vec<String> {
        let list = schema.pointer(pointer).unwrap_or_else(|| panic!("{pointer} is in the schema"));
        list["enum"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_owned()).collect()
    };
    let wire = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let chaos = "/$defs/action/properties/chaos/properties";
    assert_eq!(names("/properties/requires/items"), wire(wire::Dependency::NAMES));
    let shop_only = wire::ShopFaultTarget::NAMES.iter().filter(|n| !wire::Dependency::NAMES.contains(n));
    let targets: Vec<String> =
        wire(wire::Dependency::NAMES).into_iter().chain(shop_only.map(|n| n.to_string())).collect();
    assert_eq!(names(&format!("{chaos}/dependency")), targets);
    assert_eq!(names(&format!("{chaos}/service")), wire(wire::ShopService::NAMES));
    assert_eq!(names(&format!("{chaos}/kind")), wire(wire::FaultKind::NAMES));
    let network = "/$defs/action/properties/network/properties";
    assert_eq!(names(&format!("{network}/toxic")), wire(wire::toxic::ToxicType::NAMES));
    assert_eq!(names(&format!("{network}/stream")), wire(wire::toxic::Stream::NAMES));
}

#[test]
fn unknown_key_reports_line_column_and_the_nearest_key() {
    let _stack = shared();
    let output = harness(&["validate", "invalid.yaml"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with("invalid.yaml:5:5: "), "{stderr}");
    assert!(stderr.contains("unknown field `requets`"), "{stderr}");
    assert!(stderr.contains("did you mean `requests`?"), "{stderr}");
}

#[test]
fn malformed_comparison_is_a_validation_error_naming_the_phase() {
    let _stack = shared();
    let output = harness(&["validate", "bad-comparison.yaml"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with("bad-comparison.yaml:3: phases[0] (steady): latency.p95: "), "{stderr}");
    assert!(stderr.contains("must start with <"), "{stderr}");
}

#[test]
fn run_refuses_an_invalid_scenario_with_exit_2_before_sending_anything() {
    let _stack = shared();
    let output = harness(&["run", "invalid.yaml", "--target", "http://127.0.0.1:9"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn a_process_the_dev_stack_did_not_start_is_refused_with_exit_2_and_the_known_names() {
    let _stack = shared();
    let output = harness(&["run", "unknown-process.yaml", "--quiet"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("\"redis-9999\" is not one the project started"), "{stderr}");
    assert!(stderr.contains("redis-7001") && stderr.contains("target-app"), "the known names are listed: {stderr}");
}

#[test]
fn missing_files_and_bad_usage_exit_2() {
    let _stack = shared();
    assert_eq!(harness(&["validate", "no-such.yaml"]).status.code(), Some(2));
    assert_eq!(harness(&["explode"]).status.code(), Some(2));
    assert_eq!(harness(&["run"]).status.code(), Some(2));
}

#[test]
fn help_documents_the_exit_codes() {
    let _stack = shared();
    let output = harness(&["--help"]);
    let stdout = text(&output.stdout);
    for line in
        ["0  every check passed", "1  a check", "2  invalid scenario", "3  target unreachable", "4  run invalid"]
    {
        assert!(stdout.contains(line), "{line} missing from --help:\n{stdout}");
    }
}

#[test]
fn list_names_each_scenario_and_its_check_kinds() {
    let _stack = shared();
    let output = harness(&["list", "every-kind-passes.yaml"]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("every-kind-passes"), "{stdout}");
    for kind in [
        "breaker",
        "cache",
        "error_rate",
        "latency",
        "metrics",
        "rate_limit",
        "recovery",
        "response",
        "status",
        "throughput",
    ] {
        assert!(stdout.contains(kind), "{kind} missing: {stdout}");
    }
}

#[test]
fn env_interpolation_fails_closed_on_unset_variables() {
    let _stack = shared();
    let dir = std::env::temp_dir().join(format!("gauntlet-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("env.yaml");
    std::fs::write(&file, "name: env\nphases:\n  - name: a\n    load: {users: 1, duration: \"${GAUNTLET_TEST_UNSET_VAR}\"}\n    requests: [{path: /}]\n").unwrap();
    let output = harness(&["validate", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains(":4:33: environment variable GAUNTLET_TEST_UNSET_VAR is not set"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn manual_commands_refuse_a_remote_target_without_the_opt_in_with_exit_2() {
    let _stack = shared();
    for args in [
        &["fault", "list", "--target", "http://staging-host:8000"][..],
        &["fault", "inject", "postgres", "error", "--target", "https://staging-host"][..],
        &["proxy", "list", "--api", "http://staging-host:8474"][..],
    ] {
        let output = harness(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output.stderr));
        let stderr = text(&output.stderr);
        assert!(stderr.contains("--allow-remote") && stderr.contains("GAUNTLET_ALLOW_REMOTE"), "{stderr}");
        assert!(!stderr.contains("scenario"), "names the option of the command at hand: {stderr}");
    }
}

#[test]
fn the_remote_opt_in_is_a_flag_and_a_variable_on_run_fault_and_proxy() {
    let _stack = shared();
    use clap::CommandFactory;
    let cli = harness::cli::Cli::command();
    for path in [&["run"][..], &["fault"][..], &["proxy"][..]] {
        let command = path.iter().fold(&cli, |command, name| command.find_subcommand(name).unwrap());
        let flag = command.get_arguments().find(|a| a.get_id() == "allow_remote").unwrap();
        assert_eq!(flag.get_long(), Some("allow-remote"), "{path:?}");
        assert_eq!(flag.get_env().and_then(|e| e.to_str()), Some("GAUNTLET_ALLOW_REMOTE"), "{path:?}");
    }
    use clap::Parser;
    let parsed = harness::cli::Cli::try_parse_from([
        "harness",
        "fault",
        "list",
        "--target",
        "https://staging.example",
        "--allow-remote",
    ]);
    let harness::cli::Command::Fault(args) = parsed.unwrap().command else { panic!("fault") };
    assert!(args.manual.allow_remote);
    assert!(
        harness::target::address::check_allowed(
            &args.target,
            args.manual.allow_remote,
            harness::target::address::MANUAL_OPT_IN
        )
        .is_ok()
    );
    assert!(
        harness::target::address::check_allowed(
            "https://staging.example",
            false,
            harness::target::address::MANUAL_OPT_IN
        )
        .is_err()
    );
}

/// The example CI definitions in docs/ci/ parse, start the stack, run the gate with a Markdown
/// summary, keep the reports and publish JUnit, through make targets that exist.
#[test]
fn the_example_ci_definitions_run_the_gate_and_keep_the_reports() {
    let _stack = shared();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let makefile = std::fs::read_to_string(root.join("Makefile")).unwrap();
    let read = |file: &str| -> serde_yaml::Value {
        serde_yaml::from_str(&std::fs::read_to_string(root.join("docs/ci").join(file)).unwrap()).unwrap()
    };
    let commands_name_real_targets = |commands: &[String]| {
        for command in commands {
            for target in
                command.split_whitespace().skip_while(|w| *w != "make").skip(1).take_while(|w| !w.contains('='))
            {
                assert!(makefile.contains(&format!("\n{target}:")), "make {target} is not a Makefile target");
            }
        }
    };

    let github = read("github-actions.yml");
    let steps = github["jobs"]["gauntlet"]["steps"].as_sequence().expect("jobs.gauntlet.steps");
    let runs: Vec<String> = steps.iter().filter_map(|s| s["run"].as_str().map(str::to_owned)).collect();
    assert!(runs.iter().any(|r| r.contains("make") && r.contains("services")), "starts the stack: {runs:?}");
    assert!(runs.iter().any(|r| r.contains("make ci-gate") && r.contains("--summary-md")), "runs the gate: {runs:?}");
    commands_name_real_targets(&runs);
    let uses = |action: &str| steps.iter().find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(action))).cloned();
    let upload = uses("actions/upload-artifact").expect("uploads the reports");
    assert!(upload["with"]["path"].as_str().unwrap().contains("reports/") && upload["if"] == "always()");
    let junit = uses("mikepenz/action-junit-report").expect("publishes JUnit");
    assert!(junit["with"]["report_paths"].as_str().unwrap().ends_with("junit.xml"));

    let gitlab = read("gitlab-ci.yml");
    let job = &gitlab["resilience-gate"];
    let script: Vec<String> =
        job["script"].as_sequence().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
    assert!(script.iter().any(|s| s.contains("services")) && script.iter().any(|s| s.contains("make ci-gate")));
    commands_name_real_targets(&script);
    let artifacts = &job["artifacts"];
    assert_eq!(artifacts["when"], "always");
    assert!(artifacts["paths"].as_sequence().unwrap().iter().any(|p| p == "reports/"));
    assert!(artifacts["reports"]["junit"].as_str().unwrap().ends_with("junit.xml"));
}

/// docker-compose.yml: one image name for every program, each shop service's health check asks
/// that service itself (`shop health <its role>`, which GETs the `/health` it serves), and the
/// gateway waits for every service to be healthy.
#[test]
fn compose_health_checks_ask_each_service_what_it_serves() {
    let _stack = shared();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let compose: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(root.join("docker-compose.yml")).unwrap()).unwrap();
    let mut compose = compose;
    compose.apply_merge().unwrap();
    let services = compose["services"].as_mapping().unwrap();
    let mut shop = 0;
    for (name, service) in services {
        let name = name.as_str().unwrap();
        if service.get("build").is_some() {
            assert_eq!(service["image"], "gauntlet:latest", "{name}: one image name, as the manifests use");
        }
        let Some(role) = name.strip_prefix("shop-") else { continue };
        shop += 1;
        assert_eq!(service["command"][0], role, "{name}");
        let test: Vec<&str> =
            service["healthcheck"]["test"].as_sequence().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(test, ["CMD", "/usr/local/bin/shop", "health", role], "{name}");
        assert_eq!(service["environment"]["CHAOS_ENABLED"], "${CHAOS_ENABLED:-true}", "{name}: the chaos API is on");
    }
    assert_eq!(shop, 6, "every shop service");
    let gateway = services.get("shop-gateway").unwrap();
    for upstream in ["shop-users", "shop-products", "shop-inventory", "shop-notifications", "shop-orders"] {
        assert_eq!(gateway["depends_on"][upstream]["condition"], "service_healthy", "{upstream}");
    }
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    assert!(dockerfile.contains(r#"HEALTHCHECK"#) && dockerfile.contains(r#"["/usr/local/bin/target-app", "health"]"#));
    assert!(!dockerfile.contains("curl"), "no curl in the image");
    let seed = &services.get("vault-init").unwrap()["entrypoint"];
    assert!(!serde_yaml::to_string(seed).unwrap().contains("apk"), "nothing installed at container start");
}

#[test]
fn a_shop_scenario_against_a_url_needs_the_shops_admin_password_before_anything_is_sent() {
    let _stack = shared();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["run", "scenarios/shop-happy-path.yaml", "--target", "http://127.0.0.1:9"])
        .env_remove("SHOP_ADMIN_PASSWORD")
        .current_dir(root)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("SHOP_ADMIN_PASSWORD") && stderr.contains("dev-shop-admin-pw"), "{stderr}");
}
