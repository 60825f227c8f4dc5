//! The PostgreSQL recovery drill, point in time (`method = "pitr"`): a base backup of the
//! server (`pg_basebackup`), a writer that commits numbered rows until the "failure", and a
//! recovery of a scratch server (another port on 127.0.0.1, a scratch data directory) from
//! the base backup and the WAL archive *as it was at the failure*: the server's own `pg_wal`
//! is lost with it, as in a disaster. RPO is what the writer committed and the copy lacks,
//! counted in rows and seconds; RTO runs from the start of the restore until the promoted
//! copy answers the readiness query.
//!
//! Needs WAL archiving on the server (a profile sets `archive_mode` and `archive_command`)
//! into a folder this process can read (`archive` in the drill): the server runs here.
//! Nothing of the source is written but the drill's own writer schema
//! (`tunebench_drill_…`), dropped afterwards; the scratch server is stopped and its folder
//! removed, also after a failure.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{AssertSqlSafe, Connection, Row};

use super::connect_options;
use super::drill::{Tool, compare, complete, fingerprint, libpq_env, quote_ident};
use crate::backend::drill::{self, Drill, DrillReport, DrillRun, Integrity, Steps};
use crate::backend::model::Target;
use crate::error::{Error, Result};

/// How long the archive may take to receive the probe's segment.
const ARCHIVE_WAIT: Duration = Duration::from_secs(60);
/// How long recovery may take before the drill gives up.
const RECOVERY_LIMIT: Duration = Duration::from_secs(3600);

/// The user a scratch server must run as (PostgreSQL refuses root): the owner of what the
/// server archived, when this process is root; this process otherwise.
#[derive(Clone, Copy)]
struct RunAs(Option<(u32, u32)>);

impl RunAs {
    fn command(self, program: &Path) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(program);
        if let Some((uid, gid)) = self.0 {
            c.uid(uid).gid(gid);
        }
        c.stdin(std::process::Stdio::null());
        c
    }

    fn own(self, path: &Path) -> std::result::Result<(), String> {
        if let Some((uid, gid)) = self.0 {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", path.display()))?;
        }
        Ok(())
    }
}

