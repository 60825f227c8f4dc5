//! Measuring one workload under the applied profile: fresh connections, warm-up (never
//! recorded), then trials, each folded into an accumulator so interleaved trials of the same
//! profile end up in one result. Generic over the store, so the hot loop is monomorphic.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::Store;
use crate::driver::{Crew, OpExtras, OpMix, Pacing, PhaseOutcome, PhaseSpec, Shard};
use crate::error::{Error, Result};
use crate::host::HostLoad;
use crate::metrics::{self, LatencySummary, Merge, Tally};
use crate::results::{
    HarnessReport, IntervalWindow, Intervals, OpResult, QueryRecall, TrialResult, WorkloadResult,
};
use crate::scenario::{Load, LoadMode, Workload};

/// Everything measured for one (profile, workload) so far, over all its trials.
pub struct WorkloadAcc {
    tally: Tally<OpExtras>,
    wall_s: f64,
    trials: Vec<TrialResult>,
    cost: CostAcc,
}

/// The harness's cost summed over trials; host shares weighted by trial time.
#[derive(Default)]
struct CostAcc {
    process_cpu_s: f64,
    pacer_cpu_s: f64,
    busy_s: f64,
    steal_s: f64,
    load_max: f64,
    /// Other work's busy share x seconds; `other_unknown` once a trial could not tell it.
    other_s: f64,
    other_unknown: bool,
    server_in_process: bool,
    /// The server's CPU seconds over the trials; `None` once a trial could not tell it.
    server_cpu_s: Option<f64>,
}

impl WorkloadAcc {
    /// True once a trial was measured (a run that failed keeps only these).
    pub fn measured(&self) -> bool {
        !self.trials.is_empty()
    }

    pub fn new(ops: usize) -> Self {
        WorkloadAcc {
            tally: Tally::new(ops),
            wall_s: 0.0,
            trials: Vec::new(),
            cost: CostAcc {
                server_cpu_s: Some(0.0),
                ..CostAcc::default()
            },
        }
    }

    fn add_trial(&mut self, trial: u32, out: PhaseOutcome) {
        let secs = out.wall.as_secs_f64();
        let bytes: u64 = out.tally.per_op_extras.iter().map(|e| e.bytes).sum();
        self.trials.push(TrialResult {
            trial,
            ops: out.ops,
            errors: out.errors,
            duration_s: secs,
            throughput_ops_s: out.ops as f64 / secs,
            bytes_per_s: (bytes > 0).then(|| bytes as f64 / secs),
            latency_ms: LatencySummary::of(&out.total),
            histogram: metrics::encode(&out.total),
            client_cpu_s: Some(out.cost.process_cpu.as_secs_f64()),
            host: Some(out.cost.host),
            server_cpu_s: out.cost.server_cpu.map(|d| d.as_secs_f64()),
            intervals: Some(intervals(&out.windows, secs)),
        });
        let c = &mut self.cost;
        c.process_cpu_s += out.cost.process_cpu.as_secs_f64();
        c.pacer_cpu_s += out.cost.pacer_cpu.as_secs_f64();
        c.busy_s += out.cost.host.busy * secs;
        c.steal_s += out.cost.host.steal * secs;
        c.load_max = c.load_max.max(out.cost.host.load_1m);
        c.server_cpu_s = c
            .server_cpu_s
            .zip(out.cost.server_cpu)
            .map(|(sum, d)| sum + d.as_secs_f64());
        match out.cost.host.other_busy {
            Some(o) => c.other_s += o * secs,
            None => c.other_unknown = true,
        }
        self.tally.merge(&out.tally);
        self.wall_s += secs;
    }

