//! Workloads on a bucket tunebench did not create (no dataset): GET, HEAD and LIST of the
//! objects listed under a prefix, sizes from the listing; the bucket read only, and writes
//! refused before anything runs.

use aws_sdk_s3::primitives::ByteStream;
use tunebench::Results;

use crate::common::run_to;
use crate::{SERVER, client};

/// The application's bucket, made by this test (as an application would), never by tunebench.
const BUCKET: &str = "shop-fixture-assets";

/// Every object's key, size and ETag, and the bucket's tags (none).
async fn fingerprint(c: &aws_sdk_s3::Client) -> String {
    let listed = c.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    let mut out: Vec<String> = listed
        .contents()
        .iter()
        .map(|o| {
            format!(
                "{}:{}:{}",
                o.key().unwrap_or_default(),
                o.size().unwrap_or_default(),
                o.e_tag().unwrap_or_default()
            )
        })
        .collect();
    out.sort();
    let tags = c.get_bucket_tagging().bucket(BUCKET).send().await.is_ok();
    format!("{} tags={tags}", out.join(","))
}

fn write_scenario(dir: &std::path::Path, ops: &str, extra_ops: &str) -> std::path::PathBuf {
    std::fs::write(
        dir.join("assets.toml"),
        format!(
            r#"store = "s3"
description = "the shop's product images"

[ops.get_image]
kind = "get"
bucket = "{BUCKET}"
prefix = "images/"

[ops.get_image_head]
kind = "get"
range = "1KiB"
bucket = "{BUCKET}"
prefix = "images/"

[ops.head_image]
kind = "head"
bucket = "{BUCKET}"
prefix = "images/"

[ops.list_images]
kind = "list"
max_keys = 10
bucket = "{BUCKET}"
prefix = "images/"
{extra_ops}"#
        ),
    )
    .unwrap();
    let path = dir.join("scenario.toml");
    std::fs::write(
        &path,
        format!(
            r#"name = "existing-bucket"
criteria = ["assets.error_rate < 1%"]

[targets.minio]
kind = "s3"
url = "${{TUNEBENCH_S3_ENDPOINT:-http://127.0.0.1:9000}}"
access_key = "${{TUNEBENCH_S3_ACCESS_KEY:-tunebench}}"
secret_key = "${{TUNEBENCH_S3_SECRET_KEY:-tunebench-secret}}"

[load]
mode = "closed"
concurrency = 2
warmup = "200ms"
duration = "800ms"

[[workload]]
name = "assets"
target = "minio"
definition = "assets.toml"
ops = [{ops}]

[[profile]]
name = "baseline"
apply = {{}}
"#
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_bucket_is_read_with_sizes_from_its_listing_and_left_as_it_was() {
    let _server = SERVER.read().await;
    let c = client();
    let _ = c.create_bucket().bucket(BUCKET).send().await;
    for i in 0..12u32 {
        let body = vec![b'a' + (i % 26) as u8; 2048 + i as usize * 512];
        c.put_object()
            .bucket(BUCKET)
            .key(format!("images/{i:03}.jpg"))
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
    }
    c.put_object()
        .bucket(BUCKET)
        .key("private/ledger.csv")
        .body(ByteStream::from_static(b"not for tunebench"))
        .send()
        .await
        .unwrap();
    let before = fingerprint(&c).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");

    let path = write_scenario(
        dir.path(),
        r#"{ op = "get_image" }, { op = "get_image_head" }, { op = "head_image" }, { op = "list_images" }"#,
        "",
    );
    let outcome = run_to(&path, &out, &[]).await.unwrap();
    assert_eq!(outcome.exit_code, 0, "{}", outcome.summary);
    let r = Results::read(&out.join("results.json")).unwrap();
    let run = &r.runs[0];
    let w = &run.workloads[0];
    assert!(w.errors == 0, "{} errors: {:?}", w.errors, w.errors_by_kind);
    for op in ["get_image", "get_image_head", "head_image", "list_images"] {
        assert!(
            w.operations.iter().any(|o| o.op == op && o.ops > 0),
            "{op} did not run"
        );
    }
    // Whole GETs moved the listed objects' bytes (sizes from the listing, 2-7.5 KiB each);
    // ranged ones 1 KiB.
    let bytes = |op: &str| {
        let o = w.operations.iter().find(|o| o.op == op).unwrap();
        o.bytes_per_s.unwrap_or(0.0) / o.throughput_ops_s
    };
    let whole = bytes("get_image");
    assert!((2048.0..=7680.0).contains(&whole), "{whole} bytes per GET");
    assert!((bytes("get_image_head") - 1024.0).abs() < 1.0);
    let checks: Vec<String> = run
        .readiness
        .iter()
        .map(|c| format!("{} {} {}", c.check, c.actual, c.ok))
        .collect();
    assert!(
        checks.contains(&format!("objects in {BUCKET}/images/ 12 true")),
        "{checks:?}"
    );
    assert_eq!(
        fingerprint(&c).await,
        before,
        "the application's bucket changed"
    );

    // A write is refused before anything runs, naming the op.
    let path = write_scenario(
        dir.path(),
        r#"{ op = "get_image" }, { op = "upload" }"#,
        "[ops.upload]\nkind = \"put\"\nsize = \"1KiB\"\n",
    );
    let err = run_to(&path, &out, &[]).await.unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(
        err.to_string().contains("op `upload` writes (kind = put)"),
        "{err}"
    );

    // A read must say which bucket it reads.
    let path = write_scenario(
        dir.path(),
        r#"{ op = "somewhere" }"#,
        "[ops.somewhere]\nkind = \"get\"\n",
    );
    let err = run_to(&path, &out, &[]).await.unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(
        err.to_string().contains("op `somewhere` names no bucket"),
        "{err}"
    );

    // An empty prefix is not measured.
    let path = write_scenario(
        dir.path(),
        r#"{ op = "nothing" }"#,
        &format!("[ops.nothing]\nkind = \"get\"\nbucket = \"{BUCKET}\"\nprefix = \"videos/\"\n"),
    );
    let err = run_to(&path, &out, &[]).await.unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("objects in {BUCKET}/videos/")),
        "{err}"
    );
    assert_eq!(
        fingerprint(&c).await,
        before,
        "the application's bucket changed"
    );
    let listed = c.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    for o in listed.contents() {
        c.delete_object()
            .bucket(BUCKET)
            .key(o.key().unwrap())
            .send()
            .await
            .unwrap();
    }
    c.delete_bucket().bucket(BUCKET).send().await.unwrap();
}
