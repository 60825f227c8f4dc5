//! Loads a document corpus with binary COPY into its own `tunebench_` schema. A manifest row
//! records the spec's hash, so an identical, complete dataset is reused instead of reloaded.

use std::collections::BTreeMap;
use std::time::Instant;

use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, Row};

use super::{target_error, with_schema};
use crate::backend::facts::DatasetReport;
use crate::backend::model::{Dataset, Target};
use crate::dataset::{CopyEncoder, Corpus, DatasetSpec, GENERATOR_VERSION};
use crate::error::{Error, InputIssue, Result};

pub const TABLES: [&str; 3] = ["authors", "documents", "comments"];
const CHUNK_BYTES: usize = 1 << 20;

/// Ensures the dataset is loaded exactly as specified and returns what was done.
pub async fn prepare_dataset(
    pool: &PgPool,
    target: &Target,
    dataset: &Dataset,
    corpus: &Corpus,
) -> Result<DatasetReport> {
    let schema = dataset.spec.namespace();
    let err = |what: &str, e: sqlx::Error| {
        target_error(target, &format!("dataset {} ({what})", dataset.name), e)
    };

    ensure_extensions(pool)
        .await
        .map_err(|e| err("creating extensions pg_trgm and pg_stat_statements", e))?;

    if existing_load(pool, target, dataset, &TABLES, &expected_rows(corpus)).await? {
        let rows = count_rows(pool, schema, &TABLES)
            .await
            .map_err(|e| err("counting rows", e))?;
        return Ok(report(dataset, corpus, false, rows, None));
    }
    dataset.may_load()?;

    let started = Instant::now();
    create_schema(pool, schema)
        .await
        .map_err(|e| err("creating tables", e))?;
    load_authors(pool, schema, corpus)
        .await
        .map_err(|e| err("loading authors", e))?;
    load_documents(pool, schema, corpus)
        .await
        .map_err(|e| err("loading documents and comments", e))?;
    for stmt in [
        "ALTER TABLE {schema}.documents ADD CONSTRAINT documents_author_fk FOREIGN KEY (author_id) REFERENCES {schema}.authors (id)",
        "ALTER TABLE {schema}.comments ADD CONSTRAINT comments_document_fk FOREIGN KEY (document_id) REFERENCES {schema}.documents (id)",
        "ALTER TABLE {schema}.comments ADD CONSTRAINT comments_author_fk FOREIGN KEY (author_id) REFERENCES {schema}.authors (id)",
        "VACUUM (ANALYZE) {schema}.authors",
        "VACUUM (ANALYZE) {schema}.documents",
        "VACUUM (ANALYZE) {schema}.comments",
    ] {
        sqlx::query(AssertSqlSafe(with_schema(stmt, schema)))
            .execute(pool)
            .await
            .map_err(|e| err("adding foreign keys and analyzing", e))?;
    }
    let (rows, seconds) = finish_load(pool, target, dataset, &TABLES, started).await?;
    Ok(report(dataset, corpus, true, rows, Some(seconds)))
}

fn report(
    dataset: &Dataset,
    corpus: &Corpus,
    loaded: bool,
    rows: BTreeMap<String, u64>,
    seconds: Option<f64>,
) -> DatasetReport {
    let total: u64 = rows.values().sum();
    DatasetReport {
        name: dataset.name.clone(),
        target: dataset.target.clone(),
        schema: dataset.spec.namespace().to_string(),
        spec_hash: dataset.spec.hash(),
        loaded,
        rows,
        load_seconds: seconds,
        load_rows_per_s: seconds.map(|s| total as f64 / s.max(1e-9)),
        term_bands: corpus.term_stats().to_vec(),
        load_rates: Default::default(),
    }
}

async fn ensure_extensions(pool: &PgPool) -> sqlx::Result<()> {
    super::create_extension(pool, "pg_trgm").await?;
    // pg_stat_statements only works when preloaded; creating it elsewhere is harmless and the
    // evidence step reports it as unavailable.
    super::create_extension(pool, "pg_stat_statements").await
}

