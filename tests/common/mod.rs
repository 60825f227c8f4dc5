//! Helpers shared by the integration tests (`mod common;` in each test crate). Every test
//! binary compiles all of it and uses a part, hence `dead_code` allowed here.
#![allow(dead_code)]

pub mod child;
pub mod postgres;
pub mod s3;

use std::path::Path;

use clap::Parser;
use tunebench::results::WorkloadResult;
use tunebench::{Cli, Outcome, Results};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `tunebench ARGS...` in-process, as `main` would run it.
pub async fn run(args: &[&str]) -> Result<Outcome, tunebench::Error> {
    let mut argv = vec!["tunebench"];
    argv.extend_from_slice(args);
    tunebench::run(Cli::parse_from(argv)).await
}

/// `tunebench run SCENARIO --out OUT EXTRA...` in-process.
pub async fn run_to(
    scenario: &Path,
    out: &Path,
    extra: &[&str],
) -> Result<Outcome, tunebench::Error> {
    let mut args = vec![
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args).await
}

/// A run of `scenario` against a server nobody listens for (127.0.0.1:1): exit 3 naming the
/// address, without hanging.
pub async fn assert_unreachable_is_exit_3(scenario: &Path, out: &Path) {
    let started = std::time::Instant::now();
    let err = run_to(scenario, out, &[]).await.unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "must not hang"
    );
}

/// With a profile left applied (journaled in the cache and on the server): a run of
/// `scenario` is refused (exit 3); with the cache's copy gone, as on another machine, the copy
/// kept on the server (`place`) refuses it all the same. `profile` is the one left applied.
pub async fn assert_refused_by_both_journals(
    scenario: &Path,
    target: &str,
    out: &Path,
    extra: &[&str],
    profile: &str,
    place: &str,
) {
    let err = run_to(scenario, &out.join("refused"), extra)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
    // Errors mask the tests' password ("tunebench") wherever it appears: match around it.
    let msg = err.to_string();
    assert!(
        msg.contains("not measuring: a profile is still applied")
            && msg.contains(&format!("profile `{profile}`"))
            && msg.contains(" revert "),
        "{msg}"
    );
    let s = tunebench::scenario::load(scenario).unwrap();
    let cached = tunebench::backend::journal::on_server(&s.targets[target]).unwrap();
    assert_eq!(cached.len(), 1, "{cached:?}");
    std::fs::remove_file(&cached[0].0).unwrap();
    let err = run_to(scenario, &out.join("refused-by-server"), extra)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("the journal kept on the server")
            && msg.contains(place)
            && msg.contains(&format!("profile `{profile}`")),
        "{msg}"
    );
}

/// An environment variable, or `default` when it is unset.
pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.into())
}

/// The stack's cache folder (`scripts/stack` keeps server config and data there).
pub fn cache_dir() -> String {
    env_or("TUNEBENCH_CACHE", &format!("{ROOT}/.cache"))
}

/// The value of `var` when it is set and not empty; otherwise prints the one line that says
/// `test` was skipped and why (`hint`: how to provide it), and returns None.
pub fn env_or_skip(var: &str, test: &str, hint: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            eprintln!("{test} skipped: {var} is not set ({hint})");
            None
        }
    }
}

/// A workload's result under a profile.
pub fn workload<'a>(r: &'a Results, profile: &str, name: &str) -> &'a WorkloadResult {
    r.runs
        .iter()
        .find(|p| p.profile == profile)
        .and_then(|p| p.workloads.iter().find(|w| w.workload == name))
        .unwrap_or_else(|| panic!("no {profile}/{name} in results"))
}

/// recall@k of workload `name` in the first profile's run (a sweep's point).
pub fn first_run_recall(r: &Results, name: &str) -> f64 {
    r.runs[0]
        .workloads
        .iter()
        .find(|w| w.workload == name)
        .and_then(|w| w.recall_at_k)
        .unwrap_or_else(|| panic!("no recall for {name}"))
}

/// Every way `results` (a parsed results.json) breaks `schemas/results.schema.json` (draft
/// 2020-12, `format` asserted), as `instance path: message`; empty when it is valid.
pub fn schema_violations(results: &serde_json::Value) -> Vec<String> {
    let schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(Path::new(ROOT).join("schemas/results.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    validator
        .iter_errors(results)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

/// `schema_violations` of a results file.
pub fn schema_violations_of(path: &Path) -> Vec<String> {
    schema_violations(&serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
}
