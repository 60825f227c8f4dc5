//! Thresholds learned from history: earlier results files of the same scenario (a folder,
//! searched recursively for `results.json`, or an S3 prefix) give each (profile, workload,
//! metric) its between-run noise, which the bootstrap over one run's trials cannot see.
//! What is learned is the gate's configuration (`gate::LearnedThreshold`); reading results
//! files to learn it sits above `results` and `compare`.

pub(crate) mod s3;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use crate::error::{Error, InputIssue, Result};
use crate::gate::{HistoryReport, LearnedThreshold, NoiseThresholds};
use crate::results::Results;
use crate::stats;

/// Fewer runs than this of a (profile, workload, metric) keep the configured threshold.
pub const MIN_RUNS: usize = 5;

/// An S3 bucket name: 3-63 lowercase letters, digits, '-' or '.', starting and ending with a
/// letter or digit.
pub(crate) fn valid_bucket(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !bucket.starts_with(['-', '.'])
        && !bucket.ends_with(['-', '.'])
}

/// Where the history is.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Folder(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl Source {
    /// `s3://BUCKET/PREFIX` or an existing folder.
    pub fn parse(text: &str) -> Result<Self> {
        let usage = |why: String| {
            Error::Usage(format!(
                "--history `{text}`: {why}; give a folder of earlier results (searched recursively for results.json) or s3://BUCKET/PREFIX"
            ))
        };
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if !valid_bucket(bucket) {
                return Err(usage(format!(
                    "`{bucket}` is not a valid bucket name (3-63 lowercase letters, digits, '-' or '.')"
                )));
            }
            return Ok(Source::S3 {
                bucket: bucket.into(),
                prefix: prefix.into(),
            });
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(usage(format!("the scheme `{scheme}://` is not supported")));
        }
        let path = PathBuf::from(text);
        if !path.is_dir() {
            return Err(usage(if path.exists() {
                "is a file, not a folder".into()
            } else {
                "no such folder".into()
            }));
        }
        Ok(Source::Folder(path))
    }

    fn label(&self) -> String {
        match self {
            Source::Folder(p) => p.display().to_string(),
            Source::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }
}

/// Every results file of the history, with where it came from. A file that cannot be read
/// is an error naming it (exit 2): a silently shorter history would move the thresholds.
pub async fn load(source: &Source) -> Result<Vec<(String, Results)>> {
    match source {
        Source::Folder(dir) => {
            let mut files = Vec::new();
            walk(dir, &mut files, &mut HashSet::new())?;
            files.sort();
            files
                .into_iter()
                .map(|p| Ok((p.display().to_string(), Results::read(&p)?)))
                .collect()
        }
        Source::S3 { bucket, prefix } => s3::load(bucket, prefix).await,
    }
}

/// Every results.json under `dir`. Symbolic links to folders are followed (a history
/// gathered from run folders kept elsewhere), each folder and file once by its real path, so
/// a link loop ends and a run linked twice counts once.
fn walk(dir: &Path, out: &mut Vec<PathBuf>, seen: &mut HashSet<PathBuf>) -> Result<()> {
    let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    if !seen.insert(real) {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Error::input(InputIssue::new(
            dir,
            "",
            format!("cannot read the --history folder: {e}"),
        ))
    })?;
    // In name order, so a run linked twice is always reached by the same name.
    let mut entries = entries
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| Error::input(InputIssue::new(dir, "", e.to_string())))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| Error::input(InputIssue::new(&path, "", e.to_string())))?;
        // A link's target decides (a dangling link is no folder).
        let is_dir = kind.is_dir()
            || (kind.is_symlink() && std::fs::metadata(&path).is_ok_and(|m| m.is_dir()));
        if is_dir {
            walk(&path, out, seen)?;
        } else if path.file_name().is_some_and(|n| n == "results.json") {
            let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if seen.insert(real) {
                out.push(path);
            }
        }
    }
    Ok(())
}

/// Whether two results files hold the same run (one copied into the history, say): same
/// host, same start and end.
pub fn same_run(a: &Results, b: &Results) -> bool {
    a.started_at == b.started_at
        && a.finished_at == b.finished_at
        && a.environment.host.hostname == b.environment.host.hostname
}

