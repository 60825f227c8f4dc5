//! `tunebench run`: datasets, then for each profile apply -> readiness -> plans -> warm-up ->
//! measured trials -> revert, then results.json and report.md.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::Utc;
use sqlx::postgres::PgPool;

use crate::backend::postgres::{self as pg, AppliedProfile, PgExecutor, PgSnapshot};
use crate::cli::RunArgs;
use crate::dataset::Corpus;
use crate::driver::{OpMix, Pacing, PhaseOutcome, PhaseSpec, run_phase};
use crate::error::{Error, Result, exit};
use crate::metrics::{self, LatencySummary};
use crate::results::{
    CriterionResult, DatasetReport, Environment, OpResult, PgEvidence, PoolReport, ProfileRun,
    Results, RevertReport, SCHEMA_VERSION, TargetEnv, TrialResult, WorkloadResult,
};
use crate::scenario::{self, LoadMode, Metric, Overrides, Profile, Scenario, Workload};
use crate::{Outcome, host, report};

struct Targets {
    pools: BTreeMap<String, PgPool>,
    corpora: BTreeMap<String, Arc<Corpus>>,
    leaked: BTreeMap<String, u32>,
}

pub async fn run(args: RunArgs) -> Result<Outcome> {
    let mut scenario = scenario::load(&args.scenario)?;
    scenario.apply_overrides(&Overrides {
        duration: args.duration,
        warmup: args.warmup,
        rate: args.rate,
        concurrency: args.concurrency,
        trials: args.trials,
        profiles: args.profiles.clone(),
    })?;
    // Every output path and template is checked before the long run starts.
    if let Some(t) = &args.template {
        report::check_template(t)?;
    }
    check_writable(&args.out)?;

    let started_at = Utc::now();
    let host = host::host();
    let mut targets = Targets {
        pools: BTreeMap::new(),
        corpora: BTreeMap::new(),
        leaked: BTreeMap::new(),
    };
    let mut envs = BTreeMap::new();
    for (name, t) in &scenario.targets {
        let pool = pg::connect(t).await?;
        let (version, settings) = pg::server_info(&pool)
            .await
            .map_err(|e| pg::target_error(t, "reading server info", e))?;
        envs.insert(
            name.clone(),
            TargetEnv {
                kind: "postgres".into(),
                url: t.url_redacted.clone(),
                server_version: version,
                non_default_settings: settings,
                pool: PoolReport {
                    min_connections: t.pool.min_connections,
                    max_connections: t.pool.max_connections,
                    idle_timeout_s: t.pool_idle_timeout.as_secs_f64(),
                    connect_timeout_s: t.pool_connect_timeout.as_secs_f64(),
                    leaked_connections: 0,
                },
            },
        );
        targets.pools.insert(name.clone(), pool);
    }

    let mut datasets: Vec<DatasetReport> = Vec::new();
    for (name, ds) in &scenario.datasets {
        let corpus = Arc::new(Corpus::new(&ds.spec));
        let target = &scenario.targets[&ds.target];
        tracing::info!(
            "dataset {name}: preparing {} documents in {}",
            ds.spec.documents,
            ds.spec.schema
        );
        let report = pg::prepare_dataset(&targets.pools[&ds.target], target, ds, &corpus).await?;
        if let Some(rps) = report.load_rows_per_s {
            tracing::info!(
                "dataset {name}: loaded in {:.1} s ({rps:.0} rows/s)",
                report.load_seconds.unwrap_or(0.0)
            );
        }
        datasets.push(report);
        targets.corpora.insert(name.clone(), corpus);
    }

    let mut runs = Vec::new();
    let last = scenario.profiles.len().saturating_sub(1);
    for (i, profile) in scenario.profiles.iter().enumerate() {
        tracing::info!("profile {}: applying", profile.name);
        let keep = args.keep_profile && i == last;
        runs.push(run_profile(&scenario, profile, &mut targets, keep, host.memory_bytes).await?);
    }

    for (name, env) in envs.iter_mut() {
        env.pool.leaked_connections = targets.leaked.get(name).copied().unwrap_or(0);
    }
    for pool in targets.pools.values() {
        pool.close().await;
    }

    let results = Results {
        schema_version: SCHEMA_VERSION,
        tool: host::tool(),
        started_at,
        finished_at: Utc::now(),
        scenario: serde_json::to_value(&scenario).expect("scenario serializes"),
        environment: Environment {
            host,
            targets: envs,
        },
        datasets,
        runs,
    };
    let results_path = args.out.join("results.json");
    results.write(&results_path)?;
    let report_path = args.out.join("report.md");
    let text = report::render(&results, args.template.as_deref())?;
    std::fs::write(&report_path, text).map_err(|e| Error::io(&report_path, e))?;

    let failed: Vec<&CriterionResult> = results
        .runs
        .last()
        .map(|r| r.criteria.iter().filter(|c| !c.passed).collect())
        .unwrap_or_default();
    let mut summary = format!(
        "results: {}\nreport:  {}",
        results_path.display(),
        report_path.display()
    );
    for c in &failed {
        summary.push_str(&format!(
            "\ncriterion failed under `{}`: {}",
            results.runs.last().map_or("", |r| &r.profile),
            c.criterion
        ));
    }
    Ok(Outcome {
        exit_code: if failed.is_empty() {
            exit::OK
        } else {
            exit::CRITERIA_FAILED
        },
        results_path: Some(results_path),
        report_path: Some(report_path),
        summary,
    })
}

