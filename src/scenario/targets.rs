//! `[targets.*]`: connection, credentials, pool and each kind's own options, checked without
//! connecting.

use std::collections::BTreeMap;

use super::load::duration_field;
use super::*;
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
