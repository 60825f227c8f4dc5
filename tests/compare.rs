//! `tunebench compare` in-process on results files built here (no server needed): a change
//! measured under different host load is inconclusive and exits 0; `--history` learns
//! thresholds from a folder (and from an S3 prefix when TUNEBENCH_S3_ENDPOINT is set); bad
//! history inputs exit 2 naming what is wrong.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tunebench::Results;
use tunebench::host::HostLoad;
use tunebench::metrics::{self, LatencySummary};

mod common;
use common::{ROOT, run as tb};

/// One profile, one workload, 3 trials of 2,000 operations in 1 s, latencies +-1 % around
/// `ms`, every trial measured while other work used `other` of all cores' time (None: an
/// older file without host data).
fn results(ms: f64, other: Option<f64>, started: i64) -> Results {
    let mut r = Results::read(&Path::new(ROOT).join("tests/fixtures/results-small.json")).unwrap();
    r.started_at += chrono::Duration::seconds(started);
    r.runs.truncate(1);
    r.runs[0].workloads.truncate(1);
    // The default thresholds (the fixture's scenario sets its own).
    r.scenario.gate = tunebench::gate::GateSpec::default();
    let w = &mut r.runs[0].workloads[0];
    w.errors = 0;
    w.errors_by_kind.clear();
    let template = w.per_trial[0].clone();
    let mut merged = metrics::new_histogram();
    w.per_trial = (0..3u32)
        .map(|i| {
            let mut h = metrics::new_histogram();
            for k in 0..2000u32 {
                let spread = 1.0 + 0.02 * (f64::from((k * 7919) % 1000) / 1000.0 - 0.5);
                let shift = 1.0 + 0.004 * (f64::from(i) - 1.0);
                metrics::record(&mut h, Duration::from_secs_f64(ms * shift * spread / 1e3));
            }
            metrics::merge(&mut merged, &h);
            let mut t = template.clone();
            t.trial = i + 1;
            (t.ops, t.errors, t.duration_s, t.throughput_ops_s) = (2000, 0, 1.0, 2000.0);
            t.latency_ms = LatencySummary::of(&h);
            t.histogram = metrics::encode(&h);
            t.host = other.map(|other| HostLoad {
                load_1m: 1.0,
                busy: 0.5,
                steal: 0.0,
                other_busy: Some(other),
            });
            t
        })
        .collect();
    (w.trials, w.ops, w.duration_s, w.throughput_ops_s) = (3, 6000, 3.0, 2000.0);
    w.latency_ms = LatencySummary::of(&merged);
    w.histogram = metrics::encode(&merged);
    r
}

fn write(dir: &Path, name: &str, r: &Results) -> PathBuf {
    let p = dir.join(name).join("results.json");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    r.write(&p).unwrap();
    p
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn row<'a>(cmp: &'a serde_json::Value, metric: &str) -> &'a serde_json::Value {
    cmp["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == metric)
        .unwrap()
}

#[tokio::test]
async fn a_change_under_different_host_load_is_inconclusive_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(dir.path(), "base", &results(1.0, Some(0.03), 0));
    let slow = write(dir.path(), "slow", &results(1.5, Some(0.41), 10));
    let o = tb(&["compare", base.to_str().unwrap(), slow.to_str().unwrap()])
        .await
        .unwrap();
    assert_eq!(o.exit_code, 0, "{}", o.summary);
    assert!(
        o.summary
            .contains("*inconclusive* (other work 3 % vs 41 %)"),
        "{}",
        o.summary
    );
    assert!(o.summary.contains("0 regression(s)"), "{}", o.summary);
    let cmp = json(&dir.path().join("slow/comparison.json"));
    assert_eq!(row(&cmp, "p99")["verdict"], "inconclusive");
    assert_eq!(row(&cmp, "p99")["reason"], "other work 3 % vs 41 %");
    assert_eq!(cmp["inconclusive"], 3);
    assert!(
        cmp["host_bound"]
            .as_str()
            .unwrap()
            .contains("differ by more than 15 points")
    );

    // The same slowdown under alike load fails the gate.
    let slow = write(dir.path(), "slow2", &results(1.5, Some(0.05), 20));
    let o = tb(&["compare", base.to_str().unwrap(), slow.to_str().unwrap()])
        .await
        .unwrap();
    assert_eq!(o.exit_code, 1, "{}", o.summary);

    // An older baseline without host data compares as before, and says so once.
    let old = write(dir.path(), "old", &results(1.0, None, 30));
    let slow = write(dir.path(), "slow3", &results(1.5, Some(0.41), 40));
    let o = tb(&["compare", old.to_str().unwrap(), slow.to_str().unwrap()])
        .await
        .unwrap();
    assert_eq!(o.exit_code, 1, "{}", o.summary);
    assert_eq!(
        o.summary.matches("host conditions not checked").count(),
        1,
        "{}",
        o.summary
    );
}

