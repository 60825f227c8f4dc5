//! The one comparison path: `tunebench compare` and `tunebench run --baseline` both judge a
//! current results file against a baseline here, with thresholds from the scenario's `[gate]`,
//! `--noise` and, with `--history`, learned from earlier runs; the comparison is written as
//! JSON, rendered as markdown (`report::comparison`) and turned into the gate's exit code.

use std::path::{Path, PathBuf};

use crate::compare::{self, FileComparison};
use crate::error::{Error, InputIssue, Result};
use crate::gate::{self, GateSpec, NoiseOverrides, Settings};
use crate::history;
use crate::report;
use crate::results::Results;

/// How the gate runs, checked before any long work (the command line's `GateArgs`, parsed).
#[derive(Debug, Clone, Default)]
pub struct GateOptions {
    /// Thresholds that replace the scenario's `[gate]` ones.
    pub noise: NoiseOverrides,
    /// Compare even when the runs are different experiments or had errors.
    pub force: bool,
    /// Where earlier runs are, to learn each metric's threshold from.
    pub history: Option<history::Source>,
    /// `--no-host-check`: different host conditions do not make a change inconclusive.
    pub no_host_check: bool,
    /// The sides are profiles of one run whose trials alternated (`run --gate-profiles`).
    pub interleaved: bool,
}

/// What the gate found, and where the comparison was written.
#[derive(Debug)]
pub struct GateOutcome {
    pub comparison: FileComparison,
    pub json_path: PathBuf,
    pub markdown: String,
    /// 1 on a significant regression, else 0.
    pub exit_code: i32,
}

/// `run --gate-profiles`: the last profile of one run judged against its first, as `compare`
/// judges two runs, and written to `json`. When the run's trials alternated between the
/// profiles (`load.interleave`), the host's slowdowns hit both sides alike, so only a
/// difference between them makes a change inconclusive, not how loaded both were.
pub async fn gate_profiles(
    results: &Results,
    path: &Path,
    spec: &GateSpec,
    options: &GateOptions,
    json: &Path,
) -> Result<GateOutcome> {
    let mut shell = results.clone();
    let runs = std::mem::take(&mut shell.runs);
    let (Some(first), Some(last)) = (runs.first(), runs.last().filter(|_| runs.len() > 1)) else {
        return Err(Error::Usage(format!(
            "--gate-profiles: {} holds {} profile(s); the gate needs two (the first is the baseline, the last is judged against it)",
            path.display(),
            runs.len()
        )));
    };
    let side = |run: &crate::results::ProfileRun| {
        let label = PathBuf::from(format!("{} (profile `{}`)", path.display(), run.profile));
        let one = Results {
            runs: vec![run.clone()],
            ..shell.clone()
        };
        (one, label)
    };
    let ((base, base_label), (cur, cur_label)) = (side(first), side(last));
    let options = GateOptions {
        interleaved: results.trials_interleaved(),
        ..options.clone()
    };
    compare_and_gate(
        (&base, &base_label),
        (&cur, &cur_label),
        None,
        spec,
        &options,
        json,
    )
    .await
}

