//! `harness fault`: manual fault injection for a person poking at a live target.

use serde_json::Value;

use crate::cli::{DemoKind, FaultArgs, FaultCommand};
use crate::scenario::ChaosAction;
use crate::target::Target;

/// Runs one fault command and returns what to print.
pub async fn run(args: &FaultArgs) -> anyhow::Result<String> {
    let target = Target::at(&args.target, args.token.clone(), false)?;
    let answer: Value = match &args.action {
        FaultCommand::Inject { dependency, kind, latency_ms, probability, duration_s } => {
            let fault = ChaosAction {
                dependency: dependency.clone(),
                service: None,
                kind: kind.clone(),
                latency_ms: *latency_ms,
                probability: *probability,
                duration_s: Some(*duration_s),
                timeout: None,
            };
            target.inject(&fault).await?.pop().map(|(_, echoed)| echoed).unwrap_or_default()
        }
        FaultCommand::List => target.faults().await?,
        FaultCommand::Clear { id: Some(id) } => target.clear(id).await?,
        FaultCommand::Clear { id: None } => serde_json::json!({ "cleared": target.clear_all().await? }),
        FaultCommand::Demo { kind, params } => {
            let path = match kind {
                DemoKind::Slow => "slow",
                DemoKind::Error => "error",
                DemoKind::Cpu => "cpu",
                DemoKind::Memory => "memory",
            };
            let query: Vec<(String, String)> = params
                .iter()
                .map(|p| {
                    p.split_once('=')
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .ok_or_else(|| anyhow::anyhow!("{p:?} is not key=value"))
                })
                .collect::<anyhow::Result<_>>()?;
            let response = target.client().get(format!("{}/demo/{path}", target.url)).query(&query).send().await?;
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            serde_json::json!({ "status": status.as_u16(), "body": body })
        }
    };
    Ok(serde_json::to_string_pretty(&answer)?)
}
