//! A Qdrant server over gRPC (`qdrant-client`), used when the target has a URL. The client's
//! own version check prints to stdout and carries on; it is switched off and done here
//! instead, so an incompatible or silent server is a clear error before anything runs.

use std::collections::HashMap;
use std::time::Duration;

use qdrant_client::Qdrant;
use qdrant_client::qdrant::{
    CollectionStatus, Condition, CreateCollection, CreateFieldIndexCollection, DeleteCollection,
    DeletePointsBuilder, Disabled, Distance, FieldType, Filter, GetCollectionInfoRequest,
    HnswConfigDiff, OptimizersConfigDiff, PointStruct, PointsIdsList, QuantizationConfigDiff,
    QuantizationSearchParams, QuantizationType, ScalarQuantization, SearchParams, SearchPoints,
    UpdateCollection, UpsertPoints, Value, VectorParams, VectorsConfig, quantization_config,
    quantization_config_diff, value::Kind, vectors_config,
};

use super::{CollectionInfo, ManagedConfig, Manifest, Quantization, SearchSpec};

/// How long to wait for the server's optimizers before calling the index build failed.
const INDEX_WAIT: Duration = Duration::from_secs(3600);

/// The client's major.minor; a server within one minor version is supported.
const CLIENT: (u64, u64) = (1, 20);

pub struct ServerEngine {
    client: Qdrant,
    /// REST base URL and API key, for snapshots (gRPC has no download or upload of them).
    rest: Option<(String, Option<String>)>,
    /// The server's REST telemetry, or why there is none.
    telemetry: Result<super::telemetry::Telemetry, String>,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Whether a server version fits this client: same major, minor at most one apart.
pub fn compatible(server: &str) -> Result<(), String> {
    let mut parts = server
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse::<u64>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) if major == CLIENT.0 && minor.abs_diff(CLIENT.1) <= 1 => Ok(()),
        (Some(_), Some(_)) => Err(format!(
            "server version {server} is not supported by qdrant-client {}.{} (same major, minor within 1); use a Qdrant {}.{}-{}.{} server",
            CLIENT.0,
            CLIENT.1,
            CLIENT.0,
            CLIENT.1 - 1,
            CLIENT.0,
            CLIENT.1 + 1
        )),
        _ => Err(format!("server reported an unreadable version `{server}`")),
    }
}

impl ServerEngine {
    /// Connects and checks the server's version explicitly. Returns the version.
    pub async fn connect(
        url: &str,
        options: &super::spec::QdrantTarget,
        timeout: Duration,
    ) -> Result<(Self, String), String> {
        let client = Qdrant::from_url(url)
            .api_key(options.api_key.clone())
            .skip_compatibility_check()
            .timeout(Duration::from_secs(600))
            .connect_timeout(timeout)
            .build()
            .map_err(err)?;
        let reply = client
            .health_check()
            .await
            .map_err(|e| format!("the server does not answer a health check over gRPC: {e}"))?;
        compatible(&reply.version)?;
        let rest = super::telemetry::rest_url(url, options.rest_url.as_deref())
            .map(|r| (r, options.api_key.clone()));
        let telemetry = match super::telemetry::rest_url(url, options.rest_url.as_deref()) {
            // Within the connect timeout: the runner gives a counter read at least that long
            // before calling the server gone, and a telemetry read that cannot finish in it is
            // recorded as unreadable instead.
            Some(rest) => super::telemetry::Telemetry::new(&rest, options.api_key.clone(), timeout),
            None => Err(
                "no rest_url on the target, and its gRPC URL is not on Qdrant's default port 6334 to derive one from"
                    .into(),
            ),
        };
        Ok((
            ServerEngine {
                client,
                rest,
                telemetry,
            },
            reply.version,
        ))
    }

    /// The telemetry reader, or why there is none.
    pub fn telemetry(&self) -> &Result<super::telemetry::Telemetry, String> {
        &self.telemetry
    }

