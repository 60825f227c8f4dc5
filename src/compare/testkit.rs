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

/// One run of two profiles, `a` at `ms_a` and `b` at `ms_b` (each as [`results`] builds
/// it, with its host), trials interleaved unless the test says otherwise.
pub fn two_profiles(
    (ms_a, host_a): (f64, Option<HostLoad>),
    (ms_b, host_b): (f64, Option<HostLoad>),
    trials: u32,
) -> Results {
    let mut r = results(ms_a, trials, host_a);
    let b = results(ms_b, trials, host_b).runs.remove(0);
    r.runs.push(b);
    for (run, name) in r.runs.iter_mut().zip(["a", "b"]) {
        run.profile = name.into();
        run.workloads
            .iter_mut()
            .for_each(|w| w.profile = name.into());
    }
    r.scenario.load.interleave = true;
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