    pub fn finish(mut self, profile: &str, workload: &Workload, load: &Load) -> WorkloadResult {
        self.trials.sort_by_key(|t| t.trial);
        let total = self.tally.total();
        let errors = self.tally.errors();
        let t = self.tally;
        let wall = self.wall_s.max(1e-9);
        let recall = |e: &OpExtras| e.recall.mean().map(|m| m.0);
        let tolerant = |e: &OpExtras| e.recall.mean().map(|m| m.1);
        let bytes_per_s = |e: &OpExtras| (e.bytes > 0).then(|| e.bytes as f64 / wall);
        let operations = workload
            .ops
            .iter()
            .enumerate()
            .map(|(i, o)| OpResult {
                op: o.name.clone(),
                weight: o.weight,
                ops: t.per_op[i].len(),
                errors: t.per_op_errors[i],
                throughput_ops_s: t.per_op[i].len() as f64 / wall,
                bytes_per_s: bytes_per_s(&t.per_op_extras[i]),
                recall_at_k: recall(&t.per_op_extras[i]),
                recall_at_k_tolerant: tolerant(&t.per_op_extras[i]),
                latency_ms: LatencySummary::of(&t.per_op[i]),
                histogram: metrics::encode(&t.per_op[i]),
            })
            .collect();
        let mut all = OpExtras::default();
        t.per_op_extras.iter().for_each(|e| all.merge(e));
        let open = load.mode == LoadMode::Open;
        let timer_lag = open.then(|| LatencySummary::of(&t.timer_lag));
        let harness = self.cost.report(
            total.len(),
            wall,
            load.connections(),
            open,
            timer_lag.as_ref(),
        );
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
            ops: total.len(),
            errors,
            errors_by_kind: t.errors_by_kind,
            duration_s: self.wall_s,
            throughput_ops_s: total.len() as f64 / wall,
            bytes_per_s: bytes_per_s(&all),
            recall_at_k: recall(&all),
            recall_at_k_tolerant: tolerant(&all),
            recall_by_query: all
                .by_query
                .iter()
                .filter_map(|(&(filter, query), r)| {
                    let (strict, tolerant) = r.mean()?;
                    Some(QueryRecall {
                        filter: filter as u32,
                        query: query as u32,
                        answers: r.count,
                        recall: strict,
                        recall_tolerant: tolerant,
                    })
                })
                .collect(),
            k: workload.k,
            latency_ms: LatencySummary::of(&total),
            schedule_lag_ms: open.then(|| LatencySummary::of(&t.lag)),
            timer_lag_ms: timer_lag,
            harness: (!self.trials.is_empty()).then_some(harness),
            histogram: metrics::encode(&total),
            operations,
            per_trial: self.trials,
            param_sources: workload
                .ops
                .iter()
                .flat_map(|o| o.def.source_records(&o.name))
                .collect(),
        }
    }
}

/// A trial's windows as results.json keeps them; `wall_s` (the trial's measured time) cuts
/// the last one short.
fn intervals(w: &crate::driver::intervals::Windows, wall_s: f64) -> Intervals {
    let len = w.interval.as_secs_f64();
    Intervals {
        interval_s: len,
        windows: w
            .windows
            .iter()
            .map(|c| {
                let start_s = c.index as f64 * len;
                IntervalWindow {
                    start_s,
                    duration_s: len.min(wall_s - start_s).max(0.0),
                    ops: c.ops,
                    errors: c.errors,
                    bytes: (c.bytes > 0).then_some(c.bytes),
                    histogram: c.histogram.clone(),
                }
            })
            .collect(),
    }
}

/// Client CPU per worker above this share of a core: the load generator competes with the
/// server for the host's cores, and may cap the throughput it reports.
pub const CLIENT_CORES_PER_WORKER_LIMIT: f64 = 0.5;
/// Pacer lateness (p99, of operations whose connection was waiting) above this: open-loop
/// latencies carry the harness's own delay.
pub const TIMER_LAG_P99_LIMIT_MS: f64 = 0.2;

