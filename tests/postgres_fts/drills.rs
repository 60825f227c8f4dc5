//! Recovery drills on the real PostgreSQL (issue 18): a logical backup restored into a
//! scratch database matches the source, a truncated backup fails the drill (exit 1, saying
//! why), and the scratch database and backup file are gone afterwards either way.

use std::path::{Path, PathBuf};

use sqlx::{Connection, PgConnection};
use tunebench::Results;
use tunebench::results::Verdict;

use super::SERVER;
use super::common;
use super::common::postgres::{fts_scenario, pg_url};

const SCHEMA: &str = "tunebench_test_drill";

/// The FTS test scenario with one drill on its corpus, run under the baseline only.
fn drill_scenario(dir: &Path, drill_extra: &str, criteria: &str) -> PathBuf {
    let path = fts_scenario(dir, SCHEMA, &pg_url(), criteria);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        r#"
[[workload]]
name = "pg_backup"
kind = "drill"
target = "pg"
dataset = "docs"
method = "logical"
{drill_extra}
"#
    ));
    std::fs::write(&path, text).unwrap();
    path
}

async fn scratch_databases() -> Vec<String> {
    let mut c = PgConnection::connect(&pg_url()).await.unwrap();
    sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'tunebench_restore_%'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap()
}

fn quick(path: &Path, out: &Path) -> Vec<String> {
    [
        "run",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--profile",
        "baseline",
        "--duration",
        "200ms",
        "--warmup",
        "0s",
    ]
    .map(String::from)
    .to_vec()
}

async fn run(args: &[String]) -> tunebench::Outcome {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::run(&args).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logical_drill_restores_an_exact_copy_and_leaves_nothing_behind() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let path = drill_scenario(
        dir.path(),
        "compress = \"gzip:1\"",
        r#"criteria = ["pg_backup.integrity == ok", "pg_backup.rto < 1h", "pg_backup.backup_bytes < 1GB", "pg_backup.rpo < 15m"]"#,
    );
    let out = dir.path().join("out");
    // What a drill killed before its cleanup leaves (no process has PID 4194304: it is the
    // kernel's pid_max); and a foreign database that merely looks alike, left alone.
    let mut c = PgConnection::connect(&pg_url()).await.unwrap();
    for db in [
        "tunebench_restore_4194304_9",
        "tunebench_restorex_4194304_9",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db}")))
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
            .execute(&mut c)
            .await
            .unwrap();
    }
    let outcome = run(&quick(&path, &out)).await;
    let left: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'tunebench_restore%' ORDER BY 1",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(left, ["tunebench_restorex_4194304_9"]);
    sqlx::query("DROP DATABASE tunebench_restorex_4194304_9")
        .execute(&mut c)
        .await
        .unwrap();
    let results = Results::read(&out.join("results.json")).unwrap();
    let violations = common::schema_violations_of(&out.join("results.json"));
    assert!(violations.is_empty(), "{violations:?}");
    let d = &results.runs[0].drills[0];
    assert_eq!(d.failure, None, "{:?}", d.steps);
    assert_eq!(d.integrity.verdict, Verdict::Ok, "{:?}", d.integrity);
    // documents, authors, comments and the dataset's own bookkeeping table: every table of
    // the schema is compared.
    assert!(d.integrity.items >= 3, "{:?}", d.integrity);
    assert!(
        d.integrity.compared.contains("rows"),
        "{}",
        d.integrity.compared
    );
    assert!(d.how.contains("-Z gzip:1"), "{}", d.how);
    assert!(d.backup_bytes.unwrap() > 0 && d.source_bytes.unwrap() > 0);
    let rto = d.rto_s.unwrap();
    assert!(rto >= d.restore_s.unwrap() && d.restore_s.unwrap() > 0.0);
    assert!(d.cleaned_up);
    // A logical backup of data at rest has no writer: no RPO, and a criterion on it is no pass.
    assert_eq!((d.rpo_s, d.rpo_rows), (None, None));
    let c = &results.runs[0].criteria;
    assert_eq!(
        c.iter().map(|c| c.passed).collect::<Vec<_>>(),
        [true, true, true, false],
        "{c:?}"
    );
    assert_eq!(c[1].value, Some(rto));
    assert_eq!(outcome.exit_code, 1, "only the RPO criterion fails");
    assert!(scratch_databases().await.is_empty());
    assert!(!out.join("drills").exists(), "the backup file is removed");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("| baseline | pg_backup (logical) | pg | 1 |"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_backup_fails_the_drill_with_exit_1_and_says_why() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let path = drill_scenario(
        dir.path(),
        "inject = \"truncate_backup\"\nkeep_backup = true",
        "",
    );
    let out = dir.path().join("out");
    let outcome = run(&quick(&path, &out)).await;
    assert_eq!(outcome.exit_code, 1, "{}", outcome.summary);
    assert!(
        outcome
            .summary
            .contains("drill failed under `baseline` (trial 1): pg_backup: restore:"),
        "{}",
        outcome.summary
    );
    let results = Results::read(&out.join("results.json")).unwrap();
    let d = &results.runs[0].drills[0];
    assert!(!d.passed());
    assert_eq!(d.integrity.verdict, Verdict::NotCompared);
    let failed = d.steps.iter().find(|s| !s.ok).unwrap();
    assert_eq!(failed.step, "restore");
    assert!(failed.detail.contains("pg_restore"), "{}", failed.detail);
    assert!(
        scratch_databases().await.is_empty(),
        "dropped after a failure too"
    );
    // Kept as asked: half its length.
    let kept = out.join("drills/pg_backup-baseline-t1/backup.dump");
    assert_eq!(
        std::fs::metadata(&kept).unwrap().len(),
        d.backup_bytes.unwrap() / 2
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("**FAILED**: restore:"), "{report}");
    assert!(report.contains("caught"), "{report}");
}

