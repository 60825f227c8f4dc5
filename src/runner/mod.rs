//! `tunebench run`: datasets, then blocks of (profile, trials): apply -> readiness -> plans ->
//! warm-up -> measured trials -> revert. With `load.interleave`, trials alternate between
//! profiles (A B A B ...) so drift hits each alike. Then results.json, report.md and, with
//! `--baseline`, the gate.

mod criteria;
mod measure;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::Utc;
use sqlx::postgres::PgPool;

use crate::backend::postgres::{self as pg, AppliedProfile};
use crate::cli::{CriteriaMode, GateArgs, RunArgs};
use crate::compare::{self, NoiseThresholds};
use crate::dataset::Corpus;
use crate::error::{Error, Result, exit};
use crate::results::{
    DatasetReport, Environment, PgEvidence, PoolReport, ProfileRun, ReadinessCheck, Results,
    RevertReport, SCHEMA_VERSION, TargetChanges, TargetEnv,
};
use crate::scenario::{self, Overrides, Profile, Scenario};
use crate::stats::BootstrapConfig;
use crate::{Outcome, host, report};
use measure::{MeasureCtx, WorkloadAcc, measure_workload, name_seed};

struct Targets {
    pools: BTreeMap<String, PgPool>,
    corpora: BTreeMap<String, Arc<Corpus>>,
    leaked: BTreeMap<String, u32>,
}

/// What one profile collected over all its blocks.
#[derive(Default)]
struct ProfileAcc {
    changes: Vec<TargetChanges>,
    readiness: Vec<ReadinessCheck>,
    server: BTreeMap<String, PgEvidence>,
    query_ids: BTreeMap<String, Vec<i64>>,
    workloads: BTreeMap<String, WorkloadAcc>,
    revert: Vec<RevertReport>,
}

/// Thresholds from the scenario's [gate], overridden by --noise.
pub fn noise_settings(base: &NoiseThresholds, gate: &GateArgs) -> Result<NoiseThresholds> {
    let mut noise = base.clone();
    for spec in &gate.noise {
        noise
            .set(spec)
            .map_err(|e| Error::Usage(format!("--noise {e}")))?;
    }
    Ok(noise)
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
    // Every input and output is checked before the long run starts.
    if let Some(t) = &args.template {
        report::check_template(t)?;
    }
    let noise = noise_settings(&scenario.gate.noise, &args.gate)?;
    let baseline = args.baseline.as_deref().map(Results::read).transpose()?;
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

    let blocks = schedule(&scenario);
    let mut accs: BTreeMap<String, ProfileAcc> = BTreeMap::new();
    for (i, (profile, trials)) in blocks.iter().enumerate() {
        let keep = args.keep_profile && i + 1 == blocks.len();
        tracing::info!("profile {}: applying (trials {:?})", profile.name, trials);
        let acc = accs.entry(profile.name.clone()).or_default();
        run_block(
            &scenario,
            profile,
            trials,
            &mut targets,
            acc,
            keep,
            host.memory_bytes,
        )
        .await?;
    }

    for (name, env) in envs.iter_mut() {
        env.pool.leaked_connections = targets.leaked.get(name).copied().unwrap_or(0);
    }
    for pool in targets.pools.values() {
        pool.close().await;
    }

    let runs: Vec<ProfileRun> = scenario
        .profiles
        .iter()
        .map(|p| finish_profile(&scenario, p, accs.remove(&p.name).unwrap_or_default()))
        .collect();
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

    let mut summary = format!(
        "results: {}\nreport:  {}",
        results_path.display(),
        report_path.display()
    );
    let mut code = exit::OK;
    let last = results.runs.last().map_or("", |r| r.profile.as_str());
    for c in results
        .runs
        .last()
        .iter()
        .flat_map(|r| r.criteria.iter())
        .filter(|c| !c.passed)
    {
        summary.push_str(&format!(
            "\ncriterion failed under `{last}`: {}",
            c.criterion
        ));
        if args.criteria == CriteriaMode::Fail {
            code = exit::CRITERIA_FAILED;
        }
    }
    if let (Some(base), Some(path)) = (&baseline, &args.baseline) {
        let cfg = BootstrapConfig {
            confidence: scenario.gate.confidence,
            ..Default::default()
        };
        let names = (
            path.display().to_string(),
            results_path.display().to_string(),
        );
        let cmp = compare::compare_files(
            base,
            &results,
            (&names.0, &names.1),
            &noise,
            &cfg,
            args.gate.force,
        );
        if !cmp.differences.is_empty() && !args.gate.force {
            return Err(Error::Usage(format!(
                "--baseline {}: not comparable with this run ({}); use --force to compare anyway",
                path.display(),
                cmp.differences.join("; ")
            )));
        }
        let cmp_path = args.out.join("comparison.json");
        std::fs::write(
            &cmp_path,
            serde_json::to_string_pretty(&cmp).expect("serializes"),
        )
        .map_err(|e| Error::io(&cmp_path, e))?;
        summary.push_str(&format!("\n\n{}", compare::markdown(&cmp)));
        if cmp.regressions > 0 {
            code = exit::CRITERIA_FAILED;
        }
    }
    Ok(Outcome {
        exit_code: code,
        results_path: Some(results_path),
        report_path: Some(report_path),
        summary,
    })
}

