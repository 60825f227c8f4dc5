//! A collection tunebench did not create, searched read only (`collection` + `vectors`):
//! held-out queries left out of their own answers, exact ground truth from the points read
//! once, recall judged strictly, the collection's points and config unchanged. Embedded
//! always; the server whenever `TUNEBENCH_QDRANT_URL` is set.

use std::path::Path;
use std::time::Duration;

use tunebench::Results;
use tunebench::backend::qdrant::spec::QdrantTarget;
use tunebench::backend::qdrant::{Engine, ManagedConfig, Manifest};
use tunebench::dataset::vectors::cache_dir;

use crate::common::{self, run_to, workload};
use crate::{ENGINE, shard_dir};

const DIM: usize = 32;
const POINTS: u64 = 3000;

/// The application's collection, made as an application would: random 32-d points with ids
/// that are not 1..n, a weak HNSW graph (so approximate search visibly misses), and (embedded)
/// no tunebench manifest. Returns the engine, to fingerprint and drop it later.
async fn make_collection(url: &str, c: &str) -> Engine {
    use rand::{RngExt, SeedableRng};
    let root = cache_dir().join("qdrant-edge");
    let (engine, _) = Engine::open(url, &QdrantTarget::default(), root, Duration::from_secs(10))
        .await
        .unwrap();
    if engine.collections().await.unwrap().iter().any(|x| x == c) {
        engine.open_collection(c).await.unwrap();
        engine.drop_collection(c).await.unwrap();
    }
    let manifest = Manifest {
        created_by: "an application".into(),
        spec_hash: String::new(),
        complete: true,
        upsert_seconds: None,
        index_seconds: None,
        vectors: POINTS,
    };
    engine.create(c, DIM, &manifest).await.unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let points = (0..POINTS)
        .map(|i| {
            let v: Vec<f32> = (0..DIM).map(|_| rng.random::<f32>() - 0.5).collect();
            (50_000 + 7 * i, v, 0u8, 0i64)
        })
        .collect();
    engine.upsert(c, points).await.unwrap();
    let weak = ManagedConfig {
        m: 4,
        ef_construct: 8,
        full_scan_threshold: 10,
        indexing_threshold: 10,
        quantization: None,
    };
    engine.set_config(c, &weak).await.unwrap();
    engine.build_index(c, true).await.unwrap();
    if url.is_empty() {
        std::fs::remove_file(shard_dir(c).join("tunebench_manifest.json")).unwrap();
    }
    engine
}

