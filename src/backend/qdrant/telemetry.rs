//! A Qdrant server's own view of a run, from its REST telemetry (`GET /telemetry?details_level=4
//! &per_collection=true`): the gRPC requests it served for the collection with its own
//! timings, the searches its segments ran (by index path: HNSW, plain, payload-index
//! filtered...), the collection's size estimates and the process's memory as its allocator
//! reports it. gRPC has no telemetry call, hence the REST URL.
//!
//! Counters are read before and after each trial; the evidence holds the difference (what the
//! measured operations did on the server), never the server's lifetime totals.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The server's timing of one kind of request or search, over the measured trials.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTiming {
    pub count: u64,
    /// Mean duration in µs as the server measured it (total / count); null when count is 0.
    pub mean_us: Option<f64>,
    /// Requests the server counted as failed (gRPC status other than OK).
    #[serde(default)]
    pub failed: u64,
}

/// What a Qdrant server reported about the collection during a profile's trials.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerView {
    /// The telemetry endpoint read (no credentials).
    pub source: String,
    /// Why the telemetry could not be read (then the other fields are empty).
    pub error: Option<String>,
    /// gRPC requests on the collection during the trials, by method (e.g.
    /// `/qdrant.Points/Search`), timed by the server.
    pub requests: BTreeMap<String, ServerTiming>,
    /// Vector-index searches in the collection's segments during the trials, by path:
    /// `unfiltered_hnsw`, `filtered_small_cardinality` (payload index, no graph),
    /// `unfiltered_plain` (brute force), ... One request searches every segment.
    pub index_searches: BTreeMap<String, ServerTiming>,
    /// The server's estimates of the collection's vector and payload bytes.
    pub vectors_size_bytes: Option<u64>,
    pub payloads_size_bytes: Option<u64>,
    /// The server process's heap, as its allocator (jemalloc) reports it after the last
    /// trial: bytes allocated, and bytes in resident pages. Memory-mapped files (vectors and
    /// graphs on disk) are not in these; the process serves every collection.
    pub memory_allocated_bytes: Option<u64>,
    pub memory_resident_bytes: Option<u64>,
}

/// Counters read at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// (count, total µs, failed) by gRPC method.
    requests: BTreeMap<String, (u64, u64, u64)>,
    /// (count, total µs) by index search path, summed over segments.
    index_searches: BTreeMap<String, (u64, u64)>,
    vectors_size_bytes: Option<u64>,
    payloads_size_bytes: Option<u64>,
    memory_allocated_bytes: Option<u64>,
    memory_resident_bytes: Option<u64>,
}

/// A reader of one server's telemetry.
#[derive(Clone)]
pub struct Telemetry {
    client: reqwest::Client,
    endpoint: String,
    api_key: Option<String>,
}

/// The REST URL to read: the configured one, or the gRPC URL's host on port 6333 when the
/// gRPC URL uses Qdrant's default 6334 (the pair every Qdrant install and docker-compose.yml
/// use). None when neither applies.
pub fn rest_url(grpc_url: &str, configured: Option<&str>) -> Option<String> {
    if let Some(u) = configured {
        return Some(u.trim_end_matches('/').to_string());
    }
    let base = grpc_url.trim_end_matches('/');
    base.strip_suffix(":6334")
        .map(|host| format!("{host}:6333"))
}

impl Telemetry {
    pub fn new(rest_url: &str, api_key: Option<String>, timeout: Duration) -> Result<Self, String> {
        // reqwest is built without a crypto provider of its own: the same ring provider as
        // the other stores (an error only means one is set already).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .no_proxy()
            .build()
            .map_err(|e| format!("telemetry client: {e}"))?;
        Ok(Telemetry {
            client,
            endpoint: format!("{rest_url}/telemetry?details_level=4&per_collection=true"),
            api_key,
        })
    }

    /// The endpoint as shown in results.
    pub fn source(&self) -> String {
        crate::secrets::redact_url(&self.endpoint)
    }

