//! Acceptance criteria evaluated on one profile's merged results.

use std::collections::BTreeMap;

use crate::results::{CriterionResult, Evidence, WorkloadResult};
use crate::scenario::{Metric, Scenario};

pub fn evaluate(
    scenario: &Scenario,
    workloads: &[WorkloadResult],
    server: &BTreeMap<String, Evidence>,
) -> Vec<CriterionResult> {
    scenario
        .criteria
        .iter()
        .map(|c| {
            let w = workloads.iter().find(|w| w.workload == c.workload);
            let value = w.and_then(|w| {
                let (lat, ops, errors, tput, recall, tolerant, bytes) = match &c.op {
                    Some(op) => {
                        let o = w.operations.iter().find(|o| &o.op == op)?;
                        (
                            o.latency_ms,
                            o.ops,
                            o.errors,
                            o.throughput_ops_s,
                            o.recall_at_k,
                            o.recall_at_k_tolerant,
                            o.bytes_per_s,
                        )
                    }
                    None => (
                        w.latency_ms,
                        w.ops,
                        w.errors,
                        w.throughput_ops_s,
                        w.recall_at_k,
                        w.recall_at_k_tolerant,
                        w.bytes_per_s,
                    ),
                };
                // A latency of nothing is not a pass.
                if ops == 0 && c.metric.is_latency() {
                    return None;
                }
                Some(match c.metric {
                    Metric::P50 => lat.p50,
                    Metric::P95 => lat.p95,
                    Metric::P99 => lat.p99,
                    Metric::P999 => lat.p999,
                    Metric::Max => lat.max,
                    Metric::Mean => lat.mean,
                    Metric::Throughput => tput,
                    Metric::ErrorRate => errors as f64 * 100.0 / (ops + errors).max(1) as f64,
                    // No recall measured (not a vector workload, or no queries) is no pass.
                    Metric::RecallAtK => recall?,
                    Metric::RecallAtKTolerant => tolerant?,
                    // No bytes moved is no value, so `> N MB/s` fails rather than passes.
                    Metric::BytesPerS => bytes? / 1e6,
                    // Not measured by this store (or not for this profile) is no pass.
                    Metric::IndexVectorsPerS => server.get(&w.target)?.index_vectors_per_s()?,
                })
            });
            CriterionResult {
                criterion: c.text.clone(),
                workload: c.workload.clone(),
                op: c.op.clone(),
                metric: c.metric.name().into(),
                unit: c.metric.unit().into(),
                threshold: c.threshold,
                passed: value.is_some_and(|v| c.comparison.holds(v, c.threshold)),
                value,
            }
        })
        .collect()
}
