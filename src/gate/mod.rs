//! The regression gate: which noise threshold each metric must clear (configured, or learned
//! from a history of earlier runs), when a verdict is only `inconclusive` because the host was
//! loaded differently, and the exit code. It reads only what `compare` computed.

pub mod history;
pub mod host;
mod s3;
#[cfg(test)]
mod testkit;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::compare::{self, FileComparison};
use crate::error::{Error, InputIssue, Result, exit};
use crate::results::Results;
use crate::stats::{BootstrapConfig, Verdict};

pub use history::{HistoryReport, LearnedThreshold};

/// Relative changes smaller than these (fractions) are treated as noise. Defaults come from
/// ten A/A pairs on a 2-core machine (scripts/calibrate-gate, 5 trials of 1 s): between
/// identical runs medians and throughput moved by up to 4 %, p95 by up to 11 %, and p99 by up
/// to 100 % (its interval's lower end reached +30 %): a handful of slow operations decide a
/// p99, short trials hold few of them, and two separate runs also drift apart. Longer trials
/// narrow the tails' noise; scenarios can set their own thresholds under `[gate]`, and
/// `--history` learns them from earlier runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NoiseThresholds {
    #[serde(default = "d05")]
    pub p50: f64,
    #[serde(default = "d15")]
    pub p95: f64,
    #[serde(default = "d35")]
    pub p99: f64,
    #[serde(default = "d05")]
    pub throughput: f64,
}

fn d05() -> f64 {
    0.05
}
fn d15() -> f64 {
    0.15
}
fn d35() -> f64 {
    0.35
}

impl Default for NoiseThresholds {
    fn default() -> Self {
        NoiseThresholds {
            p50: d05(),
            p95: d15(),
            p99: d35(),
            throughput: d05(),
        }
    }
}

impl NoiseThresholds {
    /// Applies every `METRIC=FRACTION`.
    pub fn set_all(&mut self, specs: &[String]) -> Result<(), String> {
        specs.iter().try_for_each(|s| self.set(s))
    }

    /// Applies `METRIC=FRACTION` (e.g. `p99=0.2`).
    pub fn set(&mut self, spec: &str) -> Result<(), String> {
        let (metric, value) = spec
            .split_once('=')
            .ok_or_else(|| format!("`{spec}`: write METRIC=FRACTION, e.g. p99=0.15"))?;
        let v: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| (0.0..1.0).contains(v))
            .ok_or_else(|| {
                format!("`{spec}`: the threshold is a fraction between 0 and 1, e.g. 0.1 for 10 %")
            })?;
        match metric.trim() {
            "p50" => self.p50 = v,
            "p95" => self.p95 = v,
            "p99" => self.p99 = v,
            "throughput" => self.throughput = v,
            m => {
                return Err(format!(
                    "`{m}`: noise thresholds exist for p50, p95, p99 and throughput"
                ));
            }
        }
        Ok(())
    }

    pub fn of(&self, metric: &str) -> f64 {
        match metric {
            "p50" => self.p50,
            "p95" => self.p95,
            "p99" => self.p99,
            _ => self.throughput,
        }
    }
}

/// Everything a comparison is judged with: thresholds (configured, overridden per metric by
/// learned ones), the bootstrap settings, and the host's core count for the host-load bound.
#[derive(Debug, Clone)]
pub struct Settings {
    pub noise: NoiseThresholds,
    pub learned: Vec<LearnedThreshold>,
    pub bootstrap: BootstrapConfig,
    pub cores: usize,
}