async fn create_schema(pool: &PgPool, schema: &str) -> sqlx::Result<()> {
    let ddl = [
        "CREATE SCHEMA {schema}",
        "COMMENT ON SCHEMA {schema} IS 'created by tunebench; safe to drop'",
        "CREATE TABLE {schema}.tunebench_manifest (spec_hash text NOT NULL, generator_version int NOT NULL, spec jsonb NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now(), load_seconds double precision, complete boolean NOT NULL)",
        "CREATE TABLE {schema}.authors (id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL)",
        "CREATE TABLE {schema}.documents (id bigint PRIMARY KEY, author_id bigint NOT NULL, title text NOT NULL, body text NOT NULL, tags text[] NOT NULL, created_at timestamptz NOT NULL, \
         tsv tsvector GENERATED ALWAYS AS (setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', body), 'B')) STORED)",
        "CREATE TABLE {schema}.comments (id bigint PRIMARY KEY, document_id bigint NOT NULL, author_id bigint NOT NULL, body text NOT NULL, created_at timestamptz NOT NULL)",
    ];
    for stmt in ddl {
        sqlx::query(AssertSqlSafe(with_schema(stmt, schema)))
            .execute(pool)
            .await?;
    }
    Ok(())
}

async fn load_authors(pool: &PgPool, schema: &str, corpus: &Corpus) -> sqlx::Result<()> {
    let mut conn = pool.acquire().await?;
    let mut copy = conn
        .copy_in_raw(&with_schema(
            "COPY {schema}.authors (id, name, email) FROM STDIN (FORMAT binary)",
            schema,
        ))
        .await?;
    let mut enc = CopyEncoder::new();
    for id in 1..=corpus.spec().authors as i64 {
        let a = corpus.author(id);
        enc.row(3).int8(a.id).text(&a.name).text(&a.email);
        if enc.len() > CHUNK_BYTES {
            copy.send(enc.take()).await?;
        }
    }
    copy.send(enc.finish()).await?;
    copy.finish().await?;
    Ok(())
}

/// Documents and their comments, in as many parallel COPY streams as the host has cores.
async fn load_documents(pool: &PgPool, schema: &str, corpus: &Corpus) -> sqlx::Result<()> {
    let n = corpus.spec().documents as i64;
    let streams = std::thread::available_parallelism()
        .map_or(2, |c| c.get())
        .clamp(1, 4) as i64;
    let per = (n + streams - 1) / streams;
    let ranges: Vec<(i64, i64)> = (0..streams)
        .map(|s| (s * per + 1, ((s + 1) * per).min(n)))
        .filter(|(a, b)| a <= b)
        .collect();
    futures_util::future::try_join_all(
        ranges
            .into_iter()
            .map(|(from, to)| load_range(pool, schema, corpus, from, to)),
    )
    .await?;
    Ok(())
}

async fn load_range(
    pool: &PgPool,
    schema: &str,
    corpus: &Corpus,
    from: i64,
    to: i64,
) -> sqlx::Result<()> {
    let mut doc_conn = pool.acquire().await?;
    let mut com_conn = pool.acquire().await?;
    let mut docs = doc_conn
        .copy_in_raw(&with_schema(
            "COPY {schema}.documents (id, author_id, title, body, tags, created_at) FROM STDIN (FORMAT binary)",
            schema,
        ))
        .await?;
    let mut comments = com_conn
        .copy_in_raw(&with_schema(
            "COPY {schema}.comments (id, document_id, author_id, body, created_at) FROM STDIN (FORMAT binary)",
            schema,
        ))
        .await?;
    let mut d_enc = CopyEncoder::new();
    let mut c_enc = CopyEncoder::new();
    for id in from..=to {
        let d = corpus.document(id);
        d_enc
            .row(6)
            .int8(d.id)
            .int8(d.author_id)
            .text(&d.title)
            .text(&d.body)
            .text_array(&d.tags)
            .timestamptz(d.created_at_us);
        for c in corpus.comments(&d) {
            c_enc
                .row(5)
                .int8(c.id)
                .int8(c.document_id)
                .int8(c.author_id)
                .text(&c.body)
                .timestamptz(c.created_at_us);
        }
        if d_enc.len() > CHUNK_BYTES {
            docs.send(d_enc.take()).await?;
        }
        if c_enc.len() > CHUNK_BYTES {
            comments.send(c_enc.take()).await?;
        }
    }
    docs.send(d_enc.finish()).await?;
    comments.send(c_enc.finish()).await?;
    docs.finish().await?;
    comments.finish().await?;
    Ok(())
}

pub(super) async fn count_rows(
    pool: &PgPool,
    schema: &str,
    tables: &[&str],
) -> sqlx::Result<BTreeMap<String, u64>> {
    let mut rows = BTreeMap::new();
    for table in tables {
        let n: i64 = sqlx::query(AssertSqlSafe(format!(
            "SELECT count(*) FROM {schema}.{table}"
        )))
        .fetch_one(pool)
        .await?
        .get(0);
        rows.insert(table.to_string(), n as u64);
    }
    Ok(rows)
}