/// Keeps the history runs of the current run's scenario and learns a threshold for each
/// (profile, target, workload, metric) with at least `MIN_RUNS` error-free values. The
/// current run and the confirming one (`compare --confirm`), when found, are left out: a run
/// must not set the threshold it is judged by.
pub fn learn(
    source: &Source,
    found: &[(String, Results)],
    current: &Results,
    confirming: Option<&Results>,
    configured: &NoiseThresholds,
) -> (HistoryReport, Vec<LearnedThreshold>) {
    let total = found.len();
    let (mut current_excluded, mut confirming_excluded) = (false, false);
    let mut used = Vec::new();
    for (_, r) in found {
        if same_run(r, current) {
            current_excluded = true;
        } else if confirming.is_some_and(|c| same_run(r, c)) {
            confirming_excluded = true;
        } else if crate::compare::shape_differences(r, current).is_empty() {
            used.push(r);
        }
    }
    let skipped =
        total - used.len() - usize::from(current_excluded) - usize::from(confirming_excluded);
    // The host conditions of each of the current run's workloads: a history run teaches only
    // a workload measured under like conditions (other work, steal), so a quiet history does
    // not set tight thresholds for a run under a concurrent build, nor a loaded one loose
    // thresholds for a quiet run.
    let now: BTreeMap<(String, String, String), crate::host::HostLoad> = current
        .runs
        .iter()
        .flat_map(|run| {
            run.workloads.iter().filter_map(|w| {
                let key = (run.profile.clone(), w.target.clone(), w.workload.clone());
                Some((key, crate::compare::host_side(w)?))
            })
        })
        .collect();
    let mut unlike = 0usize;
    let mut values: BTreeMap<(String, String, String, String), Vec<f64>> = BTreeMap::new();
    for &r in &used {
        for run in &r.runs {
            for w in run.workloads.iter().filter(|w| w.errors == 0 && w.ops > 0) {
                let key = (run.profile.clone(), w.target.clone(), w.workload.clone());
                if let (Some(past), Some(now)) = (crate::compare::host_side(w), now.get(&key))
                    && !crate::gate::host::alike(&past, now)
                {
                    unlike += 1;
                    continue;
                }
                for (metric, v) in [
                    ("p50", w.latency_ms.p50),
                    ("p95", w.latency_ms.p95),
                    ("p99", w.latency_ms.p99),
                    ("throughput", w.throughput_ops_s),
                ] {
                    let key = (
                        run.profile.clone(),
                        w.target.clone(),
                        w.workload.clone(),
                        metric.to_string(),
                    );
                    values.entry(key).or_default().push(v);
                }
            }
        }
    }
    let learned: Vec<LearnedThreshold> = values
        .into_iter()
        .filter(|(_, v)| v.len() >= MIN_RUNS)
        .filter_map(|((profile, target, workload, metric), v)| {
            let sigma_log = stats::robust_log_sd(&v)?;
            Some(LearnedThreshold {
                profile,
                target,
                workload,
                metric,
                runs: v.len(),
                sigma_log,
                threshold: stats::learned_threshold(sigma_log),
            })
        })
        .collect();
    let mut note = format!(
        "history {}: {} run(s) of this scenario used, {skipped} file(s) of another scenario, dataset or load shape skipped{}",
        source.label(),
        used.len(),
        match (current_excluded, confirming_excluded) {
            (true, true) => ", the current run itself and the confirming run (--confirm) left out",
            (true, false) => ", the current run itself left out",
            (false, true) => ", the confirming run (--confirm) left out",
            (false, false) => "",
        }
    );
    if unlike > 0 {
        note.push_str(&format!(
            "; {unlike} workload measurement(s) under other host conditions than the current run's left out (other work more than {:.0} points apart, or steal over {:.0} %)",
            crate::gate::host::OTHER_DELTA * 100.0,
            crate::gate::host::STEAL_MAX * 100.0
        ));
    }
    if learned.is_empty() {
        note.push_str(&format!(
            "; fewer than {MIN_RUNS} runs per metric, so the configured thresholds are kept (p50 {:.0} %, p95 {:.0} %, p99 {:.0} %, throughput {:.0} %)",
            configured.p50 * 100.0,
            configured.p95 * 100.0,
            configured.p99 * 100.0,
            configured.throughput * 100.0
        ));
    } else {
        note.push_str(&format!(
            "; {} threshold(s) learned (metrics with fewer than {MIN_RUNS} runs keep the configured one)",
            learned.len()
        ));
    }
    let report = HistoryReport {
        source: source.label(),
        runs: used.len(),
        skipped,
        current_excluded,
        confirming_excluded,
        min_runs: MIN_RUNS,
        confidence: stats::LEARN_CONFIDENCE,
        learned: learned.clone(),
        note,
    };
    (report, learned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::testkit;
    use crate::gate::Settings;
    use crate::stats::Verdict;

    /// Runs at `ms` x each factor, named as if found in a folder.
    fn history(ms: f64, factors: &[f64]) -> Vec<(String, Results)> {
        factors
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let mut r = testkit::results(ms * f, 3, testkit::load(0.0));
                r.started_at += chrono::Duration::seconds(i as i64 + 1);
                (format!("h{i}/results.json"), r)
            })
            .collect()
    }

    fn source() -> Source {
        Source::Folder("hist".into())
    }

    #[test]
    fn learns_from_runs_of_the_same_scenario_and_skips_others() {
        let current = testkit::results(1.0, 3, testkit::load(0.0));
        let mut found = history(1.0, &[1.0, 1.02, 0.98, 1.01, 0.99, 1.03]);
        let mut other = testkit::results(1.0, 3, None);
        other.scenario.name = "another".into();
        // Another run, not the current one seen again.
        other.started_at += chrono::Duration::seconds(100);
        found.push(("other/results.json".into(), other));
        found.push(("self/results.json".into(), current.clone()));
        let (report, learned) = learn(
            &source(),
            &found,
            &current,
            None,
            &NoiseThresholds::default(),
        );
        assert_eq!((report.runs, report.skipped), (6, 1));
        assert!(report.current_excluded);
        let p99 = learned.iter().find(|l| l.metric == "p99").unwrap();
        assert_eq!(p99.runs, 6);
        // ln spread about 1.5 %: threshold exp(2.326 x 1.414 x sigma) - 1, about 3-8 %.
        assert!((0.01..0.10).contains(&p99.sigma_log), "{p99:?}");
        assert!((p99.threshold - crate::stats::learned_threshold(p99.sigma_log)).abs() < 1e-12);
        // Throughput never moved: the floor.
        let tp = learned.iter().find(|l| l.metric == "throughput").unwrap();
        assert_eq!(tp.threshold, crate::stats::MIN_LEARNED_THRESHOLD);
        assert!(report.note.contains("6 run(s)") && report.note.contains("1 file(s)"));
    }

    #[test]
    fn fewer_than_five_runs_keep_the_configured_thresholds() {
        let current = testkit::results(1.0, 3, testkit::load(0.0));
        let (report, learned) = learn(
            &source(),
            &history(1.0, &[1.0, 1.02, 0.98, 1.01]),
            &current,
            None,
            &NoiseThresholds::default(),
        );
        assert!(learned.is_empty());
        assert!(report.note.contains("fewer than 5 runs"), "{}", report.note);
        assert!(report.note.contains("p99 35 %"), "{}", report.note);
    }

    /// The point of learning: a quiet history tightens the p99 threshold enough to catch a
    /// +20 % p99 the configured 35 % misses; a noisy one widens p50's so a +20 % drift that
    /// its history shows to be normal is not called a regression.
    #[test]
    fn learned_thresholds_change_verdicts_both_ways() {
        let base = testkit::results(1.0, 3, testkit::load(0.0));
        let slow = testkit::results(1.2, 3, testkit::load(0.0));
        let verdict = |found: Vec<(String, Results)>, metric: &str| {
            let mut s = Settings::configured(NoiseThresholds::default(), Default::default(), 2);
            s.learned = learn(&source(), &found, &slow, None, &s.noise).1;
            let c = crate::compare::compare_files(&base, &slow, ("b", "c"), &s, false);
            let r = c.rows.iter().find(|r| r.metric == metric).unwrap().clone();
            (r.verdict, r.threshold_runs)
        };
        assert_eq!(
            verdict(history(1.0, &[]), "p99"),
            (Verdict::NoSignificantChange, None)
        );
        assert_eq!(
            verdict(history(1.0, &[1.0, 1.01, 0.99, 1.0, 1.02]), "p99"),
            (Verdict::Regressed, Some(5))
        );
        assert_eq!(
            verdict(history(1.0, &[1.0],), "p50"),
            (Verdict::Regressed, None)
        );
        assert_eq!(
            verdict(history(1.0, &[1.0, 1.15, 0.85, 1.2, 0.8, 1.1]), "p50"),
            (Verdict::NoSignificantChange, Some(6))
        );
    }

    /// Runs at `ms` x each factor under `other` work, as `history` makes them.
    fn loaded_history(ms: f64, other: f64, factors: &[f64]) -> Vec<(String, Results)> {
        let mut h = history(ms, factors);
        for (_, r) in &mut h {
            for t in &mut r.runs[0].workloads[0].per_trial {
                t.host = testkit::load(other);
            }
        }
        h
    }

    /// Under a concurrent build (half the CPU taken by other work on both sides), a +60 %
    /// p50 stands as a regression when the history was taken under that load, from enough
    /// runs (`LOADED_MIN_RUNS`): its threshold holds the loaded runs' drift. From fewer it
    /// stays inconclusive and says why. The same comparison with a quiet history learns
    /// nothing (its runs teach another load) and stays inconclusive, as without history.
    #[test]
    fn a_history_under_the_same_load_judges_a_loaded_pair() {
        let base = loaded_history(1.0, 0.5, &[1.0]).remove(0).1;
        let mut slow = loaded_history(1.6, 0.5, &[1.0]).remove(0).1;
        // Not any history run seen again.
        slow.started_at += chrono::Duration::seconds(1000);
        let judge = |found: Vec<(String, Results)>| {
            let mut s = Settings::configured(NoiseThresholds::default(), Default::default(), 2);
            let (report, learned) = learn(&source(), &found, &slow, None, &s.noise);
            s.learned = learned;
            let c = crate::compare::compare_files(&base, &slow, ("b", "c"), &s, false);
            let r = c.rows.iter().find(|r| r.metric == "p50").unwrap().clone();
            (r.verdict, r.threshold_runs, report.note, r.reason)
        };
        let noisy = [1.0, 1.1, 0.92, 1.05, 0.95, 1.08, 1.02, 0.97, 1.06, 0.94];
        let (v, runs, _, _) = judge(loaded_history(1.0, 0.5, &noisy));
        assert_eq!((v, runs), (Verdict::Regressed, Some(10)));
        let (v, runs, _, why) = judge(loaded_history(1.0, 0.5, &noisy[..9]));
        assert_eq!((v, runs), (Verdict::Inconclusive, Some(9)));
        let why = why.unwrap_or_default();
        assert!(why.contains("learned from 9 runs"), "{why}");
        let (v, runs, note, _) = judge(loaded_history(1.0, 0.02, &noisy));
        assert_eq!((v, runs), (Verdict::Inconclusive, None));
        assert!(
            note.contains("10 workload measurement(s) under other host conditions"),
            "{note}"
        );
        // A drift the loaded history shows to be normal is no regression.
        let wide = [1.0, 1.3, 0.75, 1.4, 0.7, 1.2, 1.1, 0.8, 1.35, 0.72];
        let (v, runs, _, _) = judge(loaded_history(1.0, 0.5, &wide));
        assert_eq!((v, runs), (Verdict::NoSignificantChange, Some(10)));
    }

    /// Run folders linked into a history folder count, each once; a link loop ends.
    #[cfg(unix)]
    #[test]
    fn linked_run_folders_count_once_and_a_link_loop_ends() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        for r in ["a", "b"] {
            std::fs::create_dir_all(runs.join(r)).unwrap();
            std::fs::write(runs.join(r).join("results.json"), "{}").unwrap();
        }
        let hist = dir.path().join("hist");
        std::fs::create_dir_all(hist.join("own")).unwrap();
        std::fs::write(hist.join("own/results.json"), "{}").unwrap();
        symlink(runs.join("a"), hist.join("a")).unwrap();
        symlink(runs.join("a"), hist.join("a-again")).unwrap();
        symlink(runs.join("b"), hist.join("b")).unwrap();
        symlink(&hist, hist.join("own/loop")).unwrap();
        // A results file linked on its own, to a run also reached through a folder link.
        std::fs::create_dir_all(hist.join("file")).unwrap();
        symlink(runs.join("b/results.json"), hist.join("file/results.json")).unwrap();
        symlink(dir.path().join("gone"), hist.join("dangling")).unwrap();
        let mut files = Vec::new();
        walk(&hist, &mut files, &mut HashSet::new()).unwrap();
        let mut real: Vec<PathBuf> = files
            .iter()
            .map(|f| std::fs::canonicalize(f).unwrap())
            .collect();
        real.sort();
        let mut want = [
            runs.join("a/results.json"),
            runs.join("b/results.json"),
            hist.join("own/results.json"),
        ]
        .map(|p| std::fs::canonicalize(p).unwrap());
        want.sort();
        assert_eq!(real, want, "{files:?}");
        assert!(files.contains(&hist.join("a/results.json")), "{files:?}");
    }

    #[test]
    fn bad_sources_are_usage_errors_naming_what_is_valid() {
        for bad in [
            "s3://",
            "s3://A_b/x",
            "http://host/x",
            "/no/such/folder/tunebench",
        ] {
            let e = Source::parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            let msg = e.to_string();
            assert!(
                msg.contains(bad) && msg.contains("s3://BUCKET/PREFIX"),
                "{msg}"
            );
        }
        assert_eq!(
            Source::parse("s3://tunebench-history/ci/main").unwrap(),
            Source::S3 {
                bucket: "tunebench-history".into(),
                prefix: "ci/main".into()
            }
        );
    }
}
