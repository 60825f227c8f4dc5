//! `tunebench run`: datasets, then blocks of (profile, trials): apply -> readiness -> plans ->
//! warm-up -> measured trials -> revert. With `load.interleave`, trials alternate between
//! profiles (A B A B ...) so drift hits each alike. Then results.json, report.md and, with
//! `--baseline`, the gate.

mod block;
mod checks;
mod criteria;
mod journals;
mod measure;
mod rendezvous;
mod session;
pub mod shard;

pub use checks::check;
pub use criteria::evaluate_list as evaluate_criteria;
pub use journals::revert_command;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::Utc;

use crate::cli::{CriteriaMode, ReportFormat, RunArgs};
use crate::error::{Error, Result, exit};
use crate::results::{
    DatasetReport, Environment, ProfileRun, ReadinessCheck, Results, RevertReport, SCHEMA_VERSION,
    TargetChanges,
};
use crate::scenario::{self, Profile, Scenario};
use crate::{Outcome, host, report};
use measure::WorkloadAcc;
use session::Connected;

/// What one profile collected over all its blocks.
#[derive(Default)]
struct ProfileAcc {
    /// With `--workers`: the profile's run merged from the worker shards' parts.
    sharded: Option<ProfileRun>,
    changes: Vec<TargetChanges>,
    readiness: Vec<ReadinessCheck>,
    explained: std::collections::BTreeSet<String>,
    workloads: BTreeMap<String, WorkloadAcc>,
    checks: Vec<crate::results::CheckResult>,
    drills: Vec<crate::results::DrillReport>,
    revert: Vec<RevertReport>,
}

/// The connected targets (with their prepared datasets), and with `--workers` how their
/// load is generated and what the merges said.
struct Stack {
    stores: BTreeMap<String, Box<dyn Connected>>,
    leaked: BTreeMap<String, u32>,
    coordination: Option<shard::Coordination>,
    merged: Vec<crate::results::MergedFrom>,
    /// Where drills keep their backup files (the run's `--out`/drills).
    drill_dir: std::path::PathBuf,
}

impl Stack {
    fn new() -> Self {
        Stack {
            stores: BTreeMap::new(),
            leaked: BTreeMap::new(),
            coordination: None,
            merged: Vec::new(),
            drill_dir: std::path::PathBuf::from("drills"),
        }
    }

    /// Connects to every target of the scenario, once; their environments, by name.
    async fn connect(
        &mut self,
        scenario: &Scenario,
    ) -> Result<BTreeMap<String, crate::results::TargetEnv>> {
        let mut envs = BTreeMap::new();
        for (name, t) in &scenario.targets {
            let store = session::open(t, scenario).await?;
            envs.insert(name.clone(), store.environment().await?);
            self.stores.insert(name.clone(), store);
        }
        Ok(envs)
    }
}

pub async fn run(args: RunArgs) -> Result<Outcome> {
    let mut scenario = scenario::load(&args.scenario)?;
    scenario.apply_overrides(&args.load.scenario(args.profiles.clone()))?;
    // Every input and output is checked before the long run starts.
    if let Some(t) = &args.template {
        report::check_template(t)?;
    }
    // Checked now so a bad --noise or --history fails before the long run, not after it.
    let gate_options = args.gate.options()?;
    if let Some(n) = args.workers
        && let Some(why) = shard::refuse_split(&scenario.load, n)
    {
        return Err(Error::Usage(format!(
            "--workers {n}: {}: {why}",
            args.scenario.display()
        )));
    }
    if args.gate_profiles && scenario.profiles.len() < 2 {
        return Err(Error::Usage(format!(
            "--gate-profiles: {} runs {} profile(s); the gate needs two (the first is the baseline, the last is judged against it)",
            args.scenario.display(),
            scenario.profiles.len()
        )));
    }
    let baseline = args.baseline.as_deref().map(Results::read).transpose()?;
    check_writable(&args.out)?;
    journals::refuse_leftovers(&scenario)?;

    enum Ended {
        Done(Result<Outcome>),
        Interrupted,
    }
    // The run is dropped at an interrupt (its connections with it); what it applied is then
    // reverted from the journal. A second interrupt exits at once, leaving the journal.
    let ended = tokio::select! {
        r = run_scenario(&args, &scenario, &gate_options, baseline.as_ref()) => Ended::Done(r),
        _ = interrupt() => Ended::Interrupted,
    };
    match ended {
        Ended::Done(r) => r,
        Ended::Interrupted => {
            tokio::spawn(async {
                interrupt().await;
                eprintln!(
                    "tunebench: interrupted again: exiting now; the journal is left, `tunebench revert` restores it"
                );
                std::process::exit(130);
            });
            eprintln!(
                "tunebench: interrupted: reverting what this run applied (interrupt again to exit at once)"
            );
            // A goose attack runs on its own tasks: its users stop before anything is reverted.
            crate::backend::http::attack::stop_running(std::time::Duration::from_secs(10)).await;
            let what = journals::revert_after_interrupt(&scenario).await;
            let what = match drill_leftovers_after_interrupt(&scenario).await {
                Some(d) => format!("{what}; {d}"),
                None => what,
            };
            Err(Error::target(
                "run",
                format!("interrupted (SIGINT/SIGTERM); {what}"),
            ))
        }
    }
}

