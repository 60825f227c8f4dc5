//! No crash on any input: random and mutated scenario, workload, profile and dataset TOML,
//! results JSON and .npy headers fed to the loaders. Every case must end in `Ok` or in bad
//! input (exit 2) whose every issue names its file and, where it can, a line or a field;
//! never a panic. A few hundred cases in all, so the file runs in seconds.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use tunebench::dataset::vectors::{inspect, read_matrix};
use tunebench::error::{Error, InputIssue};
use tunebench::{Results, exit};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Fragments that break TOML or push values past their limits.
const TOKENS: &[&str] = &[
    "\"",
    "'",
    "[",
    "]",
    "[[",
    "{",
    "}",
    "=",
    ",",
    "\n",
    "#",
    ".",
    "-1",
    "0",
    "1e400",
    "nan",
    "inf",
    "-inf",
    "\"99999999999999999999s\"",
    "\"0s\"",
    "\"${\"",
    "\"${X\"",
    "\"\"",
    "true",
    "18446744073709551616",
    "\"é\"",
    "\"\\u0000\"",
    "[[workload]]",
    "[load]",
    "x = 1",
];

/// A text edit: delete a span, insert a token, or both, at a fraction of the text.
#[derive(Debug, Clone)]
struct Edit {
    at: f64,
    delete: usize,
    insert: usize,
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(
        (0.0..1.0f64, 0usize..12, 0usize..TOKENS.len() + 4).prop_map(|(at, delete, insert)| Edit {
            at,
            delete,
            insert,
        }),
        1..5,
    )
}

fn mutate(text: &str, edits: &[Edit]) -> String {
    let mut t = text.to_string();
    for e in edits {
        let mut at = (e.at * t.len() as f64) as usize;
        while !t.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + e.delete).min(t.len());
        while !t.is_char_boundary(end) {
            end += 1;
        }
        let token = TOKENS.get(e.insert).copied().unwrap_or("");
        t.replace_range(at..end, token);
    }
    t
}

/// Every issue names its file; an issue of a file that has lines names one or a field.
fn located(e: &Error) -> Result<(), String> {
    let Error::Input(issues) = e else {
        return Err(format!("not bad input (exit {}): {e}", e.exit_code()));
    };
    prop_assert_issues(issues)
}

fn prop_assert_issues(issues: &[InputIssue]) -> Result<(), String> {
    if issues.is_empty() {
        return Err("bad input without an issue".into());
    }
    for i in issues {
        if i.file.as_os_str().is_empty() || i.message.trim().is_empty() {
            return Err(format!("unlocated or empty: {i}"));
        }
        let whole_file = i.message.contains("at least one") || i.message.contains("cannot read");
        if i.position.is_none() && i.field.is_empty() && !whole_file {
            return Err(format!("neither line nor field: {i}"));
        }
    }
    Ok(())
}

/// The repo's postgres-fts scenario with its referenced files replaced by `dir`'s copies,
/// one of which (`which`) mutated.
fn scenario_with(dir: &Path, which: &str, edits: &[Edit]) -> PathBuf {
    let files = [
        ("workload", "workloads/postgres-fts.toml"),
        ("profile", "profiles/postgres/tuned.toml"),
        ("dataset", "datasets/docs-200k.toml"),
    ];
    let mut scenario = std::fs::read_to_string(format!("{ROOT}/scenarios/postgres-fts.toml"))
        .expect("scenario")
        .replace("../", &format!("{ROOT}/"));
    for (name, rel) in files {
        let text = std::fs::read_to_string(format!("{ROOT}/{rel}")).expect("referenced file");
        let text = if name == which {
            mutate(&text, edits)
        } else {
            text
        };
        let copy = dir.join(format!("{name}.toml"));
        std::fs::write(&copy, text).expect("write copy");
        scenario = scenario.replace(&format!("{ROOT}/{rel}"), &copy.display().to_string());
    }
    if which == "scenario" {
        scenario = mutate(&scenario, edits);
    }
    let path = dir.join("scenario.toml");
    std::fs::write(&path, scenario).expect("write scenario");
    path
}