async fn run_tool(
    mut cmd: tokio::process::Command,
    what: &str,
    env: &[(&'static str, String)],
) -> std::result::Result<String, String> {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PG") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .await
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        return Ok(stderr.into_owned());
    }
    let tail: Vec<&str> = stderr.lines().rev().take(4).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(format!(
        "{what} exited with {}: {}",
        out.status,
        tail.join(" | ")
    ))
}

pub async fn pitr(
    pool: &PgPool,
    target: &Target,
    drill: &Drill,
    schema: &str,
    run: &DrillRun<'_>,
) -> Result<DrillReport> {
    let who = format!("drill {} on target {}", drill.name, target.name);
    let fail = |m: String| Error::target(&who, m);
    let Some(archive) = drill.archive.as_deref() else {
        return Err(Error::Usage(format!(
            "{who}: method = \"pitr\" needs `archive`, the folder the server archives WAL into"
        )));
    };
    let show = |name: &'static str| async move {
        sqlx::query_scalar::<_, String>(AssertSqlSafe(format!("SHOW {name}")))
            .fetch_one(pool)
            .await
    };
    let mode = show("archive_mode")
        .await
        .map_err(|e| fail(e.to_string()))?;
    if mode == "off" {
        return Err(fail(format!(
            "point-in-time recovery needs WAL archiving, but archive_mode is off: apply a profile that sets archive_mode = \"on\" and an archive_command copying into {} (e.g. profiles/postgres/wal-archive.toml)",
            archive.display()
        )));
    }
    let timeout = show("archive_timeout")
        .await
        .map_err(|e| fail(e.to_string()))?;
    let server_num: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(pool)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let basebackup = Tool::find("pg_basebackup", drill.tools.as_deref(), server_num, &who).await?;
    let pg_ctl = Tool::find("pg_ctl", drill.tools.as_deref(), server_num, &who).await?;
    remove_leftovers(pool, &pg_ctl, false).await;

    let suffix = drill::scratch_suffix();
    let writer = format!("tunebench_drill_{suffix}");
    let env = libpq_env(target)?;
    // The writer's schema first: the probe below needs WAL written since the last switch.
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE SCHEMA {w}; CREATE TABLE {w}.writer (id bigint PRIMARY KEY, \
         at timestamptz NOT NULL DEFAULT clock_timestamp())",
        w = quote_ident(&writer)
    )))
    .execute(pool)
    .await
    .map_err(|e| fail(format!("creating the writer schema {writer}: {e}")))?;

    let root = std::env::temp_dir().join(format!("tunebench-pitr-{suffix}"));
    let result = async {
        let run_as = probe_archive(pool, archive).await.map_err(&fail)?;
        let source_bytes: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
            .fetch_one(pool)
            .await
            .map_err(|e| fail(e.to_string()))?;
        std::fs::create_dir_all(&root)
            .and_then(|()| {
                std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            })
            .map_err(|e| fail(format!("cannot create {}: {e}", root.display())))?;
        run_as.own(&root).map_err(&fail)?;
        // The base backup, its restored copy and the WAL it replays.
        drill::check_disk(&root, source_bytes.max(0) as u64 * 2 + (256 << 20), &who)?;
        Ok::<_, Error>((run_as, source_bytes))
    }
    .await;
    let (run_as, source_bytes) = match result {
        Ok(v) => v,
        Err(e) => {
            drop_writer(pool, &writer).await;
            let _ = std::fs::remove_dir_all(&root);
            return Err(e);
        }
    };

    let port = free_port().map_err(|e| fail(format!("no free port on 127.0.0.1: {e}")))?;
    let how = format!(
        "{} -Ft -X fetch {} of the whole server; a writer committing numbered rows at {}/s for {:.0} s in {writer}; the server lost with its pg_wal at the end of the writer; {} -D scratch data directory on 127.0.0.1:{port} recovering from the base backup and the archive as it was at the failure (archive_timeout {timeout}){}, then promoted, compared and removed",
        basebackup.version,
        drill
            .compress
            .as_ref()
            .map_or("-z".to_string(), |c| format!("-Z {c}")),
        drill.writer_rate,
        drill.writer_for.as_secs_f64(),
        pg_ctl.version,
        drill.recover_to.map_or(String::new(), |d| format!(
            " to a point in time {} s before the failure (recovery_target_time, inclusive)",
            d.as_secs_f64()
        )),
    );
    let mut report = DrillReport::start(drill, run, how);
    report.source_bytes = Some(source_bytes.max(0) as u64);
    let mut steps = Steps::new();
    let (base, wal, data, sock) = (
        root.join("base"),
        root.join("archive"),
        root.join("pgdata"),
        root.join("s"),
    );
    let scratch = Scratch {
        pg_ctl: &pg_ctl.path,
        data: &data,
        run_as,
    };

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
        let start_segment: String =
            sqlx::query_scalar("SELECT pg_walfile_name(pg_current_wal_lsn())")
                .fetch_one(pool)
                .await
                .map_err(|e| e.to_string())?;
        let start_lsn: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
            .fetch_one(pool)
            .await
            .map_err(|e| e.to_string())?;
        let backup_bytes = steps
            .run("backup", async {
                for d in [&base, &wal, &sock] {
                    std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
                    run_as.own(d)?;
                }
                let mut cmd = run_as.command(&basebackup.path);
                cmd.arg("-D").arg(&base).args([
                    "-Ft",
                    "-X",
                    "fetch",
                    "-c",
                    "fast",
                    "--no-password",
                ]);
                match &drill.compress {
                    Some(c) => cmd.args(["-Z", c.as_str()]),
                    None => cmd.arg("-z"),
                };
                run_tool(cmd, "pg_basebackup", &env).await?;
                let bytes = drill::folder_bytes(&base);
                Ok((bytes, Some(bytes), String::new()))
            })
            .await?;
        report.backup_bytes = Some(backup_bytes);
        let written = steps
            .run("writer", async {
                let w = write_rows(pool, &writer, drill.writer_rate, drill.writer_for).await?;
                let detail = format!("{} rows committed, the last at {}", w.last_id(), w.last_at());
                Ok((w, None, detail))
            })
            .await?;
        let pit = drill.recover_to.map(|d| RecoveryTarget::before(&written, d));
        // The failure: the server and its pg_wal are gone; what the archive holds now is
        // all a recovery gets.
        steps
            .run("failure", async {
                let n = snapshot_archive(archive, &wal, &start_segment, run_as)?;
                Ok((
                    (),
                    None,
                    format!(
                        "{n} archived files (from segment {start_segment}) survive the failure"
                    ),
                ))
            })
            .await?;
        if drill.inject == Some(drill::Fault::TruncateBackup) {
            let tar = base_tar(&base)?;
            let len = drill::truncate_half(&tar).map_err(|e| format!("planting the fault: {e}"))?;
            steps.steps.push(drill::DrillStep {
                step: "plant fault".into(),
                seconds: 0.0,
                bytes: Some(len),
                ok: true,
                detail: format!(
                    "{} truncated to half its length (inject = \"truncate_backup\")",
                    tar.file_name().unwrap_or_default().to_string_lossy()
                ),
            });
        }
        let opts = connect_options(target)
            .map_err(|e| e.to_string())?
            .host("127.0.0.1")
            .port(port);
        steps
            .run("restore", async {
                restore(&scratch, &base, &wal, &sock, port, pit.as_ref()).await?;
                let promoted = wait_promoted(&opts, &scratch).await?;
                let replayed = lsn(&promoted.replayed)
                    .zip(lsn(&start_lsn))
                    .map(|(end, start)| end.saturating_sub(start));
                let mut detail = match replayed {
                    Some(b) => format!(
                        "{} of WAL replayed ({start_lsn} to {}: the distance between the two positions, in which a segment closed early by a switch or archive_timeout counts whole), promoted at {}",
                        drill::human_bytes(b),
                        promoted.replayed,
                        promoted.current
                    ),
                    None => format!("promoted at {}", promoted.current),
                };
                if let Some(t) = &pit {
                    detail.push_str(&format!(
                        "; recovery_target_time {}: the writer had committed {} rows by then",
                        t.time, t.rows
                    ));
                }
                Ok(((), replayed, detail))
            })
            .await?;
        let ready = steps
            .run("ready", async {
                let mut conn = PgConnection::connect_with(&opts)
                    .await
                    .map_err(|e| e.to_string())?;
                let done = complete(&mut conn, schema, &source).await;
                let _ = conn.close().await;
                Ok(((), None, done?))
            })
            .await;
        report.rto_s = steps.seconds(&["restore", "ready"]);
        ready?;
        let (copy, recovered) = steps
            .run("verify", async {
                let mut conn = PgConnection::connect_with(&opts)
                    .await
                    .map_err(|e| e.to_string())?;
                let sums = fingerprint(&mut conn, schema)
                    .await
                    .map_err(|e| e.to_string());
                let rec = recovered_rows(&mut conn, &writer).await;
                let _ = conn.close().await;
                Ok(((sums?, rec?), None, String::new()))
            })
            .await?;
        let mut integrity = compare(&source, &copy);
        if recovered.count != recovered.max_id {
            let mut d = integrity.differences.clone();
            d.push(format!(
                "writer rows are not contiguous: {} rows recovered up to id {}",
                recovered.count, recovered.max_id
            ));
            integrity = Integrity::of(integrity.compared.clone(), integrity.items, d);
        }
        // What the copy must hold: every row committed by the failure, or by the target.
        let (kept, kept_at) = match &pit {
            Some(t) => {
                if recovered.max_id != t.rows {
                    let mut d = integrity.differences.clone();
                    d.push(format!(
                        "recovered writer rows up to id {} but the target {} lies after row {} and before row {}",
                        recovered.max_id,
                        t.time,
                        t.rows,
                        t.rows + 1
                    ));
                    integrity = Integrity::of(integrity.compared.clone(), integrity.items, d);
                }
                (t.rows, t.last_at.unwrap_or(written.started_at))
            }
            None => (written.last_id(), written.last_at()),
        };
        report.integrity = integrity;
        let lost = kept.saturating_sub(recovered.max_id);
        report.rpo_rows = Some(lost);
        report.rpo_s = Some(if lost == 0 {
            0.0
        } else {
            let since = recovered.last_at.unwrap_or(written.started_at);
            (kept_at - since).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6
        });
        Ok::<(), String>(())
    }
    .await;

    let stopped = scratch.stop().await;
    drop_writer(pool, &writer).await;
    if drill.keep_backup {
        let keep = run.dir.join("base");
        let _ = std::fs::create_dir_all(run.dir);
        if let Err(e) = std::fs::rename(&base, &keep) {
            tracing::warn!(
                "{who}: could not keep the base backup in {}: {e}",
                keep.display()
            );
        }
    }
    let removed = std::fs::remove_dir_all(&root).is_ok();
    report.cleaned_up = stopped && removed;
    report.backup_s = steps.seconds(&["backup"]);
    report.restore_s = steps.seconds(&["restore"]);
    report.steps = steps.steps;
    report.failure = outcome.err();
    Ok(report)
}

