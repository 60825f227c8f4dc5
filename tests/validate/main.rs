//! Bad input through the real binary: `tunebench validate` on broken scenarios (and the
//! workload, profile and dataset files they reference), `tunebench run` with bad flag values,
//! and `tunebench report` on broken results files.
//!
//! The contract (README, `--help`): bad input exits 2, never panics, and the message names the
//! file, `line:column` where known, the field, and what would be valid.
//!
//! The fixtures live in `tests/fixtures/bad/`. Each `snake_case.toml` is a small self-contained
//! scenario with one problem (except `three_problems.toml`); it references the repo's real
//! workload, profile and dataset files through `../../../`, or a bad copy beside it
//! (`kebab-case.toml`) when the referenced file itself has to be bad.
//!
//! Locations below are 1-based `line:column` of the offending value, or only `line:` (the
//! enclosing `[load]` table) when the problem is a missing field.
//!
//! One binary; the cases are split by kind of problem into the modules below.

use std::path::Path;
use std::process::{Command, Output};

mod out_of_range;
mod parse;
mod references;
mod report;
mod run_flags;
mod semantic;

use out_of_range::OUT_OF_RANGE;
use parse::{MISTYPED, PARSE_ERRORS};
use references::{FOREIGN_SQL, MISSING_FILES};
use semantic::{SEMANTIC_ERRORS, THREE_PROBLEMS};

const GOOD: &str = "scenarios/postgres-fts.toml";
const FIXTURES: &str = "tests/fixtures/bad";
/// Nothing listens on port 1: a connection attempt fails (exit 3), so a run that exits 2
/// proves it stopped before touching any server.
const UNREACHABLE_PG: &str = "postgres://u:p@127.0.0.1:1/db";

/// Runs the real binary from the crate root, with a target URL that cannot be reached.
fn tunebench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tunebench"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .env("TUNEBENCH_PG_URL", UNREACHABLE_PG)
        .env_remove("UNSET_VARIABLE_XYZ")
        .env_remove("RUST_LOG")
        .output()
        .expect("the tunebench binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

/// One bad scenario: where its problem is, and what the message must say about it.
struct Bad {
    fixture: &'static str,
    /// `FILE:LINE:COL` (or `FILE:LINE:`) of the problem. FILE is the file that holds the
    /// problem: the scenario, or the bad workload/profile/dataset copy it references.
    at: &'static str,
    /// The field, the offending value and the hint at what would be valid.
    expect: &'static [&'static str],
}

impl Bad {
    /// The file the message must name (the part of `at` before the position).
    fn file(&self) -> &'static str {
        self.at.split(':').next().unwrap_or(self.at)
    }
}

fn all_bad() -> impl Iterator<Item = &'static Bad> {
    PARSE_ERRORS
        .iter()
        .chain(MISTYPED)
        .chain(SEMANTIC_ERRORS)
        .chain(MISSING_FILES)
        .chain(OUT_OF_RANGE)
        .chain(FOREIGN_SQL)
        .chain(std::iter::once(&THREE_PROBLEMS))
}

/// Validates `bad` and returns its stderr and every way the output breaks the contract
/// (empty: all good). `located` also demands the exact `at` position.
fn check(bad: &Bad, located: bool) -> (String, Vec<String>) {
    let out = tunebench(&["validate", &fixture(bad.fixture)]);
    let err = stderr(&out);
    let mut wrong = Vec::new();
    if out.status.code() != Some(2) {
        wrong.push(format!("exit code {:?}, expected 2", out.status.code()));
    }
    if err.contains("panicked") {
        wrong.push("panicked".to_string());
    }
    let mut wanted = vec![bad.file()];
    if located {
        wanted.push(bad.at);
    }
    wanted.extend(bad.expect);
    for w in wanted {
        if !err.contains(w) {
            wrong.push(format!("stderr lacks {w:?}"));
        }
    }
    (err, wrong)
}

/// Checks every case and fails once, listing every fixture that broke the contract.
fn check_all<'a>(cases: impl IntoIterator<Item = &'a Bad>, located: bool) {
    let mut failures = Vec::new();
    for bad in cases {
        let (err, wrong) = check(bad, located);
        if !wrong.is_empty() {
            failures.push(format!(
                "{}: {}\n  stderr: {}",
                bad.fixture,
                wrong.join("; "),
                err.trim_end().replace('\n', "\n          ")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn good_scenario_validates_ok() {
    let out = tunebench(&["validate", GOOD]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "stderr: {err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(GOOD) && stdout.contains("ok"),
        "stdout: {stdout}"
    );
    assert!(!err.contains("panicked"), "stderr: {err}");
}

#[test]
fn every_bad_fixture_exits_2_without_panicking() {
    let mut failures = Vec::new();
    for bad in all_bad() {
        let out = tunebench(&["validate", &fixture(bad.fixture)]);
        let err = stderr(&out);
        if out.status.code() != Some(2) || err.contains("panicked") || !err.starts_with("error: ") {
            failures.push(format!(
                "{}: exit {:?}, stderr: {err}",
                bad.fixture,
                out.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Every file in tests/fixtures/bad/ is used by a case above (or is a referenced copy), so a
/// fixture cannot be added and silently never checked.
#[test]
fn every_fixture_is_covered() {
    let named: Vec<&str> = all_bad().map(|b| b.fixture).collect();
    let mut unused = Vec::new();
    for e in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURES)).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let scenario = name.ends_with(".toml") && !name.contains('-');
        if scenario && !named.contains(&name.as_str()) {
            unused.push(name);
        }
    }
    assert!(unused.is_empty(), "fixtures no case checks: {unused:?}");
}

/// Every scenario shipped in scenarios/ validates (with the one variable a server-only
/// scenario requires set), so a change to the file formats cannot leave an example behind.
#[test]
fn every_shipped_scenario_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(files.len() > 10, "{files:?}");
    let mut args = vec!["validate"];
    args.extend(files.iter().map(String::as_str));
    let out = Command::new(env!("CARGO_BIN_EXE_tunebench"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(&args)
        .env("TUNEBENCH_QDRANT_URL", "http://127.0.0.1:6334")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn broken_dataset_is_not_also_reported_as_unknown() {
    let mut failures = Vec::new();
    for name in [
        "dataset_zero_documents.toml",
        "dataset_bad_schema.toml",
        "dataset_missing_file.toml",
    ] {
        let err = stderr(&tunebench(&["validate", &fixture(name)]));
        if err.contains("unknown dataset") {
            failures.push(format!("{name}: {err}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn validate_reports_problems_of_every_file_given() {
    let out = tunebench(&[
        "validate",
        GOOD,
        &fixture("trials_zero.toml"),
        &fixture("criteria_wrong_unit.toml"),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains("trials_zero.toml"), "stderr: {err}");
    assert!(err.contains("criteria_wrong_unit.toml"), "stderr: {err}");
    assert!(!err.contains("postgres-fts.toml:"), "stderr: {err}");
    assert!(!err.contains("panicked"), "stderr: {err}");
}
