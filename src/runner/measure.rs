//! Measuring one workload under the applied profile: fresh connections, warm-up (never
//! recorded), then trials, each folded into an accumulator so interleaved trials of the same
//! profile end up in one result.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use sqlx::postgres::PgPool;

use crate::backend::postgres::{self as pg, PgExecutor, PgSnapshot};
use crate::dataset::Corpus;
use crate::driver::{OpMix, Pacing, PhaseOutcome, PhaseSpec, run_phase};
use crate::error::Result;
use crate::metrics::{self, LatencySummary};
use crate::results::{ErrorCount, OpResult, PgEvidence, TrialResult, WorkloadResult};
use crate::scenario::{Load, LoadMode, Scenario, Target, Workload};

/// Everything measured for one (profile, workload) so far, over all its trials.
pub struct WorkloadAcc {
    total: Histogram<u64>,
    per_op: Vec<Histogram<u64>>,
    per_op_errors: Vec<u64>,
    lag: Histogram<u64>,
    errors_by_kind: BTreeMap<String, ErrorCount>,
    wall_s: f64,
    errors: u64,
    trials: Vec<TrialResult>,
}

impl WorkloadAcc {
    pub fn new(ops: usize) -> Self {
        WorkloadAcc {
            total: metrics::new_histogram(),
            per_op: (0..ops).map(|_| metrics::new_histogram()).collect(),
            per_op_errors: vec![0; ops],
            lag: metrics::new_histogram(),
            errors_by_kind: BTreeMap::new(),
            wall_s: 0.0,
            errors: 0,
            trials: Vec::new(),
        }
    }

    fn add_trial(&mut self, trial: u32, out: PhaseOutcome) {
        let secs = out.wall.as_secs_f64();
        self.trials.push(TrialResult {
            trial,
            ops: out.ops,
            errors: out.errors,
            duration_s: secs,
            throughput_ops_s: out.ops as f64 / secs,
            latency_ms: LatencySummary::of(&out.total),
            histogram: metrics::encode(&out.total),
        });
        metrics::merge(&mut self.total, &out.total);
        for (i, h) in out.per_op.iter().enumerate() {
            metrics::merge(&mut self.per_op[i], h);
            self.per_op_errors[i] += out.per_op_errors[i];
        }
        if let Some(l) = &out.schedule_lag {
            metrics::merge(&mut self.lag, l);
        }
        for (k, v) in out.errors_by_kind {
            let e = self.errors_by_kind.entry(k).or_default();
            e.count += v.count;
            if e.example.is_empty() {
                e.example = v.example;
            }
        }
        self.wall_s += secs;
        self.errors += out.errors;
    }

    pub fn finish(mut self, profile: &str, workload: &Workload, load: &Load) -> WorkloadResult {
        self.trials.sort_by_key(|t| t.trial);
        let wall = self.wall_s.max(1e-9);
        let operations = workload
            .ops
            .iter()
            .enumerate()
            .map(|(i, o)| OpResult {
                op: o.name.clone(),
                weight: o.weight,
                ops: self.per_op[i].len(),
                errors: self.per_op_errors[i],
                throughput_ops_s: self.per_op[i].len() as f64 / wall,
                latency_ms: LatencySummary::of(&self.per_op[i]),
                histogram: metrics::encode(&self.per_op[i]),
            })
            .collect();
        WorkloadResult {
            profile: profile.to_string(),
            workload: workload.name.clone(),
            target: workload.target.clone(),
            mode: match load.mode {
                LoadMode::Closed => "closed",
                LoadMode::Open => "open",
            }
            .into(),
            concurrency: load.connections(),
            rate_ops_s: load.rate.filter(|_| load.mode == LoadMode::Open),
            trials: self.trials.len() as u32,
            ops: self.total.len(),
            errors: self.errors,
            errors_by_kind: self.errors_by_kind,
            duration_s: self.wall_s,
            throughput_ops_s: self.total.len() as f64 / wall,
            latency_ms: LatencySummary::of(&self.total),
            schedule_lag_ms: (load.mode == LoadMode::Open).then(|| LatencySummary::of(&self.lag)),
            histogram: metrics::encode(&self.total),
            operations,
            per_trial: self.trials,
        }
    }
}

/// Stable seed from names (FNV-1a), so every profile draws the same parameter sequence.
pub fn name_seed(a: &str, b: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in a.bytes().chain([0]).chain(b.bytes()) {
        h = (h ^ u64::from(byte)).wrapping_mul(0x1000_0000_01b3);
    }
    h
}

