//! Two results files compared for the gate: which runs pair, what makes them different
//! experiments, and every metric's delta.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{DeltaRow, compare_runs};
use crate::gate::{HistoryReport, NoiseThresholds, Settings, host};
use crate::results::{ProfileRun, Results, WorkloadResult};
use crate::stats::Verdict;

/// Two results files compared for the gate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileComparison {
    pub baseline: String,
    pub current: String,
    pub forced: bool,
    /// What differs between the runs (empty when they are comparable).
    pub differences: Vec<String>,
    /// The configured thresholds (rows say where a learned one replaced them).
    pub noise: NoiseThresholds,
    pub confidence: f64,
    pub rows: Vec<DeltaRow>,
    pub regressions: usize,
    /// Rows beyond the noise under different host conditions: reported, never failing.
    #[serde(default)]
    pub inconclusive: usize,
    /// The host-conditions bound applied (see `gate::host`).
    #[serde(default)]
    pub host_bound: String,
    /// Said once: e.g. a side has no host data (older results file), so hosts were not checked.
    #[serde(default)]
    pub notes: Vec<String>,
    /// With `--history`: what it held and which thresholds were learned.
    #[serde(default)]
    pub history: Option<HistoryReport>,
    /// With `--confirm`: the current side measured again; a change counts only where it
    /// shows there too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_with: Option<String>,
    /// Changes the confirming run did not repeat (counted among `inconclusive`).
    #[serde(default)]
    pub unconfirmed: usize,
}

/// Pairs the runs of two files: a single profile on each side is compared whatever their
/// names (that is how a tuning change itself is gated); otherwise profiles pair by name.
pub fn pair_runs<'a>(base: &'a Results, cur: &'a Results) -> Vec<(&'a ProfileRun, &'a ProfileRun)> {
    if base.runs.len() == 1 && cur.runs.len() == 1 {
        return vec![(&base.runs[0], &cur.runs[0])];
    }
    base.runs
        .iter()
        .filter_map(|b| {
            cur.runs
                .iter()
                .find(|c| c.profile == b.profile)
                .map(|c| (b, c))
        })
        .collect()
}

/// Why two results files should not be compared: a different scenario, dataset or load shape,
/// or errors during the runs.
pub fn differences(base: &Results, cur: &Results) -> Vec<String> {
    let mut out = shape_differences(base, cur);
    for (label, r) in [("baseline", base), ("current", cur)] {
        if let Some(why) = &r.incomplete {
            out.push(format!("the {label} run is incomplete ({why})"));
        }
        for run in &r.runs {
            for w in run.workloads.iter().filter(|w| w.errors > 0) {
                out.push(format!(
                    "{label} {}/{} had {} errors",
                    run.profile, w.workload, w.errors
                ));
            }
        }
    }
    if pair_runs(base, cur).is_empty() {
        out.push("no profile of the baseline pairs with one of the current run (names differ and a side has several)".into());
    }
    out
}

/// What makes two runs different experiments: the scenario's name, its datasets' specs, its
/// load shape. The history keeps only runs without any.
pub fn shape_differences(base: &Results, cur: &Results) -> Vec<String> {
    let mut out = Vec::new();
    let name = |r: &Results| r.scenario.name.clone();
    if name(base) != name(cur) {
        out.push(format!("scenario: `{}` vs `{}`", name(base), name(cur)));
    }
    let hashes = |r: &Results| -> BTreeMap<String, String> {
        r.datasets
            .iter()
            .map(|d| (d.name.clone(), d.spec_hash.clone()))
            .collect()
    };
    if hashes(base) != hashes(cur) {
        out.push(format!(
            "dataset specs: {:?} vs {:?}",
            hashes(base),
            hashes(cur)
        ));
    }
    let (b, c) = (&base.scenario.load, &cur.scenario.load);
    let fields: [(&str, String, String); 8] = [
        ("mode", json(&b.mode), json(&c.mode)),
        ("concurrency", json(&b.concurrency), json(&c.concurrency)),
        ("rate", json(&b.rate), json(&c.rate)),
        ("arrivals", json(&b.arrivals), json(&c.arrivals)),
        (
            "max_in_flight",
            json(&b.max_in_flight),
            json(&c.max_in_flight),
        ),
        (
            "duration",
            json(&b.duration.as_secs_f64()),
            json(&c.duration.as_secs_f64()),
        ),
        (
            "warmup",
            json(&b.warmup.as_secs_f64()),
            json(&c.warmup.as_secs_f64()),
        ),
        (
            "op_timeout",
            json(&b.op_timeout.as_secs_f64()),
            json(&c.op_timeout.as_secs_f64()),
        ),
    ];
    for (field, b, c) in fields {
        if b != c {
            out.push(format!("load.{field}: {b} vs {c}"));
        }
    }
    out
}

