//! Were the two runs' hosts loaded alike? Each side's trials are summarised (other work and
//! steal: mean over trials) and compared against a stated bound. Between-run drift from other
//! work on the machine (a concurrent build on a CI runner) moves latencies more than the
//! bootstrap over one run's trials can see, so a change measured under different host
//! conditions is not a verdict.
//!
//! Only what competed with the run is judged: CPU time used by neither tunebench nor the
//! measured server, and steal. The host's whole busy share and its load average count the
//! run's own work, so a regression that costs the server CPU would move them and hide itself
//! as `inconclusive`; they are recorded, not judged.

use crate::host::HostLoad;

/// The shares of all cores' time busy with other work may differ by at most this
/// (0.15 = 15 percentage points; 0.3 of a core on 2 cores).
pub const OTHER_DELTA: f64 = 0.15;
/// Other work above this share of all cores' time on either side: the runs competed with it,
/// and between two runs that contention moves latencies more than one run's trials show (an
/// A/A pair under one busy core on 2 cores, about 37 % other work: p50 +26 % [+14, +42],
/// throughput -15 %, both called regressions).
pub const OTHER_MAX: f64 = 0.25;
/// CPU steal above this on either side: the hypervisor took time the runs cannot account for.
pub const STEAL_MAX: f64 = 0.05;
/// A threshold learned from at least this many history runs lifts the `OTHER_MAX` bound. The
/// noise of loaded runs estimated from fewer is too unsure to stand in for "no verdict": for
/// normal noise, the MAD of 5 runs comes out below half the true deviation about one time in
/// four, of 10 runs one time in ten (simulated). Five runs beside a niced build that happened
/// to agree (p50 0.79-0.87 ms) learned p50 11 % just before a sixth ran at 1.30 ms: a false
/// alarm.
pub const LOADED_MIN_RUNS: usize = 10;

/// The bound in words, for the comparison and its reader.
pub fn bound() -> String {
    format!(
        "host conditions differ when the shares of CPU time used by other work (neither tunebench nor the measured server) differ by more than {:.0} points or, for a configured threshold or one learned from fewer than {} history runs, exceed {:.0} % on either side (a threshold learned from {} or more runs under the same load already holds that drift), or steal exceeds {:.0} % on either side",
        OTHER_DELTA * 100.0,
        LOADED_MIN_RUNS,
        OTHER_MAX * 100.0,
        LOADED_MIN_RUNS,
        STEAL_MAX * 100.0
    )
}

/// The bound for profiles of one run whose trials alternated, in words.
pub fn bound_interleaved() -> String {
    format!(
        "the sides are profiles of one run whose trials alternated, so a slowdown of the host hit both alike: host conditions differ only when the shares of CPU time used by other work differ by more than {:.0} points, or steal exceeds {:.0} % on either side",
        OTHER_DELTA * 100.0,
        STEAL_MAX * 100.0
    )
}

#[derive(Debug, Clone, PartialEq)]
pub enum HostCheck {
    Comparable,
    /// Why the conditions differ, e.g. `other work 3 % vs 41 %`.
    Differs(String),
    /// A side has no host data (results written before it was recorded).
    Unknown,
}

/// One side's host conditions over its trials' loads; `None` when there are none or a trial
/// has no host data. Other work is known only when every trial knows it.
pub fn summary(trials: impl IntoIterator<Item = Option<HostLoad>>) -> Option<HostLoad> {
    let loads: Vec<HostLoad> = trials.into_iter().collect::<Option<_>>()?;
    if loads.is_empty() {
        return None;
    }
    let n = loads.len() as f64;
    let mut load: Vec<f64> = loads.iter().map(|l| l.load_1m).collect();
    load.sort_by(f64::total_cmp);
    let mid = load.len() / 2;
    let median = if load.len() % 2 == 1 {
        load[mid]
    } else {
        (load[mid - 1] + load[mid]) / 2.0
    };
    let other: Option<Vec<f64>> = loads.iter().map(|l| l.other_busy).collect();
    Some(HostLoad {
        load_1m: median,
        busy: loads.iter().map(|l| l.busy).sum::<f64>() / n,
        steal: loads.iter().map(|l| l.steal).sum::<f64>() / n,
        other_busy: other.map(|o| o.iter().sum::<f64>() / n),
    })
}

/// Compares the host conditions of two measurements of one workload, each summarised by
/// [`summary`].
pub fn check(before: Option<HostLoad>, after: Option<HostLoad>) -> HostCheck {
    match (before, after) {
        (Some(b), Some(a)) => check_loads(&b, &a),
        _ => HostCheck::Unknown,
    }
}

/// True when both sides know their other work; otherwise only steal was judged.
pub fn other_work_known(before: Option<HostLoad>, after: Option<HostLoad>) -> bool {
    [before, after]
        .iter()
        .all(|s| s.is_some_and(|l| l.other_busy.is_some()))
}

/// The bound itself: every reason that applies, joined.
pub fn check_loads(b: &HostLoad, a: &HostLoad) -> HostCheck {
    check_bound(b, a, true)
}

