//! Comparisons between profile runs: within one results file (before vs after) or across two
//! files (the CI gate). Each metric's change gets a bootstrap interval over trials and a
//! verdict; renderers and the gate only read what this computes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::results::{ProfileRun, Results, WorkloadResult};
use crate::stats::{self, BootstrapConfig, Estimate, Verdict};

/// Relative changes smaller than these (fractions) are treated as noise. Defaults come from
/// A/A runs on a 2-core machine (scripts/calibrate-gate, 5 trials of 1 s): medians and
/// throughput of identical runs moved up to about 5 %, p95 up to about 12 %, and p99 by up to
/// 20-60 %, because a handful of slow operations decide it and short trials hold few of them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NoiseThresholds {
    #[serde(default = "d05")]
    pub p50: f64,
    #[serde(default = "d15")]
    pub p95: f64,
    #[serde(default = "d25")]
    pub p99: f64,
    #[serde(default = "d05")]
    pub throughput: f64,
}

fn d05() -> f64 {
    0.05
}
fn d15() -> f64 {
    0.15
}
fn d25() -> f64 {
    0.25
}

impl Default for NoiseThresholds {
    fn default() -> Self {
        NoiseThresholds {
            p50: d05(),
            p95: d15(),
            p99: d25(),
            throughput: d05(),
        }
    }
}

impl NoiseThresholds {
    /// Applies every `METRIC=FRACTION`.
    pub fn set_all(&mut self, specs: &[String]) -> Result<(), String> {
        specs.iter().try_for_each(|s| self.set(s))
    }

