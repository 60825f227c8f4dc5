//! `tunebench run` with bad flag values stops before any server is touched.

use std::path::Path;

use crate::{GOOD, stderr, tunebench};

#[test]
fn run_rejects_bad_flag_values_before_touching_the_server() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--duration", "5 parsecs"],
            &["--duration", "`5 parsecs` is not a duration", "500ms"],
        ),
        (
            &["--duration", "5", "parsecs"],
            // Unquoted: clap rejects the stray word before parsing the value.
            &["unexpected argument 'parsecs'"],
        ),
        (
            &["--warmup", "soon"],
            &["--warmup", "`soon` is not a duration"],
        ),
        (
            &["--duration", "99999999999999999999s"],
            &[
                "--duration",
                "is longer than the longest duration",
                "365 days",
            ],
        ),
        (
            &["--warmup", "1e300s"],
            &["--warmup", "`1e300s` is not a duration"],
        ),
        (&["--concurrency", "0"], &["--concurrency", "at least 1"]),
        (
            &["--concurrency", "11"],
            &[
                "--concurrency 11",
                "targets.pg.pool.max_connections = 10",
                GOOD,
            ],
        ),
        (&["--trials", "0"], &["--trials", "at least 1"]),
        (
            &["--rate", "5"],
            &["--rate", "load.mode = \"closed\"", GOOD],
        ),
        (
            &["--profile", "nosuch"],
            &[
                "--profile nosuch",
                "unknown profile `nosuch`",
                "valid: baseline, tuned",
            ],
        ),
    ];
    let tmp = tempfile::tempdir().expect("temp dir");
    let out_dir = tmp.path().join("out");
    let out_dir = out_dir.to_str().expect("utf-8 temp path");
    let mut failures = Vec::new();
    for (flags, expect) in cases {
        let mut args = vec!["run", GOOD, "--out", out_dir];
        args.extend_from_slice(flags);
        let out = tunebench(&args);
        let err = stderr(&out);
        let mut wrong = Vec::new();
        if out.status.code() != Some(2) {
            wrong.push(format!("exit code {:?}, expected 2", out.status.code()));
        }
        if err.contains("panicked") {
            wrong.push("panicked".into());
        }
        if err.contains("cannot connect") {
            wrong.push("tried to connect".into());
        }
        for e in *expect {
            if !err.contains(e) {
                wrong.push(format!("stderr lacks {e:?}"));
            }
        }
        if !wrong.is_empty() {
            failures.push(format!("{flags:?}: {}\n  stderr: {err}", wrong.join("; ")));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert!(
        !Path::new(out_dir).exists(),
        "a rejected run must not create its output folder"
    );
}

/// Control for the test above: with valid flags the same run does try TUNEBENCH_PG_URL and
/// fails with 3, so the 2s above really come from the flag checks.
#[test]
fn run_with_valid_flags_tries_the_server_and_exits_3() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out_dir = tmp.path().join("out");
    let out = tunebench(&[
        "run",
        GOOD,
        "--out",
        out_dir.to_str().expect("utf-8 temp path"),
        "--duration",
        "1s",
        "--profile",
        "baseline",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "stderr: {err}");
    assert!(err.contains("cannot connect to target pg"), "stderr: {err}");
    assert!(
        err.contains("postgres://u:***@127.0.0.1:1/db"),
        "stderr: {err}"
    );
    assert!(!err.contains("panicked"), "stderr: {err}");
}