    pub async fn manifest(&self, collection: &str) -> Result<Option<Manifest>, String> {
        if !self
            .client
            .collection_exists(collection)
            .await
            .map_err(err)?
        {
            return Ok(None);
        }
        let info = self.raw_info(collection).await?;
        let meta = info
            .config
            .map(|c| c.metadata)
            .unwrap_or_default()
            .remove("tunebench_manifest")
            .and_then(|v| match v.kind {
                Some(Kind::StringValue(s)) => Some(s),
                _ => None,
            });
        match meta {
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("collection {collection}: unreadable manifest: {e}")),
            None => Err(format!(
                "collection {collection} exists but was not created by tunebench (no tunebench_manifest metadata); tunebench leaves it untouched: choose another schema name"
            )),
        }
    }

    pub async fn write_manifest(&self, collection: &str, m: &Manifest) -> Result<(), String> {
        self.client
            .update_collection(UpdateCollection {
                collection_name: collection.into(),
                metadata: manifest_metadata(m),
                ..Default::default()
            })
            .await
            .map(|_| ())
            .map_err(err)
    }

    /// A REST request to the server (snapshots), with its API key and a long timeout.
    fn rest(&self, method: reqwest::Method, path: &str) -> Result<reqwest::RequestBuilder, String> {
        let (base, key) = self.rest.as_ref().ok_or(
            "snapshots go through Qdrant's REST API: set rest_url on the target (its gRPC URL is not on the default port 6334 to derive one from)",
        )?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| format!("REST client: {e}"))?;
        let mut req = client
            .request(method, format!("{base}{path}"))
            .timeout(INDEX_WAIT);
        if let Some(k) = key {
            req = req.header("api-key", k);
        }
        Ok(req)
    }

    /// The drill's backup: a snapshot made on the server, downloaded into `to`, then
    /// deleted on the server. Returns the file and its bytes.
    pub async fn snapshot(
        &self,
        collection: &str,
        to: &std::path::Path,
    ) -> Result<(std::path::PathBuf, u64), String> {
        let fail = |what: &str, e: String| format!("{what}: {}", crate::secrets::scrub(&e));
        let reply = self
            .rest(
                reqwest::Method::POST,
                &format!("/collections/{collection}/snapshots?wait=true"),
            )?
            .send()
            .await
            .map_err(|e| fail("creating a snapshot", e.to_string()))?;
        let body: serde_json::Value = checked(reply, "creating a snapshot").await?;
        let name = body["result"]["name"]
            .as_str()
            .ok_or("creating a snapshot: the reply names no snapshot")?
            .to_string();
        let path = to.join(&name);
        let got = async {
            let mut reply = self
                .rest(
                    reqwest::Method::GET,
                    &format!("/collections/{collection}/snapshots/{name}"),
                )?
                .send()
                .await
                .map_err(|e| fail("downloading the snapshot", e.to_string()))?;
            if !reply.status().is_success() {
                return Err(format!("downloading the snapshot: HTTP {}", reply.status()));
            }
            use std::io::Write;
            let mut f =
                std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut bytes = 0u64;
            while let Some(chunk) = reply
                .chunk()
                .await
                .map_err(|e| fail("downloading the snapshot", e.to_string()))?
            {
                f.write_all(&chunk).map_err(|e| e.to_string())?;
                bytes += chunk.len() as u64;
            }
            f.sync_all().map_err(|e| e.to_string())?;
            Ok(bytes)
        }
        .await;
        // The server's copy goes whether the download worked or not.
        if let Ok(req) = self.rest(
            reqwest::Method::DELETE,
            &format!("/collections/{collection}/snapshots/{name}?wait=true"),
        ) && let Err(e) = req.send().await
        {
            tracing::warn!("could not delete snapshot {name} on the server: {e}");
        }
        Ok((path, got?))
    }

    /// Restores a snapshot file as the new collection `scratch` (uploaded).
    pub async fn restore(&self, file: &std::path::Path, scratch: &str) -> Result<(), String> {
        let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let part = reqwest::multipart::Part::bytes(bytes).file_name(
            file.file_name().map_or("backup.snapshot".into(), |n| {
                n.to_string_lossy().into_owned()
            }),
        );
        let form = reqwest::multipart::Form::new().part("snapshot", part);
        let reply = self
            .rest(
                reqwest::Method::POST,
                &format!("/collections/{scratch}/snapshots/upload?wait=true&priority=snapshot"),
            )?
            .multipart(form)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "uploading the snapshot: {}",
                    crate::secrets::scrub(&e.to_string())
                )
            })?;
        checked(reply, "uploading the snapshot").await.map(|_| ())
    }

    /// Every point's id and a hash of its vector and payload (see `drill`).
    pub async fn prints(&self, collection: &str) -> Result<Vec<(String, u64)>, String> {
        use qdrant_client::qdrant::ScrollPointsBuilder;
        let mut out = Vec::new();
        let mut offset = None;
        loop {
            let mut req = ScrollPointsBuilder::new(collection)
                .limit(1000)
                .with_payload(true)
                .with_vectors(true);
            if let Some(o) = offset.take() {
                req = req.offset(o);
            }
            let page = self.client.scroll(req).await.map_err(err)?;
            for p in page.result {
                let id = format!("{:?}", p.id);
                let payload: serde_json::Map<String, serde_json::Value> = p
                    .payload
                    .iter()
                    .map(|(k, v)| (k.clone(), json_of(v)))
                    .collect();
                // Debug prints each f32 exactly (shortest round-trip form).
                let vector = format!("{:?}", p.vectors);
                out.push((
                    id,
                    crate::backend::drill::item_hash(&vector, &serde_json::Value::Object(payload)),
                ));
            }
            match page.next_page_offset {
                Some(o) => offset = Some(o),
                None => return Ok(out),
            }
        }
    }

    /// The collection's (unnamed) vector: its dimension and distance.
    pub async fn vector_params(
        &self,
        collection: &str,
    ) -> Result<(usize, crate::dataset::vectors::Metric), String> {
        use qdrant_client::qdrant::vectors_config::Config;
        let info = self.raw_info(collection).await?;
        let params = info
            .config
            .and_then(|c| c.params)
            .and_then(|p| p.vectors_config)
            .and_then(|v| v.config);
        match params {
            Some(Config::Params(p)) => Ok((p.size as usize, metric_of(p.distance)?)),
            Some(Config::ParamsMap(m)) => Err(format!(
                "has named vectors ({}); tunebench searches a collection's unnamed vector only",
                m.map.keys().cloned().collect::<Vec<_>>().join(", ")
            )),
            None => Err("reports no vector parameters".into()),
        }
    }

    /// Every point's id and vector (numeric ids only), for exact ground truth.
    pub async fn vectors(&self, collection: &str) -> Result<Vec<(u64, Vec<f32>)>, String> {
        use qdrant_client::qdrant::ScrollPointsBuilder;
        use qdrant_client::qdrant::point_id::PointIdOptions;
        let mut out = Vec::new();
        let mut offset = None;
        loop {
            let mut req = ScrollPointsBuilder::new(collection)
                .limit(1000)
                .with_payload(false)
                .with_vectors(true);
            if let Some(o) = offset.take() {
                req = req.offset(o);
            }
            let page = self.client.scroll(req).await.map_err(err)?;
            for p in page.result {
                let id = match p.id.and_then(|i| i.point_id_options) {
                    Some(PointIdOptions::Num(n)) => n,
                    Some(PointIdOptions::Uuid(u)) => {
                        return Err(format!(
                            "point {u} has a UUID id; tunebench judges recall on numeric ids only"
                        ));
                    }
                    None => return Err("a point without an id".into()),
                };
                let v = p
                    .vectors
                    .and_then(|v| dense(v.vectors_options?))
                    .ok_or_else(|| format!("point {id} has no dense unnamed vector"))?;
                out.push((id, v));
            }
            match page.next_page_offset {
                Some(o) => offset = Some(o),
                None => return Ok(out),
            }
        }
    }

    pub async fn collections(&self) -> Result<Vec<String>, String> {
        Ok(self
            .client
            .list_collections()
            .await
            .map_err(err)?
            .collections
            .into_iter()
            .map(|c| c.name)
            .collect())
    }

    pub async fn drop_collection(&self, collection: &str) -> Result<(), String> {
        self.client
            .delete_collection(DeleteCollection {
                collection_name: collection.into(),
                ..Default::default()
            })
            .await
            .map(|_| ())
            .map_err(err)
    }

    pub async fn create(
        &self,
        collection: &str,
        dim: usize,
        manifest: &Manifest,
    ) -> Result<(), String> {
        self.client
            .create_collection(CreateCollection {
                collection_name: collection.into(),
                vectors_config: Some(VectorsConfig {
                    config: Some(vectors_config::Config::Params(VectorParams {
                        size: dim as u64,
                        distance: Distance::Cosine as i32,
                        ..Default::default()
                    })),
                }),
                metadata: manifest_metadata(manifest),
                ..Default::default()
            })
            .await
            .map_err(err)?;
        self.client
            .create_field_index(CreateFieldIndexCollection {
                collection_name: collection.into(),
                wait: Some(true),
                field_name: "category".into(),
                field_type: Some(FieldType::Integer as i32),
                ..Default::default()
            })
            .await
            .map(|_| ())
            .map_err(err)
    }

    pub async fn upsert(
        &self,
        collection: &str,
        points: Vec<(u64, Vec<f32>, u8, i64)>,
    ) -> Result<(), String> {
        upsert_points(&self.client, collection, points).await
    }

    /// Waits until the server's optimizers are done: status green and every point indexed
    /// (or, below the indexing threshold, nothing left to index).
    pub async fn build_index(&self, collection: &str, expect_indexed: bool) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + INDEX_WAIT;
        loop {
            if tokio::time::Instant::now() > deadline {
                return Err(format!(
                    "collection {collection} was not green with every point indexed after {} min; check the server's optimizer (collection info)",
                    INDEX_WAIT.as_secs() / 60
                ));
            }
            let info = self.raw_info(collection).await?;
            let points = info.points_count.unwrap_or(0);
            let indexed = info.indexed_vectors_count.unwrap_or(0);
            let green = info.status == CollectionStatus::Green as i32;
            if green && (!expect_indexed || indexed >= points) {
                return Ok(());
            }
            if info.status == CollectionStatus::Red as i32 {
                return Err(format!(
                    "collection {collection} is red (optimization failed)"
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn raw_info(
        &self,
        collection: &str,
    ) -> Result<qdrant_client::qdrant::CollectionInfo, String> {
        self.client
            .collection_info(GetCollectionInfoRequest {
                collection_name: collection.into(),
            })
            .await
            .map_err(err)?
            .result
            .ok_or_else(|| format!("collection {collection}: no info returned"))
    }

    #[allow(deprecated)] // always_ram: see `scalar`
    pub async fn info(&self, collection: &str) -> Result<CollectionInfo, String> {
        let info = self.raw_info(collection).await?;
        let status = match CollectionStatus::try_from(info.status) {
            Ok(CollectionStatus::Green) => "green",
            Ok(CollectionStatus::Yellow) => "yellow",
            Ok(CollectionStatus::Red) => "red",
            Ok(CollectionStatus::Grey) => "grey",
            _ => "unknown",
        };
        let config = info.config.clone().unwrap_or_default();
        let hnsw = config.hnsw_config.unwrap_or_default();
        let opt = config.optimizer_config.unwrap_or_default();
        let quantization = match config.quantization_config.and_then(|q| q.quantization) {
            Some(quantization_config::Quantization::Scalar(s)) => Some(Quantization {
                quantile: s.quantile,
                always_ram: s.always_ram,
            }),
            _ => None,
        };
        let managed = ManagedConfig {
            m: hnsw.m.unwrap_or(16) as u32,
            ef_construct: hnsw.ef_construct.unwrap_or(100) as u32,
            full_scan_threshold: hnsw.full_scan_threshold.unwrap_or(10_000) as u32,
            indexing_threshold: opt.indexing_threshold.unwrap_or(10_000) as u32,
            quantization,
        };
        Ok(CollectionInfo {
            status: Some(status.into()),
            points: info.points_count.unwrap_or(0),
            indexed: info.indexed_vectors_count.unwrap_or(0),
            segments: info.segments_count,
            category_index_points: info
                .payload_schema
                .get("category")
                .map(|s| s.points.unwrap_or(0)),
            raw_config: serde_json::to_value(managed).unwrap_or_default(),
            managed,
            disk_bytes: None,
            disk_by_part: None,
        })
    }

    pub async fn set_config(&self, collection: &str, want: &ManagedConfig) -> Result<(), String> {
        let quantization = Some(QuantizationConfigDiff {
            quantization: Some(match want.quantization {
                Some(q) => quantization_config_diff::Quantization::Scalar(scalar(q)),
                None => quantization_config_diff::Quantization::Disabled(Disabled {}),
            }),
        });
        self.client
            .update_collection(UpdateCollection {
                collection_name: collection.into(),
                hnsw_config: Some(HnswConfigDiff {
                    m: Some(u64::from(want.m)),
                    ef_construct: Some(u64::from(want.ef_construct)),
                    full_scan_threshold: Some(u64::from(want.full_scan_threshold)),
                    ..Default::default()
                }),
                optimizers_config: Some(OptimizersConfigDiff {
                    indexing_threshold: Some(u64::from(want.indexing_threshold)),
                    ..Default::default()
                }),
                quantization_config: quantization,
                ..Default::default()
            })
            .await
            .map(|_| ())
            .map_err(err)
    }

    pub fn searcher(&self, collection: &str) -> ServerSearcher {
        ServerSearcher {
            client: self.client.clone(),
            collection: collection.to_string(),
        }
    }
}

// `always_ram` is deprecated for `memory` in 1.20, but servers 1.19 (within the supported
// range) know only `always_ram`; the profile's field maps onto it one to one.
#[allow(deprecated)]
fn scalar(q: Quantization) -> ScalarQuantization {
    ScalarQuantization {
        r#type: QuantizationType::Int8 as i32,
        quantile: q.quantile,
        always_ram: q.always_ram,
        ..Default::default()
    }
}

/// Upserts and waits until the server has applied the batch (so a later search sees it).
async fn upsert_points(
    client: &Qdrant,
    collection: &str,
    points: Vec<(u64, Vec<f32>, u8, i64)>,
) -> Result<(), String> {
    let points = points
        .into_iter()
        .map(|(id, v, c, t)| PointStruct {
            id: Some(id.into()),
            vectors: Some(v.into()),
            payload: HashMap::from([
                ("category".to_string(), Value::from(i64::from(c))),
                ("timestamp".to_string(), Value::from(t)),
            ]),
        })
        .collect();
    client
        .upsert_points(UpsertPoints {
            collection_name: collection.into(),
            wait: Some(true),
            points,
            ..Default::default()
        })
        .await
        .map(|_| ())
        .map_err(err)
}

fn manifest_metadata(m: &Manifest) -> HashMap<String, Value> {
    HashMap::from([(
        "tunebench_manifest".to_string(),
        Value::from(serde_json::to_string(m).expect("manifest")),
    )])
}

#[derive(Clone)]
pub struct ServerSearcher {
    client: Qdrant,
    collection: String,
}

impl ServerSearcher {
    pub async fn upsert(&self, points: Vec<(u64, Vec<f32>, u8, i64)>) -> Result<(), String> {
        upsert_points(&self.client, &self.collection, points).await
    }

    pub async fn delete(&self, ids: Vec<u64>) -> Result<(), String> {
        self.client
            .delete_points(
                DeletePointsBuilder::new(&self.collection)
                    .points(PointsIdsList {
                        ids: ids.into_iter().map(Into::into).collect(),
                    })
                    .wait(true),
            )
            .await
            .map(|_| ())
            .map_err(err)
    }

    pub async fn search(
        &self,
        query: Vec<f32>,
        category: Option<u8>,
        exclude: Option<u64>,
        limit: usize,
        spec: SearchSpec,
    ) -> Result<Vec<u64>, String> {
        let reply = self
            .client
            .search_points(SearchPoints {
                collection_name: self.collection.clone(),
                vector: query,
                filter: match (category, exclude) {
                    (Some(c), _) => {
                        Some(Filter::must([Condition::matches("category", i64::from(c))]))
                    }
                    // A held-out query's own point is left out of its answer.
                    (None, Some(id)) => Some(Filter::must_not([Condition::has_id([id])])),
                    (None, None) => None,
                },
                limit: limit as u64,
                params: Some(SearchParams {
                    hnsw_ef: spec.hnsw_ef.map(u64::from),
                    exact: Some(spec.exact),
                    quantization: (spec.rescore.is_some() || spec.oversampling.is_some())
                        .then_some(QuantizationSearchParams {
                            ignore: Some(false),
                            rescore: spec.rescore,
                            oversampling: spec.oversampling,
                        }),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .map_err(err)?;
        Ok(reply
            .result
            .into_iter()
            .filter_map(|p| match p.id?.point_id_options? {
                qdrant_client::qdrant::point_id::PointIdOptions::Num(n) => Some(n),
                _ => None,
            })
            .collect())
    }
}

/// A REST reply's JSON, or its status and message as an error.
async fn checked(reply: reqwest::Response, what: &str) -> Result<serde_json::Value, String> {
    let status = reply.status();
    let text = reply.text().await.unwrap_or_default();
    if !status.is_success() {
        let shown: String = text.chars().take(300).collect();
        return Err(format!("{what}: HTTP {status}: {shown}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("{what}: the reply is not JSON: {e}"))
}

/// A payload value as JSON.
fn json_of(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match &v.kind {
        None | Some(Kind::NullValue(_)) => J::Null,
        Some(Kind::BoolValue(b)) => J::Bool(*b),
        Some(Kind::IntegerValue(i)) => J::from(*i),
        Some(Kind::DoubleValue(d)) => J::from(*d),
        Some(Kind::StringValue(s)) => J::String(s.clone()),
        Some(Kind::ListValue(l)) => J::Array(l.values.iter().map(json_of).collect()),
        Some(Kind::StructValue(s)) => J::Object(
            s.fields
                .iter()
                .map(|(k, v)| (k.clone(), json_of(v)))
                .collect(),
        ),
    }
}

/// A Qdrant distance as the ground truth's metric (Manhattan has none).
fn metric_of(distance: i32) -> Result<crate::dataset::vectors::Metric, String> {
    use crate::dataset::vectors::Metric;
    use qdrant_client::qdrant::Distance;
    match Distance::try_from(distance) {
        Ok(Distance::Cosine) => Ok(Metric::Cosine),
        Ok(Distance::Dot) => Ok(Metric::Dot),
        Ok(Distance::Euclid) => Ok(Metric::L2),
        other => Err(format!(
            "uses distance {other:?}; tunebench computes ground truth for Cosine, Dot and Euclid"
        )),
    }
}

/// A point's dense unnamed vector, as scroll returns it (in `vector`, or the older `data`).
fn dense(v: qdrant_client::qdrant::vectors_output::VectorsOptions) -> Option<Vec<f32>> {
    use qdrant_client::qdrant::vector_output::Vector;
    use qdrant_client::qdrant::vectors_output::VectorsOptions;
    let out = match v {
        VectorsOptions::Vector(d) => d,
        VectorsOptions::Vectors(mut named) => named.vectors.remove("")?,
    };
    match out.vector {
        Some(Vector::Dense(d)) => Some(d.data),
        Some(_) => None,
        #[allow(deprecated)]
        None => (!out.data.is_empty()).then_some(out.data),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_check_is_explicit() {
        assert!(super::compatible("1.20.3").is_ok());
        assert!(super::compatible("v1.19.0").is_ok());
        assert!(
            super::compatible("1.17.0")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(super::compatible("2.0.0").is_err());
        assert!(super::compatible("dev").unwrap_err().contains("unreadable"));
    }
}
