//! Vector kNN end to end against the real PostgreSQL + pgvector that `scripts/stack up`
//! starts: exact-scan recall, a weak HNSW checked against an independent brute force,
//! readiness, safety and bad input. Small data, seconds per test.

use std::path::{Path, PathBuf};

use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};
use tunebench::Results;
use tunebench::dataset::vectors::{VectorSet, cache_dir};
use tunebench::dataset::{DatasetSpec, load_spec};

mod common;
use common::postgres::pg_url;
use common::{ROOT, run, run_to, workload};

/// Profiles change server-wide settings (ALTER SYSTEM), and a kept one makes other runs on
/// the server refuse to measure: one run at a time.
static SETTINGS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn dataset(dir: &Path, schema: &str, count: u32, extra: &str) -> PathBuf {
    let path = dir.join("vectors.toml");
    std::fs::write(
        &path,
        format!("kind = \"vectors\"\nschema = \"{schema}\"\nseed = 11\ncount = {count}\ndimension = 384\nqueries = 100\nclusters = 20\nk_max = 10\n{extra}"),
    )
    .unwrap();
    path
}

/// A scenario over the repo's pgvector workload and profiles.
fn scenario(dir: &Path, dataset: &Path, ops: &str, profiles: &[&str]) -> PathBuf {
    let mut text = format!(
        r#"
name = "vector-test"

[targets.pg]
kind = "postgres"
url = "{url}"

[datasets.vec]
target = "pg"
file = "{dataset}"

[load]
mode = "closed"
concurrency = 2
warmup = "200ms"
# A fixed number of operations, not a time window: how many queries each op gets must not
# depend on the machine's speed.
iterations = 600

[[workload]]
name = "knn"
target = "pg"
dataset = "vec"
definition = "{ROOT}/workloads/pgvector-knn.toml"
k = 10
ops = [{ops}]
"#,
        url = pg_url(),
        dataset = dataset.display()
    );
    for p in profiles {
        text.push_str(&format!(
            "\n[[profile]]\nname = \"{p}\"\napply = {{ pg = \"{ROOT}/profiles/pgvector/{p}.toml\" }}\n"
        ));
    }
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn op_recall(r: &Results, profile: &str, op: &str) -> f64 {
    let w = workload(r, profile, "knn");
    assert_eq!(w.k, Some(10));
    let o = w.operations.iter().find(|o| o.op == op).unwrap();
    assert!(o.ops > 50, "{profile}/{op}: only {} queries", o.ops);
    o.recall_at_k
        .unwrap_or_else(|| panic!("{profile}/{op}: no recall"))
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut d, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        d += *x as f64 * *y as f64;
        na += *x as f64 * *x as f64;
        nb += *y as f64 * *y as f64;
    }
    1.0 - d / (na.sqrt() * nb.sqrt())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_scan_is_recall_one_and_weak_hnsw_matches_an_independent_brute_force() {
    let _settings = SETTINGS.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let schema = "tunebench_test_vec";
    let ds = dataset(dir.path(), schema, 4000, "");
    let ops = r#"{ op = "knn", weight = 2 }, { op = "knn_filter_50" }, { op = "knn_filter_10" }"#;
    let path = scenario(dir.path(), &ds, ops, &["exact", "hnsw-weak"]);
    let out = dir.path().join("out");
    let outcome = run_to(&path, &out, &["--keep-profile"]).await.unwrap();
    let results: Results =
        serde_json::from_slice(&std::fs::read(outcome.results_path.unwrap()).unwrap()).unwrap();
    for op in ["knn", "knn_filter_50", "knn_filter_10"] {
        assert_eq!(op_recall(&results, "exact", op), 1.0, "exact scan, {op}");
    }
    let weak = op_recall(&results, "hnsw-weak", "knn");
    assert!(weak < 0.98, "a weak HNSW should lose recall, got {weak}");

    // Independently of tunebench's ground truth: the vectors as the server holds them, a
    // plain f64 brute force here, and the kept weak index queried for every query.
    let DatasetSpec::Vectors(spec) = load_spec(&ds, &Default::default()).unwrap() else {
        panic!("vectors")
    };
    let set = VectorSet::build(&spec, &cache_dir()).unwrap();
    let mut c = PgConnection::connect(&pg_url()).await.unwrap();
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT id, embedding::real[] AS e FROM {schema}.items ORDER BY id"
    )))
    .fetch_all(&mut c)
    .await
    .unwrap();
    let base: Vec<(i64, Vec<f32>)> = rows.iter().map(|r| (r.get("id"), r.get("e"))).collect();
    assert_eq!(base.len(), 4000);
    sqlx::query("SET hnsw.ef_search = 10")
        .execute(&mut c)
        .await
        .unwrap();
    let mut per_query = Vec::new();
    for q in 0..set.query_count() {
        let query = set.query(q);
        let mut all: Vec<(f64, i64)> = base.iter().map(|(id, e)| (cosine(query, e), *id)).collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        let kth = all[9].0;
        let exact: Vec<u32> = all[..10].iter().map(|p| (p.1 - 1) as u32).collect();
        // tunebench's ground truth agrees with this brute force (tie-tolerantly).
        assert_eq!(set.recall(q, 0, 10, &exact).strict, 1.0, "query {q}");
        let mut truth_ids = set.truth.filters[0][q].ids.clone();
        truth_ids.sort();
        let mut mine = exact.clone();
        mine.sort();
        assert!(
            truth_ids == mine || (all[10].0 - kth).abs() < 1e-6,
            "query {q}"
        );
        let got: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT id FROM {schema}.items ORDER BY embedding <=> $1::vector LIMIT 10"
        )))
        .bind(query.to_vec())
        .fetch_all(&mut c)
        .await
        .unwrap();
        let hits = got
            .iter()
            .filter(|id| cosine(query, &base[(**id - 1) as usize].1) <= kth + 1e-3)
            .count();
        per_query.push(hits as f64 / 10.0);
    }
    let n = per_query.len() as f64;
    let independent = per_query.iter().sum::<f64>() / n;
    let sd = (per_query
        .iter()
        .map(|r| (r - independent).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    // tunebench drew queries at random (with repeats), so its mean is a sample of the same
    // per-query recalls: it must agree within sampling error (4 standard errors of a mean of
    // `drawn` queries), not exactly.
    let drawn = results
        .runs
        .iter()
        .find(|p| p.profile == "hnsw-weak")
        .and_then(|p| p.workloads.iter().find(|w| w.workload == "knn"))
        .and_then(|w| w.operations.iter().find(|o| o.op == "knn"))
        .expect("hnsw-weak/knn/knn in results")
        .ops as f64;
    let tolerance = 4.0 * sd / drawn.sqrt() + 0.005;
    eprintln!(
        "weak HNSW recall@10: tunebench {weak:.4} over {drawn} queries, independent check {independent:.4}, tolerance {tolerance:.4}"
    );
    assert!(
        (weak - independent).abs() < tolerance,
        "tunebench measured {weak}, the independent check {independent} (tolerance {tolerance})"
    );

    // What --keep-profile left is journaled, in the cache and on the server: a run over it
    // refuses to measure (exit 3), and `tunebench revert` restores exactly what the journal
    // on the server says.
    common::assert_refused_by_both_journals(
        &path,
        "pg",
        dir.path(),
        &[],
        "hnsw-weak",
        "table tunebench_journal.entries",
    )
    .await;
    let o = run(&["revert", path.to_str().unwrap()]).await.unwrap();
    assert_eq!(o.exit_code, 0, "{}", o.summary);
    assert!(
        o.summary.contains("_items_embedding_hnsw_weak"),
        "{}",
        o.summary
    );
    let left: Option<String> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT to_regclass('{schema}.tunebench_items_embedding_hnsw_weak')::text"
    )))
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(left, None, "the kept index is dropped");
    let auto: Option<String> = sqlx::query_scalar(
        "SELECT setting FROM pg_file_settings WHERE name = 'hnsw.ef_search' AND sourcefile LIKE '%postgresql.auto.conf'",
    )
    .fetch_optional(&mut c)
    .await
    .unwrap();
    assert_eq!(auto, None, "ALTER SYSTEM of hnsw.ef_search is reset");
    let o = run(&["revert", path.to_str().unwrap()]).await.unwrap();
    assert!(o.summary.starts_with("nothing to revert"), "{}", o.summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upserts_and_searches_are_judged_against_the_rows_visible() {
    let _settings = SETTINGS.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let schema = "tunebench_test_vec_upsert";
    let ds = dataset(dir.path(), schema, 3000, "");
    let ops = r#"{ op = "knn", weight = 3 }, { op = "knn_filter_10" }, { op = "upsert" }"#;
    let path = scenario(dir.path(), &ds, ops, &["exact", "hnsw"]);
    let out = dir.path().join("out");
    let outcome = run_to(&path, &out, &[]).await.unwrap();
    let r: Results =
        serde_json::from_slice(&std::fs::read(outcome.results_path.unwrap()).unwrap()).unwrap();
    for profile in ["exact", "hnsw"] {
        let w = workload(&r, profile, "knn");
        assert_eq!(w.errors, 0, "{profile}: {:?}", w.errors_by_kind);
        let up = w.operations.iter().find(|o| o.op == "upsert").unwrap();
        assert!(up.ops > 3, "{profile}: {} upserts", up.ops);
        // 100 points of 384 float32 per upsert.
        let batches = up.bytes_per_s.unwrap() / (100.0 * 384.0 * 4.0);
        assert!((batches - up.throughput_ops_s).abs() < 1e-6 * batches.max(1.0));
        let recall = op_recall(&r, profile, "knn");
        eprintln!("{profile}: {} upserts, knn recall@10 {recall:.4}", up.ops);
        if profile == "exact" {
            // An exact scan sees every committed row, fresh ones included: judged against
            // the rows visible when each search started, recall is exactly 1.0.
            assert_eq!(recall, 1.0);
            assert_eq!(op_recall(&r, profile, "knn_filter_10"), 1.0);
        } else {
            assert!(recall > 0.8, "hnsw recall@10 {recall}");
        }
    }
    // Each phase ended by deleting its fresh rows: the table holds the dataset again.
    let mut conn = PgConnection::connect(&pg_url()).await.unwrap();
    let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM {schema}.items"
    )))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(n, 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_refuses_a_half_loaded_table() {
    // A profile kept by another test here is server-wide: runs wait for it.
    let _settings = SETTINGS.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let schema = "tunebench_test_vec_ready";
    let ds = dataset(dir.path(), schema, 600, "");
    let path = scenario(dir.path(), &ds, r#"{ op = "knn" }"#, &["exact"]);
    let out = dir.path().join("out");
    let args = [
        "run",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    run(&[&args[..], &["--duration", "300ms", "--warmup", "0s"]].concat())
        .await
        .unwrap();
    let mut c = PgConnection::connect(&pg_url()).await.unwrap();
    sqlx::query(AssertSqlSafe(format!(
        "DELETE FROM {schema}.items WHERE id % 2 = 0"
    )))
    .execute(&mut c)
    .await
    .unwrap();
    let DatasetSpec::Vectors(spec) = load_spec(&ds, &Default::default()).unwrap() else {
        panic!("vectors")
    };
    let data = tunebench::backend::postgres::PgData::Vectors(
        VectorSet::build(&spec, &cache_dir()).unwrap(),
    );
    let pool = sqlx::PgPool::connect(&pg_url()).await.unwrap();
    let checks = tunebench::backend::postgres::readiness(&pool, "pg", &data, &[])
        .await
        .unwrap();
    let bad: Vec<_> = checks.iter().filter(|c| !c.ok).collect();
    assert_eq!(bad.len(), 1, "{checks:?}");
    assert_eq!(bad[0].check, format!("rows in {schema}.items"));
    assert_eq!(
        (bad[0].expected.as_str(), bad[0].actual.as_str()),
        ("600", "300")
    );
    // A run reloads tunebench's own damaged load rather than measuring it.
    run(&[&args[..], &["--duration", "300ms", "--warmup", "0s"]].concat())
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM {schema}.items"
    )))
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(n, 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_tunebench_did_not_create_is_refused_and_left_alone() {
    // A profile kept by another test here is server-wide: runs wait for it.
    let _settings = SETTINGS.lock().await;
    let mut c = PgConnection::connect(&pg_url()).await.unwrap();
    for stmt in [
        "DROP SCHEMA IF EXISTS tunebench_vec_not_ours CASCADE",
        "CREATE SCHEMA tunebench_vec_not_ours",
        "CREATE TABLE tunebench_vec_not_ours.items (id bigint)",
        "INSERT INTO tunebench_vec_not_ours.items VALUES (7)",
    ] {
        sqlx::query(stmt).execute(&mut c).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), "tunebench_vec_not_ours", 100, "");
    let path = scenario(dir.path(), &ds, r#"{ op = "knn" }"#, &["exact"]);
    let err = run_to(&path, &dir.path().join("o"), &[]).await.unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(
        err.to_string().contains("not created by tunebench"),
        "{err}"
    );
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM tunebench_vec_not_ours.items")
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert_eq!(ids, [7]);
    sqlx::query("DROP SCHEMA tunebench_vec_not_ours CASCADE")
        .execute(&mut c)
        .await
        .unwrap();
}

#[tokio::test]
async fn bad_vector_files_and_mismatches_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let m = tunebench::dataset::vectors::Matrix {
        rows: 20,
        dim: 8,
        data: (0..160).map(|i| i as f32).collect(),
    };
    let mut npy = Vec::new();
    tunebench::dataset::vectors::files::write_npy(&mut npy, &m).unwrap();
    std::fs::write(dir.path().join("v8.npy"), &npy).unwrap();
    let mut fv = Vec::new();
    tunebench::dataset::vectors::files::write_fvecs(&mut fv, &m).unwrap();
    std::fs::write(dir.path().join("cut.fvecs"), &fv[..fv.len() - 5]).unwrap();
    std::fs::write(dir.path().join("q.csv"), "1,2,3").unwrap();
    for (files, expect) in [
        (
            "vectors_file = \"v8.npy\"\nqueries_file = \"v8.npy\"\n",
            "8-d vectors but dimension is 384",
        ),
        (
            "vectors_file = \"v8.npy\"\nqueries_file = \"cut.fvecs\"\n",
            "truncated",
        ),
        (
            "vectors_file = \"v8.npy\"\nqueries_file = \"q.csv\"\n",
            "valid: .npy",
        ),
        ("vectors_file = \"v8.npy\"\n", "queries_file"),
    ] {
        let ds = dataset(dir.path(), "tunebench_test_vec_bad", 10, files);
        let path = scenario(dir.path(), &ds, r#"{ op = "knn" }"#, &["exact"]);
        let err = run(&["validate", path.to_str().unwrap()])
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains(expect) && msg.contains("vectors.toml"),
            "{msg}"
        );
    }
    // Vector parameters against a document corpus: refused before anything runs.
    let docs = dir.path().join("docs.toml");
    std::fs::write(
        &docs,
        "kind = \"documents\"\nschema = \"tunebench_x\"\nseed = 1\nauthors = 5\ndocuments = 5\n",
    )
    .unwrap();
    let path = scenario(dir.path(), &docs, r#"{ op = "knn" }"#, &["exact"]);
    let err = run(&["validate", path.to_str().unwrap()])
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("query_vector"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_of_ef_search_reports_recall_against_speed_with_charts() {
    let _settings = SETTINGS.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), "tunebench_test_vec_sweep", 3000, "");
    let path = scenario(dir.path(), &ds, r#"{ op = "knn" }"#, &["hnsw-weak"]);
    // The sweep: one workload per hnsw.ef_search value, set on the worker sessions.
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "ops = [{ op = \"knn\" }]",
        "ops = [{ op = \"knn\" }]\nsweep = { setting = \"hnsw.ef_search\", values = [1, 200], min_recall = 0.5 }",
    );
    std::fs::write(&path, text).unwrap();
    let out = dir.path().join("out");
    let args = [
        "run",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    run(&[&args[..], &["--duration", "800ms", "--warmup", "0s"]].concat())
        .await
        .unwrap();
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    // A vector run's results (query vectors in plans, recall, sweep points) fit the schema.
    let errors = common::schema_violations(&raw);
    assert!(errors.is_empty(), "{errors:?}");
    let results: Results = serde_json::from_value(raw).unwrap();
    let recall = |name: &str| common::first_run_recall(&results, name);
    // ef_search = 1 returns a single row: at most 1 of 10 neighbours.
    let (low, high) = (recall("knn_1"), recall("knn_200"));
    assert!(low <= 0.1, "ef_search 1: {low}");
    assert!(
        high > low + 0.3,
        "ef_search 200 ({high}) should beat ef_search 1 ({low})"
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("sweeping `hnsw.ef_search`"), "{report}");
    assert!(
        report.contains("cheapest value meeting it: `200`"),
        "{report}"
    );
    for chart in ["recall-qps", "recall-p99"] {
        let svg =
            std::fs::read_to_string(out.join(format!("sweep-hnsw-weak-knn-{chart}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.matches("<circle").count() >= 2);
    }
}