/// `allow`: the target lets profiles change the collection (`allow_foreign_indexes`).
fn write_scenario(dir: &Path, url: &str, c: &str, allow: bool) -> std::path::PathBuf {
    std::fs::write(
        dir.join("similar.toml"),
        format!(
            r#"store = "qdrant"
[ops.similar]
collection = "{c}"
vectors = {{ queries = 40 }}
limit = 10
"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("exact.toml"),
        "store = \"qdrant\"\n[search]\nexact = true\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("beam.toml"),
        "store = \"qdrant\"\n[search]\nhnsw_ef = 10\n",
    )
    .unwrap();
    // The tuning being measured on the application's collection: a denser graph, built on
    // apply and the weak one rebuilt on revert.
    std::fs::write(
        dir.join("graph.toml"),
        "store = \"qdrant\"\n[hnsw]\nm = 16\nef_construct = 100\n[search]\nhnsw_ef = 10\n",
    )
    .unwrap();
    let path = dir.join("scenario.toml");
    std::fs::write(
        &path,
        format!(
            r#"name = "existing-collection"

[targets.qd]
kind = "qdrant"
url = "{url}"
allow_foreign_indexes = {allow}

[load]
mode = "closed"
concurrency = 2
warmup = "100ms"
iterations = 300
interleave = false

[[workload]]
name = "similar"
target = "qd"
definition = "similar.toml"
k = 10
ops = [{{ op = "similar" }}]

[[profile]]
name = "exact"
apply = {{ qd = "exact.toml" }}

[[profile]]
name = "beam"
apply = {{ qd = "beam.toml" }}

[[profile]]
name = "graph"
apply = {{ qd = "graph.toml" }}
"#
        ),
    )
    .unwrap();
    path
}

/// Runs the scenario on `c` and checks recall and that the collection is as it was.
async fn measure(url: &str, c: &str) {
    let engine = make_collection(url, c).await;
    let before = (
        engine.prints(c).await.unwrap(),
        engine.info(c).await.unwrap().managed,
    );
    // The embedded shard is opened by one engine at a time.
    let engine = if url.is_empty() {
        drop(engine);
        None
    } else {
        Some(engine)
    };
    let dir = tempfile::tempdir().unwrap();
    let path = write_scenario(dir.path(), url, c, true);
    let out = dir.path().join("out");
    let outcome = run_to(&path, &out, &[]).await.unwrap();
    assert_eq!(outcome.exit_code, 0, "{}", outcome.summary);
    let r = Results::read(&out.join("results.json")).unwrap();
    let recall = |profile: &str| {
        let w = workload(&r, profile, "similar");
        assert_eq!(w.errors, 0, "{profile}: {:?}", w.errors_by_kind);
        (w.recall_at_k.unwrap(), w.recall_by_query.len())
    };
    // An exact search finds every true neighbour, and never the query's own point.
    let (exact, queries) = recall("exact");
    assert_eq!(exact, 1.0);
    assert!(queries > 0 && queries <= 40, "{queries} queries judged");
    // The weak graph with a small beam misses some: judged, not assumed.
    let (beam, _) = recall("beam");
    assert!(beam > 0.0 && beam < 1.0, "beam recall {beam}");
    // The denser graph the profile built finds more with the same beam.
    let (graph, _) = recall("graph");
    assert!(graph > beam, "graph recall {graph}, weak graph's {beam}");
    let src = &workload(&r, "exact", "similar").param_sources[0];
    assert_eq!((src.from.as_str(), src.rows), ("vectors", Some(POINTS)));
    assert!(
        src.source
            .contains(&format!("collection {c}, 40 held-out queries")),
        "{}",
        src.source
    );
    let engine = if let Some(e) = engine {
        e
    } else {
        let root = cache_dir().join("qdrant-edge");
        let (e, _) = Engine::open(url, &QdrantTarget::default(), root, Duration::from_secs(10))
            .await
            .unwrap();
        e.open_collection(c).await.unwrap();
        e
    };
    let after = (
        engine.prints(c).await.unwrap(),
        engine.info(c).await.unwrap().managed,
    );
    assert!(before == after, "the collection changed");
    engine.drop_collection(c).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_collection_is_searched_read_only_with_recall_against_exact_truth() {
    let _engine = ENGINE.read().await;
    measure("", "app_items_embedded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_collection_is_searched_read_only_with_recall_against_exact_truth() {
    let test = "a_server_collection_is_searched_read_only_with_recall_against_exact_truth";
    let Some(url) = common::env_or_skip(
        "TUNEBENCH_QDRANT_URL",
        test,
        "set it to a Qdrant server's gRPC URL, e.g. after scripts/stack up qdrant: docs/qdrant.md#a-qdrant-server",
    ) else {
        return;
    };
    measure(&url, "app_items_server").await;
}

#[test]
fn changes_to_a_collection_tunebench_did_not_create_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_scenario(dir.path(), "", "app_items", false);
    let err = tunebench::scenario::load(&path).unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(
        err.to_string().contains(
            "which a profile changes only when the target says allow_foreign_indexes = true"
        ),
        "{err}"
    );
    std::fs::write(
        dir.path().join("similar.toml"),
        "store = \"qdrant\"\n[ops.similar]\ncollection = \"app_items\"\nupsert = 10\nvectors = { queries = 5 }\n",
    )
    .unwrap();
    let err = tunebench::scenario::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("it only reads, so no `query`, `upsert`"),
        "{err}"
    );
    std::fs::write(
        dir.path().join("similar.toml"),
        "store = \"qdrant\"\n[ops.similar]\nquery = \"query_vector\"\n",
    )
    .unwrap();
    let err = tunebench::scenario::load(&path).unwrap_err().to_string();
    assert!(err.contains("the workload names none"), "{err}");
}
