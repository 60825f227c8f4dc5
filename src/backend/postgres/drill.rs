//! The PostgreSQL recovery drill, logical: `pg_dump -Fc` of the dataset's schema, then
//! `pg_restore` into a scratch database (`tunebench_restore_…`) on the same server, which is
//! compared with the source table by table (row count and an order-independent sum of row
//! hashes) and dropped afterwards, also after a failure. The source is only read.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgSslMode};
use sqlx::{AssertSqlSafe, Connection, Row};

use super::connect_options;
use crate::backend::drill::{self, Drill, DrillReport, DrillRun, Integrity, Steps};
use crate::backend::model::Target;
use crate::error::{Error, Result};

/// One table's fingerprint: rows and the sum of its rows' 64-bit text hashes (as text: a
/// numeric sum never overflows).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TableSum {
    pub(super) table: String,
    pub(super) rows: i64,
    pub(super) sum: String,
}

pub async fn logical(
    pool: &PgPool,
    target: &Target,
    drill: &Drill,
    schema: &str,
    run: &DrillRun<'_>,
) -> Result<DrillReport> {
    let who = format!("drill {} on target {}", drill.name, target.name);
    let server_num: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(pool)
        .await
        .map_err(|e| Error::target(&who, e))?;
    let pg_dump = Tool::find("pg_dump", drill.tools.as_deref(), server_num, &who).await?;
    let pg_restore = Tool::find("pg_restore", drill.tools.as_deref(), server_num, &who).await?;
    let source_bytes: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'm')",
    )
    .bind(schema)
    .fetch_one(pool)
    .await
    .map_err(|e| Error::target(&who, e))?;
    std::fs::create_dir_all(run.dir)
        .map_err(|e| Error::target(&who, format!("cannot create {}: {e}", run.dir.display())))?;
    // A custom-format dump is compressed; the uncompressed size bounds it.
    drill::check_disk(run.dir, source_bytes.max(0) as u64, &who)?;

    remove_leftovers(pool, &who, false).await;
    let scratch = format!("tunebench_restore_{}", drill::scratch_suffix());
    let how = format!(
        "{} -Fc{} -n {schema}; {} -j {} into scratch database {scratch} on the same server, then dropped",
        pg_dump.version,
        drill
            .compress
            .as_ref()
            .map_or(String::new(), |c| format!(" -Z {c}")),
        pg_restore.version,
        drill.jobs
    );
    let mut report = DrillReport::start(drill, run, how);
    report.source_bytes = Some(source_bytes.max(0) as u64);
    let env = libpq_env(target)?;
    let dump = run.dir.join("backup.dump");
    let mut steps = Steps::new();

    let outcome = async {
        let source = steps
            .run("fingerprint source", async {
                let sums = fingerprint(pool, schema).await.map_err(|e| e.to_string())?;
                let rows: i64 = sums.iter().map(|s| s.rows).sum();
                Ok((
                    sums.clone(),
                    None,
                    format!("{} tables, {rows} rows", sums.len()),
                ))
            })
            .await?;
        steps
            .run("backup", async {
                let mut args: Vec<&std::ffi::OsStr> = vec![
                    "-Fc".as_ref(),
                    "-n".as_ref(),
                    schema.as_ref(),
                    "-f".as_ref(),
                    dump.as_os_str(),
                ];
                if let Some(c) = &drill.compress {
                    args.push("-Z".as_ref());
                    args.push(std::ffi::OsStr::new(c.as_str()));
                }
                pg_dump.run(&env, &args).await?;
                let bytes = std::fs::metadata(&dump).map_err(|e| e.to_string())?.len();
                Ok(((), Some(bytes), String::new()))
            })
            .await?;
        report.backup_bytes = std::fs::metadata(&dump).ok().map(|m| m.len());
        if drill.inject == Some(drill::Fault::TruncateBackup) {
            let len =
                drill::truncate_half(&dump).map_err(|e| format!("planting the fault: {e}"))?;
            steps.steps.push(drill::DrillStep {
                step: "plant fault".into(),
                seconds: 0.0,
                bytes: Some(len),
                ok: true,
                detail: "backup truncated to half its length (inject = \"truncate_backup\")".into(),
            });
        }
        steps
            .run("create scratch database", async {
                create_scratch(pool, target, &scratch).await?;
                Ok(((), None, scratch.clone()))
            })
            .await?;
        steps
            .run("restore", async {
                let jobs = drill.jobs.to_string();
                pg_restore
                    .run(
                        &env,
                        &[
                            "-d".as_ref(),
                            scratch.as_ref(),
                            "-j".as_ref(),
                            jobs.as_ref(),
                            "--no-owner".as_ref(),
                            "--exit-on-error".as_ref(),
                            dump.as_os_str(),
                        ],
                    )
                    .await?;
                Ok(((), None, String::new()))
            })
            .await?;
        let restored = steps
            .run("ready", async {
                let mut conn = scratch_conn(target, &scratch).await?;
                let done = complete(&mut conn, schema, &source).await;
                let _ = conn.close().await;
                Ok(((), None, done?))
            })
            .await;
        report.rto_s = steps.seconds(&["create scratch database", "restore", "ready"]);
        restored?;
        let copy = steps
            .run("verify", async {
                let mut conn = scratch_conn(target, &scratch).await?;
                let sums = fingerprint(&mut conn, schema)
                    .await
                    .map_err(|e| e.to_string());
                let _ = conn.close().await;
                Ok((sums?, None, String::new()))
            })
            .await?;
        report.integrity = compare(&source, &copy);
        Ok::<(), String>(())
    }
    .await;

    // Whatever happened: the scratch database and (unless kept) the backup go.
    let dropped = drop_scratch(pool, &scratch).await;
    let removed = drill.keep_backup || std::fs::remove_file(&dump).is_ok() || !dump.exists();
    report.cleaned_up = dropped.is_ok() && removed;
    if let Err(e) = &dropped {
        tracing::warn!("{who}: could not drop scratch database {scratch}: {e}");
    }
    report.backup_s = steps.seconds(&["backup"]);
    report.restore_s = steps.seconds(&["restore"]);
    report.steps = steps.steps;
    report.failure = outcome.err();
    Ok(report)
}