fn check_writable(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::Usage(format!(
            "--out {}: cannot create the folder: {e}",
            dir.display()
        ))
    })?;
    let probe = dir.join(".tunebench-write-test");
    std::fs::write(&probe, b"").map_err(|e| {
        Error::Usage(format!(
            "--out {}: folder is not writable: {e}",
            dir.display()
        ))
    })?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// The dataset schema living on `target` (profiles' indexes go there).
fn schema_on<'a>(scenario: &'a Scenario, target: &str) -> Option<&'a str> {
    scenario
        .datasets
        .values()
        .find(|d| d.target == target)
        .map(|d| d.spec.schema.as_str())
}

async fn run_profile(
    scenario: &Scenario,
    profile: &Profile,
    targets: &mut Targets,
    keep: bool,
    host_memory: u64,
) -> Result<ProfileRun> {
    let mut applied: Vec<AppliedProfile> = Vec::new();
    let mut apply_error = None;
    for (tname, file) in &profile.apply {
        let target = &scenario.targets[tname];
        let Some(schema) = schema_on(scenario, tname) else {
            apply_error = Some(Error::Usage(format!(
                "profile {}: target {tname} has no dataset, so there is no schema to index",
                profile.name
            )));
            break;
        };
        let pool = targets.pools.remove(tname).expect("connected");
        match pg::apply_profile(pool.clone(), target, file, schema, host_memory).await {
            Ok((pool, a)) => {
                targets.pools.insert(tname.clone(), pool);
                applied.push(a);
            }
            Err(e) => {
                // apply_profile reverted its own partial work; reconnect for the others' revert.
                targets
                    .pools
                    .insert(tname.clone(), pg::connect(target).await.unwrap_or(pool));
                apply_error = Some(e);
                break;
            }
        }
    }

    let measured = match apply_error {
        Some(e) => Err(e),
        None => {
            tokio::select! {
                r = measure_profile(scenario, profile, targets) => r,
                _ = tokio::signal::ctrl_c() => Err(Error::target("run", "interrupted; the profile was reverted")),
            }
        }
    };

    let changes: Vec<_> = applied.iter().map(|a| a.changes.clone()).collect();
    let mut reverts = Vec::new();
    for a in applied {
        let changes = a.changes.clone();
        if keep {
            reverts.push(RevertReport {
                target: a.target.clone(),
                kept: true,
                settings_restored: Vec::new(),
                indexes_dropped: Vec::new(),
                restarted: false,
                mismatches: Vec::new(),
            });
            continue;
        }
        let target = &scenario.targets[&changes.target];
        let pool = targets.pools.remove(&changes.target).expect("connected");
        let (pool, report) = pg::revert_profile(pool, target, a).await?;
        targets.pools.insert(changes.target.clone(), pool);
        if !report.mismatches.is_empty() {
            tracing::warn!(
                "profile {}: revert left differences: {}",
                profile.name,
                report.mismatches.join("; ")
            );
        }
        reverts.push(report);
    }
    let mut run = measured?;
    run.changes = changes;
    run.revert = reverts;
    Ok(run)
}

