//! Exports of a results file for existing tracking services.

use serde_json::{Map, Value, json};

use crate::results::Results;

/// Bencher Metric Format: `{ benchmark: { measure: { value, lower_value, upper_value } } }`.
/// One benchmark per scenario/profile/workload; latencies in milliseconds, throughput in
/// operations per second, the server's CPU per operation in microseconds (only when every
/// trial recorded it). Lower and upper values are the extremes over trials, when there are
/// several.
pub fn bencher_metric_format(r: &Results) -> Value {
    let scenario = r.scenario.name.as_str();
    let mut out = Map::new();
    for run in &r.runs {
        for w in &run.workloads {
            let mut measures = Map::new();
            type Pick = fn(&crate::results::TrialResult) -> Option<f64>;
            let entries: [(&str, Option<f64>, Pick); 5] = [
                ("latency-p50-ms", Some(w.latency_ms.p50), |t| {
                    Some(t.latency_ms.p50)
                }),
                ("latency-p95-ms", Some(w.latency_ms.p95), |t| {
                    Some(t.latency_ms.p95)
                }),
                ("latency-p99-ms", Some(w.latency_ms.p99), |t| {
                    Some(t.latency_ms.p99)
                }),
                ("throughput-ops-s", Some(w.throughput_ops_s), |t| {
                    Some(t.throughput_ops_s)
                }),
                (
                    "server-cpu-us-per-op",
                    w.harness.as_ref().and_then(|h| h.server_cpu_per_op_us),
                    |t| t.server_cpu_s.map(|s| s * 1e6 / t.ops.max(1) as f64),
                ),
            ];
            for (slug, value, pick) in entries {
                let trials: Option<Vec<f64>> = w.per_trial.iter().map(pick).collect();
                let (Some(value), Some(vals)) = (value, trials) else {
                    continue;
                };
                let mut m = json!({ "value": value });
                if vals.len() > 1 {
                    m["lower_value"] = json!(vals.iter().copied().fold(f64::INFINITY, f64::min));
                    m["upper_value"] =
                        json!(vals.iter().copied().fold(f64::NEG_INFINITY, f64::max));
                }
                measures.insert(slug.to_string(), m);
            }
            out.insert(
                format!("{scenario}/{}/{}", run.profile, w.workload),
                Value::Object(measures),
            );
        }
    }
    Value::Object(out)
}
