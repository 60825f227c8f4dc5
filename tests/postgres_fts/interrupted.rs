//! Runs that do not end well: interrupted (SIGINT), failing midway, the server crashing
//! under them. Each leaves the server as it found it, or a journal that `tunebench revert`
//! restores exactly; what was measured is written, marked incomplete.

use std::collections::BTreeMap;

use sqlx::{Connection, PgConnection};
use tunebench::Results;

use crate::common::child::{pid_in, spawn_run};
use crate::common::postgres::{pg_url, quick_baseline};
use crate::common::{self, run, run_to};
use crate::{SERVER, scenario, server_state};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_reverts_what_it_applied_from_its_journal() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let schema = "tunebench_test_fts";
    let path = scenario(dir.path(), schema, &pg_url(), "");
    let out = dir.path().join("out");
    run(&quick_baseline(
        path.to_str().unwrap(),
        out.to_str().unwrap(),
    ))
    .await
    .unwrap();
    let before = server_state(schema).await;

    // `tuned` changes restart-only settings and builds five indexes; the run would measure
    // for minutes. SIGTERM it once it measures.
    let child = spawn_run(
        &path,
        &dir.path().join("interrupted"),
        &["--profile", "tuned", "--duration", "300s", "--warmup", "0s"],
    );
    wait_until_tuned(schema).await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let pid = child.pid();
    let (_, code, stderr) = child.after_signal(pid, libc::SIGTERM).await;
    assert_eq!(code, Some(3), "{stderr}");
    // Errors mask the test's password, "tunebench", wherever it appears: match around it.
    assert!(
        stderr.contains("interrupted (SIGINT/SIGTERM); reverted: target pg:")
            && stderr.contains("_comments_author")
            && stderr.contains("restarted"),
        "{stderr}"
    );

    // Exactly as before, and no journal left: a new run is not refused.
    assert_state_is(&before, schema).await;
    let o = run(&["revert", path.to_str().unwrap()]).await.unwrap();
    assert!(o.summary.starts_with("nothing to revert"), "{}", o.summary);
}

