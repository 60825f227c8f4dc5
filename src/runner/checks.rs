//! Configuration checks: evaluated under every profile (after its workloads, while it is
//! applied) and by `tunebench check` on the servers as they are.

use std::collections::BTreeMap;
use std::path::Path;

use super::session::{self, Connected};
use crate::Outcome;
use crate::error::{Error, Result, exit};
use crate::results::CheckResult;
use crate::scenario::{self, Dataset, Scenario};

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

/// `tunebench check`: connects to the targets the checks name and evaluates them as the
/// servers are now. Ratios that need measured phases are reported as not evaluated.
pub async fn check(path: &Path, json: Option<&Path>) -> Result<Outcome> {
    let scenario = scenario::load(path)?;
    if scenario.checks.is_empty() {
        return Err(Error::input(crate::error::InputIssue::new(
            path,
            "checks",
            "the scenario has no [[checks]]; add e.g. [[checks]] target = \"pg\" check = \"fk_indexes\"",
        )));
    }
    let mut stores = BTreeMap::new();
    for c in &scenario.checks {
        if !stores.contains_key(&c.target) {
            let t = &scenario.targets[&c.target];
            stores.insert(c.target.clone(), session::open(t, &scenario).await?);
        }
    }
    let results = evaluate(&scenario, &stores, None).await;
    for s in stores.values() {
        s.close().await;
    }
    let results = results?;
    if let Some(p) = json {
        std::fs::write(
            p,
            serde_json::to_string_pretty(&results).expect("serializes"),
        )
        .map_err(|e| Error::io(p, e))?;
    }
    let mut summary = String::from("| Check | Expected | Status | Found |\n|---|---|---|---|\n");
    for c in &results {
        let status = match c.status {
            crate::results::CheckStatus::Pass => "PASS",
            crate::results::CheckStatus::Fail => "FAIL",
            crate::results::CheckStatus::NotEvaluated => "not evaluated",
        };
        summary.push_str(&format!(
            "| {} | {} | {status} | {} |\n",
            c.check, c.expected, c.actual
        ));
        for d in &c.details {
            summary.push_str(&format!("|  |  |  | - {d} |\n"));
        }
    }
    let failed = results
        .iter()
        .filter(|c| c.status == crate::results::CheckStatus::Fail)
        .count();
    summary.push_str(&format!(
        "\n{} check(s): {} passed, {failed} failed, {} not evaluated",
        results.len(),
        results
            .iter()
            .filter(|c| c.status == crate::results::CheckStatus::Pass)
            .count(),
        results
            .iter()
            .filter(|c| c.status == crate::results::CheckStatus::NotEvaluated)
            .count()
    ));
    Ok(Outcome {
        exit_code: if failed > 0 {
            exit::CRITERIA_FAILED
        } else {
            exit::OK
        },
        results_path: json.map(Path::to_path_buf),
        report_path: None,
        summary,
    })
}
