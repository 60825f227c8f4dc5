//! Turning a parsed scenario file into a [`Scenario`]: every reference followed, every value
//! checked, and every problem collected (with its file, line and field) rather than stopping at
//! the first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::load::duration_field;
use super::source::interpolate;
use super::*;
use crate::dataset::DatasetSpec;
use crate::error::{Error, InputIssue};
use crate::secrets::{register, url_secrets};

pub(super) fn resolve(
    src: &SourceFile,
    file: ScenarioFile,
    issues: &mut Vec<InputIssue>,
) -> Scenario {
    if file.name.trim().is_empty() {
        issues.push(src.issue("name", "must not be empty"));
    }

    let targets = resolve_targets(src, file.targets, issues);
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

    let workloads = resolve_workloads(
        src,
        file.workloads,
        &targets,
        &datasets,
        &broken_datasets,
        issues,
    );
    let profiles = resolve_profiles(src, file.profiles, &targets, issues);
    check_gate(src, &file.gate, issues);
    let criteria = resolve_criteria(src, &file.criteria, &workloads, issues);
    let target_names: Vec<String> = targets.keys().cloned().collect();
    let checks = checks::resolve(
        src,
        &file.checks,
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
        profiles,
        criteria,
        checks,
        gate: file.gate,
    }
}

