//! `[targets.*]`: connection, credentials, pool and each kind's own options, checked without
//! connecting.

use std::collections::BTreeMap;

use super::load::duration_field;
use super::*;
use crate::backend::model::TargetFields;
use crate::error::InputIssue;
use crate::secrets::{register, url_secrets};
use crate::source::interpolate;

pub(super) fn resolve_targets(
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
        // Fields of another kind of target are a mistake, not something to ignore.
        let own = t.kind.target_fields();
        for name in t.options.keys() {
            if own.contains(&name.as_str()) {
                continue;
            }
            let owner = TargetKind::ALL
                .into_iter()
                .find(|k| k.target_fields().contains(&name.as_str()));
            let message = match owner {
                Some(owner) => format!(
                    "only applies to kind = \"{}\"; this target is kind = \"{}\"{}",
                    owner.name(),
                    t.kind.name(),
                    if t.kind == TargetKind::Postgres {
                        " (PostgreSQL credentials go in the url)"
                    } else {
                        ""
                    }
                ),
                None => format!(
                    "unknown field; a {} target takes kind, url, pool, restart_command, allow_foreign_indexes, allow_writes{}",
                    t.kind.name(),
                    own.iter().map(|f| format!(", {f}")).collect::<String>()
                ),
            };
            issues.push(src.issue(&format!("{field}.{name}"), message));
        }
        let mut own_fields = TargetFields {
            src,
            field: field.clone(),
            table: t
                .options
                .into_iter()
                .filter(|(k, _)| own.contains(&k.as_str()))
                .collect(),
            issues,
        };
        let options = t.kind.target_options(&mut own_fields);
        if t.kind == TargetKind::Qdrant && t.restart_command.is_some() {
            issues.push(src.issue(
                &format!("{field}.restart_command"),
                "a qdrant target takes only kind, url and pool: url = \"${TUNEBENCH_QDRANT_URL:-}\" (empty runs the embedded engine)",
            ));
        }
        for (flag, set, kinds) in [
            (
                "allow_foreign_indexes",
                t.allow_foreign_indexes,
                &[TargetKind::Postgres, TargetKind::Neo4j, TargetKind::Qdrant][..],
            ),
            ("allow_writes", t.allow_writes, &[TargetKind::Postgres][..]),
        ] {
            if set && !kinds.contains(&t.kind) {
                issues.push(src.issue(
                    &format!("{field}.{flag}"),
                    format!(
                        "only applies to kind = {} so far; a {} target's data that tunebench did not create is only read",
                        kinds
                            .iter()
                            .map(|k| format!("\"{}\"", k.name()))
                            .collect::<Vec<_>>()
                            .join(" or "),
                        t.kind.name()
                    ),
                ));
            }
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
                restart_command,
                workdir: src.dir(),
                pool: t.pool,
                pool_idle_timeout: idle,
                pool_connect_timeout: connect,
                allow_foreign_indexes: t.allow_foreign_indexes,
                allow_writes: t.allow_writes,
                options,
            },
        );
    }
    targets
}

/// URL schemes per kind of target (each store's `spec` says what it takes).
fn check_url(
    src: &SourceFile,
    field: &str,
    kind: TargetKind,
    url: &str,
    issues: &mut Vec<InputIssue>,
) {
    let expected = kind.url_expected();
    if !(url.is_empty() || kind.url_fits(url)) {
        issues.push(src.issue(
            &format!("{field}.url"),
            format!("`{}` is not {expected}", redact_url(url)),
        ));
    } else if !url.is_empty()
        && let Some(why) = kind.url_parse_problem(url)
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