impl CostAcc {
    fn report(
        &self,
        ops: u64,
        wall_s: f64,
        workers: u32,
        open: bool,
        timer_lag: Option<&LatencySummary>,
    ) -> HarnessReport {
        let cores_per_worker = self.process_cpu_s / wall_s / f64::from(workers.max(1));
        let mut limited = Vec::new();
        if cores_per_worker > CLIENT_CORES_PER_WORKER_LIMIT {
            limited.push(if self.server_in_process {
                format!(
                    "the process used {cores_per_worker:.2} cores per worker, above {CLIENT_CORES_PER_WORKER_LIMIT}; the server runs in-process (embedded), so this includes its own work"
                )
            } else {
                format!(
                    "the load generator used {cores_per_worker:.2} cores per worker, above {CLIENT_CORES_PER_WORKER_LIMIT}: on a shared host the throughput may be limited by the load generator"
                )
            });
        }
        if let Some(l) = timer_lag.filter(|l| l.p99 > TIMER_LAG_P99_LIMIT_MS) {
            limited.push(format!(
                "the pacer started operations up to {:.3} ms late (p99), above {TIMER_LAG_P99_LIMIT_MS} ms: open-loop latencies include the harness's delay",
                l.p99
            ));
        }
        HarnessReport {
            client_cpu_s: self.process_cpu_s,
            client_cpu_per_op_us: self.process_cpu_s * 1e6 / (ops.max(1)) as f64,
            server_cpu_per_op_us: self.server_cpu_s.map(|s| s * 1e6 / ops.max(1) as f64),
            client_cores_per_worker: cores_per_worker,
            pacer_cpu_s: open.then_some(self.pacer_cpu_s),
            server_in_process: self.server_in_process,
            host: HostLoad {
                load_1m: self.load_max,
                busy: self.busy_s / wall_s,
                steal: self.steal_s / wall_s,
                other_busy: (!self.other_unknown).then_some(self.other_s / wall_s),
            },
            limited_by_harness: limited,
        }
    }
}

