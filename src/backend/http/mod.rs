//! An application's own HTTP endpoints (e.g. `/health`), measured by the common driver so
//! their latencies land in the same HDR results, with the same open-loop timing, as every
//! store's. No dataset, nothing to tune: readiness is one GET per op's path.

pub mod attack;
mod evidence;
mod exec;
pub mod journey;
pub mod spec;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::Store;
use crate::backend::facts::{
    DatasetReport, PoolReport, ReadinessCheck, RevertReport, TargetChanges, TargetEnv,
};
use crate::backend::http::spec::HttpOp;
use crate::backend::model::{Dataset, Target};
use crate::error::{Error, Result};
/// This store's workloads and profile files.
type Workload = crate::backend::model::Workload<HttpOp>;
type AppliedFile = crate::backend::model::AppliedFile<Infallible>;

pub use evidence::{HttpEvidence, StatusCount};
pub use exec::HttpExec;
use exec::{Counts, Request, client, send};

pub struct HttpStore {
    target: Target,
    /// What the base URL answered at connect: `Server` header and HTTP version.
    server: String,
    counts: Arc<Counts>,
    /// What the goose phases since the last snapshot found beyond the driver's terms.
    goose: std::sync::Mutex<GooseTaken>,
}

/// goose's own figures and the journey times of the phases since the last snapshot.
#[derive(Default)]
pub struct GooseTaken {
    figures: Vec<attack::GooseFigures>,
    journeys: Vec<attack::JourneyTimes>,
}

/// The endpoints the scenario's workloads call on this target, for readiness.
pub struct Endpoints {
    requests: Vec<Request>,
}

/// Status counts of one measured phase.
pub struct HttpSnapshot {
    workload: String,
    ops: Vec<String>,
    statuses: BTreeMap<(usize, u16), u64>,
    server: Option<String>,
    goose: GooseTaken,
}

/// The journeys file of a goose workload (every step carries it), None for a native one.
fn journeys(workload: &Workload) -> Option<Arc<journey::Journeys>> {
    workload.ops.iter().find_map(|o| o.def.journeys.clone())
}

impl HttpStore {
    fn client(&self) -> Result<reqwest::Client> {
        client(
            self.target.pool_idle_timeout,
            self.target.pool_connect_timeout,
        )
    }

    /// The native driver's requests; none for a goose workload (goose sends its own, with
    /// the values its steps capture).
    fn requests(&self, workload: &Workload) -> Result<Vec<Request>> {
        if journeys(workload).is_some() {
            return Ok(Vec::new());
        }
        workload
            .ops
            .iter()
            .map(|o| Request::new(&self.target.url, &o.name, &o.def))
            .collect()
    }

    /// Readiness probes of a workload: its requests, or a goose workload's steps that use
    /// no captured value.
    fn probes(&self, workload: &Workload) -> Result<Vec<Request>> {
        if journeys(workload).is_none() {
            return self.requests(workload);
        }
        workload
            .ops
            .iter()
            .filter(|o| {
                !o.def.path.contains("{{") && !o.def.headers.0.values().any(|v| v.contains("{{"))
            })
            .map(|o| Request::new(&self.target.url, &o.name, &o.def))
            .collect()
    }
}

/// What every worker of a workload shares.
pub struct HttpWorkers {
    ops: Arc<Vec<Request>>,
    counts: Arc<Counts>,
    idle: Duration,
    connect: Duration,
    /// Set for a goose workload: its phases run as goose attacks.
    journeys: Option<Arc<journey::Journeys>>,
}

/// An HTTP target is never changed by a profile: nothing to journal or revert.
#[derive(serde::Serialize, serde::Deserialize)]
pub enum NoProfile {}

impl Store for HttpStore {
    type Check = std::convert::Infallible;
    type TargetOptions = ();
    type Op = HttpOp;
    type Profile = Infallible;
    type Exec = HttpExec;
    type Data = Endpoints;
    type Applied = NoProfile;
    type Snapshot = HttpSnapshot;
    type Evidence = HttpEvidence;
    type Workers = HttpWorkers;