/// The bound for a metric whose threshold was learned from a history run under the same
/// load: only a difference between the two sides counts, not how loaded both were. The
/// absolute bound (`OTHER_MAX`) exists because one run's trials cannot show how much two runs
/// under contention drift apart; a history taken under that contention has measured it, and
/// the learned threshold holds it.
pub fn check_relative(before: Option<HostLoad>, after: Option<HostLoad>) -> HostCheck {
    match (before, after) {
        (Some(b), Some(a)) => check_bound(&b, &a, false),
        _ => HostCheck::Unknown,
    }
}

/// The bound for a metric whose threshold was learned from `runs` history runs: the
/// relative bound ([`check_relative`]) from `LOADED_MIN_RUNS` runs on; below that, the
/// absolute one as for a configured threshold, and the reason says why it still applies.
pub fn check_learned(before: Option<HostLoad>, after: Option<HostLoad>, runs: usize) -> HostCheck {
    let relative = check_relative(before, after);
    if runs >= LOADED_MIN_RUNS || relative != HostCheck::Comparable {
        return relative;
    }
    match check(before, after) {
        HostCheck::Differs(why) => HostCheck::Differs(format!(
            "{why}; a threshold learned from {runs} runs lifts the {:.0} % bound only from {LOADED_MIN_RUNS}",
            OTHER_MAX * 100.0
        )),
        other => other,
    }
}

/// May a history run loaded like `past` teach the noise of a run loaded like `now`? Its
/// other work within `OTHER_DELTA` of the current run's, and neither over `STEAL_MAX`. A
/// side without other work known is judged on steal alone: the relative bound, passed.
pub fn alike(past: &HostLoad, now: &HostLoad) -> bool {
    check_bound(past, now, false) == HostCheck::Comparable
}

