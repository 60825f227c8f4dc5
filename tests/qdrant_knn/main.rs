//! Qdrant kNN end to end. The embedded engine (qdrant-edge, in-process) always runs: baseline
//! vs tuned with recall against tunebench's ground truth, revert restoring the collection
//! config, readiness refusing unindexed data, safety and bad input. Small data, seconds per
//! test. The server tests run against `TUNEBENCH_QDRANT_URL` when it is set and otherwise say
//! in one line that they were skipped.

use std::path::{Path, PathBuf};

use tunebench::Results;
use tunebench::backend::Store;
use tunebench::backend::qdrant::{ManagedConfig, QdrantStore};
use tunebench::dataset::vectors::cache_dir;

#[path = "../common/mod.rs"]
mod common;
mod drills;
mod existing;
mod safety;
mod server;
use common::{ROOT, run, run_to, workload};

/// Each test uses its own collection; the embedded shards live under the cache dir.
/// A profile kept on the embedded engine makes every other run on it refuse to measure (the
/// journal is per server): the keep test runs alone, the others side by side.
static ENGINE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn shard_dir(schema: &str) -> PathBuf {
    cache_dir().join("qdrant-edge").join(schema)
}

fn dataset(dir: &Path, schema: &str, count: u32) -> PathBuf {
    let path = dir.join(format!("{schema}.toml"));
    std::fs::write(
        &path,
        format!("kind = \"vectors\"\nschema = \"{schema}\"\nseed = 7\ncount = {count}\ndimension = 384\nqueries = 100\nclusters = 20\nk_max = 10\n"),
    )
    .unwrap();
    path
}

/// A small-data profile: the plan's tuned values, but thresholds low enough that a few
/// thousand vectors get (and are searched through) an HNSW graph.
const SMALL_TUNED: &str = r#"store = "qdrant"
description = "tuned, small-data thresholds"
[hnsw]
m = 16
ef_construct = 100
full_scan_threshold = 10
[optimizers]
indexing_threshold = 100
[quantization]
type = "int8"
quantile = 0.99
always_ram = true
[search]
hnsw_ef = 64
rescore = true
oversampling = 2.0
"#;

/// A deliberately weak graph: few links, tiny beam, int8 without rescoring.
const WEAK: &str = r#"store = "qdrant"
[hnsw]
m = 4
ef_construct = 8
full_scan_threshold = 10
[optimizers]
indexing_threshold = 100
[quantization]
type = "int8"
[search]
hnsw_ef = 10
"#;