/// Switches to a new WAL segment and waits for it in `archive`: proof that the folder is
/// where the server archives. Returns who the scratch server must run as.
async fn probe_archive(pool: &PgPool, archive: &Path) -> std::result::Result<RunAs, String> {
    let segment: String = sqlx::query_scalar("SELECT pg_walfile_name(pg_switch_wal())")
        .fetch_one(pool)
        .await
        .map_err(|e| format!("switching WAL segments: {e}"))?;
    let file = archive.join(&segment);
    let t0 = Instant::now();
    loop {
        if let Ok(m) = std::fs::metadata(&file) {
            // SAFETY: geteuid has no preconditions.
            let root = unsafe { libc::geteuid() } == 0;
            if !root {
                return Ok(RunAs(None));
            }
            if m.uid() == 0 {
                return Err(format!(
                    "{} was archived by root; a scratch PostgreSQL cannot run as root",
                    file.display()
                ));
            }
            return Ok(RunAs(Some((m.uid(), m.gid()))));
        }
        if t0.elapsed() > ARCHIVE_WAIT {
            let failed: Option<String> = sqlx::query_scalar(
                "SELECT last_failed_wal || ' at ' || last_failed_time FROM pg_stat_archiver \
                 WHERE failed_count > 0",
            )
            .fetch_optional(pool)
            .await
            .ok()
            .flatten();
            return Err(format!(
                "segment {segment} did not appear in {} within {} s{}: the drill's `archive` must be the folder the server's archive_command copies into",
                archive.display(),
                ARCHIVE_WAIT.as_secs(),
                failed.map_or(String::new(), |f| format!(
                    " (the archiver last failed on {f})"
                ))
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Written {
    started_at: DateTime<Utc>,
    /// When each row was inserted (the server's clock_timestamp()), row 1 first.
    ats: Vec<DateTime<Utc>>,
}

impl Written {
    /// The last row committed (0: none).
    fn last_id(&self) -> u64 {
        self.ats.len() as u64
    }

    /// When the last row was inserted (the writer's start when it wrote none).
    fn last_at(&self) -> DateTime<Utc> {
        self.ats.last().copied().unwrap_or(self.started_at)
    }
}

/// A point-in-time recovery target between two writer rows.
struct RecoveryTarget {
    /// `recovery_target_time`, as PostgreSQL reads it.
    time: String,
    /// Rows committed by the target: exactly what the copy must hold.
    rows: u64,
    /// When the last of them was inserted.
    last_at: Option<DateTime<Utc>>,
}

impl RecoveryTarget {
    /// The target `before` the failure (the last commit), moved to 1 µs before the insert
    /// of the first row after it: that row's commit comes later, and the row before it
    /// committed before that insert began (one connection, one row per transaction), so
    /// the rows the copy must hold are exactly those before it, whatever the commit's
    /// own latency.
    fn before(w: &Written, before: Duration) -> Self {
        let wanted =
            w.last_at() - chrono::Duration::from_std(before).unwrap_or(chrono::Duration::zero());
        let next = w
            .ats
            .iter()
            .position(|at| *at > wanted)
            .unwrap_or(w.ats.len());
        let at =
            w.ats.get(next).copied().unwrap_or(w.last_at()) - chrono::Duration::microseconds(1);
        RecoveryTarget {
            time: at.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string(),
            rows: next as u64,
            last_at: next.checked_sub(1).and_then(|i| w.ats.get(i).copied()),
        }
    }
}

/// An LSN (`16/B374D848`) as a byte position.
fn lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// Commits rows 1, 2, ... one per transaction at `rate` per second for `duration`; what the
/// server confirmed last is what a disaster after it may lose.
async fn write_rows(
    pool: &PgPool,
    writer: &str,
    rate: f64,
    duration: Duration,
) -> std::result::Result<Written, String> {
    let sql = format!(
        "INSERT INTO {}.writer (id) VALUES ($1) RETURNING at",
        quote_ident(writer)
    );
    let mut conn = pool.acquire().await.map_err(|e| e.to_string())?;
    let started_at = Utc::now();
    let t0 = tokio::time::Instant::now();
    let mut ats = Vec::new();
    let mut id = 1u64;
    loop {
        let at = t0 + Duration::from_secs_f64((id - 1) as f64 / rate);
        if at.duration_since(t0) >= duration {
            break;
        }
        tokio::time::sleep_until(at).await;
        let committed: DateTime<Utc> = sqlx::query_scalar(AssertSqlSafe(sql.as_str()))
            .bind(id as i64)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| format!("writer row {id}: {e}"))?;
        ats.push(committed);
        id += 1;
    }
    Ok(Written { started_at, ats })
}

/// Links (or copies) what the archive holds from `start` on into `to`.
fn snapshot_archive(
    archive: &Path,
    to: &Path,
    start: &str,
    run_as: RunAs,
) -> std::result::Result<usize, String> {
    let mut n = 0;
    let entries =
        std::fs::read_dir(archive).map_err(|e| format!("reading {}: {e}", archive.display()))?;
    for e in entries {
        let e = e.map_err(|e| e.to_string())?;
        let name = e.file_name().to_string_lossy().into_owned();
        let segment = name.len() >= 24 && name[..24].chars().all(|c| c.is_ascii_hexdigit());
        let wanted = name.ends_with(".history") || (segment && name[..24] >= *start);
        if !wanted {
            continue;
        }
        let dst = to.join(&name);
        if std::fs::hard_link(e.path(), &dst).is_err() {
            std::fs::copy(e.path(), &dst).map_err(|x| format!("copying {name}: {x}"))?;
            run_as.own(&dst)?;
        }
        n += 1;
    }
    Ok(n)
}

struct Scratch<'a> {
    pg_ctl: &'a Path,
    data: &'a Path,
    run_as: RunAs,
}

impl Scratch<'_> {
    /// Stops the scratch server if it runs (immediately: nothing in it is kept). True when
    /// it is not running afterwards.
    async fn stop(&self) -> bool {
        if !self.data.join("postmaster.pid").exists() {
            return true;
        }
        let mut cmd = self.run_as.command(self.pg_ctl);
        cmd.arg("-D")
            .arg(self.data)
            .args(["-m", "immediate", "-w", "stop"]);
        match run_tool(cmd, "pg_ctl stop", &[]).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(
                    "stopping the scratch server in {}: {e}",
                    self.data.display()
                );
                false
            }
        }
    }
}

