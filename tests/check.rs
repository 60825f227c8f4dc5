//! Configuration checks (`[[checks]]`): evaluated under every profile of a run, where a
//! failing one fails the run and is listed in the report, and by `tunebench check` on the
//! servers as they are, without loading or measuring anything. Against the real PostgreSQL
//! that `scripts/stack up` starts, except the input and connection errors.

use tunebench::results::CheckStatus;

mod common;
use common::postgres::{fts_scenario as scenario, pg_url, quick_baseline};
use common::run;

/// Tests in this file use the shared FTS schema on the server: one at a time.
static SERVER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_check_is_listed_with_its_foreign_keys_and_fails_the_run() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let schema = "tunebench_test_fts";
    let path = scenario(
        dir.path(),
        schema,
        &pg_url(),
        "[[checks]]\ntarget = \"pg\"\ncheck = \"fk_indexes\"\n[[checks]]\ntarget = \"pg\"\ncheck = \"pg_stat_statements\"\n",
    );
    let out = dir.path().join("out");
    let outcome = run(&quick_baseline(
        path.to_str().unwrap(),
        out.to_str().unwrap(),
    ))
    .await
    .unwrap();
    assert_eq!(outcome.exit_code, 1, "{}", outcome.summary);
    assert!(
        outcome
            .summary
            .contains("check failed under `baseline`: pg: fk_indexes"),
        "{}",
        outcome.summary
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let (criteria, priorities) = (
        report.split("## Acceptance criteria").nth(1).unwrap(),
        report
            .split("## 6. Next priorities")
            .nth(1)
            .unwrap()
            .split("\n## ")
            .next()
            .unwrap(),
    );
    let fk = format!("{schema}.comments (document_id) -> {schema}.documents");
    assert!(
        criteria.contains("| `pg: fk_indexes` |") && criteria.contains("FAIL: 3 of 3"),
        "{criteria}"
    );
    assert!(criteria.contains(&fk), "{criteria}");
    assert!(
        priorities.contains("Failing configuration check `pg: fk_indexes`")
            && priorities.contains(&fk),
        "{priorities}"
    );
    assert!(criteria.contains("| `pg: pg_stat_statements` |") && criteria.contains("PASS"));

    // `tunebench check` evaluates the same checks without loading or measuring anything.
    let json = dir.path().join("checks.json");
    let outcome = run(&[
        "check",
        path.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ])
    .await
    .unwrap();
    assert_eq!(outcome.exit_code, 1, "{}", outcome.summary);
    assert!(outcome.summary.contains(&fk), "{}", outcome.summary);
    let checks: Vec<tunebench::results::CheckResult> =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(checks.len(), 2);
    assert_eq!(checks[0].status, CheckStatus::Fail);
    assert_eq!(checks[1].status, CheckStatus::Pass);
}

#[tokio::test]
async fn check_without_any_checks_is_bad_input_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "tunebench_test_fts", &pg_url(), "");
    let err = run(&["check", path.to_str().unwrap()]).await.unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("scenario.toml") && msg.contains("[[checks]]"),
        "{msg}"
    );
}

#[tokio::test]
async fn check_against_an_unreachable_server_is_exit_3_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "tunebench_test_fts",
        "postgres://tunebench:x@127.0.0.1:1/tunebench",
        "[[checks]]\ntarget = \"pg\"\ncheck = \"fk_indexes\"\n",
    );
    let json = dir.path().join("checks.json");
    let err = run(&[
        "check",
        path.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ])
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
    assert!(!json.exists());
}