    /// Applies `METRIC=FRACTION` (e.g. `p99=0.2`).
    pub fn set(&mut self, spec: &str) -> Result<(), String> {
        let (metric, value) = spec
            .split_once('=')
            .ok_or_else(|| format!("`{spec}`: write METRIC=FRACTION, e.g. p99=0.15"))?;
        let v: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| (0.0..1.0).contains(v))
            .ok_or_else(|| {
                format!("`{spec}`: the threshold is a fraction between 0 and 1, e.g. 0.1 for 10 %")
            })?;
        match metric.trim() {
            "p50" => self.p50 = v,
            "p95" => self.p95 = v,
            "p99" => self.p99 = v,
            "throughput" => self.throughput = v,
            m => {
                return Err(format!(
                    "`{m}`: noise thresholds exist for p50, p95, p99 and throughput"
                ));
            }
        }
        Ok(())
    }

    fn of(&self, metric: &str) -> f64 {
        match metric {
            "p50" => self.p50,
            "p95" => self.p95,
            "p99" => self.p99,
            _ => self.throughput,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeltaRow {
    pub target: String,
    pub workload: String,
    pub metric: String,
    pub unit: String,
    pub before_profile: String,
    pub after_profile: String,
    /// Values over all trials merged (percentiles from the merged histogram).
    pub before: f64,
    pub after: f64,
    /// Relative change of the per-trial mean, with its bootstrap interval (fractions).
    pub change: Option<Estimate>,
    pub verdict: Verdict,
    pub noise_threshold: f64,
    pub lower_is_better: bool,
    pub trials_before: u32,
    pub trials_after: u32,
}

type Getter = fn(&crate::metrics::LatencySummary, f64) -> f64;

const METRICS: &[(&str, &str, bool, Getter)] = &[
    ("p50", "ms", true, |l, _| l.p50),
    ("p95", "ms", true, |l, _| l.p95),
    ("p99", "ms", true, |l, _| l.p99),
    ("throughput", "ops/s", false, |_, t| t),
];

/// Compares two runs of the same workloads, metric by metric.
pub fn compare_runs(
    before: &ProfileRun,
    after: &ProfileRun,
    noise: &NoiseThresholds,
    cfg: &BootstrapConfig,
) -> Vec<DeltaRow> {
    let mut rows = Vec::new();
    for b in &before.workloads {
        let Some(a) = after
            .workloads
            .iter()
            .find(|w| w.workload == b.workload && w.target == b.target)
        else {
            continue;
        };
        for (metric, unit, lower, get) in METRICS {
            rows.push(row(
                b,
                a,
                metric,
                unit,
                *lower,
                *get,
                &before.profile,
                &after.profile,
                noise,
                cfg,
            ));
        }
    }
    rows
}

#[allow(clippy::too_many_arguments)]
fn row(
    b: &WorkloadResult,
    a: &WorkloadResult,
    metric: &str,
    unit: &str,
    lower: bool,
    get: Getter,
    before_profile: &str,
    after_profile: &str,
    noise: &NoiseThresholds,
    cfg: &BootstrapConfig,
) -> DeltaRow {
    let trials = |w: &WorkloadResult| -> Vec<f64> {
        w.per_trial
            .iter()
            .map(|t| get(&t.latency_ms, t.throughput_ops_s))
            .collect()
    };
    let change = stats::relative_change(&trials(b), &trials(a), cfg);
    let threshold = noise.of(metric);
    DeltaRow {
        target: b.target.clone(),
        workload: b.workload.clone(),
        metric: metric.to_string(),
        unit: unit.to_string(),
        before_profile: before_profile.to_string(),
        after_profile: after_profile.to_string(),
        before: get(&b.latency_ms, b.throughput_ops_s),
        after: get(&a.latency_ms, a.throughput_ops_s),
        verdict: stats::classify(change.as_ref(), threshold, lower),
        change,
        noise_threshold: threshold,
        lower_is_better: lower,
        trials_before: b.trials,
        trials_after: a.trials,
    }
}

/// The first profile ("before") against each later one, within one results file.
pub fn before_after(
    runs: &[ProfileRun],
    noise: &NoiseThresholds,
    cfg: &BootstrapConfig,
) -> Vec<DeltaRow> {
    let Some((first, rest)) = runs.split_first() else {
        return Vec::new();
    };
    rest.iter()
        .flat_map(|after| compare_runs(first, after, noise, cfg))
        .collect()
}

/// Two results files compared for the gate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileComparison {
    pub baseline: String,
    pub current: String,
    pub forced: bool,
    /// What differs between the runs (empty when they are comparable).
    pub differences: Vec<String>,
    pub noise: NoiseThresholds,
    pub confidence: f64,
    pub rows: Vec<DeltaRow>,
    pub regressions: usize,
}

/// Pairs the runs of two files: a single profile on each side is compared whatever their
/// names (that is how a tuning change itself is gated); otherwise profiles pair by name.
pub fn pair_runs<'a>(base: &'a Results, cur: &'a Results) -> Vec<(&'a ProfileRun, &'a ProfileRun)> {
    if base.runs.len() == 1 && cur.runs.len() == 1 {
        return vec![(&base.runs[0], &cur.runs[0])];
    }
    base.runs
        .iter()
        .filter_map(|b| {
            cur.runs
                .iter()
                .find(|c| c.profile == b.profile)
                .map(|c| (b, c))
        })
        .collect()
}

/// Why two results files should not be compared: a different scenario, dataset or load shape,
/// or errors during the runs.
pub fn differences(base: &Results, cur: &Results) -> Vec<String> {
    let mut out = Vec::new();
    let name = |r: &Results| r.scenario["name"].as_str().unwrap_or("").to_string();
    if name(base) != name(cur) {
        out.push(format!("scenario: `{}` vs `{}`", name(base), name(cur)));
    }
    let hashes = |r: &Results| -> BTreeMap<String, String> {
        r.datasets
            .iter()
            .map(|d| (d.name.clone(), d.spec_hash.clone()))
            .collect()
    };
    if hashes(base) != hashes(cur) {
        out.push(format!(
            "dataset specs: {:?} vs {:?}",
            hashes(base),
            hashes(cur)
        ));
    }
    for field in [
        "mode",
        "concurrency",
        "rate",
        "max_in_flight",
        "duration",
        "warmup",
        "op_timeout",
    ] {
        let (b, c) = (&base.scenario["load"][field], &cur.scenario["load"][field]);
        if b != c {
            out.push(format!("load.{field}: {b} vs {c}"));
        }
    }
    for (label, r) in [("baseline", base), ("current", cur)] {
        for run in &r.runs {
            for w in run.workloads.iter().filter(|w| w.errors > 0) {
                out.push(format!(
                    "{label} {}/{} had {} errors",
                    run.profile, w.workload, w.errors
                ));
            }
        }
    }
    if pair_runs(base, cur).is_empty() {
        out.push("no profile of the baseline pairs with one of the current run (names differ and a side has several)".into());
    }
    out
}

