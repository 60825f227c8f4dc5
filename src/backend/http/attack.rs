//! Runs a goose workload (`engine = "goose"`) in-process and reads back what goose logged,
//! request by request, so each response time lands in tunebench's own HDR histograms (per
//! step, and per journey from goose's scenario log), with goose's own aggregates kept beside
//! them as evidence.
//!
//! goose keeps process-wide state (its killswitch, its logger): one attack at a time per
//! process ([`ONE_AT_A_TIME`]). Its Ctrl-C handler is never installed: tunebench's SIGINT and
//! SIGTERM handlers are registered before the first attack, and goose's handler library
//! (ctrlc) refuses to replace a handler that is already there. tunebench's interrupt instead
//! stops a running attack through goose's killswitch ([`stop_running`]) before it reverts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use goose::config::GooseConfiguration;
use goose::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::journey::{CoMitigation, Journey, Journeys, Step, captured, fill, goose_test_plan};
use crate::driver::intervals::{Collector, Live};
use crate::driver::{HarnessCost, OpExtras, PhaseOutcome, PhaseSpec};
use crate::metrics::{self, LatencySummary, Tally};

/// Only one goose attack runs in a process at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The attack running now, if any: what an interrupt waits for.
static RUNNING: std::sync::Mutex<Option<tokio::sync::watch::Receiver<bool>>> =
    std::sync::Mutex::new(None);

/// Requests the request log shows as successes that a capture then failed: goose sends its
/// correction (`set_failure`) to its aggregates only, not to the log. (user, name, elapsed
/// ms, error), for the attack running now.
static CAPTURE_FAILURES: std::sync::Mutex<Vec<(usize, String, u64, String)>> =
    std::sync::Mutex::new(Vec::new());

/// Errors are only judged against the budget past this many requests (as the driver does).
const BUDGET_MIN_OPS: u64 = 100;

/// What one attack is given beyond the file: where, how many, how long, and where goose
/// writes its logs.
pub struct AttackSpec {
    pub host: String,
    /// Users when the file sets neither `users` nor `test_plan`.
    pub users: u32,
    /// The attack's length when the file has no `test_plan` and no `iterations`.
    pub run_time: Duration,
    /// goose's per-request timeout.
    pub timeout: Duration,
    /// A folder of this process's own for the attack's request and scenario logs.
    pub dir: PathBuf,
}

/// One request as goose logged it.
#[derive(Debug, Clone, Deserialize)]
pub struct RequestRecord {
    /// Milliseconds since the attack started, when the request was made.
    pub elapsed: u64,
    /// `JOURNEY.STEP`.
    pub name: String,
    pub response_time: u64,
    #[serde(default)]
    pub response_time_fraction_us: u16,
    pub status_code: u16,
    pub success: bool,
    #[serde(default)]
    pub update: bool,
    pub user: usize,
    #[serde(default)]
    pub error: String,
    /// Non-zero on a copy goose's coordinated-omission mitigation made of a request that
    /// took abnormally long: not a request that was sent.
    #[serde(default)]
    pub coordinated_omission_elapsed: u64,
}

impl RequestRecord {
    pub fn micros(&self) -> u64 {
        self.response_time * 1000 + u64::from(self.response_time_fraction_us)
    }
}

/// One journey iteration as goose logged it.
#[derive(Debug, Clone, Deserialize)]
pub struct JourneyRecord {
    pub elapsed: u64,
    pub name: String,
    pub run_time: u64,
    #[serde(default)]
    pub run_time_fraction_us: u16,
    pub user: usize,
}

impl JourneyRecord {
    pub fn micros(&self) -> u64 {
        self.run_time * 1000 + u64::from(self.run_time_fraction_us)
    }
}

pub struct AttackOutcome {
    /// Every request, updates (a request goose later marked failed) folded in.
    pub requests: Vec<RequestRecord>,
    pub journeys: Vec<JourneyRecord>,
    /// goose's own metrics, kept as evidence beside tunebench's.
    pub goose: GooseMetrics,
    /// The attack's own length, from goose's start to its end.
    pub wall: Duration,
    /// Set when tunebench's interrupt stopped the attack.
    pub interrupted: bool,
}

