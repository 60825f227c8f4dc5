//! Configuration checks: evaluated under every profile (after its workloads, while it is
//! applied) and by `tunebench check` on the servers as they are.

use std::collections::BTreeMap;

use super::session::Connected;
use crate::error::Result;
use crate::results::CheckResult;
use crate::scenario::{Dataset, Scenario};

/// `profile`: the measured profile whose evidence checks may read (None: `tunebench check`).
pub async fn evaluate(
    scenario: &Scenario,
    stores: &BTreeMap<String, Box<dyn Connected>>,
    profile: Option<&str>,
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
        let o = store.check(&c.kind, &datasets, profile).await?;
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