/// The base backup unpacked into a scratch data directory, told to recover from the archive
/// snapshot on its own port (never archiving), and started.
async fn restore(
    s: &Scratch<'_>,
    base: &Path,
    wal: &Path,
    sock: &Path,
    port: u16,
    target: Option<&RecoveryTarget>,
) -> std::result::Result<(), String> {
    std::fs::create_dir_all(s.data).map_err(|e| e.to_string())?;
    std::fs::set_permissions(s.data, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .map_err(|e| e.to_string())?;
    s.run_as.own(s.data)?;
    let tars: Vec<String> = std::fs::read_dir(base)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tar") && !n.starts_with("base.tar"))
        .collect();
    if !tars.is_empty() {
        return Err(format!(
            "the server has tablespaces outside its data directory ({}), which this drill does not restore",
            tars.join(", ")
        ));
    }
    let file = base_tar(base)?;
    let mut tar = s.run_as.command(Path::new("tar"));
    // GNU tar recognises gzip, lz4 and zstd archives by their contents.
    tar.arg("-xf").arg(&file).arg("-C").arg(s.data);
    run_tool(tar, "tar (unpacking the base backup)", &[]).await?;
    let _ = std::fs::remove_file(s.data.join("standby.signal"));
    let signal = s.data.join("recovery.signal");
    std::fs::write(&signal, "").map_err(|e| e.to_string())?;
    s.run_as.own(&signal)?;
    let mut conf = format!(
        "\n# tunebench PITR drill: a scratch copy recovering from an archive snapshot\n\
         port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{sock}'\n\
         archive_mode = 'off'\nrestore_command = 'cp \"{wal}/%f\" \"%p\"'\n\
         recovery_target_timeline = 'latest'\nshared_buffers = '128MB'\n\
         hot_standby = on\nlogging_collector = off\n",
        sock = sock.display(),
        wal = wal.display(),
    );
    if let Some(t) = target {
        conf.push_str(&format!(
            "recovery_target_time = '{}'\nrecovery_target_inclusive = on\n\
             recovery_target_action = 'promote'\n",
            t.time
        ));
    }
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(s.data.join("postgresql.auto.conf"))
        .and_then(|mut f| f.write_all(conf.as_bytes()))
        .map_err(|e| format!("configuring the scratch copy: {e}"))?;
    let mut cmd = s.run_as.command(s.pg_ctl);
    cmd.arg("-D")
        .arg(s.data)
        .arg("-l")
        .arg(s.data.join("drill.log"))
        .args(["-w", "-t", "3600", "start"]);
    run_tool(cmd, "pg_ctl start", &[]).await.map_err(|e| {
        format!(
            "{e}; the scratch server's log says: {}",
            log_problems(s.data)
        )
    })?;
    Ok(())
}

/// The scratch server's last FATAL, PANIC or ERROR lines (its last lines when it has none).
fn log_problems(data: &Path) -> String {
    let log = std::fs::read_to_string(data.join("drill.log")).unwrap_or_default();
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("FATAL:") || l.contains("PANIC:") || l.contains("ERROR:"))
        .collect();
    let lines: Vec<&str> = if bad.is_empty() {
        log.lines().collect()
    } else {
        bad
    };
    let tail: Vec<&str> = lines.iter().rev().take(3).rev().copied().collect();
    tail.join(" | ")
}