/// Values captured (or drawn) so far in this user's journey iteration; the user's seeded
/// generator, kept across iterations, draws the journey's declared values.
#[derive(Debug, Clone, Default)]
struct Session {
    values: BTreeMap<String, String>,
    failed: bool,
    rng: Option<rand_chacha::ChaCha8Rng>,
}

/// A journey's declared values: the names each source fills, and which to percent-encode in
/// a path (all of them).
struct Drawn {
    params: Vec<(Vec<String>, Arc<crate::dataset::Source>)>,
    names: std::collections::BTreeSet<String>,
}

fn method(m: &str) -> GooseMethod {
    match m {
        "POST" => GooseMethod::Post,
        "PUT" => GooseMethod::Put,
        "PATCH" => GooseMethod::Patch,
        "DELETE" => GooseMethod::Delete,
        "HEAD" => GooseMethod::Head,
        _ => GooseMethod::Get,
    }
}

fn transaction(journey: &str, step: &Step, first: bool, drawn: Arc<Drawn>) -> Transaction {
    let step = Arc::new(step.clone());
    let name: Arc<str> = format!("{journey}.{}", step.name).into();
    let tname = name.to_string();
    let f: TransactionFunction = Arc::new(move |user| {
        let step = step.clone();
        let name = name.clone();
        let drawn = drawn.clone();
        Box::pin(async move {
            if first {
                // A new iteration: the values captured before are gone, new ones drawn from
                // the journey's sources with the user's generator (seeded by the user's
                // number, so every profile draws the same sequence).
                let rng = user
                    .get_session_data::<Session>()
                    .and_then(|s| s.rng.clone())
                    .unwrap_or_else(|| {
                        rand::SeedableRng::seed_from_u64(
                            0x5EED_u64 ^ user.weighted_users_index as u64,
                        )
                    });
                let mut session = Session {
                    rng: Some(rng),
                    ..Session::default()
                };
                let mut out = Vec::new();
                for (names, source) in &drawn.params {
                    out.clear();
                    source.draw(session.rng.as_mut().expect("set above"), &mut out);
                    for (n, v) in names.iter().zip(&out) {
                        session.values.insert(n.clone(), super::exec::text_of(v));
                    }
                }
                user.set_session_data(session);
            }
            let mut session = user
                .get_session_data::<Session>()
                .cloned()
                .unwrap_or_default();
            if session.failed {
                // An earlier step failed: this iteration stops, as a real client's would.
                return Ok(());
            }
            let none = std::collections::BTreeSet::new();
            let filled = |t: &str| fill(t, &session.values, &none);
            let path = match fill(&step.path, &session.values, &drawn.names) {
                Ok(p) => p,
                Err(missing) => {
                    session.failed = true;
                    user.set_session_data(session);
                    return Err(Box::new(TransactionError::Custom(format!(
                        "capture_missing: {{{{{missing}}}}}"
                    ))));
                }
            };
            let m = method(&step.method);
            let mut rb = user.get_request_builder(&m, &path)?;
            for (k, v) in &step.headers.0 {
                rb = rb.header(k.as_str(), filled(v).unwrap_or_default());
            }
            if let Some(b) = &step.body {
                rb = rb.body(filled(b).unwrap_or_default());
            }
            let req = GooseRequest::builder()
                .method(m)
                .path(path.as_str())
                .name(&*name)
                .expect_status_code(step.expect_status)
                .set_request_builder(rb)
                .build();
            let mut goose = user.request(req).await?;
            if !goose.request.success {
                session.failed = true;
            } else {
                // The body is read to the end, as the native driver does, so the connection
                // is reused; goose's time is to the response's headers.
                match goose.response {
                    Ok(r) => {
                        let headers = r.headers().clone();
                        let body = r.bytes().await.unwrap_or_default();
                        for (k, c) in &step.capture {
                            match captured(c, &headers, &body) {
                                Some(v) => {
                                    crate::secrets::register(&v);
                                    session.values.insert(k.clone(), v);
                                }
                                None => {
                                    session.failed = true;
                                    let tag = format!("capture_missing: {k}");
                                    if let Ok(mut f) = CAPTURE_FAILURES.lock() {
                                        f.push((
                                            goose.request.user,
                                            goose.request.name.to_string(),
                                            goose.request.elapsed,
                                            tag.clone(),
                                        ));
                                    }
                                    let _ = user.set_failure(
                                        &tag,
                                        &mut goose.request,
                                        Some(&headers),
                                        None,
                                    );
                                    break;
                                }
                            }
                        }
                    }
                    Err(_) => session.failed = true,
                }
            }
            user.set_session_data(session);
            Ok(())
        })
    });
    Transaction::new(f).set_name(&tname)
}

