//! The markdown report: a tera template over a context built from results.json. The context
//! holds only what was measured (or computed by `compare`), never invented figures.

mod axes;
pub mod charts;
pub mod comparison;
pub mod html;
mod recursion;
pub mod sweeps;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::compare::{DeltaRow, before_after};
use crate::error::{Error, InputIssue, Result};
use crate::results::{
    CheckResult, CheckStatus, CriterionResult, IndexChange, PlanCapture, Results, SettingChange,
};

pub const DEFAULT_TEMPLATE: &str = include_str!("../../reports/default.md.tera");

/// The report's formats (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// report.md, linking the SVG charts under charts/.
    Md,
    /// report.html: one page, charts embedded, no other file or network needed.
    Html,
}

impl ReportFormat {
    pub fn file_name(self) -> &'static str {
        match self {
            ReportFormat::Md => "report.md",
            ReportFormat::Html => "report.html",
        }
    }
}

#[derive(Serialize)]
struct Context<'a> {
    results: &'a Results,
    scenario_name: String,
    profiles: Vec<&'a str>,
    before_profile: Option<&'a str>,
    after_profile: Option<&'a str>,
    stores: Vec<StoreRow>,
    deltas: Vec<DeltaRow>,
    /// Swept search parameters with their charts (written beside the report).
    sweeps: Vec<sweeps::Sweep>,
    /// Latency percentile spectrum per workload, every profile in one chart.
    latency_charts: Vec<charts::Chart>,
    /// S3 payload MB/s per measured second, per workload.
    throughput_charts: Vec<charts::Chart>,
    /// Latency per window (p50, p99, max) and ops/s per window, per workload.
    latency_over_time_charts: Vec<charts::Chart>,
    ops_over_time_charts: Vec<charts::Chart>,
    /// Payload MB/s per window, per workload that moved payloads.
    bytes_over_time_charts: Vec<charts::Chart>,
    noise: crate::gate::NoiseThresholds,
    indexes: Vec<IndexGroup<'a>>,
    settings: Vec<SettingGroup<'a>>,
    plan_changes: Vec<PlanChange<'a>>,
    criteria: Vec<CriterionRow<'a>>,
    final_failures: Vec<&'a CriterionResult>,
    /// Configuration checks, one row per check with its result under each profile.
    checks: Vec<CheckRow<'a>>,
    /// Checks that failed under the last profile.
    final_check_failures: Vec<&'a CheckResult>,
    worst_workloads: Vec<WorstRow>,
    /// Workloads that ran on data tunebench did not create (no dataset), with where their
    /// statements came from.
    existing_workloads: Vec<ExistingWorkload>,
    /// Their statements (as written, `$n` for values), before and after, worst first.
    existing_statements: Vec<StatementRow<'a>>,
    monitoring: Vec<MonitoringRow>,
    /// Recovery drills, one row per drill, profile and trial, figures formatted.
    drills: Vec<DrillRow<'a>>,
    /// Kinds of store in the run on which no drill ran ("not measured").
    drills_absent: Vec<&'static str>,
}

#[derive(Serialize)]
struct ExistingWorkload {
    workload: String,
    target: String,
    /// "captured" (a `tunebench capture` file) or "existing data".
    source: &'static str,
    /// What its ops run on: "tables", "graph", "bucket" or "collection".
    what: &'static str,
    description: String,
    definition_file: String,
}

#[derive(Serialize)]
struct StatementRow<'a> {
    workload: String,
    op: String,
    /// The statement on one line (whitespace collapsed); its values are `$n`, never literals.
    statement: String,
    before: &'a crate::metrics::LatencySummary,
    after: &'a crate::metrics::LatencySummary,
    after_profile: &'a str,
    /// Plan nodes joined with " > "; empty when not EXPLAINed (writes).
    plan_before: String,
    plan_after: String,
    plan_changed: bool,
}