/// Warm-up, then the given trials; returns the number of worker connections that did not
/// close cleanly (a leak if above zero).
#[allow(clippy::too_many_arguments)]
pub async fn measure_workload<S: Store>(
    store: &S,
    data: Arc<S::Data>,
    profile: &str,
    workload: &crate::backend::Workload<S>,
    load: &Load,
    trials: &[u32],
    acc: &mut WorkloadAcc,
    evidence: &mut S::Evidence,
    server: crate::host::ServerSite,
    target: &crate::backend::Target,
    plan: Option<&super::shard::ShardPlan>,
) -> Result<u32> {
    let mix = Arc::new(OpMix::new(
        &workload
            .ops
            .iter()
            .map(|o| (o.name.clone(), o.weight))
            .collect::<Vec<_>>(),
    ));
    let workers = Arc::new(
        store
            .workers(workload, data, load.connections(), load.op_timeout)
            .await?,
    );
    let shared = workers.clone();
    let shard = plan.map_or(Shard::ALONE, |p| p.shard);
    // A shard's connections are numbered after the earlier shards', so what a store names
    // by connection (S3 scratch keys) stays unique across shards.
    let first = plan.map_or(0, |p| p.first_connection);
    let crew = Crew::open(load.connections(), move |i| {
        S::open(shared.clone(), first + i)
    })
    .await?;
    let pacing = match load.mode {
        LoadMode::Closed => Pacing::Closed,
        // A shard's load carries its share of the rate; its schedule takes its turns of
        // the whole one.
        LoadMode::Open => Pacing::Open {
            rate: load.rate.expect("validated") * f64::from(shard.count),
            arrivals: load.arrivals,
        },
    };
    // Shards draw from their own seeds (shard 0 from the unsharded run's).
    let base_seed = crate::dataset::name_seed(&workload.name, "params")
        .wrapping_add(u64::from(shard.index).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let phase = |label: String, duration: Duration, iterations, seed: u64| PhaseSpec {
        label,
        pacing,
        duration,
        iterations,
        op_timeout: load.op_timeout,
        error_budget: load.error_budget,
        seed,
        server: server.clone(),
        interval: load.interval,
        shard,
        start_at: None,
    };

    acc.cost.server_in_process = store.in_process();
    store.reset(workload, &workers).await?;
    if !load.warmup.is_zero() {
        let mut spec = phase(
            format!("{profile}/{} warm-up", workload.name),
            load.warmup,
            None,
            base_seed ^ 0xFFFF,
        );
        spec.start_at = plan.map(|p| p.next(load.warmup));
        let out = store
            .phase(workload, &workers, &crew, mix.clone(), &spec)
            .await?;
        check_budget(workload, &out, "warm-up")?;
    }

    for &trial in trials {
        let mut spec = phase(
            format!("{profile}/{} trial {trial}/{}", workload.name, load.trials),
            load.duration,
            load.iterations,
            base_seed.wrapping_add(u64::from(trial)),
        );
        // Planned before the reset, so every shard plans the same instants however long
        // its own reset takes.
        spec.start_at = plan.map(|p| p.next(load.duration));
        store.reset(workload, &workers).await?;
        // A counter read can be heavier than an op (several metrics pages, a listing), so it
        // gets the connect timeout when the op timeout is shorter.
        let within = load.op_timeout.max(target.pool_connect_timeout);
        let before = snapshot(store, workload, evidence, within).await?;
        if let (Some(p), Some(at)) = (plan, spec.start_at) {
            p.note_start(at);
        }
        let out = store
            .phase(workload, &workers, &crew, mix.clone(), &spec)
            .await?;
        if out.errors > 0 {
            gone(target, workload).await?;
        }
        let after = snapshot(store, workload, evidence, within).await?;
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

    let leaked = crew.close().await;
    store.reset(workload, &workers).await?;
    Ok(leaked)
}

/// After a phase with errors: a server that no longer accepts connections fails the run now
/// (within the connect timeout), not after a driver's retries on every later call.
async fn gone<O>(target: &crate::backend::Target, workload: &Workload<O>) -> Result<()> {
    if crate::host::reachable(&target.url, target.pool_connect_timeout).await {
        return Ok(());
    }
    Err(crate::error::Error::target(
        format!("target {}: workload {}", target.name, workload.name),
        format!(
            "operations failed and {} no longer accepts connections",
            target.url_redacted
        ),
    ))
}

/// The server's counters around a trial, within the op timeout (at least the connect
/// timeout): a server that stopped answering fails the run now, not after a driver's own
/// retries (Neo4j's wait a minute).
async fn snapshot<S: Store>(
    store: &S,
    workload: &crate::backend::Workload<S>,
    evidence: &S::Evidence,
    within: Duration,
) -> Result<S::Snapshot> {
    tokio::time::timeout(within, store.snapshot(workload, evidence))
        .await
        .map_err(|_| {
            crate::error::Error::target(
                format!("workload {}", workload.name),
                format!(
                    "reading the server's counters took longer than {within:?} (the op timeout, at least the connect timeout); the server stopped answering"
                ),
            )
        })?
}

fn check_budget<O>(workload: &Workload<O>, out: &PhaseOutcome, phase: &str) -> Result<()> {
    if out.aborted {
        let kinds: Vec<String> = out
            .tally
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lag(p99: f64) -> LatencySummary {
        LatencySummary {
            p99,
            ..LatencySummary::default()
        }
    }

    #[test]
    fn the_harness_is_named_as_the_limit_only_past_its_thresholds() {
        // 2 workers, 10 s: 4 CPU seconds is 0.2 cores per worker.
        let light = CostAcc {
            process_cpu_s: 4.0,
            server_cpu_s: Some(2.0),
            ..CostAcc::default()
        };
        let r = light.report(1000, 10.0, 2, true, Some(&lag(0.05)));
        assert!(r.limited_by_harness.is_empty(), "{r:?}");
        assert_eq!(r.server_cpu_per_op_us, Some(2000.0));
        assert!((r.client_cores_per_worker - 0.2).abs() < 1e-12);
        assert!((r.client_cpu_per_op_us - 4000.0).abs() < 1e-9);
        assert_eq!(r.pacer_cpu_s, Some(0.0));
        // 12 CPU seconds: 0.6 cores per worker; and a late pacer.
        let heavy = CostAcc {
            process_cpu_s: 12.0,
            ..CostAcc::default()
        };
        let r = heavy.report(1000, 10.0, 2, true, Some(&lag(0.5)));
        assert_eq!(
            r.server_cpu_per_op_us, None,
            "a server CPU not known is not 0"
        );
        assert_eq!(r.limited_by_harness.len(), 2, "{r:?}");
        assert!(r.limited_by_harness[0].contains("load generator used 0.60 cores"));
        assert!(r.limited_by_harness[1].contains("0.500 ms late"));
        // Closed loop: no pacer; an embedded server's CPU is said to be included.
        let embedded = CostAcc {
            process_cpu_s: 12.0,
            server_in_process: true,
            ..CostAcc::default()
        };
        let r = embedded.report(1000, 10.0, 2, false, None);
        assert_eq!(r.pacer_cpu_s, None);
        assert!(r.limited_by_harness[0].contains("runs in-process"), "{r:?}");
    }
}
