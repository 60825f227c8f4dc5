//! DRAFT (#19, not compiled yet, not wired in): runs a goose workload in-process and reads
//! back what goose logged, request by request, so the latencies land in tunebench's own
//! HDR histograms. goose keeps global state: one attack at a time per process.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use goose::prelude::*;
use serde::Deserialize;

use super::journey::{CoMitigation, Journey, Journeys, Step, captured, fill, goose_test_plan};

/// What one attack is given beyond the file: where, how many, how long, and where goose
/// writes its logs.
pub struct AttackSpec {
    pub host: String,
    /// Users when the file sets neither `users` nor `test_plan`.
    pub users: u32,
    /// The attack's length when the file has no `test_plan`.
    pub run_time: Duration,
    /// goose's per-request timeout.
    pub timeout: Duration,
    /// The run's folder for this attack's request and scenario logs.
    pub dir: PathBuf,
}

/// One request as goose logged it.
#[derive(Debug, Clone, Deserialize)]
pub struct RequestRecord {
    /// Milliseconds since the attack started, when the request was recorded.
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
}

/// Values captured so far in this user's journey iteration.
#[derive(Debug, Clone, Default)]
struct Session {
    values: BTreeMap<String, String>,
    failed: bool,
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

fn transaction(journey: &str, step: &Step, first: bool) -> Transaction {
    let step = Arc::new(step.clone());
    let name: Arc<str> = format!("{journey}.{}", step.name).into();
    let f: TransactionFunction = Arc::new(move |user| {
        let step = step.clone();
        let name = name.clone();
        Box::pin(async move {
            if first {
                user.set_session_data(Session::default());
            }
            let mut session = user
                .get_session_data::<Session>()
                .cloned()
                .unwrap_or_default();
            if session.failed {
                // An earlier step failed: this iteration stops, as a real client's would.
                return Ok(());
            }
            let filled = |t: &str| fill(t, &session.values);
            let path = match filled(&step.path) {
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
                let v = filled(v).unwrap_or_default();
                rb = rb.header(k.as_str(), v);
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
            } else if !step.capture.is_empty() {
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
                                    let _ = user.set_failure(
                                        &format!("capture_missing: {k}"),
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
    Transaction::new(f).set_name(&format!("{journey}.{}", step.name))
}

fn scenario(j: &Journey) -> Result<Scenario, GooseError> {
    let mut s = Scenario::new(&j.name)
        .set_weight(j.weight as usize)?
        .set_wait_time(j.think.min, j.think.max)?;
    for (i, step) in j.steps.iter().enumerate() {
        s = s.register_transaction(transaction(&j.name, step, i == 0));
    }
    Ok(s)
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
        "--no-websocket".into(),
        "--no-print-metrics".into(),
        "--no-reset-metrics".into(),
        "--timeout".into(),
        format!("{}", spec.timeout.as_secs_f64()),
        "--co-mitigation".into(),
        match file.co_mitigation {
            CoMitigation::Disabled => "disabled",
            CoMitigation::Average => "average",
            CoMitigation::Minimum => "minimum",
            CoMitigation::Maximum => "maximum",
        }
        .into(),
    ];
    match &file.test_plan {
        Some(plan) => a.extend(["--test-plan".into(), goose_test_plan(plan)]),
        None => {
            let users = file.users.unwrap_or(spec.users);
            a.extend([
                "--users".into(),
                users.to_string(),
                "--increase-rate".into(),
                users.to_string(),
            ]);
            match file.iterations {
                Some(n) => a.extend(["--iterations".into(), n.to_string()]),
                None => a.extend([
                    "--run-time".into(),
                    spec.run_time.as_secs().max(1).to_string(),
                ]),
            }
        }
    }
    a
}

/// Runs the attack and reads its logs back.
pub async fn attack(file: &Journeys, spec: &AttackSpec) -> Result<AttackOutcome, String> {
    std::fs::create_dir_all(&spec.dir).map_err(|e| format!("{}: {e}", spec.dir.display()))?;
    let (req_log, journey_log) = (spec.dir.join("requests.jsonl"), spec.dir.join("journeys.jsonl"));
    let config = GooseConfiguration::parse_args_default(&args(file, spec, &req_log, &journey_log))
        .map_err(|e| format!("goose refused the configuration: {e}"))?;
    let mut attack = GooseAttack::initialize_with_config(config).map_err(|e| e.to_string())?;
    for j in &file.journeys {
        attack = attack.register_scenario(scenario(j).map_err(|e| e.to_string())?);
    }
    let goose = attack.execute().await.map_err(|e| e.to_string())?;
    Ok(AttackOutcome {
        requests: read_requests(&req_log)?,
        journeys: read_lines(&journey_log)?,
        goose,
    })
}

fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| format!("{} line {}: {e}", path.display(), i + 1))
        })
        .collect()
}

/// The request log, with each update (goose marking a logged request failed afterwards,
/// e.g. a capture that was missing) applied to the request it updates rather than counted
/// as another request.
fn read_requests(path: &Path) -> Result<Vec<RequestRecord>, String> {
    let mut out: Vec<RequestRecord> = Vec::new();
    for r in read_lines::<RequestRecord>(path)? {
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
    Ok(out)
}
