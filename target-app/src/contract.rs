//! What the OpenAPI generated from the handlers cannot say by itself, added once when the
//! router is built: the error body every 4xx and 5xx answers with, the statuses the layers add
//! to every route (414 from hyper, 429 from the rate limiter, 431 from the head limit; 400, 413
//! and 415 from the body rules on routes that take a body), the `/demo` caps, which are
//! configured at startup, and the one rule utoipa cannot write inline (a published message is a
//! non-empty object).

use serde_json::{Value, json};
use utoipa::openapi::OpenApi;

use crate::config::Settings;

/// The generated document, completed.
pub fn complete(openapi: OpenApi, settings: &Settings) -> OpenApi {
    let mut spec = serde_json::to_value(&openapi).expect("the generated OpenAPI serialises");
    spec["components"]["schemas"]["ErrorBody"] = error_body();
    let caps = &settings.faults;
    for (path, parameter, maximum) in [
        ("/demo/slow", "delay_ms", caps.max_delay_ms),
        ("/demo/cpu", "duration_ms", caps.max_cpu_ms),
        ("/demo/memory", "mb", caps.max_memory_mb),
        ("/demo/memory", "hold_ms", caps.max_delay_ms),
    ] {
        for parameter in parameters(&mut spec, path).filter(|p| p["name"] == parameter) {
            parameter["schema"]["minimum"] = json!(0);
            parameter["schema"]["maximum"] = json!(maximum);
        }
    }
    // utoipa cannot say "a non-empty object" inline.
    let message =
        &mut spec["paths"]["/examples/messaging/publish"]["post"]["requestBody"]["content"]["application/json"];
    if message.is_object() {
        message["schema"] = json!({ "type": "object", "minProperties": 1, "additionalProperties": true });
    }
    if let Some(paths) = spec["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            for operation in item.as_object_mut().into_iter().flat_map(|item| item.values_mut()) {
                add_layer_statuses(path, operation);
            }
        }
    }
    serde_json::from_value(spec).expect("the completed OpenAPI reads back")
}

/// `{error, message, status_code, details, request_id}`, as `ApiError` writes it.
fn error_body() -> Value {
    json!({
        "type": "object",
        "required": ["error", "message", "status_code", "details", "request_id"],
        "properties": {
            "error": {"type": "string", "description": "Error class, e.g. ValidationError"},
            "message": {"type": "string"},
            "status_code": {"type": "integer"},
            "details": {"type": "object", "additionalProperties": true},
            "request_id": {"type": "string"},
        },
    })
}

/// A GET operation's parameters; none when the route is not in the document (`pointer_mut`,
/// unlike indexing, adds nothing that is missing).
fn parameters<'a>(spec: &'a mut Value, path: &str) -> impl Iterator<Item = &'a mut Value> {
    let pointer = format!("/paths/{}/get/parameters", path.replace('~', "~0").replace('/', "~1"));
    spec.pointer_mut(&pointer).and_then(Value::as_array_mut).into_iter().flatten()
}

/// Adds what the layers can answer on any route, and the error body to every error status.
fn add_layer_statuses(path: &str, operation: &mut Value) {
    let takes_body = operation.get("requestBody").is_some();
    let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    let mut add = |status: &str, description: &str| {
        responses.entry(status).or_insert_with(|| json!({ "description": description }));
    };
    // The chaos API is exempt from rate limits.
    if !path.starts_with("/chaos") {
        add("429", "Rate limit exceeded; Retry-After says when to try again");
    }
    if takes_body {
        add("400", "A body without a content type");
        add("413", "Body over MAX_BODY_BYTES");
        add("415", "A content type other than application/json");
    }
    add("431", "Request head over MAX_HEADER_BYTES");
    // hyper refuses an over-long request line itself, with an empty body.
    responses.entry("414").or_insert_with(|| json!({ "description": "Request line too long (hyper)" }));
    for (status, response) in responses.iter_mut() {
        let is_error = (status.starts_with('4') || status.starts_with('5')) && status != "414";
        if is_error && response.get("content").is_none() {
            response["content"] =
                json!({ "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_status_gets_the_error_body_and_body_routes_the_body_rules() {
        let mut operation = json!({
            "requestBody": {},
            "responses": {"200": {"description": "ok"}, "422": {"description": "bad"}},
        });
        add_layer_statuses("/examples/messaging/publish", &mut operation);
        let responses = operation["responses"].as_object().unwrap();
        for status in ["400", "413", "415", "422", "429", "431"] {
            assert_eq!(
                responses[status]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                "{status}"
            );
        }
        assert!(responses["200"].get("content").is_none());
        assert!(responses["414"].get("content").is_none(), "hyper's 414 has no body");
        let mut chaos = json!({"responses": {"200": {"description": "ok"}}});
        add_layer_statuses("/chaos/faults", &mut chaos);
        assert!(chaos["responses"].get("429").is_none(), "the chaos API is not rate limited");
    }
}