async fn measure_profile(
    scenario: &Scenario,
    profile: &Profile,
    targets: &mut Targets,
) -> Result<ProfileRun> {
    let mut run = ProfileRun {
        profile: profile.name.clone(),
        changes: Vec::new(),
        readiness: Vec::new(),
        workloads: Vec::new(),
        server: BTreeMap::new(),
        criteria: Vec::new(),
        revert: Vec::new(),
    };

    // Readiness: the data and every index are really there before anything is measured.
    for (dname, ds) in &scenario.datasets {
        let target = &scenario.targets[&ds.target];
        let expected: Vec<String> = profile
            .apply
            .get(&ds.target)
            .map(|f| f.postgres.indexes.iter().map(|i| i.name.clone()).collect())
            .unwrap_or_default();
        let checks = pg::readiness(
            &targets.pools[&ds.target],
            &ds.target,
            &targets.corpora[dname],
            &expected,
        )
        .await
        .map_err(|e| pg::target_error(target, "readiness check", e))?;
        if let Some(bad) = checks.iter().find(|c| !c.ok) {
            return Err(pg::target_error(
                target,
                "readiness check",
                format!(
                    "{}: expected {}, found {}; not measuring",
                    bad.check, bad.expected, bad.actual
                ),
            ));
        }
        run.readiness.extend(checks);
    }

    for workload in &scenario.workloads {
        let target = &scenario.targets[&workload.target];
        let corpus = targets.corpora[&workload.dataset].clone();
        let schema = corpus.spec().schema.clone();
        let admin = targets.pools[&workload.target].clone();
        let evidence = run.server.entry(workload.target.clone()).or_default();

        // One representative execution per op, same parameters under every profile.
        let mut query_ids = Vec::new();
        for op in &workload.ops {
            let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(name_seed(
                &workload.name,
                &op.name,
            ));
            let mut params = Vec::new();
            corpus.draw(&op.def.params, &mut rng, &mut params);
            let plan = pg::capture_plan(
                &admin,
                &workload.name,
                &op.name,
                &op.def.sql,
                &schema,
                params,
            )
            .await
            .map_err(|e| {
                pg::target_error(
                    target,
                    &format!("EXPLAIN of {}.{}", workload.name, op.name),
                    e,
                )
            })?;
            query_ids.extend(plan.query_id);
            evidence.plans.push(plan);
        }

        let (result, leaked) = measure_workload(
            scenario,
            &run.profile,
            workload,
            corpus,
            &admin,
            &query_ids,
            evidence,
        )
        .await?;
        *targets.leaked.entry(workload.target.clone()).or_default() += leaked;
        run.workloads.push(result);
    }
    run.criteria = evaluate_criteria(scenario, &run.workloads);
    Ok(run)
}

fn name_seed(a: &str, b: &str) -> u64 {
    // FNV-1a: stable across builds, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in a.bytes().chain([0]).chain(b.bytes()) {
        h = (h ^ u64::from(byte)).wrapping_mul(0x1000_0000_01b3);
    }
    h
}

