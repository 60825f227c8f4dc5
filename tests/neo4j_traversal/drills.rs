//! The Neo4j recovery drill on the real server (issue 18): the graph exported through Bolt
//! and imported into scratch labels matches the source node by node and relationship by
//! relationship; a truncated export fails its drill (exit 1, saying why); no scratch label
//! keeps a node afterwards. Both drills in one run, under the profile that changes nothing
//! (no restart).

use tunebench::Results;
use tunebench::results::Verdict;

use super::common::{run_to, schema_violations_of};
use super::{SERVER, bolt, default_scenario};

async fn scratch_nodes() -> i64 {
    let g = bolt().await;
    let mut s = g
        .execute(neo4rs::query(
            "CALL db.labels() YIELD label WHERE label STARTS WITH 'TunebenchRestore_' \
             CALL (label) { MATCH (n) WHERE label IN labels(n) RETURN count(n) AS c } \
             RETURN coalesce(sum(c), 0) AS n",
        ))
        .await
        .unwrap();
    s.next()
        .await
        .unwrap()
        .map_or(0, |r| r.get::<i64>("n").unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_drill_restores_an_exact_copy_and_a_truncated_export_fails() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let path = default_scenario(
        dir.path(),
        r#"criteria = ["graph_backup.integrity == ok", "graph_backup.rto < 1h", "graph_broken.integrity == ok"]"#,
    );
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(
        r#"
[[workload]]
name = "graph_backup"
kind = "drill"
target = "neo"
dataset = "graph"
method = "export"

[[workload]]
name = "graph_broken"
kind = "drill"
target = "neo"
dataset = "graph"
method = "export"
inject = "truncate_backup"
"#,
    );
    std::fs::write(&path, text).unwrap();
    let out = dir.path().join("out");
    let outcome = run_to(
        &path,
        &out,
        &[
            "--profile",
            "unchanged",
            "--duration",
            "200ms",
            "--warmup",
            "0s",
        ],
    )
    .await
    .unwrap();
    assert_eq!(outcome.exit_code, 1, "{}", outcome.summary);
    let violations = schema_violations_of(&out.join("results.json"));
    assert!(violations.is_empty(), "{violations:?}");
    let results = Results::read(&out.join("results.json")).unwrap();
    let drills = &results.runs[0].drills;
    let ok = drills.iter().find(|d| d.drill == "graph_backup").unwrap();
    assert_eq!(ok.failure, None, "{:?}", ok.steps);
    assert_eq!(ok.integrity.verdict, Verdict::Ok, "{:?}", ok.integrity);
    // graph-small: 26,100 nodes; every relationship from them compared too.
    assert!(ok.integrity.items > 26_100, "{}", ok.integrity.compared);
    assert!(ok.cleaned_up && ok.backup_bytes.unwrap() > 0);
    assert!(ok.how.contains("Community Edition"), "{}", ok.how);
    let broken = drills.iter().find(|d| d.drill == "graph_broken").unwrap();
    assert!(!broken.passed());
    let failed = broken.steps.iter().find(|s| !s.ok).unwrap();
    assert_eq!(failed.step, "restore", "{:?}", broken.steps);
    assert!(broken.cleaned_up, "the partial import is deleted too");
    assert!(
        outcome
            .summary
            .contains("drill failed under `unchanged` (trial 1): graph_broken: restore:"),
        "{}",
        outcome.summary
    );
    let verdicts: Vec<bool> = results.runs[0].criteria.iter().map(|c| c.passed).collect();
    assert_eq!(verdicts, [true, true, false]);
    assert_eq!(scratch_nodes().await, 0);
}
