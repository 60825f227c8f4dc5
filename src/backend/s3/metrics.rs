//! What the S3 store records besides latencies: bytes per second of the measured phase,
//! time to first byte of GETs, multipart uploads left behind; and MinIO's Prometheus
//! counters.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::metrics;

pub type TtfbByOp = BTreeMap<String, Histogram<u64>>;

/// Shared by the workers of one store. Locked once per completed operation: operations
/// move megabytes, so the lock is noise next to them.
pub struct Recorder {
    inner: Mutex<Inner>,
}

struct Inner {
    start: Instant,
    /// (bytes, ops) completed in each second since `start`.
    seconds: Vec<(u64, u64)>,
    ttfb: BTreeMap<String, Histogram<u64>>,
    /// Multipart uploads started and not yet completed or aborted: (upload id, key).
    pending: HashMap<String, String>,
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            inner: Mutex::new(Inner {
                start: Instant::now(),
                seconds: Vec::new(),
                ttfb: BTreeMap::new(),
                pending: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a measured phase: what warm-up recorded is dropped.
    pub fn begin(&self) {
        let mut i = self.lock();
        i.start = Instant::now();
        i.seconds.clear();
        i.ttfb.clear();
    }

    /// Counts `bytes` and `ops` in the current second. Multipart uploads count each part's
    /// bytes as the part completes (so the series shows the bandwidth, not one spike per
    /// object) and the operation when the upload completes.
    pub fn add(&self, bytes: u64, ops: u64) {
        let mut i = self.lock();
        let s = i.start.elapsed().as_secs() as usize;
        if i.seconds.len() <= s {
            i.seconds.resize(s + 1, (0, 0));
        }
        i.seconds[s].0 += bytes;
        i.seconds[s].1 += ops;
    }

    pub fn ttfb(&self, op: &str, d: Duration) {
        let mut i = self.lock();
        let h = i
            .ttfb
            .entry(op.to_string())
            .or_insert_with(metrics::new_histogram);
        metrics::record(h, d);
    }

    /// The per-second series and TTFB histograms since `begin`.
    pub fn take(&self) -> (Vec<(u64, u64)>, TtfbByOp) {
        let mut i = self.lock();
        (std::mem::take(&mut i.seconds), std::mem::take(&mut i.ttfb))
    }

    pub fn upload_started(&self, id: &str, key: &str) {
        self.lock().pending.insert(id.to_string(), key.to_string());
    }

    pub fn upload_finished(&self, id: &str) {
        self.lock().pending.remove(id);
    }

    /// Uploads whose operation was dropped (timed out) before completing or aborting.
    pub fn take_pending(&self) -> Vec<(String, String)> {
        self.lock().pending.drain().collect()
    }
}

/// MinIO's metrics v3 paths read as evidence. v3, not v2: v2's cluster and node endpoints
/// are cached for about 10 s, longer than a short measured phase; v3's API counters are
/// live. (Usage counts are refreshed by MinIO's scanner, so they lag.)
const PATHS: [&str; 3] = [
    "/minio/metrics/v3/api/requests",
    "/minio/metrics/v3/system/drive",
    "/minio/metrics/v3/cluster/usage/objects",
];

/// Series kept (summed over their labels); requests and errors are also kept per API
/// (`minio_api_requests_total:PutObjectPart`).
fn kept(name: &str) -> bool {
    (name.starts_with("minio_api_requests_") && !name.ends_with("_distribution"))
        || matches!(
            name,
            "minio_system_drive_used_bytes"
                | "minio_system_drive_free_bytes"
                | "minio_system_drive_total_bytes"
                | "minio_cluster_usage_objects_count"
                | "minio_cluster_usage_objects_versions_count"
                | "minio_cluster_usage_objects_total_bytes"
        )
}

/// Reads MinIO's metrics (public on tunebench's stack). Only plain http: an https
/// endpoint's metrics are reported as not captured.
pub async fn scrape(endpoint: &str) -> Result<BTreeMap<String, f64>, String> {
    let Some(hostport) = endpoint
        .strip_prefix("http://")
        .map(|r| r.split('/').next().unwrap_or(r))
    else {
        return Err("metrics are only read over http://".into());
    };
    let mut out = BTreeMap::new();
    for path in PATHS {
        let text = get(hostport, path).await?;
        for (k, v) in parse(&text) {
            *out.entry(k).or_insert(0.0) += v;
        }
    }
    Ok(out)
}

/// MinIO's release and commit, from the labels of its software info series.
pub async fn server_version(endpoint: &str) -> Result<String, String> {
    let hostport = endpoint
        .strip_prefix("http://")
        .map(|r| r.split('/').next().unwrap_or(r))
        .ok_or("metrics are only read over http://")?;
    let text = get(hostport, "/minio/v2/metrics/node").await?;
    let label = |series: &str, key: &str| {
        text.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.split(&format!("{key}=\"")).nth(1))
            .and_then(|r| r.split('"').next())
            .map(str::to_string)
    };
    match (
        label("minio_software_version_info", "version"),
        label("minio_software_commit_info", "commit"),
    ) {
        (Some(v), Some(c)) => Ok(format!("MinIO RELEASE.{v} (commit {c})")),
        (Some(v), None) => Ok(format!("MinIO RELEASE.{v}")),
        _ => Err("no minio_software_version_info in the metrics".into()),
    }
}

/// Every series of one metrics path, summed over labels.
pub async fn scrape_path(endpoint: &str, path: &str) -> Result<BTreeMap<String, f64>, String> {
    let hostport = endpoint
        .strip_prefix("http://")
        .map(|r| r.split('/').next().unwrap_or(r))
        .ok_or("metrics are only read over http://")?;
    let text = get(hostport, path).await?;
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if let Some((series, value)) = line.rsplit_once(' ')
            && let Ok(v) = value.trim().parse::<f64>()
        {
            let name = series.split('{').next().unwrap_or(series);
            *out.entry(name.to_string()).or_insert(0.0) += v;
        }
    }
    Ok(out)
}

