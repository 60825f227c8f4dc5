//! `tunebench report` (and `compare`) on broken results files, and recursive templates.

use std::path::Path;

use crate::{GOOD, fixture, stderr, tunebench};

fn report_fails(results: &Path, expect: &[&str]) {
    let out = tunebench(&["report", results.to_str().expect("utf-8 temp path")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(!err.contains("panicked"), "stderr: {err}");
    for e in expect {
        assert!(err.contains(e), "stderr lacks {e:?}: {err}");
    }
    assert!(
        !results.with_file_name("report.md").exists(),
        "no report may be written from a bad results file"
    );
}

#[test]
fn report_on_a_missing_file_exits_2() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let missing = tmp.path().join("nosuch-results.json");
    report_fails(
        &missing,
        &["nosuch-results.json", "cannot read results file"],
    );
}

#[test]
fn report_on_truncated_json_exits_2() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = tmp.path().join("truncated.json");
    // A results file cut off mid-write.
    std::fs::write(
        &path,
        "{\n  \"schema_version\": 1,\n  \"scenario\": {\n    \"name\": \"postgres-fts\",",
    )
    .expect("write fixture");
    report_fails(&path, &["truncated.json:4:", "not valid JSON", "truncated"]);
}

#[test]
fn report_on_an_unknown_schema_version_exits_2() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = tmp.path().join("future.json");
    std::fs::write(
        &path,
        "{\n  \"schema_version\": 99,\n  \"scenario\": {}\n}\n",
    )
    .expect("write fixture");
    report_fails(
        &path,
        &[
            "future.json",
            "field `schema_version`",
            "is 99",
            "reads schema_version 1",
        ],
    );
}

/// A results file whose gate settings are out of range (hand-edited, or from a broken tool):
/// `report` and `compare` both exit 2 naming the field, instead of crashing in the bootstrap.
#[test]
fn results_with_an_impossible_gate_exit_2_for_report_and_compare() {
    let good = "tests/fixtures/results-small.json";
    for (name, field) in [
        (
            "results-gate-confidence-two.json",
            "scenario.gate.confidence",
        ),
        (
            "results-gate-noise-negative.json",
            "scenario.gate.noise.p50",
        ),
    ] {
        let bad = fixture(name);
        let tmp = tempfile::tempdir().expect("temp dir");
        let json = tmp.path().join("comparison.json");
        let report = tmp.path().join("report.md");
        for args in [
            vec!["report", &bad, "--out", report.to_str().unwrap()],
            vec!["compare", good, &bad, "--json", json.to_str().unwrap()],
            vec!["compare", &bad, good, "--json", json.to_str().unwrap()],
        ] {
            let out = tunebench(&args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(!err.contains("panicked"), "{args:?}: {err}");
            assert!(err.contains(name) && err.contains(field), "{args:?}: {err}");
        }
        assert!(
            !json.exists() && !report.exists(),
            "{name}: nothing may be written"
        );
    }
}

/// Tera has no depth limit: a template including itself, or macros calling each other, would
/// overflow the stack. Both are refused naming the template file.
#[test]
fn recursive_templates_exit_2_naming_the_file() {
    let tmp = tempfile::tempdir().expect("temp dir");
    for (name, says) in [
        (
            "template-includes-itself.md.tera",
            "names this template itself",
        ),
        ("template-macro-cycle.md.tera", "macro `ping` calls itself"),
    ] {
        let template = fixture(name);
        let report = tmp.path().join("report.md");
        let out = tunebench(&[
            "report",
            "tests/fixtures/results-small.json",
            "--template",
            &template,
            "--out",
            report.to_str().unwrap(),
        ]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains(&template) && err.contains(says),
            "{name}: {err}"
        );
        assert!(!report.exists());
        // `run --template` checks the template before touching a server.
        let run = tunebench(&[
            "run",
            GOOD,
            "--template",
            &template,
            "--out",
            tmp.path().join("o").to_str().unwrap(),
        ]);
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(2), "run {name}: {err}");
        assert!(err.contains(says), "run {name}: {err}");
    }
}
