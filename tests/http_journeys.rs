//! Application journeys on goose (`engine = "goose"`), end to end against a tiny HTTP/1.1
//! application this test starts on 127.0.0.1: a login that returns a token, a search that
//! needs it and returns ids, an item page, and an endpoint that always fails. Checks that
//! captured values flow from step to step, that a failed step ends its journey, that every
//! request goose logged is in tunebench's histograms, and that tunebench's own interrupt
//! handling survives goose.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tunebench::Results;
use tunebench::results::Evidence;

mod common;
use common::child::spawn_run;
use common::{run, run_to};

/// The session token the application hands out: must never be written anywhere.
const TOKEN: &str = "tb-journey-token-81c2";

/// Requests the application saw, by "METHOD PATH" (query dropped), and how many carried the
/// token.
#[derive(Default)]
struct Seen {
    by_path: Mutex<BTreeMap<String, u64>>,
    authorized: Mutex<u64>,
    /// Every request target as sent (path and query).
    targets: Mutex<Vec<String>>,
}

impl Seen {
    fn count(&self, key: &str) -> u64 {
        self.by_path.lock().unwrap().get(key).copied().unwrap_or(0)
    }
    fn total(&self) -> u64 {
        self.by_path.lock().unwrap().values().sum()
    }
}

async fn serve() -> (String, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(connection(conn, s.clone()));
        }
    });
    (url, seen)
}

