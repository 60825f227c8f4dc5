//! Configuration checks: evaluated under every profile (after its workloads, while it is
//! applied) and by `tunebench check` on the servers as they are.

use std::collections::BTreeMap;

use super::stores::AnyStore;
use crate::error::Result;
use crate::results::{CheckResult, Evidence};
use crate::scenario::{Dataset, Scenario};

pub async fn evaluate(
    scenario: &Scenario,
    stores: &BTreeMap<String, AnyStore>,
    evidence: Option<&BTreeMap<String, Evidence>>,
) -> Result<Vec<CheckResult>> {
    let mut out = Vec::new();
    for c in &scenario.checks {
        let Some(store) = stores.get(&c.target) else {
            continue;
        };
        let datasets: Vec<&Dataset> = scenario
            .datasets
            .values()
            .filter(|d| d.target == c.target)
            .collect();
        let ev = evidence.and_then(|e| e.get(&c.target));
        let o = store.check(&c.kind, &datasets, ev).await?;
        out.push(CheckResult {
            target: c.target.clone(),
            check: c.text.clone(),
            expected: c.kind.expected(),
            status: o.status,
            actual: o.actual,
            details: o.details,
        });
    }
    Ok(out)
}
