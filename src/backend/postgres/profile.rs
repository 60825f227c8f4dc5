//! Applying a tuning profile and reverting it exactly. Before anything changes, the current
//! value of every touched setting (and whether it came from ALTER SYSTEM) is captured; revert
//! restores that state and checks the values came back.

use std::time::{Duration, Instant};

use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, Row};

use super::{connect, target_error, with_schema};
use crate::backend::facts::{IndexChange, RevertReport, SettingChange, TargetChanges};
use crate::backend::journal::Journal;
use crate::backend::model::Target;
use crate::backend::postgres::spec::PgProfile;
use crate::error::{Error, Result};

type AppliedFile = crate::backend::model::AppliedFile<PgProfile>;

/// What revert needs to know; journaled before each change (see `backend::journal`).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct AppliedProfile {
    pub target: String,
    settings: Vec<CapturedSetting>,
    created_indexes: Vec<String>,
    /// Indexes built on tables tunebench did not create, as `schema.name`; dropped
    /// CONCURRENTLY by revert, which checks they are gone.
    #[serde(default)]
    foreign_indexes: Vec<String>,
    schema: String,
    tables: Vec<String>,
    pub changes: TargetChanges,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CapturedSetting {
    name: String,
    value_before: String,
    /// The value postgresql.auto.conf held before, if any.
    auto_conf_before: Option<String>,
    context: String,
}

