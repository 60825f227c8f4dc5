//! Qdrant: the embedded engine (`qdrant-edge`, the default: no URL) or a server over gRPC
//! (`qdrant-client`, when the target has a URL), behind one [`Engine`] so the dataset load,
//! profiles, readiness, evidence and workloads are shared.

mod checks;
mod drill;
mod edge;
mod evidence;
mod exec;
mod foreign;
mod load;
mod profile;
mod server;
pub mod spec;
mod store;
pub mod telemetry;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use checks::{CHECK_HELP, CHECK_NAMES, QdrantCheck, parse_check};
pub use evidence::QdrantEvidence;
pub use exec::QdrantExecutor;
pub use server::compatible as server_version_compatible;
pub use store::{AppliedQdrantProfile, QdrantData, QdrantStore};

/// Written into the collection (embedded: a file in the shard folder; server: collection
/// metadata) when tunebench creates it: only such collections are ever changed or dropped.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub created_by: String,
    pub spec_hash: String,
    pub complete: bool,
    /// The load as measured when it happened, so a reused collection still reports it.
    pub upsert_seconds: Option<f64>,
    pub index_seconds: Option<f64>,
    pub vectors: u64,
}

/// The part of a collection's config that profiles change and revert restores, with the
/// engine's defaults resolved (so "unset" and "the default" compare equal).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ManagedConfig {
    pub m: u32,
    pub ef_construct: u32,
    /// KB.
    pub full_scan_threshold: u32,
    /// KB.
    pub indexing_threshold: u32,
    /// Scalar int8 when set.
    pub quantization: Option<Quantization>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Quantization {
    pub quantile: Option<f32>,
    pub always_ram: Option<bool>,
}

impl ManagedConfig {
    /// (name, value) per managed field, for the changes and revert reports.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let q = |f: fn(&Quantization) -> String| self.quantization.as_ref().map_or("-".into(), f);
        vec![
            ("hnsw_config.m", self.m.to_string()),
            ("hnsw_config.ef_construct", self.ef_construct.to_string()),
            (
                "hnsw_config.full_scan_threshold",
                self.full_scan_threshold.to_string(),
            ),
            (
                "optimizers_config.indexing_threshold",
                self.indexing_threshold.to_string(),
            ),
            (
                "quantization_config",
                q(|_| "scalar int8".into()).replace('-', "none"),
            ),
            (
                "quantization_config.scalar.quantile",
                q(|q| q.quantile.map_or("default".into(), |v| v.to_string())),
            ),
            (
                "quantization_config.scalar.always_ram",
                q(|q| q.always_ram.map_or("default".into(), |v| v.to_string())),
            ),
        ]
    }

    /// Whether a change from `self` to `other` needs the vectors re-indexed.
    pub fn needs_reindex(&self, other: &ManagedConfig) -> bool {
        (self.m, self.ef_construct, self.quantization)
            != (other.m, other.ef_construct, other.quantization)
    }

    /// Whether `vectors` of `dim` floats exceed the indexing threshold, so the optimizer is
    /// expected to build an HNSW graph for them.
    pub fn expects_index(&self, vectors: u64, dim: usize) -> bool {
        vectors * dim as u64 * 4 / 1024 >= u64::from(self.indexing_threshold)
    }
}

/// Search parameters sent with every query (profile `[search]`, or a sweep point).
#[derive(Debug, Clone, Copy, Serialize, Default, PartialEq)]
pub struct SearchSpec {
    pub hnsw_ef: Option<u32>,
    pub exact: bool,
    pub rescore: Option<bool>,
    pub oversampling: Option<f64>,
}

/// A collection as the engine reports it.
#[derive(Debug, Clone)]
pub struct CollectionInfo {
    pub status: Option<String>,
    pub points: u64,
    pub indexed: u64,
    pub segments: u64,
    /// Points covered by the payload index on `category` (None: no such index).
    pub category_index_points: Option<u64>,
    pub managed: ManagedConfig,
    pub raw_config: serde_json::Value,
    pub disk_bytes: Option<u64>,
    /// Embedded: the shard's bytes by part (wal, quantized, hnsw, vectors, payload, other).
    pub disk_by_part: Option<std::collections::BTreeMap<String, u64>>,
}

/// The two ways to run Qdrant. Every method is async; the embedded engine's blocking calls
/// run on tokio's blocking pool inside.
pub enum Engine {
    Edge(edge::EdgeEngine),
    Server(server::ServerEngine),
}