/// The base backup's tar file (`base.tar`, `.gz`, `.lz4` or `.zst` after its compression).
fn base_tar(base: &Path) -> std::result::Result<std::path::PathBuf, String> {
    std::fs::read_dir(base)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("base.tar"))
        .map(|e| e.path())
        .ok_or_else(|| format!("pg_basebackup wrote no base.tar* into {}", base.display()))
}

struct Promoted {
    /// The last WAL position recovery replayed.
    replayed: String,
    /// The promoted server's WAL position.
    current: String,
}

/// Waits until recovery has replayed all it has (or reached its target) and the copy is
/// promoted; fails at once when the scratch server stops (recovery gave up).
async fn wait_promoted(
    opts: &sqlx::postgres::PgConnectOptions,
    s: &Scratch<'_>,
) -> std::result::Result<Promoted, String> {
    let t0 = Instant::now();
    loop {
        if let Ok(mut c) = PgConnection::connect_with(opts).await {
            let r = sqlx::query(
                "SELECT pg_is_in_recovery() AS r, pg_current_wal_lsn()::text AS l, \
                 coalesce(pg_last_wal_replay_lsn()::text, '') AS p",
            )
            .fetch_one(&mut c)
            .await;
            let _ = c.close().await;
            if let Ok(row) = r
                && !row.get::<bool, _>("r")
            {
                return Ok(Promoted {
                    replayed: row.get("p"),
                    current: row.get("l"),
                });
            }
        }
        if !s.data.join("postmaster.pid").exists() {
            return Err(format!(
                "the scratch server stopped during recovery: {}",
                log_problems(s.data)
            ));
        }
        if t0.elapsed() > RECOVERY_LIMIT {
            return Err(format!(
                "still recovering after {} s; see {}",
                RECOVERY_LIMIT.as_secs(),
                s.data.join("drill.log").display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Recovered {
    count: u64,
    max_id: u64,
    last_at: Option<DateTime<Utc>>,
}

async fn recovered_rows(
    conn: &mut PgConnection,
    writer: &str,
) -> std::result::Result<Recovered, String> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT count(*)::bigint AS n, coalesce(max(id), 0)::bigint AS m, max(at) AS at FROM {}.writer",
        quote_ident(writer)
    )))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| format!("reading the writer's rows in the copy: {e}"))?;
    Ok(Recovered {
        count: row.get::<i64, _>("n").max(0) as u64,
        max_id: row.get::<i64, _>("m").max(0) as u64,
        last_at: row.get("at"),
    })
}

