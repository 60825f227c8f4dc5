//! The Qdrant recovery drill (issue 18): the collection backed up (embedded: the flushed
//! shard copied; server: a snapshot through the REST API, downloaded), restored as a scratch
//! collection whose HNSW index is rebuilt, compared point by point (id, vector, payload);
//! a truncated backup fails its drill (exit 1); no scratch collection is left. Both drills in
//! one run. The server variant runs when `TUNEBENCH_QDRANT_URL` is set.

use std::path::Path;

use tunebench::Results;
use tunebench::results::Verdict;

use crate::common::{self, run_to, schema_violations_of};
use crate::{ENGINE, SMALL_TUNED, dataset, profile, scenario, shard_dir};

const DRILLS: &str = r#"
[[workload]]
name = "q_backup"
kind = "drill"
target = "qd"
dataset = "vec"
method = "snapshot"

[[workload]]
name = "q_broken"
kind = "drill"
target = "qd"
dataset = "vec"
method = "snapshot"
inject = "truncate_backup"
"#;

/// Runs both drills under the small tuned profile (an HNSW index over 2,000 points) and
/// checks what every engine must show; returns the results.
async fn drills(dir: &Path, url: &str, schema: &str) -> Results {
    let ds = dataset(dir, schema, 2000);
    let tuned = profile(dir, "tuned", SMALL_TUNED);
    let path = scenario(dir, url, &ds, &[("tuned", tuned)]);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(DRILLS);
    text = text.replacen(
        "name = \"qdrant-test\"",
        "name = \"qdrant-test\"\ncriteria = [\"q_backup.integrity == ok\", \"q_backup.rto < 1h\", \"q_broken.integrity == ok\"]",
        1,
    );
    std::fs::write(&path, text).unwrap();
    let out = dir.join("out");
    let outcome = run_to(&path, &out, &[]).await.unwrap();
    assert_eq!(outcome.exit_code, 1, "{}", outcome.summary);
    let violations = schema_violations_of(&out.join("results.json"));
    assert!(violations.is_empty(), "{violations:?}");
    let results = Results::read(&out.join("results.json")).unwrap();
    let drills = &results.runs[0].drills;
    let ok = drills.iter().find(|d| d.drill == "q_backup").unwrap();
    assert_eq!(ok.failure, None, "{:?}", ok.steps);
    assert_eq!(ok.integrity.verdict, Verdict::Ok, "{:?}", ok.integrity);
    assert_eq!(ok.integrity.items, 2000, "{}", ok.integrity.compared);
    assert!(ok.cleaned_up && ok.backup_bytes.unwrap() > 0);
    let index = ok.steps.iter().find(|s| s.step == "index").unwrap();
    assert!(
        ok.rto_s.unwrap() >= index.seconds,
        "the index rebuild is part of RTO"
    );
    let broken = drills.iter().find(|d| d.drill == "q_broken").unwrap();
    assert!(!broken.passed(), "{:?}", broken.steps);
    assert!(broken.cleaned_up);
    assert!(
        outcome
            .summary
            .contains("drill failed under `tuned` (trial 1): q_broken:"),
        "{}",
        outcome.summary
    );
    let verdicts: Vec<bool> = results.runs[0].criteria.iter().map(|c| c.passed).collect();
    assert_eq!(verdicts, [true, true, false]);
    assert!(!out.join("drills").exists(), "backups removed");
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_snapshot_drill_restores_an_exact_copy_and_a_truncated_one_fails() {
    let _engine = ENGINE.read().await;
    let dir = tempfile::tempdir().unwrap();
    let r = drills(dir.path(), "", "tunebench_test_q_drill").await;
    assert!(
        r.runs[0].drills[0].how.contains("embedded"),
        "{}",
        r.runs[0].drills[0].how
    );
    let root = shard_dir("tunebench_test_q_drill");
    let scratch: Vec<String> = std::fs::read_dir(root.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tunebench_restore_"))
        .collect();
    assert!(scratch.is_empty(), "{scratch:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_snapshot_drill_restores_an_exact_copy_and_a_truncated_one_fails() {
    let test = "server_snapshot_drill_restores_an_exact_copy_and_a_truncated_one_fails";
    let Some(url) = common::env_or_skip(
        "TUNEBENCH_QDRANT_URL",
        test,
        "set it to a Qdrant server's gRPC URL, e.g. after scripts/stack up qdrant: docs/qdrant.md#a-qdrant-server",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let r = drills(dir.path(), &url, "tunebench_test_q_drill_server").await;
    assert!(
        r.runs[0].drills[0].how.contains("REST"),
        "{}",
        r.runs[0].drills[0].how
    );
}
