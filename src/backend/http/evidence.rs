//! Evidence of an HTTP target: the responses' status codes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What an HTTP endpoint answered during the measured phases (warm-up excluded). Minimal on
/// purpose: an application's endpoint exposes no server counters tunebench could trust.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HttpEvidence {
    /// Responses per workload, op and status code (wrong statuses are also counted as errors).
    pub statuses: Vec<StatusCount>,
    /// The `Server` response header, as first seen; None when the endpoint sends none.
    pub server_header: Option<String>,
    /// goose workloads: goose's own figures beside tunebench's, per step and trial.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub goose: Vec<super::attack::GooseFigures>,
    /// goose workloads: journey times (steps and think time), trials merged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub journeys: Vec<super::attack::JourneyTimes>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StatusCount {
    pub workload: String,
    pub op: String,
    pub status: u16,
    pub count: u64,
}

impl crate::backend::evidence::StoreEvidence for HttpEvidence {
    fn monitoring(&self) -> Vec<(String, String)> {
        let mut by_op: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
        for s in &self.statuses {
            by_op
                .entry((&s.workload, &s.op))
                .or_default()
                .push(format!("{} x{}", s.status, s.count));
        }
        let mut lines: Vec<(String, String)> = by_op
            .into_iter()
            .map(|((w, op), counts)| (format!("HTTP statuses, {w}.{op}"), counts.join(", ")))
            .collect();
        for j in &self.journeys {
            lines.push((
                format!("Journey time, {}.{}", j.workload, j.journey),
                format!(
                    "{} iterations, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms (steps and think time, from goose's scenario log)",
                    j.iterations, j.time.p50, j.time.p95, j.time.p99
                ),
            ));
        }
        for g in &self.goose {
            let adjusted = g.goose_adjusted.map_or(String::new(), |a| {
                format!(
                    "; CO-adjusted p50/p95/p99 {:.3}/{:.3}/{:.3} ms",
                    a.p50, a.p95, a.p99
                )
            });
            lines.push((
                format!("goose vs tunebench, {}.{}", g.workload, g.op),
                format!(
                    "{} requests; goose p50/p95/p99 {:.3}/{:.3}/{:.3} ms, tunebench {:.3}/{:.3}/{:.3} ms{adjusted}; {}",
                    g.requests,
                    g.goose_raw.p50,
                    g.goose_raw.p95,
                    g.goose_raw.p99,
                    g.tunebench.p50,
                    g.tunebench.p95,
                    g.tunebench.p99,
                    if g.differs.is_empty() {
                        "agree within 1 %".to_string()
                    } else {
                        format!("DIFFER: {}", g.differs.join("; "))
                    }
                ),
            ));
        }
        lines.push((
            "Server header".into(),
            self.server_header
                .clone()
                .unwrap_or_else(|| "none sent".into()),
        ));
        lines
    }
}
