//! Safety and bad input on the embedded engine: a folder tunebench did not create is left
//! alone, bad profile fields are located, a server that does not answer is a runtime error,
//! and a kept profile is refused, then reverted from its journal.

use std::path::PathBuf;

use super::*;

#[tokio::test]
async fn a_folder_tunebench_did_not_create_is_refused_and_left_alone() {
    let _engine = ENGINE.read().await;
    let schema = "tunebench_test_q_not_ours";
    let shard = shard_dir(schema);
    std::fs::create_dir_all(&shard).unwrap();
    std::fs::write(shard.join("precious.txt"), "keep me").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), schema, 100);
    let baseline = PathBuf::from(format!("{ROOT}/profiles/qdrant/baseline.toml"));
    let path = scenario(dir.path(), "", &ds, &[("baseline", baseline)]);
    let err = run_to(&path, &dir.path().join("o"), &[]).await.unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(
        err.to_string().contains("not created by tunebench"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(shard.join("precious.txt")).unwrap(),
        "keep me"
    );
    std::fs::remove_dir_all(&shard).unwrap();
}

#[tokio::test]
async fn a_bad_qdrant_profile_field_is_bad_input_with_file_line_and_field() {
    let _engine = ENGINE.read().await;
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), "tunebench_test_q_bad", 100);
    for (text, field, line, hint) in [
        (
            "store = \"qdrant\"\n[hnsw]\nm = 2\n",
            "hnsw.m",
            ":3:",
            "4..=128",
        ),
        (
            "store = \"qdrant\"\n[hnsw]\nef_constuct = 100\n",
            "",
            ":3:",
            "ef_construct",
        ),
        (
            "store = \"qdrant\"\n\n[quantization]\ntype = \"int4\"\n",
            "",
            ":4:",
            "int8",
        ),
        (
            "store = \"qdrant\"\n[search]\nrescore = true\n",
            "search",
            ":2:",
            "quantization",
        ),
    ] {
        let p = profile(dir.path(), "bad", text);
        let path = scenario(dir.path(), "", &ds, &[("bad", p)]);
        let err = run(&["validate", path.to_str().unwrap()])
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("bad.toml{line}")) && msg.contains(hint) && msg.contains(field),
            "{msg}"
        );
    }
    // A sweep of something that is not a Qdrant search parameter.
    let p = PathBuf::from(format!("{ROOT}/profiles/qdrant/baseline.toml"));
    let path = scenario(dir.path(), "", &ds, &[("baseline", p)]);
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "k = 10\n",
        "k = 10\nsweep = { setting = \"hnsw.ef_search\", values = [10] }\n",
    );
    std::fs::write(&path, text).unwrap();
    let err = run(&["validate", path.to_str().unwrap()])
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("valid: hnsw_ef"), "{err}");
    // A sweep value the parameter cannot take is refused before anything connects, at the
    // value's line and index.
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "hnsw.ef_search\", values = [10]",
        "hnsw_ef\", values = [10, 0]",
    );
    std::fs::write(&path, text).unwrap();
    let err = run(&["validate", path.to_str().unwrap()])
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("workload[0].sweep.values[1]") && msg.contains("1..=100000"),
        "{msg}"
    );
    // Upserts on a dataset read from files: no generator for the fresh points.
    let vectors = dir.path().join("v.fvecs");
    let queries = dir.path().join("q.fvecs");
    for (f, rows) in [(&vectors, 20), (&queries, 5)] {
        let mut bytes = Vec::new();
        for r in 0..rows {
            bytes.extend(4i32.to_le_bytes());
            for c in 0..4 {
                bytes.extend(((r * 4 + c) as f32).to_le_bytes());
            }
        }
        std::fs::write(f, bytes).unwrap();
    }
    let files_ds = dir.path().join("files.toml");
    std::fs::write(
        &files_ds,
        format!(
            "kind = \"vectors\"\nschema = \"tunebench_test_q_files\"\nseed = 7\ndimension = 4\nvectors_file = \"{}\"\nqueries_file = \"{}\"\nk_max = 10\n",
            vectors.display(),
            queries.display()
        ),
    )
    .unwrap();
    let p = PathBuf::from(format!("{ROOT}/profiles/qdrant/baseline.toml"));
    let path = scenario(dir.path(), "", &files_ds, &[("baseline", p)]);
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "ops = [{ op = \"knn\", weight = 2 }",
        "ops = [{ op = \"upsert\" }, { op = \"knn\", weight = 2 }",
    );
    std::fs::write(&path, text).unwrap();
    let err = run(&["validate", path.to_str().unwrap()])
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("workload[0].dataset") && msg.contains("no vectors_file"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_qdrant_server_that_does_not_answer_is_a_runtime_error() {
    let _engine = ENGINE.read().await;
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), "tunebench_test_q_unreachable", 100);
    let p = PathBuf::from(format!("{ROOT}/profiles/qdrant/baseline.toml"));
    let path = scenario(dir.path(), "http://127.0.0.1:1", &ds, &[("baseline", p)]);
    let err = run_to(&path, &dir.path().join("o"), &[]).await.unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
    assert!(err.to_string().contains("health check"), "{err}");
}

/// A profile kept with --keep-profile on the embedded engine is journaled: a later run is
/// refused, and `tunebench revert` restores the collection's persisted config from the
/// journal (the re-index included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_profile_is_refused_then_reverted_from_its_journal() {
    let _engine = ENGINE.write().await;
    let dir = tempfile::tempdir().unwrap();
    let schema = "tunebench_test_q_keep";
    let ds = dataset(dir.path(), schema, 1500);
    let _ = std::fs::remove_dir_all(shard_dir(schema));
    let baseline = PathBuf::from(format!("{ROOT}/profiles/qdrant/baseline.toml"));
    let path = scenario(dir.path(), "", &ds, &[("baseline", baseline)]);
    run_scenario(&path, &dir.path().join("o1")).await;
    let original = persisted_config(schema);

    let tuned = profile(dir.path(), "tuned", SMALL_TUNED);
    let path = scenario(dir.path(), "", &ds, &[("tuned", tuned)]);
    let o = run_to(&path, &dir.path().join("kept"), &["--keep-profile"])
        .await
        .unwrap();
    assert_eq!(o.exit_code, 0, "{}", o.summary);
    let kept = persisted_config(schema);
    assert_ne!(
        original.get("quantization_config"),
        kept.get("quantization_config"),
        "the profile is still applied"
    );

    let err = run_to(&path, &dir.path().join("again"), &[])
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
    assert!(
        err.to_string()
            .contains("not measuring: a profile is still applied"),
        "{err}"
    );
    let o = run(&["revert", path.to_str().unwrap()]).await.unwrap();
    assert_eq!(o.exit_code, 0, "{}", o.summary);
    assert_config_restored(&original, schema);
    let o = run(&["revert", path.to_str().unwrap()]).await.unwrap();
    assert!(o.summary.starts_with("nothing to revert"), "{}", o.summary);
}
