//! Loading a vector set into a collection (unless an identical one is there), and the
//! collection reads that prepare and readiness share.

use std::time::Instant;

use super::store::{IndexBuild, QdrantStore};
use super::{Engine, ManagedConfig, Manifest};
use crate::backend::model::Dataset;
use crate::dataset::VectorsSpec;
use crate::dataset::vectors::VectorSet;
use crate::error::{Error, InputIssue, Result};

const BATCH: usize = 500;

impl QdrantStore {
    pub(super) fn fail(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::target(
            format!(
                "target {} ({}, {}): {what}",
                self.target.name,
                self.engine.mode(),
                self.target.url_redacted
            ),
            e,
        )
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The manifest of collection `c` when it holds exactly this dataset (`hash`, `n`
    /// points, complete), opened for reuse; a stale or incomplete one of tunebench's own is
    /// dropped. A collection tunebench did not create is bad input, left alone.
    pub(super) async fn reusable(
        &self,
        dataset: &Dataset,
        c: &str,
        hash: &str,
        n: u64,
    ) -> Result<Option<Manifest>> {
        let existing = self.engine.manifest(c).await.map_err(|e| {
            if e.contains("not created by tunebench") {
                Error::input(InputIssue::new(&dataset.file, "schema", e))
            } else {
                self.fail(&format!("reading collection {c}"), e)
            }
        })?;
        let Some(m) = existing else {
            return Ok(None);
        };
        if m.complete && m.spec_hash == hash {
            self.engine
                .open_collection(c)
                .await
                .map_err(|e| self.fail(&format!("opening {c}"), e))?;
            if self.info(c).await?.points == n {
                return Ok(Some(m));
            }
        }
        tracing::info!("collection {c}: tunebench's own, stale or incomplete: reloading");
        self.engine
            .drop_collection(c)
            .await
            .map_err(|e| self.fail(&format!("dropping stale {c}"), e))?;
        Ok(None)
    }

    /// Re-indexes (when the config change needs it) and records the build.
    pub(super) async fn rebuild(
        &mut self,
        c: &str,
        vectors: u64,
        dim: usize,
        cfg: &ManagedConfig,
        source: &str,
    ) -> Result<Option<f64>> {
        let started = Instant::now();
        self.engine
            .build_index(c, cfg.expects_index(vectors, dim))
            .await
            .map_err(|e| self.fail(&format!("building the index of {c}"), e))?;
        let seconds = started.elapsed().as_secs_f64();
        if cfg.expects_index(vectors, dim) {
            self.builds.insert(
                c.to_string(),
                IndexBuild {
                    seconds,
                    vectors,
                    source: format!("{source} (re-index {vectors} vectors)"),
                },
            );
            Ok(Some(seconds))
        } else {
            self.builds.remove(c);
            Ok(None)
        }
    }

    pub(super) async fn load(
        &mut self,
        c: &str,
        set: &VectorSet,
        hash: &str,
    ) -> Result<(f64, f64)> {
        let mut manifest = Manifest {
            created_by: "tunebench".into(),
            spec_hash: hash.to_string(),
            complete: false,
            upsert_seconds: None,
            index_seconds: None,
            vectors: set.len() as u64,
        };
        self.engine
            .create(c, set.dim, &manifest)
            .await
            .map_err(|e| self.fail(&format!("creating collection {c}"), e))?;
        let started = Instant::now();
        for from in (0..set.len()).step_by(BATCH) {
            let to = (from + BATCH).min(set.len());
            let points = (from..to)
                .map(|i| {
                    (
                        i as u64 + 1,
                        set.row(i).to_vec(),
                        set.categories[i],
                        set.timestamps[i],
                    )
                })
                .collect();
            self.engine
                .upsert(c, points)
                .await
                .map_err(|e| self.fail(&format!("upserting into {c}"), e))?;
        }
        let upsert = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let info = self.info(c).await?;
        self.engine
            .build_index(c, info.managed.expects_index(set.len() as u64, set.dim))
            .await
            .map_err(|e| self.fail(&format!("building the index of {c}"), e))?;
        let index = started.elapsed().as_secs_f64();
        manifest.complete = true;
        manifest.upsert_seconds = Some(upsert);
        manifest.index_seconds = Some(index);
        self.engine
            .write_manifest(c, &manifest)
            .await
            .map_err(|e| self.fail(&format!("marking {c} complete"), e))?;
        Ok((upsert, index))
    }

    pub(super) async fn info(&self, c: &str) -> Result<super::CollectionInfo> {
        self.engine
            .info(c)
            .await
            .map_err(|e| self.fail(&format!("reading collection info of {c}"), e))
    }
}

/// Generates (or reads) the vectors and their ground truth on a blocking thread.
pub(super) async fn build_vectors(dataset: &Dataset, spec: VectorsSpec) -> Result<VectorSet> {
    let cache = crate::dataset::vectors::cache_dir();
    let file = dataset.file.clone();
    tokio::task::spawn_blocking(move || VectorSet::build(&spec, &cache))
        .await
        .map_err(|e| Error::Usage(format!("building the vector dataset failed: {e}")))?
        .map_err(|e| Error::input(InputIssue::new(&file, "vectors_file", e)))
}
