//! kNN on a table of the user's own vectors (`from = "vectors"`): held-out queries, exact
//! ground truth from the rows read once, recall judged strictly, the table left as it was.

use sqlx::{Connection, PgConnection};
use tunebench::Results;

use super::SERVER;
use crate::common::postgres::pg_url;
use crate::common::run_to;

/// The application's embeddings, made by this test (as an application would): 2,000 rows of
/// 16-d vectors with ids that are neither 1..n nor in order.
const FIXTURE: &[&str] = &[
    "DROP SCHEMA IF EXISTS emb_fixture CASCADE",
    "CREATE SCHEMA emb_fixture",
    "CREATE EXTENSION IF NOT EXISTS vector",
    "CREATE TABLE emb_fixture.docs (doc_id bigint PRIMARY KEY, lang text NOT NULL, embedding vector(16))",
    "SELECT setseed(0.42)",
    "INSERT INTO emb_fixture.docs SELECT 100000 - 7 * g, (ARRAY['en','de'])[1 + g % 2], \
     ARRAY(SELECT random() - 0.5 FROM generate_series(1, 16) WHERE g > 0)::vector FROM generate_series(1, 2000) g",
    // A row without a vector: not read, never a query.
    "INSERT INTO emb_fixture.docs VALUES (1, 'en', NULL)",
    "ANALYZE emb_fixture.docs",
];

async fn fingerprint(c: &mut PgConnection) -> String {
    sqlx::query_scalar(
        "SELECT md5(string_agg(d::text, ',' ORDER BY doc_id)) || ' ' || \
         (SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relnamespace = 'emb_fixture'::regnamespace) \
         FROM emb_fixture.docs d",
    )
    .fetch_one(c)
    .await
    .unwrap()
}

const SOURCE: &str = r#"{ from = "vectors", table = "emb_fixture.docs", id = "doc_id", column = "embedding", metric = "cosine", queries = 40 }"#;

fn write_scenario(dir: &std::path::Path, workloads: &str) -> std::path::PathBuf {
    std::fs::write(
        dir.join("knn.toml"),
        format!(
            r#"store = "postgres"

[ops.knn]
sql = "SELECT doc_id FROM emb_fixture.docs WHERE doc_id <> $2 ORDER BY embedding <=> $1::vector LIMIT 10"
params = [{SOURCE}]

# Does not leave the query's own row out: it comes back first, and is not a neighbour.
[ops.knn_self]
sql = "SELECT doc_id FROM emb_fixture.docs WHERE $2::int8 IS NOT NULL ORDER BY embedding <=> $1::vector LIMIT 10"
params = [{SOURCE}]

[ops.knn_en]
sql = "SELECT doc_id FROM emb_fixture.docs WHERE lang = 'en' AND doc_id <> $2 ORDER BY embedding <=> $1::vector LIMIT 5"
params = [{{ from = "vectors", table = "emb_fixture.docs", id = "doc_id", column = "embedding", metric = "cosine", queries = 20, filter = "lang = 'en'", k_max = 5 }}]
"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("hnsw.toml"),
        r#"store = "postgres"
description = "a deliberately poor HNSW index on the application's table"

[[indexes]]
name = "tunebench_docs_hnsw"
table = "emb_fixture.docs"
up = "CREATE INDEX tunebench_docs_hnsw ON emb_fixture.docs USING hnsw (embedding vector_cosine_ops) WITH (m = 2, ef_construction = 4)"
"#,
    )
    .unwrap();
    let path = dir.join("scenario.toml");
    std::fs::write(
        &path,
        format!(
            r#"name = "own-vectors"

[targets.pg]
kind = "postgres"
url = "{url}"
allow_foreign_indexes = true

[load]
mode = "closed"
concurrency = 1
warmup = "100ms"
duration = "700ms"

{workloads}

[[profile]]
name = "baseline"
apply = {{}}

[[profile]]
name = "hnsw"
apply = {{ pg = "hnsw.toml" }}
"#,
            url = pg_url()
        ),
    )
    .unwrap();
    path
}

const WORKLOADS: &str = r#"
[[workload]]
name = "knn"
target = "pg"
definition = "knn.toml"
k = 10
ops = [{ op = "knn" }]

[[workload]]
name = "knn_self"
target = "pg"
definition = "knn.toml"
k = 10
ops = [{ op = "knn_self" }]

[[workload]]
name = "knn_en"
target = "pg"
definition = "knn.toml"
k = 5
ops = [{ op = "knn_en" }]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recall_on_your_own_vectors_is_judged_against_exact_truth_and_the_table_is_unchanged() {
    let _server = SERVER.lock().await;
    let mut c = PgConnection::connect(&pg_url()).await.unwrap();
    for s in FIXTURE {
        sqlx::query(sqlx::AssertSqlSafe(*s))
            .execute(&mut c)
            .await
            .unwrap();
    }
    let before = fingerprint(&mut c).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let path = write_scenario(dir.path(), WORKLOADS);
    let outcome = run_to(&path, &out, &[]).await.unwrap();
    assert_eq!(outcome.exit_code, 0, "{}", outcome.summary);
    let r = Results::read(&out.join("results.json")).unwrap();
    let recall = |profile: &str, workload: &str| {
        let run = r.runs.iter().find(|x| x.profile == profile).unwrap();
        let w = run
            .workloads
            .iter()
            .find(|x| x.workload == workload)
            .unwrap();
        assert!(
            w.ops > 0 && w.errors == 0,
            "{profile}/{workload}: {} ops, {} errors",
            w.ops,
            w.errors
        );
        (w.recall_at_k.unwrap(), w.recall_by_query.len())
    };
    // An exact scan finds every true neighbour: recall 1 exactly, over the queries drawn.
    let (exact, queries) = recall("baseline", "knn");
    assert_eq!(exact, 1.0);
    assert!(queries > 0 && queries <= 40, "{queries} queries judged");
    assert_eq!(recall("baseline", "knn_en").0, 1.0, "filtered truth");
    // The query's own row comes back first and is not one of its neighbours: 9 of 10.
    let (with_self, _) = recall("baseline", "knn_self");
    assert!((with_self - 0.9).abs() < 1e-12, "{with_self}");
    // A poor index on the same rows misses some: judged, not assumed.
    let (approx, _) = recall("hnsw", "knn");
    assert!(approx > 0.0 && approx < 1.0, "hnsw recall {approx}");

    // What the results keep: where the vectors came from, how many, their hash.
    let w = &r.runs[0].workloads[0];
    let src = w.param_sources.iter().find(|s| s.op == "knn").unwrap();
    assert_eq!((src.from.as_str(), src.rows), ("vectors", Some(2000)));
    assert!(src.sha256.as_ref().is_some_and(|h| h.len() == 64));
    assert!(
        src.source
            .contains("emb_fixture.docs.embedding (cosine), 40 held-out queries"),
        "{}",
        src.source
    );
    assert_eq!(fingerprint(&mut c).await, before, "the table changed");

    // Query vectors from a file must have the table's dimension: the file is named.
    let q = tunebench::dataset::vectors::files::Matrix {
        rows: 2,
        dim: 8,
        data: vec![0.5; 16],
    };
    let mut f = std::fs::File::create(dir.path().join("q.npy")).unwrap();
    tunebench::dataset::vectors::files::write_npy(&mut f, &q).unwrap();
    let knn = std::fs::read_to_string(dir.path().join("knn.toml"))
        .unwrap()
        .replacen("queries = 40 }", "path = \"q.npy\" }", 1)
        .replacen("WHERE doc_id <> $2 ORDER BY", "ORDER BY", 1);
    std::fs::write(dir.path().join("knn.toml"), knn).unwrap();
    let err = run_to(&path, &out, &["--profile", "baseline"])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("q.npy holds 8-d vectors, the table's are 16-d"),
        "{err}"
    );
    sqlx::query("DROP SCHEMA emb_fixture CASCADE")
        .execute(&mut c)
        .await
        .unwrap();
}