async fn measure_workload(
    scenario: &Scenario,
    profile: &str,
    workload: &Workload,
    corpus: Arc<Corpus>,
    admin: &PgPool,
    query_ids: &[i64],
    evidence: &mut PgEvidence,
) -> Result<(WorkloadResult, u32)> {
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

    if !load.warmup.is_zero() {
        let spec = PhaseSpec {
            label: format!("{profile}/{} warm-up", workload.name),
            pacing,
            duration: load.warmup,
            op_timeout: load.op_timeout,
            error_budget: load.error_budget,
            seed: base_seed ^ 0xFFFF,
        };
        let (back, out) = run_phase(executors, mix.clone(), corpus.clone(), &spec).await;
        executors = back;
        check_budget(target, workload, &out, "warm-up")?;
    }

    let mut trials = Vec::new();
    let mut total = metrics::new_histogram();
    let mut per_op: Vec<_> = workload
        .ops
        .iter()
        .map(|_| metrics::new_histogram())
        .collect();
    let mut per_op_errors = vec![0u64; workload.ops.len()];
    let mut lag = metrics::new_histogram();
    let mut errors_by_kind = BTreeMap::new();
    let mut wall = 0.0;
    let mut errors = 0;
    for trial in 1..=load.trials {
        let spec = PhaseSpec {
            label: format!("{profile}/{} trial {trial}/{}", workload.name, load.trials),
            pacing,
            duration: load.duration,
            op_timeout: load.op_timeout,
            error_budget: load.error_budget,
            seed: base_seed.wrapping_add(u64::from(trial)),
        };
        let before = PgSnapshot::take(admin, query_ids)
            .await
            .map_err(|e| pg::target_error(target, "reading statistics", e))?;
        let (back, out) = run_phase(executors, mix.clone(), corpus.clone(), &spec).await;
        executors = back;
        let after = PgSnapshot::take(admin, query_ids)
            .await
            .map_err(|e| pg::target_error(target, "reading statistics", e))?;
        after.accumulate_delta(&before, evidence);
        check_budget(target, workload, &out, &format!("trial {trial}"))?;

        let secs = out.wall.as_secs_f64();
        trials.push(TrialResult {
            trial,
            ops: out.ops,
            errors: out.errors,
            duration_s: secs,
            throughput_ops_s: out.ops as f64 / secs,
            latency_ms: LatencySummary::of(&out.total),
            histogram: metrics::encode(&out.total),
        });
        metrics::merge(&mut total, &out.total);
        for (i, h) in out.per_op.iter().enumerate() {
            metrics::merge(&mut per_op[i], h);
            per_op_errors[i] += out.per_op_errors[i];
        }
        if let Some(l) = &out.schedule_lag {
            metrics::merge(&mut lag, l);
        }
        for (k, v) in out.errors_by_kind {
            let e: &mut crate::results::ErrorCount = errors_by_kind.entry(k).or_default();
            e.count += v.count;
            if e.example.is_empty() {
                e.example = v.example;
            }
        }
        wall += secs;
        errors += out.errors;
    }
    drop(executors);
    // Dropped connections return to the pool asynchronously: give them a moment before
    // counting any still checked out as leaked.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    while pool.num_idle() < pool.size() as usize && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let leaked = (pool.size() as usize).saturating_sub(pool.num_idle()) as u32;
    pool.close().await;

    let operations = workload
        .ops
        .iter()
        .enumerate()
        .map(|(i, o)| OpResult {
            op: o.name.clone(),
            weight: o.weight,
            ops: per_op[i].len(),
            errors: per_op_errors[i],
            throughput_ops_s: per_op[i].len() as f64 / wall,
            latency_ms: LatencySummary::of(&per_op[i]),
            histogram: metrics::encode(&per_op[i]),
        })
        .collect();
    let result = WorkloadResult {
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
        trials: load.trials,
        ops: total.len(),
        errors,
        errors_by_kind,
        duration_s: wall,
        throughput_ops_s: total.len() as f64 / wall,
        latency_ms: LatencySummary::of(&total),
        schedule_lag_ms: (load.mode == LoadMode::Open).then(|| LatencySummary::of(&lag)),
        histogram: metrics::encode(&total),
        operations,
        per_trial: trials,
    };
    tracing::info!(
        "{profile}/{}: {} ops, {:.1} ops/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
        workload.name,
        result.ops,
        result.throughput_ops_s,
        result.latency_ms.p50,
        result.latency_ms.p99,
        result.errors
    );
    Ok((result, leaked))
}

fn check_budget(
    target: &scenario::Target,
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

fn evaluate_criteria(scenario: &Scenario, workloads: &[WorkloadResult]) -> Vec<CriterionResult> {
    scenario
        .criteria
        .iter()
        .map(|c| {
            let w = workloads.iter().find(|w| w.workload == c.workload);
            let value = w.and_then(|w| {
                let (lat, ops, errors, tput) = match &c.op {
                    Some(op) => {
                        let o = w.operations.iter().find(|o| &o.op == op)?;
                        (o.latency_ms, o.ops, o.errors, o.throughput_ops_s)
                    }
                    None => (w.latency_ms, w.ops, w.errors, w.throughput_ops_s),
                };
                if ops == 0 && c.metric.is_latency() {
                    return None;
                }
                Some(match c.metric {
                    Metric::P50 => lat.p50,
                    Metric::P95 => lat.p95,
                    Metric::P99 => lat.p99,
                    Metric::P999 => lat.p999,
                    Metric::Max => lat.max,
                    Metric::Mean => lat.mean,
                    Metric::Throughput => tput,
                    Metric::ErrorRate => errors as f64 * 100.0 / (ops + errors).max(1) as f64,
                })
            });
            CriterionResult {
                criterion: c.text.clone(),
                workload: c.workload.clone(),
                op: c.op.clone(),
                metric: c.metric.name().into(),
                unit: c.metric.unit().into(),
                threshold: c.threshold,
                passed: value.is_some_and(|v| c.comparison.holds(v, c.threshold)),
                value,
            }
        })
        .collect()
}
