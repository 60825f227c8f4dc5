//! The per-trial data behind a comparison's statistics: each trial's latency counts over
//! common bucket values, so a bootstrap resample pools its trials with a vector sum.

use crate::results::WorkloadResult;

/// The metrics compared: a latency quantile, or throughput.
#[derive(Clone, Copy)]
pub(super) enum Stat {
    Quantile(f64),
    Throughput,
}

/// Per-trial data a statistic is computed from: each trial's recorded latency counts over the
/// side's common sorted bucket values (so pooling trials is a vector sum, not a sort), its
/// completed operations and its wall time.
pub(super) struct Trials {
    values_us: Vec<u64>,
    counts: Vec<Vec<u64>>,
    pub(super) ops: Vec<f64>,
    secs: Vec<f64>,
}

impl Trials {
    pub(super) fn of(w: &WorkloadResult) -> Option<Self> {
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
    pub(super) fn stat(&self, stat: Stat, idx: &[usize]) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::testkit;
    use crate::metrics;

    /// Pooling trials must give exactly what the merged histogram of the results file says,
    /// or the interval would not be around the figure the report prints.
    #[test]
    fn pooled_statistics_equal_the_merged_results() {
        let r = testkit::results(2.0, 4, None);
        let w = &r.runs[0].workloads[0];
        let t = Trials::of(w).unwrap();
        let all = [0, 1, 2, 3];
        let merged = metrics::decode(&w.histogram).unwrap();
        for q in [0.5, 0.95, 0.99, 0.999] {
            let expected = merged.value_at_quantile(q) as f64 / 1000.0;
            assert_eq!(t.stat(Stat::Quantile(q), &all), expected, "q {q}");
        }
        assert_eq!(t.stat(Stat::Throughput, &all), w.throughput_ops_s);
        // One trial alone is that trial's own figure.
        let first = metrics::decode(&w.per_trial[0].histogram).unwrap();
        assert_eq!(
            t.stat(Stat::Quantile(0.99), &[0]),
            first.value_at_quantile(0.99) as f64 / 1000.0
        );
    }

    #[test]
    fn a_trial_drawn_twice_counts_twice() {
        let mut r = testkit::results(1.0, 2, None);
        let w = &mut r.runs[0].workloads[0];
        // Trial 2 is ten times slower and took twice as long.
        let mut slow = metrics::new_histogram();
        for _ in 0..2000 {
            metrics::record(&mut slow, std::time::Duration::from_millis(10));
        }
        w.per_trial[1].histogram = metrics::encode(&slow);
        w.per_trial[1].duration_s = 2.0;
        let t = Trials::of(w).unwrap();
        // Drawn [0, 1, 1], two thirds of the operations are slow: the median is slow.
        assert!(t.stat(Stat::Quantile(0.5), &[0, 1, 1]) >= 10.0 - 0.01);
        assert!(t.stat(Stat::Quantile(0.5), &[0, 0, 1]) < 1.1);
        // (2000 + 2000 + 2000) ops over (1 + 2 + 2) s.
        assert_eq!(t.stat(Stat::Throughput, &[0, 1, 1]), 6000.0 / 5.0);
    }

    #[test]
    fn an_undecodable_trial_histogram_gives_no_trials() {
        let mut r = testkit::results(1.0, 2, None);
        r.runs[0].workloads[0].per_trial[1].histogram = "not base64!".into();
        assert!(Trials::of(&r.runs[0].workloads[0]).is_none());
    }
}