fn check_bound(b: &HostLoad, a: &HostLoad, absolute: bool) -> HostCheck {
    let mut why = Vec::new();
    if let (Some(ob), Some(oa)) = (b.other_busy, a.other_busy)
        && ((oa - ob).abs() > OTHER_DELTA || (absolute && (ob > OTHER_MAX || oa > OTHER_MAX)))
    {
        why.push(format!(
            "other work {:.0} % vs {:.0} %",
            ob * 100.0,
            oa * 100.0
        ));
    }
    if b.steal > STEAL_MAX || a.steal > STEAL_MAX {
        why.push(format!(
            "CPU steal {:.1} % vs {:.1} %",
            b.steal * 100.0,
            a.steal * 100.0
        ));
    }
    if why.is_empty() {
        HostCheck::Comparable
    } else {
        HostCheck::Differs(why.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(load_1m: f64, busy: f64, steal: f64, other: Option<f64>) -> HostLoad {
        HostLoad {
            load_1m,
            busy,
            steal,
            other_busy: other,
        }
    }

    #[test]
    fn the_run_s_own_work_is_not_judged_other_work_is() {
        // A dropped index: the server burns CPU (busy 62 % -> 92 %, load 1 -> 4), but nothing
        // else ran. Comparable, so the regression stands.
        assert_eq!(
            check_loads(
                &load(1.0, 0.62, 0.0, Some(0.02)),
                &load(4.0, 0.92, 0.0, Some(0.03))
            ),
            HostCheck::Comparable
        );
        // A concurrent build on one side.
        assert_eq!(
            check_loads(
                &load(1.0, 0.5, 0.0, Some(0.03)),
                &load(1.0, 0.9, 0.0, Some(0.41))
            ),
            HostCheck::Differs("other work 3 % vs 41 %".into())
        );
        assert_eq!(
            check_loads(
                &load(1.0, 0.5, 0.0, Some(0.10)),
                &load(1.0, 0.5, 0.0, Some(0.24))
            ),
            HostCheck::Comparable
        );
        // The same busy core on both sides (an A/A pair under a `yes` burner): alike, but
        // too loaded for a verdict.
        assert_eq!(
            check_loads(
                &load(1.0, 0.9, 0.0, Some(0.37)),
                &load(1.0, 0.9, 0.0, Some(0.36))
            ),
            HostCheck::Differs("other work 37 % vs 36 %".into())
        );
        // Other work unknown on a side (server not found): only steal is judged.
        assert_eq!(
            check_loads(&load(1.0, 0.5, 0.0, None), &load(1.0, 0.5, 0.0, Some(0.9))),
            HostCheck::Comparable
        );
        assert!(!other_work_known(
            Some(load(1.0, 0.5, 0.0, None)),
            Some(load(1.0, 0.5, 0.0, Some(0.9)))
        ));
        assert!(other_work_known(
            Some(load(1.0, 0.5, 0.0, Some(0.1))),
            Some(load(1.0, 0.5, 0.0, Some(0.9)))
        ));
    }

    #[test]
    fn a_side_is_summarised_by_its_median_load_and_mean_shares() {
        let s = summary([
            Some(load(1.0, 0.2, 0.0, Some(0.1))),
            Some(load(9.0, 0.4, 0.02, Some(0.2))),
            Some(load(2.0, 0.6, 0.01, Some(0.6))),
        ])
        .unwrap();
        assert_eq!(
            s.load_1m, 2.0,
            "median, not mean: one busy minute is not the run"
        );
        assert!(
            (s.busy - 0.4).abs() < 1e-12
                && (s.steal - 0.01).abs() < 1e-12
                && (s.other_busy.unwrap() - 0.3).abs() < 1e-12,
            "{s:?}"
        );
        let even = summary([
            Some(load(1.0, 0.0, 0.0, Some(0.0))),
            Some(load(2.0, 0.0, 0.0, None)),
        ])
        .unwrap();
        assert_eq!(even.load_1m, 1.5);
        assert_eq!(even.other_busy, None, "one trial did not know it");
        // A trial without host data (an older file) or no trials: nothing to judge.
        assert_eq!(summary([Some(load(1.0, 0.2, 0.0, None)), None]), None);
        assert_eq!(summary([]), None);
        assert_eq!(
            check(None, Some(load(1.0, 0.2, 0.0, None))),
            HostCheck::Unknown
        );
    }

    #[test]
    fn a_learned_threshold_drops_the_absolute_bound_but_not_the_difference() {
        let busy = |o| Some(load(4.0, 1.0, 0.0, Some(o)));
        // Both sides under the same two burners: too loaded for a configured threshold,
        // alike for one learned under that load.
        assert!(matches!(
            check(busy(0.52), busy(0.55)),
            HostCheck::Differs(_)
        ));
        assert_eq!(
            check_relative(busy(0.52), busy(0.55)),
            HostCheck::Comparable
        );
        // A build started on one side only: still not a verdict.
        assert_eq!(
            check_relative(busy(0.05), busy(0.45)),
            HostCheck::Differs("other work 5 % vs 45 %".into())
        );
        assert_eq!(
            check_relative(Some(load(1.0, 0.5, 0.08, Some(0.1))), busy(0.1)),
            HostCheck::Differs("CPU steal 8.0 % vs 0.0 %".into())
        );
        assert_eq!(check_relative(None, busy(0.1)), HostCheck::Unknown);
    }

    #[test]
    fn a_threshold_learned_from_few_loaded_runs_keeps_the_absolute_bound() {
        let busy = |o| Some(load(4.0, 1.0, 0.0, Some(o)));
        // A niced build beside both sides: learned from 10 runs, a verdict; from fewer, not yet.
        assert_eq!(
            check_learned(busy(0.31), busy(0.33), LOADED_MIN_RUNS),
            HostCheck::Comparable
        );
        assert!(matches!(
            check_learned(busy(0.31), busy(0.33), LOADED_MIN_RUNS - 1),
            HostCheck::Differs(_)
        ));
        assert_eq!(
            check_learned(busy(0.31), busy(0.33), 5),
            HostCheck::Differs(
                "other work 31 % vs 33 %; a threshold learned from 5 runs lifts the 25 % bound only from 10"
                    .into()
            )
        );
        // A quiet pair needs no more runs than learning does.
        assert_eq!(
            check_learned(busy(0.01), busy(0.02), 5),
            HostCheck::Comparable
        );
        // A difference between the sides counts whatever the runs, and says only that.
        assert_eq!(
            check_learned(busy(0.05), busy(0.45), 50),
            HostCheck::Differs("other work 5 % vs 45 %".into())
        );
        assert_eq!(
            check_learned(busy(0.05), busy(0.45), 5),
            HostCheck::Differs("other work 5 % vs 45 %".into())
        );
        assert_eq!(check_learned(None, busy(0.4), 5), HostCheck::Unknown);
    }

    #[test]
    fn history_runs_teach_only_runs_loaded_like_them() {
        let l = |o, steal| load(1.0, 0.5, steal, o);
        assert!(alike(&l(Some(0.50), 0.0), &l(Some(0.60), 0.0)));
        assert!(!alike(&l(Some(0.02), 0.0), &l(Some(0.50), 0.0)));
        assert!(!alike(&l(Some(0.50), 0.0), &l(Some(0.02), 0.0)));
        assert!(!alike(&l(Some(0.1), 0.06), &l(Some(0.1), 0.0)));
        assert!(!alike(&l(Some(0.1), 0.0), &l(Some(0.1), 0.06)));
        // Other work unknown on a side: steal alone decides.
        assert!(alike(&l(None, 0.0), &l(Some(0.9), 0.0)));
    }

    #[test]
    fn steal_bound_and_every_reason_named() {
        assert_eq!(
            check_loads(&load(2.0, 0.5, 0.06, None), &load(2.0, 0.5, 0.0, None)),
            HostCheck::Differs("CPU steal 6.0 % vs 0.0 %".into())
        );
        assert_eq!(
            check_loads(&load(2.0, 0.5, 0.05, None), &load(2.0, 0.5, 0.05, None)),
            HostCheck::Comparable
        );
        let HostCheck::Differs(why) = check_loads(
            &load(0.5, 0.2, 0.0, Some(0.0)),
            &load(4.0, 0.9, 0.1, Some(0.5)),
        ) else {
            panic!("should differ")
        };
        assert!(why.contains("other work") && why.contains("steal"), "{why}");
    }
}