#[derive(Serialize)]
struct DrillRow<'a> {
    profile: &'a str,
    drill: &'a str,
    target: &'a str,
    method: &'static str,
    trial: u32,
    how: &'a str,
    backup: String,
    backup_size: String,
    source_size: String,
    /// Source size over backup size, e.g. "3.2x" ("-" when either is unknown).
    ratio: String,
    restore: String,
    rto: String,
    rpo: String,
    /// "ok", "DIFFERS" or "not compared".
    integrity: &'static str,
    compared: &'a str,
    differences: Vec<String>,
    failure: Option<&'a str>,
    injected: bool,
    cleaned_up: bool,
    passed: bool,
    /// The first row of its drill (the report says how it was taken there).
    first: bool,
    /// PITR: the WAL the restore replayed and its rate.
    replay: Option<String>,
}

/// "N MiB of WAL replayed (start to end), promoted at X: M MiB/s over the whole restore
/// step" for a PITR drill whose restore completed.
fn replay(d: &crate::backend::drill::DrillReport) -> Option<String> {
    use crate::backend::drill::{DrillMethod, human_bytes};
    if d.method != DrillMethod::Pitr {
        return None;
    }
    let s = d.steps.iter().find(|s| s.step == "restore" && s.ok)?;
    let bytes = s.bytes?;
    let rate = if s.seconds > 0.0 {
        format!(
            "{}/s over the whole restore step ({:.2} s, unpacking and start included)",
            human_bytes((bytes as f64 / s.seconds) as u64),
            s.seconds
        )
    } else {
        "no rate (the step took no measurable time)".into()
    };
    Some(format!("restore: {}; {rate}", s.detail))
}

fn drill_rows(results: &Results) -> (Vec<DrillRow<'_>>, Vec<&'static str>) {
    use crate::backend::drill::{Verdict, human_bytes};
    let secs = |s: Option<f64>| s.map_or("-".to_string(), |s| format!("{s:.2} s"));
    let mut rows = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for run in &results.runs {
        for d in &run.drills {
            let mut differences = d.integrity.differences.clone();
            if d.integrity.more_differences > 0 {
                differences.push(format!("... and {} more", d.integrity.more_differences));
            }
            rows.push(DrillRow {
                profile: &run.profile,
                drill: &d.drill,
                target: &d.target,
                method: d.method.name(),
                trial: d.trial,
                how: &d.how,
                backup: secs(d.backup_s),
                backup_size: d.backup_bytes.map_or("-".into(), human_bytes),
                source_size: d.source_bytes.map_or("-".into(), human_bytes),
                ratio: match (d.source_bytes, d.backup_bytes) {
                    (Some(s), Some(b)) if b > 0 => format!("{:.1}x", s as f64 / b as f64),
                    _ => "-".into(),
                },
                restore: secs(d.restore_s),
                rto: secs(d.rto_s),
                rpo: match (d.rpo_s, d.rpo_rows) {
                    (Some(s), Some(r)) => format!("{s:.2} s ({r} rows)"),
                    (Some(s), None) => format!("{s:.2} s"),
                    (None, Some(r)) => format!("{r} rows"),
                    (None, None) => "not measured (no writer)".into(),
                },
                integrity: match d.integrity.verdict {
                    Verdict::Ok => "ok",
                    Verdict::Differs => "DIFFERS",
                    Verdict::NotCompared => "not compared",
                },
                compared: &d.integrity.compared,
                differences,
                failure: d.failure.as_deref(),
                injected: d.injected.is_some(),
                cleaned_up: d.cleaned_up,
                passed: d.passed(),
                first: seen.insert(d.drill.as_str()),
                replay: replay(d),
            });
        }
    }
    let drilled: std::collections::BTreeSet<&str> = results
        .runs
        .iter()
        .flat_map(|r| r.drills.iter())
        .filter_map(|d| results.environment.targets.get(&d.target))
        .map(|t| t.kind.as_str())
        .collect();
    let absent = crate::backend::TargetKind::ALL
        .iter()
        .filter(|k| {
            results
                .environment
                .targets
                .values()
                .any(|t| t.kind == k.name())
                && !drilled.contains(k.name())
        })
        .map(|k| k.label())
        .collect();
    (rows, absent)
}