#[test]
fn unsafe_or_malformed_vectors_sources_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"metric = "cosine""#,
            r#"metric = "l2""#,
            "orders by <=> (cosine), but its vectors source says metric = \"l2\"",
        ),
        (
            r#", metric = "cosine", queries = 40 }"#,
            r#", queries = 40 }"#,
            "metric`: is required",
        ),
        (
            r#"table = "emb_fixture.docs""#,
            r#"table = "emb_fixture.docs; DROP TABLE x""#,
            "is not a table name",
        ),
        (
            r#"queries = 40 }"#,
            r#"queries = 40, path = "q.npy" }"#,
            "set one of them",
        ),
        ("k = 10", "k = 200", "must be 1..=100 (the k_max"),
    ];
    for (from, to, expect) in cases {
        let path = write_scenario(dir.path(), WORKLOADS);
        let knn = std::fs::read_to_string(dir.path().join("knn.toml")).unwrap();
        let scenario = std::fs::read_to_string(&path).unwrap();
        assert!(
            knn.contains(from) || scenario.contains(from),
            "the case's text {from} is in neither file"
        );
        std::fs::write(dir.path().join("knn.toml"), knn.replacen(from, to, 1)).unwrap();
        std::fs::write(&path, scenario.replacen(from, to, 1)).unwrap();
        let err = tunebench::scenario::load(&path).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
        assert!(err.to_string().contains(expect), "{to}: {err}");
    }
    // On a tunebench dataset, queries and truth come from the dataset.
    let path = write_scenario(dir.path(), WORKLOADS);
    let scenario = std::fs::read_to_string(&path).unwrap().replacen(
        "definition = \"knn.toml\"",
        "dataset = \"vec\"\ndefinition = \"knn.toml\"",
        1,
    ) + &format!(
        "\n[datasets.vec]\ntarget = \"pg\"\nfile = \"{}/datasets/vectors-100k.toml\"\n",
        crate::common::ROOT
    );
    std::fs::write(&path, scenario).unwrap();
    let err = tunebench::scenario::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("on a tunebench dataset use params = [\"query_vector\"]"),
        "{err}"
    );
}
