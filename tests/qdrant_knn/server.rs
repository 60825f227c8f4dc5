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
        "set it to a Qdrant server's URL",
    )
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