/// A worker's search handle.
#[derive(Clone)]
pub enum Searcher {
    Edge(edge::EdgeSearcher),
    Server(server::ServerSearcher),
}

impl Searcher {
    /// Upserts points (id, vector, category, timestamp) and returns once they are applied.
    pub async fn upsert(&self, points: Vec<(u64, Vec<f32>, u8, i64)>) -> Result<(), String> {
        match self {
            Searcher::Edge(s) => s.upsert(points).await,
            Searcher::Server(s) => s.upsert(points).await,
        }
    }

    pub async fn delete(&self, ids: Vec<u64>) -> Result<(), String> {
        match self {
            Searcher::Edge(s) => s.delete(ids).await,
            Searcher::Server(s) => s.delete(ids).await,
        }
    }

    /// The ids of the `limit` nearest points (filtered on `category`; without the point
    /// `exclude`, a held-out query's own).
    pub async fn search(
        &self,
        query: Vec<f32>,
        category: Option<u8>,
        exclude: Option<u64>,
        limit: usize,
        spec: SearchSpec,
    ) -> Result<Vec<u64>, String> {
        match self {
            Searcher::Edge(s) => s.search(query, category, exclude, limit, spec).await,
            Searcher::Server(s) => s.search(query, category, exclude, limit, spec).await,
        }
    }
}

impl Engine {
    /// Embedded under `cache`, or a server at `url` (version checked explicitly).
    pub async fn open(
        url: &str,
        options: &spec::QdrantTarget,
        cache: std::path::PathBuf,
        timeout: Duration,
    ) -> Result<(Self, String), String> {
        if url.is_empty() {
            Ok((
                Engine::Edge(edge::EdgeEngine::new(cache)),
                "qdrant-edge 0.7 (embedded)".into(),
            ))
        } else {
            let (s, version) = server::ServerEngine::connect(url, options, timeout).await?;
            Ok((
                Engine::Server(s),
                format!("Qdrant {version} (server, gRPC)"),
            ))
        }
    }

    /// The drill's backup of collection `c` into folder `to`: (the backup's path, bytes,
    /// how it was taken).
    pub async fn snapshot(
        &self,
        c: &str,
        to: &std::path::Path,
    ) -> Result<(std::path::PathBuf, u64, &'static str), String> {
        match self {
            Engine::Edge(e) => {
                let file = to.join("shard.tar");
                let bytes = e.snapshot(c, &file).await?;
                Ok((
                    file,
                    bytes,
                    "the embedded shard flushed and its folder archived (tar; qdrant-edge has no snapshot call)",
                ))
            }
            Engine::Server(s) => {
                let (file, bytes) = s.snapshot(c, to).await?;
                Ok((
                    file,
                    bytes,
                    "a snapshot made on the server (REST), downloaded, and deleted on the server",
                ))
            }
        }
    }

    /// The collections there are (embedded: the folders under the engine's root).
    pub async fn collections(&self) -> Result<Vec<String>, String> {
        match self {
            Engine::Edge(e) if !e.root().exists() => Ok(Vec::new()),
            Engine::Edge(e) => Ok(std::fs::read_dir(e.root())
                .map_err(|x| x.to_string())?
                .filter_map(|d| d.ok())
                .filter(|d| d.path().is_dir())
                .map(|d| d.file_name().to_string_lossy().into_owned())
                .collect()),
            Engine::Server(s) => s.collections().await,
        }
    }

    /// Restores a drill's backup as the new collection `scratch`.
    pub async fn restore(&self, backup: &std::path::Path, scratch: &str) -> Result<(), String> {
        match self {
            Engine::Edge(e) => e.restore(backup, scratch).await,
            Engine::Server(s) => s.restore(backup, scratch).await,
        }
    }

    /// Every point's id and a hash of its vector and payload.
    pub async fn prints(&self, c: &str) -> Result<Vec<(String, u64)>, String> {
        match self {
            Engine::Edge(e) => e.prints(c).await,
            Engine::Server(s) => s.prints(c).await,
        }
    }

