//! Searches of collections tunebench did not create (a workload without dataset, ops with
//! `collection` and `vectors`): the collection is only read. Before any clock, its points are
//! scrolled once per run and the queries' exact ground truth computed from them
//! ([`OwnVectors`]); held-out queries are left out of their own answers by a `must_not
//! has_id` filter. Profiles send search parameters only (validate refuses the rest).

use sha2::Digest;

use super::spec::QdrantVectors;
use super::store::QdrantStore;
use crate::backend::facts::ReadinessCheck;
use crate::dataset::vectors::own::{OwnVectors, Queries, Rows};
use crate::error::{Error, Result};

impl QdrantStore {
    /// Each collection exists and holds points (server: status green); its points are read
    /// and the ground truth computed, once per run.
    pub(super) async fn foreign_readiness(
        &self,
        searched: &[(String, QdrantVectors)],
    ) -> Result<Vec<ReadinessCheck>> {
        let mut checks = Vec::new();
        for (c, v) in searched {
            self.open_existing(c).await?;
            let mut info = self.info(c).await?;
            if info.status.as_deref().is_some_and(|s| s == "yellow") {
                // The server is optimizing the collection (after writes, or a profile's
                // re-index): wait until it is at rest, so nothing is measured next to its
                // optimizer; a collection that does not settle is then reported below.
                let started = std::time::Instant::now();
                if let Err(e) = self.engine.build_index(c, false).await {
                    tracing::warn!("{c}: {e}");
                }
                tracing::info!(
                    "{c}: waited {:.1} s for the server's optimizer to finish",
                    started.elapsed().as_secs_f64()
                );
                info = self.info(c).await?;
            }
            let check = |check: String, expected: &str, actual: String, ok: bool| ReadinessCheck {
                target: self.target.name.clone(),
                check,
                expected: expected.into(),
                actual,
                ok,
            };
            checks.push(check(
                format!("points in {c}"),
                "at least 1",
                info.points.to_string(),
                info.points > 0,
            ));
            if let Some(status) = &info.status {
                checks.push(check(
                    format!("status of {c}"),
                    "green",
                    status.clone(),
                    status == "green",
                ));
            }
            if info.points == 0 || v.read.get().is_some() {
                continue;
            }
            self.read_points(c, v, info.points).await?;
        }
        Ok(checks)
    }

    /// Opens a collection that must already exist (embedded: its shard), never creating one.
    pub(super) async fn open_existing(&self, c: &str) -> Result<()> {
        let existing = self
            .engine
            .collections()
            .await
            .map_err(|e| self.fail("listing collections", e))?;
        if !existing.iter().any(|x| x == c) {
            return Err(self.fail(
                &format!("collection {c}"),
                format!("does not exist; there are: {}", existing.join(", ")),
            ));
        }
        self.engine
            .open_collection(c)
            .await
            .map_err(|e| self.fail(&format!("opening {c}"), e))
    }

    async fn read_points(&self, c: &str, v: &QdrantVectors, points: u64) -> Result<()> {
        let fail = |e: String| self.fail(&format!("reading the points of {c}"), e);
        if points > v.max_vectors as u64 {
            return Err(fail(format!(
                "{points} points, more than max_vectors ({}): they are held in memory (4 bytes per dimension per point); raise max_vectors if the host has the memory",
                v.max_vectors
            )));
        }
        let started = std::time::Instant::now();
        let (dim, metric) = self.engine.vector_params(c).await.map_err(fail)?;
        let read = self.engine.vectors(c).await.map_err(fail)?;
        let mut hash = sha2::Sha256::new();
        let mut rows = Rows {
            ids: Vec::with_capacity(read.len()),
            dim,
            data: Vec::with_capacity(read.len() * dim),
        };
        for (id, vector) in read {
            if vector.len() != dim {
                return Err(fail(format!(
                    "point {id} has {} dimensions, the collection {dim}",
                    vector.len()
                )));
            }
            hash.update(id.to_le_bytes());
            for x in &vector {
                hash.update(x.to_le_bytes());
            }
            rows.ids
                .push(i64::try_from(id).map_err(|_| fail(format!("point id {id} is above 2^63")))?);
            rows.data.extend_from_slice(&vector);
        }
        let read_s = started.elapsed().as_secs_f64();
        let queries = match &v.given {
            Some(q) if q.dim != dim => {
                return Err(Error::Usage(format!(
                    "the query vectors of {} are {}-d, the vectors of collection {c} {dim}-d",
                    v.path.as_deref().unwrap_or_default(),
                    q.dim
                )));
            }
            Some(q) => Queries::Given(q.data.to_vec()),
            None => Queries::HeldOut {
                count: v
                    .queries
                    .unwrap_or(crate::dataset::sources::DEFAULT_VECTOR_QUERIES),
                seed: v.seed,
            },
        };
        let k_max = v.k_max;
        let own =
            tokio::task::spawn_blocking(move || OwnVectors::build(metric, rows, queries, k_max))
                .await
                .map_err(|e| fail(e.to_string()))?
                .map_err(fail)?;
        eprintln!(
            "collection {c}: read {} points ({dim}-d, {}) in {read_s:.1} s; exact top-{} of {} queries in {:.1} s",
            own.len(),
            format!("{metric:?}").to_lowercase(),
            own.truth.first().map_or(0, |t| t.ids.len()),
            own.query_count(),
            own.truth_seconds
        );
        let sha: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let _ = v.read.set((own, sha));
        Ok(())
    }
}
