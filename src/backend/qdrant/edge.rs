//! The embedded engine: `qdrant-edge` 0.7 (Qdrant's own shard code, in-process). Every call
//! blocks, so each runs on tokio's blocking pool; searches take a slot of a semaphore sized to
//! the machine's cores, so the workers never run more engine threads than there are cores.
//! There is no background optimizer: `build_index` runs `optimize()` until nothing is left.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use qdrant_edge::external::serde_json::json;
use qdrant_edge::{
    Condition, CreateIndex, Distance, EdgeConfig, EdgeOptimizersConfig, EdgeShard,
    EdgeVectorParams, FieldCondition, FieldIndexOperations, Filter, HnswIndexConfig, JsonPath,
    Match, NamedQuery, PayloadFieldSchema, PayloadSchemaType, PointId, PointInsertOperations,
    PointOperations, PointStruct, QuantizationConfig, QuantizationSearchParams, QueryEnum,
    ScalarQuantizationConfig, ScalarType, SearchParams, SearchRequest, UpdateOperation,
    ValueVariants, VectorInternal,
};
use tokio::sync::Semaphore;

use super::{CollectionInfo, ManagedConfig, Manifest, Quantization, SearchSpec};

const VECTOR: &str = "";
const MANIFEST: &str = "tunebench_manifest.json";

pub struct EdgeEngine {
    root: PathBuf,
    shards: std::sync::Mutex<HashMap<String, Arc<EdgeShard>>>,
    slots: Arc<Semaphore>,
    cores: usize,
}

/// Runs a blocking engine call off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("engine call panicked: {e}"))?
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |c| c.get())
}