pub struct MeasureCtx<'a> {
    pub scenario: &'a Scenario,
    pub profile: &'a str,
    pub workload: &'a Workload,
    pub corpus: Arc<Corpus>,
    pub admin: &'a PgPool,
    pub query_ids: &'a [i64],
}

/// Warm-up, then the given trials; returns the number of connections still checked out when
/// the worker pool closed (a leak if above zero).
pub async fn measure_workload(
    ctx: MeasureCtx<'_>,
    trials: &[u32],
    acc: &mut WorkloadAcc,
    evidence: &mut PgEvidence,
) -> Result<u32> {
    let MeasureCtx {
        scenario,
        profile,
        workload,
        corpus,
        admin,
        query_ids,
    } = ctx;
    let target = &scenario.targets[&workload.target];
    let load = &scenario.load;
    let schema = corpus.spec().schema.clone();
    let statements: Arc<Vec<Arc<str>>> = Arc::new(
        workload
            .ops
            .iter()
            .map(|o| Arc::from(pg::with_schema(&o.def.sql, &schema)))
            .collect(),
    );
    let mix = Arc::new(OpMix::new(
        &workload
            .ops
            .iter()
            .map(|o| (o.name.clone(), o.weight, o.def.params.clone()))
            .collect::<Vec<_>>(),
    ));

    // Fresh connections for every profile: PostgreSQL caches plans per connection.
    let pool = pg::connect(target).await?;
    let mut executors = Vec::new();
    for _ in 0..load.connections() {
        executors.push(
            PgExecutor::new(&pool, statements.clone(), load.op_timeout)
                .await
                .map_err(|e| pg::target_error(target, "opening worker connections", e))?,
        );
    }
    let pacing = match load.mode {
        LoadMode::Closed => Pacing::Closed,
        LoadMode::Open => Pacing::Open {
            rate: load.rate.expect("validated"),
        },
    };
    let base_seed = name_seed(&workload.name, "params");
    let phase = |label: String, duration: Duration, seed: u64| PhaseSpec {
        label,
        pacing,
        duration,
        op_timeout: load.op_timeout,
        error_budget: load.error_budget,
        seed,
    };

    if !load.warmup.is_zero() {
        let spec = phase(
            format!("{profile}/{} warm-up", workload.name),
            load.warmup,
            base_seed ^ 0xFFFF,
        );
        let (back, out) = run_phase(executors, mix.clone(), corpus.clone(), &spec).await;
        executors = back;
        check_budget(target, workload, &out, "warm-up")?;
    }

    for &trial in trials {
        let spec = phase(
            format!("{profile}/{} trial {trial}/{}", workload.name, load.trials),
            load.duration,
            base_seed.wrapping_add(u64::from(trial)),
        );
        let stats_err = |e| pg::target_error(target, "reading statistics", e);
        let before = PgSnapshot::take(admin, query_ids)
            .await
            .map_err(stats_err)?;
        let (back, out) = run_phase(executors, mix.clone(), corpus.clone(), &spec).await;
        executors = back;
        let after = PgSnapshot::take(admin, query_ids)
            .await
            .map_err(stats_err)?;
        after.accumulate_delta(&before, evidence);
        check_budget(target, workload, &out, &format!("trial {trial}"))?;
        tracing::info!(
            "{profile}/{} trial {trial}: {} ops, {:.1} ops/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
            workload.name,
            out.ops,
            out.ops as f64 / out.wall.as_secs_f64(),
            LatencySummary::of(&out.total).p50,
            LatencySummary::of(&out.total).p99,
            out.errors
        );
        acc.add_trial(trial, out);
    }

    drop(executors);
    // Dropped connections return to the pool asynchronously: give them a moment before
    // counting any still checked out as leaked.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while pool.num_idle() < pool.size() as usize && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let leaked = (pool.size() as usize).saturating_sub(pool.num_idle()) as u32;
    pool.close().await;
    Ok(leaked)
}

fn check_budget(
    target: &Target,
    workload: &Workload,
    out: &PhaseOutcome,
    phase: &str,
) -> Result<()> {
    if out.aborted {
        let kinds: Vec<String> = out
            .errors_by_kind
            .iter()
            .map(|(k, v)| format!("{k} x{} (e.g. {})", v.count, v.example))
            .collect();
        return Err(pg::target_error(
            target,
            &format!("workload {} {phase}", workload.name),
            format!(
                "stopped: {} of {} operations failed, past the error budget; {}",
                out.errors,
                out.errors + out.ops,
                kinds.join("; ")
            ),
        ));
    }
    Ok(())
}
