//! Secrets never reach a report, stdout, a metric label or the target's log file. A [`Redactor`]
//! knows the secret values of a run (the chaos token, the values of headers that carry
//! credentials, and every `${VAR}` whose name contains TOKEN, SECRET, PASSWORD or KEY) and
//! replaces them with `***` wherever the harness shows text from outside: request names and
//! paths, the scenario text, actions, problems, failure samples and log lines. It also masks the
//! value of every URL query parameter named like a secret (`?api_key=...`), and in the scenario
//! text the value of any key that names a secret, so a literal token is hidden too.

use std::sync::LazyLock;

use regex::Regex;

use crate::measure::label::RequestLabel;
use crate::report::model::{ActionLog, RunReport};

/// What replaces a secret.
pub const MASK: &str = "***";

/// Shorter values are not masked wherever they appear: a one-letter "secret" would mask text
/// that is not one.
const MIN_SECRET_LEN: usize = 3;

/// A YAML (or JSON) key naming a secret, and its value up to the end of the flow item or line.
static SECRET_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)([\w-]*(?:token|secret|password|passwd|key|authorization|cookie)[\w-]*["']?\s*:[ \t]*)("[^"\n]*"|'[^'\n]*'|[^,}\]\n#]+)"#)
        .expect("valid regex")
});

/// A JSON Web Token (header and payload are base64url JSON, so they start `eyJ`): tokens a run
/// captured from login answers are masked wherever they show up, known or not.
static JWT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+").expect("valid regex"));

/// A URL query parameter named like a secret, and its value.
static SECRET_QUERY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)([?&](?:token|access_token|refresh_token|id_token|api_key|api-key|apikey|key|password|passwd|secret|client_secret|signature)=)([^&#\s\x22'<]+)")
        .expect("valid regex")
});

/// Whether an environment variable's name marks its value as a secret.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    ["TOKEN", "SECRET", "PASSWORD", "KEY"].iter().any(|word| name.contains(word))
}

/// Whether a header's value is a secret: the credential headers, and any name with `auth`,
/// `token`, `secret`, `key`, `password` or `signature` in it (`X-Custom-Auth`, `X-Api-Key`).
pub fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "cookie"
        || ["auth", "token", "secret", "key", "password", "signature"].iter().any(|word| name.contains(word))
}