/// Applies settings (ALTER SYSTEM + reload, or restart where pg_settings.context demands it)
/// and indexes. On failure, whatever was already applied is reverted before returning.
/// Returns the (possibly new, after a restart) pool.
pub async fn apply_profile(
    pool: PgPool,
    target: &Target,
    file: &AppliedFile,
    schema: &str,
    tables: &[&str],
    host_memory: u64,
    journal: &Journal,
) -> Result<(PgPool, AppliedProfile)> {
    let profile = &file.profile;
    let err = |what: &str, e: sqlx::Error| {
        target_error(
            target,
            &format!("applying {} ({what})", file.file.display()),
            e,
        )
    };
    let mut applied = AppliedProfile {
        target: target.name.clone(),
        settings: Vec::new(),
        created_indexes: Vec::new(),
        foreign_indexes: Vec::new(),
        schema: schema.to_string(),
        tables: tables.iter().map(|t| t.to_string()).collect(),
        changes: TargetChanges {
            target: target.name.clone(),
            profile_file: file.file.display().to_string(),
            description: profile.description.clone(),
            settings: Vec::new(),
            indexes: Vec::new(),
            restarted: false,
        },
    };

    // Capture first, for every setting, before changing any.
    let mut needs_restart = false;
    for (name, value) in &profile.settings {
        let row = sqlx::query(
            "SELECT current_setting(name) AS v, context FROM pg_settings WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&pool)
        .await
        .map_err(|e| err("reading pg_settings", e))?;
        let Some(row) = row else {
            return Err(Error::input(crate::error::InputIssue::new(
                &file.file,
                format!("settings.{name}"),
                "is not a setting this PostgreSQL server knows (see pg_settings)",
            )));
        };
        let auto: Option<String> = sqlx::query_scalar(
            "SELECT setting FROM pg_file_settings WHERE name = $1 AND sourcefile LIKE '%postgresql.auto.conf' ORDER BY seqno DESC LIMIT 1",
        )
        .bind(name)
        .fetch_optional(&pool)
        .await
        .map_err(|e| err("reading pg_file_settings", e))?;
        let context: String = row.get("context");
        needs_restart |= context == "postmaster";
        applied.settings.push(CapturedSetting {
            name: name.clone(),
            value_before: row.get("v"),
            auto_conf_before: auto,
            context,
        });
        applied.changes.settings.push(SettingChange {
            name: name.clone(),
            requested: value.resolve(host_memory),
            before: row.get("v"),
            after: String::new(),
            context: applied
                .settings
                .last()
                .expect("just pushed")
                .context
                .clone(),
        });
    }

    // Nothing has changed yet: what is about to change, and the values it replaces.
    record(&pool, target, journal, &applied).await?;
    let result = apply_inner(pool, target, file, &mut applied, needs_restart, journal).await;
    match result {
        Ok(pool) => Ok((pool, applied)),
        Err(e) => {
            // Leave the server as we found it, then report the original failure. The journal
            // stays when that fails too: the next run refuses, `tunebench revert` retries.
            let reverted = match connect(target).await {
                Ok(pool) => revert_profile(pool, target, applied).await.map(|_| ()),
                Err(e) => Err(e),
            };
            match reverted {
                Ok(()) => journal.clear()?,
                Err(revert_err) => {
                    tracing::error!("reverting after a failed apply also failed: {revert_err}")
                }
            }
            Err(e)
        }
    }
}

async fn apply_inner(
    mut pool: PgPool,
    target: &Target,
    file: &AppliedFile,
    applied: &mut AppliedProfile,
    needs_restart: bool,
    journal: &Journal,
) -> Result<PgPool> {
    let err = |what: &str, e: sqlx::Error| {
        target_error(
            target,
            &format!("applying {} ({what})", file.file.display()),
            e,
        )
    };
    if !applied.changes.settings.is_empty() {
        if needs_restart && target.restart_command.is_none() {
            let names: Vec<&str> = applied
                .settings
                .iter()
                .filter(|s| s.context == "postmaster")
                .map(|s| s.name.as_str())
                .collect();
            return Err(Error::Usage(format!(
                "{} changes {} which PostgreSQL only applies at a restart, but targets.{}.restart_command is not set in the scenario (e.g. \"../scripts/stack restart postgres\")",
                file.file.display(),
                names.join(", "),
                target.name
            )));
        }
        for s in &applied.changes.settings {
            set_system(&pool, &s.name, Some(&s.requested))
                .await
                .map_err(|e| err(&format!("ALTER SYSTEM SET {}", s.name), e))?;
        }
        let rejected: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, error FROM pg_file_settings WHERE sourcefile LIKE '%postgresql.auto.conf' AND error IS NOT NULL AND error <> 'setting could not be applied'",
        )
        .fetch_all(&pool)
        .await
        .map_err(|e| err("checking pg_file_settings", e))?;
        if let Some((name, error)) = rejected.first() {
            return Err(Error::Usage(format!(
                "{}: setting {name} was rejected by PostgreSQL: {error}",
                file.file.display()
            )));
        }
        reload(&pool).await.map_err(|e| err("pg_reload_conf", e))?;
        if needs_restart {
            pool = restart(pool, target).await?;
            applied.changes.restarted = true;
        }
        for s in applied.changes.settings.iter_mut() {
            s.after = current(&pool, &s.name)
                .await
                .map_err(|e| err("reading the new values", e))?;
        }
        let pending: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pg_settings WHERE pending_restart")
                .fetch_all(&pool)
                .await
                .map_err(|e| err("checking pending_restart", e))?;
        if !pending.is_empty() {
            return Err(target_error(
                target,
                "applying a profile",
                format!(
                    "settings still wait for a restart after applying: {}",
                    pending.join(", ")
                ),
            ));
        }
    }

    let profile = &file.profile;
    for idx in &profile.indexes {
        let schema = idx.foreign_schema().unwrap_or(&applied.schema).to_string();
        let exists = index_exists(&pool, &schema, &idx.name)
            .await
            .map_err(|e| err("looking up indexes", e))?;
        // On a table tunebench did not create, the build must not block the application's
        // writes: CONCURRENTLY (which also runs outside a transaction block).
        let definition = match idx.foreign_schema() {
            Some(_) => concurrently(&idx.up),
            None => with_schema(&idx.up, &applied.schema),
        };
        let mut change = IndexChange {
            name: idx.name.clone(),
            table: idx.table.clone(),
            definition: definition.clone(),
            created: false,
            build_seconds: None,
            size_bytes: None,
        };
        if !exists {
            // Journaled before it exists: revert drops it IF EXISTS (a failed CONCURRENTLY
            // build leaves an invalid index behind, which revert drops too).
            match idx.foreign_schema() {
                Some(_) => applied
                    .foreign_indexes
                    .push(format!("{schema}.{}", idx.name)),
                None => applied.created_indexes.push(idx.name.clone()),
            }
            record(&pool, target, journal, applied).await?;
            let started = Instant::now();
            sqlx::query(AssertSqlSafe(definition))
                .execute(&pool)
                .await
                .map_err(|e| err(&format!("creating index {}", idx.name), e))?;
            change.created = true;
            change.build_seconds = Some(started.elapsed().as_secs_f64());
        }
        change.size_bytes = sqlx::query_scalar("SELECT pg_relation_size(to_regclass($1))")
            .bind(format!("{schema}.{}", idx.name))
            .fetch_one(&pool)
            .await
            .map_err(|e| err("measuring index size", e))?;
        applied.changes.indexes.push(change);
    }
    // Fresh statistics for the dataset's tables; a foreign table's are the server's to keep
    // (ANALYZE would change what the application's plans see after the run).
    if profile.indexes.iter().any(|i| i.foreign_schema().is_none()) {
        for table in &applied.tables {
            sqlx::query(AssertSqlSafe(format!("ANALYZE {}.{table}", applied.schema)))
                .execute(&pool)
                .await
                .map_err(|e| err("ANALYZE", e))?;
        }
    }
    Ok(pool)
}

