//! Comparisons between profile runs: within one results file (before vs after) or across two
//! files (the CI gate). Each metric's change gets a bootstrap interval over trials and a
//! verdict; renderers and the gate only read what this computes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::results::{ProfileRun, Results, WorkloadResult};
use crate::stats::{self, BootstrapConfig, Estimate, Verdict};

/// Relative changes smaller than these (fractions) are treated as noise. Defaults come from
/// ten A/A pairs on a 2-core machine (scripts/calibrate-gate, 5 trials of 1 s): between
/// identical runs medians and throughput moved by up to 4 %, p95 by up to 11 %, and p99 by up
/// to 100 % (its interval's lower end reached +30 %): a handful of slow operations decide a
/// p99, short trials hold few of them, and two separate runs also drift apart. Longer trials
/// narrow the tails' noise; scenarios can set their own thresholds under `[gate]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NoiseThresholds {
    #[serde(default = "d05")]
    pub p50: f64,
    #[serde(default = "d15")]
    pub p95: f64,
    #[serde(default = "d35")]
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
fn d35() -> f64 {
    0.35
}

impl Default for NoiseThresholds {
    fn default() -> Self {
        NoiseThresholds {
            p50: d05(),
            p95: d15(),
            p99: d35(),
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
    /// Relative change of the pooled statistic, with its bootstrap interval over trials
    /// (fractions).
    pub change: Option<Estimate>,
    pub verdict: Verdict,
    pub noise_threshold: f64,
    pub lower_is_better: bool,
    pub trials_before: u32,
    pub trials_after: u32,
}

/// The metrics compared: a latency quantile, or throughput.
#[derive(Clone, Copy)]
enum Stat {
    Quantile(f64),
    Throughput,
}

const METRICS: &[(&str, &str, Stat)] = &[
    ("p50", "ms", Stat::Quantile(0.50)),
    ("p95", "ms", Stat::Quantile(0.95)),
    ("p99", "ms", Stat::Quantile(0.99)),
    ("throughput", "ops/s", Stat::Throughput),
];

/// Per-trial data a statistic is computed from: each trial's recorded latency counts over the
/// side's common sorted bucket values (so pooling trials is a vector sum, not a sort), its
/// completed operations and its wall time.
struct Trials {
    values_us: Vec<u64>,
    counts: Vec<Vec<u64>>,
    ops: Vec<f64>,
    secs: Vec<f64>,
}

impl Trials {
    fn of(w: &WorkloadResult) -> Option<Self> {
        let mut recorded = Vec::new();
        for t in &w.per_trial {
            let h = crate::metrics::decode(&t.histogram).ok()?;
            recorded.push(
                h.iter_recorded()
                    .map(|v| (v.value_iterated_to(), v.count_at_value()))
                    .collect::<Vec<_>>(),
            );
        }
        let mut values_us: Vec<u64> = recorded.iter().flatten().map(|e| e.0).collect();
        values_us.sort_unstable();
        values_us.dedup();
        let counts = recorded
            .iter()
            .map(|r| {
                let mut c = vec![0; values_us.len()];
                for (v, n) in r {
                    c[values_us.binary_search(v).expect("value collected above")] += n;
                }
                c
            })
            .collect();
        Some(Trials {
            values_us,
            counts,
            ops: w.per_trial.iter().map(|t| t.ops as f64).collect(),
            secs: w.per_trial.iter().map(|t| t.duration_s).collect(),
        })
    }

    /// The statistic over the given trials pooled, exactly as the merged result computes it:
    /// a quantile of all their operations together, or their operations over their time.
    fn stat(&self, stat: Stat, idx: &[usize]) -> f64 {
        match stat {
            Stat::Throughput => {
                idx.iter().map(|&i| self.ops[i]).sum::<f64>()
                    / idx.iter().map(|&i| self.secs[i]).sum::<f64>()
            }
            Stat::Quantile(q) => {
                let mut pooled = vec![0u64; self.values_us.len()];
                for &i in idx {
                    pooled
                        .iter_mut()
                        .zip(&self.counts[i])
                        .for_each(|(p, c)| *p += c);
                }
                let total: u64 = pooled.iter().sum();
                // The same rank rule as HdrHistogram's value_at_quantile.
                let rank = ((q * total as f64).ceil() as u64).max(1);
                let mut seen = 0;
                for (value, count) in self.values_us.iter().zip(pooled) {
                    seen += count;
                    if seen >= rank {
                        return *value as f64 / 1000.0;
                    }
                }
                0.0
            }
        }
    }
}

/// Compares two runs of the same workloads, metric by metric. The interval comes from a
/// bootstrap over trials in which each resample pools its trials' operations, so a p99 is
/// estimated from all the operations of the drawn trials, not averaged over trials.
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
        let (tb, ta) = (Trials::of(b), Trials::of(a));
        for (metric, unit, stat) in METRICS {
            let lower = matches!(stat, Stat::Quantile(_));
            let change = match (&tb, &ta) {
                (Some(tb), Some(ta)) => stats::relative_change_by(
                    tb.ops.len(),
                    ta.ops.len(),
                    |idx| tb.stat(*stat, idx),
                    |idx| ta.stat(*stat, idx),
                    cfg,
                ),
                _ => None,
            };
            let threshold = noise.of(metric);
            let pick = |w: &WorkloadResult| match stat {
                Stat::Quantile(_) => match *metric {
                    "p50" => w.latency_ms.p50,
                    "p95" => w.latency_ms.p95,
                    _ => w.latency_ms.p99,
                },
                Stat::Throughput => w.throughput_ops_s,
            };
            rows.push(DeltaRow {
                target: b.target.clone(),
                workload: b.workload.clone(),
                metric: metric.to_string(),
                unit: unit.to_string(),
                before_profile: before.profile.clone(),
                after_profile: after.profile.clone(),
                before: pick(b),
                after: pick(a),
                verdict: stats::classify(change.as_ref(), threshold, lower),
                change,
                noise_threshold: threshold,
                lower_is_better: lower,
                trials_before: b.trials,
                trials_after: a.trials,
            });
        }
    }
    rows
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
