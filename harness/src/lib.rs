//! Gauntlet's harness: YAML scenarios ([`scenario`]) run as goose attacks ([`attack`]) against
//! a target ([`target`]), judged by expectations ([`checks`]) and written up as reports
//! ([`report`]). [`run`] dispatches a parsed command line and returns the exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub mod actions;
pub mod attack;
pub mod checks;
pub mod cli;
pub mod client;
pub mod comparison;
pub mod distributed;
pub mod duration;
pub mod fault;
pub mod hosting;
pub mod live;
pub mod measure;
pub mod network;
pub mod plan;
pub mod process;
pub mod prometheus;
pub mod proxy;
pub mod redact;
pub mod remote_write;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod summary;
pub mod table;
pub mod target;
pub mod target_log;
pub mod trace;
pub mod variables;

use cli::{Cli, Command, RunArgs};
use report::model::{RunReport, Verdict};

/// Exit code for an invalid scenario or usage.
pub const EXIT_INVALID_SCENARIO: u8 = 2;

/// Exit code for an unreachable target or a failed setup (the verdict's, for commands that
/// have no report).
pub const EXIT_SETUP_FAILED: u8 = 3;

/// Runs a command; the return value is the process exit code (see [`cli::EXIT_CODES`]).
pub async fn run(cli: Cli) -> ExitCode {
    let code = match cli.command {
        Command::Run(args) => run_scenarios(&args, None).await,
        Command::Coordinate { run, listen, token, serve_report_for } => match distributed::Token::new(&token) {
            Ok(token) => run_scenarios(&run, Some((listen, token, serve_report_for))).await,
            Err(error) => {
                eprintln!("error: {error}");
                EXIT_INVALID_SCENARIO
            }
        },
        Command::Worker { coordinator, index, token } => match worker(&coordinator, index, &token).await {
            Ok(()) => 0,
            Err(error) => {
                eprintln!("error: worker {index}: {error:#}");
                EXIT_SETUP_FAILED
            }
        },
        Command::Validate { paths } => validate(&paths),
        Command::List { paths } => list(&paths),
        Command::Fault(args) => fault::run(&args).await,
        Command::Proxy(cli::ProxyArgs { command: cli::ProxyCommand::Serve { listen, config }, .. }) => {
            match proxy::api::serve(listen, config.as_deref()).await {
                Ok(()) => 0,
                Err(error) => {
                    eprintln!("error: {error:#}");
                    EXIT_SETUP_FAILED
                }
            }
        }
        Command::Proxy(args) => proxy::client::run(&args).await,
        Command::Report { report, baseline } => rerender(&report, &baseline),
        Command::History { report_dir, scenario, last, json } => {
            let runs = report::history::read(&report_dir);
            let runs: Vec<_> =
                runs.into_iter().filter(|r| scenario.as_ref().is_none_or(|s| *s == r.scenario)).collect();
            let newest = &runs[runs.len().saturating_sub(last)..];
            match json {
                true => println!("{}", serde_json::to_string_pretty(newest).unwrap_or_default()),
                false => println!("{}", report::history::table(newest)),
            }
            0
        }
    };
    ExitCode::from(code)
}

fn load_all(paths: &[PathBuf]) -> Result<Vec<scenario::LoadedScenario>, u8> {
    let files = scenario::collect(paths).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_INVALID_SCENARIO
    })?;
    if files.is_empty() {
        eprintln!("error: no scenario files found");
        return Err(EXIT_INVALID_SCENARIO);
    }
    let (loaded, errors): (Vec<_>, Vec<_>) = files.iter().map(|f| scenario::load(f)).partition(Result::is_ok);
    if !errors.is_empty() {
        for error in errors.into_iter().filter_map(Result::err) {
            eprintln!("{error}");
        }
        return Err(EXIT_INVALID_SCENARIO);
    }
    Ok(loaded.into_iter().filter_map(Result::ok).collect())
}

/// `harness worker`: serves a coordinator's orders, presenting `token`.
async fn worker(coordinator: &str, index: usize, token: &str) -> anyhow::Result<()> {
    distributed::worker::run(coordinator, index, &distributed::Token::new(token)?).await
}

/// Where `harness coordinate` listens for its workers, and the token they present.
type Listen = (std::net::SocketAddr, distributed::Token, Option<std::time::Duration>);