fn scenario(j: &Journey) -> Result<Scenario, GooseError> {
    let mut s = Scenario::new(&j.name)
        .set_weight(j.weight as usize)?
        .set_wait_time(j.think.min, j.think.max)?;
    let drawn = Arc::new(Drawn {
        params: j.params.clone(),
        names: j
            .params
            .iter()
            .flat_map(|(n, _)| n.iter().cloned())
            .collect(),
    });
    for (i, step) in j.steps.iter().enumerate() {
        s = s.register_transaction(transaction(&j.name, step, i == 0, drawn.clone()));
    }
    Ok(s)
}

fn mitigation(c: CoMitigation) -> &'static str {
    match c {
        CoMitigation::Disabled => "disabled",
        CoMitigation::Average => "average",
        CoMitigation::Minimum => "minimum",
        CoMitigation::Maximum => "maximum",
    }
}

fn args(file: &Journeys, spec: &AttackSpec, requests: &Path, journeys: &Path) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "--host".into(),
        spec.host.clone(),
        "--request-log".into(),
        requests.display().to_string(),
        "--request-format".into(),
        "json".into(),
        "--scenario-log".into(),
        journeys.display().to_string(),
        "--scenario-format".into(),
        "json".into(),
        "--no-telnet".into(),
        // tunebench reads goose's request aggregates and its logs, not its per-transaction
        // aggregates nor its status-code tallies (statuses come from the request log): each
        // costs goose work per request (a message to its parent, a hash-map update).
        "--no-transaction-metrics".into(),
        "--no-status-codes".into(),
        "--no-print-metrics".into(),
        "--no-error-summary".into(),
        "--quiet".into(),
        "--timeout".into(),
        format!("{}", spec.timeout.as_secs_f64()),
        "--co-mitigation".into(),
        mitigation(file.co_mitigation).into(),
    ];
    match &file.test_plan {
        Some(plan) => a.extend(["--test-plan".into(), goose_test_plan(plan)]),
        None => {
            let users = file.users.unwrap_or(spec.users).max(1);
            // Every user starts within ~50 ms: the phase measures them all, not a ramp.
            a.extend([
                "--users".into(),
                users.to_string(),
                "--increase-rate".into(),
                (users * 20).to_string(),
            ]);
            match file.iterations {
                // goose does not reset its metrics in this mode.
                Some(n) => a.extend(["--iterations".into(), n.to_string()]),
                None => a.extend([
                    "--run-time".into(),
                    spec.run_time.as_secs().max(1).to_string(),
                ]),
            }
        }
    }
    if file.iterations.is_none() || file.test_plan.is_some() {
        // goose's aggregates keep the ramp's requests too, as its request log does.
        a.push("--no-reset-metrics".into());
    }
    a
}

/// Keeps SIGINT tunebench's: its own handlers are registered (they stay for the process's
/// life), then ctrlc (goose's Ctrl-C library, which overwrites whatever handles SIGINT, once
/// per process) is spent on a handler that is removed at once. goose's own call then finds
/// ctrlc taken and leaves SIGINT alone.
fn keep_our_signal_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use tokio::signal::unix::{SignalKind, signal};
        let _ = signal(SignalKind::interrupt());
        let _ = signal(SignalKind::terminate());
        // SAFETY: reads SIGINT's disposition into a zeroed struct we own, and puts the same
        // disposition back after ctrlc replaced it; no other signal is touched.
        unsafe {
            let mut ours: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGINT, std::ptr::null(), &mut ours) == 0 {
                let _ = ctrlc::set_handler(|| {});
                libc::sigaction(libc::SIGINT, &ours, std::ptr::null_mut());
            }
        }
    });
}

