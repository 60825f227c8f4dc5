//! Against a Qdrant server (gRPC) at `TUNEBENCH_QDRANT_URL`: baseline vs tuned with recall
//! and exact revert, and a collection tunebench did not create refused. Without the variable
//! each test says in one line that it was skipped.

use std::path::PathBuf;

use crate::common::{self, ROOT, run_to};
use crate::{SMALL_TUNED, dataset, evidence, op_recall, profile, run_scenario, scenario};

/// The server under test, or None after printing the one skip line.
fn server_url(test: &str) -> Option<String> {
    common::env_or_skip(
        "TUNEBENCH_QDRANT_URL",
        test,
        "set it to a Qdrant server's gRPC URL, e.g. after scripts/stack up qdrant: docs/qdrant.md#a-qdrant-server",
    )
}

/// Rewrites the scenario at `path`, its first `from` into `to`; returns the new text.
fn edit(path: &std::path::Path, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(path).unwrap().replacen(from, to, 1);
    std::fs::write(path, &text).unwrap();
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_baseline_vs_tuned_with_recall_and_exact_revert() {
    let Some(url) = server_url("server_baseline_vs_tuned_with_recall_and_exact_revert") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let schema = "tunebench_test_q_server";
    let ds = dataset(dir.path(), schema, 3000);
    let baseline = PathBuf::from(format!("{ROOT}/profiles/qdrant/baseline.toml"));
    let tuned = profile(dir.path(), "tuned", SMALL_TUNED);
    let path = scenario(
        dir.path(),
        &url,
        &ds,
        &[("baseline", baseline), ("tuned", tuned)],
    );
    let r = run_scenario(&path, &dir.path().join("o")).await;
    assert_eq!(op_recall(&r, "baseline", "knn"), 1.0);
    let tuned_recall = op_recall(&r, "tuned", "knn");
    assert!(tuned_recall > 0.9, "tuned recall@10 {tuned_recall}");
    let ev = evidence(&r, "tuned");
    assert_eq!(ev["mode"], "server");
    assert_eq!(ev["status"], "green");
    assert_eq!(ev["indexed_vectors_count"], 3000, "{ev}");
    // The server's own telemetry counted exactly the searches tunebench timed in its trials
    // (a fixed number of iterations, nothing else searches this collection), and says which
    // index path served them: under tuned the collection has an HNSW graph.
    let server = &ev["server"];
    assert!(server["error"].is_null(), "{server}");
    let w = common::workload(&r, "tuned", "knn");
    let searches = &server["requests"]["/qdrant.Points/Search"];
    assert_eq!(searches["count"], w.ops, "{server}");
    assert_eq!(searches["failed"], 0, "{server}");
    assert!(searches["mean_us"].as_f64().unwrap() > 0.0, "{server}");
    assert!(
        server["index_searches"]["unfiltered_hnsw"]["count"].as_u64() > Some(0),
        "{server}"
    );
    assert!(
        server["memory_resident_bytes"].as_u64() > Some(0),
        "{server}"
    );
    for run in &r.runs {
        for rev in &run.revert {
            assert!(rev.mismatches.is_empty(), "{}: {:?}", run.profile, rev);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_collection_not_created_by_tunebench_is_refused() {
    let Some(url) = server_url("server_collection_not_created_by_tunebench_is_refused") else {
        return;
    };
    let client = qdrant_client::Qdrant::from_url(&url)
        .skip_compatibility_check()
        .build()
        .unwrap();
    let name = "tunebench_test_q_server_not_ours";
    let _ = client.delete_collection(name).await;
    client
        .create_collection(qdrant_client::qdrant::CreateCollection {
            collection_name: name.into(),
            vectors_config: Some(qdrant_client::qdrant::VectorsConfig {
                config: Some(qdrant_client::qdrant::vectors_config::Config::Params(
                    qdrant_client::qdrant::VectorParams {
                        size: 384,
                        distance: qdrant_client::qdrant::Distance::Cosine as i32,
                        ..Default::default()
                    },
                )),
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), name, 100);
    let p = PathBuf::from(format!("{ROOT}/profiles/qdrant/baseline.toml"));
    let path = scenario(dir.path(), &url, &ds, &[("baseline", p)]);
    let err = run_to(&path, &dir.path().join("o"), &[]).await.unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(client.collection_exists(name).await.unwrap());
    client.delete_collection(name).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_telemetry_that_cannot_be_read_is_said_in_the_evidence_not_fatal() {
    let Some(url) =
        server_url("server_telemetry_that_cannot_be_read_is_said_in_the_evidence_not_fatal")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), "tunebench_test_q_server_no_rest", 500);
    let p = PathBuf::from(format!("{ROOT}/profiles/qdrant/baseline.toml"));
    let path = scenario(dir.path(), &url, &ds, &[("baseline", p)]);
    // Point the telemetry at a port nothing listens on (port 1 on loopback).
    edit(
        &path,
        &format!("url = \"{url}\""),
        &format!("url = \"{url}\"\nrest_url = \"http://127.0.0.1:1\""),
    );
    let r = run_scenario(&path, &dir.path().join("o")).await;
    assert_eq!(op_recall(&r, "baseline", "knn"), 1.0);
    let server = &evidence(&r, "baseline")["server"];
    let why = server["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{server}"));
    assert!(why.contains("127.0.0.1:1"), "{why}");
    assert_eq!(server["requests"], serde_json::json!({}), "{server}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_upserts_then_another_profile_waits_for_the_optimizer_not_refuses() {
    let Some(url) =
        server_url("server_upserts_then_another_profile_waits_for_the_optimizer_not_refuses")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), "tunebench_test_q_server_upserts", 3000);
    let baseline = PathBuf::from(format!("{ROOT}/profiles/qdrant/baseline.toml"));
    let tuned = profile(dir.path(), "tuned", SMALL_TUNED);
    let path = scenario(
        dir.path(),
        &url,
        &ds,
        &[("tuned", tuned), ("baseline", baseline)],
    );
    // Mostly upserts: the fresh points deleted after each phase leave the server's optimizer
    // busy (status yellow) just when the next trial or profile checks readiness.
    let text = edit(
        &path,
        r#"ops = [{ op = "knn", weight = 2 }, { op = "knn_filter_50" }, { op = "knn_filter_10" }]"#,
        r#"ops = [{ op = "knn" }, { op = "upsert", weight = 3 }]"#,
    );
    assert!(text.contains(r#"op = "upsert""#), "{text}");
    let r = run_scenario(&path, &dir.path().join("o")).await;
    for profile in ["tuned", "baseline"] {
        let w = common::workload(&r, profile, "knn");
        assert_eq!(w.errors, 0, "{profile}: {:?}", w.errors_by_kind);
        let ev = evidence(&r, profile);
        assert_eq!(ev["status"], "green", "{profile}: {ev}");
        assert_eq!(ev["points_count"], 3000, "{profile}: {ev}");
    }
}
