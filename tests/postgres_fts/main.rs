//! End to end against the real PostgreSQL that `scripts/stack up` starts: load, baseline vs
//! tuned, plans, revert, safety. Small data, seconds per test. Configuration checks and
//! `tunebench check` are in tests/check.rs.

use std::collections::BTreeMap;

use sqlx::{Connection, PgConnection, Row};
use tunebench::Results;
use tunebench::results::CheckStatus;

#[path = "../common/mod.rs"]
mod common;
mod drills;
mod existing;
mod interrupted;
mod own_vectors;
mod shards;
use common::postgres::{fts_scenario as scenario, pg_url, quick_baseline};
use common::{run, run_to, workload};

/// Tests in this file restart the server (profiles change restart-only settings): one at a time.
static SERVER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Everything a profile may touch: settings (value and source) and the dataset's indexes.
async fn server_state(schema: &str) -> (BTreeMap<String, String>, Vec<String>, Vec<String>) {
    let mut c = PgConnection::connect(&pg_url()).await.unwrap();
    let settings = sqlx::query("SELECT name, setting || ' ' || source AS v FROM pg_settings")
        .fetch_all(&mut c)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("name"), r.get("v")))
        .collect();
    let auto: Vec<String> =
        sqlx::query_scalar("SELECT name || '=' || setting FROM pg_file_settings WHERE sourcefile LIKE '%auto.conf' ORDER BY 1")
            .fetch_all(&mut c)
            .await
            .unwrap();
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = $1 ORDER BY 1",
    )
    .bind(schema)
    .fetch_all(&mut c)
    .await
    .unwrap();
    (settings, auto, indexes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_vs_tuned_end_to_end_and_exact_revert() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let schema = "tunebench_test_fts";
    let path = scenario(
        dir.path(),
        schema,
        &pg_url(),
        r#"criteria = ["common_queries.p99 < 50ms", "fts_search.error_rate < 1%"]
[[checks]]
target = "pg"
check = "fk_indexes"
[[checks]]
target = "pg"
check = "slow_query_log"
max = "100ms"
[[checks]]
target = "pg"
check = "fts_index"
"#,
    );
    let out = dir.path().join("out");

    // Make sure the dataset exists first, so the "before" state includes it.
    run(&quick_baseline(
        path.to_str().unwrap(),
        out.to_str().unwrap(),
    ))
    .await
    .unwrap();
    let before = server_state(schema).await;

    let outcome = run_to(&path, &out, &[]).await.unwrap();
    assert_eq!(outcome.exit_code, 0, "{}", outcome.summary);

    // Revert: settings, ALTER SYSTEM state and the set of indexes are exactly as before.
    let after = server_state(schema).await;
    assert_eq!(
        before.1, after.1,
        "postgresql.auto.conf differs after revert"
    );
    assert_eq!(before.2, after.2, "indexes differ after revert");
    let changed: Vec<_> = before
        .0
        .iter()
        .filter(|(k, v)| after.0.get(*k) != Some(v))
        .collect();
    assert!(
        changed.is_empty(),
        "settings differ after revert: {changed:?}"
    );

    // results.json validates against the schema in the repo.
    let text = std::fs::read_to_string(out.join("results.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let errors = common::schema_violations(&json);
    assert!(
        errors.is_empty(),
        "results.json does not match the schema: {errors:#?}"
    );
    assert!(
        !text.contains(":tunebench@"),
        "a password leaked into results.json"
    );

    let r = Results::read(&out.join("results.json")).unwrap();
    assert_eq!(r.runs.len(), 2);
    assert!(
        !r.datasets[0].loaded,
        "the identical dataset must be reused, not reloaded"
    );

    // The FTS plan uses the GIN index under tuned and not under baseline (captured EXPLAIN).
    let plan = |profile: &str, op: &str| {
        let run = r.runs.iter().find(|p| p.profile == profile).unwrap();
        run.server["pg"]
            .plans()
            .iter()
            .find(|p| p.op == op)
            .unwrap()
            .nodes
            .join(" > ")
    };
    assert!(
        !plan("baseline", "websearch_medium").contains("tunebench_documents_tsv_gin"),
        "{}",
        plan("baseline", "websearch_medium")
    );
    assert!(plan("baseline", "websearch_medium").contains("Seq Scan"));
    assert!(
        plan("tuned", "websearch_medium")
            .contains("Bitmap Index Scan using tunebench_documents_tsv_gin"),
        "{}",
        plan("tuned", "websearch_medium")
    );
    assert!(plan("tuned", "title_trigram").contains("tunebench_documents_title_trgm"));
    assert!(plan("tuned", "comments_by_document").contains("tunebench_comments_document"));

    // Configuration checks: the baseline lacks FK indexes, slow-query logging and the GIN
    // index; the tuned profile supplies all three.
    for (profile, want) in [
        ("baseline", CheckStatus::Fail),
        ("tuned", CheckStatus::Pass),
    ] {
        let run = r.runs.iter().find(|p| p.profile == profile).unwrap();
        assert_eq!(run.checks.len(), 3);
        for c in &run.checks {
            assert_eq!(c.status, want, "{profile}: {c:?}");
        }
    }
    let baseline_fk = &r.runs[0].checks[0];
    assert_eq!(
        baseline_fk.details.len(),
        3,
        "documents.author_id, comments.document_id, comments.author_id: {baseline_fk:?}"
    );

    // Settings really changed under tuned (shared_buffers needed the restart).
    let tuned = r.runs.iter().find(|p| p.profile == "tuned").unwrap();
    let sb = tuned.changes[0]
        .settings
        .iter()
        .find(|s| s.name == "shared_buffers")
        .unwrap();
    assert_ne!(sb.before, sb.after);
    assert!(tuned.changes[0].restarted);
    assert_eq!(
        tuned.changes[0]
            .indexes
            .iter()
            .filter(|i| i.created)
            .count(),
        5
    );
    assert!(
        tuned.revert[0].mismatches.is_empty(),
        "{:?}",
        tuned.revert[0].mismatches
    );

    // On this corpus a sequential scan per search is far slower than the GIN index: the gap
    // is an order of magnitude, far beyond run-to-run noise.
    let (b, t) = (
        workload(&r, "baseline", "fts_search"),
        workload(&r, "tuned", "fts_search"),
    );
    assert!(b.ops > 0 && t.ops > 0);
    assert!(
        t.latency_ms.p99 * 2.0 < b.latency_ms.p99,
        "tuned p99 {} vs baseline p99 {}",
        t.latency_ms.p99,
        b.latency_ms.p99
    );
    assert!(t.throughput_ops_s > b.throughput_ops_s);
    assert_eq!(b.errors + t.errors, 0);

    // Evidence was captured: statement deltas and a cache hit ratio.
    let tunebench::results::Evidence::Postgres(ev) = &tuned.server["pg"] else {
        panic!("the pg target must carry postgres evidence")
    };
    assert!(!ev.statements.is_empty(), "{:?}", ev.statements_note);
    assert!(ev.statements.iter().all(|s| s.calls > 0));
    assert!(ev.cache_hit_ratio.is_some());
    assert_eq!(r.environment.targets["pg"].pool.leaked_connections, 0);

    // The report has before and after rows and both verdicts.
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("| pg | fts_search | p99 |"), "{report}");
    assert!(report.contains("(`tuned`)"));
    assert!(report.contains("Bitmap Index Scan using tunebench_documents_tsv_gin"));
    assert!(report.contains("`common_queries.p99 < 50ms`"));
    assert!(!report.contains(":tunebench@"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_criterion_gives_exit_1() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "tunebench_test_fts",
        &pg_url(),
        r#"criteria = ["common_queries.p50 < 1us"]"#,
    );
    let out = dir.path().join("out");
    let outcome = run_to(
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
    .unwrap();
    assert_eq!(outcome.exit_code, 1);
    assert!(outcome.summary.contains("common_queries.p50 < 1us"));
    let r = Results::read(&out.join("results.json")).unwrap();
    let c = &r.runs[0].criteria[0];
    assert!(!c.passed && c.value.unwrap() > 0.001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_exit_3_without_the_password() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "tunebench_test_fts",
        "postgres://tunebench:not-the-Password-42@127.0.0.1:5432/tunebench",
        "",
    );
    let err = run_to(&path, &dir.path().join("o"), &[]).await.unwrap_err();
    assert_eq!(err.exit_code(), 3);
    let msg = err.to_string();
    assert!(msg.contains("password authentication failed"), "{msg}");
    assert!(!msg.contains("not-the-Password-42"), "{msg}");
    assert!(msg.contains("***"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "tunebench_test_fts",
        "postgres://tunebench:x@127.0.0.1:1/tunebench",
        "",
    );
    common::assert_unreachable_is_exit_3(&path, &dir.path().join("o")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_tunebench_did_not_create_is_left_alone() {
    let _server = SERVER.lock().await;
    let mut c = PgConnection::connect(&pg_url()).await.unwrap();
    // A schema with tunebench's prefix but not made by it, and an unrelated application schema.
    for stmt in [
        "DROP SCHEMA IF EXISTS tunebench_not_ours CASCADE",
        "CREATE SCHEMA tunebench_not_ours",
        "CREATE TABLE tunebench_not_ours.documents (id int)",
        "INSERT INTO tunebench_not_ours.documents VALUES (1)",
        "CREATE SCHEMA IF NOT EXISTS app_data",
        "CREATE TABLE IF NOT EXISTS app_data.customers (id int)",
        "TRUNCATE app_data.customers",
        "INSERT INTO app_data.customers VALUES (42)",
    ] {
        sqlx::query(stmt).execute(&mut c).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "tunebench_not_ours", &pg_url(), "");
    let err = run_to(&path, &dir.path().join("o"), &[]).await.unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(
        err.to_string().contains("not created by tunebench"),
        "{err}"
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tunebench_not_ours.documents")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(n, 1);

    // A normal run next to an application schema leaves the application's data as it was.
    let path = scenario(dir.path(), "tunebench_test_fts", &pg_url(), "");
    run(&quick_baseline(
        path.to_str().unwrap(),
        dir.path().join("o").to_str().unwrap(),
    ))
    .await
    .unwrap();
    let ids: Vec<i32> = sqlx::query_scalar("SELECT id FROM app_data.customers")
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert_eq!(ids, [42]);
    for stmt in [
        "DROP SCHEMA tunebench_not_ours CASCADE",
        "DROP SCHEMA app_data CASCADE",
    ] {
        sqlx::query(stmt).execute(&mut c).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_dataset_is_reloaded_not_reused_and_readiness_sees_missing_rows() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "tunebench_test_ready", &pg_url(), "");
    let out = dir.path().join("o");
    let args = quick_baseline(path.to_str().unwrap(), out.to_str().unwrap());
    run(&args).await.unwrap();
    // Rows vanish behind the harness's back after the manifest says the load was complete:
    // the row-count check on reuse notices and reloads, so the run still measures full data.
    let mut c = PgConnection::connect(&pg_url()).await.unwrap();
    sqlx::query("DELETE FROM tunebench_test_ready.comments WHERE id % 2 = 0")
        .execute(&mut c)
        .await
        .unwrap();
    run(&args).await.unwrap();
    let r = Results::read(&out.join("results.json")).unwrap();
    assert!(
        r.datasets[0].loaded,
        "a damaged dataset must be reloaded, not reused"
    );
    let rows = r.runs[0]
        .readiness
        .iter()
        .find(|c| c.check.ends_with(".comments"))
        .unwrap();
    assert!(rows.ok && rows.expected == rows.actual);

    // The readiness check itself refuses data that does not match the spec.
    sqlx::query("DELETE FROM tunebench_test_ready.comments WHERE id % 2 = 0")
        .execute(&mut c)
        .await
        .unwrap();
    let spec =
        tunebench::dataset::load_documents_spec(&dir.path().join("docs.toml"), &Default::default())
            .unwrap();
    let corpus =
        tunebench::backend::postgres::PgData::Documents(tunebench::dataset::Corpus::new(&spec));
    let pool = sqlx::PgPool::connect(&pg_url()).await.unwrap();
    let checks = tunebench::backend::postgres::readiness(
        &pool,
        "pg",
        &corpus,
        &["tunebench_no_such_index".into()],
    )
    .await
    .unwrap();
    let bad: Vec<&str> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.check.as_str())
        .collect();
    assert_eq!(
        bad,
        [
            "rows in tunebench_test_ready.comments",
            "profile index tunebench_no_such_index present"
        ]
    );
    sqlx::query("DROP SCHEMA tunebench_test_ready CASCADE")
        .execute(&mut c)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_holds_the_rate_and_reports_schedule_lag() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "tunebench_test_fts", &pg_url(), "");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "mode = \"closed\"\nconcurrency = 2",
        "mode = \"open\"\nrate = 200\nmax_in_flight = 4",
    );
    std::fs::write(&path, text).unwrap();
    let out = dir.path().join("o");
    let o = run_to(
        &path,
        &out,
        &["--profile", "tuned", "--duration", "2s", "--warmup", "0s"],
    )
    .await
    .unwrap();
    assert_eq!(o.exit_code, 0, "{}", o.summary);
    let r = Results::read(&out.join("results.json")).unwrap();
    let w = workload(&r, "tuned", "common_queries");
    assert_eq!(w.mode, "open");
    assert_eq!(w.rate_ops_s, Some(200.0));
    // A fixed schedule of 200/s for 2 s issues 400 operations, however fast the server is.
    assert_eq!(w.ops + w.errors, 400, "{w:?}");
    let lag = w.schedule_lag_ms.expect("open loop reports schedule lag");
    assert!(lag.max >= 0.0, "{lag:?}");
    // The pacer's own lateness and the harness's cost are recorded beside it.
    assert!(w.timer_lag_ms.is_some(), "{w:?}");
    let h = w.harness.as_ref().expect("the harness's cost is recorded");
    assert!(h.client_cpu_s > 0.0 && h.pacer_cpu_s.is_some(), "{h:?}");
    assert!(!h.server_in_process);
    assert!(w.per_trial.iter().all(|t| t.host.is_some()));
    // Latency over time: every trial's windows hold exactly its operations, from 0 s on
    // without gaps, and their histograms add up to the trial's, bit for bit.
    for t in &w.per_trial {
        let iv = t
            .intervals
            .as_ref()
            .expect("each trial records its windows");
        assert_eq!(iv.interval_s, 1.0);
        assert_eq!(iv.windows.iter().map(|x| x.ops).sum::<u64>(), t.ops);
        assert_eq!(iv.windows.iter().map(|x| x.errors).sum::<u64>(), t.errors);
        for (i, x) in iv.windows.iter().enumerate() {
            assert_eq!(x.start_s, i as f64, "{iv:?}");
        }
        let mut merged = tunebench::metrics::new_histogram();
        for x in iv.windows.iter().filter(|x| !x.histogram.is_empty()) {
            let h = tunebench::metrics::decode(&x.histogram).unwrap();
            tunebench::metrics::merge(&mut merged, &h);
        }
        assert_eq!(tunebench::metrics::encode(&merged), t.histogram);
    }
    // A slow machine can only fall behind the schedule, never get ahead of it: the last of
    // the 400 operations is due at 1.995 s.
    assert!(
        w.throughput_ops_s <= 400.0 / 1.995 + 1e-6,
        "{}",
        w.throughput_ops_s
    );
}

/// An operation's answer is read to its end, not to its first row: a statement whose third
/// row takes 50 ms takes at least 50 ms, whether or not the harness judges the rows (point
/// selects are not judged, and take a leaner path through sqlx than kNN searches do). Its
/// first rows are 20 kB each, so the server sends them before it computes the third
/// (it holds back the first 8 kB of an answer otherwise).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_of_an_answer_is_read_not_only_the_first() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "tunebench_test_fts", &pg_url(), "");
    let definition = dir.path().join("late.toml");
    std::fs::write(
        &definition,
        "store = \"postgres\"\n\
         [ops.slow_third_row]\n\
         sql = \"SELECT g, repeat('x', 20000), CASE WHEN g = 3 THEN pg_sleep(0.05)::text END FROM generate_series(1, 5) g\"\n\
         params = []\n",
    )
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("[[workload]]").unwrap();
    let end = text.find("[[profile]]").unwrap();
    let text = format!(
        "{}[[workload]]\nname = \"late\"\ntarget = \"pg\"\ndataset = \"docs\"\n\
         definition = \"{}\"\nops = [{{ op = \"slow_third_row\" }}]\n\n{}",
        &text[..start],
        definition.display(),
        &text[end..]
    );
    std::fs::write(&path, text).unwrap();
    let out = dir.path().join("o");
    let o = run(&quick_baseline(
        path.to_str().unwrap(),
        out.to_str().unwrap(),
    ))
    .await
    .unwrap();
    assert_eq!(o.exit_code, 0, "{}", o.summary);
    let r = Results::read(&out.join("results.json")).unwrap();
    let w = workload(&r, "baseline", "late");
    assert!(w.ops > 0 && w.errors == 0, "{w:?}");
    assert!(w.latency_ms.min >= 50.0, "{:?}", w.latency_ms);
}
