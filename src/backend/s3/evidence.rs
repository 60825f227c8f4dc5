//! Server-side evidence of an S3 target: bucket configuration, time to first byte, MB/s over time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics as hdr;

/// MinIO / S3 evidence: the server's Prometheus counters around the measured phases, the
/// bucket configuration as applied, time to first byte and the per-second throughput.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct S3Evidence {
    /// Selected MinIO metrics v3 series (summed over labels; requests also per API as
    /// `name:Api`) before the first measured phase.
    pub metrics_before: BTreeMap<String, f64>,
    /// The same series after the last measured phase.
    pub metrics_after: BTreeMap<String, f64>,
    /// Set when the metrics endpoint could not be read (then the maps stay empty).
    pub metrics_note: Option<String>,
    /// The bucket's configuration read back before measuring.
    pub bucket: Option<BucketConfig>,
    /// Object versions under the workloads' scratch prefix after measuring (versioning keeps
    /// every overwrite as a version).
    pub scratch_versions: Option<u64>,
    pub scratch_objects: Option<u64>,
    /// Time to first byte of GETs, per workload and op.
    pub ttfb: Vec<TtfbSummary>,
    /// Payload bytes completed in each second of each measured trial (multipart uploads:
    /// as each part completes) and operations completed in it.
    pub throughput_series: Vec<SeriesPoint>,
    /// Multipart uploads aborted after a failed or timed-out upload.
    pub uploads_aborted: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BucketConfig {
    pub bucket: String,
    /// `Enabled`, `Suspended` or `Unversioned`.
    pub versioning: String,
    pub lifecycle: Vec<crate::backend::s3::spec::LifecycleRule>,
    pub policy: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtfbSummary {
    pub workload: String,
    pub op: String,
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// HdrHistogram V2 (deflate), base64; microseconds (merged over trials).
    pub histogram: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesPoint {
    pub workload: String,
    pub second: u32,
    pub bytes: u64,
    pub ops: u64,
}

impl crate::backend::evidence::StoreEvidence for S3Evidence {
    fn monitoring(&self) -> Vec<(String, String)> {
        let delta = |k: &str| match (self.metrics_after.get(k), self.metrics_before.get(k)) {
            (Some(a), Some(b)) => format!("{:.0}", a - b),
            _ => "n/a".into(),
        };
        let mut lines = vec![
            (
                "MinIO requests during measurement (minio_api_requests_total)".into(),
                delta("minio_api_requests_total"),
            ),
            (
                "MinIO request errors (minio_api_requests_errors_total)".into(),
                delta("minio_api_requests_errors_total"),
            ),
            (
                "bytes received / sent (minio_api_requests_traffic_*)".into(),
                format!(
                    "{} / {}",
                    delta("minio_api_requests_traffic_received_bytes"),
                    delta("minio_api_requests_traffic_sent_bytes")
                ),
            ),
            (
                "drive space used after (minio_system_drive_used_bytes)".into(),
                self.metrics_after
                    .get("minio_system_drive_used_bytes")
                    .map_or("n/a".into(), |v| format!("{:.0}", v)),
            ),
            (
                "per-second throughput points".into(),
                self.throughput_series.len().to_string(),
            ),
        ];
        if let Some(b) = &self.bucket {
            lines.push((
                format!("bucket {} as applied", b.bucket),
                format!(
                    "versioning {}, {} lifecycle rule(s), policy {}",
                    b.versioning,
                    b.lifecycle.len(),
                    if b.policy.is_some() { "set" } else { "none" }
                ),
            ));
        }
        if let Some(n) = &self.metrics_note {
            lines.push(("metrics".into(), n.clone()));
        }
        lines
    }
}

/// What the store reads right before and right after a measured phase.
pub struct S3Snapshot {
    pub(super) workload: String,
    pub(super) metrics: Result<BTreeMap<String, f64>, String>,
    pub(super) series: Vec<(u64, u64)>,
    pub(super) ttfb: Vec<(String, hdrhistogram::Histogram<u64>)>,
    pub(super) scratch: Option<(u64, u64)>,
    pub(super) aborted: u64,
}

impl S3Evidence {
    /// Folds one measured phase (`before` and `after` it) into the evidence: metrics, the
    /// per-second series, merged TTFB histograms, scratch counts and aborted uploads.
    pub(super) fn accumulate(&mut self, after: &S3Snapshot, before: &S3Snapshot) {
        match (&before.metrics, &after.metrics) {
            (Ok(b), Ok(a)) => {
                if self.metrics_before.is_empty() {
                    self.metrics_before = b.clone();
                }
                self.metrics_after = a.clone();
            }
            (Err(m), _) | (_, Err(m)) => self.metrics_note = Some(m.clone()),
        }
        for (i, (bytes, ops)) in after.series.iter().enumerate() {
            self.throughput_series.push(SeriesPoint {
                workload: after.workload.clone(),
                second: i as u32,
                bytes: *bytes,
                ops: *ops,
            });
        }
        for (op, h) in &after.ttfb {
            let existing = self
                .ttfb
                .iter_mut()
                .find(|t| t.workload == after.workload && &t.op == op);
            let mut merged = existing
                .as_ref()
                .and_then(|t| hdr::decode(&t.histogram).ok())
                .unwrap_or_else(hdr::new_histogram);
            hdr::merge(&mut merged, h);
            let s = hdr::LatencySummary::of(&merged);
            let summary = TtfbSummary {
                workload: after.workload.clone(),
                op: op.clone(),
                count: merged.len(),
                p50_ms: s.p50,
                p99_ms: s.p99,
                max_ms: s.max,
                histogram: hdr::encode(&merged),
            };
            match existing {
                Some(t) => *t = summary,
                None => self.ttfb.push(summary),
            }
        }
        if let Some((v, o)) = after.scratch {
            self.scratch_versions = Some(v);
            self.scratch_objects = Some(o);
        }
        self.uploads_aborted += after.aborted + before.aborted;
    }
}