/// Journals `applied` in the cache and on the server, before the change it announces.
async fn record(
    pool: &PgPool,
    target: &Target,
    journal: &Journal,
    applied: &AppliedProfile,
) -> Result<()> {
    let entry = journal.record(applied, &applied.changes)?;
    super::journal::put(pool, applied.journal_key(), &entry)
        .await
        .map_err(|e| {
            target_error(
                target,
                "writing the journal to tunebench_journal.entries before changing anything",
                e,
            )
        })
}

/// Drops exactly the indexes the profile created and restores every captured setting, then
/// checks each setting's value is what it was, and removes the server's journal entry.
pub async fn revert_profile(
    mut pool: PgPool,
    target: &Target,
    applied: AppliedProfile,
) -> Result<(PgPool, RevertReport)> {
    let err = |what: &str, e: sqlx::Error| {
        target_error(target, &format!("reverting the profile ({what})"), e)
    };
    let mut report = RevertReport {
        target: applied.target.clone(),
        kept: false,
        settings_restored: Vec::new(),
        indexes_dropped: Vec::new(),
        restarted: false,
        mismatches: Vec::new(),
    };
    for name in &applied.created_indexes {
        sqlx::query(AssertSqlSafe(format!(
            "DROP INDEX IF EXISTS {}.{name}",
            applied.schema
        )))
        .execute(&pool)
        .await
        .map_err(|e| err(&format!("DROP INDEX {name}"), e))?;
        report.indexes_dropped.push(name.clone());
    }
    for name in &applied.foreign_indexes {
        sqlx::query(AssertSqlSafe(format!(
            "DROP INDEX CONCURRENTLY IF EXISTS {name}"
        )))
        .execute(&pool)
        .await
        .map_err(|e| err(&format!("DROP INDEX CONCURRENTLY {name}"), e))?;
        let left: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(name)
            .fetch_one(&pool)
            .await
            .map_err(|e| err("checking the index is gone", e))?;
        if left {
            report
                .mismatches
                .push(format!("index {name}: still there after DROP INDEX"));
        }
        report.indexes_dropped.push(name.clone());
    }
    if !applied.settings.is_empty() {
        for s in &applied.settings {
            set_system(&pool, &s.name, s.auto_conf_before.as_deref())
                .await
                .map_err(|e| err(&s.name, e))?;
            report.settings_restored.push(s.name.clone());
        }
        reload(&pool).await.map_err(|e| err("pg_reload_conf", e))?;
        let pending: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_settings WHERE pending_restart)")
                .fetch_one(&pool)
                .await
                .map_err(|e| err("checking pending_restart", e))?;
        if pending
            || applied
                .settings
                .iter()
                .any(|s| s.context == "postmaster" && applied.changes.restarted)
        {
            pool = restart(pool, target).await?;
            report.restarted = true;
        }
        for s in &applied.settings {
            let now = current(&pool, &s.name)
                .await
                .map_err(|e| err("reading restored values", e))?;
            if now != s.value_before {
                report.mismatches.push(format!(
                    "{}: was {}, is now {}",
                    s.name, s.value_before, now
                ));
            }
        }
    }
    super::journal::delete(&pool, applied.journal_key())
        .await
        .map_err(|e| err("removing the server's journal entry", e))?;
    Ok((pool, report))
}

