//! Load from several worker processes, merged exactly (issue 17): the same open-loop
//! scenario as 1 worker and as 3 workers against the real PostgreSQL on 127.0.0.1.

use std::path::Path;

use tunebench::Results;
use tunebench::metrics;

use super::SERVER;
use super::common;
use super::common::postgres::{fts_scenario, pg_url};

/// `tunebench run SCENARIO --workers N` as the real binary (it starts itself as workers).
async fn run_workers(scenario: &Path, out: &Path, workers: u32) -> Results {
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_tunebench"))
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .args(["--profile", "baseline", "--workers", &workers.to_string()])
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(common::schema_violations_of(&out.join("results.json")).is_empty());
    Results::read(&out.join("results.json")).unwrap()
}

/// The FTS test scenario's fast workload only, open loop at 150 ops/s for 2 s: the rate
/// check needs a server that keeps up with the schedule (baseline full-text search scans the
/// table).
fn open_loop_scenario(dir: &Path) -> std::path::PathBuf {
    let path = fts_scenario(dir, "tunebench_test_fts", &pg_url(), "");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "mode = \"closed\"\nconcurrency = 2\nwarmup = \"300ms\"\nduration = \"1500ms\"",
        "mode = \"open\"\nrate = 150\nmax_in_flight = 6\nwarmup = \"0s\"\nduration = \"2s\"",
    );
    assert!(
        !text.contains("fts_search.p99"),
        "no criterion names the workload left out"
    );
    assert!(text.contains("rate = 150"));
    // Only the fast workload: the rate check needs a server that keeps up with the schedule
    // (baseline full-text search scans the table).
    let fts = text.find("[[workload]]\nname = \"fts_search\"").unwrap();
    let next = fts + text[fts + 1..].find("[[workload]]").unwrap() + 1;
    let text = format!("{}{}", &text[..fts], &text[next..]);
    std::fs::write(&path, text).unwrap();

    path
}