/// Row counts the corpus must have once loaded (comments are counted by generating them).
pub(super) fn expected_rows(corpus: &Corpus) -> BTreeMap<String, u64> {
    let spec = corpus.spec();
    let comments: u64 = (1..=spec.documents as i64)
        .map(|id| corpus.comments_count(id))
        .sum();
    BTreeMap::from([
        ("authors".to_string(), spec.authors),
        ("documents".to_string(), spec.documents),
        ("comments".to_string(), comments),
    ])
}

/// Whether an identical, complete load of this dataset is already in its schema. A stale
/// tunebench load is dropped (to be reloaded); a schema tunebench did not create (no
/// manifest) is refused and left untouched.
pub(super) async fn existing_load(
    pool: &PgPool,
    target: &Target,
    dataset: &Dataset,
    tables: &[&str],
    expected: &BTreeMap<String, u64>,
) -> Result<bool> {
    let schema = dataset.spec.namespace();
    let hash = dataset.spec.hash();
    let err = |what: &str, e: sqlx::Error| {
        target_error(target, &format!("dataset {} ({what})", dataset.name), e)
    };
    let schema_exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(schema)
            .fetch_one(pool)
            .await
            .map_err(|e| err("looking up the schema", e))?;
    if schema_exists {
        let has_manifest: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'tunebench_manifest')",
        )
        .bind(schema)
        .fetch_one(pool)
        .await
        .map_err(|e| err("looking up the manifest", e))?;
        if !has_manifest {
            return Err(Error::input(InputIssue::new(
                &dataset.file,
                "schema",
                format!(
                    "schema {schema} exists in the database but was not created by tunebench (it has no tunebench_manifest table); tunebench leaves it untouched: choose another schema name"
                ),
            )));
        }
        let loaded: Option<String> = sqlx::query_scalar(AssertSqlSafe(with_schema(
            "SELECT spec_hash FROM {schema}.tunebench_manifest WHERE complete ORDER BY loaded_at DESC LIMIT 1",
            schema,
        )))
        .fetch_optional(pool)
        .await
        .map_err(|e| err("reading the manifest", e))?;
        if loaded.as_deref() == Some(hash.as_str()) {
            let rows = count_rows(pool, schema, tables)
                .await
                .map_err(|e| err("counting rows", e))?;
            if &rows == expected {
                tracing::info!(
                    "dataset {}: reusing {schema} (spec {hash} already loaded)",
                    dataset.name
                );
                return Ok(true);
            }
        }
        tracing::info!(
            "dataset {}: {schema} holds another or incomplete load; reloading",
            dataset.name
        );
        sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(pool)
            .await
            .map_err(|e| err("dropping tunebench's previous load", e))?;
    }

    Ok(false)
}

/// Ends a fresh load: marks it complete in the manifest (with its spec and duration) and
/// counts what is there. Returns the row counts and the load's seconds.
pub(super) async fn finish_load(
    pool: &PgPool,
    target: &Target,
    dataset: &Dataset,
    tables: &[&str],
    started: Instant,
) -> Result<(BTreeMap<String, u64>, f64)> {
    let schema = dataset.spec.namespace();
    let err = |what: &str, e: sqlx::Error| {
        target_error(target, &format!("dataset {} ({what})", dataset.name), e)
    };
    let seconds = started.elapsed().as_secs_f64();
    record_load(pool, schema, &dataset.spec, seconds)
        .await
        .map_err(|e| err("writing the manifest", e))?;
    let rows = count_rows(pool, schema, tables)
        .await
        .map_err(|e| err("counting rows", e))?;
    Ok((rows, seconds))
}

/// Marks the load complete, with the spec it loaded.
async fn record_load(
    pool: &PgPool,
    schema: &str,
    spec: &DatasetSpec,
    seconds: f64,
) -> sqlx::Result<()> {
    sqlx::query(AssertSqlSafe(with_schema(
        "INSERT INTO {schema}.tunebench_manifest (spec_hash, generator_version, spec, load_seconds, complete) VALUES ($1, $2, $3, $4, true)",
        schema,
    )))
    .bind(spec.hash())
    .bind(GENERATOR_VERSION as i32)
    .bind(serde_json::to_value(spec).expect("spec serializes"))
    .bind(seconds)
    .execute(pool)
    .await?;
    Ok(())
}