async fn get(hostport: &str, path: &str) -> Result<String, String> {
    let body = tokio::time::timeout(Duration::from_secs(10), async {
        let mut s = tokio::net::TcpStream::connect(hostport)
            .await
            .map_err(|e| format!("connecting to {hostport}: {e}"))?;
        let req = format!("GET {path} HTTP/1.0\r\nHost: {hostport}\r\nAccept: text/plain\r\n\r\n");
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(String::from_utf8_lossy(&buf).into_owned())
    })
    .await
    .map_err(|_| format!("metrics endpoint {path} did not answer within 10 s"))??;
    let (head, text) = body.split_once("\r\n\r\n").unwrap_or((&body, ""));
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(format!(
            "metrics endpoint {path} answered {}",
            head.lines().next().unwrap_or("")
        ));
    }
    Ok(text.to_string())
}

fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = series.split('{').next().unwrap_or(series);
        let Ok(v) = value.trim().parse::<f64>() else {
            continue;
        };
        if !kept(name) {
            continue;
        }
        *out.entry(name.to_string()).or_insert(0.0) += v;
        if matches!(
            name,
            "minio_api_requests_total" | "minio_api_requests_errors_total"
        ) && let Some(api) = series
            .split("name=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
        {
            *out.entry(format!("{name}:{api}")).or_insert(0.0) += v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn sums_series_over_labels() {
        let m = super::parse(
            "# HELP x\nminio_api_requests_total{name=\"PutObject\",type=\"s3\"} 3\nminio_api_requests_total{name=\"GetObject\",type=\"s3\"} 4\ngo_goroutines 9\n",
        );
        assert_eq!(m["minio_api_requests_total"], 7.0);
        assert_eq!(m["minio_api_requests_total:GetObject"], 4.0);
        assert!(!m.contains_key("go_goroutines"));
    }
}