/// `profiles`: (name, profile file) pairs; `url`: empty for embedded.
fn scenario(dir: &Path, url: &str, ds: &Path, profiles: &[(&str, PathBuf)]) -> PathBuf {
    let mut text = format!(
        r#"
name = "qdrant-test"

[targets.qd]
kind = "qdrant"
url = "{url}"

[datasets.vec]
target = "qd"
file = "{ds}"

[load]
mode = "closed"
concurrency = 2
warmup = "200ms"
# A fixed number of operations, not a time window: how many queries each op gets must not
# depend on the machine's speed.
iterations = 400
interleave = false

[[workload]]
name = "knn"
target = "qd"
dataset = "vec"
definition = "{ROOT}/workloads/qdrant-knn.toml"
k = 10
ops = [{{ op = "knn", weight = 2 }}, {{ op = "knn_filter_50" }}, {{ op = "knn_filter_10" }}]
"#,
        ds = ds.display()
    );
    for (name, file) in profiles {
        text.push_str(&format!(
            "\n[[profile]]\nname = \"{name}\"\napply = {{ qd = \"{}\" }}\n",
            file.display()
        ));
    }
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn profile(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

async fn run_scenario(path: &Path, out: &Path) -> Results {
    let outcome = run_to(path, out, &[]).await.unwrap();
    serde_json::from_slice(&std::fs::read(outcome.results_path.unwrap()).unwrap()).unwrap()
}

fn op_recall(r: &Results, profile: &str, op: &str) -> f64 {
    let w = workload(r, profile, "knn");
    assert_eq!(w.k, Some(10));
    assert_eq!(w.errors, 0, "{profile}: {:?}", w.errors_by_kind);
    let o = w.operations.iter().find(|o| o.op == op).unwrap();
    assert!(o.ops > 30, "{profile}/{op}: only {} queries", o.ops);
    o.recall_at_k
        .unwrap_or_else(|| panic!("{profile}/{op}: no recall"))
}

fn evidence(r: &Results, profile: &str) -> serde_json::Value {
    let run = r.runs.iter().find(|p| p.profile == profile).unwrap();
    serde_json::to_value(&run.server["qd"]).unwrap()
}

/// The collection config as the engine persisted it, minus what tunebench does not manage.
/// The engine's persisted config of `schema` is `original` again, in every part a profile
/// may change.
fn assert_config_restored(original: &serde_json::Value, schema: &str) {
    let after = persisted_config(schema);
    for key in [
        "hnsw_config",
        "quantization_config",
        "optimizers",
        "vectors",
    ] {
        assert_eq!(original.get(key), after.get(key), "{key} restored");
    }
}

fn persisted_config(schema: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(shard_dir(schema).join("edge_config.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_baseline_vs_tuned_recall_against_ground_truth_and_exact_revert() {
    let _engine = ENGINE.read().await;
    let dir = tempfile::tempdir().unwrap();
    let schema = "tunebench_test_q_e2e";
    let ds = dataset(dir.path(), schema, 3000);
    let baseline = PathBuf::from(format!("{ROOT}/profiles/qdrant/baseline.toml"));
    let tuned = profile(dir.path(), "tuned", SMALL_TUNED);
    let weak = profile(dir.path(), "weak", WEAK);
    // Start from a fresh collection (this test's own), so its config is the engine's.
    let _ = std::fs::remove_dir_all(shard_dir(schema));

    // First run creates the collection; its persisted config is what revert must restore.
    let path = scenario(dir.path(), "", &ds, &[("baseline", baseline.clone())]);
    run_scenario(&path, &dir.path().join("o1")).await;
    let original = persisted_config(schema);

    let path = scenario(
        dir.path(),
        "",
        &ds,
        &[("baseline", baseline), ("tuned", tuned), ("weak", weak)],
    );
    let out = dir.path().join("o2");
    let r = run_scenario(&path, &out).await;

    // Baseline: 3,000 vectors (4.5 MB) are below Qdrant's default indexing threshold, so the
    // engine searches them exhaustively: recall must be exactly 1.0 against tunebench's own
    // brute force, unfiltered and filtered (this is the ground-truth agreement check).
    for op in ["knn", "knn_filter_50", "knn_filter_10"] {
        assert_eq!(op_recall(&r, "baseline", op), 1.0, "baseline {op}");
    }
    let ev = evidence(&r, "baseline");
    assert_eq!(ev["indexed_vectors_count"], 0, "{ev}");
    assert_eq!(ev["points_count"], 3000);

    // Tuned: HNSW + int8 with rescoring and oversampling keeps recall high.
    let tuned_recall = op_recall(&r, "tuned", "knn");
    assert!(tuned_recall > 0.9, "tuned recall@10 {tuned_recall}");
    let ev = evidence(&r, "tuned");
    assert_eq!(ev["indexed_vectors_count"], 3000, "{ev}");
    assert_eq!(ev["mode"], "embedded");
    assert_eq!(ev["config"]["hnsw_config"]["m"], 16);
    assert_eq!(ev["config"]["hnsw_config"]["ef_construct"], 100);
    assert_eq!(
        ev["config"]["quantization_config"]["scalar"]["type"], "int8",
        "{ev}"
    );
    assert_eq!(ev["search"]["oversampling"], 2.0);
    let rate = ev["index_vectors_per_s"].as_f64().unwrap();
    assert!(rate > 0.0 && ev["index_build_seconds"].as_f64().unwrap() > 0.0);
    assert!(ev["disk_bytes"].as_u64().unwrap() > 3000 * 384 * 4 / 2);
    // int8: one byte per component (plus offsets) next to the float originals.
    let parts = &ev["disk_by_part"];
    let quantized = parts["quantized"].as_u64().unwrap_or(0);
    assert!((3000 * 384..3000 * 384 * 4).contains(&quantized), "{parts}");
    assert!(
        parts["vectors"].as_u64().unwrap() >= 3000 * 384 * 4,
        "{parts}"
    );
    assert!(parts["hnsw"].as_u64().unwrap() > 0, "{parts}");
    assert!(
        evidence(&r, "baseline")["disk_by_part"]
            .get("quantized")
            .is_none(),
        "no quantization in the baseline"
    );
    let tuned_run = r.runs.iter().find(|p| p.profile == "tuned").unwrap();
    assert_eq!(tuned_run.changes[0].indexes.len(), 1, "a timed re-index");
    assert!(
        tuned_run.readiness.iter().all(|c| c.ok),
        "{:?}",
        tuned_run.readiness
    );

    // Weak graph, int8 without rescoring: measurably worse than tuned.
    let weak_recall = op_recall(&r, "weak", "knn");
    eprintln!("recall@10: baseline 1.0, tuned {tuned_recall:.4}, weak {weak_recall:.4}");
    assert!(
        weak_recall < tuned_recall,
        "weak {weak_recall} should lose recall against tuned {tuned_recall}"
    );

    // Every revert was exact and the engine's persisted config is back to the original.
    for run in &r.runs {
        for rev in &run.revert {
            assert!(rev.mismatches.is_empty(), "{}: {:?}", run.profile, rev);
        }
    }
    assert_config_restored(&original, schema);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("Qdrant") && report.contains("collection config as applied"));
}

/// Searches and upserts of fresh points in one workload: 3 searches to 1 batch of 10.
const MIXED: &str = r#"store = "qdrant"
[ops.knn]
query = "query_vector"
[ops.knn_filter_10]
query = "query_vector_category10"
[ops.upsert]
upsert = 10
fresh_points = 500
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upserts_and_searches_are_judged_against_the_points_visible() {
    let _engine = ENGINE.read().await;
    let dir = tempfile::tempdir().unwrap();
    let schema = "tunebench_test_q_upsert";
    let ds = dataset(dir.path(), schema, 3000);
    let def = profile(dir.path(), "mixed-workload", MIXED);
    let baseline = PathBuf::from(format!("{ROOT}/profiles/qdrant/baseline.toml"));
    let tuned = profile(dir.path(), "tuned", SMALL_TUNED);
    let path = scenario(
        dir.path(),
        "",
        &ds,
        &[("baseline", baseline), ("tuned", tuned)],
    );
    let text = std::fs::read_to_string(&path).unwrap().replace(
        &format!(
            "definition = \"{ROOT}/workloads/qdrant-knn.toml\"\nk = 10\nops = [{{ op = \"knn\", weight = 2 }}, {{ op = \"knn_filter_50\" }}, {{ op = \"knn_filter_10\" }}]"
        ),
        &format!(
            "definition = \"{}\"\nk = 10\nops = [{{ op = \"knn\", weight = 2 }}, {{ op = \"knn_filter_10\" }}, {{ op = \"upsert\" }}]",
            def.display()
        ),
    );
    assert!(text.contains("upsert"), "the scenario template changed");
    std::fs::write(&path, text).unwrap();
    let r = run_scenario(&path, &dir.path().join("o")).await;

    for profile in ["baseline", "tuned"] {
        let w = workload(&r, profile, "knn");
        assert_eq!(w.errors, 0, "{profile}: {:?}", w.errors_by_kind);
        let up = w.operations.iter().find(|o| o.op == "upsert").unwrap();
        assert!(up.ops > 5, "{profile}: {} upserts", up.ops);
        assert!(up.recall_at_k.is_none());
        // 10 points of 384 float32 per upsert.
        let rate = up.bytes_per_s.unwrap() / (10.0 * 384.0 * 4.0);
        assert!(
            (rate - up.throughput_ops_s).abs() < 1e-6 * rate.max(1.0),
            "{profile}: {rate} batches/s from bytes vs {} ops/s",
            up.throughput_ops_s
        );
        let recall = op_recall(&r, profile, "knn");
        eprintln!("{profile}: {} upserts, knn recall@10 {recall:.4}", up.ops);
        if profile == "baseline" {
            // Below the indexing threshold the engine searches exhaustively, fresh points
            // included: judged against the points visible when each search started, recall
            // is exactly 1.0. Judged against the loaded points alone it would not be, since
            // fresh points from the same distribution enter top-10s.
            assert_eq!(recall, 1.0, "baseline knn");
            assert_eq!(op_recall(&r, profile, "knn_filter_10"), 1.0);
        } else {
            assert!(recall > 0.9, "tuned recall@10 {recall}");
        }
    }

    // Every phase ended by deleting its fresh points: the collection holds exactly the
    // dataset again, so readiness passes.
    let scenario = tunebench::scenario::load(&path).unwrap();
    let mut store = QdrantStore::connect(&scenario.targets["qd"], Default::default())
        .await
        .unwrap();
    let (_, data) = store.prepare(&scenario.datasets["vec"]).await.unwrap();
    assert_eq!(store.engine().info(schema).await.unwrap().points, 3000);
    let checks = store.readiness(&data, None).await.unwrap();
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_refuses_unindexed_data() {
    let _engine = ENGINE.read().await;
    let dir = tempfile::tempdir().unwrap();
    let schema = "tunebench_test_q_ready";
    let ds = dataset(dir.path(), schema, 1500);
    let baseline = PathBuf::from(format!("{ROOT}/profiles/qdrant/baseline.toml"));
    let path = scenario(dir.path(), "", &ds, &[("baseline", baseline)]);
    let out = dir.path().join("o");
    let args = [
        "run",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--duration",
        "300ms",
        "--warmup",
        "0s",
    ];
    run(&args).await.unwrap();

    // Lower the indexing threshold without running the optimizer: the engine now owes an
    // HNSW graph for every point, and none is built.
    let scenario = tunebench::scenario::load(&path).unwrap();
    let mut store = QdrantStore::connect(&scenario.targets["qd"], Default::default())
        .await
        .unwrap();
    let (_, data) = store.prepare(&scenario.datasets["vec"]).await.unwrap();
    let info = store.engine().info(schema).await.unwrap();
    assert_eq!(info.indexed, 0);
    let lowered = ManagedConfig {
        indexing_threshold: 100,
        ..info.managed
    };
    store.engine().set_config(schema, &lowered).await.unwrap();
    let checks = store.readiness(&data, None).await.unwrap();
    let bad: Vec<_> = checks.iter().filter(|c| !c.ok).collect();
    assert_eq!(bad.len(), 1, "{checks:?}");
    assert_eq!(bad[0].check, format!("indexed vectors in {schema}"));
    assert_eq!(
        (bad[0].expected.as_str(), bad[0].actual.as_str()),
        ("1500", "0")
    );
    drop(data);
    drop(store);

    // A run refuses to measure it (exit 3), naming the check.
    let err = run(&args).await.unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
    assert!(err.to_string().contains("indexed vectors"), "{err}");

    // Put the threshold back (the engine's default) for the next run of this test.
    let mut store = QdrantStore::connect(&scenario.targets["qd"], Default::default())
        .await
        .unwrap();
    store.prepare(&scenario.datasets["vec"]).await.unwrap();
    store
        .engine()
        .set_config(schema, &info.managed)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_of_hnsw_ef_reports_recall_against_speed_with_charts() {
    let _engine = ENGINE.read().await;
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), "tunebench_test_q_sweep", 3000);
    let weak = profile(dir.path(), "weak", WEAK);
    let path = scenario(dir.path(), "", &ds, &[("weak", weak)]);
    // One workload per hnsw_ef value, sent with every search request.
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "k = 10\n",
        "k = 10\nsweep = { setting = \"hnsw_ef\", values = [10, 300], min_recall = 0.5 }\n",
    );
    std::fs::write(&path, text).unwrap();
    let out = dir.path().join("out");
    let outcome = run_to(&path, &out, &["--duration", "800ms", "--warmup", "0s"])
        .await
        .unwrap();
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outcome.results_path.unwrap()).unwrap()).unwrap();
    // A Qdrant run's results (evidence, sweep points, load rates) fit the schema.
    let errors = common::schema_violations(&raw);
    assert!(errors.is_empty(), "{errors:?}");
    let r: Results = serde_json::from_value(raw).unwrap();
    let recall = |name: &str| common::first_run_recall(&r, name);
    let (low, high) = (recall("knn_10"), recall("knn_300"));
    eprintln!("weak graph, recall@10 at hnsw_ef 10: {low:.4}, at 300: {high:.4}");
    assert!(
        high > low + 0.05,
        "hnsw_ef 300 ({high}) should beat 10 ({low})"
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("sweeping `hnsw_ef`"), "{report}");
    for chart in ["recall-qps", "recall-p99"] {
        let svg = std::fs::read_to_string(out.join(format!("sweep-weak-knn-{chart}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.matches("<circle").count() >= 2);
    }
}
