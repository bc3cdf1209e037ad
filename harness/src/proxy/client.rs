//! The `harness proxy` client commands: drive any Toxiproxy-compatible API (`harness proxy
//! serve`, or real Toxiproxy) by hand, as toxiproxy-cli does, with the same remote opt-in and
//! output as `harness fault` (a table, or `--json` for the API's JSON).

use serde_json::{Value, json};

use crate::cli::{ProxyArgs, ProxyCommand, ToxicCommand};
use crate::fault::text;
use crate::table;
use crate::target::address::{self, TargetError};

/// Runs one client command against `args.api`, printing its answer; returns the exit code.
pub async fn run(args: &ProxyArgs) -> u8 {
    let api = args.api.trim_end_matches('/');
    if let Err(error) = address::check_allowed(api, args.manual.allow_remote, address::MANUAL_OPT_IN) {
        eprintln!("error: {error}");
        return crate::EXIT_INVALID_SCENARIO;
    }
    match call(api, &args.command).await {
        Ok(answer) if args.manual.json => {
            println!("{}", serde_json::to_string_pretty(&answer).unwrap_or_default());
            0
        }
        Ok(answer) => {
            println!("{}", render(&args.command, &answer));
            0
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            crate::EXIT_SETUP_FAILED
        }
    }
}

/// Sends `command` to the API at `api`; its JSON answer (`null` for a 204).
async fn call(api: &str, command: &ProxyCommand) -> anyhow::Result<Value> {
    let client = reqwest::Client::builder().no_proxy().timeout(std::time::Duration::from_secs(30)).build()?;
    let request = match command {
        ProxyCommand::Serve { .. } => anyhow::bail!("serve is not a client command"),
        ProxyCommand::List => client.get(format!("{api}/proxies")),
        ProxyCommand::Inspect { name } => client.get(format!("{api}/proxies/{name}")),
        ProxyCommand::Create { name, upstream, listen } => {
            let mut body = json!({"name": name, "upstream": upstream});
            if let Some(listen) = listen {
                body["listen"] = json!(listen);
            }
            client.post(format!("{api}/proxies")).json(&body)
        }
        ProxyCommand::Toggle { name } => {
            let current = answer(client.get(format!("{api}/proxies/{name}")).send().await?).await?;
            let enabled = current["enabled"].as_bool().unwrap_or(true);
            client.post(format!("{api}/proxies/{name}")).json(&json!({"enabled": !enabled}))
        }
        ProxyCommand::Delete { name } => client.delete(format!("{api}/proxies/{name}")),
        ProxyCommand::Reset => client.post(format!("{api}/reset")),
        ProxyCommand::Toxic(ToxicCommand::Add { proxy, kind, name, stream, toxicity, attributes }) => {
            let mut body = json!({"type": kind, "attributes": attributes_of(attributes)?});
            for (key, value) in
                [("name", name.as_ref().map(|n| json!(n))), ("stream", stream.as_ref().map(|s| json!(s)))]
            {
                if let Some(value) = value {
                    body[key] = value;
                }
            }
            if let Some(toxicity) = toxicity {
                body["toxicity"] = json!(toxicity);
            }
            client.post(format!("{api}/proxies/{proxy}/toxics")).json(&body)
        }
        ProxyCommand::Toxic(ToxicCommand::Remove { proxy, name }) => {
            client.delete(format!("{api}/proxies/{proxy}/toxics/{name}"))
        }
    };
    answer(request.send().await.map_err(|e| TargetError::Unreachable { url: api.to_owned(), reason: e.to_string() })?)
        .await
}

/// `key=value` attributes as a JSON object of numbers.
fn attributes_of(pairs: &[String]) -> anyhow::Result<Value> {
    let mut attributes = serde_json::Map::new();
    for pair in pairs {
        let (key, value) =
            pair.split_once('=').ok_or_else(|| anyhow::anyhow!("attribute {pair:?} is not key=value"))?;
        let number = match value.parse::<i64>() {
            Ok(whole) => json!(whole),
            Err(_) => {
                json!(value.parse::<f64>().map_err(|_| anyhow::anyhow!("attribute {key}: {value:?} is not a number"))?)
            }
        };
        attributes.insert(key.to_owned(), number);
    }
    Ok(Value::Object(attributes))
}

/// The JSON of a 2xx answer; the API's error message otherwise.
async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body = response.text().await?;
    let json: Value =
        if body.trim().is_empty() { Value::Null } else { serde_json::from_str(&body).unwrap_or(json!(body)) };
    match status.is_success() {
        true => Ok(json),
        false => anyhow::bail!("{status}: {}", json["error"].as_str().unwrap_or(&body)),
    }
}

/// The answer to `command` for a person.
fn render(command: &ProxyCommand, answer: &Value) -> String {
    match command {
        ProxyCommand::List => {
            let proxies: Vec<&Value> = answer.as_object().map(|all| all.values().collect()).unwrap_or_default();
            proxies_table(&proxies)
        }
        ProxyCommand::Inspect { .. } | ProxyCommand::Toggle { .. } | ProxyCommand::Create { .. } => {
            let toxics = answer["toxics"].as_array().map_or(&[][..], Vec::as_slice);
            format!("{}\n\n{}", proxies_table(&[answer]), toxics_table(toxics))
        }
        ProxyCommand::Toxic(ToxicCommand::Add { .. }) => toxics_table(std::slice::from_ref(answer)),
        ProxyCommand::Toxic(ToxicCommand::Remove { proxy, name }) => format!("removed toxic {name} from {proxy}"),
        ProxyCommand::Delete { name } => format!("deleted proxy {name}"),
        ProxyCommand::Reset => "every proxy enabled, every toxic removed".to_owned(),
        ProxyCommand::Serve { .. } => String::new(),
    }
}

fn proxies_table(proxies: &[&Value]) -> String {
    let rows: Vec<Vec<String>> = proxies
        .iter()
        .map(|p| {
            let toxics = p["toxics"].as_array().map_or(0, Vec::len);
            let enabled = if p["enabled"].as_bool().unwrap_or(false) { "yes" } else { "no" };
            vec![text(&p["name"]), text(&p["listen"]), text(&p["upstream"]), enabled.to_owned(), toxics.to_string()]
        })
        .collect();
    table::render(&["name", "listen", "upstream", "enabled", "toxics"], &rows)
}

fn toxics_table(toxics: &[Value]) -> String {
    let rows: Vec<Vec<String>> = toxics
        .iter()
        .map(|t| {
            let attributes = t["attributes"].as_object().map_or_else(String::new, |attributes| {
                attributes.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
            });
            vec![text(&t["name"]), text(&t["type"]), text(&t["stream"]), text(&t["toxicity"]), attributes]
        })
        .collect();
    table::render(&["toxic", "type", "stream", "toxicity", "attributes"], &rows)
}
