//! Server-side evidence of a Qdrant target: collection state, index build, disk by part.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Qdrant evidence for one profile: the collection as measured.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct QdrantEvidence {
    /// `embedded` (qdrant-edge, in-process) or `server` (gRPC).
    pub mode: String,
    pub collection: String,
    /// Server: green / yellow / grey / red. Embedded: `green` when every point is indexed
    /// and no optimization is pending, else `yellow`.
    pub status: Option<String>,
    pub points_count: u64,
    pub indexed_vectors_count: u64,
    pub segments_count: u64,
    /// The collection config as applied (HNSW, optimizers, quantization), as the engine
    /// reports it.
    pub config: serde_json::Value,
    /// Search parameters the workers sent (hnsw_ef, exact, quantization rescore/oversampling).
    pub search: serde_json::Value,
    /// Seconds until the index was really built (all vectors indexed), and vectors/s over
    /// that time.
    pub index_build_seconds: Option<f64>,
    pub index_vectors_per_s: Option<f64>,
    /// `profile apply (re-index n vectors)` or `dataset load (upsert + index)`.
    pub index_source: Option<String>,
    /// Shard folder size (embedded); the server does not report one over gRPC.
    pub disk_bytes: Option<u64>,
    /// Embedded: the shard's bytes by part: `quantized` (int8 vectors, held in RAM with
    /// `always_ram`), `vectors` (float originals), `hnsw`, `payload`, `wal`, `other`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_by_part: Option<BTreeMap<String, u64>>,
    /// Server: what the server's own telemetry reported over the measured trials (its
    /// request and index-search timings, size estimates, memory), or why it could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<super::telemetry::ServerView>,
}

impl crate::backend::evidence::StoreEvidence for QdrantEvidence {
    fn index_vectors_per_s(&self) -> Option<f64> {
        self.index_vectors_per_s
    }

    fn monitoring(&self) -> Vec<(String, String)> {
        let q = self;
        let mib =
            |b: Option<u64>| b.map_or("n/a".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0));
        let mut rows = vec![
            (
                "collection".into(),
                format!(
                    "{} ({}, status {})",
                    q.collection,
                    q.mode,
                    q.status.as_deref().unwrap_or("n/a")
                ),
            ),
            (
                "points / indexed vectors / segments".into(),
                format!(
                    "{} / {} / {}",
                    q.points_count, q.indexed_vectors_count, q.segments_count
                ),
            ),
            (
                "index build (vectors/s incl. build)".into(),
                match (q.index_build_seconds, q.index_vectors_per_s) {
                    (Some(s), Some(r)) => format!(
                        "{s:.1} s, {r:.0} vectors/s ({})",
                        q.index_source.as_deref().unwrap_or("n/a")
                    ),
                    _ => "n/a".into(),
                },
            ),
            ("collection size on disk".into(), mib(q.disk_bytes)),
            (
                "on disk by part".into(),
                match &q.disk_by_part {
                    Some(parts) => parts
                        .iter()
                        .map(|(k, v)| format!("{k} {}", mib(Some(*v))))
                        .collect::<Vec<_>>()
                        .join(", "),
                    None => "n/a".into(),
                },
            ),
            ("collection config as applied".into(), q.config.to_string()),
            ("search parameters".into(), q.search.to_string()),
        ];
        if let Some(v) = &q.server {
            rows.extend(server_rows(v, &mib));
        }
        rows
    }
}

/// The server telemetry's rows: requests and index searches as the server timed them over
/// the trials, its size estimates and its memory.
fn server_rows(
    v: &super::telemetry::ServerView,
    mib: &dyn Fn(Option<u64>) -> String,
) -> Vec<(String, String)> {
    if let Some(why) = &v.error {
        return vec![(
            "server telemetry".into(),
            format!("not read ({}): {why}", v.source),
        )];
    }
    let timings = |m: &BTreeMap<String, super::telemetry::ServerTiming>| {
        if m.is_empty() {
            return "none counted".to_string();
        }
        m.iter()
            .map(|(k, t)| {
                let mean = t.mean_us.map_or("n/a".into(), |us| format!("{us:.0} µs"));
                let failed = if t.failed > 0 {
                    format!(", {} failed", t.failed)
                } else {
                    String::new()
                };
                format!("{k} {} x, mean {mean}{failed}", t.count)
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    vec![
        (
            "server: requests (server-timed)".into(),
            timings(&v.requests),
        ),
        (
            "server: index searches by path".into(),
            timings(&v.index_searches),
        ),
        (
            "server: vectors / payload size (its estimate)".into(),
            format!(
                "{} / {}",
                mib(v.vectors_size_bytes),
                mib(v.payloads_size_bytes)
            ),
        ),
        (
            "server: process heap allocated / resident".into(),
            format!(
                "{} / {}",
                mib(v.memory_allocated_bytes),
                mib(v.memory_resident_bytes)
            ),
        ),
        ("server: telemetry source".into(), v.source.clone()),
    ]
}