impl Settings {
    pub fn configured(noise: NoiseThresholds, bootstrap: BootstrapConfig, cores: usize) -> Self {
        Settings {
            noise,
            learned: Vec::new(),
            bootstrap,
            cores,
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
/// two runs' hosts were loaded differently (`reason` says how).
pub fn judge(verdict: Verdict, host: &host::HostCheck) -> (Verdict, Option<String>) {
    match (verdict, host) {
        (Verdict::Regressed | Verdict::Improved, host::HostCheck::Differs(why)) => {
            (Verdict::Inconclusive, Some(why.clone()))
        }
        (v, _) => (v, None),
    }
}

/// The gate fails (exit 1) only on a regression; inconclusive and improved rows never do.
pub fn exit_code(c: &FileComparison) -> i32 {
    if c.regressions > 0 {
        exit::CRITERIA_FAILED
    } else {
        exit::OK
    }
}

/// The gate: compares `cur` against `base` with the current run's `[gate]` settings, the
/// command line's overrides and, with `--history`, thresholds learned from earlier runs;
/// refuses (exit 2) runs that are not comparable unless forced.
pub async fn gate(
    base: (&Results, &Path),
    cur: (&Results, &Path),
    gate: &crate::scenario::GateSpec,
    args: &crate::cli::GateArgs,
) -> Result<FileComparison> {
    let mut noise = gate.noise.clone();
    noise
        .set_all(&args.noise)
        .map_err(|e| Error::Usage(format!("--noise {e}")))?;
    let bootstrap = BootstrapConfig {
        confidence: gate.confidence,
        ..Default::default()
    };
    let mut settings = Settings::configured(noise, bootstrap, cur.0.environment.host.cores.max(1));
    let history = match &args.history {
        Some(source) => {
            let source = history::Source::parse(source)?;
            let found = history::load(&source).await?;
            let (report, learned) = history::learn(&source, found, cur.0, &settings.noise);
            settings.learned = learned;
            Some(report)
        }
        None => None,
    };
    let names = (base.1.display().to_string(), cur.1.display().to_string());
    let mut cmp =
        compare::compare_files(base.0, cur.0, (&names.0, &names.1), &settings, args.force);
    cmp.history = history;
    if !cmp.differences.is_empty() && !args.force {
        let issue = |msg: String| InputIssue::new(cur.1, "", msg);
        return Err(Error::Input(
            cmp.differences
                .iter()
                .map(|d| issue(format!("not comparable with {}: {d}", names.0)))
                .chain(std::iter::once(issue(
                    "use --force to compare anyway".into(),
                )))
                .collect(),
        ));
    }
    Ok(cmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_under_different_host_load_is_inconclusive_and_never_fails() {
        let differs = host::HostCheck::Differs("host load 1.2 vs 3.9".into());
        assert_eq!(
            judge(Verdict::Regressed, &differs),
            (Verdict::Inconclusive, Some("host load 1.2 vs 3.9".into()))
        );
        assert_eq!(judge(Verdict::Improved, &differs).0, Verdict::Inconclusive);
        // No change stays no change: a loaded host does not make a quiet result doubtful.
        assert_eq!(
            judge(Verdict::NoSignificantChange, &differs),
            (Verdict::NoSignificantChange, None)
        );
        assert_eq!(
            judge(Verdict::Regressed, &host::HostCheck::Comparable),
            (Verdict::Regressed, None)
        );
        assert_eq!(
            judge(Verdict::Regressed, &host::HostCheck::Unknown),
            (Verdict::Regressed, None)
        );
    }

    fn compare(base: &Results, cur: &Results) -> FileComparison {
        let s = Settings::configured(NoiseThresholds::default(), Default::default(), 2);
        compare::compare_files(base, cur, ("base", "cur"), &s, false)
    }

    fn verdict(c: &FileComparison, metric: &str) -> (Verdict, Option<String>) {
        let r = c.rows.iter().find(|r| r.metric == metric).unwrap();
        (r.verdict, r.reason.clone())
    }

    #[test]
    fn a_regression_under_different_host_load_is_inconclusive_and_exits_0() {
        let base = testkit::results(1.0, 3, testkit::load(1.2, 0.5));
        let slow = testkit::results(1.5, 3, testkit::load(3.9, 0.5));
        let c = compare(&base, &slow);
        assert_eq!(
            verdict(&c, "p50"),
            (Verdict::Inconclusive, Some("host load 1.2 vs 3.9".into()))
        );
        assert_eq!((c.regressions, exit_code(&c)), (0, exit::OK));
        assert_eq!(c.inconclusive, 3, "p50, p95, p99: {:?}", c.rows);
        assert!(c.notes.is_empty(), "{:?}", c.notes);
        let md = crate::report::comparison::markdown(&c);
        assert!(md.contains("*inconclusive* (host load 1.2 vs 3.9)"), "{md}");
        assert!(md.contains("3 change(s) inconclusive"), "{md}");
    }

    #[test]
    fn the_same_regression_under_alike_host_load_fails_the_gate() {
        let base = testkit::results(1.0, 3, testkit::load(1.2, 0.5));
        let slow = testkit::results(1.5, 3, testkit::load(1.9, 0.6));
        let c = compare(&base, &slow);
        assert_eq!(verdict(&c, "p50"), (Verdict::Regressed, None));
        assert_eq!((c.regressions, exit_code(&c)), (3, exit::CRITERIA_FAILED));
        // No change under different load stays "no significant change".
        let same = testkit::results(1.0, 3, testkit::load(3.9, 0.95));
        let c = compare(&base, &same);
        assert_eq!(verdict(&c, "p99").0, Verdict::NoSignificantChange);
        assert_eq!(c.inconclusive, 0);
    }

    #[test]
    fn older_files_without_host_data_compare_as_before_and_say_so_once() {
        let base = testkit::results(1.0, 3, None);
        let slow = testkit::results(1.5, 3, testkit::load(3.9, 0.9));
        let c = compare(&base, &slow);
        assert_eq!(verdict(&c, "p50"), (Verdict::Regressed, None));
        assert_eq!(c.notes.len(), 1, "{:?}", c.notes);
        assert!(c.notes[0].contains("host conditions not checked"));
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
}