/// `harness run`, or with `listen`, `harness coordinate`.
async fn run_scenarios(args: &RunArgs, listen: Option<Listen>) -> u8 {
    let scenarios = match load_all(&args.scenarios) {
        Ok(scenarios) => scenarios,
        Err(code) => return code,
    };
    let baseline = match args.baseline.baseline.as_deref().map(report::json::read).transpose() {
        Ok(baseline) => baseline,
        Err(error) => {
            eprintln!("error: {error}");
            return EXIT_INVALID_SCENARIO;
        }
    };
    // A remote target without the opt-in is a usage error, found before anything runs.
    for loaded in &scenarios {
        let url = args.target.as_deref().or(loaded.plan.target.url.as_deref());
        if let Some(url) = url
            && let Err(error) = target::address::check_allowed(
                url,
                args.allow_remote || loaded.plan.allow_remote,
                target::address::RUN_OPT_IN,
            )
        {
            eprintln!("error: {}: {error}", loaded.path.display());
            return EXIT_INVALID_SCENARIO;
        }
        if let Some(url) = url
            && let Some(missing) = scenario::interpolate::unset_admin_password(&loaded.written)
        {
            eprintln!("error: {}: {missing} (the shop at {url} was not started by the harness)", loaded.path.display());
            return EXIT_INVALID_SCENARIO;
        }
    }
    // So is a process action naming a process the dev stack did not start.
    for loaded in &scenarios {
        let hosted = target::shop::hosted_names(&loaded.plan.target, args.target.as_deref());
        if let Err(error) = process::check_plan(&loaded.plan, &hosted).await {
            eprintln!("error: {}: {error}", loaded.path.display());
            return EXIT_INVALID_SCENARIO;
        }
    }
    if let Some(url) = &args.metrics_push
        && let Err(error) = target::address::check_allowed(url, args.allow_remote, target::address::RUN_OPT_IN)
    {
        eprintln!("error: --metrics-push: {error}");
        return EXIT_INVALID_SCENARIO;
    }
    let live = match serve_live(args.metrics_listen, args.metrics_push.clone()).await {
        Ok(live) => live,
        Err(error) => {
            eprintln!("error: {error:#}");
            return EXIT_SETUP_FAILED;
        }
    };
    let serve_report_for = listen.as_ref().and_then(|(_, _, serve)| *serve);
    let coordinator = match start_coordinator(&scenarios, args.workers, listen).await {
        Ok(coordinator) => coordinator,
        Err((code, error)) => {
            eprintln!("error: {error:#}");
            return code;
        }
    };
    let options = runner::RunOptions {
        target: args.target.clone(),
        allow_remote: args.allow_remote,
        binaries: target::Binaries { target_app: args.target_bin.clone(), shop: args.shop_bin.clone() },
        report_dir: args.report_dir.clone(),
        quiet: args.quiet,
        fail_fast: args.fail_fast,
        schedule_budget: args.schedule_budget / 100.0,
        live: live.as_ref().map(|(live, _)| live.clone()),
        coordinator: coordinator.clone(),
    };
    let mut worst = Verdict::Passed;
    let mut finished = Vec::new();
    for loaded in &scenarios {
        let (mut run_report, directory) = match runner::run(loaded, &options).await {
            Ok(result) => result,
            Err(error) => {
                eprintln!("error: {}: {error}", loaded.path.display());
                return EXIT_SETUP_FAILED;
            }
        };
        if let (Some(baseline), Some(file)) = (&baseline, &args.baseline.baseline) {
            report::baseline::compare(&mut run_report, baseline, file, args.baseline.rule());
            if let Err(error) = report::write(&run_report, &directory) {
                eprintln!("error: writing report: {error}");
            }
        }
        summary::print(&run_report, &directory, args.quiet);
        worst = worst.max(run_report.verdict);
        finished.push((run_report, directory));
        if worst == Verdict::Interrupted {
            break;
        }
    }
    if !args.quiet && finished.len() > 1 {
        summary::print_totals(&finished);
    }
    if args.summary_md.is_some() || args.github_step_summary.is_some() {
        let markdown = report::markdown::render(&finished);
        let written =
            report::markdown::write(&markdown, args.summary_md.as_deref(), args.github_step_summary.as_deref());
        if let Err(error) = written {
            eprintln!("error: writing the Markdown summary: {error}");
        }
    }
    if let Some((live, tasks)) = live {
        tasks.stop(&live).await;
    }
    if let Some(coordinator) = coordinator {
        if let Some(how_long) = serve_report_for {
            coordinator.serve_reports(&args.report_dir, how_long).await;
        }
        coordinator.finish().await;
    }
    worst.exit_code()
}

