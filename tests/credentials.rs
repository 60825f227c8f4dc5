//! Credentials are never printed or stored: distinctive secrets are given in every place a
//! secret can be (URL userinfo with odd characters, a password in the query string, the Neo4j
//! password, the S3 secret key, a Qdrant api_key, HTTP header values), then `validate` and a
//! run that fails to connect (every target on 127.0.0.1:1, where nothing listens) are run
//! through the real binary, and stdout, stderr and every file they wrote are searched for them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Each secret's distinctive tail: none of these may appear anywhere.
const SECRETS: &[&str] = &[
    "Zq81x",
    "QpZq77x",
    "Sekr3t",
    "Secr3t+Key",
    "HdrTok3n",
    "QdK3y66",
    "QdApiK3y42",
    "Zr52x",
    "Zt11x",
];

/// A PostgreSQL password holding `/ @ : % #` and a non-ASCII letter, percent-encoded as a URL
/// must be, plus a libpq-style `sslpassword` in the query string.
const PG_URL: &str = "postgres://tunebench:Pw%2F%40%3A%25%23%C3%A9-Zq81x@127.0.0.1:1/tunebench?sslmode=disable&sslpassword=QpZq77x";

fn env(cmd: &mut Command, cache: &Path) {
    cmd.current_dir(ROOT)
        .env("TUNEBENCH_PG_URL", PG_URL)
        .env("TUNEBENCH_NEO4J_URL", "bolt://127.0.0.1:1")
        .env("TUNEBENCH_NEO4J_PASSWORD", "Neo/Pass@Sekr3t:é")
        .env("TUNEBENCH_S3_ENDPOINT", "http://127.0.0.1:1")
        .env("TUNEBENCH_S3_SECRET_KEY", "S3/Secr3t+Key")
        .env("TUNEBENCH_QDRANT_URL", "http://127.0.0.1:1?api_key=QdK3y66")
        .env("TUNEBENCH_QDRANT_API_KEY", "Qd/Api@QdApiK3y42")
        .env("TUNEBENCH_APP_URL", "http://127.0.0.1:1")
        .env("TB_TEST_APP_TOKEN", "HdrTok3n-value")
        .env("TUNEBENCH_SIZE", "tiny")
        .env("TUNEBENCH_CACHE", cache)
        .env_remove("RUST_LOG");
}

fn tunebench(args: &[&str], cache: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tunebench"));
    cmd.args(args);
    env(&mut cmd, cache);
    cmd.output().expect("the tunebench binary runs")
}

/// Every secret found in `text`, with where it was.
fn leaks(place: &str, text: &str) -> Vec<String> {
    SECRETS
        .iter()
        .filter(|s| text.contains(*s))
        .map(|s| {
            format!(
                "{place} shows {s}: {}",
                text.chars().take(2000).collect::<String>()
            )
        })
        .collect()
}

