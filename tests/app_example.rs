//! The reference application (`examples/app`) against the real stack: `/health` checks every
//! configured store with a real request and reports its version, the product endpoints want
//! a token, and the journeys of `workloads/app-journeys.toml` run through it by goose, on the
//! tiny datasets, with every step answered and no error.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tunebench::Results;

mod common;
use common::{ROOT, env_or, env_or_skip};

/// The bucket this test's app uploads into (created by the app, removed by the test).
const BUCKET: &str = "tunebench-app-test";

/// The example's binary, built by `cargo build --example app` next to the test binaries
/// (`cargo test --all-targets` builds examples in test mode only: scripts/test builds it).
fn app_binary() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_tunebench"));
    let app = bin.parent().unwrap().join("examples").join("app");
    assert!(
        app.exists(),
        "{} is missing: build it first with `cargo build --example app` (scripts/test does)",
        app.display()
    );
    app
}

/// The app, killed when the test ends however it ends.
struct App(Child);

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_app() -> (App, String) {
    let mut child = Command::new(app_binary())
        .env("APP_LISTEN", "127.0.0.1:0")
        .env("APP_DOCS_SCHEMA", "tunebench_docs_tiny")
        .env("APP_VEC_SCHEMA", "tunebench_vec_tiny")
        .env("APP_BUCKET", BUCKET)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the example app starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("the app's first line: {line:?}"))
        .to_string();
    (App(child), url)
}

fn scenario(dir: &Path, app_url: &str) -> PathBuf {
    let pg = env_or(
        "TUNEBENCH_PG_URL",
        "postgres://tunebench:tunebench@127.0.0.1:5432/tunebench",
    );
    let text = format!(
        r#"name = "app-example"
[targets.app]
kind = "http"
url = "{app_url}"
[targets.pg]
kind = "postgres"
url = "{pg}"
[targets.pgv]
kind = "postgres"
url = "{pg}"
[targets.neo]
kind = "neo4j"
url = "${{TUNEBENCH_NEO4J_URL:-bolt://127.0.0.1:7687}}"
user = "${{TUNEBENCH_NEO4J_USER:-neo4j}}"
password = "${{TUNEBENCH_NEO4J_PASSWORD:-tunebench}}"
[datasets.docs]
target = "pg"
file = "{ROOT}/datasets/sizes/tiny/docs.toml"
[datasets.vec]
target = "pgv"
file = "{ROOT}/datasets/sizes/tiny/vectors.toml"
[datasets.graph]
target = "neo"
file = "{ROOT}/datasets/sizes/tiny/graph.toml"
[load]
mode = "closed"
concurrency = 2
warmup = "300ms"
duration = "2s"
trials = 1
error_budget = 0.01
op_timeout = "10s"
[[workload]]
name = "journeys"
target = "app"
definition = "{ROOT}/workloads/app-journeys.toml"
[[profile]]
name = "baseline"
apply = {{}}
"#
    );
    let path = dir.join("app.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn remove_bucket() {
    let s3 = common::s3::client(&common::s3::endpoint());
    if let Ok(list) = s3.list_objects_v2().bucket(BUCKET).send().await {
        for o in list.contents() {
            let _ = s3
                .delete_object()
                .bucket(BUCKET)
                .key(o.key().unwrap_or_default())
                .send()
                .await;
        }
        let _ = s3.delete_bucket().bucket(BUCKET).send().await;
    }
}

#[tokio::test]
async fn the_reference_app_checks_its_stores_and_serves_every_journey_step() {
    let test = "app_example";
    let hint = "start the stack: scripts/stack up && eval \"$(scripts/stack env)\"";
    if env_or_skip("TUNEBENCH_PG_URL", test, hint).is_none()
        || env_or_skip("TUNEBENCH_NEO4J_URL", test, hint).is_none()
        || env_or_skip("TUNEBENCH_S3_ENDPOINT", test, hint).is_none()
    {
        return;
    }
    remove_bucket().await;
    let (_app, url) = start_app();
    let http = reqwest::Client::new();

    // /health: a real request to each store, each one's version.
    let health = http.get(format!("{url}/health")).send().await.unwrap();
    let status = health.status().as_u16();
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    for (store, product) in [
        ("postgres", "PostgreSQL "),
        ("neo4j", "Neo4j"),
        ("minio", "MinIO RELEASE."),
    ] {
        let s = &body["stores"][store];
        assert_eq!(s["status"], "ok", "{store}: {body}");
        let version = s["version"].as_str().unwrap_or_default();
        assert!(version.starts_with(product), "{store}: {version:?}");
        assert!(s["ms"].as_f64().unwrap() >= 0.0, "{body}");
    }
    let qdrant = std::env::var("TUNEBENCH_QDRANT_REST_URL").unwrap_or_default();
    let expected = if qdrant.is_empty() {
        "not_configured"
    } else {
        "ok"
    };
    assert_eq!(body["stores"]["qdrant"]["status"], expected, "{body}");

    // The product's endpoints want a token.
    let r = http
        .get(format!("{url}/search?q=data"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // The journeys, through goose, on the tiny datasets.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = Command::new(env!("CARGO_BIN_EXE_tunebench"))
        .current_dir(ROOT)
        .args(["run", scenario(dir.path(), &url).to_str().unwrap()])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .expect("the tunebench binary runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    let r = Results::read(&out.join("results.json")).unwrap();
    let w = common::workload(&r, "baseline", "journeys");
    let steps: Vec<(&str, u64, u64)> = w
        .operations
        .iter()
        .map(|o| (o.op.as_str(), o.ops, o.errors))
        .collect();
    let names: Vec<&str> = steps.iter().map(|s| s.0).collect();
    assert_eq!(
        names,
        [
            "browse.login",
            "browse.trending",
            "browse.search",
            "browse.similar",
            "browse.related",
            "upload.login",
            "upload.file"
        ],
        "{steps:?}"
    );
    for (op, ops, errors) in &steps {
        assert!(
            *ops > 0 && *errors == 0,
            "{op}: {ops} ops, {errors} errors; {stderr}"
        );
    }

    // The uploads are in MinIO.
    let s3 = common::s3::client(&common::s3::endpoint());
    let listed = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("uploads/")
        .send()
        .await
        .unwrap();
    assert!(listed.key_count().unwrap_or(0) > 0, "no upload stored");
    remove_bucket().await;
}