#[derive(Serialize)]
struct StoreRow {
    store: &'static str,
    measured: bool,
    targets: Vec<String>,
}

#[derive(Serialize)]
struct IndexGroup<'a> {
    profile: &'a str,
    target: &'a str,
    count: usize,
    indexes: &'a [IndexChange],
}

#[derive(Serialize)]
struct SettingGroup<'a> {
    profile: &'a str,
    target: &'a str,
    restarted: bool,
    settings: &'a [SettingChange],
}

#[derive(Serialize)]
struct PlanChange<'a> {
    workload: &'a str,
    op: &'a str,
    before: &'a PlanCapture,
    after: &'a PlanCapture,
    after_profile: &'a str,
    changed: bool,
}

#[derive(Serialize)]
struct CriterionRow<'a> {
    criterion: &'a str,
    per_profile: Vec<&'a CriterionResult>,
}

#[derive(Serialize)]
struct CheckRow<'a> {
    check: &'a str,
    expected: &'a str,
    /// (profile, result) for each profile the check ran under.
    per_profile: Vec<(&'a str, &'a CheckResult)>,
}

#[derive(Serialize)]
struct WorstRow {
    workload: String,
    target: String,
    p99_ms: f64,
}

#[derive(Serialize)]
struct MonitoringRow {
    profile: String,
    target: String,
    metric: String,
    value: String,
}

/// The report as markdown (the charts it links are not written; see [`write`]).
pub fn render(results: &Results, template: Option<&Path>) -> Result<String> {
    let charts = Charts::collect(results)?;
    render_with(results, template, &charts).map(|(_, text)| text)
}

/// Renders the report once and writes it to each `(format, path)`, with the charts it links
/// beside each path (`charts/` and the sweep charts). Nothing is written when the template
/// fails, so a bad template leaves no half-made report.
pub fn write(
    results: &Results,
    template: Option<&Path>,
    outputs: &[(ReportFormat, &Path)],
) -> Result<()> {
    let charts = Charts::collect(results)?;
    let (source, markdown) = render_with(results, template, &charts)?;
    let sweeps = sweeps::collect(results);
    let title = format!("Database optimization report: {}", scenario_name(results));
    let mut chart_dirs: Vec<&Path> = Vec::new();
    for (format, out) in outputs {
        let dir = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !chart_dirs.contains(&dir) {
            charts::write(&charts.latency, dir)?;
            charts::write(&charts.throughput, dir)?;
            charts::write(&charts.latency_over_time, dir)?;
            charts::write(&charts.ops_over_time, dir)?;
            charts::write(&charts.bytes_over_time, dir)?;
            sweeps::write_charts(&sweeps, dir)?;
            chart_dirs.push(dir);
        }
        let text = match format {
            ReportFormat::Md => markdown.clone(),
            ReportFormat::Html => html::page(&markdown, dir, &title, &source)?,
        };
        std::fs::write(out, text).map_err(|e| Error::io(out, e))?;
    }
    Ok(())
}

struct Charts {
    latency: Vec<charts::Chart>,
    throughput: Vec<charts::Chart>,
    latency_over_time: Vec<charts::Chart>,
    ops_over_time: Vec<charts::Chart>,
    bytes_over_time: Vec<charts::Chart>,
}

impl Charts {
    fn collect(results: &Results) -> Result<Self> {
        let over = charts::over_time(results)?;
        Ok(Charts {
            latency: charts::latency(results)?,
            throughput: charts::throughput(results),
            latency_over_time: over.latency,
            ops_over_time: over.ops,
            bytes_over_time: over.bytes,
        })
    }
}

