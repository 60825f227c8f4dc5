//! Comparisons between profile runs: within one results file (before vs after) or across two
//! files (the CI gate). Each metric's change gets a bootstrap interval over trials and a
//! verdict; renderers and the gate only read what this computes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::gate::{self, Settings, host};
use crate::results::{ProfileRun, Results, WorkloadResult};
use crate::stats::{self, Estimate, Verdict};

pub use crate::gate::NoiseThresholds;

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
    /// Why the verdict is `inconclusive` (how the hosts' conditions differed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub noise_threshold: f64,
    /// History runs the threshold was learned from; absent: the configured threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_runs: Option<usize>,
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
pub fn compare_runs(before: &ProfileRun, after: &ProfileRun, settings: &Settings) -> Vec<DeltaRow> {
    let cfg = &settings.bootstrap;
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
        let host = host::check(b, a, settings.cores);
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
            // Noise is the baseline profile's: that is the configuration the history ran.
            let (threshold, threshold_runs) =
                settings.threshold(&before.profile, &b.target, &b.workload, metric);
            let (verdict, reason) =
                gate::judge(stats::classify(change.as_ref(), threshold, lower), &host);
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
                verdict,
                reason,
                change,
                noise_threshold: threshold,
                threshold_runs,
                lower_is_better: lower,
                trials_before: b.trials,
                trials_after: a.trials,
            });
        }
    }
    rows
}

/// The first profile ("before") against each later one, within one results file.
pub fn before_after(runs: &[ProfileRun], settings: &Settings) -> Vec<DeltaRow> {
    let Some((first, rest)) = runs.split_first() else {
        return Vec::new();
    };
    rest.iter()
        .flat_map(|after| compare_runs(first, after, settings))
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
    /// The configured thresholds (rows say where a learned one replaced them).
    pub noise: NoiseThresholds,
    pub confidence: f64,
    pub rows: Vec<DeltaRow>,
    pub regressions: usize,
    /// Rows beyond the noise under different host conditions: reported, never failing.
    #[serde(default)]
    pub inconclusive: usize,
    /// The host-conditions bound applied (see `gate::host`).
    #[serde(default)]
    pub host_bound: String,
    /// Said once: e.g. a side has no host data (older results file), so hosts were not checked.
    #[serde(default)]
    pub notes: Vec<String>,
    /// With `--history`: what it held and which thresholds were learned.
    #[serde(default)]
    pub history: Option<gate::HistoryReport>,
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
    let mut out = shape_differences(base, cur);
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

/// What makes two runs different experiments: the scenario's name, its datasets' specs, its
/// load shape. The history keeps only runs without any.
pub fn shape_differences(base: &Results, cur: &Results) -> Vec<String> {
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
    out
}

pub fn compare_files(
    base: &Results,
    cur: &Results,
    names: (&str, &str),
    settings: &Settings,
    forced: bool,
) -> FileComparison {
    let pairs = pair_runs(base, cur);
    let rows: Vec<DeltaRow> = pairs
        .iter()
        .flat_map(|(b, c)| compare_runs(b, c, settings))
        .collect();
    let mut notes = Vec::new();
    let unknown = pairs.iter().any(|(b, c)| {
        b.workloads.iter().any(|bw| {
            c.workloads
                .iter()
                .find(|cw| cw.workload == bw.workload && cw.target == bw.target)
                .is_some_and(|cw| host::check(bw, cw, settings.cores) == host::HostCheck::Unknown)
        })
    });
    if unknown {
        notes.push("host conditions not checked: a side has no host load per trial (results written by an older tunebench)".into());
    }
    let (bc, cc) = (base.environment.host.cores, cur.environment.host.cores);
    if bc != cc {
        notes.push(format!(
            "the runs had different core counts ({bc} vs {cc}): host load is judged against the current run's"
        ));
    }
    let count = |v: Verdict| rows.iter().filter(|r| r.verdict == v).count();
    FileComparison {
        baseline: names.0.to_string(),
        current: names.1.to_string(),
        forced,
        differences: differences(base, cur),
        noise: settings.noise.clone(),
        confidence: settings.bootstrap.confidence,
        regressions: count(Verdict::Regressed),
        inconclusive: count(Verdict::Inconclusive),
        host_bound: host::bound(settings.cores),
        notes,
        history: None,
        rows,
    }
}
