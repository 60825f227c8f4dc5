//! The regression gate: which noise threshold each metric must clear (configured, or learned
//! from a history of earlier runs), when a verdict is only `inconclusive` because the host was
//! loaded differently, and the exit code. It reads only verdicts that `compare` computed.
//!
//! A low-level module: its configuration is read by `scenario` and `results`, its rules by
//! `compare`; it knows nothing of results files or the command line.

mod config;
pub mod host;
mod learned;

use crate::error::exit;
use crate::stats::{BootstrapConfig, Verdict};

pub use config::{GateSpec, NoiseOverrides, NoiseThresholds};
pub use learned::{HistoryReport, LearnedThreshold};

/// Everything a comparison is judged with: thresholds (configured, overridden per metric by
/// learned ones), the bootstrap settings, and the host's core count for the host-load bound.
#[derive(Debug, Clone)]
pub struct Settings {
    pub noise: NoiseThresholds,
    pub learned: Vec<LearnedThreshold>,
    pub bootstrap: BootstrapConfig,
    pub cores: usize,
    /// Whether different host conditions make a change `inconclusive` (`gate.host_check`).
    pub host_check: bool,
    /// Both sides are profiles of one run whose trials alternated (A B A B ...): a slowdown
    /// of the host hit both alike, so only a difference between the sides' other work (or
    /// steal) makes a change doubtful, not how loaded both were (`host::check_relative`).
    pub interleaved: bool,
}

impl Settings {
    pub fn configured(noise: NoiseThresholds, bootstrap: BootstrapConfig, cores: usize) -> Self {
        Settings {
            noise,
            learned: Vec::new(),
            bootstrap,
            cores,
            host_check: true,
            interleaved: false,
        }
    }

    /// A scenario's `[gate]` with the command line's overrides, before any learning.
    pub fn of_spec(spec: &GateSpec, overrides: &NoiseOverrides, cores: usize) -> Self {
        let bootstrap = BootstrapConfig {
            confidence: spec.confidence,
            ..Default::default()
        };
        Settings {
            host_check: spec.host_check,
            ..Settings::configured(overrides.apply(&spec.noise), bootstrap, cores)
        }
    }

    /// The threshold for one metric of one workload, and how many history runs it was
    /// learned from (`None`: the configured one).
    pub fn threshold(
        &self,
        profile: &str,
        target: &str,
        workload: &str,
        metric: &str,
    ) -> (f64, Option<usize>) {
        self.learned
            .iter()
            .find(|l| {
                l.profile == profile
                    && l.target == target
                    && l.workload == workload
                    && l.metric == metric
            })
            .map_or((self.noise.of(metric), None), |l| {
                (l.threshold, Some(l.runs))
            })
    }
}

/// A verdict as the gate states it: a change beyond the noise becomes `inconclusive` when the
/// two runs' hosts were loaded differently (`reason` says how). With `apply` false
/// (`gate.host_check: false`) the verdict stands and `reason` still names the difference.
pub fn judge(verdict: Verdict, host: &host::HostCheck, apply: bool) -> (Verdict, Option<String>) {
    match (verdict, host) {
        (Verdict::Regressed | Verdict::Improved, host::HostCheck::Differs(why)) if apply => {
            (Verdict::Inconclusive, Some(why.clone()))
        }
        (v @ (Verdict::Regressed | Verdict::Improved), host::HostCheck::Differs(why)) => (
            v,
            Some(format!("{why} (not applied: gate.host_check is false)")),
        ),
        (v, _) => (v, None),
    }
}

/// The gate fails (exit 1) only on a regression; inconclusive and improved rows never do.
pub fn exit_code(verdicts: impl IntoIterator<Item = Verdict>) -> i32 {
    if verdicts.into_iter().any(|v| v == Verdict::Regressed) {
        exit::CRITERIA_FAILED
    } else {
        exit::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_under_different_host_load_is_inconclusive_and_never_fails() {
        let differs = host::HostCheck::Differs("other work 3 % vs 41 %".into());
        assert_eq!(
            judge(Verdict::Regressed, &differs, true),
            (Verdict::Inconclusive, Some("other work 3 % vs 41 %".into()))
        );
        assert_eq!(
            judge(Verdict::Improved, &differs, true).0,
            Verdict::Inconclusive
        );
        // No change stays no change: a loaded host does not make a quiet result doubtful.
        assert_eq!(
            judge(Verdict::NoSignificantChange, &differs, true),
            (Verdict::NoSignificantChange, None)
        );
        assert_eq!(
            judge(Verdict::Regressed, &host::HostCheck::Comparable, true),
            (Verdict::Regressed, None)
        );
        assert_eq!(
            judge(Verdict::Regressed, &host::HostCheck::Unknown, true),
            (Verdict::Regressed, None)
        );
        // gate.host_check false: the verdict stands, the difference is still named.
        assert_eq!(
            judge(Verdict::Regressed, &differs, false),
            (
                Verdict::Regressed,
                Some("other work 3 % vs 41 % (not applied: gate.host_check is false)".into())
            )
        );
    }

    #[test]
    fn only_a_regression_fails_the_gate() {
        use Verdict::*;
        assert_eq!(exit_code([]), exit::OK);
        assert_eq!(
            exit_code([Improved, NoSignificantChange, NotAssessed, Inconclusive]),
            exit::OK
        );
        assert_eq!(
            exit_code([Improved, Regressed, NoSignificantChange]),
            exit::CRITERIA_FAILED
        );
    }

    #[test]
    fn learned_thresholds_override_the_configured_one_per_metric() {
        let mut s = Settings::configured(NoiseThresholds::default(), Default::default(), 2);
        s.learned.push(LearnedThreshold {
            profile: "tuned".into(),
            target: "pg".into(),
            workload: "search".into(),
            metric: "p99".into(),
            runs: 7,
            sigma_log: 0.03,
            threshold: 0.1,
        });
        assert_eq!(s.threshold("tuned", "pg", "search", "p99"), (0.1, Some(7)));
        assert_eq!(s.threshold("tuned", "pg", "search", "p50"), (0.05, None));
        assert_eq!(s.threshold("baseline", "pg", "search", "p99"), (0.35, None));
    }

    #[test]
    fn settings_take_the_scenario_gate_then_the_command_line() {
        let spec = GateSpec {
            noise: NoiseThresholds {
                p95: 0.2,
                ..NoiseThresholds::default()
            },
            confidence: 0.9,
            host_check: false,
        };
        let o = NoiseOverrides::parse(&["p99=0.1".to_string()]).unwrap();
        let s = Settings::of_spec(&spec, &o, 4);
        assert_eq!((s.noise.p50, s.noise.p95, s.noise.p99), (0.05, 0.2, 0.1));
        assert_eq!(s.bootstrap.confidence, 0.9);
        assert_eq!(s.bootstrap.resamples, BootstrapConfig::default().resamples);
        assert_eq!((s.cores, s.learned.len()), (4, 0));
        assert!(!s.host_check, "gate.host_check is taken from the scenario");
        assert!(Settings::of_spec(&GateSpec::default(), &o, 4).host_check);
    }
}