/// (template name, rendered markdown).
fn render_with(
    results: &Results,
    template: Option<&Path>,
    charts: &Charts,
) -> Result<(String, String)> {
    let (name, text) = match template {
        Some(p) => (
            p.display().to_string(),
            std::fs::read_to_string(p).map_err(|e| {
                Error::input(InputIssue::new(p, "", format!("cannot read template: {e}")))
            })?,
        ),
        None => (
            "reports/default.md.tera".to_string(),
            DEFAULT_TEMPLATE.to_string(),
        ),
    };
    if let Some(why) = recursion::problem(&name, &text) {
        return Err(Error::input(InputIssue::new(&name, "", why)));
    }
    let mut tera = tera::Tera::default();
    tera.add_raw_template(&name, &text).map_err(|e| {
        Error::input(InputIssue::new(
            &name,
            "",
            format!("template does not parse: {}", chain(&e)),
        ))
    })?;
    let ctx = tera::Context::from_serialize(context(results, charts))
        .map_err(|e| Error::input(InputIssue::new(&name, "", chain(&e))))?;
    let text = tera.render(&name, &ctx).map_err(|e| {
        Error::input(InputIssue::new(
            &name,
            "",
            format!("template does not render: {}", chain(&e)),
        ))
    })?;
    Ok((name, text))
}

fn scenario_name(results: &Results) -> String {
    match results.scenario.name.as_str() {
        "" => "(unnamed)".to_string(),
        name => name.to_string(),
    }
}

/// Checks a user template parses before a long run starts.
pub fn check_template(path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::input(InputIssue::new(
            path,
            "",
            format!("cannot read template: {e}"),
        ))
    })?;
    if let Some(why) = recursion::problem(&path.display().to_string(), &text) {
        return Err(Error::input(InputIssue::new(path, "", why)));
    }
    tera::Tera::default()
        .add_raw_template("check", &text)
        .map_err(|e| {
            Error::input(InputIssue::new(
                path,
                "",
                format!("template does not parse: {}", chain(&e)),
            ))
        })
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The noise thresholds the run was configured with (defaults for older files).
fn gate_noise(results: &Results) -> crate::gate::NoiseThresholds {
    results.scenario.gate.noise.clone()
}

fn gate_bootstrap(results: &Results) -> crate::stats::BootstrapConfig {
    crate::stats::BootstrapConfig {
        confidence: results.scenario.gate.confidence,
        ..Default::default()
    }
}

/// The workloads that ran on data tunebench did not create (a statement store's workload
/// with no dataset), and their statements before (first profile) and after (last profile),
/// the slowest p99 after first.
fn existing(results: &Results) -> (Vec<ExistingWorkload>, Vec<StatementRow<'_>>) {
    let mut workloads = Vec::new();
    let mut rows = Vec::new();
    let (Some(first), Some(last)) = (results.runs.first(), results.runs.last()) else {
        return (workloads, rows);
    };
    for w in &results.scenario.workloads {
        let field = |k: &str| w.rest.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        let target = field("target");
        let what = match results
            .environment
            .targets
            .get(target)
            .map(|t| t.kind.as_str())
        {
            Some("postgres") => "tables",
            Some("neo4j") => "graph",
            Some("s3") => "bucket",
            Some("qdrant") => "collection",
            _ => continue,
        };
        if w.rest.get("dataset").is_some_and(|d| !d.is_null()) {
            continue;
        }
        let description = field("description").to_string();
        workloads.push(ExistingWorkload {
            workload: w.name.clone(),
            target: target.to_string(),
            source: if description.contains("captured from") {
                "captured"
            } else {
                "existing data"
            },
            what,
            description,
            definition_file: field("definition_file").to_string(),
        });
        let ops = w.rest.get("ops").and_then(|o| o.as_array());
        for op in ops.into_iter().flatten() {
            let name = op["name"].as_str().unwrap_or_default();
            let def = &op["def"];
            let Some(text) = def["sql"].as_str().or(def["cypher"].as_str()) else {
                continue;
            };
            fn result<'r>(
                run: &'r crate::results::ProfileRun,
                workload: &str,
                op: &str,
            ) -> Option<&'r crate::metrics::LatencySummary> {
                run.workloads
                    .iter()
                    .find(|r| r.workload == workload)
                    .and_then(|r| r.operations.iter().find(|o| o.op == op))
                    .map(|o| &o.latency_ms)
            }
            let plan = |run: &crate::results::ProfileRun| {
                run.server
                    .get(target)
                    .and_then(|ev| {
                        ev.plans()
                            .iter()
                            .find(|p| p.workload == w.name && p.op == name)
                    })
                    .map(|p| p.nodes.join(" > "))
                    .unwrap_or_default()
            };
            let (Some(before), Some(after)) =
                (result(first, &w.name, name), result(last, &w.name, name))
            else {
                continue;
            };
            let (plan_before, plan_after) = (plan(first), plan(last));
            rows.push(StatementRow {
                workload: w.name.clone(),
                op: name.to_string(),
                statement: text.split_whitespace().collect::<Vec<_>>().join(" "),
                before,
                after,
                after_profile: &last.profile,
                plan_changed: plan_before != plan_after,
                plan_before,
                plan_after,
            });
        }
    }
    rows.sort_by(|a, b| b.after.p99.total_cmp(&a.after.p99));
    (workloads, rows)
}

