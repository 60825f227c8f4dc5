//! The regression gate against the real PostgreSQL: A/A runs stay green, a dropped index is
//! caught, mismatched runs are refused, and `run --baseline` gates in one invocation.

use std::path::{Path, PathBuf};

use tunebench::Results;

mod common;
use common::postgres::pg_url;
use common::{ROOT, run as tb, run_to};

/// Noise thresholds for A/A comparisons on a shared VM (see the A/A check below).
const AA_NOISE: [&str; 8] = [
    "--noise",
    "p50=0.3",
    "--noise",
    "p95=0.5",
    "--noise",
    "p99=0.6",
    "--noise",
    "throughput=0.3",
];

/// Runs in this file share the server with each other (and apply profiles): one at a time.
static SERVER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A scenario with one FTS workload, a profile with only the GIN index (no restart needed)
/// and the plain baseline; `trials` trials of `duration` each. `host_check` is the `[gate]`
/// field: false where a test asserts verdicts a CI runner's steal would make inconclusive.
fn scenario(dir: &Path, seed: u64, concurrency: u32, trials: u32, host_check: bool) -> PathBuf {
    std::fs::write(
        dir.join("docs.toml"),
        format!("kind = \"documents\"\nschema = \"tunebench_test_gate\"\nseed = {seed}\nauthors = 200\ndocuments = 4000\nvocabulary = 3000\nbody_words = [30, 80]\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("gin.toml"),
        "store = \"postgres\"\n[[indexes]]\nname = \"tunebench_gate_tsv_gin\"\ntable = \"documents\"\nup = \"CREATE INDEX tunebench_gate_tsv_gin ON {schema}.documents USING gin (tsv)\"\n",
    )
    .unwrap();
    let text = format!(
        r#"
name = "gate-test"

[targets.pg]
kind = "postgres"
url = "{url}"

[datasets.docs]
target = "pg"
file = "docs.toml"

[load]
mode = "closed"
concurrency = {concurrency}
warmup = "300ms"
duration = "700ms"
trials = {trials}

[gate]
host_check = {host_check}

[[workload]]
name = "fts_search"
target = "pg"
dataset = "docs"
definition = "{ROOT}/workloads/postgres-fts.toml"
ops = [{{ op = "websearch_medium" }}, {{ op = "websearch_rare" }}]

[[profile]]
name = "indexed"
apply = {{ pg = "gin.toml" }}

[[profile]]
name = "baseline"
apply = {{ pg = "{ROOT}/profiles/postgres/baseline.toml" }}
"#,
        url = pg_url()
    );
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn run_profile(scenario: &Path, out: &Path, profile: &str) -> PathBuf {
    let o = run_to(scenario, out, &["--profile", profile])
        .await
        .unwrap();
    assert_eq!(o.exit_code, 0, "{}", o.summary);
    out.join("results.json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_a_is_no_change_and_a_dropped_index_is_a_regression() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let s = scenario(dir.path(), 7, 2, 5, true);
    let a1 = run_profile(&s, &dir.path().join("a1"), "indexed").await;
    let a2 = run_profile(&s, &dir.path().join("a2"), "indexed").await;
    let b = run_profile(&s, &dir.path().join("b"), "baseline").await;

    // A/A: the same profile twice is not called a regression, at thresholds a shared VM
    // needs. The defaults (p50 and throughput 5 %) are for quiet machines: on the 2-core
    // development VM, which stalls intermittently between runs, `scripts/calibrate-gate` found
    // 4 false alarms in 20 A/A pairs with them, and this A/A pair once moved throughput by
    // -12 % [-18, -6] with nothing changed (docs/gate.md, point 7).
    let mut args = vec!["compare", a1.to_str().unwrap(), a2.to_str().unwrap()];
    args.extend(AA_NOISE);
    let o = tb(&args).await.unwrap();
    assert_eq!(o.exit_code, 0, "{}", o.summary);
    assert!(!o.summary.contains("**regressed**"), "{}", o.summary);

    // Dropping the index (comparing single-profile files with different profile names) is.
    // Host conditions are not applied from here on: a CI runner's steal would make the
    // verdicts inconclusive (judged in gate::host's unit tests), and this asserts them.
    let o = tb(&[
        "compare",
        a1.to_str().unwrap(),
        b.to_str().unwrap(),
        "--no-host-check",
    ])
    .await
    .unwrap();
    assert_eq!(o.exit_code, 1, "{}", o.summary);
    assert!(o.summary.contains("| fts_search | p99 |"), "{}", o.summary);
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("b/comparison.json")).unwrap(),
    )
    .unwrap();
    let row = |metric: &str| {
        json["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["metric"] == metric)
            .unwrap()
            .clone()
    };
    // The median and the throughput move far beyond their noise thresholds; the p99 moves
    // the same way, though on a loaded machine its interval may stay wide.
    for metric in ["p50", "throughput"] {
        assert_eq!(row(metric)["verdict"], "regressed", "{}", row(metric));
    }
    // Every trial recorded the backends' CPU time, and a search costs the server far more
    // without its index (a sequential scan of every document).
    let server_cpu = |f: &Path| {
        let r = Results::read(f).unwrap();
        let w = &r.runs[0].workloads[0];
        assert!(
            w.per_trial
                .iter()
                .all(|t| t.server_cpu_s.is_some_and(|s| s > 0.0)),
            "{:?}",
            w.per_trial
                .iter()
                .map(|t| t.server_cpu_s)
                .collect::<Vec<_>>()
        );
        w.harness.as_ref().unwrap().server_cpu_per_op_us.unwrap()
    };
    let (indexed, scanned) = (server_cpu(&a1), server_cpu(&b));
    assert!(
        scanned > 1.5 * indexed,
        "server CPU per search: {indexed:.1} us with the index, {scanned:.1} us without"
    );
    assert!(
        row("p99")["change"]["point"].as_f64().unwrap() > 0.10,
        "{}",
        row("p99")
    );

    // Measured again without its index, the regression is confirmed (exit 1). "Confirmed" by
    // a run that does not repeat it (the indexed profile again), nothing fails the gate; the
    // A/A thresholds above, so that run's own drift is no change.
    let b2 = run_profile(&s, &dir.path().join("b2"), "baseline").await;
    let confirm_json = dir.path().join("confirm.json");
    for (again, code, says) in [
        (&b2, 1, "Confirmed with `"),
        (&a2, 0, "in this run, not repeated when measured again"),
    ] {
        let mut args = vec!["compare", a1.to_str().unwrap(), b.to_str().unwrap()];
        args.extend(AA_NOISE);
        args.extend([
            "--no-host-check",
            "--confirm",
            again.to_str().unwrap(),
            "--json",
            confirm_json.to_str().unwrap(),
        ]);
        let o = tb(&args).await.unwrap();
        assert_eq!(o.exit_code, code, "{}", o.summary);
        assert!(o.summary.contains(says), "{}", o.summary);
    }

    // The reverse direction is an improvement, and improvements never fail the gate.
    let o = tb(&[
        "compare",
        b.to_str().unwrap(),
        a1.to_str().unwrap(),
        "--json",
        dir.path().join("rev.json").to_str().unwrap(),
        "--no-host-check",
    ])
    .await
    .unwrap();
    assert_eq!(o.exit_code, 0, "{}", o.summary);
    assert!(o.summary.contains("improved"), "{}", o.summary);

    // Bencher Metric Format export of the same file.
    let o = tb(&["export", b.to_str().unwrap()]).await.unwrap();
    let bmf: serde_json::Value = serde_json::from_str(&o.summary).unwrap();
    let r = Results::read(&b).unwrap();
    let w = &r.runs[0].workloads[0];
    assert_eq!(
        bmf["gate-test/baseline/fts_search"]["latency-p99-ms"]["value"]
            .as_f64()
            .unwrap(),
        w.latency_ms.p99
    );
    assert!(bmf["gate-test/baseline/fts_search"]["throughput-ops-s"]["lower_value"].is_number());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_baseline_gates_in_one_invocation_and_trials_interleave() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let s = scenario(dir.path(), 7, 2, 3, false);
    let base = run_profile(&s, &dir.path().join("base"), "indexed").await;

    // Both profiles, 3 trials each, interleaved: indexed, baseline, indexed, baseline, ...
    let out = dir.path().join("both");
    let o = run_to(
        &s,
        &out,
        &[
            "--baseline",
            base.to_str().unwrap(),
            "--profile",
            "baseline",
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        o.exit_code, 1,
        "dropping the index must fail the gate: {}",
        o.summary
    );
    assert!(out.join("comparison.json").exists());

    // The same change gated within one run: the last profile (no index) against the first.
    let out = dir.path().join("inter");
    let o = run_to(&s, &out, &["--gate-profiles"]).await.unwrap();
    assert_eq!(
        o.exit_code, 1,
        "the profile without the index must fail the gate: {}",
        o.summary
    );
    assert!(o.summary.contains("(profile `baseline`)"), "{}", o.summary);
    let c: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("comparison-profiles.json")).unwrap(),
    )
    .unwrap();
    assert!(c["regressions"].as_u64().unwrap() > 0, "{c}");
    assert!(
        c["host_bound"]
            .as_str()
            .unwrap()
            .contains("trials alternated"),
        "{c}"
    );
    let r = Results::read(&out.join("results.json")).unwrap();
    for run in &r.runs {
        let trials: Vec<u32> = run.workloads[0].per_trial.iter().map(|t| t.trial).collect();
        assert_eq!(trials, [1, 2, 3], "{}", run.profile);
    }
    // The index profile was applied and reverted once per trial.
    let indexed = r.runs.iter().find(|p| p.profile == "indexed").unwrap();
    assert_eq!(indexed.revert.len(), 3);
    assert!(
        indexed
            .revert
            .iter()
            .all(|rv| rv.indexes_dropped == ["tunebench_gate_tsv_gin"])
    );
    // The report shows the interval and the verdict.
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("| pg | fts_search | p99 |"), "{report}");
    assert!(report.contains("regressed"), "{report}");

    // Adding the index is no regression; one profile is nothing to gate (refused, exit 2,
    // before anything is measured).
    let out = dir.path().join("added");
    let o = run_to(
        &s,
        &out,
        &[
            "--gate-profiles",
            "--profile",
            "baseline",
            "--profile",
            "indexed",
        ],
    )
    .await
    .unwrap();
    assert_eq!(o.exit_code, 0, "{}", o.summary);
    assert!(out.join("comparison-profiles.json").exists());
    let err = run_to(
        &s,
        &dir.path().join("one"),
        &["--gate-profiles", "--profile", "indexed"],
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("runs 1 profile(s)"), "{err}");
    assert!(!dir.path().join("one").join("results.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mismatched_runs_are_refused_unless_forced() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let a = run_profile(
        &scenario(dir.path(), 7, 2, 2, true),
        &dir.path().join("a"),
        "indexed",
    )
    .await;
    let other = tempfile::tempdir().unwrap();
    let b = run_profile(
        &scenario(other.path(), 7, 3, 2, true),
        &dir.path().join("b"),
        "indexed",
    )
    .await;

    let err = tb(&["compare", a.to_str().unwrap(), b.to_str().unwrap()])
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(
        err.to_string().contains("load.concurrency: 2 vs 3"),
        "{err}"
    );
    assert!(err.to_string().contains("--force"), "{err}");
    let o = tb(&[
        "compare",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--force",
    ])
    .await
    .unwrap();
    assert!(
        o.summary.contains("Compared with --force despite"),
        "{}",
        o.summary
    );

    // A results file from another schema version is refused with exit 2.
    let text = std::fs::read_to_string(&a).unwrap().replacen(
        "\"schema_version\": 1",
        "\"schema_version\": 99",
        1,
    );
    let v99 = dir.path().join("v99.json");
    std::fs::write(&v99, text).unwrap();
    let err = tb(&["compare", v99.to_str().unwrap(), a.to_str().unwrap()])
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("schema_version"), "{err}");

    // A bad --noise flag is a usage error.
    let err = tb(&[
        "compare",
        a.to_str().unwrap(),
        a.to_str().unwrap(),
        "--noise",
        "p99=3",
    ])
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), 2);
}
