//! `tunebench export`: a results file in Bencher Metric Format, for tracking services. No
//! server needed: everything runs on the committed fixture results (2 profiles x 2 workloads,
//! 2 trials each). The export of a live run is also checked in tests/gate.rs.

use std::collections::BTreeSet;
use std::path::Path;

use tunebench::Results;

mod common;
use common::{ROOT, run};

const FIXTURE: &str = "tests/fixtures/results-small.json";

fn fixture() -> (String, Results) {
    let path = Path::new(ROOT).join(FIXTURE);
    let r = Results::read(&path).unwrap();
    (path.to_str().unwrap().to_string(), r)
}

#[tokio::test]
async fn bmf_has_one_benchmark_per_profile_and_workload_with_trial_extremes() {
    let (path, r) = fixture();
    let o = run(&["export", &path]).await.unwrap();
    assert_eq!(o.exit_code, 0);
    let bmf: serde_json::Value = serde_json::from_str(&o.summary).unwrap();
    let keys: BTreeSet<&str> = bmf
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    let mut want = BTreeSet::new();
    for run in &r.runs {
        for w in &run.workloads {
            let key = format!("postgres-fts/{}/{}", run.profile, w.workload);
            assert!(
                w.per_trial.len() > 1,
                "{key}: the fixture has several trials"
            );
            type Pick = fn(&tunebench::results::TrialResult) -> f64;
            let measures: [(&str, f64, Pick); 4] = [
                ("latency-p50-ms", w.latency_ms.p50, |t| t.latency_ms.p50),
                ("latency-p95-ms", w.latency_ms.p95, |t| t.latency_ms.p95),
                ("latency-p99-ms", w.latency_ms.p99, |t| t.latency_ms.p99),
                ("throughput-ops-s", w.throughput_ops_s, |t| {
                    t.throughput_ops_s
                }),
            ];
            for (measure, value, pick) in measures {
                let m = &bmf[&key][measure];
                let trials: Vec<f64> = w.per_trial.iter().map(pick).collect();
                let lower = trials.iter().copied().fold(f64::INFINITY, f64::min);
                let upper = trials.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                assert_eq!(m["value"].as_f64(), Some(value), "{key} {measure}: {m}");
                assert_eq!(
                    m["lower_value"].as_f64(),
                    Some(lower),
                    "{key} {measure}: {m}"
                );
                assert_eq!(
                    m["upper_value"].as_f64(),
                    Some(upper),
                    "{key} {measure}: {m}"
                );
            }
            want.insert(key);
        }
    }
    assert_eq!(
        keys,
        want.iter().map(|k| k.as_str()).collect::<BTreeSet<&str>>()
    );
    assert_eq!(keys.len(), 4);
}

#[tokio::test]
async fn bmf_carries_the_server_cpu_per_operation_only_where_it_was_recorded() {
    let (path, mut r) = fixture();
    let o = run(&["export", &path]).await.unwrap();
    let bmf: serde_json::Value = serde_json::from_str(&o.summary).unwrap();
    assert!(
        bmf["postgres-fts/baseline/common_queries"]
            .get("server-cpu-us-per-op")
            .is_none(),
        "the fixture records no server CPU: {bmf}"
    );
    // The first workload with its server's CPU in every trial, and its harness figure.
    let profile = r.runs[0].profile.clone();
    let w = &mut r.runs[0].workloads[0];
    let ops: Vec<u64> = w.per_trial.iter().map(|t| t.ops).collect();
    for (t, cpu) in w.per_trial.iter_mut().zip([0.5, 0.75]) {
        t.server_cpu_s = Some(cpu);
    }
    let total: u64 = ops.iter().sum();
    w.harness = Some(tunebench::results::HarnessReport {
        client_cpu_s: 1.0,
        client_cpu_per_op_us: 1e6 / total as f64,
        server_cpu_per_op_us: Some(1.25e6 / total as f64),
        client_cores_per_worker: 0.1,
        pacer_cpu_s: None,
        server_in_process: false,
        host: Default::default(),
        limited_by_harness: Vec::new(),
    });
    let key = format!("postgres-fts/{profile}/{}", w.workload);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("results.json");
    r.write(&file).unwrap();
    let o = run(&["export", file.to_str().unwrap()]).await.unwrap();
    let bmf: serde_json::Value = serde_json::from_str(&o.summary).unwrap();
    let m = &bmf[&key]["server-cpu-us-per-op"];
    let per_trial = [0.5e6 / ops[0] as f64, 0.75e6 / ops[1] as f64];
    let close = |field: &str, want: f64| {
        let got = m[field].as_f64().unwrap_or(f64::NAN);
        assert!(
            (got - want).abs() < 1e-9 * want,
            "{field}: {got} vs {want}: {m}"
        );
    };
    close("value", 1.25e6 / total as f64);
    close("lower_value", per_trial[0].min(per_trial[1]));
    close("upper_value", per_trial[0].max(per_trial[1]));
}

#[tokio::test]
async fn export_with_out_writes_the_same_document_to_the_file() {
    let (path, _) = fixture();
    let printed = run(&["export", &path]).await.unwrap().summary;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bmf.json");
    let o = run(&[
        "export",
        &path,
        "--format",
        "bmf",
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .unwrap();
    assert_eq!(o.exit_code, 0);
    assert!(o.summary.contains("bmf.json"), "{}", o.summary);
    assert_eq!(o.results_path.as_deref(), Some(out.as_path()));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), printed);
}

#[tokio::test]
async fn export_of_a_missing_results_file_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nosuch-results.json");
    let err = run(&["export", missing.to_str().unwrap()])
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("nosuch-results.json") && msg.contains("cannot read results file"),
        "{msg}"
    );
}