/// Six quiet earlier runs (+-2 %) and one of another scenario in a folder tree: p99's
/// threshold is learned from the six, tight enough to catch a +20 % p99 that the configured
/// 35 % lets through.
#[tokio::test]
async fn history_from_a_folder_learns_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let hist = dir.path().join("history");
    for (i, f) in [1.0, 1.02, 0.98, 1.01, 0.99, 1.015].iter().enumerate() {
        write(
            &hist,
            &format!("ci/run-{i}"),
            &results(1.0 * f, Some(0.02), i as i64),
        );
    }
    let mut other = results(1.0, Some(0.02), 99);
    other.scenario.name = "another-scenario".into();
    write(&hist, "other", &other);
    let base = write(dir.path(), "base", &results(1.0, Some(0.02), 100));
    let cur = write(dir.path(), "cur", &results(1.2, Some(0.02), 110));
    let (b, c, h) = (
        base.to_str().unwrap(),
        cur.to_str().unwrap(),
        hist.to_str().unwrap(),
    );
    // Without history p99 stays under its configured 35 % (p50's 5 % still fails the gate).
    tb(&[
        "compare",
        b,
        c,
        "--noise",
        "p50=0.5",
        "--noise",
        "p95=0.5",
        "--noise",
        "throughput=0.5",
    ])
    .await
    .map(|o| assert_eq!(o.exit_code, 0, "{}", o.summary))
    .unwrap();
    let o = tb(&["compare", b, c, "--history", h, "--noise", "p50=0.5"])
        .await
        .unwrap();
    assert_eq!(o.exit_code, 1, "{}", o.summary);
    assert!(o.summary.contains("(learned, 6 runs)"), "{}", o.summary);
    assert!(
        o.summary
            .contains("6 run(s) of this scenario used, 1 file(s)"),
        "{}",
        o.summary
    );
    let cmp = json(&dir.path().join("cur/comparison.json"));
    assert_eq!(row(&cmp, "p99")["verdict"], "regressed");
    assert_eq!(row(&cmp, "p99")["threshold_runs"], 6);
    assert!(row(&cmp, "p99")["noise_threshold"].as_f64().unwrap() < 0.15);
    assert_eq!(cmp["history"]["runs"], 6);
    assert_eq!(cmp["history"]["skipped"], 1);
    assert_eq!(cmp["history"]["learned"].as_array().unwrap().len(), 4);

    // Fewer than five runs: the configured thresholds, and the note says so.
    let few = dir.path().join("few");
    for i in 0..4 {
        write(&few, &format!("r{i}"), &results(1.0, Some(0.02), i));
    }
    let o = tb(&["compare", b, c, "--history", few.to_str().unwrap()])
        .await
        .unwrap();
    assert!(o.summary.contains("fewer than 5 runs"), "{}", o.summary);
    assert!(!o.summary.contains("learned,"), "{}", o.summary);
}

#[tokio::test]
async fn bad_history_inputs_exit_2_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(dir.path(), "base", &results(1.0, Some(0.02), 0));
    let b = base.to_str().unwrap();
    let missing = dir.path().join("no-such-folder");
    for (history, expect) in [
        (missing.to_str().unwrap(), "no such folder"),
        ("s3://Bad_Bucket/x", "not a valid bucket name"),
        ("ftp://host/x", "`ftp://` is not supported"),
    ] {
        let e = tb(&["compare", b, b, "--history", history])
            .await
            .unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        let msg = e.to_string();
        assert!(msg.contains(history) && msg.contains(expect), "{msg}");
        assert!(msg.contains("s3://BUCKET/PREFIX"), "{msg}");
    }
    // A results file in the history that cannot be read is named, not skipped.
    let hist = dir.path().join("hist");
    std::fs::create_dir_all(hist.join("broken")).unwrap();
    std::fs::write(hist.join("broken/results.json"), "{ truncated").unwrap();
    let e = tb(&["compare", b, b, "--history", hist.to_str().unwrap()])
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    assert!(e.to_string().contains("broken/results.json"), "{e}");
}

/// The same learning from an S3 prefix on the real MinIO.
#[tokio::test]
async fn history_from_an_s3_prefix() {
    let Some(endpoint) = common::env_or_skip(
        "TUNEBENCH_S3_ENDPOINT",
        "history_from_an_s3_prefix",
        "run `eval \"$(scripts/stack env minio)\"` to test against MinIO",
    ) else {
        return;
    };
    let s3 = common::s3::client(&endpoint);
    let bucket = "tunebench-test-gate-history";
    if s3.head_bucket().bucket(bucket).send().await.is_err() {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let prefix = format!(
        "run-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let mut keys = Vec::new();
    for (i, f) in [1.0, 1.02, 0.98, 1.01, 0.99].iter().enumerate() {
        let key = format!("{prefix}/ci-{i}/results.json");
        let body = serde_json::to_vec(&results(*f, Some(0.02), i as i64)).unwrap();
        s3.put_object()
            .bucket(bucket)
            .key(&key)
            .body(body.into())
            .send()
            .await
            .unwrap();
        keys.push(key);
    }
    // Not named results.json: ignored.
    let key = format!("{prefix}/ci-0/report.md");
    s3.put_object()
        .bucket(bucket)
        .key(&key)
        .body(b"# report".to_vec().into())
        .send()
        .await
        .unwrap();
    keys.push(key);

    let dir = tempfile::tempdir().unwrap();
    let base = write(dir.path(), "base", &results(1.0, Some(0.02), 100));
    let cur = write(dir.path(), "cur", &results(1.2, Some(0.02), 110));
    let url = format!("s3://{bucket}/{prefix}/");
    let o = tb(&[
        "compare",
        base.to_str().unwrap(),
        cur.to_str().unwrap(),
        "--history",
        &url,
    ])
    .await;
    let missing = tb(&[
        "compare",
        base.to_str().unwrap(),
        base.to_str().unwrap(),
        "--history",
        "s3://tunebench-no-such-bucket-x/p",
    ])
    .await;
    for key in &keys {
        s3.delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
    }
    let o = o.unwrap();
    assert_eq!(o.exit_code, 1, "{}", o.summary);
    assert!(o.summary.contains("(learned, 5 runs)"), "{}", o.summary);
    assert!(o.summary.contains(&url), "{}", o.summary);
    let secret = common::env_or("TUNEBENCH_S3_SECRET_KEY", "tunebench-secret");
    assert!(!o.summary.contains(&secret));
    let e = missing.unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    assert!(e.to_string().contains("tunebench-no-such-bucket-x"), "{e}");
    assert!(!e.to_string().contains(&secret), "{e}");
}