    async fn connect(target: &Target, _options: ()) -> Result<Self> {
        // reqwest is built without a crypto provider of its own, so https uses the same ring
        // provider as the other stores (one TLS stack in the binary).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let c = client(target.pool_idle_timeout, target.pool_connect_timeout)?;
        // Any HTTP answer at the base URL (even 404) proves the application is reachable.
        let resp = c.get(&target.url).send().await.map_err(|e| {
            Error::target(
                format!(
                    "target {}: connecting to {}",
                    target.name, target.url_redacted
                ),
                exec::client_error(e).message,
            )
        })?;
        let server = match resp.headers().get(reqwest::header::SERVER) {
            Some(v) => format!("{} ({:?})", v.to_str().unwrap_or("?"), resp.version()),
            None => format!("no Server header ({:?})", resp.version()),
        };
        Ok(HttpStore {
            target: target.clone(),
            server,
            counts: Arc::new(Counts::default()),
            goose: Default::default(),
        })
    }

    async fn environment(&self) -> Result<TargetEnv> {
        let t = &self.target;
        Ok(TargetEnv {
            kind: "http".into(),
            url: t.url_redacted.clone(),
            server_version: self.server.clone(),
            non_default_settings: Default::default(),
            // One client per worker, each keeping one connection alive.
            pool: PoolReport::configured(t, 0),
        })
    }

    async fn prepare(&mut self, dataset: &Dataset) -> Result<(DatasetReport, Arc<Endpoints>)> {
        Err(Error::Usage(format!(
            "dataset {}: target {} is kind = \"http\", which takes no dataset",
            dataset.name, self.target.name
        )))
    }

    async fn apply(
        &mut self,
        file: &AppliedFile,
        _data: Option<&Endpoints>,
        _host_memory: u64,
        _journal: &crate::backend::journal::Journal,
    ) -> Result<NoProfile> {
        // HTTP targets take no profile: `scenario::load` refuses one, and no file exists.
        match file.profile {}
    }

    fn changes(applied: &NoProfile) -> TargetChanges {
        match *applied {}
    }

    async fn revert(&mut self, applied: NoProfile) -> Result<RevertReport> {
        match applied {}
    }

    async fn readiness(
        &self,
        endpoints: &Endpoints,
        _file: Option<&AppliedFile>,
    ) -> Result<Vec<ReadinessCheck>> {
        let c = self.client()?;
        let mut checks = Vec::new();
        for r in &endpoints.requests {
            // A GET with the op's headers (a token may be needed to get past the door), no
            // body: it shows what the endpoint answers, not what the op's method would do.
            let probe = Request {
                method: reqwest::Method::GET,
                body: None,
                name: r.name.clone(),
                url: r.url.clone(),
                headers: r.headers.clone(),
                timeout: Some(self.target.pool_connect_timeout.max(Duration::from_secs(5))),
                expect: r.expect,
                template: r.template.clone(),
            };
            let started = Instant::now();
            let answer = send(&c, &probe).await;
            let ms = started.elapsed().as_secs_f64() * 1e3;
            let (actual, ok) = match answer {
                Ok(a) => (
                    format!("HTTP {} in {ms:.1} ms, {} bytes", a.status, a.bytes),
                    true,
                ),
                Err(e) => (format!("no answer: {} ({})", e.message, e.kind), false),
            };
            checks.push(ReadinessCheck {
                target: self.target.name.clone(),
                check: probe.label(),
                // Readiness asks only that the endpoint answers: a wrong status is measured
                // (as errors by status), not hidden by refusing to measure.
                expected: format!("an HTTP answer (op {} expects {})", r.name, r.expect),
                actual,
                ok,
            });
        }
        Ok(checks)
    }

    /// The requests of every workload on this target, each URL once: what readiness checks.
    fn own_data(&self, workloads: &[Workload]) -> Result<Option<Arc<Endpoints>>> {
        let mut requests = Vec::new();
        for w in workloads {
            for r in self.probes(w)? {
                if !requests.iter().any(|k: &Request| k.url == r.url) {
                    requests.push(r);
                }
            }
        }
        Ok(Some(Arc::new(Endpoints { requests })))
    }

    fn new_evidence() -> HttpEvidence {
        HttpEvidence::default()
    }

    async fn explain(&self, _w: &Workload, _d: &Endpoints, _e: &mut HttpEvidence) -> Result<()> {
        Ok(())
    }

    async fn snapshot(&self, workload: &Workload, _e: &HttpEvidence) -> Result<HttpSnapshot> {
        // Taken right before and right after a measured phase: the first take drops what the
        // warm-up counted.
        let c = self.counts.take();
        let goose = std::mem::take(&mut *self.goose.lock().expect("not poisoned"));
        Ok(HttpSnapshot {
            workload: workload.name.clone(),
            ops: workload.ops.iter().map(|o| o.name.clone()).collect(),
            statuses: c.statuses,
            server: c.server,
            goose,
        })
    }