/// Every table of the schema, in name order, with rows and the sum of row hashes.
pub(super) async fn fingerprint<'c, E>(db: E, schema: &str) -> sqlx::Result<Vec<TableSum>>
where
    E: sqlx::Acquire<'c, Database = sqlx::Postgres>,
{
    let mut conn = db.acquire().await?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY 1",
    )
    .bind(schema)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    for t in tables {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT count(*)::bigint AS n, \
             coalesce(sum(hashtextextended(r::text, 0)::numeric), 0)::text AS s \
             FROM {}.{} r",
            quote_ident(schema),
            quote_ident(&t)
        )))
        .fetch_one(&mut *conn)
        .await?;
        out.push(TableSum {
            table: t,
            rows: row.get("n"),
            sum: row.get("s"),
        });
    }
    Ok(out)
}

/// Readiness of a restored copy: it answers, and every source table holds its rows there.
/// The step's detail, or what is short (a missing table is an error).
pub(super) async fn complete(
    conn: &mut PgConnection,
    schema: &str,
    source: &[TableSum],
) -> std::result::Result<String, String> {
    let mut short = Vec::new();
    for s in source {
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(*)::bigint FROM {}.{}",
            quote_ident(schema),
            quote_ident(&s.table)
        )))
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| format!("table {}: {e}", s.table))?;
        if n != s.rows {
            short.push(format!("{}: {n} rows of {}", s.table, s.rows));
        }
    }
    if short.is_empty() {
        Ok(format!("{} tables answer", source.len()))
    } else {
        Err(format!(
            "the restored copy is not complete: {}",
            short.join(", ")
        ))
    }
}