/// The coordinator of a distributed run: `--workers N` local workers, or N that join on
/// `listen` (`harness coordinate`); `None` for a run in this process. Scenarios that cannot be
/// spread are a usage error (exit 2).
async fn start_coordinator(
    scenarios: &[scenario::LoadedScenario],
    workers: Option<usize>,
    listen: Option<Listen>,
) -> Result<Option<std::sync::Arc<distributed::Coordinator>>, (u8, anyhow::Error)> {
    let workers = match (workers, &listen) {
        (None, None) => return Ok(None),
        (None, Some(_)) => return Err((EXIT_INVALID_SCENARIO, anyhow::anyhow!("coordinate needs --workers N"))),
        (Some(workers), _) => workers,
    };
    for loaded in scenarios {
        distributed::check_spreadable(loaded)
            .map_err(|why| (EXIT_INVALID_SCENARIO, anyhow::anyhow!("{}: {why}", loaded.path.display())))?;
    }
    let coordinator = match listen {
        Some((listen, token, _)) => distributed::Coordinator::listen(listen, workers, token).await,
        None => distributed::Coordinator::local(workers).await,
    };
    coordinator.map(|c| Some(std::sync::Arc::new(c))).map_err(|e| (3, e))
}

/// The live metrics of a run, served on `listen` and pushed to `push` (either, both, or
/// neither: then none); says where (on stderr: stdout is the summary's).
async fn serve_live(
    listen: Option<std::net::SocketAddr>,
    push: Option<String>,
) -> anyhow::Result<Option<(std::sync::Arc<live::Live>, LiveTasks)>> {
    if listen.is_none() && push.is_none() {
        return Ok(None);
    }
    let live = std::sync::Arc::new(live::Live::new()?);
    let server = match listen {
        Some(listen) => {
            let (address, server) = live.clone().serve(listen).await?;
            eprintln!("live metrics: http://{address}/metrics");
            Some(server)
        }
        None => None,
    };
    let pusher = push.map(|url| {
        eprintln!("live metrics pushed to {url} every {}s", remote_write::EVERY.as_secs());
        (remote_write::start(live.clone(), url.clone()), url)
    });
    Ok(Some((live, LiveTasks { server, pusher })))
}

/// What serves and pushes a run's live metrics.
struct LiveTasks {
    server: Option<tokio::task::JoinHandle<()>>,
    pusher: Option<(tokio::task::JoinHandle<()>, String)>,
}

impl LiveTasks {
    /// Stops serving and pushing, after one last push of the final values.
    async fn stop(self, live: &live::Live) {
        if let Some(server) = self.server {
            server.abort();
        }
        if let Some((pusher, url)) = self.pusher {
            pusher.abort();
            let client = reqwest::Client::builder().no_proxy().timeout(std::time::Duration::from_secs(5)).build();
            if let Ok(client) = client
                && let Err(error) = remote_write::push(&client, live, &url).await
            {
                eprintln!("warning: the last remote write to {url} failed: {error:#}");
            }
        }
    }
}

fn validate(paths: &[PathBuf]) -> u8 {
    match load_all(paths) {
        Ok(scenarios) => {
            for loaded in &scenarios {
                let checks: usize = loaded.plan.phases.iter().map(|p| p.expectations.len()).sum();
                println!("ok {} ({} phases, {checks} expectations)", loaded.path.display(), loaded.plan.phases.len());
            }
            0
        }
        Err(code) => code,
    }
}

fn list(paths: &[PathBuf]) -> u8 {
    match load_all(paths) {
        Ok(scenarios) => {
            for loaded in &scenarios {
                let mut kinds: Vec<&str> =
                    loaded.plan.phases.iter().flat_map(|p| &p.expectations).map(|e| e.kind()).collect();
                kinds.sort_unstable();
                kinds.dedup();
                println!("{:<24} {:<40} checks: {}", loaded.plan.name, loaded.path.display(), kinds.join(", "));
                if !loaded.plan.description.is_empty() {
                    println!("{:<24} {}", "", loaded.plan.description);
                }
                if !loaded.plan.requires.is_empty() {
                    let names: Vec<&str> = loaded.plan.requires.iter().map(|d| d.name()).collect();
                    println!("{:<24} requires healthy: {} (skipped otherwise)", "", names.join(", "));
                }
            }
            0
        }
        Err(code) => code,
    }
}

fn rerender(path: &Path, baseline: &cli::BaselineArgs) -> u8 {
    let result = (|| -> anyhow::Result<(RunReport, PathBuf)> {
        let mut run_report = report::json::read(path)?;
        if let Some(file) = &baseline.baseline {
            let earlier = report::json::read(file)?;
            report::baseline::compare(&mut run_report, &earlier, file, baseline.rule());
        }
        let directory = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        report::write(&run_report, &directory)?;
        Ok((run_report, directory))
    })();
    match result {
        Ok((run_report, directory)) => {
            summary::print(&run_report, &directory, false);
            run_report.verdict.exit_code()
        }
        Err(error) => {
            eprintln!("error: {error}");
            EXIT_INVALID_SCENARIO
        }
    }
}