/// A value as results.json writes it.
fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

pub fn compare_files(
    base: &Results,
    cur: &Results,
    names: (&str, &str),
    settings: &Settings,
    forced: bool,
) -> FileComparison {
    let pairs = pair_runs(base, cur);
    let rows: Vec<DeltaRow> = pairs
        .iter()
        .flat_map(|(b, c)| compare_runs(b, c, settings))
        .collect();
    let mut notes = Vec::new();
    let measured: Vec<(&WorkloadResult, &WorkloadResult)> = pairs
        .iter()
        .flat_map(|(b, c)| {
            b.workloads.iter().filter_map(|bw| {
                c.workloads
                    .iter()
                    .find(|cw| cw.workload == bw.workload && cw.target == bw.target)
                    .map(|cw| (bw, cw))
            })
        })
        .collect();
    if measured.iter().any(|(b, c)| {
        host::check(super::host_side(b), super::host_side(c)) == host::HostCheck::Unknown
    }) {
        notes.push("host conditions not checked: a side has no host load per trial (results written by an older tunebench)".into());
    } else if measured
        .iter()
        .any(|(b, c)| !host::other_work_known(super::host_side(b), super::host_side(c)))
    {
        notes.push("other work on the host not checked, only steal: the server listens on this host but its process was not found (another user's, or behind a container proxy), or a side was written by an older tunebench".into());
    }
    if !settings.host_check {
        notes.push("gate.host_check is false: host differences are shown but do not make a change inconclusive".into());
    }
    let (bc, cc) = (base.environment.host.cores, cur.environment.host.cores);
    if bc != cc {
        notes.push(format!(
            "the runs had different core counts ({bc} vs {cc}): host shares are of all cores on each side"
        ));
    }
    let count = |v: Verdict| rows.iter().filter(|r| r.verdict == v).count();
    FileComparison {
        baseline: names.0.to_string(),
        current: names.1.to_string(),
        forced,
        differences: differences(base, cur),
        noise: settings.noise.clone(),
        confidence: settings.bootstrap.confidence,
        regressions: count(Verdict::Regressed),
        inconclusive: count(Verdict::Inconclusive),
        host_bound: if settings.interleaved {
            host::bound_interleaved()
        } else {
            host::bound()
        },
        notes,
        history: None,
        confirmed_with: None,
        unconfirmed: 0,
        rows,
    }
}