fn output_leaks(what: &str, out: &Output) -> Vec<String> {
    let mut found = leaks(
        &format!("{what} stdout"),
        &String::from_utf8_lossy(&out.stdout),
    );
    found.extend(leaks(
        &format!("{what} stderr"),
        &String::from_utf8_lossy(&out.stderr),
    ));
    found
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The http-health scenario with a workload whose headers carry a token.
fn http_scenario(dir: &Path) -> PathBuf {
    let def = std::fs::read_to_string(format!("{ROOT}/workloads/http-health.toml"))
        .unwrap()
        .replace(
            "headers = { Accept = \"application/json\" }",
            "headers = { Accept = \"application/json\", Authorization = \"Bearer ${TB_TEST_APP_TOKEN}\", X-Api-Key = \"HdrTok3n-key\" }",
        );
    assert!(def.contains("HdrTok3n"), "the workload file changed");
    let def_path = dir.join("http-workload.toml");
    std::fs::write(&def_path, def).unwrap();
    let scenario = std::fs::read_to_string(format!("{ROOT}/scenarios/http-health.toml"))
        .unwrap()
        .replace("../workloads/http-health.toml", def_path.to_str().unwrap());
    let path = dir.join("http-health.toml");
    std::fs::write(&path, scenario).unwrap();
    path
}

/// The postgres-fts scenario with `url` written in the file itself.
fn pg_scenario_with_url(dir: &Path, name: &str, url: &str) -> PathBuf {
    let text = std::fs::read_to_string(format!("{ROOT}/scenarios/postgres-fts.toml"))
        .unwrap()
        .replace(
            "${TUNEBENCH_PG_URL:-postgres://tunebench:tunebench@127.0.0.1:5432/tunebench}",
            url,
        )
        .replace("\"../", &format!("\"{ROOT}/"));
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn secrets_never_reach_stdout_stderr_or_any_output_file() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let http = http_scenario(tmp.path());
    let scenarios = [
        "scenarios/postgres-fts.toml".to_string(),
        "scenarios/neo4j-traversal.toml".to_string(),
        "scenarios/s3-multipart.toml".to_string(),
        "scenarios/qdrant-knn-sweep.toml".to_string(),
        http.display().to_string(),
    ];
    let mut found = Vec::new();

    // validate: every scenario at once, all good.
    let mut args = vec!["validate"];
    args.extend(scenarios.iter().map(String::as_str));
    let out = tunebench(&args, &cache);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    found.extend(output_leaks("validate", &out));

    // validate: a password written raw (not percent-encoded) does not parse; an unterminated
    // ${ in a URL holding a password. Both exit 2 without showing it.
    for (name, url) in [
        ("raw.toml", "postgres://u:Pw/@:#é-Zr52x@127.0.0.1:1/db"),
        (
            "unterminated.toml",
            "postgres://u:Pw-Zt11x@127.0.0.1:1/${DB",
        ),
    ] {
        let path = pg_scenario_with_url(tmp.path(), name, url);
        let out = tunebench(&["validate", path.to_str().unwrap()], &cache);
        assert_eq!(out.status.code(), Some(2), "{name}");
        found.extend(output_leaks(&format!("validate {name}"), &out));
    }

    // run: each store's connection (or first requests) fail; exit 3 or, for http, whatever
    // the error budget says. Never a panic, never a secret.
    for (i, s) in scenarios.iter().enumerate() {
        let out_dir = tmp.path().join(format!("out{i}"));
        let out = tunebench(
            &[
                "run",
                s,
                "--out",
                out_dir.to_str().unwrap(),
                "--duration",
                "500ms",
                "--warmup",
                "0s",
            ],
            &cache,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{s}: {err}");
        assert_ne!(out.status.code(), Some(0), "{s} cannot succeed: {err}");
        found.extend(output_leaks(&format!("run {s}"), &out));
    }
    // capture: the server cannot be reached (exit 3); the URL's secrets are not shown, as
    // a flag or from TUNEBENCH_PG_URL (whose value --help hides too).
    let cap = tmp.path().join("captured.toml");
    for args in [
        vec![
            "capture",
            "postgres",
            "--url",
            PG_URL,
            "--out",
            cap.to_str().unwrap(),
        ],
        vec!["capture", "postgres", "--out", cap.to_str().unwrap()],
        vec!["capture", "postgres", "--help"],
    ] {
        let out = tunebench(&args, &cache);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        if args.contains(&"--help") {
            assert_eq!(out.status.code(), Some(0), "{err}");
        } else {
            assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        }
        found.extend(output_leaks(&format!("{args:?}"), &out));
    }
    assert!(
        !cap.exists(),
        "nothing is written when the server cannot be read"
    );

    // Every file tunebench wrote: the output folders and its cache (not the inputs above).
    let mut files = Vec::new();
    files_under(&cache, &mut files);
    for i in 0..scenarios.len() {
        files_under(&tmp.path().join(format!("out{i}")), &mut files);
    }
    for f in &files {
        let bytes = std::fs::read(f).unwrap_or_default();
        found.extend(leaks(
            &f.display().to_string(),
            &String::from_utf8_lossy(&bytes),
        ));
    }
    assert!(found.is_empty(), "\n{}", found.join("\n"));
}
