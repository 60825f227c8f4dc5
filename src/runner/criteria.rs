//! Acceptance criteria evaluated on one profile's merged results.

use std::collections::BTreeMap;

use crate::results::{CriterionResult, DrillReport, Evidence, WorkloadResult};
use crate::scenario::{Criterion, Metric, Scenario};

pub fn evaluate(
    scenario: &Scenario,
    workloads: &[WorkloadResult],
    server: &BTreeMap<String, Evidence>,
    drills: &[DrillReport],
) -> Vec<CriterionResult> {
    evaluate_list(&scenario.criteria, workloads, server, drills)
}

/// The same for a list of criteria (a merge reads them back from the results file).
pub fn evaluate_list(
    criteria: &[Criterion],
    workloads: &[WorkloadResult],
    server: &BTreeMap<String, Evidence>,
    drills: &[DrillReport],
) -> Vec<CriterionResult> {
    criteria
        .iter()
        .map(|c| {
            let w = workloads.iter().find(|w| w.workload == c.workload);
            let value = if c.metric.is_drill() {
                drill_value(drills, &c.workload, c.metric)
            } else {
                w.and_then(|w| {
                    if c.metric.is_window() {
                        return worst_window(w, c.metric);
                    }
                    let (lat, ops, errors, tput, recall, tolerant, bytes) = match &c.op {
                        Some(op) => {
                            let o = w.operations.iter().find(|o| &o.op == op)?;
                            (
                                o.latency_ms,
                                o.ops,
                                o.errors,
                                o.throughput_ops_s,
                                o.recall_at_k,
                                o.recall_at_k_tolerant,
                                o.bytes_per_s,
                            )
                        }
                        None => (
                            w.latency_ms,
                            w.ops,
                            w.errors,
                            w.throughput_ops_s,
                            w.recall_at_k,
                            w.recall_at_k_tolerant,
                            w.bytes_per_s,
                        ),
                    };
                    // A latency of nothing is not a pass.
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
                        // No recall measured (not a vector workload, or no queries) is no pass.
                        Metric::RecallAtK => recall?,
                        Metric::RecallAtKTolerant => tolerant?,
                        // No bytes moved is no value, so `> N MB/s` fails rather than passes.
                        Metric::BytesPerS => bytes? / 1e6,
                        // Not measured by this store (or not for this profile) is no pass.
                        Metric::IndexVectorsPerS => server.get(&w.target)?.index_vectors_per_s()?,
                        // Read above, from the windows.
                        Metric::P50WindowMax
                        | Metric::P95WindowMax
                        | Metric::P99WindowMax
                        | Metric::MaxWindowMax
                        | Metric::ThroughputWindowMin
                        | Metric::ErrorRateWindowMax => return None,
                        // Read above, from the drills.
                        Metric::BackupTime
                        | Metric::BackupBytes
                        | Metric::RestoreTime
                        | Metric::Rto
                        | Metric::Rpo
                        | Metric::RpoRows
                        | Metric::Integrity => return None,
                    })
                })
            };
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

/// The worst figure of a drill over its trials (the longest, the largest, the most lost; the
/// integrity is ok only when every trial passed). None, so no pass, when the drill did not run
/// or a trial did not measure the figure (an RPO without a writer, a restore that failed).
pub fn drill_value(drills: &[DrillReport], name: &str, metric: Metric) -> Option<f64> {
    let runs: Vec<&DrillReport> = drills.iter().filter(|d| d.drill == name).collect();
    if runs.is_empty() {
        return None;
    }
    let mut worst: Option<f64> = None;
    for d in runs {
        let v = match metric {
            Metric::BackupTime => d.backup_s?,
            Metric::BackupBytes => d.backup_bytes? as f64,
            Metric::RestoreTime => d.restore_s?,
            Metric::Rto => d.rto_s?,
            Metric::Rpo => d.rpo_s?,
            Metric::RpoRows => d.rpo_rows? as f64,
            Metric::Integrity => f64::from(u8::from(d.passed())),
            _ => return None,
        };
        worst = Some(match worst {
            None => v,
            Some(o) if metric.higher_is_worse() => o.max(v),
            Some(o) => o.min(v),
        });
    }
    worst
}

/// The worst whole window of every trial for a window metric: the highest latency figure or
/// error rate, the lowest throughput. None (no pass) when no whole window was measured (a
/// trial shorter than the interval, a file without windows) or a window's histogram does
/// not decode.
pub fn worst_window(w: &WorkloadResult, metric: Metric) -> Option<f64> {
    let mut worst: Option<f64> = None;
    let mut keep = |v: f64, higher_is_worse: bool| {
        worst = Some(match worst {
            None => v,
            Some(o) if higher_is_worse => o.max(v),
            Some(o) => o.min(v),
        });
    };
    for t in &w.per_trial {
        let Some(iv) = &t.intervals else { continue };
        for win in iv.windows.iter().filter(|x| x.whole(iv.interval_s)) {
            match metric {
                Metric::ThroughputWindowMin => keep(win.ops as f64 / win.duration_s, false),
                Metric::ErrorRateWindowMax => {
                    let all = win.ops + win.errors;
                    if all > 0 {
                        keep(win.errors as f64 * 100.0 / all as f64, true);
                    }
                }
                m => {
                    if win.histogram.is_empty() {
                        continue;
                    }
                    let h = crate::metrics::decode(&win.histogram).ok()?;
                    let us = match m {
                        Metric::P50WindowMax => h.value_at_quantile(0.50),
                        Metric::P95WindowMax => h.value_at_quantile(0.95),
                        Metric::P99WindowMax => h.value_at_quantile(0.99),
                        _ => h.max(),
                    };
                    keep(us as f64 / 1000.0, true);
                }
            }
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics;
    use crate::results::{IntervalWindow, Intervals};

    /// A window of `n` operations at `ms` each (and `errors` failures), `len` seconds long.
    fn window(start_s: f64, len: f64, n: u64, ms: u64, errors: u64) -> IntervalWindow {
        let mut h = metrics::new_histogram();
        (0..n).for_each(|_| metrics::record(&mut h, Duration::from_millis(ms)));
        IntervalWindow {
            start_s,
            duration_s: len,
            ops: n,
            errors,
            bytes: None,
            histogram: if n == 0 {
                String::new()
            } else {
                metrics::encode(&h)
            },
        }
    }

    #[test]
    fn the_worst_whole_window_of_every_trial_is_judged() {
        let mut r = crate::compare::testkit::results(1.0, 2, None);
        let w = &mut r.runs[0].workloads[0];
        // Trial 1: steady, then a 1 s stall (nothing completes), then the queue drains at
        // 300 ms; its cut-off last window (0.2 s, 5 ops) is not judged.
        w.per_trial[0].intervals = Some(Intervals {
            interval_s: 1.0,
            windows: vec![
                window(0.0, 1.0, 200, 2, 0),
                window(1.0, 1.0, 0, 0, 0),
                window(2.0, 1.0, 150, 300, 50),
                window(3.0, 0.2, 5, 900, 5),
            ],
        });
        // Trial 2: steady throughout.
        w.per_trial[1].intervals = Some(Intervals {
            interval_s: 1.0,
            windows: vec![window(0.0, 1.0, 180, 3, 0), window(1.0, 1.0, 190, 3, 0)],
        });
        let w = &r.runs[0].workloads[0];
        let near = |m: Metric, want: f64| {
            let got = worst_window(w, m).unwrap();
            assert!((got - want).abs() <= want * 0.001, "{m:?}: {got} vs {want}");
        };
        near(Metric::P99WindowMax, 300.0);
        near(Metric::MaxWindowMax, 300.0);
        near(Metric::P50WindowMax, 300.0);
        near(Metric::ThroughputWindowMin, 0.0);
        near(Metric::ErrorRateWindowMax, 25.0);
        // The whole trial's p99 can pass while the worst window fails.
        assert!(w.latency_ms.p99 < 2.0);
    }

    #[test]
    fn no_whole_window_is_no_value() {
        let mut r = crate::compare::testkit::results(1.0, 1, None);
        let w = &mut r.runs[0].workloads[0];
        assert_eq!(worst_window(w, Metric::P99WindowMax), None, "no windows");
        w.per_trial[0].intervals = Some(Intervals {
            interval_s: 5.0,
            windows: vec![window(0.0, 1.0, 10, 1, 0)],
        });
        assert_eq!(worst_window(w, Metric::ThroughputWindowMin), None);
        w.per_trial[0].intervals.as_mut().unwrap().windows[0].duration_s = 5.0;
        w.per_trial[0].intervals.as_mut().unwrap().windows[0].histogram = "garbage".into();
        assert_eq!(worst_window(w, Metric::P99WindowMax), None, "undecodable");
        assert_eq!(worst_window(w, Metric::ThroughputWindowMin), Some(2.0));
    }
}