impl AppliedProfile {
    /// The row of `tunebench_journal.entries` this profile is journaled under: its dataset's
    /// schema, or the target's existing data when it has no dataset.
    fn journal_key(&self) -> &str {
        if self.schema.is_empty() {
            "(existing data)"
        } else {
            &self.schema
        }
    }
}

/// `up` built without blocking writes: `CREATE [UNIQUE] INDEX CONCURRENTLY ...`.
fn concurrently(up: &str) -> String {
    // Words with their end offsets; the rest of the text (literals included) is kept as is.
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in up.char_indices().chain([(up.len(), ' ')]) {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                words.push((&up[s..i], i));
                start = None;
            }
            _ => {}
        }
    }
    if words
        .iter()
        .any(|(w, _)| w.eq_ignore_ascii_case("concurrently"))
    {
        return up.to_string();
    }
    match words.iter().find(|(w, _)| w.eq_ignore_ascii_case("index")) {
        Some(&(_, end)) => format!("{} CONCURRENTLY{}", &up[..end], &up[end..]),
        None => up.to_string(),
    }
}

async fn set_system(pool: &PgPool, name: &str, value: Option<&str>) -> sqlx::Result<()> {
    // ALTER SYSTEM takes no bind parameters: let the server quote the name and the value.
    let stmt: String = match value {
        Some(v) => {
            sqlx::query_scalar("SELECT format('ALTER SYSTEM SET %I = %L', $1::text, $2::text)")
                .bind(name)
                .bind(v)
                .fetch_one(pool)
                .await?
        }
        None => {
            sqlx::query_scalar("SELECT format('ALTER SYSTEM RESET %I', $1::text)")
                .bind(name)
                .fetch_one(pool)
                .await?
        }
    };
    sqlx::query(AssertSqlSafe(stmt)).execute(pool).await?;
    Ok(())
}

#[cfg(test)]
#[test]
fn concurrently_goes_after_index() {
    assert_eq!(
        concurrently("create unique index tunebench_a on app.t (a)"),
        "create unique index CONCURRENTLY tunebench_a on app.t (a)"
    );
    assert_eq!(
        concurrently("CREATE INDEX\n  tunebench_a ON app.t (a) WHERE b <> 'x  y'"),
        "CREATE INDEX CONCURRENTLY\n  tunebench_a ON app.t (a) WHERE b <> 'x  y'"
    );
    let written = "CREATE INDEX CONCURRENTLY tunebench_a ON app.t (a)";
    assert_eq!(concurrently(written), written);
}

async fn reload(pool: &PgPool) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_reload_conf()").execute(pool).await?;
    // The postmaster signals backends asynchronously; give them a moment to re-read.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}

async fn current(pool: &PgPool, name: &str) -> sqlx::Result<String> {
    // A fresh connection: an old backend may not have processed the reload yet.
    let mut conn = pool.acquire().await?;
    conn.close_on_drop();
    sqlx::query_scalar("SELECT current_setting($1)")
        .bind(name)
        .fetch_one(&mut *conn)
        .await
}

async fn index_exists(pool: &PgPool, schema: &str, name: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(format!("{schema}.{name}"))
        .fetch_one(pool)
        .await
}

/// Runs the target's restart command, then reconnects (waiting up to a minute).
async fn restart(pool: PgPool, target: &Target) -> Result<PgPool> {
    pool.close().await;
    crate::backend::model::run_restart_command(target, Duration::from_secs(180)).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match connect(target).await {
            Ok(p) => return Ok(p),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}