impl EdgeEngine {
    pub fn new(root: PathBuf) -> Self {
        let cores = cores();
        EdgeEngine {
            root,
            shards: Default::default(),
            slots: Arc::new(Semaphore::new(cores)),
            cores,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, collection: &str) -> PathBuf {
        self.root.join(collection)
    }

    fn shard(&self, collection: &str) -> Result<Arc<EdgeShard>, String> {
        self.shards
            .lock()
            .expect("shard map")
            .get(collection)
            .cloned()
            .ok_or_else(|| format!("collection {collection} is not open"))
    }

    /// The collection's manifest: None when the folder does not exist; an error when it
    /// exists but tunebench did not create it.
    pub fn manifest(&self, collection: &str) -> Result<Option<Manifest>, String> {
        let dir = self.dir(collection);
        if !dir.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(dir.join(MANIFEST)).map_err(|_| {
            format!(
                "{} exists but was not created by tunebench (no {MANIFEST}); tunebench leaves it untouched: choose another schema name",
                dir.display()
            )
        })?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{}: unreadable manifest: {e}", dir.join(MANIFEST).display()))
    }

    pub fn write_manifest(&self, collection: &str, m: &Manifest) -> Result<(), String> {
        let path = self.dir(collection).join(MANIFEST);
        std::fs::write(&path, serde_json::to_vec_pretty(m).expect("manifest"))
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Opens an existing shard (tunebench's own, checked by `manifest`). A shard already
    /// open stays as it is: opening it twice would contend for its WAL lock.
    pub async fn open(&self, collection: &str) -> Result<(), String> {
        if self
            .shards
            .lock()
            .expect("shard map")
            .contains_key(collection)
        {
            return Ok(());
        }
        let dir = self.dir(collection);
        let shard =
            blocking(move || EdgeShard::load(&dir, None).map_err(|e| e.to_string())).await?;
        self.shards
            .lock()
            .expect("shard map")
            .insert(collection.to_string(), Arc::new(shard));
        Ok(())
    }

    /// Drops a shard tunebench created (the caller checked the manifest).
    pub async fn drop_collection(&self, collection: &str) -> Result<(), String> {
        let shard = self.close(collection);
        let dir = self.dir(collection);
        blocking(move || {
            drop(shard);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// The drill's backup of a shard: flushed, then its folder archived (tar, as Qdrant's
    /// own snapshots) into the file `to` (qdrant-edge has no snapshot call of its own).
    /// Returns the archive's bytes.
    pub async fn snapshot(&self, collection: &str, to: &Path) -> Result<u64, String> {
        let shard = self.shard(collection)?;
        let (from, to) = (self.dir(collection), to.to_path_buf());
        blocking(move || {
            shard.flush();
            let f = std::fs::File::create(&to).map_err(|e| format!("{}: {e}", to.display()))?;
            let mut tar = tar::Builder::new(std::io::BufWriter::new(f));
            tar.append_dir_all(".", &from)
                .and_then(|()| tar.into_inner())
                .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
                .and_then(|f| f.sync_all())
                .map_err(|e| format!("archiving {}: {e}", from.display()))?;
            std::fs::metadata(&to)
                .map(|m| m.len())
                .map_err(|e| e.to_string())
        })
        .await
    }

    /// Restores a drill's backup as collection `scratch` (a new folder) and opens it.
    pub async fn restore(&self, from: &Path, scratch: &str) -> Result<(), String> {
        let (from, to) = (from.to_path_buf(), self.dir(scratch));
        blocking(move || {
            let f = std::fs::File::open(&from).map_err(|e| format!("{}: {e}", from.display()))?;
            std::fs::create_dir_all(&to).map_err(|e| format!("{}: {e}", to.display()))?;
            tar::Archive::new(std::io::BufReader::new(f))
                .unpack(&to)
                .map_err(|e| format!("unpacking {}: {e}", from.display()))
        })
        .await?;
        self.open(scratch).await
    }

    /// Every point's id and a hash of its vector and payload (see `drill`).
    pub async fn prints(&self, collection: &str) -> Result<Vec<(String, u64)>, String> {
        use qdrant_edge::{ScrollRequest, WithPayloadInterface, WithVector};
        let shard = self.shard(collection)?;
        blocking(move || {
            let mut out = Vec::new();
            let mut offset = None;
            loop {
                let (records, next) = shard
                    .scroll(ScrollRequest {
                        offset,
                        limit: Some(1000),
                        filter: None,
                        with_payload: Some(WithPayloadInterface::Bool(true)),
                        with_vector: WithVector::Bool(true),
                        order_by: None,
                    })
                    .map_err(|e| e.to_string())?;
                for r in records {
                    // Debug prints each f32 exactly (shortest round-trip form).
                    let vector = format!("{:?}", r.vector);
                    let payload = serde_json::to_value(&r.payload).map_err(|e| e.to_string())?;
                    out.push((
                        r.id.to_string(),
                        crate::backend::drill::item_hash(&vector, &payload),
                    ));
                }
                match next {
                    Some(n) => offset = Some(n),
                    None => return Ok(out),
                }
            }
        })
        .await
    }

    /// The collection's (unnamed) vector: its dimension and distance.
    pub async fn vector_params(&self, collection: &str) -> Result<(usize, Distance), String> {
        let shard = self.shard(collection)?;
        blocking(move || {
            let config = shard.config();
            let names: Vec<String> = config.vectors.keys().map(|k| k.to_string()).collect();
            match config.vectors.get(VECTOR) {
                Some(v) => Ok((v.size, v.distance)),
                None => Err(format!(
                    "has named vectors ({}); tunebench searches a collection's unnamed vector only",
                    names.join(", ")
                )),
            }
        })
        .await
    }

    /// Every point's id and vector (numeric ids only), for exact ground truth.
    pub async fn vectors(&self, collection: &str) -> Result<Vec<(u64, Vec<f32>)>, String> {
        use qdrant_edge::{ScrollRequest, VectorInternal, VectorStructInternal, WithVector};
        let shard = self.shard(collection)?;
        blocking(move || {
            let mut out = Vec::new();
            let mut offset = None;
            loop {
                let (records, next) = shard
                    .scroll(ScrollRequest {
                        offset,
                        limit: Some(1000),
                        filter: None,
                        with_payload: None,
                        with_vector: WithVector::Bool(true),
                        order_by: None,
                    })
                    .map_err(|e| e.to_string())?;
                for r in records {
                    let PointId::NumId(id) = r.id else {
                        return Err(format!(
                            "point {} has a UUID id; tunebench judges recall on numeric ids only",
                            r.id
                        ));
                    };
                    let v = match r.vector {
                        Some(VectorStructInternal::Single(v)) => v,
                        Some(VectorStructInternal::Named(mut m)) => match m.remove(VECTOR) {
                            Some(VectorInternal::Dense(v)) => v,
                            _ => return Err(format!("point {id} has no dense unnamed vector")),
                        },
                        _ => return Err(format!("point {id} has no dense vector")),
                    };
                    out.push((id, v));
                }
                match next {
                    Some(n) => offset = Some(n),
                    None => return Ok(out),
                }
            }
        })
        .await
    }

    /// Takes the shard out of the map. Dropping the last Arc flushes it (blocking), so the
    /// caller drops it on the blocking pool; workers were closed before.
    fn close(&self, collection: &str) -> Option<Arc<EdgeShard>> {
        self.shards.lock().expect("shard map").remove(collection)
    }

    pub async fn create(
        &self,
        collection: &str,
        dim: usize,
        manifest: &Manifest,
    ) -> Result<(), String> {
        let dir = self.dir(collection);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        self.write_manifest(collection, manifest)?;
        let config = EdgeConfig {
            on_disk_payload: false,
            vectors: HashMap::from([(
                VECTOR.to_string(),
                EdgeVectorParams {
                    size: dim,
                    distance: Distance::Cosine,
                    on_disk: None,
                    multivector_config: None,
                    datatype: None,
                    quantization_config: None,
                    hnsw_config: None,
                },
            )]),
            hnsw_config: HnswIndexConfig {
                max_indexing_threads: self.cores,
                ..Default::default()
            },
            ..Default::default()
        };
        let shard = blocking(move || {
            let shard = EdgeShard::new(&dir, config).map_err(|e| e.to_string())?;
            shard
                .update(UpdateOperation::FieldIndexOperation(
                    FieldIndexOperations::CreateIndex(CreateIndex {
                        field_name: category_path(),
                        field_schema: Some(PayloadFieldSchema::FieldType(
                            PayloadSchemaType::Integer,
                        )),
                    }),
                ))
                .map_err(|e| e.to_string())?;
            Ok(shard)
        })
        .await?;
        self.shards
            .lock()
            .expect("shard map")
            .insert(collection.to_string(), Arc::new(shard));
        Ok(())
    }

    /// Upserts one batch of points: (id, vector, category, timestamp).
    pub async fn upsert(
        &self,
        collection: &str,
        points: Vec<(u64, Vec<f32>, u8, i64)>,
    ) -> Result<(), String> {
        let shard = self.shard(collection)?;
        blocking(move || upsert_points(&shard, points)).await
    }

    /// Runs the optimizers until none has work left: afterwards every segment above the
    /// indexing threshold has its HNSW graph (and quantized vectors) built.
    pub async fn build_index(&self, collection: &str) -> Result<(), String> {
        let shard = self.shard(collection)?;
        blocking(move || shard.optimize().map(|_| ()).map_err(|e| e.to_string())).await
    }

    pub async fn info(&self, collection: &str) -> Result<CollectionInfo, String> {
        let shard = self.shard(collection)?;
        let dir = self.dir(collection);
        blocking(move || {
            let info = shard.info();
            let config = shard.config().clone();
            let category_points = info
                .payload_schema
                .iter()
                .find(|(k, _)| k.to_string() == "category")
                .map(|(_, v)| v.points as u64);
            // One walk of the shard folder: the total is the sum of its parts.
            let parts = disk_parts(&dir);
            Ok(CollectionInfo {
                status: None,
                points: info.points_count as u64,
                indexed: info.indexed_vectors_count as u64,
                segments: info.segments_count as u64,
                category_index_points: category_points,
                managed: managed(&config),
                raw_config: serde_json::to_value(&config).unwrap_or_default(),
                disk_bytes: Some(parts.values().sum()),
                disk_by_part: Some(parts),
            })
        })
        .await
    }

    /// Changes the collection config: the shard is reopened with it (the engine checks it
    /// fits the segments), and `build_index` then rebuilds what no longer matches.
    pub async fn set_config(&self, collection: &str, want: &ManagedConfig) -> Result<(), String> {
        let shard = self.shard(collection)?;
        let mut config = shard.config().clone();
        drop(shard);
        config.hnsw_config.m = want.m as usize;
        config.hnsw_config.ef_construct = want.ef_construct as usize;
        config.hnsw_config.full_scan_threshold = want.full_scan_threshold as usize;
        config.hnsw_config.max_indexing_threads = self.cores;
        // Unset means the engine's default: the default is written back as unset, so a
        // revert restores exactly the config that was captured.
        let want_kb = want.indexing_threshold as usize;
        if config.optimizers.get_indexing_threshold_kb() != want_kb {
            let default_kb = EdgeOptimizersConfig::default().get_indexing_threshold_kb();
            config.optimizers.indexing_threshold = (want_kb != default_kb).then_some(want_kb);
        }
        config.quantization_config = want.quantization.map(|q| {
            QuantizationConfig::from(ScalarQuantizationConfig {
                r#type: ScalarType::Int8,
                quantile: q.quantile,
                always_ram: q.always_ram,
            })
        });
        let old = self.close(collection);
        let dir = self.dir(collection);
        let shard = blocking(move || {
            drop(old);
            EdgeShard::load(&dir, Some(config)).map_err(|e| e.to_string())
        })
        .await?;
        self.shards
            .lock()
            .expect("shard map")
            .insert(collection.to_string(), Arc::new(shard));
        Ok(())
    }

    pub fn searcher(&self, collection: &str) -> Result<EdgeSearcher, String> {
        Ok(EdgeSearcher {
            shard: self.shard(collection)?,
            slots: self.slots.clone(),
        })
    }
}

fn upsert_points(shard: &EdgeShard, points: Vec<(u64, Vec<f32>, u8, i64)>) -> Result<(), String> {
    let points = points
        .into_iter()
        .map(|(id, v, c, t)| PointStruct::new(id, v, json!({"category": c, "timestamp": t})).into())
        .collect();
    shard
        .update(UpdateOperation::PointOperation(
            PointOperations::UpsertPoints(PointInsertOperations::PointsList(points)),
        ))
        .map_err(|e| e.to_string())
}

/// The part of an edge config tunebench manages, with the engine's defaults resolved.
fn managed(c: &EdgeConfig) -> ManagedConfig {
    ManagedConfig {
        m: c.hnsw_config.m as u32,
        ef_construct: c.hnsw_config.ef_construct as u32,
        full_scan_threshold: c.hnsw_config.full_scan_threshold as u32,
        indexing_threshold: c
            .optimizers
            .get_indexing_threshold_kb()
            .min(u32::MAX as usize) as u32,
        quantization: match &c.quantization_config {
            Some(QuantizationConfig::Scalar(s)) => Some(Quantization {
                quantile: s.scalar.quantile,
                always_ram: s.scalar.always_ram,
            }),
            _ => None,
        },
    }
}

fn category_path() -> JsonPath {
    "category".parse().expect("a plain key is a JSON path")
}

/// Shard files by what they hold: `wal`, `quantized` (int8 vectors; held in RAM with
/// `always_ram`), `hnsw` (the graph), `vectors` (the float originals), `payload` (payload
/// storage and indexes), `other`.
fn disk_parts(dir: &Path) -> std::collections::BTreeMap<String, u64> {
    fn walk(dir: &Path, root: &Path, out: &mut std::collections::BTreeMap<String, u64>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            let path = e.path();
            if m.is_dir() {
                walk(&path, root, out);
                continue;
            }
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let has = |name: &str| rel.components().any(|c| c.as_os_str() == name);
            let file = e.file_name().to_string_lossy().into_owned();
            let part = if has("wal") {
                "wal"
            } else if file.starts_with("quantized") {
                "quantized"
            } else if has("vector_index") {
                "hnsw"
            } else if has("vector_storage") {
                "vectors"
            } else if rel
                .components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with("payload"))
            {
                "payload"
            } else {
                "other"
            };
            *out.entry(part.to_string()).or_default() += m.len();
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// One worker's handle for searches.
#[derive(Clone)]
pub struct EdgeSearcher {
    shard: Arc<EdgeShard>,
    slots: Arc<Semaphore>,
}

impl EdgeSearcher {
    /// Upserts a batch (an operation of a concurrent upsert + search workload); it takes an
    /// engine slot like a search does.
    pub async fn upsert(&self, points: Vec<(u64, Vec<f32>, u8, i64)>) -> Result<(), String> {
        let _slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let shard = self.shard.clone();
        blocking(move || upsert_points(&shard, points)).await
    }

    /// Deletes points by id (the fresh points an upsert workload wrote, between phases).
    pub async fn delete(&self, ids: Vec<u64>) -> Result<(), String> {
        let shard = self.shard.clone();
        blocking(move || {
            shard
                .update(UpdateOperation::PointOperation(
                    PointOperations::DeletePoints {
                        ids: ids.into_iter().map(PointId::NumId).collect(),
                    },
                ))
                .map_err(|e| e.to_string())
        })
        .await
    }

    pub async fn search(
        &self,
        query: Vec<f32>,
        category: Option<u8>,
        exclude: Option<u64>,
        limit: usize,
        spec: SearchSpec,
    ) -> Result<Vec<u64>, String> {
        let _slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let shard = self.shard.clone();
        blocking(move || {
            let request = SearchRequest {
                query: QueryEnum::Nearest(NamedQuery {
                    query: VectorInternal::from(query),
                    using: None,
                }),
                filter: match (category, exclude) {
                    (Some(c), _) => Some(Filter::new_must(Condition::Field(
                        FieldCondition::new_match(
                            category_path(),
                            Match::new_value(ValueVariants::Integer(i64::from(c))),
                        ),
                    ))),
                    // A held-out query's own point is left out of its answer.
                    (None, Some(id)) => Some(Filter::new_must_not(Condition::HasId(
                        std::iter::once(PointId::NumId(id)).collect(),
                    ))),
                    (None, None) => None,
                },
                params: Some(SearchParams {
                    hnsw_ef: spec.hnsw_ef.map(|e| e as usize),
                    exact: spec.exact,
                    quantization: (spec.rescore.is_some() || spec.oversampling.is_some())
                        .then_some(QuantizationSearchParams {
                            ignore: false,
                            rescore: spec.rescore,
                            oversampling: spec.oversampling,
                        }),
                    ..Default::default()
                }),
                limit,
                offset: 0,
                with_payload: None,
                with_vector: None,
                score_threshold: None,
            };
            let points = shard.search(request).map_err(|e| e.to_string())?;
            Ok(points
                .into_iter()
                .filter_map(|p| match p.id {
                    PointId::NumId(n) => Some(n),
                    _ => None,
                })
                .collect())
        })
        .await
    }
}