async fn drop_writer(pool: &PgPool, writer: &str) {
    debug_assert!(writer.starts_with("tunebench_drill_"));
    if let Err(e) = sqlx::query(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {} CASCADE",
        quote_ident(writer)
    )))
    .execute(pool)
    .await
    {
        tracing::warn!("could not drop the drill's writer schema {writer}: {e}");
    }
}

/// Scratch servers and writer schemas an earlier drill left (its process was killed).
pub(super) async fn remove_leftovers(pool: &PgPool, pg_ctl: &Tool, own: bool) {
    if let Ok(dirs) = std::fs::read_dir(std::env::temp_dir()) {
        for d in dirs.filter_map(|d| d.ok()) {
            let name = d.file_name().to_string_lossy().into_owned();
            if !drill::stale(&name, "tunebench-pitr-", own) {
                continue;
            }
            let data = d.path().join("pgdata");
            let owner = std::fs::metadata(&data).ok().map(|m| (m.uid(), m.gid()));
            // SAFETY: geteuid has no preconditions.
            let root = unsafe { libc::geteuid() } == 0;
            let s = Scratch {
                pg_ctl: &pg_ctl.path,
                data: &data,
                run_as: RunAs(owner.filter(|_| root)),
            };
            if s.stop().await {
                let _ = std::fs::remove_dir_all(d.path());
                tracing::warn!("removed {name}, a scratch server left by an earlier drill");
            }
        }
    }
    let Ok(schemas) = sqlx::query_scalar::<_, String>(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'tunebench\\_drill\\_%'",
    )
    .fetch_all(pool)
    .await
    else {
        return;
    };
    for s in schemas
        .iter()
        .filter(|s| drill::stale(s, "tunebench_drill_", own))
    {
        drop_writer(pool, s).await;
        tracing::warn!("dropped schema {s}, a writer left by an earlier drill");
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
