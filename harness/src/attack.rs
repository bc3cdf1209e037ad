//! One phase as a goose attack: each YAML request becomes a closure-backed goose
//! [`Transaction`] sent on the user's own connection ([`crate::client`]); `once` requests are
//! goose on-start transactions, in file order. Every response is timed in microseconds into the
//! phase's [`Recorder`] and checked against the per-response rules, which counts every failure.
//! A request that uses `${name}`s is rendered per send from the user's captures and the run's
//! ([`crate::variables`]); one whose values were never captured is recorded as a failure. Goose schedules the users and is configured in code:
//! controllers, metrics and reports off, no argv parsing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::client::GooseClientBuilder;
use goose::config::GooseConfiguration;
use goose::prelude::{
    GooseAttack, GooseDefault, GooseDefaultType, GooseUser, Scenario as GooseScenario, Transaction, TransactionResult,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::checks::response::ResponseRule;
use crate::client::{Connection, Endpoint, Prepared};
use crate::measure::{Recorder, RequestLabel, Response};
use crate::plan::{LoadModel, Request};
use crate::redact::Redactor;
use crate::scenario::LoadedScenario;
use crate::variables::{self, Variables};

/// What a phase's transactions share.
pub struct PhasePlan {
    /// Resolved load model.
    pub load: LoadModel,
    /// The requests, with weights.
    pub requests: Vec<Request>,
    /// Think time range, if any.
    pub think_time: Option<(Duration, Duration)>,
    /// Rules checked on every response, each with the request name it is scoped to.
    pub rules: Vec<(Option<String>, ResponseRule)>,
    /// Seed for think time (each user derives its own stream).
    pub seed: u64,
    /// The run's captures when the phase starts.
    pub variables: Variables,
    /// Prefix of each user's `${user}`, unique to the phase within the run.
    pub user_prefix: String,
    /// Masks the scenario's secrets in the request labels.
    pub redactor: Redactor,
    /// The share of requests sent with a sampled `traceparent`; `None` sends none.
    pub trace_sample: Option<f64>,
}

impl PhasePlan {
    /// Builds the plan from a phase's parts.
    pub fn new(
        load: LoadModel,
        requests: Vec<Request>,
        think_time: Option<(Duration, Duration)>,
        rules: Vec<(Option<String>, ResponseRule)>,
        seed: u64,
    ) -> Self {
        Self {
            load,
            requests,
            think_time,
            rules,
            seed,
            variables: Variables::default(),
            user_prefix: String::new(),
            redactor: Redactor::default(),
            trace_sample: None,
        }
    }

    /// The plan sending a `traceparent` on every request, sampled at `sample`.
    pub fn with_trace_sample(mut self, sample: Option<f64>) -> Self {
        self.trace_sample = sample;
        self
    }

    /// The plan with its labels masked by `redactor`.
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// The plan with the run's captures and the phase's `${user}` prefix.
    pub fn with_variables(mut self, variables: Variables, user_prefix: String) -> Self {
        self.variables = variables;
        self.user_prefix = user_prefix;
        self
    }

    /// How reports and live metrics name each request, and what it sends, secrets masked.
    pub fn labels(&self) -> Vec<RequestLabel> {
        self.requests
            .iter()
            .map(|spec| {
                let label =
                    RequestLabel { name: spec.display_name(), method: spec.method.to_uppercase(), path: spec.target() };
                self.redactor.label(label)
            })
            .collect()
    }

    /// The rules each request's responses are checked against: the phase's, and its own.
    fn rules_per_request(&self) -> Vec<Vec<ResponseRule>> {
        self.requests
            .iter()
            .map(|spec| {
                let name = spec.display_name();
                self.rules
                    .iter()
                    .filter(|(scope, _)| scope.as_ref().is_none_or(|s| *s == name))
                    .map(|(_, rule)| rule.clone())
                    .collect()
            })
            .collect()
    }

    /// Users' intended interval between requests, for coordinated-omission correction.
    pub fn expected_interval(&self) -> Option<Duration> {
        match self.load {
            LoadModel::Rate { per_second, users, .. } => {
                Some(Duration::from_secs_f64(users as f64 / per_second as f64))
            }
            _ => None,
        }
    }
}

/// What phase `index`'s users send, under `load` (the phase's, or a worker's share of it), with
/// the run's captures and a `${user}` prefix unique within the run.
pub fn phase_plan(
    loaded: &LoadedScenario,
    index: usize,
    load: LoadModel,
    seed: u64,
    variables: Variables,
    user_prefix: String,
) -> PhasePlan {
    let phase = &loaded.plan.phases[index];
    let rules = phase
        .expectations
        .iter()
        .filter_map(|scoped| scoped.expectation.response_rule().map(|rule| (scoped.request.clone(), rule.clone())))
        .collect();
    PhasePlan::new(load, phase.requests.clone(), phase.think_time, rules, seed.wrapping_add(index as u64))
        .with_variables(variables, user_prefix)
        .with_redactor(Redactor::new(loaded.secrets.clone()))
        .with_trace_sample(loaded.plan.trace_sample)
}

/// Per-user state kept in goose's session data: the user's connection, its seeded random
/// stream (think time), its captures and, in open-model phases, when its next request is due.
#[derive(Clone)]
struct UserState {
    connection: Connection,
    rng: StdRng,
    next_send: Option<Instant>,
    variables: Variables,
    /// Counts the user in the live metrics while it lives.
    _live: Option<crate::live::ActiveUser>,
}

/// What every transaction of a phase reads: the plan, the prepared requests (`None` for those
/// rendered per send), each request's response rules and the recorder.
struct Shared {
    plan: Arc<PhasePlan>,
    endpoint: Endpoint,
    requests: Vec<Option<Prepared>>,
    rules: Vec<Vec<ResponseRule>>,
    recorder: Arc<Recorder>,
}

/// Runs the phase against `host`, recording into `recorder`.
pub async fn run_phase(plan: Arc<PhasePlan>, host: &str, recorder: Arc<Recorder>) -> anyhow::Result<()> {
    let endpoint = Endpoint::new(host)?;
    let requests = plan
        .requests
        .iter()
        .map(|spec| (!variables::uses_variables(spec)).then(|| endpoint.prepare(spec)).transpose())
        .collect::<anyhow::Result<_>>()?;
    let rules = plan.rules_per_request();
    let shared = Arc::new(Shared { plan: plan.clone(), endpoint, requests, rules, recorder });
    let mut scenario = GooseScenario::new("phase");
    for (index, (request, label)) in plan.requests.iter().zip(plan.labels()).enumerate() {
        let shared = shared.clone();
        let transaction = Transaction::new(Arc::new(move |user: &mut GooseUser| {
            let shared = shared.clone();
            Box::pin(async move { send(user, &shared, index).await })
        }))
        .set_name(&label.name);
        let transaction = match request.once {
            true => transaction.set_on_start().set_sequence(index + 1),
            false => transaction.set_weight(request.weight)?,
        };
        scenario = scenario.register_transaction(transaction);
    }
    // goose builds a reqwest client per user unless given a shared one; the users send on their
    // own connections, so one idle shared client is all it needs (10,000 users fit in memory).
    let client = GooseClientBuilder::new().without_cookies().timeout(Duration::from_secs(30));
    let mut attack = GooseAttack::initialize_with_config(configuration(&plan.load, host))?
        .set_client_builder_without_cookies(client)?;
    if let LoadModel::Ramp { plan: text, .. } = &plan.load {
        attack = *attack.set_default(GooseDefault::TestPlan, text.as_str())?;
    }
    // goose println!s "N users launched." on stdout, which carries only the harness's summary
    // (progress goes to stderr): stdout is shut while goose runs. Phases run one at a time; if
    // stdout cannot be redirected, goose's lines simply show.
    let _quiet_goose = gag::Gag::stdout().ok();
    attack.register_scenario(scenario).execute().await?;
    Ok(())
}

/// goose schedules the users; it keeps no metrics and writes no report of its own. Its HTML
/// page would show 0 requests (they go through [`crate::client`], not goose's client) and blank
/// charts offline, contradicting ours, so none is written.
fn configuration(load: &LoadModel, host: &str) -> GooseConfiguration {
    let mut config = GooseConfiguration::default();
    config.host = Some(host.to_owned());
    // The telnet controller listens on 5116 by default; goose 0.19's WebSocket controller is
    // already off unless asked for.
    config.no_telnet = true;
    config.quiet = 1;
    config.no_print_metrics = true;
    config.no_error_summary = true;
    // Every figure comes from the Recorder. goose's own metrics would only cost: a user that
    // records transactions but sends no goose request never flushes its metrics batch (goose
    // 0.19 starts the batch clock on requests only), which grew the harness by ~3 MB a minute
    // at 2,000 req/s (heaptrack, `make bench-soak`).
    config.no_metrics = true;
    match *load {
        LoadModel::Duration { users, duration } => {
            config.users = Some(users);
            config.increase_rate = Some(users.to_string());
            config.run_time = Some(seconds(duration));
        }
        LoadModel::Iterations { users, iterations } => {
            config.users = Some(users);
            config.increase_rate = Some(users.to_string());
            config.iterations = Some(iterations);
        }
        LoadModel::Rate { duration, users, .. } => {
            // Pacing is done per user in `send`; goose's throttle would queue inside the timed call.
            config.users = Some(users);
            config.increase_rate = Some(users.to_string());
            config.run_time = Some(seconds(duration));
        }
        LoadModel::Ramp { .. } => {}
    }
    config
}

fn seconds(duration: Duration) -> String {
    format!("{}s", duration.as_secs_f64().ceil().max(1.0) as u64)
}

/// Sends one request: think, send, time, check, record.
async fn send(user: &mut GooseUser, shared: &Shared, index: usize) -> TransactionResult {
    let plan = &shared.plan;
    if user.get_session_data::<UserState>().is_none() {
        let seed = plan.seed ^ (user.weighted_users_index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let rng = StdRng::seed_from_u64(seed);
        let mut variables = Variables::default();
        variables.set(crate::scenario::interpolate::USER, format!("{}{}", plan.user_prefix, user.weighted_users_index));
        let live = shared.recorder.live().map(crate::live::LivePhase::user);
        user.set_session_data(UserState {
            connection: Connection::default(),
            rng,
            next_send: None,
            variables,
            _live: live,
        });
    }
    let user_index = user.weighted_users_index;
    let state = user.get_session_data_mut::<UserState>().expect("set above");
    if let (Some(interval), LoadModel::Rate { users, .. }) = (plan.expected_interval(), &plan.load) {
        // Open model: each user keeps a fixed schedule, staggered across users; a late user
        // sends at once and catches up, so the target's slowness cannot slow the schedule.
        let now = Instant::now();
        let due =
            *state.next_send.get_or_insert_with(|| now + interval.mul_f64((user_index % users) as f64 / *users as f64));
        if due > now {
            tokio::time::sleep(due - now).await;
        }
        if let Some(live) = shared.recorder.live() {
            live.lagged(now.saturating_duration_since(due));
        }
        state.next_send = Some(due + interval);
    } else if let Some((low, high)) = plan.think_time {
        let pause = if high > low { state.rng.random_range(low..=high) } else { low };
        tokio::time::sleep(pause).await;
    }
    let spec = &plan.requests[index];
    let rendered;
    let prepared = match &shared.requests[index] {
        Some(prepared) => prepared,
        None => {
            let prepared = state
                .variables
                .render_request(spec, &plan.variables)
                .and_then(|spec| shared.endpoint.prepare(&spec).map_err(|e| e.to_string()));
            match prepared {
                Ok(prepared) => {
                    rendered = prepared;
                    &rendered
                }
                Err(why) => {
                    unsent(shared, index, why);
                    return Ok(());
                }
            }
        }
    };
    let (trace_id, traceparent) = match plan.trace_sample {
        Some(sample) => {
            let (id, header) = crate::trace::traceparent(&mut state.rng, sample);
            (id, Some(header))
        }
        None => (None, None),
    };
    let started = Instant::now();
    let reply = state.connection.send(&shared.endpoint, prepared, traceparent.as_ref()).await;
    let latency = started.elapsed();
    let rules = &shared.rules[index];
    match &reply {
        Ok(reply) => {
            let body = match rules.iter().any(ResponseRule::needs_body) {
                true => serde_json::from_slice(&reply.body).ok(),
                false => None,
            };
            let mut broken: Vec<&str> = rules
                .iter()
                .filter(|rule| !rule.check(&reply.headers, body.as_ref()))
                .map(ResponseRule::name)
                .collect();
            // Values are kept from successful answers only; a 2xx without them is broken.
            if (200..300).contains(&reply.status) && state.variables.capture(&spec.capture, &reply.body).is_err() {
                broken.push("capture");
            }
            let header = |name: &str| reply.headers.get(name).and_then(|v| v.to_str().ok());
            shared.recorder.record(&Response {
                request: index,
                status: reply.status,
                latency,
                x_cache: header("x-cache"),
                retry_after: reply.headers.contains_key("retry-after"),
                broken_rules: &broken,
                transport_error: None,
                request_id: header("x-request-id"),
                trace_id,
                body: &reply.body,
            });
        }
        Err(error) => {
            // No response breaks every rule: a dropped request carries no header or body.
            let broken: Vec<&str> = rules.iter().map(ResponseRule::name).collect();
            shared.recorder.record(&Response {
                request: index,
                status: 0,
                latency,
                x_cache: None,
                retry_after: false,
                broken_rules: &broken,
                transport_error: Some((error.kind(), error.to_string())),
                request_id: None,
                trace_id,
                body: &[],
            });
        }
    }
    // A failure is the Recorder's to count; goose keeps no metrics (see `configuration`).
    Ok(())
}

/// Records a request that could not be sent because a value it uses was never captured.
fn unsent(shared: &Shared, index: usize, why: String) {
    let broken: Vec<&str> = shared.rules[index].iter().map(ResponseRule::name).collect();
    shared.recorder.record(&Response {
        request: index,
        status: 0,
        latency: Duration::ZERO,
        x_cache: None,
        retry_after: false,
        broken_rules: &broken,
        transport_error: Some(("unresolved", why)),
        request_id: None,
        trace_id: None,
        body: &[],
    });
}