/// Stops the attack running now, if any, through goose's killswitch, and waits (at most
/// `within`) for its users to stop: called on an interrupt before anything is reverted.
pub async fn stop_running(within: Duration) {
    let rx = RUNNING.lock().map(|r| r.clone()).unwrap_or(None);
    if let Some(mut rx) = rx {
        goose::trigger_killswitch("tunebench was interrupted");
        let _ = tokio::time::timeout(within, rx.wait_for(|done| *done)).await;
    }
}

/// Runs the attack and reads its logs back; the logs are removed afterwards.
pub async fn attack(file: &Journeys, spec: &AttackSpec) -> Result<AttackOutcome, String> {
    let _one = ONE_AT_A_TIME.lock().await;
    keep_our_signal_handlers();
    std::fs::create_dir_all(&spec.dir).map_err(|e| format!("{}: {e}", spec.dir.display()))?;
    let (req_log, journey_log) = (
        spec.dir.join("requests.jsonl"),
        spec.dir.join("journeys.jsonl"),
    );
    let config = GooseConfiguration::parse_args_default(&args(file, spec, &req_log, &journey_log))
        .map_err(|e| format!("goose refused the configuration: {e:?}"))?;
    let mut attack =
        GooseAttack::initialize_with_config(config).map_err(|e| format!("goose: {e:?}"))?;
    for j in &file.journeys {
        attack = attack.register_scenario(scenario(j).map_err(|e| e.to_string())?);
    }
    // The attack runs on its own task: an interrupt drops this future, and goose's users
    // must then be stopped through the killswitch, not left running.
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    if let Ok(mut r) = RUNNING.lock() {
        *r = Some(done_rx);
    }
    if let Ok(mut f) = CAPTURE_FAILURES.lock() {
        f.clear();
    }
    let started = Instant::now();
    let task = tokio::spawn(async move {
        let out = attack.execute().await;
        let _ = done_tx.send(true);
        out
    });
    struct StopOnDrop(bool);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            if !self.0 {
                goose::trigger_killswitch("tunebench stopped the phase");
            }
        }
    }
    let mut guard = StopOnDrop(false);
    let result = task.await;
    guard.0 = true;
    let wall = started.elapsed();
    if let Ok(mut r) = RUNNING.lock() {
        *r = None;
    }
    let interrupted = goose::is_killswitch_triggered();
    let goose = result
        .map_err(|e| format!("the goose attack stopped: {e}"))?
        .map_err(|e| format!("goose: {e:?}"))?;
    let mut requests = read_requests(&req_log)?;
    let failures = CAPTURE_FAILURES
        .lock()
        .map(|mut f| std::mem::take(&mut *f))
        .unwrap_or_default();
    mark_failed(&mut requests, failures);
    let out = AttackOutcome {
        requests,
        journeys: read_lines(&journey_log)?,
        goose,
        wall,
        interrupted,
    };
    let _ = std::fs::remove_dir_all(&spec.dir);
    Ok(out)
}

fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        // No line was logged (no journey finished): nothing to read.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| format!("{} line {}: {e}", path.display(), i + 1))
        })
        .collect()
}

/// The request log, with each update (goose marking a logged request failed afterwards,
/// e.g. a capture that was missing) applied to the request it updates rather than counted
/// as another request.
fn read_requests(path: &Path) -> Result<Vec<RequestRecord>, String> {
    let mut lines = read_lines::<RequestRecord>(path)?;
    // goose logs its back-filled copies beside the requests: only sent requests are timed.
    lines.retain(|r| r.coordinated_omission_elapsed == 0);
    Ok(fold_updates(lines))
}