    /// The counters for `collection` now.
    pub async fn read(&self, collection: &str) -> Result<Counters, String> {
        let mut req = self.client.get(&self.endpoint);
        if let Some(k) = &self.api_key {
            req = req.header("api-key", k);
        }
        let reply = req.send().await.map_err(|e| {
            format!(
                "GET {}: {}",
                self.source(),
                crate::secrets::scrub(&e.to_string())
            )
        })?;
        let status = reply.status();
        if !status.is_success() {
            return Err(format!("GET {}: HTTP {status}", self.source()));
        }
        let bytes = reply
            .bytes()
            .await
            .map_err(|e| format!("GET {}: {e}", self.source()))?;
        let body: Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("GET {}: not JSON: {e}", self.source()))?;
        Ok(parse(&body, collection))
    }
}

fn u64_at(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

/// Reads the counters of `collection` from a `/telemetry` reply. Missing parts (another
/// server version, a collection not yet created) read as absent, not as an error.
pub fn parse(body: &Value, collection: &str) -> Counters {
    let result = body.get("result").unwrap_or(body);
    let mut c = Counters::default();
    if let Some(mem) = result.get("memory") {
        c.memory_allocated_bytes = u64_at(mem, "allocated_bytes");
        c.memory_resident_bytes = u64_at(mem, "resident_bytes");
    }
    // requests.grpc.per_collection_responses[collection][method][status] = statistics
    if let Some(methods) = result
        .pointer("/requests/grpc/per_collection_responses")
        .and_then(|p| p.get(collection))
        .and_then(Value::as_object)
    {
        for (method, by_status) in methods {
            let entry = c.requests.entry(method.clone()).or_default();
            for (status, stats) in by_status.as_object().into_iter().flatten() {
                let n = u64_at(stats, "count").unwrap_or(0);
                entry.0 += n;
                entry.1 += u64_at(stats, "total_duration_micros").unwrap_or(0);
                entry.2 += u64_at(stats, "fail_count").unwrap_or(0);
                if status != "0" {
                    entry.2 += n;
                }
            }
        }
    }
    let shards = result
        .pointer("/collections/collections")
        .and_then(Value::as_array)
        .and_then(|all| {
            all.iter()
                .find(|col| col.get("id").and_then(Value::as_str) == Some(collection))
        })
        .and_then(|col| col.get("shards"))
        .and_then(Value::as_array);
    for local in shards.into_iter().flatten().filter_map(|s| s.get("local")) {
        for (field, slot) in [
            ("vectors_size_bytes", &mut c.vectors_size_bytes),
            ("payloads_size_bytes", &mut c.payloads_size_bytes),
        ] {
            if let Some(n) = u64_at(local, field) {
                *slot = Some(slot.unwrap_or(0) + n);
            }
        }
        let segments = local.get("segments").and_then(Value::as_array);
        for seg in segments.into_iter().flatten() {
            let searches = seg.get("vector_index_searches").and_then(Value::as_array);
            for index in searches.into_iter().flatten() {
                for (path, stats) in index.as_object().into_iter().flatten() {
                    let Some(n) = u64_at(stats, "count") else {
                        continue; // index_name and other non-statistics fields
                    };
                    let e = c.index_searches.entry(path.clone()).or_default();
                    e.0 += n;
                    e.1 += u64_at(stats, "total_duration_micros").unwrap_or(0);
                }
            }
        }
    }
    c
}

impl ServerTiming {
    /// Adds `count` more, taking `total_us` together (the mean stays exact).
    fn add(&mut self, count: u64, total_us: u64, failed: u64) {
        if count == 0 {
            return;
        }
        let total = self.mean_us.unwrap_or(0.0) * self.count as f64 + total_us as f64;
        self.count += count;
        self.failed += failed;
        self.mean_us = Some(total / self.count as f64);
    }
}

impl ServerView {
    /// Adds what happened between `before` and `after` (one trial). Segment counters can go
    /// down when the optimizer replaces a segment mid-trial; such a path counts from zero.
    pub fn add(&mut self, after: &Counters, before: &Counters) {
        for (method, &(n, us, failed)) in &after.requests {
            let (n0, us0, f0) = before.requests.get(method).copied().unwrap_or_default();
            if n > n0 {
                self.requests.entry(method.clone()).or_default().add(
                    n - n0,
                    us.saturating_sub(us0),
                    failed.saturating_sub(f0),
                );
            }
        }
        for (path, &(n, us)) in &after.index_searches {
            let (n0, us0) = before.index_searches.get(path).copied().unwrap_or_default();
            let (dn, dus) = if n >= n0 {
                (n - n0, us.saturating_sub(us0))
            } else {
                (n, us)
            };
            if dn > 0 {
                self.index_searches
                    .entry(path.clone())
                    .or_default()
                    .add(dn, dus, 0);
            }
        }
        self.vectors_size_bytes = after.vectors_size_bytes.or(self.vectors_size_bytes);
        self.payloads_size_bytes = after.payloads_size_bytes.or(self.payloads_size_bytes);
        self.memory_allocated_bytes = after.memory_allocated_bytes.or(self.memory_allocated_bytes);
        self.memory_resident_bytes = after.memory_resident_bytes.or(self.memory_resident_bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(search: (u64, u64), hnsw: (u64, u64), fails: u64) -> Value {
        json!({"result": {
            "memory": {"allocated_bytes": 1000, "resident_bytes": 2000, "active_bytes": 1},
            "requests": {"grpc": {"responses": {}, "per_collection_responses": {
                "tunebench_a": {"/qdrant.Points/Search": {
                    "0": {"count": search.0, "total_duration_micros": search.1},
                    "4": {"count": fails, "total_duration_micros": 0}
                }},
                "other": {"/qdrant.Points/Search": {"0": {"count": 999, "total_duration_micros": 9}}}
            }}},
            "collections": {"collections": [
                {"id": "other", "shards": [{"local": {"vectors_size_bytes": 5}}]},
                {"id": "tunebench_a", "shards": [{"local": {
                    "vectors_size_bytes": 1536, "payloads_size_bytes": 64,
                    "segments": [
                        {"vector_index_searches": [{"index_name": "", "unfiltered_hnsw":
                            {"count": hnsw.0, "total_duration_micros": hnsw.1},
                            "filtered_plain": {"count": 0}}]},
                        {"vector_index_searches": [{"unfiltered_hnsw":
                            {"count": 1, "total_duration_micros": 10}}]}
                    ]}}]}
            ]}
        }})
    }

    #[test]
    fn counters_are_the_collections_own() {
        let c = parse(&reply((10, 500), (20, 300), 2), "tunebench_a");
        assert_eq!(c.requests["/qdrant.Points/Search"], (12, 500, 2));
        assert_eq!(c.index_searches["unfiltered_hnsw"], (21, 310));
        assert_eq!(c.index_searches["filtered_plain"], (0, 0));
        assert!(!c.index_searches.contains_key("index_name"));
        assert_eq!(c.vectors_size_bytes, Some(1536));
        assert_eq!(c.memory_resident_bytes, Some(2000));
        assert_eq!(parse(&json!({}), "tunebench_a"), Counters::default());
    }

    #[test]
    fn the_view_holds_the_trials_differences_not_the_lifetime_totals() {
        let mut v = ServerView::default();
        let t0 = parse(&reply((100, 10_000), (100, 5_000), 0), "tunebench_a");
        let t1 = parse(&reply((110, 10_500), (120, 5_300), 1), "tunebench_a");
        let t2 = parse(&reply((130, 12_500), (120, 5_300), 1), "tunebench_a");
        v.add(&t1, &t0);
        v.add(&t2, &t1);
        let s = v.requests["/qdrant.Points/Search"];
        assert_eq!((s.count, s.failed), (31, 1));
        assert_eq!(s.mean_us, Some(2500.0 / 31.0));
        assert_eq!(v.index_searches["unfiltered_hnsw"].count, 20);
        assert_eq!(v.index_searches["unfiltered_hnsw"].mean_us, Some(15.0));
        assert!(!v.index_searches.contains_key("filtered_plain"));
    }

    #[test]
    fn the_rest_url_is_configured_or_qdrants_default_pair() {
        assert_eq!(
            rest_url("http://127.0.0.1:6334", None).as_deref(),
            Some("http://127.0.0.1:6333")
        );
        assert_eq!(rest_url("http://h:7000", None), None);
        assert_eq!(
            rest_url("http://h:7000", Some("http://h:7001/")).as_deref(),
            Some("http://h:7001")
        );
    }
}