    pub fn mode(&self) -> &'static str {
        match self {
            Engine::Edge(_) => "embedded",
            Engine::Server(_) => "server",
        }
    }

    pub async fn manifest(&self, c: &str) -> Result<Option<Manifest>, String> {
        match self {
            Engine::Edge(e) => e.manifest(c),
            Engine::Server(s) => s.manifest(c).await,
        }
    }

    pub async fn write_manifest(&self, c: &str, m: &Manifest) -> Result<(), String> {
        match self {
            Engine::Edge(e) => e.write_manifest(c, m),
            Engine::Server(s) => s.write_manifest(c, m).await,
        }
    }

    /// Makes an existing collection usable (embedded: opens the shard).
    pub async fn open_collection(&self, c: &str) -> Result<(), String> {
        match self {
            Engine::Edge(e) => e.open(c).await,
            Engine::Server(_) => Ok(()),
        }
    }

    pub async fn drop_collection(&self, c: &str) -> Result<(), String> {
        match self {
            Engine::Edge(e) => e.drop_collection(c).await,
            Engine::Server(s) => s.drop_collection(c).await,
        }
    }

    pub async fn create(&self, c: &str, dim: usize, m: &Manifest) -> Result<(), String> {
        match self {
            Engine::Edge(e) => e.create(c, dim, m).await,
            Engine::Server(s) => s.create(c, dim, m).await,
        }
    }

    pub async fn upsert(
        &self,
        c: &str,
        points: Vec<(u64, Vec<f32>, u8, i64)>,
    ) -> Result<(), String> {
        match self {
            Engine::Edge(e) => e.upsert(c, points).await,
            Engine::Server(s) => s.upsert(c, points).await,
        }
    }

    /// Returns once the index is really built: embedded, after `optimize()`; server, when
    /// the collection is green with every point indexed.
    pub async fn build_index(&self, c: &str, expect_indexed: bool) -> Result<(), String> {
        match self {
            Engine::Edge(e) => e.build_index(c).await,
            Engine::Server(s) => s.build_index(c, expect_indexed).await,
        }
    }

    pub async fn info(&self, c: &str) -> Result<CollectionInfo, String> {
        match self {
            Engine::Edge(e) => e.info(c).await,
            Engine::Server(s) => s.info(c).await,
        }
    }

    pub async fn set_config(&self, c: &str, want: &ManagedConfig) -> Result<(), String> {
        match self {
            Engine::Edge(e) => e.set_config(c, want).await,
            Engine::Server(s) => s.set_config(c, want).await,
        }
    }

    /// The collection's unnamed vector: its dimension and the metric its distance ranks by.
    pub async fn vector_params(
        &self,
        c: &str,
    ) -> Result<(usize, crate::dataset::vectors::Metric), String> {
        use crate::dataset::vectors::Metric;
        match self {
            Engine::Edge(e) => {
                let (dim, d) = e.vector_params(c).await?;
                match d {
                    qdrant_edge::Distance::Cosine => Ok((dim, Metric::Cosine)),
                    qdrant_edge::Distance::Dot => Ok((dim, Metric::Dot)),
                    qdrant_edge::Distance::Euclid => Ok((dim, Metric::L2)),
                    other => Err(format!(
                        "uses distance {other:?}; tunebench computes ground truth for Cosine, Dot and Euclid"
                    )),
                }
            }
            Engine::Server(s) => s.vector_params(c).await,
        }
    }

    /// Every point's id and vector (numeric ids only).
    pub async fn vectors(&self, c: &str) -> Result<Vec<(u64, Vec<f32>)>, String> {
        match self {
            Engine::Edge(e) => e.vectors(c).await,
            Engine::Server(s) => s.vectors(c).await,
        }
    }

    pub fn searcher(&self, c: &str) -> Result<Searcher, String> {
        match self {
            Engine::Edge(e) => e.searcher(c).map(Searcher::Edge),
            Engine::Server(s) => Ok(Searcher::Server(s.searcher(c))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_expected_above_the_threshold_only() {
        let c = ManagedConfig {
            m: 16,
            ef_construct: 100,
            full_scan_threshold: 10_000,
            indexing_threshold: 10_000,
            quantization: None,
        };
        // 384 floats = 1.5 KB a vector: 6,667 vectors reach 10,000 KB.
        assert!(!c.expects_index(6_000, 384));
        assert!(c.expects_index(7_000, 384));
        let q = ManagedConfig {
            quantization: Some(Quantization {
                quantile: Some(0.99),
                always_ram: Some(true),
            }),
            ..c
        };
        assert!(c.needs_reindex(&q));
        assert!(!c.needs_reindex(&ManagedConfig {
            indexing_threshold: 1,
            ..c
        }));
        assert_eq!(q.fields()[4].1, "scalar int8");
        assert_eq!(c.fields()[4].1, "none");
    }
}
