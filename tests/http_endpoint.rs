//! HTTP endpoint workloads end to end, against a tiny HTTP/1.1 server this test starts on
//! 127.0.0.1 (no other server needed): `/health` answers 200 after an injected delay,
//! `/broken` answers 503. Runs tunebench in-process and checks what it measured.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tunebench::Results;
use tunebench::results::Evidence;

mod common;
use common::{ROOT, run, run_to};

const HEALTH_BODY: &str = r#"{"postgres":"ok","qdrant":"ok","neo4j":"ok","minio":"ok"}"#;
/// Must never appear in results, report or logs.
const TOKEN: &str = "Bearer tb-test-token-5f1e9a";

/// What the test server saw.
#[derive(Default)]
struct Seen {
    health: AtomicU64,
    broken: AtomicU64,
    /// /health requests that carried the token the workload sends.
    authorized: AtomicU64,
    /// The query strings of /search requests.
    searches: std::sync::Mutex<Vec<String>>,
}

/// Starts the server; returns its base URL and its counters. Keep-alive, one task per
/// connection; requests carry no body (the ops here are GETs).
async fn serve(delay: Duration) -> (String, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(connection(conn, delay, s.clone()));
        }
    });
    (url, seen)
}

async fn connection(mut conn: TcpStream, delay: Duration, seen: Arc<Seen>) {
    let _ = conn.set_nodelay(true);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end);
        let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
        let (status, body) = match path.as_str() {
            "/health" => {
                seen.health.fetch_add(1, Ordering::Relaxed);
                if head
                    .lines()
                    .any(|l| l.eq_ignore_ascii_case(&format!("authorization: {TOKEN}")))
                {
                    seen.authorized.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(delay).await;
                ("200 OK", HEALTH_BODY)
            }
            "/broken" => {
                seen.broken.fetch_add(1, Ordering::Relaxed);
                ("503 Service Unavailable", "neo4j down")
            }
            p if p.starts_with("/search?") => {
                seen.searches
                    .lock()
                    .unwrap()
                    .push(p["/search?".len()..].to_string());
                ("200 OK", "[]")
            }
            _ => ("404 Not Found", "no such endpoint"),
        };
        let resp = format!(
            "HTTP/1.1 {status}\r\nServer: tiny-test/1.0\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if conn.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The workload file: the repo's own /health op shape plus /broken, with a token header.
fn workload_file(dir: &Path) -> PathBuf {
    let path = dir.join("endpoints.toml");
    std::fs::write(
        &path,
        format!(
            r#"store = "http"

[ops.health]
path = "/health"
method = "GET"
expect_status = 200
headers = {{ Authorization = "{TOKEN}", Accept = "application/json" }}

[ops.broken]
path = "/broken"
expect_status = 200
"#
        ),
    )
    .unwrap();
    path
}

fn write_scenario(dir: &Path, url: &str, load: &str, workloads: &str, criteria: &str) -> PathBuf {
    let def = workload_file(dir);
    let text = format!(
        r#"name = "http-test"
criteria = [{criteria}]

[targets.app]
kind = "http"
url = "{url}"

[load]
{load}

{workloads}

[[profile]]
name = "baseline"
apply = {{}}
"#
    )
    .replace("DEF", &def.display().to_string());
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_measured_and_wrong_statuses_are_errors_by_kind() {
    let delay = Duration::from_millis(5);
    let (url, seen) = serve(delay).await;
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(
        dir.path(),
        &url,
        // /broken fails every time: the budget must not stop the run, the errors are the point.
        "mode = \"closed\"\nconcurrency = 2\nwarmup = \"200ms\"\niterations = 120\nerror_budget = 1.0",
        r#"[[workload]]
name = "health"
target = "app"
definition = "DEF"
ops = [{ op = "health" }]

[[workload]]
name = "broken"
target = "app"
definition = "DEF"
ops = [{ op = "broken" }]"#,
        r#""health.p99 < 200ms", "broken.error_rate < 1%""#,
    );
    let out = dir.path().join("out");
    let outcome = run_to(&scenario, &out, &[])
        .await
        .expect("the run completes");
    // broken.error_rate fails, so the run says so.
    assert_eq!(outcome.exit_code, 1, "{}", outcome.summary);
    assert!(
        outcome.summary.contains("broken.error_rate"),
        "{}",
        outcome.summary
    );

    let results_path = out.join("results.json");
    let results = Results::read(&results_path).unwrap();
    let run = &results.runs[0];
    let health = run
        .workloads
        .iter()
        .find(|w| w.workload == "health")
        .unwrap();
    let broken = run
        .workloads
        .iter()
        .find(|w| w.workload == "broken")
        .unwrap();

    // A fixed count (iterations), not what a time window allows: speed cannot change it.
    assert_eq!(health.ops, 120, "health ops");
    assert_eq!(health.errors, 0, "{:?}", health.errors_by_kind);
    // The server sleeps `delay` before answering: a latency below it was not measured.
    let delay_ms = delay.as_secs_f64() * 1e3;
    // Only the lower bound: a slow machine can only add to it.
    assert!(
        health.latency_ms.p50 >= delay_ms,
        "p50 {} ms vs injected {delay_ms} ms",
        health.latency_ms.p50
    );
    // Response bytes are counted: body length per completed op over the measured time.
    let bps = health.bytes_per_s.expect("bytes counted");
    let expect_bps = (health.ops * HEALTH_BODY.len() as u64) as f64 / health.duration_s;
    assert!(
        (bps - expect_bps).abs() < 1e-6 * expect_bps,
        "{bps} vs {expect_bps}"
    );

    assert_eq!(broken.ops, 0, "a 503 is never a success");
    assert_eq!(broken.errors, 120, "every broken call is an error");
    let by_kind = &broken.errors_by_kind["status_503"];
    assert_eq!(by_kind.count, broken.errors, "{:?}", broken.errors_by_kind);
    assert!(
        by_kind.example.contains("GET /broken answered 503"),
        "{}",
        by_kind.example
    );

    // The server saw at least every measured request (plus warm-up and readiness).
    assert!(seen.health.load(Ordering::Relaxed) > health.ops);
    assert!(seen.broken.load(Ordering::Relaxed) > broken.errors);
    assert_eq!(
        seen.authorized.load(Ordering::Relaxed),
        seen.health.load(Ordering::Relaxed),
        "every /health request carries the workload's Authorization header"
    );

    let criteria: Vec<_> = run
        .criteria
        .iter()
        .map(|c| (c.criterion.as_str(), c.passed))
        .collect();
    assert_eq!(
        criteria,
        [
            ("health.p99 < 200ms", true),
            ("broken.error_rate < 1%", false)
        ],
        "{:?}",
        run.criteria
    );
    let p99 = run.criteria[0].value.expect("measured");
    assert!((p99 - health.latency_ms.p99).abs() < 1e-9, "{p99}");

    // Readiness: one GET per endpoint, reporting what it answered (503 included).
    let ready: Vec<_> = run
        .readiness
        .iter()
        .map(|r| (r.check.as_str(), r.ok))
        .collect();
    assert!(
        ready.contains(&("GET /health", true)),
        "{:?}",
        run.readiness
    );
    assert!(
        ready.contains(&("GET /broken", true)),
        "{:?}",
        run.readiness
    );
    assert!(
        run.readiness
            .iter()
            .any(|r| r.actual.starts_with("HTTP 503")),
        "{:?}",
        run.readiness
    );

    let Evidence::Http(ev) = &run.server["app"] else {
        panic!("http evidence expected: {:?}", run.server["app"]);
    };
    let count = |w: &str, status: u16| {
        ev.statuses
            .iter()
            .find(|s| s.workload == w && s.status == status)
            .map_or(0, |s| s.count)
    };
    assert_eq!(count("health", 200), health.ops, "{:?}", ev.statuses);
    assert_eq!(count("broken", 503), broken.errors, "{:?}", ev.statuses);
    assert_eq!(ev.server_header.as_deref(), Some("tiny-test/1.0"));
    assert_eq!(results.environment.targets["app"].kind, "http");

    let violations = common::schema_violations_of(&results_path);
    assert!(violations.is_empty(), "{}", violations.join("\n"));

    // The token is used, but never written.
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let json = std::fs::read_to_string(&results_path).unwrap();
    for (name, text) in [("results.json", &json), ("report.md", &report)] {
        assert!(!text.contains("tb-test-token"), "{name} leaks the token");
    }
    assert!(
        json.contains("\"Authorization\": \"***\""),
        "the header is named, its value redacted"
    );
    assert!(
        report.contains("HTTP statuses, broken.broken"),
        "monitoring shows statuses"
    );

    eprintln!(
        "local /health, closed loop x2 with {delay_ms} ms server delay: {} ops in {:.2} s = {:.0} ops/s, p50 {:.2} ms, p99 {:.2} ms",
        health.ops,
        health.duration_s,
        health.throughput_ops_s,
        health.latency_ms.p50,
        health.latency_ms.p99
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_latency_includes_the_wait_behind_a_slow_endpoint() {
    // 40 requests/s with one in flight against a 50 ms endpoint: each request waits behind the
    // previous ones, and open loop must charge that wait (from the intended start).
    let delay = Duration::from_millis(50);
    let (url, _seen) = serve(delay).await;
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(
        dir.path(),
        &url,
        "mode = \"open\"\nrate = 40\nmax_in_flight = 1\nwarmup = \"0s\"\nduration = \"1s\"",
        r#"[[workload]]
name = "health"
target = "app"
definition = "DEF"
ops = [{ op = "health" }]"#,
        r#""health.p99 < 200ms""#,
    );
    let out = dir.path().join("out");
    let outcome = run_to(&scenario, &out, &[])
        .await
        .expect("the run completes");
    let results = Results::read(&out.join("results.json")).unwrap();
    let w = &results.runs[0].workloads[0];
    // All 40 scheduled requests run (the last ones late), none fails.
    assert_eq!((w.ops, w.errors), (40, 0), "{:?}", w.errors_by_kind);
    // Request i is due at 25i ms but starts at ~50i ms: latency ~25i + 50 ms.
    assert!(w.latency_ms.p50 > 400.0, "p50 {} ms", w.latency_ms.p50);
    assert!(w.latency_ms.max > 900.0, "max {} ms", w.latency_ms.max);
    let lag = w
        .schedule_lag_ms
        .as_ref()
        .expect("open loop reports schedule lag");
    assert!(lag.max > 800.0, "lag {lag:?}");
    // So the 200 ms criterion fails, as a user of that endpoint would see it.
    assert_eq!(outcome.exit_code, 1, "{}", outcome.summary);
    assert!(!results.runs[0].criteria[0].passed);
    assert_eq!(w.mode, "open");
}

/// A bad workload or scenario field stops before any request, exit 2, naming file, line and
/// field.
#[tokio::test]
async fn bad_http_fields_are_input_errors_with_their_location() {
    let dir = tempfile::tempdir().unwrap();
    let def = dir.path().join("bad.toml");
    std::fs::write(
        &def,
        "store = \"http\"\n\n[ops.health]\npath = \"/health\"\nmethod = \"FETCH\"\nexpect_status = 99\ntimeout = \"soon\"\n",
    )
    .unwrap();
    // Nothing listens on port 1: exit 2 proves the run stopped before connecting.
    let scenario = write_scenario(
        dir.path(),
        "http://127.0.0.1:1",
        "mode = \"closed\"\nconcurrency = 1\nduration = \"1s\"",
        &format!(
            r#"[[workload]]
name = "health"
target = "app"
definition = "{}"
ops = [{{ op = "health" }}]

[[workload]]
name = "with_dataset"
target = "app"
dataset = "docs"
definition = "DEF"
ops = [{{ op = "health" }}]"#,
            def.display()
        ),
        "",
    );
    let err = run_to(&scenario, &dir.path().join("o"), &[])
        .await
        .expect_err("bad input");
    assert_eq!(err.exit_code(), 2, "{err}");
    let text = err.to_string();
    let bad = def.display().to_string();
    for needle in [
        format!("{bad}:5:10: field `ops.health.method`: `FETCH` is not a method"),
        format!("{bad}:6:17: field `ops.health.expect_status`: 99 is not an HTTP status"),
        format!("{bad}:7:11: field `ops.health.timeout`"),
        "field `workload[1].dataset`: target `app` is kind = \"http\", which takes no dataset"
            .to_string(),
    ] {
        assert!(text.contains(&needle), "missing `{needle}` in:\n{text}");
    }

    // A profile that tries to tune an http target, and a URL with credentials in it.
    let scenario = dir.path().join("tuned.toml");
    std::fs::write(
        &scenario,
        "name = \"x\"\n[targets.app]\nkind = \"http\"\nurl = \"http://u:p@127.0.0.1:1\"\n[load]\nmode = \"closed\"\nconcurrency = 1\nduration = \"1s\"\n[[workload]]\nname = \"h\"\ntarget = \"app\"\ndefinition = \"DEF\"\nops = [{ op = \"health\" }]\n[[profile]]\nname = \"tuned\"\napply = { app = \"whatever.toml\" }\n"
            .replace("DEF", &workload_file(dir.path()).display().to_string()),
    )
    .unwrap();
    let err = run(&["validate", scenario.to_str().unwrap()])
        .await
        .expect_err("bad input");
    assert_eq!(err.exit_code(), 2, "{err}");
    let text = err.to_string();
    assert!(
        text.contains(
            ":4:7: field `targets.app.url`: `http://u:***@127.0.0.1:1` is not an HTTP base URL"
        ),
        "{text}"
    );
    assert!(
        text.contains("field `profile[0].apply.app`: target `app` is kind = \"http\""),
        "{text}"
    );
    assert!(!text.contains("u:p@"), "the password is not echoed: {text}");
}

/// The repo's own example scenario validates.
#[tokio::test]
async fn example_scenario_validates() {
    let path = Path::new(ROOT).join("scenarios/http-health.toml");
    let outcome = run(&["validate", path.to_str().unwrap()])
        .await
        .expect("valid");
    assert_eq!(outcome.exit_code, 0);
    assert!(
        outcome
            .summary
            .contains("1 workload(s), 1 profile(s), 2 criteria"),
        "{}",
        outcome.summary
    );
}

/// Placeholders in the path filled from the user's own file, one row per request (values
/// percent-encoded, kept paired); the values never reach the results or the report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_placeholders_are_filled_from_a_file_row_per_request() {
    let (url, seen) = serve(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("searches.csv"),
        "term,region\nred shoes,eu\nsalt&pepper,us\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("search.toml"),
        r#"store = "http"

[ops.search]
path = "/search?q={q}&region={r}"
params = { "q,r" = { from = "file", path = "searches.csv", columns = ["term", "region"] } }
"#,
    )
    .unwrap();
    let scenario = dir.path().join("scenario.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"search\"\n[targets.app]\nkind = \"http\"\nurl = \"{url}\"\n[load]\nmode = \"closed\"\nconcurrency = 2\nwarmup = \"100ms\"\nduration = \"400ms\"\n[[workload]]\nname = \"search\"\ntarget = \"app\"\ndefinition = \"search.toml\"\nops = [{{ op = \"search\" }}]\n[[profile]]\nname = \"baseline\"\napply = {{}}\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let outcome = run_to(&scenario, &out, &[]).await.unwrap();
    assert_eq!(outcome.exit_code, 0, "{}", outcome.summary);
    let r = Results::read(&out.join("results.json")).unwrap();
    let w = &r.runs[0].workloads[0];
    assert!(
        w.ops > 0 && w.errors == 0,
        "{} ops, {} errors",
        w.ops,
        w.errors
    );
    let searches = seen.searches.lock().unwrap().clone();
    let kinds: std::collections::BTreeSet<&str> = searches.iter().map(String::as_str).collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["q=red%20shoes&region=eu", "q=salt%26pepper&region=us"],
        "{} requests",
        searches.len()
    );
    assert_eq!(w.param_sources[0].name.as_deref(), Some("q,r"));
    let text = std::fs::read_to_string(out.join("results.json")).unwrap()
        + &std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        text.contains("GET /search?q={q}&region={r}"),
        "the readiness label"
    );
    assert!(
        !text.contains("shoes") && !text.contains("pepper"),
        "a value from the user's file in the results or the report"
    );

    // A declared parameter the path does not use, and a sample (no database here): exit 2.
    std::fs::write(
        dir.path().join("search.toml"),
        r#"store = "http"

[ops.search]
path = "/search?q={q}"
params = { q = { from = "list", values = ["a"] }, unused = { from = "list", values = [1] }, s = { from = "sample", query = "SELECT 1", column = "x" } }
"#,
    )
    .unwrap();
    let err = run_to(&scenario, &out, &[]).await.unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("ops.search.params.unused")
            && text.contains("is not used")
            && text.contains("a sample or a table's vectors needs a database query"),
        "{text}"
    );
}
