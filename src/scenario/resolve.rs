//! Turning a parsed scenario file into a [`Scenario`]: every reference followed, every value
//! checked, and every problem collected (with its file, line and field) rather than stopping at
//! the first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::*;
use crate::error::{Error, InputIssue};
use crate::source::interpolate;

pub(super) fn resolve(
    src: &SourceFile,
    file: ScenarioFile,
    issues: &mut Vec<InputIssue>,
) -> Scenario {
    if file.name.trim().is_empty() {
        issues.push(src.issue("name", "must not be empty"));
    }

    let targets = super::targets::resolve_targets(src, file.targets, issues);
    let (datasets, broken_datasets) = resolve_datasets(src, file.datasets, &targets, issues);
    let load = super::load::resolve(src, &file.load, issues);
    let max_pool = targets
        .values()
        .map(|t| t.pool.max_connections)
        .min()
        .unwrap_or(0);
    if load.connections() > max_pool && max_pool > 0 {
        let what = if load.mode == LoadMode::Closed {
            "concurrency"
        } else {
            "max_in_flight"
        };
        issues.push(src.issue(
            &format!("load.{what}"),
            format!(
                "needs {} connections but a target's pool.max_connections is {max_pool}; raise the pool or lower load.{what}",
                load.connections()
            ),
        ));
    }

    if file.workloads.is_empty() {
        issues.push(src.issue(
            "",
            "at least one [[workload]] is required (operations, or kind = \"drill\")",
        ));
    }
    let (drill_files, op_files): (Vec<_>, Vec<_>) = file
        .workloads
        .into_iter()
        .enumerate()
        .partition(|(_, w)| w.kind == WorkloadKind::Drill);
    let drills = super::drills::resolve_drills(
        src,
        drill_files,
        &targets,
        &datasets,
        &broken_datasets,
        issues,
    );
    let workloads = super::workloads::resolve_workloads(
        src,
        op_files,
        &targets,
        &datasets,
        &broken_datasets,
        issues,
    );
    // Targets with a dataset (any target, when a dataset failed to resolve: its own error
    // says so, and the profile is not blamed for it).
    let datasets_on: std::collections::BTreeSet<String> = if broken_datasets.is_empty() {
        datasets.values().map(|d| d.target.clone()).collect()
    } else {
        targets.keys().cloned().collect()
    };
    let profiles = resolve_profiles(src, file.profiles, &targets, &datasets_on, issues);
    check_gate(src, &file.gate, issues);
    for d in &drills {
        if workloads.iter().any(|w| w.name == d.name) {
            issues.push(src.issue(
                "workload",
                format!(
                    "`{}` names both a workload and a drill; criteria refer to them by name, so give each its own",
                    d.name
                ),
            ));
        }
    }
    let criteria = resolve_criteria(src, &file.criteria, &workloads, &drills, issues);
    let target_names: Vec<String> = targets.keys().cloned().collect();
    let checks = crate::backend::checks::resolve(
        src,
        file.checks,
        |t| targets.get(t).map(|t: &Target| t.kind),
        &target_names,
        issues,
    );

    Scenario {
        name: file.name,
        description: file.description,
        path: src.path.clone(),
        targets,
        datasets,
        load,
        workloads,
        drills,
        profiles,
        criteria,
        checks,
        gate: file.gate,
    }
}

/// The datasets that loaded, and the names of those that did not (workloads naming them are
/// not also reported as unknown).
fn resolve_datasets(
    src: &SourceFile,
    files: BTreeMap<String, DatasetFile>,
    targets: &BTreeMap<String, Target>,
    issues: &mut Vec<InputIssue>,
) -> (BTreeMap<String, Dataset>, BTreeSet<String>) {
    // Datasets that failed to load: workloads naming them are not also reported as unknown.
    let mut broken_datasets = std::collections::BTreeSet::new();
    let mut datasets = BTreeMap::new();
    for (name, d) in files {
        let field = format!("datasets.{name}");
        if !targets.contains_key(&d.target) {
            issues.push(src.issue(
                &format!("{field}.target"),
                unknown_name("target", &d.target, targets.keys()),
            ));
        }
        // `${VAR:-default}` works here too, so one variable can switch a scenario's sizes
        // (e.g. `file = "../datasets/${TUNEBENCH_SIZE:-small}/docs.toml"`).
        let file_name = match interpolate(&d.file) {
            Ok(f) => f,
            Err(e) => {
                issues.push(src.issue(&format!("{field}.file"), e));
                broken_datasets.insert(name.clone());
                continue;
            }
        };
        let path = src.resolve(&file_name);
        if !referenced_file_exists(src, &format!("{field}.file"), &path, issues) {
            broken_datasets.insert(name.clone());
            continue;
        }
        match crate::dataset::load_spec(&path, &d.set) {
            Ok(spec) => {
                if let Some(t) = targets.get(&d.target)
                    && !t.kind.holds(&spec)
                {
                    issues.push(src.issue(
                        &format!("{field}.file"),
                        format!(
                            "{} is a {:?} dataset, which target `{}` (kind = \"{}\") cannot hold; documents go to postgres, vectors to postgres or qdrant, graph to neo4j, objects to s3; http targets take none",
                            path.display(),
                            spec.kind(),
                            d.target,
                            t.kind.name()
                        ),
                    ));
                    broken_datasets.insert(name.clone());
                    continue;
                }
                datasets.insert(
                    name.clone(),
                    Dataset {
                        name: name.clone(),
                        target: d.target,
                        file: path,
                        spec,
                        reuse_only: false,
                    },
                );
            }
            Err(Error::Input(mut more)) => {
                broken_datasets.insert(name.clone());
                issues.append(&mut more);
            }
            Err(e) => {
                broken_datasets.insert(name.clone());
                issues.push(src.issue(&format!("{field}.file"), e.to_string()));
            }
        }
    }
    (datasets, broken_datasets)
}

