//! `harness fault`: manual fault injection for a person poking at a running target, on this
//! machine or, with `--allow-remote`, anywhere. Answers print as short tables (`--json` for
//! the API's JSON); `fault list --watch` redraws the list every second until Ctrl-C, so faults
//! can be seen to expire.

use std::io::IsTerminal;
use std::time::Duration;

use serde_json::Value;

use crate::cli::{FaultArgs, FaultCommand};
use crate::table;
use crate::target::Target;
use crate::target::address;
use wire::chaos::FaultRequest;

/// Runs one fault command, printing its answer; returns the exit code.
pub async fn run(args: &FaultArgs) -> u8 {
    if let Err(error) = address::check_allowed(&args.target, args.manual.allow_remote, address::MANUAL_OPT_IN) {
        eprintln!("error: {error}");
        return crate::EXIT_INVALID_SCENARIO;
    }
    let outcome = match Target::at(&args.target, args.token.clone(), true) {
        Ok(target) => match &args.action {
            FaultCommand::List { watch: true } => watch(&target, args.manual.json).await,
            action => {
                answer(&target, action).await.map(|answer| println!("{}", render(action, &answer, args.manual.json)))
            }
        },
        Err(error) => Err(error.into()),
    };
    match outcome {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("error: {error:#}");
            crate::EXIT_SETUP_FAILED
        }
    }
}

/// The API's answer to `action`.
async fn answer(target: &Target, action: &FaultCommand) -> anyhow::Result<Value> {
    Ok(match action {
        FaultCommand::Inject { dependency, kind, latency_ms, probability, duration_s } => {
            let fault = FaultRequest::new(dependency.clone(), *kind).with(*latency_ms, *probability, Some(*duration_s));
            target.inject(&fault, None).await?.pop().map(|(_, echoed)| echoed).unwrap_or_default()
        }
        FaultCommand::List { .. } => target.faults().await?,
        FaultCommand::Clear { id: Some(id) } => target.clear(id).await?,
        FaultCommand::Clear { id: None } => serde_json::json!({ "cleared": target.clear_all().await? }),
        FaultCommand::Demo { kind, params } => {
            let query: Vec<(&str, &str)> = params
                .iter()
                .map(|p| p.split_once('=').ok_or_else(|| anyhow::anyhow!("{p:?} is not key=value")))
                .collect::<anyhow::Result<_>>()?;
            let url = format!("{}/demo/{}", target.url, kind.path());
            let response = target.client().get(url).query(&query).send().await?;
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            serde_json::json!({ "status": status.as_u16(), "body": body })
        }
    })
}

/// Redraws the fault list every second until Ctrl-C (in place on a terminal, one list after
/// another in a log).
async fn watch(target: &Target, json: bool) -> anyhow::Result<()> {
    let terminal = std::io::stdout().is_terminal();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
        let list = answer(target, &FaultCommand::List { watch: true }).await?;
        let time = chrono::Local::now().format("%H:%M:%S");
        let text = render(&FaultCommand::List { watch: true }, &list, json);
        match terminal {
            true => println!("\x1b[2J\x1b[H{time}  {}  (Ctrl-C to stop)\n{text}", target.url),
            false => println!("{time}\n{text}\n"),
        }
    }
}

/// `answer` as a table, or as the API's JSON.
fn render(action: &FaultCommand, answer: &Value, json: bool) -> String {
    if json {
        return serde_json::to_string_pretty(answer).unwrap_or_default();
    }
    match action {
        FaultCommand::Inject { .. } => faults_table(std::slice::from_ref(answer)),
        FaultCommand::List { .. } => faults_table(answer["faults"].as_array().map_or(&[], Vec::as_slice)),
        FaultCommand::Clear { id: Some(id) } => format!("cleared fault {id}"),
        FaultCommand::Clear { id: None } => format!("cleared {} faults", answer["cleared"].as_u64().unwrap_or(0)),
        FaultCommand::Demo { .. } => demo_lines(answer),
    }
}

/// One row per fault: id, dependency, kind, parameters, expires in.
fn faults_table(faults: &[Value]) -> String {
    let rows: Vec<Vec<String>> = faults
        .iter()
        .map(|fault| {
            let mut parameters = Vec::new();
            if fault["kind"] == "latency" {
                parameters.push(format!("latency {}ms", fault["latency_ms"].as_u64().unwrap_or(0)));
            }
            parameters.push(format!("probability {}", fault["probability"].as_f64().unwrap_or(1.0)));
            vec![
                text(&fault["id"]),
                text(&fault["dependency"]),
                text(&fault["kind"]),
                parameters.join(", "),
                fault["expires_in_s"].as_f64().map_or_else(String::new, |s| format!("{}s", s.round() as u64)),
            ]
        })
        .collect();
    table::render(&["id", "dependency", "kind", "parameters", "expires in"], &rows)
}

/// A demo call's status, then the body's top-level fields.
fn demo_lines(answer: &Value) -> String {
    let mut lines = vec![format!("status {}", answer["status"])];
    match &answer["body"] {
        Value::Object(fields) => lines.extend(fields.iter().map(|(key, value)| format!("{key}: {}", text(value)))),
        Value::Null => {}
        other => lines.push(other.to_string()),
    }
    lines.join("\n")
}

/// A JSON value as a person reads it: strings without quotes.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::DemoKind;

    #[test]
    fn a_fault_list_reads_as_a_table_and_json_stays_json() {
        let list = serde_json::json!({"count": 1, "faults": [{"id": "f1", "dependency": "redis", "kind": "latency",
            "latency_ms": 300, "probability": 0.5, "duration_s": 60, "expires_in_s": 41.6}]});
        let listed = render(&FaultCommand::List { watch: false }, &list, false);
        assert_eq!(
            listed,
            "id  dependency  kind     parameters                      expires in\n\
             f1  redis       latency  latency 300ms, probability 0.5  42s"
        );
        let json: Value = serde_json::from_str(&render(&FaultCommand::List { watch: false }, &list, true)).unwrap();
        assert_eq!(json, list);
        let demo = serde_json::json!({"status": 503, "body": {"error": "Injected", "status_code": 503}});
        let shown = render(&FaultCommand::Demo { kind: DemoKind::Error, params: vec![] }, &demo, false);
        assert_eq!(shown, "status 503\nerror: Injected\nstatus_code: 503");
    }
}
