//! Comparisons between profile runs: within one results file (before vs after) or across two
//! files (the CI gate). Each metric's change gets a bootstrap interval over trials and a
//! verdict (thresholds and host rules from `gate`); renderers only read what this computes.

mod files;
#[cfg(test)]
pub(crate) mod testkit;
mod trials;

use serde::{Deserialize, Serialize};

use crate::gate::{self, Settings, host};
use crate::results::{ProfileRun, WorkloadResult};
use crate::stats::{self, Estimate, Verdict};
use trials::{Stat, Trials};

pub use files::{
    FileComparison, compare_files, confirm, differences, pair_runs, shape_differences,
};

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

const METRICS: &[(&str, &str, Stat)] = &[
    ("p50", "ms", Stat::Quantile(0.50)),
    ("p95", "ms", Stat::Quantile(0.95)),
    ("p99", "ms", Stat::Quantile(0.99)),
    ("throughput", "ops/s", Stat::Throughput),
];

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
        let (side_b, side_a) = (host_side(b), host_side(a));
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
            // A threshold learned from enough runs under this load already holds the drift
            // between loaded runs; only a difference between the two sides still makes it
            // doubtful.
            // Interleaved profiles of one run shared the host's slowdowns trial by trial.
            let host = match threshold_runs {
                _ if settings.interleaved => host::check_relative(side_b, side_a),
                Some(runs) => host::check_learned(side_b, side_a, runs),
                None => host::check(side_b, side_a),
            };
            let (verdict, reason) = gate::judge(
                stats::classify(change.as_ref(), threshold, lower),
                &host,
                settings.host_check,
            );
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

/// One side's host conditions over its trials.
pub(crate) fn host_side(w: &WorkloadResult) -> Option<crate::host::HostLoad> {
    host::summary(w.per_trial.iter().map(|t| t.host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::testkit;

    fn settings() -> Settings {
        Settings::configured(Default::default(), Default::default(), 2)
    }

    fn rows(before_ms: f64, after_ms: f64, trials: u32) -> Vec<DeltaRow> {
        let b = testkit::results(before_ms, trials, None);
        let a = testkit::results(after_ms, trials, None);
        compare_runs(&b.runs[0], &a.runs[0], &settings())
    }

    fn row<'a>(rows: &'a [DeltaRow], metric: &str) -> &'a DeltaRow {
        rows.iter().find(|r| r.metric == metric).unwrap()
    }

    #[test]
    fn every_metric_gets_a_row_with_the_merged_figures_and_its_interval() {
        let r = rows(1.0, 1.5, 3);
        let metrics: Vec<&str> = r.iter().map(|r| r.metric.as_str()).collect();
        assert_eq!(metrics, ["p50", "p95", "p99", "throughput"]);
        let p50 = row(&r, "p50");
        assert_eq!((p50.unit.as_str(), p50.lower_is_better), ("ms", true));
        assert!(
            (p50.before - 1.0).abs() < 0.02 && (p50.after - 1.5).abs() < 0.03,
            "{p50:?}"
        );
        let e = p50.change.unwrap();
        // +50 % with trials 0.4 % apart: a narrow interval around it, past any threshold.
        assert!((e.point - 0.5).abs() < 0.02, "{e:?}");
        assert!(
            e.lower <= e.point && e.point <= e.upper && e.upper - e.lower < 0.05,
            "{e:?}"
        );
        assert_eq!(
            (p50.verdict, p50.noise_threshold),
            (Verdict::Regressed, 0.05)
        );
        assert_eq!((p50.trials_before, p50.trials_after), (3, 3));
        assert_eq!(p50.threshold_runs, None);
        // Same throughput (2,000 ops per 1 s trial): no change, and higher is better.
        let tp = row(&r, "throughput");
        assert_eq!((tp.unit.as_str(), tp.lower_is_better), ("ops/s", false));
        assert_eq!((tp.before, tp.after), (2000.0, 2000.0));
        assert_eq!(tp.verdict, Verdict::NoSignificantChange);
    }

    #[test]
    fn faster_is_improved_same_is_no_change_one_trial_is_not_assessed() {
        assert_eq!(row(&rows(1.5, 1.0, 3), "p50").verdict, Verdict::Improved);
        // -33 % is within p99's 35 % noise.
        assert_eq!(
            row(&rows(1.5, 1.0, 3), "p99").verdict,
            Verdict::NoSignificantChange
        );
        assert_eq!(
            row(&rows(1.0, 1.01, 3), "p50").verdict,
            Verdict::NoSignificantChange
        );
        let one = rows(1.0, 2.0, 1);
        assert_eq!(row(&one, "p50").verdict, Verdict::NotAssessed);
        assert!(row(&one, "p50").change.is_none());
    }

    #[test]
    fn before_after_compares_the_first_profile_with_each_later_one() {
        let mut r = testkit::results(1.0, 3, None);
        let mut tuned = r.runs[0].clone();
        tuned.profile = "tuned".into();
        let mut other = r.runs[0].clone();
        other.profile = "other".into();
        other.workloads[0].workload = "not_in_baseline".into();
        r.runs.extend([tuned, other]);
        let d = before_after(&r.runs, &settings());
        // The workload missing from `other` is skipped, not compared with something else.
        assert_eq!(d.len(), 4, "{d:?}");
        assert!(
            d.iter()
                .all(|r| r.before_profile == "baseline" && r.after_profile == "tuned")
        );
        assert!(before_after(&r.runs[..1], &settings()).is_empty());
        assert!(before_after(&[], &settings()).is_empty());
    }
}