fn resolve_profiles(
    src: &SourceFile,
    files: Vec<ProfileFile>,
    targets: &BTreeMap<String, Target>,
    datasets_on: &std::collections::BTreeSet<String>,
    issues: &mut Vec<InputIssue>,
) -> Vec<Profile> {
    let mut profiles = Vec::new();
    if files.is_empty() {
        issues.push(src.issue(
            "",
            "at least one [[profile]] is required (the first one is \"before\")",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, p) in files.into_iter().enumerate() {
        let field = format!("profile[{i}]");
        if !valid_name(&p.name) {
            issues.push(src.issue(
                &format!("{field}.name"),
                format!("`{}` must be letters, digits, _ and - only", p.name),
            ));
        }
        if !seen.insert(p.name.clone()) {
            issues.push(src.issue(
                &format!("{field}.name"),
                format!("profile `{}` is defined twice", p.name),
            ));
        }
        let mut apply = BTreeMap::new();
        for (target, rel) in p.apply {
            if !targets.contains_key(&target) {
                issues.push(src.issue(
                    &format!("{field}.apply.{target}"),
                    unknown_name("target", &target, targets.keys()),
                ));
                continue;
            }
            if targets[&target].kind == TargetKind::Http {
                issues.push(src.issue(
                    &format!("{field}.apply.{target}"),
                    format!(
                        "target `{target}` is kind = \"http\": an endpoint has nothing for tunebench to tune; leave it out of apply (apply = {{}} is a valid profile)"
                    ),
                ));
                continue;
            }
            let path = src.resolve(&rel);
            if !referenced_file_exists(src, &format!("{field}.apply.{target}"), &path, issues) {
                continue;
            }
            // Http targets are refused above, with their reason.
            let Some(loaded) = targets[&target].kind.load_profile(&path) else {
                continue;
            };
            match loaded {
                Ok(profile) => {
                    for problem in
                        profile.problems(&targets[&target], datasets_on.contains(&target))
                    {
                        issues.push(src.issue(
                            &format!("{field}.apply.{target}"),
                            format!("{}: {problem}", path.display()),
                        ));
                    }
                    apply.insert(
                        target,
                        AppliedFile {
                            file: path,
                            profile,
                        },
                    );
                }
                Err(Error::Input(mut more)) => issues.append(&mut more),
                Err(e) => issues.push(src.issue(&format!("{field}.apply.{target}"), e.to_string())),
            }
        }
        profiles.push(Profile {
            name: p.name,
            apply,
        });
    }
    profiles
}

fn check_gate(src: &SourceFile, gate: &GateSpec, issues: &mut Vec<InputIssue>) {
    for (field, message) in gate.problems() {
        issues.push(src.issue(&format!("gate.{field}"), message));
    }
}

fn resolve_criteria(
    src: &SourceFile,
    texts: &[String],
    workloads: &[Workload],
    drills: &[Drill],
    issues: &mut Vec<InputIssue>,
) -> Vec<Criterion> {
    let mut criteria = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        match Criterion::parse(text) {
            Ok(c) if c.metric.is_drill() => {
                if drills.iter().any(|d| d.name == c.workload) && c.op.is_none() {
                    criteria.push(c);
                } else {
                    let names: Vec<&str> = drills.iter().map(|d| d.name.as_str()).collect();
                    issues.push(src.issue(
                        &format!("criteria[{i}]"),
                        format!(
                            "`{text}`: {} is a drill metric, written `DRILL.{}`; drills (kind = \"drill\"): {}",
                            c.metric.name(),
                            c.metric.name(),
                            if names.is_empty() { "none".to_string() } else { names.join(", ") }
                        ),
                    ));
                }
            }
            Ok(c) if drills.iter().any(|d| d.name == c.workload) => issues.push(src.issue(
                &format!("criteria[{i}]"),
                format!(
                    "`{text}`: `{}` is a drill, which measures backup_time, backup_bytes, restore_time, rto, rpo, rpo_rows and integrity, not {}",
                    c.workload,
                    c.metric.name()
                ),
            )),
            Ok(c) => {
                let known = workloads.iter().any(|w| {
                    w.name == c.workload
                        && c.op
                            .as_ref()
                            .is_none_or(|op| w.ops.iter().any(|o| &o.name == op))
                });
                if known || workloads.is_empty() {
                    criteria.push(c);
                } else {
                    issues.push(src.issue(
                        &format!("criteria[{i}]"),
                        format!(
                            "`{text}` names no workload (or op) of this scenario; workloads: {}",
                            workloads.iter().map(|w| w.name.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
            Err(e) => issues.push(src.issue(&format!("criteria[{i}]"), e)),
        }
    }
    criteria
}

/// Reports a referenced file that cannot be read at the scenario field that names it.
pub(super) fn referenced_file_exists(
    src: &SourceFile,
    field: &str,
    path: &Path,
    issues: &mut Vec<InputIssue>,
) -> bool {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => true,
        Ok(_) => {
            issues.push(src.issue(field, format!("{} is not a file", path.display())));
            false
        }
        Err(e) => {
            issues.push(src.issue(field, format!("cannot read file {}: {e}", path.display())));
            false
        }
    }
}

pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub(super) fn unknown_name<'a>(
    what: &str,
    name: &str,
    known: impl Iterator<Item = &'a String>,
) -> String {
    let known: Vec<&str> = known.map(String::as_str).collect();
    if known.is_empty() {
        format!("unknown {what} `{name}`; none is defined")
    } else {
        format!("unknown {what} `{name}`; valid: {}", known.join(", "))
    }
}