/// After an interrupt dropped a drill mid-way: the scratch objects this process made on the
/// drills' targets (databases, collections, labels, buckets, a PITR scratch server and its
/// writer schema) are removed. None when the scenario has no drill.
async fn drill_leftovers_after_interrupt(scenario: &Scenario) -> Option<String> {
    let targets: std::collections::BTreeSet<&str> =
        scenario.drills.iter().map(|d| d.target.as_str()).collect();
    if targets.is_empty() {
        return None;
    }
    let mut unreachable = Vec::new();
    for name in targets {
        let t = &scenario.targets[name];
        match session::open(t, scenario).await {
            Ok(store) => {
                store.drill_leftovers(true).await;
                store.close().await;
            }
            Err(e) => unreachable.push(format!("{name} ({e})")),
        }
    }
    Some(if unreachable.is_empty() {
        "scratch objects of the interrupted drills removed".into()
    } else {
        format!(
            "scratch objects of the interrupted drills could not be removed on {}: the next drill there removes them",
            unreachable.join(", ")
        )
    })
}

/// SIGINT (Ctrl-C) or SIGTERM. Never completes when the handlers cannot be installed.
async fn interrupt() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

async fn run_scenario(
    args: &RunArgs,
    scenario: &Scenario,
    gate_options: &crate::comparison::GateOptions,
    baseline: Option<&Results>,
) -> Result<Outcome> {
    let started_at = Utc::now();
    let host = host::host();
    let mut stack = Stack::new();
    stack.drill_dir = args.out.join("drills");
    if let Some(n) = args.workers {
        // Checked before any data is loaded: the rendezvous must be the run's own.
        let rendezvous = match &args.rendezvous {
            Some(r) => {
                let rdv = rendezvous::Rendezvous::parse(r, "--rendezvous")?;
                rdv.refuse_used().await?;
                Some(rdv)
            }
            None => None,
        };
        stack.coordination = Some(shard::Coordination {
            workers: n,
            rendezvous,
            block: std::sync::atomic::AtomicU32::new(0),
            dir: args.out.join("shards"),
            overrides: args.load.flags(),
        });
    }
    let mut envs = stack.connect(scenario).await?;
    journals::refuse_server_leftovers(scenario, &stack.stores).await?;
    if let Some(n) = args.workers
        && let Some(why) = stack.stores.values().find_map(|s| s.refuse_shards())
    {
        return Err(Error::Usage(format!("--workers {n}: {why}")));
    }

    let mut datasets: Vec<DatasetReport> = Vec::new();
    for (name, ds) in &scenario.datasets {
        tracing::info!("dataset {name}: preparing {}", ds.spec.namespace());
        let store = stack.stores.get_mut(&ds.target).expect("validated target");
        let report = store.prepare(ds).await?;
        if let Some(rps) = report.load_rows_per_s {
            tracing::info!(
                "dataset {name}: loaded in {:.1} s ({rps:.0} rows/s)",
                report.load_seconds.unwrap_or(0.0)
            );
        }
        datasets.push(report);
    }

    for store in stack.stores.values_mut() {
        store.adopt()?;
    }

    let blocks = schedule(scenario, stack.coordination.is_none());
    let mut accs: BTreeMap<String, ProfileAcc> = BTreeMap::new();
    let mut failed: Option<Error> = None;
    for (i, (profile, trials)) in blocks.iter().enumerate() {
        let keep = args.keep_profile && i + 1 == blocks.len();
        tracing::info!("profile {}: applying (trials {:?})", profile.name, trials);
        let acc = accs.entry(profile.name.clone()).or_default();
        if let Err(e) = block::run_block(
            scenario,
            profile,
            trials,
            &mut stack,
            acc,
            keep,
            host.memory_bytes,
        )
        .await
        {
            failed = Some(e);
            break;
        }
    }
    // Remote workers stop waiting for plans, whether the run succeeded or not.
    if let Some(rdv) = stack
        .coordination
        .as_ref()
        .and_then(|c| c.rendezvous.as_ref())
        && let Err(e) = rdv.finish().await
    {
        tracing::warn!("could not tell the workers the run is done: {e}");
    }
    // A failed run keeps what it measured: workloads with completed trials, and the profiles
    // that have one. Nothing measured: the error alone.
    if let Some(e) = failed.take() {
        for acc in accs.values_mut() {
            acc.workloads.retain(|_, w| w.measured());
        }
        accs.retain(|_, a| !a.workloads.is_empty());
        if accs.is_empty() {
            return Err(e);
        }
        failed = Some(e);
    }

    for (name, env) in envs.iter_mut() {
        env.pool.leaked_connections = stack.leaked.get(name).copied().unwrap_or(0);
    }
    for store in stack.stores.values() {
        store.close().await;
    }

    let measured: Vec<String> = accs.keys().cloned().collect();
    let runs: Vec<ProfileRun> = scenario
        .profiles
        .iter()
        .filter(|p| failed.is_none() || measured.contains(&p.name))
        .map(|p| {
            let server = stack
                .stores
                .iter_mut()
                .filter_map(|(name, s)| s.take_evidence(&p.name).map(|e| (name.clone(), e)))
                .collect();
            block::finish_profile(
                scenario,
                p,
                accs.remove(&p.name).unwrap_or_default(),
                server,
            )
        })
        .collect();
    let results = Results {
        schema_version: SCHEMA_VERSION,
        tool: host::tool(),
        started_at,
        finished_at: Utc::now(),
        scenario: crate::results::RunConfig::of(scenario)?,
        environment: Environment {
            host,
            targets: envs,
        },
        datasets,
        runs,
        incomplete: failed.as_ref().map(ToString::to_string),
        shard: None,
        merged: merged_from(
            stack.coordination.as_ref(),
            std::mem::take(&mut stack.merged),
        ),
    };
    let results_path = args.out.join("results.json");
    results.write(&results_path)?;
    let report_path = args.out.join("report.md");
    let html_path = args.out.join(ReportFormat::Html.file_name());
    let mut outputs = vec![(ReportFormat::Md, report_path.as_path())];
    if args.format == ReportFormat::Html {
        outputs.push((ReportFormat::Html, html_path.as_path()));
    }
    report::write(&results, args.template.as_deref(), &outputs)?;
    if let Some(e) = failed {
        // The exit code stays the failure's; what was measured is on disk, marked incomplete.
        eprintln!(
            "tunebench: the run failed; partial results (marked incomplete): {}",
            results_path.display()
        );
        return Err(e);
    }

    let mut summary = format!(
        "results: {}\nreport:  {}",
        results_path.display(),
        report_path.display()
    );
    if args.format == ReportFormat::Html {
        summary.push_str(&format!("\nhtml:    {}", html_path.display()));
    }
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
    // A drill that failed under any profile is a recovery that did not work.
    for d in results
        .runs
        .iter()
        .flat_map(|r| r.drills.iter())
        .filter(|d| !d.passed())
    {
        let why = match &d.failure {
            Some(f) => f.clone(),
            None => format!(
                "the restored copy differs from the source: {}",
                d.integrity.differences.join("; ")
            ),
        };
        summary.push_str(&format!(
            "\ndrill failed under `{}` (trial {}): {}: {why}",
            d.profile, d.trial, d.drill
        ));
        if args.criteria == CriteriaMode::Fail {
            code = exit::CRITERIA_FAILED;
        }
    }
    for c in results.runs.last().iter().flat_map(|r| r.checks.iter()) {
        match c.status {
            crate::results::CheckStatus::Pass => {}
            crate::results::CheckStatus::Fail => {
                summary.push_str(&format!(
                    "\ncheck failed under `{last}`: {} ({})",
                    c.check, c.actual
                ));
                if args.criteria == CriteriaMode::Fail {
                    code = exit::CRITERIA_FAILED;
                }
            }
            crate::results::CheckStatus::NotEvaluated => summary.push_str(&format!(
                "\ncheck not evaluated under `{last}`: {} ({})",
                c.check, c.actual
            )),
        }
    }
    if results
        .runs
        .iter()
        .any(|r| r.revert.iter().any(|rv| rv.kept))
    {
        summary.push_str(&format!(
            "\nprofile `{last}` left applied (--keep-profile); `tunebench revert {}` restores it",
            scenario.path.display()
        ));
    }
    // The gates asked for: against an earlier run (--baseline), and within this one.
    let mut gates = Vec::new();
    if let (Some(base), Some(path)) = (&baseline, &args.baseline) {
        gates.push(
            crate::comparison::compare_and_gate(
                (base, path),
                (&results, &results_path),
                None,
                &scenario.gate,
                gate_options,
                &args.out.join("comparison.json"),
            )
            .await?,
        );
    }
    if args.gate_profiles {
        gates.push(
            crate::comparison::gate_profiles(
                &results,
                &results_path,
                &scenario.gate,
                gate_options,
                &args.out.join("comparison-profiles.json"),
            )
            .await?,
        );
    }
    for gate in gates {
        summary.push_str(&format!("\n\n{}", gate.markdown));
        if gate.exit_code != exit::OK {
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

/// What the profiles' merges say, together.
fn merged_from(
    c: Option<&shard::Coordination>,
    each: Vec<crate::results::MergedFrom>,
) -> Option<crate::results::MergedFrom> {
    let c = c?;
    let mut notes: Vec<String> = each.iter().flat_map(|m| m.notes.clone()).collect();
    notes.sort();
    notes.dedup();
    Some(crate::results::MergedFrom {
        shards: c.workers,
        start_spread_ms: each.iter().map(|m| m.start_spread_ms).fold(0.0, f64::max),
        notes,
    })
}

/// Which trials run under which profile, in order. Interleaved: (A,[1]) (B,[1]) (A,[2]) ...;
/// otherwise each profile once with all its trials.
fn schedule(scenario: &Scenario, interleave: bool) -> Vec<(&Profile, Vec<u32>)> {
    let n = scenario.load.trials;
    if interleave && scenario.load.interleave && scenario.profiles.len() > 1 {
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
