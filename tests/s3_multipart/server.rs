//! Tests that restart or kill MinIO (they hold the server lock exclusively): the parity
//! profile, applied by a restart and reverted exactly, and MinIO killed mid-run.

use std::path::Path;

use tunebench::Results;

use crate::common::child::{pid_in, spawn_run};
use crate::common::{self, ROOT, run, run_to};
use crate::{SERVER, Spec, client, endpoint, run_scenario, scenario};

/// The server's standard-class parity, from MinIO's live metrics.
fn server_parity() -> u32 {
    use std::io::{Read, Write};
    let hostport = endpoint().trim_start_matches("http://").to_string();
    let mut s = std::net::TcpStream::connect(&hostport).unwrap();
    write!(
        s,
        "GET /minio/metrics/v3/cluster/config HTTP/1.0\r\nHost: {hostport}\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("minio_cluster_config_standard_parity "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parity_profile_restarts_minio_and_is_reverted_exactly() {
    let _server = SERVER.write().await;
    let cache = common::cache_dir();
    let env_file = format!("{cache}/minio/env");
    let before_text = std::fs::read_to_string(&env_file).unwrap();
    let before = server_parity();
    let want = if before == 1 { 2 } else { 1 };
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("parity.toml");
    std::fs::write(
        &profile,
        format!("store = \"s3\"\n[server]\nparity = {want}\n"),
    )
    .unwrap();
    let profiles = format!(
        "[[profile]]\nname = \"parity\"\napply = {{ minio = \"{}\" }}",
        profile.display()
    );
    let target_extra = format!(
        "settings_file = \"{env_file}\"\nrestart_command = \"ROOT/scripts/stack restart minio\""
    );
    let spec = Spec {
        bucket: "tunebench-test-parity",
        objects: 2,
        ops: r#"{ op = "put_64k" }"#,
        load: "warmup = \"0s\"\nduration = \"500ms\"",
        profiles: &profiles,
        target_extra: &target_extra,
        ..Default::default()
    };
    let (outcome, results) = run_scenario(dir.path(), &spec).await.unwrap();
    assert_eq!(outcome.exit_code, 0, "{}", outcome.summary);
    let run = &results.runs[0];
    let change = run.changes[0]
        .settings
        .iter()
        .find(|s| s.name.starts_with("MINIO_STORAGE_CLASS_STANDARD"))
        .unwrap();
    assert_eq!(change.after, format!("EC:{want}"));
    assert_eq!(change.before, format!("EC:{before}"));
    assert!(run.changes[0].restarted);
    assert!(run.revert[0].restarted && run.revert[0].mismatches.is_empty());
    assert!(run.workloads[0].ops > 0);
    // Reverted exactly: the same file, byte for byte, and the server back on its parity.
    assert_eq!(std::fs::read_to_string(&env_file).unwrap(), before_text);
    assert_eq!(server_parity(), before);
}

/// MinIO killed mid-measurement under `tuned` (versioning, lifecycle, policy): exit 3 within
/// twice the op timeout, partial results, the journal left; with MinIO back, the run is
/// refused and `tunebench revert` restores the bucket's settings (checked by tunebench and
/// here: no lifecycle, no policy, versioning no longer enabled).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_minio_mid_run_leaves_a_journal_that_revert_restores() {
    let _server = SERVER.write().await;
    let dir = tempfile::tempdir().unwrap();
    let bucket = "tunebench-test-crash";
    let spec = Spec {
        bucket,
        objects: 4,
        ops: r#"{ op = "get_whole" }"#,
        profiles: r#"[[profile]]
name = "baseline"
apply = { minio = "ROOT/profiles/s3/baseline.toml" }

[[profile]]
name = "tuned"
apply = { minio = "ROOT/profiles/s3/tuned.toml" }"#,
        load: "warmup = \"0s\"\nduration = \"1s\"\ntrials = 60\nop_timeout = \"5s\"",
        ..Default::default()
    };
    let path = scenario(dir.path(), &spec);
    // The bucket and its objects first.
    run_to(
        &path,
        &dir.path().join("load"),
        &[
            "--profile",
            "baseline",
            "--trials",
            "1",
            "--duration",
            "200ms",
        ],
    )
    .await
    .unwrap();

    let crashed = dir.path().join("crashed");
    let child = spawn_run(&path, &crashed, &["--profile", "tuned"]);
    let c = client();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let v = c.get_bucket_versioning().bucket(bucket).send().await;
        if v.is_ok_and(|v| v.status().is_some_and(|s| s.as_str() == "Enabled")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "tuned not applied in a minute"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let pid = pid_in(Path::new(&format!(
        "{}/minio/minio.pid",
        common::cache_dir()
    )));
    let (took, code, stderr) = child.after_signal(pid, libc::SIGKILL).await;
    assert_eq!(code, Some(3), "{stderr}");
    eprintln!("exit 3 {took:?} after the kill");
    let r = Results::read(&crashed.join("results.json")).unwrap();
    assert!(r.incomplete.is_some(), "partial results marked incomplete");
    let s = tunebench::scenario::load(&path).unwrap();
    let left = tunebench::backend::journal::on_server(&s.targets["minio"]).unwrap();
    assert_eq!(left.len(), 1, "the journal is left");

    let up = std::process::Command::new(format!("{ROOT}/scripts/stack"))
        .args(["up", "minio"])
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    common::assert_refused_by_both_journals(
        &path,
        "minio",
        dir.path(),
        &["--profile", "baseline"],
        "tuned",
        "bucket tunebench-journal",
    )
    .await;
    // From the server's copy alone.
    let o = run(&["revert", path.to_str().unwrap()]).await.unwrap();
    assert_eq!(o.exit_code, 0, "{}", o.summary);
    let o = run(&["revert", path.to_str().unwrap()]).await.unwrap();
    assert!(o.summary.starts_with("nothing to revert"), "{}", o.summary);
    assert!(
        c.get_bucket_lifecycle_configuration()
            .bucket(bucket)
            .send()
            .await
            .is_err(),
        "the lifecycle is removed"
    );
    assert!(
        c.get_bucket_policy().bucket(bucket).send().await.is_err(),
        "the policy is removed"
    );
    let v = c
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    assert_ne!(v.status().map(|s| s.as_str()), Some("Enabled"));
    // Last, so a slow exit does not leave the server down and the profile applied.
    assert!(
        took < std::time::Duration::from_secs(10),
        "exit 3 took {took:?}, over twice the 5 s op timeout: {stderr}"
    );
}
