//! Before/after deltas between profile runs of one results file. Renderers only display what
//! this computes.

use serde::Serialize;

use crate::results::{ProfileRun, WorkloadResult};

#[derive(Debug, Clone, Serialize)]
pub struct DeltaRow {
    pub target: String,
    pub workload: String,
    pub metric: String,
    pub unit: String,
    pub before_profile: String,
    pub after_profile: String,
    pub before: f64,
    pub after: f64,
    /// (after - before) / before, in percent.
    pub change_pct: Option<f64>,
    /// True when lower values are better (latency), false for throughput.
    pub lower_is_better: bool,
    /// Trials behind each side; a significance verdict needs repeated trials.
    pub trials_before: u32,
    pub trials_after: u32,
}

/// Rows comparing the first profile ("before") with each later one, per workload and metric.
pub fn before_after(runs: &[ProfileRun]) -> Vec<DeltaRow> {
    let Some((first, rest)) = runs.split_first() else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for after in rest {
        for b in &first.workloads {
            let Some(a) = after
                .workloads
                .iter()
                .find(|w| w.workload == b.workload && w.target == b.target)
            else {
                continue;
            };
            for (metric, unit, lower, get) in METRICS {
                let (vb, va) = (get(b), get(a));
                rows.push(DeltaRow {
                    target: b.target.clone(),
                    workload: b.workload.clone(),
                    metric: metric.to_string(),
                    unit: unit.to_string(),
                    before_profile: first.profile.clone(),
                    after_profile: after.profile.clone(),
                    before: vb,
                    after: va,
                    change_pct: (vb != 0.0).then(|| (va - vb) / vb * 100.0),
                    lower_is_better: *lower,
                    trials_before: b.trials,
                    trials_after: a.trials,
                });
            }
        }
    }
    rows
}

type Getter = fn(&WorkloadResult) -> f64;

const METRICS: &[(&str, &str, bool, Getter)] = &[
    ("p50", "ms", true, |w| w.latency_ms.p50),
    ("p95", "ms", true, |w| w.latency_ms.p95),
    ("p99", "ms", true, |w| w.latency_ms.p99),
    ("throughput", "ops/s", false, |w| w.throughput_ops_s),
];
