//! What the test modules share: the dev stack's guard, running the harness binary from the
//! workspace root and reading the report it wrote.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Condvar, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::Value;

/// The dev stack and the machine's cores, as the tests share them.
static STACK: RwLock<()> = RwLock::new(());

/// How many [`shared`] tests run at once, and the signal that one ended: no more than the
/// machine has cores, however many threads the test runner has (`make test` gives it more for
/// the other test binaries), because the scenarios' latency and recovery checks measure on them.
static SIDE_BY_SIDE: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

/// Held by a test that runs side by side with others.
pub(crate) struct Shared {
    _stack: RwLockReadGuard<'static, ()>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        *SIDE_BY_SIDE.0.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
        SIDE_BY_SIDE.1.notify_one();
    }
}

/// Every test holds this while it runs, side by side with at most one per core.
pub(crate) fn shared() -> Shared {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let (running, ended) = &SIDE_BY_SIDE;
    let mut running = running.lock().unwrap_or_else(PoisonError::into_inner);
    while *running >= cores {
        running = ended.wait(running).unwrap_or_else(PoisonError::into_inner);
    }
    *running += 1;
    drop(running);
    Shared { _stack: STACK.read().unwrap_or_else(PoisonError::into_inner) }
}

/// A test that pauses part of the stack (a Redis master) or needs the cores to itself (a
/// hosted shop) holds this instead: no other test runs meanwhile.
pub(crate) fn alone() -> RwLockWriteGuard<'static, ()> {
    STACK.write().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub(crate) fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name).display().to_string()
}

pub(crate) fn report_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gauntlet-e2e-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs the harness from the workspace root (where `.services/` lives).
pub(crate) fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness")).args(args).current_dir(workspace()).output().expect("harness runs")
}

pub(crate) fn run(scenario: &str, reports: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", scenario, "--quiet", "--report-dir", reports.to_str().unwrap()];
    args.extend_from_slice(extra);
    harness(&args)
}

/// The report.json of the only run in `reports`.
pub(crate) fn report(reports: &Path) -> (Value, PathBuf) {
    let run = std::fs::read_dir(reports)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.join("report.json").is_file())
        .expect("a run directory with report.json");
    (serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap(), run)
}

pub(crate) fn expectations(report: &Value) -> Vec<&Value> {
    report["phases"].as_array().unwrap().iter().flat_map(|p| p["expectations"].as_array().unwrap()).collect()
}

pub(crate) fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `scenarios/<name>.yaml` as shipped (it must pass), then with `from` replaced by `to` (it
/// must fail, exit 1, on an expectation whose description contains `tightened`; `--fail-fast`
/// spares the phases after it); returns the failing run's report and scenario file.
pub(crate) fn tightened_fails(name: &str, from: &str, to: &str, tightened: &str) -> (Value, PathBuf) {
    let shipped = workspace().join("scenarios").join(format!("{name}.yaml"));
    let reports = report_dir(&format!("{name}-pass"));
    let output = run(shipped.to_str().unwrap(), &reports, &[]);
    assert_eq!(output.status.code(), Some(0), "{name} as shipped: {}", describe(&output));

    let text = std::fs::read_to_string(&shipped).unwrap();
    assert_eq!(text.matches(from).count(), 1, "{from:?} must occur once in {name}");
    let reports = report_dir(&format!("{name}-fail"));
    std::fs::create_dir_all(&reports).unwrap();
    let file = reports.join(format!("{name}-tightened.yaml"));
    std::fs::write(&file, text.replace(from, to)).unwrap();
    let output = run(file.to_str().unwrap(), &reports, &["--fail-fast"]);
    assert_eq!(output.status.code(), Some(1), "{name} tightened: {}", describe(&output));
    let (report, _) = report(&reports);
    let failed: Vec<&str> = expectations(&report)
        .into_iter()
        .filter(|e| e["passed"] == false)
        .map(|e| e["expected"].as_str().unwrap())
        .collect();
    assert!(failed.iter().any(|e| e.contains(tightened)), "{name}: failed {failed:?}, wanted {tightened:?}");
    (report, file)
}

/// A child process killed (by its PID, through the handle) when the test ends.
pub(crate) struct Started(pub(crate) std::process::Child);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port, outside the range the kernel gives outgoing connections.
pub(crate) fn free_port() -> u16 {
    harness::target::ports::free_ports(1).expect("a free port")[0]
}

/// The DOM headless Chromium builds from `page`.
pub(crate) fn headless_dom(page: &Path) -> String {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|p| Path::new(p).exists());
    let chromium = chromium.expect("chromium is required for this test: run `make tools` (apt-get install chromium)");
    let profile = page.parent().unwrap().join("chromium-profile-dom");
    let output = Command::new(chromium)
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", &format!("file://{}", page.display())])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// How the tests start headless Chromium: no sandbox (root), no network of its own.
pub(crate) const CHROMIUM_FLAGS: [&str; 9] = [
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
