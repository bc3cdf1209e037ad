//! `headers: {x-cache: HIT, retry-after: present}` and `json: {/status: ok}`: rules checked on
//! every response as it arrives; the phase passes a rule only if no response broke it. A
//! request that got no response (refused, reset, closed, timed out) breaks every rule: what
//! never arrived cannot carry the header.

use std::collections::BTreeMap;

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::checks::{Observed, Outcome};

/// What a header rule wants.
#[derive(Debug, Clone, PartialEq)]
enum HeaderWant {
    Present,
    Absent,
    Equals(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Rule {
    Header { name: String, want: HeaderWant },
    Json { pointer: String, value: Value },
}

/// One per-response rule.
#[derive(Debug, Clone)]
pub struct ResponseRule {
    /// The name failures are counted under: the label, prefixed by the scope.
    name: String,
    /// The rule in words.
    label: String,
    rule: Rule,
}

impl ResponseRule {
    /// Compiles the `headers` and `json` maps into one rule per entry; a rule scoped to a request
    /// name carries it in its own name, so its failures are counted apart.
    pub fn compile(
        headers: &BTreeMap<String, String>,
        json: &BTreeMap<String, Value>,
        scope: Option<&str>,
    ) -> Result<Vec<Self>, String> {
        let prefix = scope.map_or_else(String::new, |name| format!("[{name}] "));
        let mut rules = Vec::new();
        for (name, want) in headers {
            let name = name.to_ascii_lowercase();
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(format!("headers: {name:?} is not a valid header name"));
            }
            let want = match want.as_str() {
                "present" => HeaderWant::Present,
                "absent" => HeaderWant::Absent,
                value => HeaderWant::Equals(value.to_owned()),
            };
            let label = format!("header {name} {}", describe_want(&want));
            rules.push(Self { name: format!("{prefix}{label}"), label, rule: Rule::Header { name, want } });
        }
        for (pointer, value) in json {
            if !pointer.starts_with('/') {
                return Err(format!("json: {pointer:?} must be a JSON pointer such as /status"));
            }
            let label = format!("json {pointer} == {value}");
            rules.push(Self {
                name: format!("{prefix}{label}"),
                label,
                rule: Rule::Json { pointer: pointer.clone(), value: value.clone() },
            });
        }
        Ok(rules)
    }

    /// The name failures are counted under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the body must be read to check this rule.
    pub fn needs_body(&self) -> bool {
        matches!(self.rule, Rule::Json { .. })
    }

    /// Whether one response satisfies the rule (`body` is `None` when it was not JSON).
    pub fn check(&self, headers: &HeaderMap, body: Option<&Value>) -> bool {
        match &self.rule {
            Rule::Header { name, want } => match (want, headers.get(name)) {
                (HeaderWant::Present, found) => found.is_some(),
                (HeaderWant::Absent, found) => found.is_none(),
                (HeaderWant::Equals(expected), Some(found)) => found.to_str().is_ok_and(|f| f == expected),
                (HeaderWant::Equals(_), None) => false,
            },
            Rule::Json { pointer, value } => body.and_then(|b| b.pointer(pointer)) == Some(value),
        }
    }

    /// In words (the scope, if any, is named by [`crate::checks::Scoped::describe`]).
    pub fn describe(&self) -> String {
        format!("every response: {}", self.label)
    }

    /// Passes when at least one response was checked and none failed.
    pub fn evaluate(&self, observed: &Observed<'_>) -> Outcome {
        let stats = observed.stats;
        if stats.requests == 0 {
            return Outcome::no_samples();
        }
        let failed = stats.response_failures.get(&self.name).copied().unwrap_or(0);
        Outcome::new(failed == 0, format!("{failed} of {} responses broke it", stats.requests))
    }
}

fn describe_want(want: &HeaderWant) -> String {
    match want {
        HeaderWant::Present => "present".into(),
        HeaderWant::Absent => "absent".into(),
        HeaderWant::Equals(value) => format!("== {value}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Expectation;
    use crate::checks::test_support::{evaluate, stats};
    use serde_json::json;

    fn rules(headers: &[(&str, &str)], json: &[(&str, Value)]) -> Vec<ResponseRule> {
        ResponseRule::compile(
            &headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            &json.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            None,
        )
        .unwrap()
    }

    #[test]
    fn header_rules_check_presence_and_value() {
        let mut headers = HeaderMap::new();
        headers.insert("x-cache", "HIT".parse().unwrap());
        let r = rules(&[("X-Cache", "HIT"), ("retry-after", "absent"), ("x-request-id", "present")], &[]);
        assert!(r[0].check(&headers, None));
        assert!(r[1].check(&headers, None));
        assert!(!r[2].check(&headers, None));
    }

    #[test]
    fn json_rules_follow_pointers() {
        let r = rules(&[], &[("/status", json!("ok"))]);
        assert!(r[0].needs_body());
        assert!(r[0].check(&HeaderMap::new(), Some(&json!({ "status": "ok" }))));
        assert!(!r[0].check(&HeaderMap::new(), Some(&json!({ "status": "degraded" }))));
        assert!(!r[0].check(&HeaderMap::new(), None));
    }

    #[test]
    fn phase_fails_when_any_response_broke_a_rule() {
        let rule = rules(&[("x-cache", "HIT")], &[]).remove(0);
        let mut s = stats(&[200, 200]);
        assert!(evaluate(&Expectation::Response(rule.clone()), &s).passed);
        s.response_failures.insert(rule.name().to_owned(), 1);
        assert!(!evaluate(&Expectation::Response(rule), &s).passed);
        assert!(ResponseRule::compile(&BTreeMap::new(), &[("status".to_owned(), json!(1))].into(), None).is_err());
    }
}