pub(super) fn compare(source: &[TableSum], copy: &[TableSum]) -> Integrity {
    let mut differences = Vec::new();
    for s in source {
        match copy.iter().find(|c| c.table == s.table) {
            None => differences.push(format!("table {} is missing", s.table)),
            Some(c) if c.rows != s.rows => differences.push(format!(
                "table {}: {} rows restored, {} in the source",
                s.table, c.rows, s.rows
            )),
            Some(c) if c.sum != s.sum => differences.push(format!(
                "table {}: same {} rows but different contents (row-hash sums differ)",
                s.table, s.rows
            )),
            Some(_) => {}
        }
    }
    for c in copy
        .iter()
        .filter(|c| !source.iter().any(|s| s.table == c.table))
    {
        differences.push(format!("table {} is not in the source", c.table));
    }
    let rows: i64 = source.iter().map(|s| s.rows).sum();
    Integrity::of(
        format!(
            "{} tables, {rows} rows: row count and the sum of hashtextextended(row) per table",
            source.len()
        ),
        source.len() as u64,
        differences,
    )
}

async fn create_scratch(
    pool: &PgPool,
    target: &Target,
    scratch: &str,
) -> std::result::Result<(), String> {
    sqlx::query(AssertSqlSafe(format!(
        "CREATE DATABASE {}",
        quote_ident(scratch)
    )))
    .execute(pool)
    .await
    .map_err(|e| format!("CREATE DATABASE {scratch}: {e}"))?;
    // `pg_dump -n` leaves extensions out: the copy gets those of the source database.
    let extensions: Vec<String> =
        sqlx::query_scalar("SELECT extname::text FROM pg_extension WHERE extname <> 'plpgsql'")
            .fetch_all(pool)
            .await
            .map_err(|e| e.to_string())?;
    let mut conn = scratch_conn(target, scratch).await?;
    for ext in extensions {
        sqlx::query(AssertSqlSafe(format!(
            "CREATE EXTENSION IF NOT EXISTS {}",
            quote_ident(&ext)
        )))
        .execute(&mut conn)
        .await
        .map_err(|e| format!("CREATE EXTENSION {ext} in {scratch}: {e}"))?;
    }
    let _ = conn.close().await;
    Ok(())
}

/// Drops scratch databases an earlier drill left (its process was killed before removing
/// them) that nobody is connected to.
pub(super) async fn remove_leftovers(pool: &PgPool, who: &str, own: bool) {
    let Ok(names) = sqlx::query_scalar::<_, String>(
        "SELECT d.datname::text FROM pg_database d WHERE d.datname LIKE 'tunebench\\_restore\\_%' \
         AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datid = d.oid)",
    )
    .fetch_all(pool)
    .await
    else {
        return;
    };
    for name in names
        .iter()
        .filter(|n| drill::stale(n, "tunebench_restore_", own))
    {
        match drop_scratch(pool, name).await {
            Ok(()) => tracing::warn!(
                "{who}: dropped scratch database {name}, left by an earlier drill that did not finish"
            ),
            Err(e) => tracing::warn!(
                "{who}: scratch database {name} left by an earlier drill: cannot drop it: {e}"
            ),
        }
    }
}

async fn drop_scratch(pool: &PgPool, scratch: &str) -> sqlx::Result<()> {
    debug_assert!(scratch.starts_with("tunebench_restore_"));
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_ident(scratch)
    )))
    .execute(pool)
    .await
    .map(|_| ())
}

async fn scratch_conn(target: &Target, scratch: &str) -> std::result::Result<PgConnection, String> {
    let opts = connect_options(target)
        .map_err(|e| e.to_string())?
        .database(scratch);
    PgConnection::connect_with(&opts)
        .await
        .map_err(|e| format!("connecting to {scratch}: {e}"))
}