/// Compares `cur` against `base` (each a results file and its path) with `spec` and
/// `options`, refusing (exit 2) runs that are not comparable unless forced, and writes the
/// comparison to `json`. With `again` (`compare --confirm`: the current side measured once
/// more), the baseline is judged against it too and a change counts only where both show it;
/// neither current run teaches the history's thresholds.
pub async fn compare_and_gate(
    base: (&Results, &Path),
    cur: (&Results, &Path),
    again: Option<(&Results, &Path)>,
    spec: &GateSpec,
    options: &GateOptions,
    json: &Path,
) -> Result<GateOutcome> {
    let cores = cur.0.environment.host.cores.max(1);
    let mut settings = Settings::of_spec(spec, &options.noise, cores);
    settings.host_check &= !options.no_host_check;
    settings.interleaved = options.interleaved;
    let found = match &options.history {
        Some(source) => Some((source, history::load(source).await?)),
        None => None,
    };
    let names = (base.1.display().to_string(), cur.1.display().to_string());
    // One judgement of the baseline against a current run; the history leaves out both
    // current runs.
    let judged = |current: &Results, name: &str, other: Option<&Results>| {
        let mut settings = settings.clone();
        let report = found.as_ref().map(|(source, found)| {
            let (report, learned) = history::learn(source, found, current, other, &settings.noise);
            settings.learned = learned;
            report
        });
        let mut cmp =
            compare::compare_files(base.0, current, (&names.0, name), &settings, options.force);
        cmp.history = report;
        cmp
    };
    if let Some((again, path)) = again
        && history::same_run(cur.0, again)
    {
        return Err(Error::input(InputIssue::new(
            path,
            "",
            format!(
                "--confirm: this is the current run {} itself (same host, start and end); give a second run of the current side",
                names.1
            ),
        )));
    }
    let mut cmp = judged(cur.0, &names.1, again.map(|a| a.0));
    if let Some((again, path)) = again {
        let label = path.display().to_string();
        let second = judged(again, &label, Some(cur.0));
        for d in &second.differences {
            if !cmp.differences.contains(d) {
                cmp.differences
                    .push(format!("the confirming run {label}: {d}"));
            }
        }
        compare::confirm(&mut cmp, &second, &label);
    }
    if !cmp.differences.is_empty() && !options.force {
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
    std::fs::write(
        json,
        serde_json::to_string_pretty(&cmp).expect("serializes"),
    )
    .map_err(|e| Error::io(json, e))?;
    Ok(GateOutcome {
        markdown: report::comparison::markdown(&cmp),
        exit_code: gate::exit_code(cmp.rows.iter().map(|r| r.verdict)),
        json_path: json.to_path_buf(),
        comparison: cmp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::testkit;
    use crate::error::exit;

    async fn gate_files(
        base: &Results,
        cur: &Results,
        options: &GateOptions,
        dir: &Path,
    ) -> Result<GateOutcome> {
        gate_confirmed(base, cur, None, options, dir).await
    }

    async fn gate_confirmed(
        base: &Results,
        cur: &Results,
        again: Option<&Results>,
        options: &GateOptions,
        dir: &Path,
    ) -> Result<GateOutcome> {
        let json = dir.join("comparison.json");
        compare_and_gate(
            (base, Path::new("base/results.json")),
            (cur, Path::new("cur/results.json")),
            again.map(|a| (a, Path::new("again/results.json"))),
            &GateSpec::default(),
            options,
            &json,
        )
        .await
    }

    #[tokio::test]
    async fn a_regression_is_written_rendered_and_exits_1() {
        let dir = tempfile::tempdir().unwrap();
        let base = testkit::results(1.0, 3, testkit::load(0.0));
        let slow = testkit::results(1.5, 3, testkit::load(0.0));
        let out = gate_files(&base, &slow, &GateOptions::default(), dir.path())
            .await
            .unwrap();
        assert_eq!(out.exit_code, exit::CRITERIA_FAILED);
        assert_eq!(out.comparison.regressions, 3);
        assert_eq!(out.json_path, dir.path().join("comparison.json"));
        assert_eq!(
            std::fs::read_to_string(&out.json_path).unwrap(),
            serde_json::to_string_pretty(&out.comparison).unwrap()
        );
        assert_eq!(out.markdown, report::comparison::markdown(&out.comparison));
        assert!(
            out.markdown
                .starts_with("### tunebench: `base/results.json` vs `cur/results.json`")
        );
        // The same runs judged with a p50-p99 noise of 90 % pass.
        let lenient = GateOptions {
            noise: NoiseOverrides::parse(&["p50=0.9", "p95=0.9", "p99=0.9"].map(String::from))
                .unwrap(),
            ..GateOptions::default()
        };
        let out = gate_files(&base, &slow, &lenient, dir.path())
            .await
            .unwrap();
        assert_eq!((out.exit_code, out.comparison.regressions), (exit::OK, 0));
        assert_eq!(out.comparison.noise.p99, 0.9);
    }

    #[tokio::test]
    async fn different_experiments_are_refused_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let base = testkit::results(1.0, 3, None);
        let mut other = testkit::results(1.0, 3, None);
        other.scenario.name = "another".into();
        let err = gate_files(&base, &other, &GateOptions::default(), dir.path())
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), exit::BAD_INPUT);
        let msg = err.to_string();
        assert!(msg.contains("cur/results.json"), "{msg}");
        assert!(
            msg.contains("not comparable with base/results.json: scenario:"),
            "{msg}"
        );
        assert!(msg.contains("use --force to compare anyway"), "{msg}");
        assert!(!dir.path().join("comparison.json").exists());
        let forced = GateOptions {
            force: true,
            ..GateOptions::default()
        };
        let out = gate_files(&base, &other, &forced, dir.path())
            .await
            .unwrap();
        assert!(out.comparison.forced && out.exit_code == exit::OK);
        assert!(
            out.markdown
                .contains("Compared with --force despite: scenario:")
        );
        assert!(dir.path().join("comparison.json").exists());
    }

    #[tokio::test]
    async fn a_confirming_run_is_judged_alike_and_left_out_of_the_history() {
        let dir = tempfile::tempdir().unwrap();
        let hist = dir.path().join("hist");
        let later = |mut r: Results, s: i64| {
            r.started_at += chrono::Duration::seconds(s);
            r
        };
        let write = |r: &Results, name: &str| {
            std::fs::create_dir_all(hist.join(name)).unwrap();
            r.write(&hist.join(name).join("results.json")).unwrap();
        };
        for i in 0..5 {
            let ms = 1.0 + 0.01 * f64::from(i);
            write(
                &later(
                    testkit::results(ms, 3, testkit::load(0.0)),
                    i64::from(i) + 1,
                ),
                &format!("h{i}"),
            );
        }
        let base = testkit::results(1.0, 3, testkit::load(0.0));
        let slow = later(testkit::results(1.5, 3, testkit::load(0.0)), 100);
        let fast_again = later(testkit::results(1.0, 3, testkit::load(0.0)), 200);
        // Both current runs were kept in the history too, as on a runner that keeps every run.
        write(&slow, "cur");
        write(&fast_again, "again");
        let options = GateOptions {
            history: Some(history::Source::parse(&hist.display().to_string()).unwrap()),
            ..GateOptions::default()
        };
        let gate = |again| gate_confirmed(&base, &slow, again, &options, dir.path());
        // Alone, the slow run fails the gate; learned from the 5 earlier runs only.
        let out = gate(None).await.unwrap();
        assert_eq!(
            (out.exit_code, out.comparison.regressions),
            (exit::CRITERIA_FAILED, 3)
        );
        // Measured again as fast as before: not repeated, so inconclusive, and exit 0.
        let out = gate(Some(&fast_again)).await.unwrap();
        let c = &out.comparison;
        assert_eq!(out.exit_code, exit::OK);
        assert_eq!((c.regressions, c.unconfirmed, c.inconclusive), (0, 3, 3));
        let note = &c.history.as_ref().unwrap().note;
        assert!(
            note.contains(": 5 run(s) of this scenario used")
                && note
                    .contains("the current run itself and the confirming run (--confirm) left out"),
            "{note}"
        );
        assert!(
            out.markdown.contains("Confirmed with `again/results.json`")
                && out
                    .markdown
                    .contains("3 change(s) not repeated by the confirming run")
                && !out.markdown.contains("loaded differently"),
            "{}",
            out.markdown
        );
        // Measured again and still slow: the regression stands.
        let slow_again = later(testkit::results(1.5, 3, testkit::load(0.0)), 300);
        let out = gate(Some(&slow_again)).await.unwrap();
        assert_eq!(
            (out.exit_code, out.comparison.regressions),
            (exit::CRITERIA_FAILED, 3)
        );
        // The current run given as its own confirmation is refused.
        let err = gate(Some(&slow)).await.unwrap_err();
        assert_eq!(err.exit_code(), exit::BAD_INPUT);
        assert!(
            err.to_string().contains(
                "again/results.json: --confirm: this is the current run cur/results.json itself"
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn the_last_profile_of_an_interleaved_run_is_gated_against_the_first_whatever_both_shared()
     {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.json");
        let json = dir.path().join("comparison-profiles.json");
        let gate = |r: Results| {
            let (path, json) = (path.clone(), json.clone());
            async move {
                gate_profiles(
                    &r,
                    &path,
                    &GateSpec::default(),
                    &GateOptions::default(),
                    &json,
                )
                .await
            }
        };
        // Both profiles beside a build (about 30 % other work each): interleaved trials shared
        // it, so the regression stands and fails the gate.
        let loaded = |ms| (ms, testkit::load(0.30));
        let run = testkit::two_profiles(loaded(1.0), loaded(1.5), 3);
        let out = gate(run.clone()).await.unwrap();
        assert_eq!(
            (out.exit_code, out.comparison.regressions),
            (exit::CRITERIA_FAILED, 3),
            "{}",
            out.markdown
        );
        assert!(out.comparison.host_bound.contains("trials alternated"));
        assert!(
            out.comparison
                .current
                .ends_with("results.json (profile `b`)")
        );
        assert!(
            out.comparison
                .baseline
                .ends_with("results.json (profile `a`)")
        );
        assert!(json.exists());
        // The same figures from profiles run one after another: the absolute bound holds
        // (other work over 25 %), so the change is only inconclusive.
        let mut apart = run;
        apart.scenario.load.interleave = false;
        let out = gate(apart).await.unwrap();
        assert_eq!((out.exit_code, out.comparison.regressions), (exit::OK, 0));
        assert_eq!(out.comparison.inconclusive, 3, "{}", out.markdown);
        // Interleaved, but the sides' other work differed by 20 points: inconclusive.
        let run = testkit::two_profiles((1.0, testkit::load(0.05)), (1.5, testkit::load(0.25)), 3);
        let out = gate(run.clone()).await.unwrap();
        assert_eq!((out.exit_code, out.comparison.inconclusive), (exit::OK, 3));
        // One profile: nothing to gate against (exit 2, the file named).
        let mut one = run;
        one.runs.truncate(1);
        let err = gate(one).await.unwrap_err();
        assert_eq!(err.exit_code(), exit::BAD_INPUT);
        assert!(
            err.to_string().contains("results.json holds 1 profile(s)"),
            "{err}"
        );
    }
}