fn resolve_targets(
    src: &SourceFile,
    files: BTreeMap<String, TargetFile>,
    issues: &mut Vec<InputIssue>,
) -> BTreeMap<String, Target> {
    let mut targets = BTreeMap::new();
    if files.is_empty() {
        issues.push(src.issue(
            "targets",
            "at least one target is required, e.g. [targets.pg] kind = \"postgres\"",
        ));
    }
    for (name, t) in files {
        let field = format!("targets.{name}");
        let url = match interpolate(&t.url) {
            Ok(u) => u,
            Err(e) => {
                issues.push(src.issue(&format!("{field}.url"), e));
                String::new()
            }
        };
        url_secrets(&url).iter().for_each(|s| register(s));
        check_url(src, &field, t.kind, &url, issues);
        let mut secret = |name: &str, value: &Option<String>| -> Option<String> {
            let v = value.as_deref()?;
            match interpolate(v) {
                Ok(v) => Some(v),
                Err(e) => {
                    issues.push(src.issue(&format!("{field}.{name}"), e));
                    None
                }
            }
        };
        let user = secret("user", &t.user);
        let password = secret("password", &t.password);
        password.iter().for_each(|p| register(p));
        let config_dir = secret("config_dir", &t.config_dir).map(|d| src.resolve(&d));
        let access_key = secret("access_key", &t.access_key);
        let secret_key = secret("secret_key", &t.secret_key);
        secret_key.iter().for_each(|k| register(k));
        let region = secret("region", &t.region);
        let settings_file = secret("settings_file", &t.settings_file);
        // Fields that belong to another kind of target are a mistake, not something to ignore.
        for (name, given, owner) in [
            ("user", t.user.is_some(), TargetKind::Neo4j),
            ("password", t.password.is_some(), TargetKind::Neo4j),
            ("config_dir", t.config_dir.is_some(), TargetKind::Neo4j),
            ("access_key", t.access_key.is_some(), TargetKind::S3),
            ("secret_key", t.secret_key.is_some(), TargetKind::S3),
            ("region", t.region.is_some(), TargetKind::S3),
        ] {
            if given && t.kind != owner {
                issues.push(src.issue(
                    &format!("{field}.{name}"),
                    format!(
                        "only applies to kind = \"{}\"; this target is kind = \"{}\"{}",
                        owner.name(),
                        t.kind.name(),
                        if t.kind == TargetKind::Postgres {
                            " (PostgreSQL credentials go in the url)"
                        } else {
                            ""
                        }
                    ),
                ));
            }
        }
        match t.kind {
            TargetKind::Neo4j => {
                if user.is_none() || password.is_none() {
                    issues.push(src.issue(
                        &field,
                        "a neo4j target needs user and password, e.g. user = \"${TUNEBENCH_NEO4J_USER:-neo4j}\", password = \"${TUNEBENCH_NEO4J_PASSWORD:-tunebench}\"",
                    ));
                }
            }
            TargetKind::S3 => {
                for (name, v) in [("access_key", &access_key), ("secret_key", &secret_key)] {
                    if v.as_deref().is_none_or(str::is_empty) {
                        issues.push(src.issue(
                            &format!("{field}.{name}"),
                            format!(
                                "an s3 target needs {name}, e.g. {name} = \"${{TUNEBENCH_S3_{}}}\"",
                                name.to_ascii_uppercase()
                            ),
                        ));
                    }
                }
            }
            TargetKind::Qdrant => {
                if t.restart_command.is_some() {
                    issues.push(src.issue(
                        &format!("{field}.restart_command"),
                        "a qdrant target takes only kind, url and pool: url = \"${TUNEBENCH_QDRANT_URL:-}\" (empty runs the embedded engine)",
                    ));
                }
            }
            TargetKind::Postgres | TargetKind::Http => {}
        }
        let restart_command = match t.restart_command.as_deref().map(interpolate) {
            Some(Ok(c)) if !c.trim().is_empty() => Some(c),
            Some(Ok(_)) | None => None,
            Some(Err(e)) => {
                issues.push(src.issue(&format!("{field}.restart_command"), e));
                None
            }
        };
        let idle = duration_field(
            src,
            &format!("{field}.pool.idle_timeout"),
            &t.pool.idle_timeout,
            issues,
        );
        let connect = duration_field(
            src,
            &format!("{field}.pool.connect_timeout"),
            &t.pool.connect_timeout,
            issues,
        );
        if t.pool.max_connections == 0 || t.pool.min_connections > t.pool.max_connections {
            issues.push(src.issue(
                &format!("{field}.pool"),
                format!(
                    "min_connections ({}) must be <= max_connections ({}) and max_connections >= 1",
                    t.pool.min_connections, t.pool.max_connections
                ),
            ));
        }
        targets.insert(
            name.clone(),
            Target {
                name: name.clone(),
                kind: t.kind,
                url_redacted: redact_url(&url),
                url,
                user,
                password,
                config_dir,
                restart_command,
                workdir: src.dir(),
                pool: t.pool,
                pool_idle_timeout: idle,
                pool_connect_timeout: connect,
                access_key,
                secret_key,
                region,
                settings_file,
            },
        );
    }
    targets
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
                let fits = |k: TargetKind| match spec {
                    DatasetSpec::Documents(_) => k == TargetKind::Postgres,
                    DatasetSpec::Vectors(_) => k == TargetKind::Postgres || k == TargetKind::Qdrant,
                    DatasetSpec::Graph(_) => k == TargetKind::Neo4j,
                    DatasetSpec::Objects(_) => k == TargetKind::S3,
                };
                if let Some(t) = targets.get(&d.target)
                    && !fits(t.kind)
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

/// Workloads with their definitions; a sweep becomes one workload per value.
fn resolve_workloads(
    src: &SourceFile,
    files: Vec<WorkloadFile>,
    targets: &BTreeMap<String, Target>,
    datasets: &BTreeMap<String, Dataset>,
    broken_datasets: &BTreeSet<String>,
    issues: &mut Vec<InputIssue>,
) -> Vec<Workload> {
    let mut workloads = Vec::new();
    if files.is_empty() {
        issues.push(src.issue("", "at least one [[workload]] is required"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, w) in files.into_iter().enumerate() {
        let field = format!("workload[{i}]");
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
            None if !http && targets.contains_key(&w.target) => issues.push(src.issue(
                &field,
                format!(
                    "dataset is missing: target `{}` needs one of the [datasets.*] (only http targets take none); add dataset = \"NAME\"",
                    w.target
                ),
            )),
            _ => {}
        }
        let def_path = src.resolve(&w.definition);
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
        if w.ops.is_empty() {
            issues.push(src.issue(
                &format!("{field}.ops"),
                "list at least one op, e.g. ops = [{ op = \"name\", weight = 1 }]",
            ));
        }
        let mut ops = Vec::new();
        for (j, o) in w.ops.iter().enumerate() {
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
        for (j, o) in ops.iter().enumerate() {
            let params: &[ParamGen] = match &o.def {
                OpDef::Sql(sql) => &sql.params,
                OpDef::Qdrant(q) => q.params(),
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
        if let Some(k) = w.k {
            let k_max = w
                .dataset
                .as_ref()
                .and_then(|d| datasets.get(d))
                .and_then(|d| match &d.spec {
                    DatasetSpec::Vectors(v) => Some(v.k_max),
                    _ => None,
                });
            if k == 0 || k_max.is_some_and(|m| k > m) {
                issues.push(src.issue(
                    &format!("{field}.k"),
                    format!(
                        "must be 1..={} (the dataset's k_max, the depth of its ground truth)",
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
                if targets.get(&workload.target).map(|t| t.kind) == Some(TargetKind::Qdrant)
                    && !QDRANT_SWEEPS.contains(&sw.setting.as_str())
                {
                    issues.push(src.issue(
                        &format!("{field}.sweep.setting"),
                        format!(
                            "`{}` is not a Qdrant search parameter; valid: {}",
                            sw.setting,
                            QDRANT_SWEEPS.join(", ")
                        ),
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

fn resolve_profiles(
    src: &SourceFile,
    files: Vec<ProfileFile>,
    targets: &BTreeMap<String, Target>,
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
            let loaded = match targets[&target].kind {
                TargetKind::Postgres => profile::load_postgres(&path).map(ProfileDef::Postgres),
                TargetKind::Neo4j => profile::load_neo4j(&path).map(ProfileDef::Neo4j),
                TargetKind::S3 => profile::load_s3(&path).map(ProfileDef::S3),
                // Refused above, with its reason.
                TargetKind::Http => continue,
                TargetKind::Qdrant => profile::load_qdrant(&path).map(ProfileDef::Qdrant),
            };
            match loaded {
                Ok(profile) => {
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
    issues: &mut Vec<InputIssue>,
) -> Vec<Criterion> {
    let mut criteria = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        match Criterion::parse(text) {
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

/// URL schemes per kind of target.
fn check_url(
    src: &SourceFile,
    field: &str,
    kind: TargetKind,
    url: &str,
    issues: &mut Vec<InputIssue>,
) {
    let (ok, expected) = match kind {
        TargetKind::Postgres => (
            url.starts_with("postgres://") || url.starts_with("postgresql://"),
            "a PostgreSQL URL; expected postgres://USER:PASSWORD@HOST:PORT/DB",
        ),
        TargetKind::Neo4j => (
            [
                "bolt://",
                "bolt+s://",
                "bolt+ssc://",
                "neo4j://",
                "neo4j+s://",
                "neo4j+ssc://",
            ]
            .iter()
            .any(|s| url.starts_with(s)),
            "a Neo4j Bolt URL; expected bolt://HOST:PORT (user and password are separate fields)",
        ),
        TargetKind::S3 => (
            (url.starts_with("http://") || url.starts_with("https://"))
                && !url.contains('@')
                && url.len() > "https://".len(),
            "an S3 endpoint; expected http://HOST:PORT (keys go in access_key / secret_key, not the URL)",
        ),
        TargetKind::Http => (
            (url.starts_with("http://") || url.starts_with("https://"))
                && !url.contains('@')
                && !url.contains(['?', '#'])
                && reqwest::Url::parse(url).is_ok_and(|u| u.has_host()),
            "an HTTP base URL; expected http://HOST:PORT[/PREFIX] (no user:password@, no query; credentials go in an op's headers)",
        ),
        TargetKind::Qdrant => (
            url.starts_with("http://") || url.starts_with("https://"),
            "a Qdrant gRPC URL; expected http://HOST:6334, or empty for the embedded engine",
        ),
    };
    if !(url.is_empty() || ok) {
        issues.push(src.issue(
            &format!("{field}.url"),
            format!("`{}` is not {expected}", redact_url(url)),
        ));
    } else if !url.is_empty()
        && let Some(why) = url_problem(kind, url)
    {
        issues.push(src.issue(
            &format!("{field}.url"),
            format!(
                "`{}` does not parse ({why}); {expected}, with special characters of the user or password percent-encoded (/ as %2F, @ as %40, : as %3A, # as %23, % as %25)",
                redact_url(url)
            ),
        ));
    }
}

/// Why `url` would fail to parse when a run connects: checked with the parser the run uses.
fn url_problem(kind: TargetKind, url: &str) -> Option<String> {
    let why = match kind {
        TargetKind::Postgres => <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(
            &crate::secrets::strip_secret_params(url, crate::secrets::PG_SECRET_PARAMS),
        )
        .err()
        .map(|e| e.to_string()),
        _ => match reqwest::Url::parse(url) {
            Err(e) => Some(e.to_string()),
            Ok(u) if !u.has_host() => Some("no host".to_string()),
            Ok(_) => None,
        },
    };
    // The parser's words may quote the URL.
    why.map(|w| crate::secrets::scrub(&w))
}

/// Reports a referenced file that cannot be read at the scenario field that names it.
fn referenced_file_exists(
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

fn valid_name(name: &str) -> bool {
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