/// Which trials run under which profile, in order. Interleaved: (A,[1]) (B,[1]) (A,[2]) ...;
/// otherwise each profile once with all its trials.
fn schedule(scenario: &Scenario) -> Vec<(&Profile, Vec<u32>)> {
    let n = scenario.load.trials;
    if scenario.load.interleave && scenario.profiles.len() > 1 {
        (1..=n)
            .flat_map(|t| scenario.profiles.iter().map(move |p| (p, vec![t])))
            .collect()
    } else {
        scenario
            .profiles
            .iter()
            .map(|p| (p, (1..=n).collect()))
            .collect()
    }
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

async fn run_block(
    scenario: &Scenario,
    profile: &Profile,
    trials: &[u32],
    targets: &mut Targets,
    acc: &mut ProfileAcc,
    keep: bool,
    host_memory: u64,
) -> Result<()> {
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
    if acc.changes.is_empty() {
        acc.changes = applied.iter().map(|a| a.changes.clone()).collect();
    }

    let measured = match apply_error {
        Some(e) => Err(e),
        None => {
            tokio::select! {
                r = measure_block(scenario, profile, trials, targets, acc) => r,
                _ = tokio::signal::ctrl_c() => Err(Error::target("run", "interrupted; the profile was reverted")),
            }
        }
    };

    for a in applied {
        let tname = a.target.clone();
        if keep {
            acc.revert.push(RevertReport {
                target: tname,
                kept: true,
                settings_restored: Vec::new(),
                indexes_dropped: Vec::new(),
                restarted: false,
                mismatches: Vec::new(),
            });
            continue;
        }
        let target = &scenario.targets[&tname];
        let pool = targets.pools.remove(&tname).expect("connected");
        let (pool, report) = pg::revert_profile(pool, target, a).await?;
        targets.pools.insert(tname, pool);
        if !report.mismatches.is_empty() {
            tracing::warn!(
                "profile {}: revert left differences: {}",
                profile.name,
                report.mismatches.join("; ")
            );
        }
        acc.revert.push(report);
    }
    measured
}

async fn measure_block(
    scenario: &Scenario,
    profile: &Profile,
    trials: &[u32],
    targets: &mut Targets,
    acc: &mut ProfileAcc,
) -> Result<()> {
    // Readiness: the data and every index are really there before anything is measured.
    let mut readiness = Vec::new();
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
        readiness.extend(checks);
    }
    acc.readiness = readiness;

    for workload in &scenario.workloads {
        let target = &scenario.targets[&workload.target];
        let corpus = targets.corpora[&workload.dataset].clone();
        let schema = corpus.spec().schema.clone();
        let admin = targets.pools[&workload.target].clone();
        let evidence = acc.server.entry(workload.target.clone()).or_default();

        // One representative execution per op (once per profile), same parameters under
        // every profile.
        if !acc.query_ids.contains_key(&workload.name) {
            let mut ids = Vec::new();
            for op in &workload.ops {
                let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(
                    name_seed(&workload.name, &op.name),
                );
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
                ids.extend(plan.query_id);
                evidence.plans.push(plan);
            }
            acc.query_ids.insert(workload.name.clone(), ids);
        }

        let wacc = acc
            .workloads
            .entry(workload.name.clone())
            .or_insert_with(|| WorkloadAcc::new(workload.ops.len()));
        let ctx = MeasureCtx {
            scenario,
            profile: &profile.name,
            workload,
            corpus,
            admin: &admin,
            query_ids: &acc.query_ids[&workload.name],
        };
        let leaked = measure_workload(ctx, trials, wacc, evidence).await?;
        *targets.leaked.entry(workload.target.clone()).or_default() += leaked;
    }
    Ok(())
}

fn finish_profile(scenario: &Scenario, profile: &Profile, mut acc: ProfileAcc) -> ProfileRun {
    let workloads: Vec<_> = scenario
        .workloads
        .iter()
        .filter_map(|w| {
            acc.workloads
                .remove(&w.name)
                .map(|a| a.finish(&profile.name, w, &scenario.load))
        })
        .collect();
    ProfileRun {
        profile: profile.name.clone(),
        changes: acc.changes,
        readiness: acc.readiness,
        criteria: criteria::evaluate(scenario, &workloads),
        workloads,
        server: acc.server,
        revert: acc.revert,
    }
}