/// PITR measures RPO, it does not assume it: the same writer, the same server, archived
/// with archive_timeout 60 s and with 1 s. With 60 s no segment of the writer's is finished
/// before the failure, so every row it committed is lost; with 1 s the archive holds most of
/// them. Each profile restarts the server (archive_mode), and the revert restarts it back.
/// A second drill recovers to a point in time 3 s before its failure: with 1 s the copy
/// holds exactly the rows committed by then; with 60 s the archive does not reach the
/// target, and the drill fails (the run exits 1) saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pitr_loses_what_the_archive_timeout_allows_and_no_more() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let archive = common::env_or(
        "TUNEBENCH_PG_ARCHIVE",
        &format!("{}/pgarchive", common::cache_dir()),
    );
    let path = fts_scenario(dir.path(), SCHEMA, &pg_url(), "");
    let mut text = std::fs::read_to_string(&path).unwrap();
    // Drills only: the workloads under load are not what this test is about.
    text.truncate(text.find("[[workload]]").unwrap());
    text.push_str(&format!(
        r#"
[[workload]]
name = "pg_pitr"
kind = "drill"
target = "pg"
dataset = "docs"
method = "pitr"
archive = "{archive}"
compress = "gzip:1"
writer_rate = 20
writer_duration = "3s"

[[workload]]
name = "pg_pitr_target"
kind = "drill"
target = "pg"
dataset = "docs"
method = "pitr"
archive = "{archive}"
writer_rate = 20
writer_duration = "4s"
recover_to = "3s"

[[profile]]
name = "timeout_60s"
apply = {{ pg = "{root}/profiles/postgres/wal-archive.toml" }}

[[profile]]
name = "timeout_1s"
apply = {{ pg = "{root}/profiles/postgres/wal-archive-1s.toml" }}
"#,
        root = common::ROOT
    ));
    std::fs::write(&path, text).unwrap();
    let out = dir.path().join("out");
    let before = super::server_state(SCHEMA).await;
    let outcome = common::run_to(&path, &out, &[]).await.unwrap();
    assert_eq!(outcome.exit_code, 1, "{}", outcome.summary);
    assert!(
        outcome
            .summary
            .contains("drill failed under `timeout_60s` (trial 1): pg_pitr_target:")
            && outcome
                .summary
                .contains("recovery ended before configured recovery target was reached"),
        "{}",
        outcome.summary
    );
    let violations = common::schema_violations_of(&out.join("results.json"));
    assert!(violations.is_empty(), "{violations:?}");
    let results = Results::read(&out.join("results.json")).unwrap();
    let drill_named = |profile: &str, name: &str| {
        results
            .runs
            .iter()
            .find(|r| r.profile == profile)
            .unwrap()
            .drills
            .iter()
            .find(|d| d.drill == name)
            .unwrap()
            .clone()
    };
    let drill = |profile: &str| drill_named(profile, "pg_pitr");
    let (slow, fast) = (drill("timeout_60s"), drill("timeout_1s"));
    // To a point in time: 4 s at 20 rows/s, the target 3 s before the last: about 20 rows,
    // and exactly those the writer committed by the target (the drill compares the copy's
    // rows with the writer's own record; a difference would fail it).
    let pit = drill_named("timeout_1s", "pg_pitr_target");
    assert!(pit.passed(), "{:?} {:?}", pit.failure, pit.integrity);
    assert!(pit.cleaned_up);
    assert_eq!(
        pit.rpo_rows,
        Some(0),
        "nothing committed by the target is lost"
    );
    assert!(
        pit.how
            .contains("to a point in time 3 s before the failure"),
        "{}",
        pit.how
    );
    let restore = pit.steps.iter().find(|s| s.step == "restore").unwrap();
    assert!(
        restore.bytes.unwrap() > 0 && restore.detail.contains("of WAL replayed"),
        "{restore:?}"
    );
    let by_target: u64 = restore
        .detail
        .split("the writer had committed ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", restore.detail));
    assert!((10..=30).contains(&by_target), "{}", restore.detail);
    let missed = drill_named("timeout_60s", "pg_pitr_target");
    assert!(!missed.passed() && missed.cleaned_up, "{missed:?}");
    for d in [&slow, &fast] {
        assert!(d.passed(), "{:?}", d.steps);
        assert!(d.cleaned_up);
        assert!(d.how.contains("-Z gzip:1"), "{}", d.how);
        assert!(d.rto_s.unwrap() > 0.0 && d.backup_bytes.unwrap() > 0);
    }
    // 3 s at 20 rows/s: 60 rows committed.
    let written = |d: &tunebench::results::DrillReport| {
        d.steps
            .iter()
            .find(|s| s.step == "writer")
            .unwrap()
            .detail
            .clone()
    };
    assert!(
        written(&slow).starts_with("60 rows committed"),
        "{}",
        written(&slow)
    );
    assert!(
        written(&fast).starts_with("60 rows committed"),
        "{}",
        written(&fast)
    );
    assert_eq!(
        slow.rpo_rows,
        Some(60),
        "nothing of the writer's was archived"
    );
    assert!(slow.rpo_s.unwrap() > 2.0, "{:?}", slow.rpo_s);
    let lost = fast.rpo_rows.unwrap();
    assert!(
        lost < 60,
        "a 1 s archive_timeout archived some rows: lost {lost}"
    );
    assert!(fast.rpo_s.unwrap() < slow.rpo_s.unwrap());
    // The writer's schema is gone, the settings are back, no scratch server is left.
    assert_eq!(super::server_state(SCHEMA).await, before);
    let mut c = PgConnection::connect(&pg_url()).await.unwrap();
    let writers: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'tunebench_drill%'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert!(writers.is_empty(), "{writers:?}");
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("tunebench-pitr-{}_", std::process::id()))
        })
        .collect();
    assert!(leftovers.is_empty());
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("| timeout_60s | pg_pitr (pitr) | pg | 1 |"),
        "{report}"
    );
    assert!(
        report.contains("timeout_1s, trial 1: restore: ") && report.contains("of WAL replayed"),
        "{report}"
    );
}

