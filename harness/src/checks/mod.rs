//! Expectations: the YAML under a phase's `expect` (one [`ExpectSpec`] block, or a list of
//! them, each optionally scoped to one request name) compiles to a list of [`Scoped`]
//! [`Expectation`]s; each kind lives in its own file with `evaluate(&self, &Observed) -> Outcome`.
//! New kind = a variant here + its file + a fixture + unit tests; a kind that reads from the
//! target besides the load declares its [`reading::Reading`]s in [`Expectation::readings`].
//!
//! Gating fails closed: an expectation on a metric that never appears, a phase with zero
//! samples or a malformed comparison is a failure or a validation error, never a pass.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::measure::PhaseStats;
use crate::prometheus::MetricSet;

pub mod breaker;
pub mod cache;
pub mod error_rate;
pub mod latency;
pub mod metrics;
pub mod probe;
pub mod rate_limit;
pub mod reading;
pub mod recovery;
pub mod response;
pub mod state;
pub mod status;
pub mod throughput;

/// The YAML under `expect:`: one block, or a list of blocks (to scope some to a request).
#[derive(Debug, Clone, Default)]
pub struct Expect(pub Vec<ExpectSpec>);

impl<'de> Deserialize<'de> for Expect {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ExpectVisitor;
        impl<'de> Visitor<'de> for ExpectVisitor {
            type Value = Expect;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an expect block, or a list of them")
            }
            fn visit_map<M: de::MapAccess<'de>>(self, map: M) -> Result<Expect, M::Error> {
                Ok(Expect(vec![ExpectSpec::deserialize(de::value::MapAccessDeserializer::new(map))?]))
            }
            fn visit_seq<S: de::SeqAccess<'de>>(self, seq: S) -> Result<Expect, S::Error> {
                Ok(Expect(Vec::deserialize(de::value::SeqAccessDeserializer::new(seq))?))
            }
        }
        deserializer.deserialize_any(ExpectVisitor)
    }
}

/// One `expect` block.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// Judge only the responses to this request name (`GET /health/`, or its `name:`), as k6
    /// thresholds on a tagged sub-metric; status, latency, error_rate, throughput, headers and
    /// json can be scoped.
    pub request: Option<String>,
    /// Share of responses per status or class: `{200: ">= 99%", 5xx: "< 1%"}`.
    #[serde(default)]
    pub status: BTreeMap<StatusKey, String>,
    /// Latency percentiles: `{p95: "< 250ms", max: "< 2s"}`.
    #[serde(default)]
    pub latency: BTreeMap<String, String>,
    /// Share of transport failures and statuses >= 400: `"< 1%"`.
    pub error_rate: Option<String>,
    /// Responses per second: `">= 100/s"`.
    pub throughput: Option<String>,
    /// Header rules on every response: exact value, `present` or `absent`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON body rules on every response: JSON pointer → expected value.
    #[serde(default)]
    pub json: BTreeMap<String, serde_json::Value>,
    /// First N allowed, then 429 with `Retry-After`.
    pub rate_limit: Option<rate_limit::RateLimitSpec>,
    /// Breaker state and transitions, read from `/metrics`.
    pub breaker: Option<breaker::BreakerSpec>,
    /// `X-Cache` sequence or hit ratio.
    pub cache: Option<cache::CacheSpec>,
    /// Prometheus metric deltas across the phase.
    #[serde(default)]
    pub metrics: Vec<metrics::MetricSpec>,
    /// Time until success rate and p95 are back near a baseline phase.
    pub recovery: Option<recovery::RecoverySpec>,
    /// A number the target reports must grow by the count of responses with a status.
    pub probe: Option<probe::ProbeSpec>,
    /// Values the target reports through its API after the phase.
    #[serde(default)]
    pub state: Vec<state::StateSpec>,
}

/// A status code (`503`) or class (`5xx`) as a map key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct StatusKey(pub String);

