//! End to end against the real MinIO that `scripts/stack up minio` starts: baseline vs
//! tuned, versioning and lifecycle applied and reverted, corrupted reads, aborted uploads,
//! buckets that are not tunebench's, bad keys. Small objects, seconds per test; each test
//! uses its own bucket so they may run in parallel.

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use tunebench::results::Evidence;
use tunebench::{Outcome, Results};

#[path = "../common/mod.rs"]
mod common;
mod drills;
mod existing;
mod server;
use common::s3::endpoint;
use common::{ROOT, run, run_to};

fn client() -> aws_sdk_s3::Client {
    common::s3::client(&endpoint())
}

/// One test restarts MinIO (the parity profile): tests take this lock, the restarting one
/// exclusively, so no other test sees the server go away.
static SERVER: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

struct Spec<'a> {
    bucket: &'a str,
    objects: u32,
    size: &'a str,
    ops: &'a str,
    profiles: &'a str,
    load: &'a str,
    extra: &'a str,
    secret: &'a str,
    url: &'a str,
    target_extra: &'a str,
}

impl Default for Spec<'_> {
    fn default() -> Self {
        Spec {
            bucket: "tunebench-test",
            objects: 8,
            size: "64KiB",
            ops: r#"{ op = "get_whole" }"#,
            profiles: r#"[[profile]]
name = "baseline"
apply = { minio = "ROOT/profiles/s3/baseline.toml" }"#,
            load: r#"warmup = "200ms"
duration = "1500ms""#,
            extra: "",
            secret: "${TUNEBENCH_S3_SECRET_KEY:-tunebench-secret}",
            url: "${TUNEBENCH_S3_ENDPOINT:-http://127.0.0.1:9000}",
            target_extra: "",
        }
    }
}

