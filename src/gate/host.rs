//! Were the two runs' hosts loaded alike? Each side's trials are summarised (load average:
//! median over trials; busy and steal shares: mean over trials) and compared against a stated
//! bound. Between-run drift from other work on the machine (a concurrent build on a CI runner)
//! moves latencies more than the bootstrap over one run's trials can see, so a change measured
//! under different host conditions is not a verdict.

use crate::host::HostLoad;

/// The 1-minute load averages may differ by at most max(LOAD_ABS, LOAD_PER_CORE x cores).
pub const LOAD_ABS: f64 = 1.0;
pub const LOAD_PER_CORE: f64 = 0.25;
/// The busy shares of all cores may differ by at most this (0.25 = 25 percentage points).
pub const BUSY_DELTA: f64 = 0.25;
/// CPU steal above this on either side: the hypervisor took time the runs cannot account for.
pub const STEAL_MAX: f64 = 0.05;

/// The bound in words, for the comparison and its reader.
pub fn bound(cores: usize) -> String {
    format!(
        "host conditions differ when the 1-minute load averages differ by more than {:.2} (max({LOAD_ABS}, {LOAD_PER_CORE} x {cores} cores)), the busy shares by more than {:.0} points, or steal exceeds {:.0} % on either side",
        load_bound(cores),
        BUSY_DELTA * 100.0,
        STEAL_MAX * 100.0
    )
}

fn load_bound(cores: usize) -> f64 {
    LOAD_ABS.max(LOAD_PER_CORE * cores as f64)
}

#[derive(Debug, Clone, PartialEq)]
pub enum HostCheck {
    Comparable,
    /// Why the conditions differ, e.g. `host load 1.2 vs 3.9`.
    Differs(String),
    /// A side has no host data (results written before it was recorded).
    Unknown,
}

/// One side's host conditions over its trials' loads; `None` when there are none or a trial
/// has no host data.
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
    Some(HostLoad {
        load_1m: median,
        busy: loads.iter().map(|l| l.busy).sum::<f64>() / n,
        steal: loads.iter().map(|l| l.steal).sum::<f64>() / n,
    })
}

/// Compares the host conditions of two measurements of one workload, each summarised by
/// [`summary`].
pub fn check(before: Option<HostLoad>, after: Option<HostLoad>, cores: usize) -> HostCheck {
    match (before, after) {
        (Some(b), Some(a)) => check_loads(&b, &a, cores),
        _ => HostCheck::Unknown,
    }
}

/// The bound itself: every reason that applies, joined.
pub fn check_loads(b: &HostLoad, a: &HostLoad, cores: usize) -> HostCheck {
    let mut why = Vec::new();
    if (a.load_1m - b.load_1m).abs() > load_bound(cores) {
        why.push(format!("host load {:.1} vs {:.1}", b.load_1m, a.load_1m));
    }
    if (a.busy - b.busy).abs() > BUSY_DELTA {
        why.push(format!(
            "host busy {:.0} % vs {:.0} %",
            b.busy * 100.0,
            a.busy * 100.0
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

    fn load(load_1m: f64, busy: f64, steal: f64) -> HostLoad {
        HostLoad {
            load_1m,
            busy,
            steal,
        }
    }

    #[test]
    fn load_average_bound_scales_with_cores() {
        // 2 cores: the bound is 1.0.
        assert_eq!(
            check_loads(&load(1.2, 0.5, 0.0), &load(2.1, 0.5, 0.0), 2),
            HostCheck::Comparable
        );
        assert_eq!(
            check_loads(&load(1.2, 0.5, 0.0), &load(3.9, 0.5, 0.0), 2),
            HostCheck::Differs("host load 1.2 vs 3.9".into())
        );
        // 16 cores: 4.0, so the same difference is within the bound.
        assert_eq!(
            check_loads(&load(1.2, 0.5, 0.0), &load(3.9, 0.5, 0.0), 16),
            HostCheck::Comparable
        );
    }

    #[test]
    fn a_side_is_summarised_by_its_median_load_and_mean_shares() {
        let s = summary([
            Some(load(1.0, 0.2, 0.0)),
            Some(load(9.0, 0.4, 0.02)),
            Some(load(2.0, 0.6, 0.01)),
        ])
        .unwrap();
        assert_eq!(
            s.load_1m, 2.0,
            "median, not mean: one busy minute is not the run"
        );
        assert!(
            (s.busy - 0.4).abs() < 1e-12 && (s.steal - 0.01).abs() < 1e-12,
            "{s:?}"
        );
        let even = summary([Some(load(1.0, 0.0, 0.0)), Some(load(2.0, 0.0, 0.0))]).unwrap();
        assert_eq!(even.load_1m, 1.5);
        // A trial without host data (an older file) or no trials: nothing to judge.
        assert_eq!(summary([Some(load(1.0, 0.2, 0.0)), None]), None);
        assert_eq!(summary([]), None);
        assert_eq!(
            check(None, Some(load(1.0, 0.2, 0.0)), 2),
            HostCheck::Unknown
        );
    }

    #[test]
    fn busy_share_and_steal_bounds() {
        assert_eq!(
            check_loads(&load(2.0, 0.40, 0.0), &load(2.0, 0.64, 0.0), 2),
            HostCheck::Comparable
        );
        assert_eq!(
            check_loads(&load(2.0, 0.40, 0.0), &load(2.0, 0.70, 0.0), 2),
            HostCheck::Differs("host busy 40 % vs 70 %".into())
        );
        assert_eq!(
            check_loads(&load(2.0, 0.5, 0.06), &load(2.0, 0.5, 0.0), 2),
            HostCheck::Differs("CPU steal 6.0 % vs 0.0 %".into())
        );
        assert_eq!(
            check_loads(&load(2.0, 0.5, 0.05), &load(2.0, 0.5, 0.05), 2),
            HostCheck::Comparable
        );
        // Several reasons are all named.
        let HostCheck::Differs(why) = check_loads(&load(0.5, 0.2, 0.0), &load(4.0, 0.9, 0.1), 2)
        else {
            panic!("should differ")
        };
        assert!(why.contains("host load") && why.contains("busy") && why.contains("steal"));
    }
}