/// Waits (at most 2 minutes) until `tuned`'s last index exists: everything is applied and
/// measuring is next. The server restarts meanwhile: a refused connection is a reason to
/// wait, not to fail.
async fn wait_until_tuned(schema: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let applied = match PgConnection::connect(&pg_url()).await {
            Ok(mut c) => sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL")
                .bind(format!("{schema}.tunebench_comments_author"))
                .fetch_one(&mut c)
                .await
                .unwrap_or(false),
            Err(_) => false,
        };
        if applied {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "tuned not applied in 2 minutes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Settings (value and source), postgresql.auto.conf and the schema's indexes are `before`.
async fn assert_state_is(
    before: &(BTreeMap<String, String>, Vec<String>, Vec<String>),
    schema: &str,
) {
    let after = server_state(schema).await;
    assert_eq!(before.1, after.1, "postgresql.auto.conf differs");
    assert_eq!(before.2, after.2, "indexes differ");
    let changed: Vec<_> = before
        .0
        .iter()
        .filter(|(k, v)| after.0.get(*k) != Some(v))
        .collect();
    assert!(changed.is_empty(), "settings differ: {changed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_fails_midway_writes_what_it_measured_marked_incomplete() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "tunebench_test_fts", &pg_url(), "");
    // A third workload whose only query fails on the server, every time.
    std::fs::write(
        dir.path().join("broken.toml"),
        "store = \"postgres\"\ndescription = \"fails\"\n[ops.fails]\ndescription = \"division by zero\"\nsql = \"SELECT 1 / (length($1) - length($1))\"\nparams = [\"term_medium\"]\n",
    )
    .unwrap();
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\n[[workload]]\nname = \"broken\"\ntarget = \"pg\"\ndataset = \"docs\"\ndefinition = \"broken.toml\"\nops = [{ op = \"fails\" }]\n");
    std::fs::write(&path, text).unwrap();
    let out = dir.path().join("out");
    let err = run_to(
        &path,
        &out,
        &[
            "--profile",
            "baseline",
            "--duration",
            "300ms",
            "--warmup",
            "0s",
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");

    // What was measured before the failure is kept, and says it is incomplete.
    let r = Results::read(&out.join("results.json")).unwrap();
    let why = r.incomplete.as_deref().expect("marked incomplete");
    assert!(why.contains("broken"), "{why}");
    let measured: Vec<&str> = r.runs[0]
        .workloads
        .iter()
        .map(|w| w.workload.as_str())
        .collect();
    assert_eq!(measured, ["fts_search", "common_queries"]);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("**Incomplete run.**"), "{report}");
    // Nothing gates on it unless forced.
    let file = out.join("results.json");
    let err = run(&["compare", file.to_str().unwrap(), file.to_str().unwrap()])
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(err.to_string().contains("run is incomplete"), "{err}");
}

/// The server crashes mid-measurement (an immediate shutdown, as `pg_ctl stop -m immediate`
/// does: SIGQUIT to the postmaster): the run fails with exit 3 within twice the op timeout,
/// writes what it measured marked incomplete and leaves its journal; once the server is back,
/// `tunebench revert` restores the state from before the run exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_crash_mid_run_leaves_a_journal_that_revert_restores_exactly() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let schema = "tunebench_test_fts";
    let path = scenario(dir.path(), schema, &pg_url(), "");
    let out = dir.path().join("out");
    run(&quick_baseline(
        path.to_str().unwrap(),
        out.to_str().unwrap(),
    ))
    .await
    .unwrap();
    let before = server_state(schema).await;
    // One-second trials, many of them, and a 5 s op timeout.
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "duration = \"1500ms\"",
        "duration = \"1s\"\ntrials = 60\nop_timeout = \"5s\"",
    );
    std::fs::write(&path, text).unwrap();

    let crashed = dir.path().join("crashed");
    let child = spawn_run(&path, &crashed, &["--profile", "tuned", "--warmup", "0s"]);
    // Applied (the last index built), then a few trials measured.
    wait_until_tuned(schema).await;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let pgdata = std::path::Path::new(&common::cache_dir()).join("pgdata");
    let postmaster = pid_in(&pgdata.join("postmaster.pid"));
    let (took, code, stderr) = child.after_signal(postmaster, libc::SIGQUIT).await;
    assert_eq!(code, Some(3), "{stderr}");
    eprintln!("exit 3 {took:?} after the crash");
    let r = Results::read(&crashed.join("results.json")).unwrap();
    assert!(r.incomplete.is_some(), "partial results marked incomplete");
    assert!(r.runs[0].workloads[0].trials >= 1);
    let s = tunebench::scenario::load(&path).unwrap();
    let left = tunebench::backend::journal::on_server(&s.targets["pg"]).unwrap();
    assert_eq!(left.len(), 1, "the journal is left");
    assert_eq!(left[0].1.profile, "tuned");

    // The server back (crash recovery), the run is refused, and revert restores it exactly.
    let up = std::process::Command::new(format!("{}/scripts/stack", common::ROOT))
        .args(["up", "postgres"])
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let err = run_to(
        &path,
        &dir.path().join("refused"),
        &["--profile", "baseline"],
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
    let o = run(&["revert", path.to_str().unwrap()]).await.unwrap();
    assert_eq!(o.exit_code, 0, "{}", o.summary);
    assert_state_is(&before, schema).await;
    // Last, so a slow exit does not leave the server down and the profile applied.
    assert!(
        took < std::time::Duration::from_secs(10),
        "exit 3 took {took:?}, over twice the 5 s op timeout: {stderr}"
    );
    // The failure is the crash, with the revert's failure and the way back added.
    assert!(
        stderr.contains("failed too") && stderr.contains(" revert "),
        "{stderr}"
    );
}