fn fold_updates(lines: Vec<RequestRecord>) -> Vec<RequestRecord> {
    let mut out: Vec<RequestRecord> = Vec::new();
    for r in lines {
        if r.update
            && let Some(prev) = out
                .iter_mut()
                .rev()
                .find(|p| p.user == r.user && p.name == r.name)
        {
            prev.success = false;
            prev.error = r.error;
            continue;
        }
        out.push(r);
    }
    out
}

/// Marks failed the logged requests a capture failed on (same user, name and start).
fn mark_failed(requests: &mut [RequestRecord], failures: Vec<(usize, String, u64, String)>) {
    for (user, name, elapsed, error) in failures {
        if let Some(r) = requests
            .iter_mut()
            .find(|r| r.success && r.user == user && r.elapsed == elapsed && r.name == name)
        {
            r.success = false;
            r.error = error;
        }
    }
}

/// The error kind of a failed request: `status_NNN`, `capture_missing`, `timeout`,
/// `connect`, or `http`.
pub fn error_kind(r: &RequestRecord) -> String {
    let e = r.error.to_ascii_lowercase();
    if e.starts_with("capture_missing") {
        "capture_missing".into()
    } else if e.contains("timed out") || e.contains("timeout") {
        "timeout".into()
    } else if r.status_code != 0 {
        format!("status_{}", r.status_code)
    } else if e.contains("connect") {
        "connect".into()
    } else {
        "http".into()
    }
}

/// goose's own figures for one request name, beside tunebench's from the same requests.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GooseFigures {
    pub workload: String,
    /// `JOURNEY.STEP`.
    pub op: String,
    /// Requests goose timed (successes and failures; its coordinated-omission copies not).
    pub requests: u64,
    /// Requests tunebench read from goose's request log.
    pub logged: u64,
    /// goose's percentiles (ms) of every request's time, as it aggregates them (buckets
    /// within 0.78 %).
    pub goose_raw: LatencySummary,
    /// The same with goose's coordinated-omission back-fill, when it added any.
    pub goose_adjusted: Option<LatencySummary>,
    /// tunebench's percentiles (ms) of the same requests, successes and failures alike.
    pub tunebench: LatencySummary,
    /// Where the two differ by more than 1 % (p50, p95, p99) or in the count: what differs.
    pub differs: Vec<String>,
}

/// Journey times: the sum of a journey's steps and its think times, per iteration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JourneyTimes {
    pub workload: String,
    pub journey: String,
    pub iterations: u64,
    /// ms, from goose's scenario log.
    pub time: LatencySummary,
    /// HdrHistogram V2 (deflate), base64, microseconds.
    pub histogram: String,
}

fn summary_us(
    p: impl Fn(f32) -> u64,
    count: u64,
    min: u64,
    max: u64,
    total: u64,
) -> LatencySummary {
    let ms = |us: u64| us as f64 / 1000.0;
    LatencySummary {
        min: ms(min),
        p50: ms(p(0.50)),
        p95: ms(p(0.95)),
        p99: ms(p(0.99)),
        p999: ms(p(0.999)),
        max: ms(max),
        mean: if count == 0 {
            0.0
        } else {
            total as f64 / count as f64 / 1000.0
        },
    }
}

impl JourneyTimes {
    /// Adds another trial's times of the same journey.
    pub fn merge(&mut self, other: &JourneyTimes) {
        let (Ok(mut a), Ok(b)) = (
            metrics::decode(&self.histogram),
            metrics::decode(&other.histogram),
        ) else {
            return;
        };
        metrics::merge(&mut a, &b);
        self.iterations = a.len();
        self.time = LatencySummary::of(&a);
        self.histogram = metrics::encode(&a);
    }
}

/// What one goose phase measured, in the driver's terms, plus what only goose knows.
pub struct GoosePhase {
    pub outcome: PhaseOutcome,
    pub figures: Vec<GooseFigures>,
    pub journeys: Vec<JourneyTimes>,
    /// (op index, status) -> responses, for the HTTP evidence.
    pub statuses: BTreeMap<(usize, u16), u64>,
}