    fn accumulate(after: &HttpSnapshot, _before: &HttpSnapshot, ev: &mut HttpEvidence) {
        for (&(op, status), &count) in &after.statuses {
            let op = &after.ops[op];
            match ev
                .statuses
                .iter_mut()
                .find(|s| s.workload == after.workload && &s.op == op && s.status == status)
            {
                Some(s) => s.count += count,
                None => ev.statuses.push(StatusCount {
                    workload: after.workload.clone(),
                    op: op.clone(),
                    status,
                    count,
                }),
            }
        }
        if ev.server_header.is_none() {
            ev.server_header = after.server.clone();
        }
        ev.goose.extend(after.goose.figures.iter().cloned());
        for j in &after.goose.journeys {
            match ev
                .journeys
                .iter_mut()
                .find(|k| k.workload == j.workload && k.journey == j.journey)
            {
                Some(k) => k.merge(j),
                None => ev.journeys.push(j.clone()),
            }
        }
    }

    fn refuse_shards(&self, workload: &Workload) -> Option<String> {
        journeys(workload).map(|_| {
            "a goose workload runs as one attack in one process (goose keeps process-wide state); run it without --workers".to_string()
        })
    }

    async fn phase(
        &self,
        workload: &Workload,
        workers: &HttpWorkers,
        crew: &crate::driver::Crew<HttpExec>,
        mix: Arc<crate::driver::OpMix>,
        spec: &crate::driver::PhaseSpec,
    ) -> Result<crate::driver::PhaseOutcome> {
        let Some(file) = &workers.journeys else {
            return crew.run(mix, spec).await;
        };
        if !matches!(spec.pacing, crate::driver::Pacing::Closed) {
            return Err(Error::Usage(format!(
                "workload {}: goose journeys run closed loop (each user waits for its answer, then thinks); set load.mode = \"closed\", or measure single requests open loop with an engine = \"native\" workload",
                workload.name
            )));
        }
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tunebench-goose-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let att_spec = attack::AttackSpec {
            host: self.target.url.clone(),
            users: crew.len() as u32,
            run_time: spec.duration,
            timeout: spec.op_timeout,
            dir,
        };
        let host_before = crate::host::HostSample::take(&spec.server);
        let cpu_before = crate::driver::timer::process_cpu_time();
        tracing::info!("{}: goose attack", spec.label);
        let att = attack::attack(file, &att_spec).await.map_err(|e| {
            Error::target(
                format!("target {}: workload {}", self.target.name, workload.name),
                e,
            )
        })?;
        let (host, server_cpu) = host_before.until_now();
        let cost = crate::driver::HarnessCost {
            process_cpu: crate::driver::timer::process_cpu_time().saturating_sub(cpu_before),
            pacer_cpu: Duration::ZERO,
            host,
            server_cpu,
        };
        let names: Vec<String> = workload.ops.iter().map(|o| o.name.clone()).collect();
        let phase = attack::phase_outcome(&workload.name, &names, &att, spec, cost)
            .map_err(|e| Error::target(format!("workload {}", workload.name), e))?;
        self.counts.add(&phase.statuses);
        let mut g = self.goose.lock().expect("not poisoned");
        g.figures.extend(phase.figures);
        g.journeys.extend(phase.journeys);
        Ok(phase.outcome)
    }

    async fn workers(
        &self,
        workload: &Workload,
        _data: Arc<Endpoints>,
        _n: u32,
        _op_timeout: Duration,
    ) -> Result<HttpWorkers> {
        Ok(HttpWorkers {
            journeys: journeys(workload),
            ops: Arc::new(self.requests(workload)?),
            counts: self.counts.clone(),
            idle: self.target.pool_idle_timeout,
            connect: self.target.pool_connect_timeout,
        })
    }

    /// One client per worker: each keeps its own connection, like one database session per
    /// worker, so concurrency means connections.
    async fn open(w: Arc<HttpWorkers>, _i: u32) -> Result<HttpExec> {
        Ok(HttpExec::new(
            client(w.idle, w.connect)?,
            w.ops.clone(),
            w.counts.clone(),
        ))
    }

    async fn check(
        &self,
        check: &std::convert::Infallible,
        _datasets: &[&Dataset],
        _evidence: Option<&HttpEvidence>,
    ) -> Result<crate::backend::facts::CheckOutcome> {
        match *check {}
    }
}