impl<'de> Deserialize<'de> for StatusKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = StatusKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a status code like 200 or a class like 5xx")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatusKey, E> {
                Ok(StatusKey(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StatusKey, E> {
                Ok(StatusKey(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StatusKey, E> {
                Ok(StatusKey(v.to_owned()))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

/// Everything a check may look at after a phase.
#[derive(Clone, Copy)]
pub struct Observed<'a> {
    /// The phase's measurements.
    pub stats: &'a PhaseStats,
    /// `/metrics` before the phase (None when the target exposes none).
    pub metrics_before: Option<&'a MetricSet>,
    /// `/metrics` after the phase.
    pub metrics_after: Option<&'a MetricSet>,
    /// Breaker states polled during the phase, per service: the starting state, then changes.
    pub breaker_states: &'a BTreeMap<String, Vec<breaker::StateChange>>,
    /// Measurements of each earlier phase, by name (for recovery baselines).
    pub earlier: &'a BTreeMap<String, PhaseStats>,
    /// Seconds from the last cleared fault (chaos, network, process) to the start of this phase's recorder (the zero of
    /// its sample times).
    pub since_fault_cleared: Option<f64>,
    /// The answers to the readings the phase's checks declared ([`Expectation::readings`]).
    pub readings: &'a reading::Readings,
}

/// A check's verdict and what it measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Whether the expectation held.
    pub passed: bool,
    /// The measured value, in words.
    pub measured: String,
}

impl Outcome {
    /// A verdict with its measurement.
    pub fn new(passed: bool, measured: impl Into<String>) -> Self {
        Self { passed, measured: measured.into() }
    }

    /// A failure because there was nothing to measure.
    pub fn no_samples() -> Self {
        Self::new(false, "no samples in this phase")
    }
}

/// An expectation and the request name it is scoped to (the whole phase when `None`).
#[derive(Debug, Clone)]
pub struct Scoped {
    /// The request name whose responses it judges.
    pub request: Option<String>,
    /// The expectation.
    pub expectation: Expectation,
}

impl Scoped {
    /// The YAML key of its kind.
    pub fn kind(&self) -> &'static str {
        self.expectation.kind()
    }

    /// What is expected, in words, naming the request when scoped.
    pub fn describe(&self) -> String {
        match &self.request {
            Some(name) => format!("[{name}] {}", self.expectation.describe()),
            None => self.expectation.describe(),
        }
    }

    /// What it reads from the target, judged against the phase's or its request's statistics.
    pub fn readings(&self, stats: &PhaseStats) -> Vec<reading::Reading> {
        let scope = self.request.as_ref().and_then(|name| stats.by_request.get(name)).unwrap_or(stats);
        self.expectation.readings(scope)
    }

    /// Evaluates against the phase, or against its request's own statistics; a request that got
    /// no responses fails like an empty phase.
    pub fn evaluate(&self, observed: &Observed<'_>) -> Outcome {
        let Some(name) = &self.request else {
            return self.expectation.evaluate(observed);
        };
        match observed.stats.by_request.get(name) {
            Some(stats) => self.expectation.evaluate(&Observed { stats, ..*observed }),
            None => Outcome::new(false, format!("no responses to {name} in this phase")),
        }
    }
}

/// One compiled expectation.
#[derive(Debug, Clone)]
pub enum Expectation {
    /// `status`.
    Status(status::StatusShare),
    /// `latency`.
    Latency(latency::LatencyLimit),
    /// `error_rate`.
    ErrorRate(error_rate::ErrorRate),
    /// `throughput`.
    Throughput(throughput::Throughput),
    /// `headers` and `json`.
    Response(response::ResponseRule),
    /// `rate_limit`.
    RateLimit(rate_limit::RateLimit),
    /// `breaker`.
    Breaker(breaker::Breaker),
    /// `cache`.
    Cache(cache::Cache),
    /// `metrics`.
    Metric(metrics::MetricDelta),
    /// `recovery`.
    Recovery(recovery::Recovery),
    /// `probe`.
    Probe(probe::Probe),
    /// `state`.
    State(state::State),
}

impl Expectation {
    /// The YAML key of this kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Status(_) => "status",
            Self::Latency(_) => "latency",
            Self::ErrorRate(_) => "error_rate",
            Self::Throughput(_) => "throughput",
            Self::Response(_) => "response",
            Self::RateLimit(_) => "rate_limit",
            Self::Breaker(_) => "breaker",
            Self::Cache(_) => "cache",
            Self::Metric(_) => "metrics",
            Self::Recovery(_) => "recovery",
            Self::Probe(_) => "probe",
            Self::State(_) => "state",
        }
    }

    /// What is expected, in words.
    pub fn describe(&self) -> String {
        match self {
            Self::Status(c) => c.describe(),
            Self::Latency(c) => c.describe(),
            Self::ErrorRate(c) => c.describe(),
            Self::Throughput(c) => c.describe(),
            Self::Response(c) => c.describe(),
            Self::RateLimit(c) => c.describe(),
            Self::Breaker(c) => c.describe(),
            Self::Cache(c) => c.describe(),
            Self::Metric(c) => c.describe(),
            Self::Recovery(c) => c.describe(),
            Self::Probe(c) => c.describe(),
            Self::State(c) => c.describe(),
        }
    }

    /// Checks the expectation against what was observed.
    pub fn evaluate(&self, observed: &Observed<'_>) -> Outcome {
        match self {
            Self::Status(c) => c.evaluate(observed),
            Self::Latency(c) => c.evaluate(observed),
            Self::ErrorRate(c) => c.evaluate(observed),
            Self::Throughput(c) => c.evaluate(observed),
            Self::Response(c) => c.evaluate(observed),
            Self::RateLimit(c) => c.evaluate(observed),
            Self::Breaker(c) => c.evaluate(observed),
            Self::Cache(c) => c.evaluate(observed),
            Self::Metric(c) => c.evaluate(observed),
            Self::Recovery(c) => c.evaluate(observed),
            Self::Probe(c) => c.evaluate(observed),
            Self::State(c) => c.evaluate(observed),
        }
    }

    /// The response rule, if this expectation is checked on each response as it arrives.
    pub fn response_rule(&self) -> Option<&response::ResponseRule> {
        match self {
            Self::Response(rule) => Some(rule),
            _ => None,
        }
    }

    /// What it reads from the target besides the load, at which moments; `stats` are the
    /// phase's (or its request's) measurements so far.
    pub fn readings(&self, stats: &PhaseStats) -> Vec<reading::Reading> {
        match self {
            Self::Probe(probe) => probe.readings(),
            Self::State(state) => vec![state.reading(stats)],
            _ => Vec::new(),
        }
    }

    /// Seconds from the last cleared fault until the phase was back near its baseline, for the
    /// kinds that measure it.
    pub fn time_to_recover(&self, observed: &Observed<'_>) -> Option<f64> {
        match self {
            Self::Recovery(recovery) => recovery.time_to_recover(observed),
            _ => None,
        }
    }

    /// Whether it walks every response in order, so the phase must keep them.
    pub fn needs_samples(&self) -> bool {
        matches!(self, Self::RateLimit(_) | Self::Cache(_) | Self::Recovery(_))
    }
}

/// Compiles a phase's `expect` blocks; `phases` are all of the scenario's (for references) and
/// `requests` the names of this phase's requests (for scopes).
pub fn compile(blocks: &Expect, phases: &[String], requests: &[String]) -> Result<Vec<Scoped>, String> {
    let mut compiled = Vec::new();
    for spec in &blocks.0 {
        if let Some(name) = &spec.request {
            check_scope(spec, name, requests)?;
        }
        compiled.extend(
            compile_block(spec, phases)?
                .into_iter()
                .map(|expectation| Scoped { request: spec.request.clone(), expectation }),
        );
    }
    Ok(compiled)
}

/// A scope names one of the phase's requests, and scopes only kinds measured per request.
fn check_scope(spec: &ExpectSpec, name: &str, requests: &[String]) -> Result<(), String> {
    if !requests.iter().any(|r| r == name) {
        let nearest = requests
            .iter()
            .min_by_key(|candidate| strsim::damerau_levenshtein(name, candidate))
            .map(|candidate| format!(" (did you mean `{candidate}`?)"))
            .unwrap_or_default();
        return Err(format!(
            "expect.request: {name:?} is not a request of this phase; its requests are {}{nearest}",
            requests.join(", ")
        ));
    }
    let whole_phase = [
        ("rate_limit", spec.rate_limit.is_some()),
        ("breaker", spec.breaker.is_some()),
        ("cache", spec.cache.is_some()),
        ("metrics", !spec.metrics.is_empty()),
        ("recovery", spec.recovery.is_some()),
        ("probe", spec.probe.is_some()),
    ];
    match whole_phase.iter().find(|(_, set)| *set) {
        Some((kind, _)) => Err(format!(
            "expect.request: {kind} judges the whole phase; only status, latency, error_rate, throughput, headers, json and state can be scoped to one request"
        )),
        None => Ok(()),
    }
}

fn compile_block(spec: &ExpectSpec, phases: &[String]) -> Result<Vec<Expectation>, String> {
    let mut compiled = Vec::new();
    for (key, comparison) in &spec.status {
        compiled.push(Expectation::Status(status::StatusShare::compile(&key.0, comparison)?));
    }
    for (name, comparison) in &spec.latency {
        compiled.push(Expectation::Latency(latency::LatencyLimit::compile(name, comparison)?));
    }
    if let Some(comparison) = &spec.error_rate {
        compiled.push(Expectation::ErrorRate(error_rate::ErrorRate::compile(comparison)?));
    }
    if let Some(comparison) = &spec.throughput {
        compiled.push(Expectation::Throughput(throughput::Throughput::compile(comparison)?));
    }
    for rule in response::ResponseRule::compile(&spec.headers, &spec.json, spec.request.as_deref())? {
        compiled.push(Expectation::Response(rule));
    }
    if let Some(rate_limit) = &spec.rate_limit {
        compiled.push(Expectation::RateLimit(rate_limit::RateLimit::compile(rate_limit)?));
    }
    if let Some(breaker) = &spec.breaker {
        compiled.push(Expectation::Breaker(breaker::Breaker::compile(breaker)?));
    }
    if let Some(cache) = &spec.cache {
        compiled.push(Expectation::Cache(cache::Cache::compile(cache)?));
    }
    for metric in &spec.metrics {
        compiled.push(Expectation::Metric(metrics::MetricDelta::compile(metric)?));
    }
    if let Some(probe) = &spec.probe {
        compiled.push(Expectation::Probe(probe::Probe::compile(probe)?));
    }
    for state in &spec.state {
        compiled.push(Expectation::State(state::State::compile(state)?));
    }
    if let Some(recovery) = &spec.recovery {
        compiled.push(Expectation::Recovery(recovery::Recovery::compile(recovery, phases)?));
    }
    Ok(compiled)
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Builders for check unit tests.

    use super::*;
    use crate::measure::Sample;

    /// Stats with one sample per status in `statuses`, in order.
    pub(crate) fn stats(statuses: &[u16]) -> PhaseStats {
        let mut stats = PhaseStats {
            requests: statuses.len() as u64,
            duration_s: 1.0,
            samples_kept: true,
            ..PhaseStats::default()
        };
        for status in statuses {
            *stats.status_counts.entry(*status).or_default() += 1;
            stats.errors += (*status == 0 || *status >= 400) as u64;
            stats.samples.push(Sample {
                status: *status,
                x_cache: None,
                retry_after: *status == 429,
                sent_ms: 0,
                latency_us: 1000,
            });
        }
        stats
    }

    /// Evaluates `expectation` on `stats` with no metrics or history.
    pub(crate) fn evaluate(expectation: &Expectation, stats: &PhaseStats) -> Outcome {
        let empty = BTreeMap::new();
        let earlier = BTreeMap::new();
        expectation.evaluate(&Observed {
            stats,
            metrics_before: None,
            metrics_after: None,
            breaker_states: &empty,
            earlier: &earlier,
            since_fault_cleared: None,
            readings: &BTreeMap::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::stats;
    use super::*;

    fn scoped(request: &str) -> Scoped {
        Scoped {
            request: Some(request.to_owned()),
            expectation: Expectation::Status(status::StatusShare::compile("200", "== 100%").unwrap()),
        }
    }

    fn evaluate(scoped: &Scoped, stats: &PhaseStats) -> Outcome {
        let (states, earlier) = (BTreeMap::new(), BTreeMap::new());
        scoped.evaluate(&Observed {
            stats,
            metrics_before: None,
            metrics_after: None,
            breaker_states: &states,
            earlier: &earlier,
            since_fault_cleared: None,
            readings: &BTreeMap::new(),
        })
    }

    #[test]
    fn a_scoped_expectation_judges_only_its_request_and_fails_without_its_responses() {
        let mut phase = stats(&[200, 500]);
        phase.by_request.insert("GET /ok".into(), stats(&[200]));
        phase.by_request.insert("GET /broken".into(), stats(&[500]));
        assert!(evaluate(&scoped("GET /ok"), &phase).passed);
        assert!(!evaluate(&scoped("GET /broken"), &phase).passed);
        let missing = evaluate(&scoped("GET /never-sent"), &phase);
        assert!(!missing.passed && missing.measured.contains("no responses"), "{missing:?}");
    }
}
