//! Measuring one workload under the applied profile: fresh connections, warm-up (never
//! recorded), then trials, each folded into an accumulator so interleaved trials of the same
//! profile end up in one result. Generic over the store, so the hot loop is monomorphic.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::backend::Store;
use crate::driver::{OpExtras, OpMix, Pacing, PhaseOutcome, PhaseSpec, run_phase};
use crate::error::{Error, Result};
use crate::metrics::{self, LatencySummary};
use crate::results::{ErrorCount, Evidence, OpResult, TrialResult, WorkloadResult};
use crate::scenario::{Load, LoadMode, Workload};

/// Everything measured for one (profile, workload) so far, over all its trials.
pub struct WorkloadAcc {
    total: Histogram<u64>,
    per_op: Vec<Histogram<u64>>,
    per_op_errors: Vec<u64>,
    per_op_extras: Vec<OpExtras>,
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
            per_op_extras: vec![OpExtras::default(); ops],
            lag: metrics::new_histogram(),
            errors_by_kind: BTreeMap::new(),
            wall_s: 0.0,
            errors: 0,
            trials: Vec::new(),
        }
    }

    fn add_trial(&mut self, trial: u32, out: PhaseOutcome) {
        let secs = out.wall.as_secs_f64();
        let bytes: u64 = out.per_op_extras.iter().map(|e| e.bytes).sum();
        self.trials.push(TrialResult {
            trial,
            ops: out.ops,
            errors: out.errors,
            duration_s: secs,
            throughput_ops_s: out.ops as f64 / secs,
            bytes_per_s: (bytes > 0).then(|| bytes as f64 / secs),
            latency_ms: LatencySummary::of(&out.total),
            histogram: metrics::encode(&out.total),
        });
        metrics::merge(&mut self.total, &out.total);
        for (i, h) in out.per_op.iter().enumerate() {
            metrics::merge(&mut self.per_op[i], h);
            self.per_op_errors[i] += out.per_op_errors[i];
            self.per_op_extras[i].merge(&out.per_op_extras[i]);
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
        let recall =
            |e: &OpExtras| (e.recall_count > 0).then(|| e.recall_sum / e.recall_count as f64);
        let bytes_per_s = |e: &OpExtras| (e.bytes > 0).then(|| e.bytes as f64 / wall);
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
                bytes_per_s: bytes_per_s(&self.per_op_extras[i]),
                recall_at_k: recall(&self.per_op_extras[i]),
                latency_ms: LatencySummary::of(&self.per_op[i]),
                histogram: metrics::encode(&self.per_op[i]),
            })
            .collect();
        let mut all = OpExtras::default();
        self.per_op_extras.iter().for_each(|e| all.merge(e));
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
            bytes_per_s: bytes_per_s(&all),
            recall_at_k: recall(&all),
            k: workload.k,
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

/// Warm-up, then the given trials; returns the number of connections still checked out when
/// the workers closed (a leak if above zero).
#[allow(clippy::too_many_arguments)]
pub async fn measure_workload<S: Store>(
    store: &S,
    data: Arc<S::Data>,
    profile: &str,
    workload: &Workload,
    load: &Load,
    trials: &[u32],
    acc: &mut WorkloadAcc,
    evidence: &mut Evidence,
) -> Result<u32> {
    let mix = Arc::new(OpMix::new(
        &workload
            .ops
            .iter()
            .map(|o| (o.name.clone(), o.weight))
            .collect::<Vec<_>>(),
    ));
    let (workers, mut executors) = store
        .workers(workload, data, load.connections(), load.op_timeout)
        .await?;
    let pacing = match load.mode {
        LoadMode::Closed => Pacing::Closed,
        LoadMode::Open => Pacing::Open {
            rate: load.rate.expect("validated"),
        },
    };
    let base_seed = name_seed(&workload.name, "params");
    let phase = |label: String, duration: Duration, iterations, seed: u64| PhaseSpec {
        label,
        pacing,
        duration,
        iterations,
        op_timeout: load.op_timeout,
        error_budget: load.error_budget,
        seed,
    };

    store.reset(workload, &workers).await?;
    if !load.warmup.is_zero() {
        let spec = phase(
            format!("{profile}/{} warm-up", workload.name),
            load.warmup,
            None,
            base_seed ^ 0xFFFF,
        );
        let (back, out) = run_phase(executors, mix.clone(), &spec).await;
        executors = back;
        check_budget(workload, &out, "warm-up")?;
    }

    for &trial in trials {
        let spec = phase(
            format!("{profile}/{} trial {trial}/{}", workload.name, load.trials),
            load.duration,
            load.iterations,
            base_seed.wrapping_add(u64::from(trial)),
        );
        store.reset(workload, &workers).await?;
        let before = store.snapshot(workload, evidence).await?;
        let (back, out) = run_phase(executors, mix.clone(), &spec).await;
        executors = back;
        let after = store.snapshot(workload, evidence).await?;
        S::accumulate(&after, &before, evidence);
        check_budget(workload, &out, &format!("trial {trial}"))?;
        let s = LatencySummary::of(&out.total);
        tracing::info!(
            "{profile}/{} trial {trial}: {} ops, {:.1} ops/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
            workload.name,
            out.ops,
            out.ops as f64 / out.wall.as_secs_f64(),
            s.p50,
            s.p99,
            out.errors
        );
        acc.add_trial(trial, out);
    }

    drop(executors);
    store.reset(workload, &workers).await?;
    Ok(S::close_workers(workers).await)
}

fn check_budget(workload: &Workload, out: &PhaseOutcome, phase: &str) -> Result<()> {
    if out.aborted {
        let kinds: Vec<String> = out
            .errors_by_kind
            .iter()
            .map(|(k, v)| format!("{k} x{} (e.g. {})", v.count, v.example))
            .collect();
        return Err(Error::target(
            format!(
                "target {}: workload {} {phase}",
                workload.target, workload.name
            ),
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
