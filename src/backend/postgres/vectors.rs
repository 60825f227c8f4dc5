//! pgvector: the vector dataset in its own `tunebench_` schema, one `items` table loaded with
//! binary COPY. ANN indexes (HNSW, IVFFlat, halfvec expression indexes) come from profiles,
//! so the baseline is an exact scan and every index is built, timed and dropped per profile.

use std::time::Instant;

use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPool;

use super::load::{count_rows, existing_load, finish_load};
use super::{target_error, with_schema};
use crate::backend::facts::DatasetReport;
use crate::backend::model::{Dataset, Target};
use crate::dataset::vectors::VectorSet;
use crate::dataset::{CopyEncoder, DatasetSpec};
use crate::error::Result;

pub const TABLES: [&str; 1] = ["items"];
const CHUNK_BYTES: usize = 1 << 20;

pub async fn prepare_vectors(
    pool: &PgPool,
    target: &Target,
    dataset: &Dataset,
    set: &VectorSet,
) -> Result<DatasetReport> {
    let DatasetSpec::Vectors(spec) = &dataset.spec else {
        unreachable!("called for vector datasets only")
    };
    let schema = spec.schema.as_str();
    let err = |what: &str, e: sqlx::Error| {
        target_error(target, &format!("dataset {} ({what})", dataset.name), e)
    };
    super::create_extension(pool, "vector")
        .await
        .map_err(|e| err("creating extension vector (pgvector)", e))?;
    let expected = std::collections::BTreeMap::from([("items".to_string(), set.len() as u64)]);
    if existing_load(pool, target, dataset, &TABLES, &expected).await? {
        let rows = count_rows(pool, schema, &TABLES)
            .await
            .map_err(|e| err("counting rows", e))?;
        return Ok(report(dataset, set, false, rows, None));
    }
    dataset.may_load()?;
    let started = Instant::now();
    for stmt in [
        "CREATE SCHEMA {schema}",
        "COMMENT ON SCHEMA {schema} IS 'created by tunebench; safe to drop'",
        "CREATE TABLE {schema}.tunebench_manifest (spec_hash text NOT NULL, generator_version int NOT NULL, spec jsonb NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now(), load_seconds double precision, complete boolean NOT NULL)",
    ] {
        sqlx::query(AssertSqlSafe(with_schema(stmt, schema)))
            .execute(pool)
            .await
            .map_err(|e| err("creating the schema", e))?;
    }
    sqlx::query(AssertSqlSafe(format!(
        "CREATE TABLE {schema}.items (id bigint PRIMARY KEY, category int NOT NULL, created_at timestamptz NOT NULL, embedding vector({}) NOT NULL)",
        set.dim
    )))
    .execute(pool)
    .await
    .map_err(|e| err("creating table items", e))?;
    load_items(pool, schema, set)
        .await
        .map_err(|e| err("loading items with COPY", e))?;
    sqlx::query(AssertSqlSafe(format!("VACUUM (ANALYZE) {schema}.items")))
        .execute(pool)
        .await
        .map_err(|e| err("VACUUM ANALYZE items", e))?;
    let (rows, seconds) = finish_load(pool, target, dataset, &TABLES, started).await?;
    Ok(report(dataset, set, true, rows, Some(seconds)))
}

/// Two parallel COPY streams (the machine's cores), ids 1..=n.
async fn load_items(pool: &PgPool, schema: &str, set: &VectorSet) -> sqlx::Result<()> {
    let n = set.len();
    let streams = std::thread::available_parallelism()
        .map_or(2, |c| c.get())
        .clamp(1, 4);
    let per = n.div_ceil(streams);
    let ranges: Vec<(usize, usize)> = (0..streams)
        .map(|s| (s * per, ((s + 1) * per).min(n)))
        .filter(|(a, b)| a < b)
        .collect();
    futures_util::future::try_join_all(ranges.into_iter().map(|(from, to)| async move {
        let mut conn = pool.acquire().await?;
        let mut copy = conn
            .copy_in_raw(&with_schema(
                "COPY {schema}.items (id, category, created_at, embedding) FROM STDIN (FORMAT binary)",
                schema,
            ))
            .await?;
        let mut enc = CopyEncoder::new();
        for i in from..to {
            enc.row(4)
                .int8(i as i64 + 1)
                .int4(i32::from(set.categories[i]))
                .timestamptz(set.timestamps[i] * 1_000_000)
                .vector(set.row(i));
            if enc.len() > CHUNK_BYTES {
                copy.send(enc.take()).await?;
            }
        }
        copy.send(enc.finish()).await?;
        copy.finish().await?;
        Ok::<_, sqlx::Error>(())
    }))
    .await?;
    Ok(())
}

fn report(
    dataset: &Dataset,
    set: &VectorSet,
    loaded: bool,
    rows: std::collections::BTreeMap<String, u64>,
    seconds: Option<f64>,
) -> DatasetReport {
    DatasetReport {
        name: dataset.name.clone(),
        target: dataset.target.clone(),
        schema: dataset.spec.namespace().to_string(),
        spec_hash: dataset.spec.hash(),
        loaded,
        rows,
        load_seconds: seconds,
        load_rows_per_s: seconds.map(|s| set.len() as f64 / s.max(1e-9)),
        load_rates: Default::default(),
        term_bands: Vec::new(),
    }
}

/// Reads the rows of a `from = "vectors"` source (the user's own table) with binary COPY in
/// a read-only transaction, refusing a table with more rows than the source allows; returns
/// them and the SHA-256 of the bytes read (the results keep the hash, never the vectors).
pub async fn read_own_vectors(
    pool: &PgPool,
    req: &crate::dataset::sources::VectorsRequest<'_>,
) -> std::result::Result<(crate::dataset::vectors::own::Rows, String), String> {
    use futures_util::TryStreamExt;
    use sha2::Digest;
    let e = |e: sqlx::Error| e.to_string();
    let condition = match req.filter {
        Some(f) => format!("{} IS NOT NULL AND ({f})", req.column),
        None => format!("{} IS NOT NULL", req.column),
    };
    let mut tx = pool.begin().await.map_err(e)?;
    sqlx::query("SET TRANSACTION READ ONLY")
        .execute(&mut *tx)
        .await
        .map_err(e)?;
    let count: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM {} WHERE {condition}",
        req.table
    )))
    .fetch_one(&mut *tx)
    .await
    .map_err(e)?;
    if count as u64 > req.max_vectors as u64 {
        return Err(format!(
            "{} has {count} rows with a vector, more than max_vectors ({}): they are held in memory (4 bytes per dimension per row); raise max_vectors if the host has the memory, or read fewer with `filter`",
            req.table, req.max_vectors
        ));
    }
    let statement = format!(
        "COPY (SELECT ({})::int8, ({})::vector FROM {} WHERE {condition}) TO STDOUT (FORMAT binary)",
        req.id, req.column, req.table
    );
    let mut reader = crate::dataset::vectors::own::CopyReader::new(count.max(0) as usize);
    let mut hash = sha2::Sha256::new();
    {
        let mut stream = tx.copy_out_raw(&statement).await.map_err(|err| {
            format!("{err} (the id column must be an integer, the vector column a vector, halfvec or real[])")
        })?;
        while let Some(chunk) = stream.try_next().await.map_err(e)? {
            hash.update(&chunk);
            reader.feed(&chunk)?;
        }
    }
    let _ = tx.rollback().await;
    let rows = reader.finish()?;
    Ok((
        rows,
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect(),
    ))
}