/// Keeps a change only where the current side, measured again, shows it too: a row
/// `regressed` or `improved` whose twin in `again` (the same baseline judged against the
/// confirming run) has another verdict becomes `inconclusive`, its reason saying what the
/// confirming run measured. One run disturbed by other work on the host (a build's phase that
/// doubled p50 for the run's 30 s) then no longer fails the gate; a real change shows in both
/// runs.
pub fn confirm(first: &mut FileComparison, again: &FileComparison, label: &str) {
    for row in first
        .rows
        .iter_mut()
        .filter(|r| matches!(r.verdict, Verdict::Regressed | Verdict::Improved))
    {
        let twin = again.rows.iter().find(|t| {
            t.before_profile == row.before_profile
                && t.target == row.target
                && t.workload == row.workload
                && t.metric == row.metric
        });
        if twin.is_some_and(|t| t.verdict == row.verdict) {
            continue;
        }
        let seen = match twin {
            Some(t) => match t.change {
                Some(c) => format!("{} ({:+.1} %)", t.verdict.label(), c.point * 100.0),
                None => t.verdict.label().to_string(),
            },
            None => "not measured".to_string(),
        };
        let first_change = row
            .change
            .map(|c| format!(" {:+.1} %", c.point * 100.0))
            .unwrap_or_default();
        row.reason = Some(format!(
            "{}{first_change} in this run, not repeated when measured again: {seen} in {label}",
            row.verdict.label()
        ));
        row.verdict = Verdict::Inconclusive;
        first.unconfirmed += 1;
    }
    let count = |v: Verdict| first.rows.iter().filter(|r| r.verdict == v).count();
    first.regressions = count(Verdict::Regressed);
    first.inconclusive = count(Verdict::Inconclusive);
    first.confirmed_with = Some(label.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::testkit;
    use crate::error::exit;
    use crate::gate;

    fn compare(base: &Results, cur: &Results) -> FileComparison {
        let s = Settings::configured(NoiseThresholds::default(), Default::default(), 2);
        compare_files(base, cur, ("base", "cur"), &s, false)
    }

    fn verdict(c: &FileComparison, metric: &str) -> (Verdict, Option<String>) {
        let r = c.rows.iter().find(|r| r.metric == metric).unwrap();
        (r.verdict, r.reason.clone())
    }

    fn exit_code(c: &FileComparison) -> i32 {
        gate::exit_code(c.rows.iter().map(|r| r.verdict))
    }

    #[test]
    fn a_regression_under_different_host_load_is_inconclusive_and_exits_0() {
        let base = testkit::results(1.0, 3, testkit::load(0.03));
        let slow = testkit::results(1.5, 3, testkit::load(0.41));
        let c = compare(&base, &slow);
        assert_eq!(
            verdict(&c, "p50"),
            (Verdict::Inconclusive, Some("other work 3 % vs 41 %".into()))
        );
        assert_eq!((c.regressions, exit_code(&c)), (0, exit::OK));
        assert_eq!(c.inconclusive, 3, "p50, p95, p99: {:?}", c.rows);
        assert!(c.notes.is_empty(), "{:?}", c.notes);
    }

    #[test]
    fn the_same_regression_under_alike_host_load_fails_the_gate() {
        let base = testkit::results(1.0, 3, testkit::load(0.03));
        let slow = testkit::results(1.5, 3, testkit::load(0.10));
        let c = compare(&base, &slow);
        assert_eq!(verdict(&c, "p50"), (Verdict::Regressed, None));
        assert_eq!((c.regressions, exit_code(&c)), (3, exit::CRITERIA_FAILED));
        // No change under different load stays "no significant change".
        let same = testkit::results(1.0, 3, testkit::load(0.41));
        let c = compare(&base, &same);
        assert_eq!(verdict(&c, "p99").0, Verdict::NoSignificantChange);
        assert_eq!(c.inconclusive, 0);
    }

    #[test]
    fn a_regression_that_busies_the_server_is_not_hidden_by_its_own_load() {
        // The CI run that went wrong: a dropped index made the server burn CPU (busy 62 % ->
        // 92 %, load up by 3) while nothing else ran.
        let mut base = testkit::results(1.0, 3, testkit::load(0.02));
        let mut slow = testkit::results(5.0, 3, testkit::load(0.03));
        for (r, busy, load_1m) in [(&mut base, 0.62, 1.0), (&mut slow, 0.92, 4.0)] {
            for t in &mut r.runs[0].workloads[0].per_trial {
                let h = t.host.as_mut().unwrap();
                (h.busy, h.load_1m) = (busy, load_1m);
            }
        }
        let c = compare(&base, &slow);
        assert_eq!(verdict(&c, "p50"), (Verdict::Regressed, None));
        assert_eq!(exit_code(&c), exit::CRITERIA_FAILED);
        assert!(c.notes.is_empty(), "{:?}", c.notes);
    }

    #[test]
    fn unknown_other_work_judges_steal_only_and_host_check_off_keeps_verdicts() {
        let base = testkit::results(1.0, 3, testkit::load(0.03));
        let mut slow = testkit::results(1.5, 3, testkit::load(0.41));
        for t in &mut slow.runs[0].workloads[0].per_trial {
            t.host.as_mut().unwrap().other_busy = None;
        }
        let c = compare(&base, &slow);
        assert_eq!(verdict(&c, "p50"), (Verdict::Regressed, None));
        assert_eq!(c.notes.len(), 1, "{:?}", c.notes);
        assert!(c.notes[0].contains("only steal"), "{:?}", c.notes);

        let slow = testkit::results(1.5, 3, testkit::load(0.41));
        let s = Settings {
            host_check: false,
            ..Settings::configured(NoiseThresholds::default(), Default::default(), 2)
        };
        let c = compare_files(&base, &slow, ("base", "cur"), &s, false);
        let (v, why) = verdict(&c, "p50");
        assert_eq!(v, Verdict::Regressed);
        assert!(why.unwrap().contains("not applied"));
        assert!(c.notes.iter().any(|n| n.contains("host_check is false")));
    }

    #[test]
    fn older_files_without_host_data_compare_as_before_and_say_so_once() {
        let base = testkit::results(1.0, 3, None);
        let slow = testkit::results(1.5, 3, testkit::load(0.41));
        let c = compare(&base, &slow);
        assert_eq!(verdict(&c, "p50"), (Verdict::Regressed, None));
        assert_eq!(c.notes.len(), 1, "{:?}", c.notes);
        assert!(c.notes[0].contains("host conditions not checked"));
    }

    #[test]
    fn the_file_comparison_records_its_settings_and_a_core_count_difference() {
        let base = testkit::results(1.0, 3, testkit::load(0.0));
        let mut cur = testkit::results(1.0, 3, testkit::load(0.0));
        cur.environment.host.cores = base.environment.host.cores + 2;
        let c = compare(&base, &cur);
        assert_eq!((c.baseline.as_str(), c.current.as_str()), ("base", "cur"));
        assert_eq!(
            (c.noise.clone(), c.confidence),
            (NoiseThresholds::default(), 0.95)
        );
        assert!(
            c.host_bound.contains("differ by more than 15 points"),
            "{}",
            c.host_bound
        );
        assert_eq!(c.notes.len(), 1, "{:?}", c.notes);
        assert!(
            c.notes[0].contains("different core counts"),
            "{:?}",
            c.notes
        );
        assert!(c.differences.is_empty() && !c.forced && c.history.is_none());
    }

    #[test]
    fn single_profiles_pair_whatever_their_names_several_pair_by_name() {
        let mut base = testkit::results(1.0, 2, None);
        let mut cur = testkit::results(1.0, 2, None);
        cur.runs[0].profile = "tuned".into();
        let pairs = pair_runs(&base, &cur);
        assert_eq!(pairs.len(), 1);
        assert_eq!(
            (&*pairs[0].0.profile, &*pairs[0].1.profile),
            ("baseline", "tuned")
        );
        // Two profiles on the baseline: only same-named ones pair, so none here.
        let mut second = base.runs[0].clone();
        second.profile = "other".into();
        base.runs.push(second);
        assert!(pair_runs(&base, &cur).is_empty());
        let d = differences(&base, &cur);
        assert!(
            d.iter()
                .any(|d| d.contains("no profile of the baseline pairs")),
            "{d:?}"
        );
        cur.runs[0].profile = "other".into();
        let pairs = pair_runs(&base, &cur);
        assert_eq!(pairs.len(), 1);
        assert_eq!(&*pairs[0].0.profile, "other");
    }

    #[test]
    fn a_different_scenario_dataset_load_or_errors_make_runs_incomparable() {
        let base = testkit::results(1.0, 2, None);
        let same = testkit::results(1.3, 2, None);
        assert!(differences(&base, &same).is_empty());
        let mut cur = same.clone();
        cur.scenario.name = "other".into();
        cur.scenario.load.concurrency = 8;
        cur.datasets[0].spec_hash = "changed".into();
        let d = shape_differences(&base, &cur);
        assert_eq!(d.len(), 3, "{d:?}");
        assert_eq!(d[0], "scenario: `postgres-fts` vs `other`");
        assert!(d[1].starts_with("dataset specs:"), "{d:?}");
        assert_eq!(d[2], "load.concurrency: 4 vs 8");
        // Evenly spaced and Poisson arrivals are different experiments at the same rate.
        let mut poisson = same.clone();
        poisson.scenario.load.arrivals = crate::driver::pacing::Arrivals::Poisson;
        assert_eq!(
            shape_differences(&base, &poisson),
            vec!["load.arrivals: \"uniform\" vs \"poisson\"".to_string()]
        );
        // Errors are a difference for the gate, not a different experiment for the history.
        let mut failing = same.clone();
        failing.runs[0].workloads[0].errors = 7;
        assert!(shape_differences(&base, &failing).is_empty());
        assert_eq!(
            differences(&base, &failing),
            vec!["current baseline/fts_search had 7 errors".to_string()]
        );
    }

    #[test]
    fn a_change_counts_only_where_the_confirming_run_shows_it_too() {
        let base = testkit::results(1.0, 3, testkit::load(0.03));
        let slow = testkit::results(1.5, 3, testkit::load(0.03));
        // Measured again, still slow: every regression stands.
        let mut c = compare(&base, &slow);
        confirm(&mut c, &compare(&base, &slow), "again.json");
        assert_eq!(verdict(&c, "p99"), (Verdict::Regressed, None));
        assert_eq!((c.regressions, c.unconfirmed), (3, 0));
        assert_eq!(c.confirmed_with.as_deref(), Some("again.json"));
        assert_eq!(exit_code(&c), exit::CRITERIA_FAILED);
        // Measured again, as fast as the baseline: the one slow run does not fail the gate.
        let mut c = compare(&base, &slow);
        confirm(&mut c, &compare(&base, &base), "again.json");
        let (v, why) = verdict(&c, "p50");
        assert_eq!(v, Verdict::Inconclusive);
        let why = why.unwrap();
        assert!(
            why.starts_with("regressed +50.")
                && why.contains(
                    "in this run, not repeated when measured again: no significant change (+0.0 %) in again.json"
                ),
            "{why}"
        );
        assert_eq!((c.regressions, c.inconclusive, c.unconfirmed), (0, 3, 3));
        assert_eq!(exit_code(&c), exit::OK);
        // Improvements need confirming too; rows without a change are left alone.
        let mut c = compare(&slow, &base);
        confirm(&mut c, &compare(&slow, &slow), "again.json");
        assert_eq!(verdict(&c, "p95").0, Verdict::Inconclusive);
        assert_eq!(
            verdict(&c, "throughput"),
            (Verdict::NoSignificantChange, None)
        );
        // A workload the confirming run did not measure confirms nothing.
        let mut missing = slow.clone();
        missing.runs[0].workloads[0].workload = "other".into();
        let mut c = compare(&base, &slow);
        confirm(&mut c, &compare(&base, &missing), "again.json");
        assert!(
            verdict(&c, "p50")
                .1
                .unwrap()
                .ends_with("not measured in again.json"),
            "{:?}",
            c.rows
        );
        assert_eq!(c.regressions, 0);
    }
}
