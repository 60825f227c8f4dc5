//! `[[workload]] kind = "drill"`: a recovery drill on a dataset of its target (see
//! `backend::drill`).

use std::collections::{BTreeMap, BTreeSet};

use super::resolve::valid_name;
use super::*;
use crate::backend::drill::Fault;
use crate::error::InputIssue;
use crate::source::interpolate;

pub(super) fn resolve_drills(
    src: &SourceFile,
    files: Vec<(usize, WorkloadFile)>,
    targets: &BTreeMap<String, Target>,
    datasets: &BTreeMap<String, Dataset>,
    broken_datasets: &BTreeSet<String>,
    issues: &mut Vec<InputIssue>,
) -> Vec<Drill> {
    let mut drills: Vec<Drill> = Vec::new();
    for (i, w) in files {
        let field = format!("workload[{i}]");
        let mut found: Vec<(String, String)> = Vec::new();
        let mut broken = false;
        let mut problem = |f: &str, m: String| found.push((format!("{field}{f}"), m));
        if !valid_name(&w.name) {
            problem(
                ".name",
                format!("`{}` must be letters, digits and _ only", w.name),
            );
        }
        if drills.iter().any(|d| d.name == w.name) {
            problem(".name", format!("drill `{}` is defined twice", w.name));
        }
        for (name, set) in [
            ("definition", w.definition.is_some()),
            ("ops", !w.ops.is_empty()),
            ("k", w.k.is_some()),
            ("sweep", w.sweep.is_some()),
        ] {
            if set {
                problem(
                    &format!(".{name}"),
                    "a drill takes no ops; remove this line (or the kind = \"drill\")".into(),
                );
            }
        }
        let target = targets.get(&w.target);
        if target.is_none() {
            problem(".target", unknown_name("target", &w.target, targets.keys()));
        }
        match &w.dataset {
            None => problem(
                "",
                "dataset is missing: a drill backs up one of the [datasets.*] of its target; add dataset = \"NAME\"".into(),
            ),
            Some(d) if broken_datasets.contains(d) => broken = true,
            Some(d) => match datasets.get(d) {
                None => problem(".dataset", unknown_name("dataset", d, datasets.keys())),
                Some(ds) if ds.target != w.target => problem(
                    ".dataset",
                    format!(
                        "dataset `{d}` is on target `{}`, not on the drill's target `{}`",
                        ds.target, w.target
                    ),
                ),
                Some(_) => {}
            },
        }
        let method = match (&w.method, target) {
            (None, _) => {
                problem(
                    "",
                    "method is missing: say how the drill backs up, e.g. method = \"logical\" (postgres) or \"mirror\" (s3)".into(),
                );
                None
            }
            (Some(m), Some(t)) => match DrillMethod::parse(m, t.kind) {
                Ok(m) => Some(m),
                Err(e) => {
                    problem(".method", e);
                    None
                }
            },
            (Some(_), None) => None,
        };
        let inject = match w.inject.as_deref().map(Fault::parse) {
            Some(Err(e)) => {
                problem(".inject", e);
                None
            }
            Some(Ok(f)) => Some(f),
            None => None,
        };
        let jobs = w.jobs.unwrap_or(2);
        if !(1..=64).contains(&jobs) {
            problem(".jobs", format!("must be 1 to 64, got {jobs}"));
        }
        let compress = w.compress.clone();
        if let Some(c) = &compress {
            if method.is_some_and(|m| !matches!(m, DrillMethod::Logical | DrillMethod::Pitr)) {
                problem(
                    ".compress",
                    "applies only to methods \"logical\" and \"pitr\" (pg_dump's and pg_basebackup's -Z); remove this line".into(),
                );
            } else if !valid_compression(c) {
                problem(
                    ".compress",
                    format!(
                        "`{c}` is not a pg_dump compression; valid: none, gzip, lz4, zstd, each with an optional level (e.g. zstd:3, gzip:6), or a level 0-9"
                    ),
                );
            }
        }
        let pitr = method == Some(DrillMethod::Pitr);
        for (name, set) in [
            ("archive", w.archive.is_some()),
            ("writer_rate", w.writer_rate.is_some()),
            ("writer_duration", w.writer_duration.is_some()),
            ("recover_to", w.recover_to.is_some()),
        ] {
            if set && method.is_some() && !pitr {
                problem(
                    &format!(".{name}"),
                    "applies only to method = \"pitr\"; remove this line".into(),
                );
            }
        }
        let archive = match w.archive.as_deref().map(interpolate) {
            Some(Ok(a)) => Some(src.resolve(&a)),
            Some(Err(e)) => {
                problem(".archive", e);
                None
            }
            None => None,
        };
        if pitr && archive.is_none() && w.archive.is_none() {
            problem(
                "",
                "archive is missing: method = \"pitr\" recovers from the WAL archive; name the folder the server's archive_command copies into, e.g. archive = \"${TUNEBENCH_CACHE:-../.cache}/tunebench-wal-archive\"".into(),
            );
        }
        let writer_rate = w.writer_rate.unwrap_or(20.0);
        if !(writer_rate.is_finite() && writer_rate > 0.0 && writer_rate <= 10_000.0) {
            problem(
                ".writer_rate",
                format!("must be above 0 and at most 10000 rows per second, got {writer_rate}"),
            );
        }
        let writer_for = match w.writer_duration.as_deref().map(crate::source::duration) {
            None => std::time::Duration::from_secs(10),
            Some(Ok(d))
                if d >= std::time::Duration::from_secs(1)
                    && d <= std::time::Duration::from_secs(3600) =>
            {
                d
            }
            Some(Ok(_)) => {
                problem(".writer_duration", "must be between 1s and 1h".into());
                std::time::Duration::from_secs(10)
            }
            Some(Err(e)) => {
                problem(".writer_duration", e);
                std::time::Duration::from_secs(10)
            }
        };
        let recover_to = match w.recover_to.as_deref().map(crate::source::duration) {
            None => None,
            Some(Ok(d)) if !d.is_zero() && d < writer_for => Some(d),
            Some(Ok(d)) => {
                problem(
                    ".recover_to",
                    format!(
                        "must be above 0 and shorter than writer_duration ({} s): the target time lies within the writer's run, before the failure; got {} s",
                        writer_for.as_secs_f64(),
                        d.as_secs_f64()
                    ),
                );
                None
            }
            Some(Err(e)) => {
                problem(".recover_to", e);
                None
            }
        };
        let tools = match w.tools.as_deref().map(interpolate) {
            Some(Ok(t)) => Some(src.resolve(&t)),
            Some(Err(e)) => {
                problem(".tools", e);
                None
            }
            None => None,
        };
        let ok = found.is_empty() && !broken;
        for (f, m) in found {
            issues.push(src.issue(&f, m));
        }
        if let (true, Some(method), Some(dataset)) = (ok, method, w.dataset) {
            drills.push(Drill {
                name: w.name,
                target: w.target,
                dataset,
                method,
                inject,
                keep_backup: w.keep_backup.unwrap_or(false),
                tools,
                jobs,
                compress,
                archive,
                writer_rate,
                writer_for,
                recover_to,
            });
        }
    }
    drills
}

/// `none`, `gzip`, `lz4` or `zstd`, each with an optional `:LEVEL` (1-22), or a bare level 0-9.
fn valid_compression(c: &str) -> bool {
    let (alg, level) = match c.split_once(':') {
        Some((a, l)) => (a, Some(l)),
        None => (c, None),
    };
    let level_ok = level.is_none_or(|l| l.parse::<u8>().is_ok_and(|n| (1..=22).contains(&n)));
    match alg {
        "none" => level.is_none(),
        "gzip" | "lz4" | "zstd" => level_ok,
        digits => level.is_none() && digits.parse::<u8>().is_ok_and(|n| n <= 9),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn compression_names_and_levels() {
        for ok in ["none", "zstd", "zstd:3", "gzip:6", "lz4", "0", "9"] {
            assert!(super::valid_compression(ok), "{ok}");
        }
        for bad in ["zip", "zstd:0", "zstd:x", "none:1", "10", "", "gzip:"] {
            assert!(!super::valid_compression(bad), "{bad}");
        }
    }
}