/// An interrupt in the middle of a drill (here: while the PITR writer commits) drops it; the
/// run then reverts the profile and removes what the drill had made: the writer's schema on
/// the source and the scratch folder (base backup, archive snapshot).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_drill_leaves_no_scratch_object_behind() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let archive = common::env_or(
        "TUNEBENCH_PG_ARCHIVE",
        &format!("{}/pgarchive", common::cache_dir()),
    );
    let path = fts_scenario(dir.path(), SCHEMA, &pg_url(), "");
    // The dataset first (a short run without the drill), so the state compared afterwards
    // includes it.
    let load = dir.path().join("load");
    common::run(&super::quick_baseline(
        path.to_str().unwrap(),
        load.to_str().unwrap(),
    ))
    .await
    .unwrap();
    let before = super::server_state(SCHEMA).await;
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.truncate(text.find("[[workload]]").unwrap());
    text.push_str(&format!(
        r#"
[[workload]]
name = "pg_pitr"
kind = "drill"
target = "pg"
dataset = "docs"
method = "pitr"
archive = "{archive}"
compress = "gzip:1"
writer_duration = "10m"

[[profile]]
name = "archived"
apply = {{ pg = "{root}/profiles/postgres/wal-archive-1s.toml" }}
"#,
        root = common::ROOT
    ));
    std::fs::write(&path, text).unwrap();
    let child = common::child::spawn_run(&path, &dir.path().join("out"), &[]);
    let pid = child.pid();
    let writer = format!("tunebench_drill_{pid}_");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    loop {
        let found = match PgConnection::connect(&pg_url()).await {
            Ok(mut c) => sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM pg_namespace WHERE starts_with(nspname::text, $1)",
            )
            .bind(&writer)
            .fetch_one(&mut c)
            .await
            .unwrap_or(0),
            Err(_) => 0,
        };
        if found > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no writer in 3 minutes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let (_, code, stderr) = child.after_signal(pid, libc::SIGINT).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("scratch objects of the interrupted drills removed"),
        "{stderr}"
    );
    let mut c = PgConnection::connect(&pg_url()).await.unwrap();
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_namespace WHERE starts_with(nspname::text, $1)",
    )
    .bind(&writer)
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(left, 0, "the writer's schema is dropped");
    let scratch: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("tunebench-pitr-{pid}_"))
        })
        .collect();
    assert!(scratch.is_empty(), "{scratch:?}");
    assert_eq!(super::server_state(SCHEMA).await, before);
}