fn decode(text: &str) -> hdrhistogram::Histogram<u64> {
    metrics::decode(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_and_three_merge_to_the_same_schedule_exactly() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let path = open_loop_scenario(dir.path());
    let rate = 150.0;
    let one = run_workers(&path, &dir.path().join("one"), 1).await;
    let out = dir.path().join("three");
    let three = run_workers(&path, &out, 3).await;
    assert_eq!(three.merged.as_ref().map(|m| m.shards), Some(3));

    let parts: Vec<Results> = (0..3)
        .map(|i| {
            let p = out.join(format!("shards/baseline/{i}/results.json"));
            assert!(
                common::schema_violations_of(&p).is_empty(),
                "{}",
                p.display()
            );
            Results::read(&p).unwrap()
        })
        .collect();
    assert_eq!(three.runs[0].workloads.len(), 1);
    for (wi, w) in three.runs[0].workloads.iter().enumerate() {
        let ws: Vec<_> = parts.iter().map(|p| &p.runs[0].workloads[wi]).collect();
        // Counts add up, and the histograms are the HDR sum of the parts, bit for bit.
        assert_eq!(w.ops, ws.iter().map(|p| p.ops).sum::<u64>());
        assert_eq!(w.errors, ws.iter().map(|p| p.errors).sum::<u64>());
        let mut sum = metrics::new_histogram();
        ws.iter()
            .for_each(|p| metrics::merge(&mut sum, &decode(&p.histogram)));
        assert_eq!(w.histogram, metrics::encode(&sum), "{}", w.workload);
        for (ti, t) in w.per_trial.iter().enumerate() {
            let mut sum = metrics::new_histogram();
            ws.iter()
                .for_each(|p| metrics::merge(&mut sum, &decode(&p.per_trial[ti].histogram)));
            assert_eq!(t.histogram, metrics::encode(&sum));
            // The windows too: index by index, every part's operations.
            let iv = t.intervals.as_ref().unwrap();
            let part_ops: u64 = ws
                .iter()
                .flat_map(|p| p.per_trial[ti].intervals.as_ref().unwrap().windows.iter())
                .map(|x| x.ops)
                .sum();
            assert_eq!(iv.windows.iter().map(|x| x.ops).sum::<u64>(), part_ops);
            assert_eq!(part_ops, t.ops);
        }
        // The three shards' schedules together are the one worker's: the same operations,
        // at the requested rate.
        let w1 = &one.runs[0].workloads[wi];
        assert_eq!(w.ops + w.errors, w1.ops + w1.errors, "{}", w.workload);
        assert_eq!(w.ops + w.errors, 300, "150 ops/s for 2 s");
        assert_eq!(w.rate_ops_s, Some(rate));
        assert_eq!(w.concurrency, 6);
        assert!(
            (w.throughput_ops_s - rate).abs() <= rate * 0.02,
            "{}: {} ops/s",
            w.workload,
            w.throughput_ops_s
        );
    }
    // Applied and reverted once per profile, by the coordinator.
    assert_eq!(three.runs[0].changes.len(), 1);
    assert_eq!(three.runs[0].revert.len(), 1);
}

/// The Kubernetes flow (deploy/kubernetes/) on this host: the coordinator and two workers
/// started separately meet through an S3 prefix on the stack's MinIO.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_elsewhere_meet_the_coordinator_through_s3() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let path = open_loop_scenario(dir.path());
    let endpoint = common::s3::endpoint();
    let s3 = common::s3::client(&endpoint);
    let bucket = "tunebench-test-rendezvous";
    let _ = s3.create_bucket().bucket(bucket).send().await;
    let prefix = format!(
        "run-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let address = format!("s3://{bucket}/{prefix}");
    let env = [
        ("TUNEBENCH_S3_ENDPOINT", endpoint.clone()),
        (
            "TUNEBENCH_S3_ACCESS_KEY",
            common::env_or("TUNEBENCH_S3_ACCESS_KEY", "tunebench"),
        ),
        (
            "TUNEBENCH_S3_SECRET_KEY",
            common::env_or("TUNEBENCH_S3_SECRET_KEY", "tunebench-secret"),
        ),
    ];
    let tunebench = || {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_tunebench"));
        c.envs(env.iter().map(|(k, v)| (k, v.as_str())))
            .kill_on_drop(true);
        c
    };
    let workers: Vec<_> = (0..2)
        .map(|i| {
            tunebench()
                .arg("worker")
                .arg(&path)
                .args(["--shard", &format!("{i}/2"), "--rendezvous", &address])
                .arg("--out")
                .arg(dir.path().join(format!("w{i}")))
                .args(["--wait", "2m"])
                .output()
        })
        .collect();
    let out = dir.path().join("coordinator");
    let coordinator = tunebench()
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .args([
            "--profile",
            "baseline",
            "--workers",
            "2",
            "--rendezvous",
            &address,
        ])
        .output();
    let (c, w) = tokio::join!(coordinator, futures_util::future::join_all(workers));
    assert_eq!(
        c.as_ref().unwrap().status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&c.unwrap().stderr)
    );
    for o in w {
        let o = o.unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(String::from_utf8_lossy(&o.stdout).contains("1 block(s) measured and uploaded"));
    }
    assert!(common::schema_violations_of(&out.join("results.json")).is_empty());
    let r = Results::read(&out.join("results.json")).unwrap();
    let w = &r.runs[0].workloads[0];
    assert_eq!(r.merged.as_ref().map(|m| m.shards), Some(2));
    assert_eq!(
        w.ops + w.errors,
        300,
        "150 ops/s for 2 s, from two machines"
    );
    assert_eq!(w.concurrency, 6);
    // The parts came through S3 and are kept beside the results; a second coordinator on
    // the same prefix is refused before it measures.
    for i in 0..2 {
        assert!(
            out.join(format!("shards/baseline/{i}/results.json"))
                .is_file()
        );
    }
    let again = tunebench()
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(dir.path().join("again"))
        .args([
            "--profile",
            "baseline",
            "--workers",
            "2",
            "--rendezvous",
            &address,
        ])
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(2), "{err}");
    assert!(err.contains("from another run"), "{err}");
    // The test's own objects go.
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&prefix)
        .send()
        .await
        .unwrap();
    for o in listed.contents() {
        let _ = s3
            .delete_object()
            .bucket(bucket)
            .key(o.key().unwrap())
            .send()
            .await;
    }
}