pub fn compare_files(
    base: &Results,
    cur: &Results,
    names: (&str, &str),
    noise: &NoiseThresholds,
    cfg: &BootstrapConfig,
    forced: bool,
) -> FileComparison {
    let rows: Vec<DeltaRow> = pair_runs(base, cur)
        .into_iter()
        .flat_map(|(b, c)| compare_runs(b, c, noise, cfg))
        .collect();
    FileComparison {
        baseline: names.0.to_string(),
        current: names.1.to_string(),
        forced,
        differences: differences(base, cur),
        noise: noise.clone(),
        confidence: cfg.confidence,
        regressions: rows
            .iter()
            .filter(|r| r.verdict == Verdict::Regressed)
            .count(),
        rows,
    }
}

/// The gate: compares `cur` against `base` with the current run's `[gate]` settings and the
/// command line's overrides, refusing (exit 2) runs that are not comparable unless forced.
pub fn gate(
    base: (&Results, &std::path::Path),
    cur: (&Results, &std::path::Path),
    gate: &crate::scenario::GateSpec,
    args: &crate::cli::GateArgs,
) -> crate::error::Result<FileComparison> {
    let mut noise = gate.noise.clone();
    noise
        .set_all(&args.noise)
        .map_err(|e| crate::error::Error::Usage(format!("--noise {e}")))?;
    let cfg = BootstrapConfig {
        confidence: gate.confidence,
        ..Default::default()
    };
    let names = (base.1.display().to_string(), cur.1.display().to_string());
    let cmp = compare_files(
        base.0,
        cur.0,
        (&names.0, &names.1),
        &noise,
        &cfg,
        args.force,
    );
    if !cmp.differences.is_empty() && !args.force {
        let issue = |msg: String| crate::error::InputIssue::new(cur.1, "", msg);
        return Err(crate::error::Error::Input(
            cmp.differences
                .iter()
                .map(|d| issue(format!("not comparable with {}: {d}", names.0)))
                .chain(std::iter::once(issue(
                    "use --force to compare anyway".into(),
                )))
                .collect(),
        ));
    }
    Ok(cmp)
}

/// The comparison as a markdown table, for a terminal or a pull-request comment.
pub fn markdown(c: &FileComparison) -> String {
    let mut s = format!("### tunebench: `{}` vs `{}`\n\n", c.baseline, c.current);
    if c.forced && !c.differences.is_empty() {
        s.push_str(&format!(
            "Compared with --force despite: {}.\n\n",
            c.differences.join("; ")
        ));
    }
    s.push_str("| Workload | Metric | Baseline | Current | Change (95 % CI) | Noise | Verdict |\n|---|---|---:|---:|---:|---:|---|\n");
    for r in &c.rows {
        s.push_str(&format!(
            "| {} | {} | {:.2} {} | {:.2} {} | {} | ±{:.0} % | {} |\n",
            r.workload,
            r.metric,
            r.before,
            r.unit,
            r.after,
            r.unit,
            change_text(r.change.as_ref()),
            r.noise_threshold * 100.0,
            verdict_text(r.verdict)
        ));
    }
    s.push_str(&format!(
        "\n{} regression(s). A change counts only when its whole {:.0} % interval (bootstrap over trials) lies beyond the noise threshold.\n",
        c.regressions,
        c.confidence * 100.0
    ));
    s
}

pub fn change_text(e: Option<&Estimate>) -> String {
    match e {
        Some(e) => format!(
            "{:+.1} % [{:+.1}, {:+.1}]",
            e.point * 100.0,
            e.lower * 100.0,
            e.upper * 100.0
        ),
        None => "n/a".into(),
    }
}

fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Regressed => "**regressed**",
        other => other.label(),
    }
}