fn scenario(dir: &Path, s: &Spec) -> PathBuf {
    let dataset = dir.join("objects.toml");
    std::fs::write(
        &dataset,
        format!(
            "kind = \"objects\"\nbucket = \"{}\"\nseed = 3\nobjects = {}\nsizes = [{{ size = \"{}\" }}]\n",
            s.bucket, s.objects, s.size
        ),
    )
    .unwrap();
    let text = format!(
        r#"
name = "s3-test"
{extra}

[targets.minio]
kind = "s3"
url = "{url}"
access_key = "${{TUNEBENCH_S3_ACCESS_KEY:-tunebench}}"
secret_key = "{secret}"
{target_extra}

[datasets.objects]
target = "minio"
file = "{dataset}"

[load]
mode = "closed"
concurrency = 2
{load}

[[workload]]
name = "w"
target = "minio"
dataset = "objects"
definition = "{ROOT}/workloads/s3-objects.toml"
ops = [{ops}]

{profiles}
"#,
        extra = s.extra,
        url = s.url,
        secret = s.secret,
        target_extra = s.target_extra.replace("ROOT", ROOT),
        dataset = dataset.display(),
        load = s.load,
        ops = s.ops,
        profiles = s.profiles.replace("ROOT", ROOT),
    );
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn run_scenario(dir: &Path, s: &Spec<'_>) -> Result<(Outcome, Results), tunebench::Error> {
    let path = scenario(dir, s);
    let out = dir.join("out");
    let outcome = run_to(&path, &out, &[]).await?;
    let results = Results::read(&out.join("results.json")).unwrap();
    Ok((outcome, results))
}

fn s3_evidence<'a>(r: &'a Results, profile: &str) -> &'a tunebench::results::S3Evidence {
    let run = r.runs.iter().find(|p| p.profile == profile).unwrap();
    match &run.server["minio"] {
        Evidence::S3(e) => e,
        other => panic!("not s3 evidence: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_vs_tuned_end_to_end_with_versioning_and_lifecycle_reverted() {
    let _server = SERVER.read().await;
    let dir = tempfile::tempdir().unwrap();
    let bucket = "tunebench-test-e2e";
    let spec = Spec {
        bucket,
        ops: r#"{ op = "mp_small", weight = 2 }, { op = "put_64k" }, { op = "get_whole" }, { op = "get_range_64k" }, { op = "list" }, { op = "delete" }"#,
        profiles: r#"[[profile]]
name = "baseline"
apply = { minio = "ROOT/profiles/s3/baseline.toml" }

[[profile]]
name = "tuned"
apply = { minio = "ROOT/profiles/s3/tuned.toml" }"#,
        extra: r#"criteria = ["w.mp_small.bytes_per_s > 0.1MB/s", "w.bytes_per_s > 1000GB/s"]"#,
        ..Default::default()
    };
    let (outcome, results) = run_scenario(dir.path(), &spec).await.unwrap();
    // The second criterion cannot hold on one machine: exit 1, and the report says so.
    assert_eq!(outcome.exit_code, 1, "{}", outcome.summary);

    for profile in ["baseline", "tuned"] {
        let run = results.runs.iter().find(|p| p.profile == profile).unwrap();
        let w = &run.workloads[0];
        assert_eq!(w.errors, 0, "{profile}: {:?}", w.errors_by_kind);
        assert!(w.bytes_per_s.unwrap() > 0.0);
        let mp = w.operations.iter().find(|o| o.op == "mp_small").unwrap();
        assert!(mp.ops > 0 && mp.bytes_per_s.unwrap() > 0.0);
        assert!(run.criteria[0].passed && !run.criteria[1].passed);
        assert_eq!(run.criteria[0].unit, "MB/s");
        let e = s3_evidence(&results, profile);
        assert!(!e.throughput_series.is_empty());
        assert_eq!(
            e.throughput_series.iter().map(|p| p.ops).sum::<u64>(),
            w.ops,
            "the series counts every measured operation"
        );
        assert!(e.ttfb.iter().any(|t| t.op == "get_whole" && t.count > 0));
        assert!(
            e.metrics_after["minio_api_requests_total:PutObjectPart"]
                > *e.metrics_before
                    .get("minio_api_requests_total:PutObjectPart")
                    .unwrap_or(&0.0)
        );
        assert!(run.revert[0].mismatches.is_empty(), "{:?}", run.revert);
    }
    let env = &results.environment.targets["minio"];
    assert!(
        env.server_version.starts_with("MinIO RELEASE."),
        "{}",
        env.server_version
    );
    assert!(
        !serde_json::to_string(&results)
            .unwrap()
            .contains("tunebench-secret")
    );
    let base = s3_evidence(&results, "baseline");
    let tuned = s3_evidence(&results, "tuned");
    let b = base.bucket.as_ref().unwrap();
    assert_ne!(b.versioning, "Enabled");
    assert!(b.lifecycle.is_empty() && b.policy.is_none());
    let t = tuned.bucket.as_ref().unwrap();
    assert_eq!(t.versioning, "Enabled");
    assert_eq!(t.lifecycle[0].expire_days, Some(90));
    assert_eq!(t.lifecycle[0].noncurrent_days, Some(30));
    assert!(t.policy.is_some());
    // Versioning keeps each overwrite of a scratch key: the listing shows more versions
    // than objects; without it there is one version per object.
    let (tv, to) = (
        tuned.scratch_versions.unwrap(),
        tuned.scratch_objects.unwrap(),
    );
    assert!(tv > to, "versions {tv}, objects {to}");
    let tuned_run = results.runs.iter().find(|p| p.profile == "tuned").unwrap();
    assert!(
        tuned_run
            .readiness
            .iter()
            .any(|c| c.check.contains("versioning") && c.ok)
    );

    // Reverted: versioning suspended (S3 cannot un-version), lifecycle and policy gone,
    // scratch objects removed, the dataset kept.
    let c = client();
    let v = c
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(v.status().map(|s| s.as_str()), Some("Suspended"));
    let lc = c
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await;
    assert!(lc.is_err(), "lifecycle still present: {lc:?}");
    assert!(c.get_bucket_policy().bucket(bucket).send().await.is_err());
    let scratch = c
        .list_object_versions()
        .bucket(bucket)
        .prefix("scratch/")
        .send()
        .await
        .unwrap();
    assert!(scratch.versions().is_empty() && scratch.delete_markers().is_empty());
    let data = c
        .list_objects_v2()
        .bucket(bucket)
        .prefix("data/")
        .send()
        .await
        .unwrap();
    assert_eq!(data.key_count(), Some(8));

    // The results file, S3 evidence included, matches the published schema.
    let errors = common::schema_violations_of(&dir.path().join("out/results.json"));
    assert!(errors.is_empty(), "{errors:#?}");

    let report = std::fs::read_to_string(dir.path().join("out/report.md")).unwrap();
    assert!(report.contains("Object store (S3 / MinIO)"));
    assert!(report.contains("versioning Enabled"));
    assert!(report.contains("MB/s"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_object_is_detected_on_read() {
    let _server = SERVER.read().await;
    let dir = tempfile::tempdir().unwrap();
    let bucket = "tunebench-test-corrupt";
    let spec = Spec {
        bucket,
        objects: 2,
        load: "warmup = \"0s\"\nduration = \"1s\"",
        ..Default::default()
    };
    let (outcome, _) = run_scenario(dir.path(), &spec).await.unwrap();
    assert_eq!(outcome.exit_code, 0, "{}", outcome.summary);
    // Overwrite both objects behind the harness's back, same size, other bytes.
    let c = client();
    for key in ["data/00000000", "data/00000001"] {
        c.put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(vec![7u8; 64 * 1024]))
            .send()
            .await
            .unwrap();
    }
    let err = run_scenario(dir.path(), &spec).await.unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("checksum_mismatch"), "{msg}");
    assert!(msg.contains("differ from what tunebench wrote"), "{msg}");
    // Let the next run reload the dataset.
    c.delete_object()
        .bucket(bucket)
        .key("tunebench-dataset.json")
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_multipart_uploads_are_aborted_leaving_no_parts() {
    let _server = SERVER.read().await;
    let dir = tempfile::tempdir().unwrap();
    let bucket = "tunebench-test-abort";
    let spec = Spec {
        bucket,
        objects: 1,
        ops: r#"{ op = "mp64_p1" }"#,
        // Far too short for 64 MiB: every upload is cut off mid-way.
        load: "warmup = \"0s\"\nduration = \"1500ms\"\nop_timeout = \"150ms\"\nerror_budget = 1.0",
        ..Default::default()
    };
    let (_, results) = run_scenario(dir.path(), &spec).await.unwrap();
    let w = &results.runs[0].workloads[0];
    assert!(w.errors > 0 && w.errors_by_kind.contains_key("timeout"));
    let e = s3_evidence(&results, "baseline");
    assert!(e.uploads_aborted > 0);
    let orphans = uploads_in(bucket).await;
    assert!(orphans.is_empty(), "orphaned uploads: {orphans:?}");
}

/// The multipart uploads still open in `bucket`, as (key, upload id). MinIO
/// (RELEASE.2025-04-22) answers ListMultipartUploads without a prefix with the uploads of
/// *every* bucket, so another test's uploads in flight show up here too: an upload is
/// counted only when ListParts finds it in this bucket (it answers NoSuchUpload otherwise).
async fn uploads_in(bucket: &str) -> Vec<(String, String)> {
    let c = client();
    let listed = c
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let mut open = Vec::new();
    for u in listed.uploads() {
        let (key, id) = (u.key().unwrap(), u.upload_id().unwrap());
        match c
            .list_parts()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .send()
            .await
        {
            Ok(_) => open.push((key.to_string(), id.to_string())),
            Err(e)
                if e.as_service_error().and_then(|e| e.meta().code()) == Some("NoSuchUpload") => {}
            Err(e) => panic!("ListParts {key}: {e:?}"),
        }
    }
    open
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_tunebench_did_not_create_is_refused_and_left_alone() {
    let _server = SERVER.read().await;
    let dir = tempfile::tempdir().unwrap();
    let bucket = "tunebench-test-foreign";
    let c = client();
    let _ = c.create_bucket().bucket(bucket).send().await;
    c.put_object()
        .bucket(bucket)
        .key("precious")
        .body(ByteStream::from_static(b"theirs"))
        .send()
        .await
        .unwrap();
    let spec = Spec {
        bucket,
        ..Default::default()
    };
    let err = run_scenario(dir.path(), &spec).await.unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(
        err.to_string().contains("not created by tunebench"),
        "{err}"
    );
    let listed = c.list_objects_v2().bucket(bucket).send().await.unwrap();
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["precious"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_and_unreachable_minio_are_exit_3_without_the_secret() {
    let _server = SERVER.read().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec {
        secret: "not-the-secret-4711",
        ..Default::default()
    };
    let err = run_scenario(dir.path(), &spec).await.unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("SignatureDoesNotMatch") || msg.contains("InvalidAccessKeyId"),
        "{msg}"
    );
    assert!(!msg.contains("not-the-secret-4711"), "{msg}");

    let spec = Spec {
        url: "http://127.0.0.1:9",
        ..Default::default()
    };
    let err = run_scenario(dir.path(), &spec).await.unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
    assert!(!err.to_string().contains("tunebench-secret"), "{err}");
}

#[tokio::test]
async fn bad_s3_input_is_exit_2_naming_file_and_field() {
    let _server = SERVER.read().await;
    let dir = tempfile::tempdir().unwrap();
    let wl = dir.path().join("wl.toml");
    std::fs::write(
        &wl,
        "store = \"s3\"\n[ops.up]\nkind = \"multipart_upload\"\nobject_size = \"1MiB\"\npart_size = \"5MiB\"\nparts_in_flight = 4\n",
    )
    .unwrap();
    let spec = Spec {
        bucket: "my-bucket",
        ops: r#"{ op = "up" }"#,
        ..Default::default()
    };
    let path = scenario(dir.path(), &spec);
    let text = std::fs::read_to_string(&path).unwrap().replace(
        &format!("{ROOT}/workloads/s3-objects.toml"),
        wl.to_str().unwrap(),
    );
    std::fs::write(&path, text).unwrap();
    let err = run(&["validate", path.to_str().unwrap()])
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let msg = err.to_string();
    assert!(
        msg.contains("wl.toml:")
            && msg.contains("ops.up.object_size")
            && msg.contains("smaller than the minimum part size"),
        "{msg}"
    );
    assert!(
        msg.contains("objects.toml")
            && msg.contains("field `bucket`")
            && msg.contains("tunebench-"),
        "{msg}"
    );
}
