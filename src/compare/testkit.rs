//! Synthetic results for the unit tests of compare and history: one profile, one workload,
//! trials whose latencies and host loads the test chooses (built on the small fixture file).

use std::time::Duration;

use crate::host::HostLoad;
use crate::metrics::{self, LatencySummary};
use crate::results::Results;

/// `trials` trials of 2,000 operations over 1 s each, latencies spread +-1 % around `ms`
/// (each trial a little apart, as real trials are), every trial with `host` (None: an older
/// file without host data).
pub fn results(ms: f64, trials: u32, host: Option<HostLoad>) -> Results {
    let mut r: Results = Results::parse(
        include_str!("../../tests/fixtures/results-small.json"),
        std::path::Path::new("results-small.json"),
    )
    .expect("fixture parses");
    r.runs.truncate(1);
    let run = &mut r.runs[0];
    run.workloads.truncate(1);
    let w = &mut run.workloads[0];
    let mut merged = metrics::new_histogram();
    let template = w.per_trial[0].clone();
    w.per_trial = (0..trials)
        .map(|i| {
            let mut h = metrics::new_histogram();
            let shift = 1.0 + 0.004 * (f64::from(i) - f64::from(trials - 1) / 2.0);
            for k in 0..2000u32 {
                let spread = 1.0 + 0.02 * (f64::from((k * 7919) % 1000) / 1000.0 - 0.5);
                metrics::record(&mut h, Duration::from_secs_f64(ms * shift * spread / 1e3));
            }
            metrics::merge(&mut merged, &h);
            let mut t = template.clone();
            t.trial = i + 1;
            t.ops = 2000;
            t.errors = 0;
            t.duration_s = 1.0;
            t.throughput_ops_s = 2000.0;
            t.latency_ms = LatencySummary::of(&h);
            t.histogram = metrics::encode(&h);
            t.host = host;
            t
        })
        .collect();
    w.trials = trials;
    w.ops = 2000 * u64::from(trials);
    w.errors = 0;
    w.errors_by_kind.clear();
    w.duration_s = f64::from(trials);
    w.throughput_ops_s = 2000.0;
    w.latency_ms = LatencySummary::of(&merged);
    w.histogram = metrics::encode(&merged);
    r
}

/// A side's host: half busy, no steal, `other` of all cores' time used by other work.
pub fn load(other: f64) -> Option<HostLoad> {
    Some(HostLoad {
        load_1m: 1.0,
        busy: 0.5,
        steal: 0.0,
        other_busy: Some(other),
    })
}

/// The same results with the server's CPU recorded in every trial: `us_per_op` microseconds
/// per operation, trials a little apart (+-0.5 %), as real ones are.
pub fn with_server_cpu(mut r: Results, us_per_op: f64) -> Results {
    let w = &mut r.runs[0].workloads[0];
    let n = w.per_trial.len();
    for (i, t) in w.per_trial.iter_mut().enumerate() {
        let shift = 1.0 + 0.005 * (i as f64 - (n - 1) as f64 / 2.0);
        t.server_cpu_s = Some(t.ops as f64 * us_per_op * shift / 1e6);
    }
    r
}