fn context<'a>(results: &'a Results, charts: &Charts) -> Context<'a> {
    let runs = &results.runs;
    let profiles: Vec<&str> = runs.iter().map(|r| r.profile.as_str()).collect();
    let kinds: BTreeMap<&str, Vec<String>> =
        results
            .environment
            .targets
            .iter()
            .fold(BTreeMap::new(), |mut m, (name, t)| {
                m.entry(t.kind.as_str())
                    .or_insert_with(Vec::new)
                    .push(name.clone());
                m
            });
    let stores = crate::backend::TargetKind::ALL
        .iter()
        .filter(|k| k.listed_when_absent() || kinds.contains_key(k.name()))
        .map(|k| StoreRow {
            store: k.label(),
            measured: kinds.contains_key(k.name()),
            targets: kinds.get(k.name()).cloned().unwrap_or_default(),
        })
        .collect();

    let mut indexes = Vec::new();
    let mut settings = Vec::new();
    for run in runs {
        for c in &run.changes {
            if !c.indexes.is_empty() {
                indexes.push(IndexGroup {
                    profile: &run.profile,
                    target: &c.target,
                    count: c.indexes.iter().filter(|i| i.created).count(),
                    indexes: &c.indexes,
                });
            }
            if !c.settings.is_empty() {
                settings.push(SettingGroup {
                    profile: &run.profile,
                    target: &c.target,
                    restarted: c.restarted,
                    settings: &c.settings,
                });
            }
        }
    }

    let mut plan_changes = Vec::new();
    if let Some((first, rest)) = runs.split_first() {
        for after in rest {
            for (target, ev) in &first.server {
                let Some(ev_after) = after.server.get(target) else {
                    continue;
                };
                for b in ev.plans() {
                    if let Some(a) = ev_after
                        .plans()
                        .iter()
                        .find(|p| p.workload == b.workload && p.op == b.op)
                    {
                        plan_changes.push(PlanChange {
                            workload: &b.workload,
                            op: &b.op,
                            before: b,
                            after: a,
                            after_profile: &after.profile,
                            changed: a.nodes != b.nodes,
                        });
                    }
                }
            }
        }
    }

    let mut criteria: Vec<CriterionRow> = Vec::new();
    for run in runs {
        for c in &run.criteria {
            match criteria.iter_mut().find(|r| r.criterion == c.criterion) {
                Some(row) => row.per_profile.push(c),
                None => criteria.push(CriterionRow {
                    criterion: &c.criterion,
                    per_profile: vec![c],
                }),
            }
        }
    }
    let final_failures = runs
        .last()
        .map(|r| r.criteria.iter().filter(|c| !c.passed).collect())
        .unwrap_or_default();
    let mut checks: Vec<CheckRow> = Vec::new();
    for run in runs {
        for c in &run.checks {
            match checks.iter_mut().find(|r| r.check == c.check) {
                Some(row) => row.per_profile.push((&run.profile, c)),
                None => checks.push(CheckRow {
                    check: &c.check,
                    expected: &c.expected,
                    per_profile: vec![(&run.profile, c)],
                }),
            }
        }
    }
    let final_check_failures = runs
        .last()
        .map(|r| {
            r.checks
                .iter()
                .filter(|c| c.status == CheckStatus::Fail)
                .collect()
        })
        .unwrap_or_default();
    let mut worst_workloads: Vec<WorstRow> = runs
        .last()
        .map(|r| {
            r.workloads
                .iter()
                .map(|w| WorstRow {
                    workload: w.workload.clone(),
                    target: w.target.clone(),
                    p99_ms: w.latency_ms.p99,
                })
                .collect()
        })
        .unwrap_or_default();
    worst_workloads.sort_by(|a, b| b.p99_ms.total_cmp(&a.p99_ms));
    worst_workloads.truncate(3);
    let (existing_workloads, existing_statements) = existing(results);

    let monitoring = runs
        .iter()
        .flat_map(|r| {
            r.server.iter().flat_map(|(target, ev)| {
                ev.monitoring()
                    .into_iter()
                    .map(|(metric, value)| MonitoringRow {
                        profile: r.profile.clone(),
                        target: target.clone(),
                        metric,
                        value,
                    })
            })
        })
        .collect();

    let (drills, drills_absent) = drill_rows(results);
    Context {
        drills,
        drills_absent,
        scenario_name: scenario_name(results),
        before_profile: profiles.first().copied(),
        after_profile: profiles.last().copied().filter(|_| profiles.len() > 1),
        profiles,
        stores,
        deltas: before_after(
            runs,
            &crate::gate::Settings {
                host_check: results.scenario.gate.host_check,
                interleaved: results.trials_interleaved(),
                ..crate::gate::Settings::configured(
                    gate_noise(results),
                    gate_bootstrap(results),
                    results.environment.host.cores.max(1),
                )
            },
        ),
        sweeps: sweeps::collect(results),
        latency_charts: charts.latency.clone(),
        throughput_charts: charts.throughput.clone(),
        latency_over_time_charts: charts.latency_over_time.clone(),
        ops_over_time_charts: charts.ops_over_time.clone(),
        bytes_over_time_charts: charts.bytes_over_time.clone(),
        noise: gate_noise(results),
        indexes,
        settings,
        plan_changes,
        criteria,
        final_failures,
        checks,
        final_check_failures,
        worst_workloads,
        existing_workloads,
        existing_statements,
        monitoring,
        results,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/report-template.md documents the context field by field: a field added here
    /// without a line there fails this test.
    #[test]
    fn every_context_field_is_documented() {
        let doc = include_str!("../../docs/report-template.md");
        let mut checked = 0;
        for fixture in [
            "results-small.json",
            "results-s3.json",
            "results-qdrant-server.json",
        ] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(fixture);
            let results = Results::read(&path).expect("fixture reads");
            let charts = Charts::collect(&results).expect("fixture histograms decode");
            let ctx = serde_json::to_value(context(&results, &charts)).expect("serializes");
            for (key, value) in ctx.as_object().expect("context is an object") {
                assert!(
                    doc.contains(&format!("| `{key}` |")),
                    "context field `{key}` is not in the table of docs/report-template.md"
                );
                checked += 1;
                if key == "results" {
                    continue; // documented by schemas/results.schema.json and the doc's summary
                }
                let first = value.as_array().and_then(|a| a.first()).unwrap_or(value);
                for nested in first.as_object().into_iter().flat_map(|o| o.keys()) {
                    assert!(
                        doc.contains(&format!("`{nested}`")),
                        "field `{key}[].{nested}` is not documented in docs/report-template.md"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 40, "only {checked} fields checked");
    }
}
