//! Recovery drills on the real MinIO (issue 18): the mirror of a versioned bucket restores
//! every version in order, a truncated backup fails the drill naming the object, and the
//! scratch bucket and backup folder are gone afterwards either way. A scenario of drills
//! alone (no workload under load) runs too.

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use tunebench::Results;
use tunebench::results::Verdict;

use super::common::{ROOT, run_to, schema_violations_of};
use super::{SERVER, client};

fn drill_scenario(dir: &Path, bucket: &str, drill_extra: &str) -> PathBuf {
    let dataset = dir.join("objects.toml");
    std::fs::write(
        &dataset,
        format!(
            "kind = \"objects\"\nbucket = \"{bucket}\"\nseed = 5\nobjects = 6\nsizes = [{{ size = \"48KiB\" }}, {{ size = \"200KiB\" }}]\n"
        ),
    )
    .unwrap();
    let text = format!(
        r#"
name = "s3-drill-test"
criteria = ["s3_backup.integrity == ok", "s3_backup.rto < 10m"]

[targets.minio]
kind = "s3"
url = "${{TUNEBENCH_S3_ENDPOINT:-http://127.0.0.1:9000}}"
access_key = "${{TUNEBENCH_S3_ACCESS_KEY:-tunebench}}"
secret_key = "${{TUNEBENCH_S3_SECRET_KEY:-tunebench-secret}}"

[datasets.objects]
target = "minio"
file = "{dataset}"

[load]
mode = "closed"
concurrency = 1
warmup = "0s"
duration = "1s"

[[workload]]
name = "s3_backup"
kind = "drill"
target = "minio"
dataset = "objects"
method = "mirror"
{drill_extra}

[[profile]]
name = "baseline"
apply = {{ minio = "{ROOT}/profiles/s3/baseline.toml" }}
"#,
        dataset = dataset.display()
    );
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Removes the test's own bucket, every version with it, so each run starts from nothing.
async fn remove_bucket(bucket: &str) {
    let c = client();
    if c.head_bucket().bucket(bucket).send().await.is_err() {
        return;
    }
    loop {
        let page = c
            .list_object_versions()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        let mut all: Vec<(String, Option<String>)> = page
            .versions()
            .iter()
            .map(|v| {
                (
                    v.key().unwrap().to_string(),
                    v.version_id().map(str::to_string),
                )
            })
            .collect();
        all.extend(page.delete_markers().iter().map(|m| {
            (
                m.key().unwrap().to_string(),
                m.version_id().map(str::to_string),
            )
        }));
        if all.is_empty() {
            break;
        }
        for (key, version) in all {
            c.delete_object()
                .bucket(bucket)
                .key(key)
                .set_version_id(version)
                .send()
                .await
                .unwrap();
        }
    }
    c.delete_bucket().bucket(bucket).send().await.unwrap();
}

async fn scratch_buckets() -> Vec<String> {
    let list = client().list_buckets().send().await.unwrap();
    list.buckets()
        .iter()
        .filter_map(|b| b.name())
        .filter(|n| n.starts_with("tunebench-restore-"))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_of_a_versioned_bucket_restores_every_version_in_order() {
    let _server = SERVER.read().await;
    let dir = tempfile::tempdir().unwrap();
    let bucket = "tunebench-test-drill-versions";
    remove_bucket(bucket).await;
    let path = drill_scenario(dir.path(), bucket, "");
    let out = dir.path().join("out");
    // Load the dataset, then give one object two newer versions (the count the dataset's
    // readiness checks is unchanged).
    let first = run_to(&path, &out, &[]).await.unwrap();
    assert_eq!(first.exit_code, 0, "{}", first.summary);
    let c = client();
    c.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    for body in [&b"second version"[..], &b"third, the current one"[..]] {
        c.put_object()
            .bucket(bucket)
            .key("data/00000002")
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .unwrap();
    }

    let outcome = run_to(&path, &out, &[]).await.unwrap();
    assert_eq!(outcome.exit_code, 0, "{}", outcome.summary);
    assert!(schema_violations_of(&out.join("results.json")).is_empty());
    let results = Results::read(&out.join("results.json")).unwrap();
    assert!(
        results.runs[0].workloads.is_empty(),
        "a scenario of drills only"
    );
    let d = &results.runs[0].drills[0];
    assert_eq!(d.failure, None, "{:?}", d.steps);
    assert_eq!(d.integrity.verdict, Verdict::Ok, "{:?}", d.integrity);
    // 6 objects, one of them with 3 versions.
    assert_eq!(d.integrity.items, 8, "{}", d.integrity.compared);
    assert!(d.how.contains("every version"), "{}", d.how);
    assert!(d.cleaned_up);
    assert!(results.runs[0].criteria.iter().all(|c| c.passed));
    assert!(scratch_buckets().await.is_empty());
    assert!(!out.join("drills").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_object_in_the_backup_fails_the_drill_naming_it() {
    let _server = SERVER.read().await;
    let dir = tempfile::tempdir().unwrap();
    let path = drill_scenario(
        dir.path(),
        "tunebench-test-drill-truncated",
        "inject = \"truncate_backup\"",
    );
    let out = dir.path().join("out");
    let outcome = run_to(&path, &out, &[]).await.unwrap();
    assert_eq!(outcome.exit_code, 1, "{}", outcome.summary);
    assert!(
        outcome.summary.contains(
            "drill failed under `baseline` (trial 1): s3_backup: the restored copy differs"
        ),
        "{}",
        outcome.summary
    );
    let results = Results::read(&out.join("results.json")).unwrap();
    let d = &results.runs[0].drills[0];
    assert_eq!(d.integrity.verdict, Verdict::Differs);
    assert_eq!(d.integrity.differences.len(), 1, "{:?}", d.integrity);
    let planted = d.steps.iter().find(|s| s.step == "plant fault").unwrap();
    let key = planted.detail.split_whitespace().nth(2).unwrap();
    assert!(key.starts_with("data/"), "{}", planted.detail);
    assert!(
        d.integrity.differences[0].starts_with(&format!(
            "{key}: 102400 bytes restored, 204800 in the source"
        )),
        "{:?}",
        d.integrity.differences
    );
    let failed: Vec<bool> = results.runs[0].criteria.iter().map(|c| c.passed).collect();
    assert_eq!(failed, [false, true]);
    assert!(scratch_buckets().await.is_empty());
}