/// Masks a run's secrets.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for these secret values.
    pub fn new(secrets: Vec<String>) -> Self {
        let mut redactor = Self::default();
        for secret in secrets {
            redactor.add(Some(&secret));
        }
        redactor
    }

    /// Adds a secret value (and its `Bearer`-less form).
    pub fn add(&mut self, secret: Option<&str>) {
        let Some(secret) = secret.map(str::trim) else {
            return;
        };
        let bare = secret.strip_prefix("Bearer ").or_else(|| secret.strip_prefix("Basic ")).unwrap_or(secret);
        for value in [secret, bare] {
            if value.len() >= MIN_SECRET_LEN && !self.secrets.iter().any(|s| s == value) {
                self.secrets.push(value.to_owned());
            }
        }
        // Longest first, so a value containing another is masked whole.
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// `text` with every known secret, every JWT and every secret-named query value masked.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        if out.contains("eyJ") {
            out = JWT.replace_all(&out, MASK).into_owned();
        }
        if out.contains('=') {
            // A `${VAR}` is the template a request is named by, not a value: it stays.
            let mask = |c: &regex::Captures<'_>| match c[2].starts_with("${") {
                true => c[0].to_owned(),
                false => format!("{}{MASK}", &c[1]),
            };
            out = SECRET_QUERY.replace_all(&out, mask).into_owned();
        }
        out
    }

    /// A request's label with its name and path masked, before it names anything: the
    /// recorder's failure samples, the live metrics' labels and the report all take it from here.
    pub fn label(&self, label: RequestLabel) -> RequestLabel {
        RequestLabel { name: self.text(&label.name), path: self.text(&label.path), ..label }
    }

    /// Scenario text: known secrets, and the value of every key that names a secret.
    pub fn scenario_text(&self, text: &str) -> String {
        let masked = self.text(text);
        SECRET_KEY.replace_all(&masked, |captures: &regex::Captures<'_>| format!("{}{MASK}", &captures[1])).into_owned()
    }

    /// Masks every text in `report` that came from outside the harness.
    pub fn report(&self, report: &mut RunReport) {
        report.scenario_text = self.scenario_text(&report.scenario_text);
        report.target = self.text(&report.target);
        for problem in &mut report.problems {
            *problem = self.text(problem);
        }
        if let Some(skipped) = &mut report.skipped {
            *skipped = self.text(skipped);
        }
        for phase in &mut report.phases {
            phase.actions.iter_mut().for_each(|action| self.action(action));
            for request in &mut phase.by_request {
                request.name = self.text(&request.name);
            }
            for failure in &mut phase.failures {
                failure.name = self.text(&failure.name);
                failure.path = self.text(&failure.path);
                failure.error = failure.error.as_deref().map(|e| self.text(e));
                // A body is JSON from outside: mask by key too (`"access_token": "..."`).
                failure.body = failure.body.as_deref().map(|b| self.scenario_text(b));
                failure.target_log.iter_mut().for_each(|line| *line = self.text(line));
                failure.trace.iter_mut().for_each(|trace| self.trace(trace));
            }
            for slow in &mut phase.slowest {
                slow.name = self.text(&slow.name);
                slow.trace.iter_mut().for_each(|trace| self.trace(trace));
            }
            for expectation in &mut phase.expectations {
                expectation.measured = self.text(&expectation.measured);
            }
        }
        report.rollback.iter_mut().for_each(|action| self.action(action));
    }

    /// A trace's span names and events (an error message may quote a URL).
    fn trace(&self, trace: &mut crate::trace::Trace) {
        for span in &mut trace.spans {
            span.name = self.text(&span.name);
            for event in &mut span.events {
                event.name = self.text(&event.name);
                event.attributes.values_mut().for_each(|value| *value = self.text(value));
            }
        }
    }

    fn action(&self, action: &mut ActionLog) {
        action.description = self.text(&action.description);
        action.message = self.text(&action.message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_and_secret_keys_are_masked() {
        let redactor = Redactor::new(vec!["Bearer s3cr3t-token".into(), "hunter22".into(), "x".into()]);
        assert_eq!(redactor.text("auth Bearer s3cr3t-token and s3cr3t-token"), "auth *** and ***");
        assert_eq!(redactor.text("x marks the spot"), "x marks the spot", "too short to mask everywhere");
        let yaml = "target: {chaos_token: literal-1, env: {DB_PASSWORD: \"p w\"}}\n  headers: {Authorization: Basic abc, x-id: '7'}\npath: /examples/cache/smoke-key\n";
        let masked = redactor.scenario_text(yaml);
        for secret in ["literal-1", "p w", "Basic abc"] {
            assert!(!masked.contains(secret), "{secret} in {masked}");
        }
        assert!(masked.contains("x-id: '7'") && masked.contains("smoke-key"), "{masked}");
    }

    #[test]
    fn tokens_in_answers_are_masked_by_shape_and_by_key() {
        let redactor = Redactor::new(Vec::new());
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
        assert_eq!(redactor.text(&format!("Bearer {jwt} rest")), "Bearer *** rest");
        let body = r#"{"access_token":"opaque-value","token_type":"bearer","user_id":"u-1"}"#;
        let masked = redactor.scenario_text(body);
        assert!(!masked.contains("opaque-value") && masked.contains("u-1"), "{masked}");
    }

    #[test]
    fn a_trace_event_quoting_a_secret_is_masked() {
        let redactor = Redactor::new(vec!["hunter22".into()]);
        let event = crate::trace::SpanEvent {
            name: "failed".into(),
            at_us: 0,
            attributes: [("reason".to_owned(), "GET /x?api_key=k1 as hunter22".to_owned())].into(),
        };
        let span = crate::trace::TraceSpan {
            service: "orders".into(),
            name: "GET products".into(),
            span_id: "1".into(),
            parent_span_id: None,
            start_us: 0,
            duration_us: 1,
            status: "error".into(),
            events: vec![event],
        };
        let mut trace = crate::trace::Trace { spans: vec![span] };
        redactor.trace(&mut trace);
        let reason = &trace.spans[0].events[0].attributes["reason"];
        assert!(!reason.contains("hunter22") && !reason.contains("k1"), "{reason}");
    }

    #[test]
    fn secret_names_follow_the_words() {
        assert!(is_secret_name("CHAOS_TOKEN") && is_secret_name("api_key") && is_secret_name("DB_PASSWORD"));
        assert!(!is_secret_name("TARGET_URL"));
        assert!(is_secret_header("Authorization") && is_secret_header("cookie") && !is_secret_header("x-request-id"));
        assert!(is_secret_header("X-Custom-Auth") && is_secret_header("x-api-key") && !is_secret_header("accept"));
    }

    #[test]
    fn query_values_named_like_secrets_are_masked_without_being_known() {
        let redactor = Redactor::new(Vec::new());
        let url = "GET /ok?api_key=k1&queue_name=q&TOKEN=t2 and /x?a=1&signature=s%203#frag /y?monkey=1&key=${KEY}";
        let masked = "GET /ok?api_key=***&queue_name=q&TOKEN=*** and /x?a=1&signature=***#frag /y?monkey=1&key=${KEY}";
        assert_eq!(redactor.text(url), masked);
        for name in ["key", "apikey", "password", "secret", "access_token"] {
            assert_eq!(redactor.text(&format!("/p?{name}=v4lue")), format!("/p?{name}=***"), "{name}");
        }
    }

    #[test]
    fn labels_are_masked_before_they_name_anything() {
        let redactor = Redactor::new(vec!["path-s3cret".into()]);
        let label = RequestLabel {
            name: "GET /a/path-s3cret?token=lit".into(),
            method: "GET".into(),
            path: "/a/path-s3cret?token=lit".into(),
        };
        let masked = redactor.label(label);
        assert_eq!((masked.name.as_str(), masked.path.as_str()), ("GET /a/***?token=***", "/a/***?token=***"));
    }
}