fn load_checks(path: &Path) -> Result<(), TestCaseError> {
    match tunebench::scenario::load(path) {
        Ok(_) => Ok(()),
        Err(e) => located(&e).map_err(TestCaseError::fail),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_scenarios_never_panic(e in edits()) {
        let dir = tempfile::tempdir().unwrap();
        load_checks(&scenario_with(dir.path(), "scenario", &e))?;
    }

    #[test]
    fn mutated_workloads_never_panic(e in edits()) {
        let dir = tempfile::tempdir().unwrap();
        load_checks(&scenario_with(dir.path(), "workload", &e))?;
    }

    #[test]
    fn mutated_profiles_never_panic(e in edits()) {
        let dir = tempfile::tempdir().unwrap();
        load_checks(&scenario_with(dir.path(), "profile", &e))?;
    }

    #[test]
    fn mutated_datasets_never_panic(e in edits()) {
        let dir = tempfile::tempdir().unwrap();
        load_checks(&scenario_with(dir.path(), "dataset", &e))?;
    }

    #[test]
    fn random_text_as_a_scenario_never_panics(text in "[ -~\n\u{e9}]{0,200}") {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("random.toml");
        std::fs::write(&path, text).unwrap();
        load_checks(&path)?;
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_results_files_never_panic(
        e in prop::collection::vec((0.0..1.0f64, 0usize..8, 0usize..8), 1..4)
    ) {
        const VALUES: &[&str] = &["2.0", "-1", "1e400", "null", "\"x\"", "{}", "[]", "0"];
        let text = std::fs::read_to_string(format!("{ROOT}/tests/fixtures/results-small.json")).unwrap();
        // Replace values (after a `: `) so that most cases stay JSON and reach the checks.
        let mut t = text.clone();
        for (at, skip, v) in &e {
            let colons: Vec<usize> = t.match_indices(": ").map(|(i, _)| i + 2).collect();
            let start = colons[((*at * colons.len() as f64) as usize).min(colons.len() - 1)];
            let end = t[start..].find([',', '\n']).map_or(t.len(), |i| start + i);
            let end = if *skip == 0 { (start + 1).min(end) } else { end };
            t.replace_range(start..end, VALUES[*v]);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.json");
        std::fs::write(&path, t).unwrap();
        match Results::read(&path) {
            Err(e) => located(&e).map_err(TestCaseError::fail)?,
            Ok(r) => {
                // Read means its gate settings are usable by `compare` and `report` (whose
                // bootstrap crashed on a confidence outside (0, 1)); running them here would
                // take seconds per case in a debug build: tests/validate.rs runs them.
                let gate = &r.scenario.gate;
                prop_assert!(gate.check_in_results(&path).is_ok());
                prop_assert!(gate.confidence > 0.0 && gate.confidence < 1.0);
            }
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn npy_headers_never_panic(
        rows in prop_oneof![Just(0u64), 1u64..20, Just(u64::MAX / 2), Just(1 << 62)],
        dim in prop_oneof![Just(0u64), 1u64..8, Just(u64::MAX)],
        extra in -8i64..8,
        header_edit in edits(),
        version in prop_oneof![Just(1u8), Just(2u8), Just(9u8)],
    ) {
        let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {dim}), }}");
        let header = mutate(&header, &header_edit[..header_edit.len().min(1)]);
        let mut bytes = b"\x93NUMPY".to_vec();
        bytes.extend([version, 0]);
        if version == 1 {
            bytes.extend((header.len() as u16).to_le_bytes());
        } else {
            bytes.extend((header.len() as u32).to_le_bytes());
        }
        bytes.extend(header.as_bytes());
        let body = (rows.min(20) * dim.min(8) * 4) as i64 + extra;
        bytes.extend((0..body.max(0)).map(|i| if i % 4 == 3 { 0x3f } else { 0 }));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.npy");
        std::fs::write(&path, &bytes).unwrap();
        let shape = inspect(&path);
        let full = read_matrix(&path);
        for r in [shape.as_ref().err(), full.as_ref().err()].into_iter().flatten() {
            prop_assert!(!r.trim().is_empty());
        }
        if let Ok(m) = &full {
            prop_assert_eq!(shape.map(|s| (s.rows, s.dim)), Ok((m.rows, m.dim)));
        }
    }
}

#[test]
fn bad_input_exit_code_is_2() {
    // `located` above accepts only Error::Input, whose exit code is the contract's 2.
    assert_eq!(Error::Input(vec![]).exit_code(), exit::BAD_INPUT);
}