pub(super) fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The target's connection for libpq's tools, as environment variables: the password goes
/// through `PGPASSWORD`, never the command line (which `ps` shows).
pub(super) fn libpq_env(target: &Target) -> Result<Vec<(&'static str, String)>> {
    let o: PgConnectOptions = connect_options(target)?;
    let host = match o.get_socket() {
        Some(dir) => dir.display().to_string(),
        None => o.get_host().to_string(),
    };
    let mut env = vec![
        ("PGHOST", host),
        ("PGPORT", o.get_port().to_string()),
        ("PGUSER", o.get_username().to_string()),
        ("PGAPPNAME", "tunebench-drill".to_string()),
        (
            "PGSSLMODE",
            match o.get_ssl_mode() {
                PgSslMode::Disable => "disable",
                PgSslMode::Allow => "allow",
                PgSslMode::Prefer => "prefer",
                PgSslMode::Require => "require",
                PgSslMode::VerifyCa => "verify-ca",
                PgSslMode::VerifyFull => "verify-full",
            }
            .to_string(),
        ),
    ];
    if let Some(db) = o.get_database() {
        env.push(("PGDATABASE", db.to_string()));
    }
    if let Some(p) = crate::secrets::url_password(&target.url) {
        env.push(("PGPASSWORD", p));
    }
    Ok(env)
}

/// A PostgreSQL client tool, found and checked against the server's major version.
pub(super) struct Tool {
    pub(super) path: PathBuf,
    /// `pg_dump (PostgreSQL) 18.1`, as it says.
    pub(super) version: String,
}

impl Tool {
    pub(super) async fn find(
        name: &str,
        dir: Option<&Path>,
        server_num: i32,
        who: &str,
    ) -> Result<Tool> {
        let env_dir = std::env::var_os("TUNEBENCH_PG_BIN").map(PathBuf::from);
        let path = match dir.or(env_dir.as_deref()) {
            Some(d) => d.join(name),
            None => PathBuf::from(name),
        };
        let out = tokio::process::Command::new(&path)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| {
                Error::target(
                    who,
                    format!(
                        "cannot run {} ({e}); set the drill's `tools` to the folder of PostgreSQL's client tools, or TUNEBENCH_PG_BIN",
                        path.display()
                    ),
                )
            })?;
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let major: i32 = version
            .rsplit(' ')
            .next()
            .and_then(|v| v.split('.').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if major * 10_000 < server_num / 10_000 * 10_000 {
            return Err(Error::target(
                who,
                format!(
                    "{} is `{version}`, older than the server (version {}); it cannot back up a newer server: set the drill's `tools` to a newer client",
                    path.display(),
                    server_num / 10_000
                ),
            ));
        }
        Ok(Tool { path, version })
    }

    /// Runs the tool with `env` on top of a clean libpq environment; its stderr's last lines
    /// are the error.
    async fn run(
        &self,
        env: &[(&'static str, String)],
        args: &[&std::ffi::OsStr],
    ) -> std::result::Result<(), String> {
        let mut cmd = tokio::process::Command::new(&self.path);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PG") {
                cmd.env_remove(k);
            }
        }
        let out = cmd
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| format!("cannot run {}: {e}", self.path.display()))?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(4).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Err(format!(
            "{} exited with {}: {}",
            self.path.file_name().unwrap_or_default().to_string_lossy(),
            out.status,
            tail.join(" | ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(table: &str, rows: i64, sum: &str) -> TableSum {
        TableSum {
            table: table.into(),
            rows,
            sum: sum.into(),
        }
    }

    #[test]
    fn compare_names_missing_short_changed_and_extra_tables() {
        let src = [t("a", 3, "10"), t("b", 2, "7"), t("c", 1, "1")];
        assert_eq!(compare(&src, &src).verdict, drill::Verdict::Ok);
        let copy = [t("a", 3, "11"), t("b", 1, "7"), t("d", 1, "1")];
        let i = compare(&src, &copy);
        assert_eq!(i.verdict, drill::Verdict::Differs);
        assert_eq!(
            i.differences,
            [
                "table a: same 3 rows but different contents (row-hash sums differ)",
                "table b: 1 rows restored, 2 in the source",
                "table c is missing",
                "table d is not in the source",
            ]
        );
    }
}
