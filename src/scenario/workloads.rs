//! `[[workloads]]`: each names a workload file, its target and dataset; sweeps expand into
//! one workload per value.

use std::collections::{BTreeMap, BTreeSet};

use super::resolve::{referenced_file_exists, valid_name};
use super::*;
use crate::backend::model::WorkloadProbe;
use crate::dataset::DatasetSpec;
use crate::error::Error;
use crate::error::InputIssue;

/// Workloads with their definitions; a sweep becomes one workload per value.
pub(super) fn resolve_workloads(
    src: &SourceFile,
    files: Vec<(usize, WorkloadFile)>,
    targets: &BTreeMap<String, Target>,
    datasets: &BTreeMap<String, Dataset>,
    broken_datasets: &BTreeSet<String>,
    issues: &mut Vec<InputIssue>,
) -> Vec<Workload> {
    let mut workloads = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, w) in files {
        let field = format!("workload[{i}]");
        for (name, set) in [
            ("method", w.method.is_some()),
            ("inject", w.inject.is_some()),
            ("keep_backup", w.keep_backup.is_some()),
            ("tools", w.tools.is_some()),
            ("jobs", w.jobs.is_some()),
            ("compress", w.compress.is_some()),
            ("archive", w.archive.is_some()),
            ("writer_rate", w.writer_rate.is_some()),
            ("writer_duration", w.writer_duration.is_some()),
            ("recover_to", w.recover_to.is_some()),
        ] {
            if set {
                issues.push(src.issue(
                    &format!("{field}.{name}"),
                    "applies only to a drill; add kind = \"drill\" or remove this line",
                ));
            }
        }
        let Some(definition) = w.definition.as_deref() else {
            issues.push(src.issue(
                &field,
                "definition is missing: name the workload file of its ops, e.g. definition = \"../workloads/postgres-fts.toml\" (or kind = \"drill\" for a recovery drill)",
            ));
            continue;
        };
        if !valid_name(&w.name) {
            issues.push(src.issue(
                &format!("{field}.name"),
                format!("`{}` must be letters, digits and _ only", w.name),
            ));
        }
        if !seen.insert(w.name.clone()) {
            issues.push(src.issue(
                &format!("{field}.name"),
                format!("workload `{}` is defined twice", w.name),
            ));
        }
        if !targets.contains_key(&w.target) {
            issues.push(src.issue(
                &format!("{field}.target"),
                unknown_name("target", &w.target, targets.keys()),
            ));
        }
        let http = targets
            .get(&w.target)
            .is_some_and(|t| t.kind == TargetKind::Http);
        match &w.dataset {
            Some(_) if http => issues.push(src.issue(
                &format!("{field}.dataset"),
                format!(
                    "target `{}` is kind = \"http\", which takes no dataset; remove this line",
                    w.target
                ),
            )),
            Some(d) if !datasets.contains_key(d) && !broken_datasets.contains(d) => {
                issues.push(src.issue(
                    &format!("{field}.dataset"),
                    unknown_name("dataset", d, datasets.keys()),
                ))
            }
            // Without a dataset a workload runs on the data already there (each store checks
            // its ops can: WorkloadProbe::foreign).
            _ => {}
        }
        let def_path = src.resolve(definition);
        let def = match workload::load(&def_path) {
            _ if !referenced_file_exists(
                src,
                &format!("{field}.definition"),
                &def_path,
                issues,
            ) =>
            {
                None
            }
            Ok(d) => match targets.get(&w.target) {
                Some(t) if t.kind != d.store => {
                    issues.push(src.issue(
                        &format!("{field}.definition"),
                        format!(
                            "{} is for store = \"{}\" but target `{}` is kind = \"{}\"",
                            def_path.display(),
                            d.store.name(),
                            w.target,
                            t.kind.name()
                        ),
                    ));
                    None
                }
                _ => Some(d),
            },
            Err(Error::Input(mut more)) => {
                issues.append(&mut more);
                None
            }
            Err(e) => {
                issues.push(src.issue(&format!("{field}.definition"), e.to_string()));
                None
            }
        };
        // A goose workload runs its journeys as its file weighs them: every step is an op.
        let goose = def.as_ref().and_then(|d| {
            d.ops.values().find_map(|o| match o {
                OpDef::Http(h) => h.journeys.clone(),
                _ => None,
            })
        });
        let mut ops = Vec::new();
        if let (Some(file), Some(def)) = (&goose, &def) {
            if !w.ops.is_empty() {
                issues.push(src.issue(
                    &format!("{field}.ops"),
                    format!(
                        "{} is an engine = \"goose\" file: its journeys and their weights are set there; remove ops",
                        def_path.display()
                    ),
                ));
            }
            for j in &file.journeys {
                for st in &j.steps {
                    let name = format!("{}.{}", j.name, st.name);
                    if let Some(op) = def.ops.get(&name) {
                        ops.push(WeightedOp {
                            name,
                            weight: j.weight,
                            def: op.clone(),
                        });
                    }
                }
            }
        } else if w.ops.is_empty() {
            issues.push(src.issue(
                &format!("{field}.ops"),
                "list at least one op, e.g. ops = [{ op = \"name\", weight = 1 }]",
            ));
        }
        for (j, o) in w.ops.iter().enumerate().filter(|_| goose.is_none()) {
            if o.weight == 0 {
                issues.push(src.issue(&format!("{field}.ops[{j}].weight"), "must be at least 1"));
            }
            if let Some(def) = &def {
                match def.ops.get(&o.op) {
                    Some(op) => ops.push(WeightedOp {
                        name: o.op.clone(),
                        weight: o.weight,
                        def: op.clone(),
                    }),
                    None => issues.push(src.issue(
                        &format!("{field}.ops[{j}].op"),
                        format!(
                            "{} (in {})",
                            unknown_name("op", &o.op, def.ops.keys()),
                            def_path.display()
                        ),
                    )),
                }
            }
        }
        // Vector parameters need a vector set, corpus parameters a document corpus.
        let vectors = w
            .dataset
            .as_ref()
            .and_then(|d| datasets.get(d))
            .map(|d| d.spec.kind() == crate::dataset::DatasetKind::Vectors);
        let mut judged = false;
        // A `from = "vectors"` source judges recall too, to the depth of its ground truth.
        let mut source_k_max: Option<usize> = None;
        for o in &ops {
            let mut depth = |k_max: usize| {
                judged = true;
                source_k_max = Some(source_k_max.map_or(k_max, |m| m.min(k_max)));
            };
            match &o.def {
                OpDef::Sql(sql) => {
                    for p in sql.params.iter().filter_map(|p| p.source()) {
                        if let crate::dataset::SourceSpec::Vectors { k_max, .. } = &p.spec {
                            depth(*k_max);
                        }
                    }
                }
                OpDef::Qdrant(q) => {
                    if let Some(v) = &q.vectors {
                        depth(v.k_max);
                    }
                }
                _ => {}
            }
        }
        for (j, o) in ops.iter().enumerate() {
            let params: Vec<ParamGen> = match &o.def {
                OpDef::Sql(sql) => sql.params.iter().filter_map(|p| p.generator()).collect(),
                OpDef::Qdrant(q) => q.params().to_vec(),
                OpDef::Cypher(_) | OpDef::S3(_) | OpDef::Http(_) => continue,
            };
            for g in params {
                let is_vector = g.needs_vectors();
                judged |= g.vector_filter().is_some();
                if vectors.is_some_and(|v| v != is_vector) {
                    issues.push(src.issue(
                        &format!("{field}.ops[{j}].op"),
                        format!(
                            "op `{}` draws parameter {g:?}, which dataset `{}` cannot give: query_vector* parameters need a kind = \"vectors\" dataset, the others a kind = \"documents\" dataset",
                            o.name,
                            w.dataset.as_deref().unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        if let Some(t) = targets.get(&w.target) {
            let probe = WorkloadProbe {
                ops: ops.iter().map(|o| &o.def).collect(),
                op_names: ops.iter().map(|o| o.name.as_str()).collect(),
                foreign: w.dataset.is_none() && t.kind != TargetKind::Http,
                allow_writes: t.allow_writes,
                dataset_from_files: w
                    .dataset
                    .as_ref()
                    .and_then(|d| datasets.get(d))
                    .is_some_and(
                        |d| matches!(&d.spec, DatasetSpec::Vectors(v) if v.vectors_file.is_some()),
                    ),
                sweep: w.sweep.as_ref().map(|sw| {
                    let values = sw.values.iter().map(|v| v.resolve(0)).collect();
                    (sw.setting.as_str(), values)
                }),
            };
            for (at, message) in t.kind.workload_problems(&probe) {
                issues.push(src.issue(&format!("{field}.{at}"), message));
            }
        }
        if let Some(k) = w.k.or(judged.then_some(10)) {
            let k_max = w
                .dataset
                .as_ref()
                .and_then(|d| datasets.get(d))
                .and_then(|d| match &d.spec {
                    DatasetSpec::Vectors(v) => Some(v.k_max),
                    _ => None,
                })
                .or(source_k_max.map(|m| m as u32));
            if k == 0 || k_max.is_some_and(|m| k > m) {
                issues.push(src.issue(
                    &format!("{field}.k"),
                    format!(
                        "must be 1..={} (the k_max of its dataset or vectors source, the depth of its ground truth)",
                        k_max.unwrap_or(1000)
                    ),
                ));
            }
        }
        let workload = Workload {
            name: w.name,
            target: w.target,
            dataset: w.dataset,
            definition_file: def_path,
            description: def
                .as_ref()
                .map(|d| d.description.clone())
                .unwrap_or_default(),
            ops,
            k: judged.then_some(w.k.unwrap_or(10)),
            sweep: None,
        };
        match &w.sweep {
            None => workloads.push(workload),
            Some(sw) => {
                if sw.values.is_empty() {
                    issues.push(src.issue(
                        &format!("{field}.sweep.values"),
                        "list at least one value, e.g. [10, 40, 100, 400]",
                    ));
                }
                if sw.setting.is_empty()
                    || !sw
                        .setting
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                {
                    issues.push(src.issue(
                        &format!("{field}.sweep.setting"),
                        "must be a setting name (letters, digits, _ and .), e.g. hnsw.ef_search",
                    ));
                }
                if !(sw.min_recall > 0.0 && sw.min_recall <= 1.0) {
                    issues.push(src.issue(
                        &format!("{field}.sweep.min_recall"),
                        "must be in (0, 1], e.g. 0.95",
                    ));
                }
                let mut names = BTreeSet::new();
                for (j, v) in sw.values.iter().enumerate() {
                    let value = v.resolve(0);
                    let suffix: String = value
                        .chars()
                        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                        .collect();
                    if !names.insert(suffix.clone()) {
                        issues.push(src.issue(
                            &format!("{field}.sweep.values[{j}]"),
                            format!(
                                "`{value}` repeats an earlier value (workload {}_{suffix} would run twice); list each value once",
                                workload.name
                            ),
                        ));
                        continue;
                    }
                    if let SettingValue::Float(f) = v
                        && !f.is_finite()
                    {
                        issues.push(src.issue(
                            &format!("{field}.sweep.values[{j}]"),
                            "must be a finite number or a string",
                        ));
                    }
                    let mut point = workload.clone();
                    point.name = format!("{}_{suffix}", workload.name);
                    point.sweep = Some(SweepPoint {
                        base: workload.name.clone(),
                        setting: sw.setting.clone(),
                        value,
                        min_recall: sw.min_recall,
                    });
                    workloads.push(point);
                }
            }
        }
    }
    workloads
}
