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
        lines.push((
            "Server header".into(),
            self.server_header
                .clone()
                .unwrap_or_else(|| "none sent".into()),
        ));
        lines
    }
}