async fn connection(mut conn: TcpStream, seen: Arc<Seen>) {
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
        // The body, if any (the login's): read and dropped.
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < length {
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..length);
        let mut words = head.split_whitespace();
        let method = words.next().unwrap_or("").to_string();
        let target = words.next().unwrap_or("").to_string();
        let path = target.split('?').next().unwrap_or("").to_string();
        seen.targets.lock().unwrap().push(target.clone());
        *seen
            .by_path
            .lock()
            .unwrap()
            .entry(format!("{method} {path}"))
            .or_default() += 1;
        let authorized = head
            .lines()
            .any(|l| l.eq_ignore_ascii_case(&format!("authorization: Bearer {TOKEN}")));
        if authorized {
            *seen.authorized.lock().unwrap() += 1;
        }
        let (status, body) = match (method.as_str(), path.as_str()) {
            ("POST", "/login") => ("200 OK", format!(r#"{{"token":"{TOKEN}"}}"#)),
            ("GET", "/search") if authorized => (
                "200 OK",
                r#"{"results":[{"id":7,"title":"seven"},{"id":9}]}"#.to_string(),
            ),
            ("GET", "/search") => ("401 Unauthorized", "{}".to_string()),
            ("GET", "/item/7") if authorized => ("200 OK", r#"{"id":7}"#.to_string()),
            ("GET", "/broken") => ("503 Service Unavailable", "down".to_string()),
            _ => ("404 Not Found", "no such page".to_string()),
        };
        let resp = format!(
            "HTTP/1.1 {status}\r\nServer: tiny-app/1.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if conn.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Three journeys: `browse` (login, search, open the first result: two captured values),
/// `outage` (login, then an endpoint that fails: its last step must never be sent), and
/// `lost` (a capture whose pointer finds nothing: the step after it is never sent).
fn journeys_file(dir: &Path, run: &str) -> PathBuf {
    let path = dir.join("journeys.toml");
    std::fs::write(
        &path,
        format!(
            r#"store = "http"
engine = "goose"
users = 4
{run}

[journeys.browse]
weight = 2
think = "20ms"
steps = [
  {{ name = "login", method = "POST", path = "/login", body = '{{"user":"demo"}}',
     headers = {{ "content-type" = "application/json" }}, capture = {{ token = {{ json = "/token" }} }} }},
  {{ name = "search", path = "/search?q=pg", headers = {{ authorization = "Bearer {{{{token}}}}" }},
     capture = {{ id = {{ json = "/results/0/id" }} }} }},
  {{ name = "open", path = "/item/{{{{id}}}}", headers = {{ authorization = "Bearer {{{{token}}}}" }} }},
]

[journeys.outage]
steps = [
  {{ name = "login", method = "POST", path = "/login", capture = {{ token = {{ json = "/token" }} }} }},
  {{ name = "broken", path = "/broken" }},
  {{ name = "never", path = "/never" }},
]

[journeys.lost]
steps = [
  {{ name = "login", method = "POST", path = "/login", capture = {{ token = {{ json = "/token" }} }} }},
  {{ name = "search", path = "/search", headers = {{ authorization = "Bearer {{{{token}}}}" }},
     capture = {{ id = {{ json = "/results/5/id" }} }} }},
  {{ name = "after", path = "/after/{{{{id}}}}" }},
]
"#
        ),
    )
    .unwrap();
    path
}

fn scenario(dir: &Path, url: &str, run: &str, load: &str) -> PathBuf {
    let def = journeys_file(dir, run);
    let path = dir.join("scenario.toml");
    std::fs::write(
        &path,
        format!(
            r#"name = "journeys-test"
criteria = ["journeys.error_rate < 100%"]

[targets.app]
kind = "http"
url = "{url}"

[load]
{load}

[[workload]]
name = "journeys"
target = "app"
definition = "{}"

[[profile]]
name = "baseline"
apply = {{}}
"#,
            def.display()
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journeys_capture_values_stop_at_a_failed_step_and_land_in_the_histograms() {
    let (url, seen) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    // A fixed number of iterations per user: the counts cannot depend on the machine's speed.
    let path = scenario(
        dir.path(),
        &url,
        "iterations = 6",
        "mode = \"closed\"\nconcurrency = 2\nwarmup = \"0s\"\nduration = \"30s\"\nerror_budget = 1.0",
    );
    let out = dir.path().join("out");
    let outcome = run_to(&path, &out, &[]).await.expect("the run completes");
    let results_path = out.join("results.json");
    let results = Results::read(&results_path).unwrap();
    let w = &results.runs[0].workloads[0];
    let ops: BTreeMap<&str, (u64, u64)> = w
        .operations
        .iter()
        .map(|o| (o.op.as_str(), (o.ops, o.errors)))
        .collect();
    eprintln!("{}\nper op (ops, errors): {ops:?}", outcome.summary);

    // Every user ran 6 journeys (goose gives users to journeys by weight: browse 2 of the
    // 4, outage and lost 1 each); every request goose made is counted exactly once.
    let iterations = 4 * 6;
    let (browse_login, _) = ops["browse.login"];
    let (outage_login, _) = ops["outage.login"];
    let (lost_login, _) = ops["lost.login"];
    assert_eq!(
        browse_login + outage_login + lost_login,
        iterations,
        "{ops:?}"
    );
    // browse: three steps, each once per iteration, the token and the id flowing through.
    assert_eq!(ops["browse.search"], (browse_login, 0), "{ops:?}");
    assert_eq!(ops["browse.open"], (browse_login, 0), "{ops:?}");
    assert_eq!(
        seen.count("GET /item/7"),
        browse_login,
        "the captured id was used"
    );
    assert_eq!(
        *seen.authorized.lock().unwrap(),
        2 * browse_login + lost_login,
        "every step after a login carried the captured token"
    );
    // outage: the failing step is an error of its kind; the step after it is never sent.
    assert_eq!(ops["outage.broken"], (0, outage_login), "{ops:?}");
    assert_eq!(ops["outage.never"], (0, 0), "{ops:?}");
    // Readiness GETs each step's path that needs no captured value, once: /never included.
    assert_eq!(seen.count("GET /never"), 1, "readiness's probe only");
    assert_eq!(w.errors_by_kind["status_503"].count, outage_login);
    // lost: the search answered, but what it should capture is missing.
    assert_eq!(ops["lost.search"], (0, lost_login), "{ops:?}");
    assert_eq!(ops["lost.after"], (0, 0), "{ops:?}");
    assert_eq!(w.errors_by_kind["capture_missing"].count, lost_login);
    // Connecting GETs the base URL once; readiness GETs /login, /broken and /never.
    assert_eq!(seen.count("GET /"), 1);
    let probes = 1 + results.runs[0].readiness.len() as u64;
    assert_eq!(probes, 4, "{:?}", results.runs[0].readiness);
    assert_eq!(
        seen.total(),
        3 * browse_login + 2 * outage_login + 2 * lost_login + probes,
        "the application saw exactly the requests counted"
    );
    assert_eq!(w.ops + w.errors + probes, seen.total());

    let Evidence::Http(ev) = &results.runs[0].server["app"] else {
        panic!("http evidence expected");
    };
    // goose's own count of each step equals what tunebench read from its log.
    assert!(!ev.goose.is_empty());
    for g in &ev.goose {
        assert_eq!(g.requests, g.logged, "{g:?}");
        // Both read the same requests: their percentiles agree within 1 % (and one rank).
        assert!(g.differs.is_empty(), "{g:?}");
        eprintln!(
            "{}: goose p50 {:.3} ms, tunebench p50 {:.3} ms {:?}",
            g.op, g.goose_raw.p50, g.tunebench.p50, g.differs
        );
    }
    // Journey times include the think time: two pauses of 20 ms at least in browse.
    let browse = ev
        .journeys
        .iter()
        .find(|j| j.journey == "browse")
        .expect("browse journey times");
    assert_eq!(browse.iterations, browse_login);
    assert!(browse.time.min >= 40.0, "{:?}", browse.time);

    let violations = common::schema_violations_of(&results_path);
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let json = std::fs::read_to_string(&results_path).unwrap();
    for (name, text) in [("results.json", &json), ("report.md", &report)] {
        assert!(!text.contains(TOKEN), "{name} leaks the captured token");
    }
    assert!(report.contains("Journey time, journeys.browse"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goose_workloads_are_refused_open_loop_and_with_ops_listed() {
    let (url, _) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        &url,
        "iterations = 1",
        "mode = \"open\"\nrate = 10\nconcurrency = 2\nmax_in_flight = 2\nwarmup = \"0s\"\nduration = \"1s\"",
    );
    let err = run_to(&path, &dir.path().join("out"), &[])
        .await
        .expect_err("open loop is refused");
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(err.to_string().contains("closed loop"), "{err}");

    // ops listed for a goose file: a validation error naming the field.
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "definition = ",
        "ops = [{ op = \"browse.login\" }]\ndefinition = ",
    );
    std::fs::write(&path, text).unwrap();
    let err = run(&["validate", path.to_str().unwrap()])
        .await
        .expect_err("ops are refused");
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(err.to_string().contains("workload[0].ops"), "{err}");
    assert!(err.to_string().contains("engine = \"goose\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_during_an_attack_is_tunebenchs_and_stops_the_users() {
    let (url, seen) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        &url,
        "",
        "mode = \"closed\"\nconcurrency = 2\nwarmup = \"0s\"\nduration = \"300s\"\nerror_budget = 1.0",
    );
    let child = spawn_run(&path, &dir.path().join("out"), &[]);
    // Interrupted once the attack is under way.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while seen.total() < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "the attack never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = child.pid();
    let (took, code, stderr) = child.after_signal(pid, libc::SIGINT).await;
    // tunebench's handler ran (goose's would have ended the attack and let the run finish
    // with a result), and the run ended long before its 300 s.
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("interrupted (SIGINT/SIGTERM)"), "{stderr}");
    assert!(took < Duration::from_secs(60), "{took:?}");
    // No user is left sending once the process is gone.
    let after = seen.total();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(seen.total(), after);
}

/// A journey's values drawn from sources at the start of each iteration (a CSV column and a
/// range), percent-encoded in the path, never written to the results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journey_values_come_from_sources_encoded_in_the_path() {
    let (url, seen) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("terms.csv"), "term\nsalt & pepper\nb/c\n").unwrap();
    std::fs::write(
        dir.path().join("journeys.toml"),
        r#"store = "http"
engine = "goose"
users = 2
iterations = 15

[journeys.lookup]
params = { q = { from = "file", path = "terms.csv", column = "term" }, n = { from = "range", min = 1, max = 3 } }
steps = [
  { name = "login", method = "POST", path = "/login", capture = { token = { json = "/token" } } },
  { name = "search", path = "/search?q={{q}}&n={{n}}", headers = { authorization = "Bearer {{token}}" } },
]
"#,
    )
    .unwrap();
    let path = dir.path().join("scenario.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"journey-params\"\n[targets.app]\nkind = \"http\"\nurl = \"{url}\"\n[load]\nmode = \"closed\"\nconcurrency = 2\nwarmup = \"0s\"\nduration = \"30s\"\n[[workload]]\nname = \"journeys\"\ntarget = \"app\"\ndefinition = \"journeys.toml\"\n[[profile]]\nname = \"baseline\"\napply = {{}}\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let outcome = run_to(&path, &out, &[]).await.unwrap();
    assert_eq!(outcome.exit_code, 0, "{}", outcome.summary);
    let searches: Vec<String> = seen
        .targets
        .lock()
        .unwrap()
        .iter()
        .filter(|t| t.starts_with("/search"))
        .cloned()
        .collect();
    assert!(searches.len() >= 10, "{searches:?}");
    for t in &searches {
        let ok_q = t.starts_with("/search?q=salt%20%26%20pepper&n=")
            || t.starts_with("/search?q=b%2Fc&n=");
        let n = t.rsplit("&n=").next().unwrap_or("");
        assert!(ok_q && ["1", "2", "3"].contains(&n), "{t}");
    }
    assert!(
        searches.iter().any(|t| t.contains("salt")) && searches.iter().any(|t| t.contains("b%2Fc"))
    );
    let written = std::fs::read_to_string(out.join("results.json")).unwrap()
        + &std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(!written.contains("pepper"), "a drawn value was written");

    // A journey's values are declared like an op's: a bad source names the field.
    std::fs::write(
        dir.path().join("journeys.toml"),
        "store = \"http\"\nengine = \"goose\"\n[journeys.lookup]\nparams = { q = { from = \"file\", path = \"terms.csv\", column = \"word\" } }\nsteps = [{ name = \"s\", path = \"/search?q={{q}}\" }]\n",
    )
    .unwrap();
    let err = tunebench::scenario::load(&path).unwrap_err().to_string();
    assert!(err.contains("word"), "{err}");
}