/// Turns an attack's logs into a phase outcome over `ops` (the workload's ops, named
/// `JOURNEY.STEP`): every logged request's time into its op's histogram (a failed request
/// counts as an error of its kind instead) and into the window it completed in.
pub fn phase_outcome(
    workload: &str,
    ops: &[String],
    att: &AttackOutcome,
    spec: &PhaseSpec,
    cost: HarnessCost,
) -> Result<GoosePhase, String> {
    let index: BTreeMap<&str, usize> = ops
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut tally = Tally::<OpExtras>::new(ops.len());
    let mut all_times: Vec<hdrhistogram::Histogram<u64>> =
        ops.iter().map(|_| metrics::new_histogram()).collect();
    let mut statuses: BTreeMap<(usize, u16), u64> = BTreeMap::new();
    // Windows by completion time, aligned to the attack's start.
    let start = Instant::now();
    let collector = Collector::start(start, spec.interval, 1, Live::default());
    let mut recorder = collector.recorder(0);
    let mut by_completion: Vec<&RequestRecord> = att.requests.iter().collect();
    by_completion.sort_by_key(|r| r.elapsed * 1000 + r.micros());
    let mut errors = 0u64;
    let mut last_us = 0u64;
    for r in by_completion {
        let Some(&op) = index.get(r.name.as_str()) else {
            drop(recorder);
            let _ = collector.finish();
            return Err(format!(
                "goose logged a request named `{}`, which is no step of this workload",
                r.name
            ));
        };
        let done_us = r.elapsed * 1000 + r.micros();
        last_us = last_us.max(done_us);
        if r.status_code != 0 {
            *statuses.entry((op, r.status_code)).or_default() += 1;
        }
        let latency = Duration::from_micros(r.micros());
        metrics::record(&mut all_times[op], latency);
        let w = recorder.window(start + Duration::from_micros(done_us));
        if r.success {
            metrics::record(&mut tally.per_op[op], latency);
            metrics::record(&mut w.hist, latency);
            w.ops += 1;
        } else {
            w.errors += 1;
            errors += 1;
            let message = if r.error.is_empty() {
                format!("{} answered {}", r.name, r.status_code)
            } else {
                format!("{}: {}", r.name, r.error)
            };
            tally.record_error(op, error_kind(r), message);
        }
    }
    drop(recorder);
    let windows = collector.finish();
    let total = tally.total();
    let ops_done = total.len();
    let all = ops_done + errors;
    let aborted = all >= BUDGET_MIN_OPS && errors as f64 > spec.error_budget * all as f64;

    let mut figures = Vec::new();
    for (name, agg) in &att.goose.requests {
        // goose keys its aggregates by "METHOD name".
        let op_name = name.split_once(' ').map_or(name.as_str(), |(_, n)| n);
        let Some(&op) = index.get(op_name) else {
            continue;
        };
        let raw = &agg.raw_data;
        let goose_raw = summary_us(
            |p| raw.percentile_us(p),
            raw.counter as u64,
            raw.minimum_time_us,
            raw.maximum_time_us,
            raw.total_time_us,
        );
        let goose_adjusted = agg.coordinated_omission_data.as_ref().map(|d| {
            summary_us(
                |p| d.percentile_us(p),
                d.counter as u64,
                d.minimum_time_us,
                d.maximum_time_us,
                d.total_time_us,
            )
        });
        let ours = LatencySummary::of(&all_times[op]);
        let logged = all_times[op].len();
        // Its raw timings count every request sent; its success and failure counts also
        // count the requests its coordinated-omission mitigation made up.
        let requests = raw.counter as u64;
        let mut differs = Vec::new();
        if requests != logged {
            differs.push(format!(
                "goose counted {requests} requests, its log holds {logged}"
            ));
        }
        // Percentile conventions differ by up to one rank (which of two neighbouring
        // requests "the p95" is): goose's figure agrees when it lies within 1 % of
        // tunebench's values one rank either side.
        let h = &all_times[op];
        let n = h.len().max(1) as f64;
        let at = |q: f64| h.value_at_quantile(q.clamp(0.0, 1.0)) as f64 / 1000.0;
        for (what, q, g, t) in [
            ("p50", 0.50, goose_raw.p50, ours.p50),
            ("p95", 0.95, goose_raw.p95, ours.p95),
            ("p99", 0.99, goose_raw.p99, ours.p99),
        ] {
            let (lo, hi) = (at(q - 1.0 / n), at(q + 1.0 / n));
            if logged > 0 && (g < lo * 0.99 || g > hi * 1.01) {
                differs.push(format!(
                    "{what}: goose {g:.3} ms, tunebench {t:.3} ms ({:+.1} %)",
                    (g - t) / t.max(1e-9) * 100.0
                ));
            }
        }
        figures.push(GooseFigures {
            workload: workload.to_string(),
            op: op_name.to_string(),
            requests,
            logged,
            goose_raw,
            goose_adjusted,
            tunebench: ours,
            differs,
        });
    }
    figures.sort_by(|a, b| a.op.cmp(&b.op));

    let mut per_journey: BTreeMap<&str, hdrhistogram::Histogram<u64>> = BTreeMap::new();
    for j in &att.journeys {
        let h = per_journey
            .entry(j.name.as_str())
            .or_insert_with(metrics::new_histogram);
        metrics::record(h, Duration::from_micros(j.micros()));
    }
    let journeys = per_journey
        .into_iter()
        .map(|(name, h)| JourneyTimes {
            workload: workload.to_string(),
            journey: name.to_string(),
            iterations: h.len(),
            time: LatencySummary::of(&h),
            histogram: metrics::encode(&h),
        })
        .collect();

    let wall = if last_us > 0 {
        Duration::from_micros(last_us)
    } else {
        att.wall
    };
    Ok(GoosePhase {
        outcome: PhaseOutcome {
            ops: ops_done,
            tally,
            total,
            open_loop: false,
            errors,
            wall: wall.max(Duration::from_micros(1)),
            aborted,
            cost,
            windows,
        },
        figures,
        journeys,
        statuses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, user: usize, success: bool, update: bool, error: &str) -> RequestRecord {
        RequestRecord {
            elapsed: 0,
            name: name.into(),
            response_time: 1,
            response_time_fraction_us: 250,
            status_code: 200,
            success,
            update,
            user,
            error: error.into(),
            coordinated_omission_elapsed: 0,
        }
    }

    #[test]
    fn an_update_marks_the_request_it_updates_failed_and_is_not_counted() {
        let lines = vec![
            rec("b.login", 0, true, false, ""),
            rec("b.login", 1, true, false, ""),
            rec("b.login", 0, false, true, "capture_missing: token"),
        ];
        let out = fold_updates(lines);
        assert_eq!(out.len(), 2);
        assert!(!out[0].success);
        assert_eq!(error_kind(&out[0]), "capture_missing");
        assert!(out[1].success);
        assert_eq!(out[0].micros(), 1250);
    }

    #[test]
    fn coordinated_omission_copies_are_not_requests() {
        let dir = std::env::temp_dir().join(format!("tunebench-co-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("requests.jsonl");
        let line = |co: u64, ms: u64| {
            format!(
                r#"{{"elapsed":5,"name":"j.s","response_time":{ms},"status_code":200,"success":true,"update":false,"user":0,"error":"","coordinated_omission_elapsed":{co},"response_time_fraction_us":0}}"#
            )
        };
        std::fs::write(&path, [line(0, 2), line(40, 80), line(0, 3)].join("\n")).unwrap();
        let read = read_requests(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            read.iter().map(RequestRecord::micros).collect::<Vec<_>>(),
            [2000, 3000]
        );
    }

    #[test]
    fn error_kinds() {
        let mut r = rec("a.b", 0, false, false, "503 Service Unavailable");
        r.status_code = 503;
        assert_eq!(error_kind(&r), "status_503");
        r.status_code = 0;
        r.error = "error sending request: operation timed out".into();
        assert_eq!(error_kind(&r), "timeout");
        r.error = "error trying to connect: Connection refused".into();
        assert_eq!(error_kind(&r), "connect");
    }
}
