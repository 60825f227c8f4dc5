//! The results file contract: `schemas/results.schema.json` accepts what tunebench writes,
//! rejects what it must not, and agrees with `Results::read`. No server needed: everything runs
//! against the trimmed real run in `tests/fixtures/results-small.json`, and an older results
//! file (`older`) still loads, renders and compares.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tunebench::metrics::LatencySummary;
use tunebench::results::{
    CriterionResult, ErrorCount, HarnessReport, IndexChange, PgEvidence, QueryRecall, Results,
    SettingChange, TargetChanges,
};

#[path = "../common/mod.rs"]
mod common;
mod older;
mod qdrant_server;

const SCHEMA: &str = "schemas/results.schema.json";
const FIXTURE: &str = "tests/fixtures/results-small.json";

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn load_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// The compiled results schema (draft 2020-12, `format` asserted, so timestamps are checked).
/// For reuse by any test that checks a results file.
pub fn schema_validator() -> jsonschema::Validator {
    let schema = load_json(&repo_path(SCHEMA));
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{SCHEMA} does not compile: {e}"))
}

/// Every validation error as `instance path: message`; empty when the instance is valid.
fn violations(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

fn assert_valid(validator: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors = violations(validator, instance);
    assert!(
        errors.is_empty(),
        "{what} does not match {SCHEMA} ({} error(s)):\n  {}",
        errors.len(),
        errors.join("\n  ")
    );
}

fn fixture() -> Value {
    load_json(&repo_path(FIXTURE))
}

fn read_fixture() -> Results {
    Results::read(&repo_path(FIXTURE))
        .unwrap_or_else(|e| panic!("Results::read({FIXTURE}) failed: {e}"))
}

/// `Results::read` on `value` written to a temporary file.
fn read_value(value: &Value) -> tunebench::Result<Results> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).expect("write temp file");
    Results::read(&path)
}

/// URLs of the form `scheme://user:password@host` whose password is not `***`.
fn unredacted_urls(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("://") {
        let rest = &text[at + 3..];
        let end = rest
            .find(|c: char| c == '/' || c.is_whitespace() || "\"'`)|>".contains(c))
            .unwrap_or(rest.len());
        let Some((userinfo, _host)) = rest[..end].rsplit_once('@') else {
            continue;
        };
        if userinfo.split_once(':').is_some_and(|(_, pw)| pw != "***") {
            found.push(&text[at..at + 3 + end]);
        }
    }
    found
}

fn assert_no_password(text: &str, what: &str) {
    assert!(
        !text.contains("tunebench:tunebench@"),
        "{what} contains the default credentials"
    );
    let leaks = unredacted_urls(text);
    assert!(
        leaks.is_empty(),
        "{what} has unredacted passwords: {leaks:?}"
    );
}

#[test]
fn schema_is_self_contained_and_documented() {
    let schema = load_json(&repo_path(SCHEMA));
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert!(schema["$id"].is_string(), "schema needs an $id");
    assert!(
        schema["description"].is_string(),
        "schema needs a description"
    );
    // Self-contained: every $ref points into this document, so a test elsewhere can load the
    // file on its own and nothing is fetched.
    let text = serde_json::to_string(&schema).unwrap();
    for (at, _) in text.match_indices("\"$ref\":\"") {
        let target = &text[at + 8..];
        assert!(
            target.starts_with("#/$defs/"),
            "external $ref: {target:.60}"
        );
    }
    let defs = schema["$defs"].as_object().expect("$defs");
    for (at, _) in text.match_indices("#/$defs/") {
        let name: String = text[at + 8..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        assert!(defs.contains_key(&name), "$ref to missing $defs/{name}");
    }
    for field in ["schema_version", "tool", "environment", "scenario", "runs"] {
        assert!(
            schema["properties"][field]["description"].is_string(),
            "top-level `{field}` needs a description"
        );
    }
    schema_validator();
}

#[test]
fn fixture_matches_schema() {
    assert_valid(&schema_validator(), &fixture(), FIXTURE);
}

#[test]
fn fixture_covers_the_contract() {
    // The fixture must keep exercising what DESIGN.md requires, or the other tests prove little.
    let v = fixture();
    assert_eq!(v["schema_version"], 1);
    assert!(v["tool"]["version"].is_string());
    assert!(v["environment"]["host"].is_object());
    let targets = v["environment"]["targets"].as_object().unwrap();
    assert!(!targets.is_empty());
    assert!(targets.values().all(|t| t["server_version"].is_string()));
    let runs = v["runs"].as_array().unwrap();
    assert!(runs.len() >= 2, "before and after profiles");
    for run in runs {
        let workloads = run["workloads"].as_array().unwrap();
        assert!(!workloads.is_empty());
        for w in workloads {
            assert!(!w["operations"].as_array().unwrap().is_empty());
            assert!(!w["per_trial"].as_array().unwrap().is_empty());
        }
        let plans = run["server"]["pg"]["plans"].as_array().unwrap();
        assert!(!plans.is_empty());
        assert!(plans.iter().all(|p| p["plan"].is_array()));
    }
}

/// A mutation of the fixture that the schema must reject, and where the error must point.
struct Mutation {
    name: &'static str,
    at: &'static str,
    apply: fn(&mut Value),
}

fn workload(v: &mut Value) -> &mut Value {
    &mut v["runs"][0]["workloads"][0]
}

const MUTATIONS: &[Mutation] = &[
    Mutation {
        name: "missing schema_version",
        at: "",
        apply: |v| {
            v.as_object_mut().unwrap().remove("schema_version");
        },
    },
    Mutation {
        name: "schema_version 2",
        at: "/schema_version",
        apply: |v| v["schema_version"] = json!(2),
    },
    Mutation {
        name: "workload result without latency_ms.p99",
        at: "/runs/0/workloads/0/latency_ms",
        apply: |v| {
            workload(v)["latency_ms"]
                .as_object_mut()
                .unwrap()
                .remove("p99");
        },
    },
    Mutation {
        name: "unknown field in a workload result",
        at: "/runs/0/workloads/0",
        apply: |v| workload(v)["p99_ms"] = json!(1.5),
    },
    Mutation {
        name: "negative ops",
        at: "/runs/0/workloads/0/ops",
        apply: |v| workload(v)["ops"] = json!(-1),
    },
    Mutation {
        name: "workload result without histogram",
        at: "/runs/0/workloads/0",
        apply: |v| {
            workload(v).as_object_mut().unwrap().remove("histogram");
        },
    },
    Mutation {
        name: "empty histogram",
        at: "/runs/0/workloads/0/histogram",
        apply: |v| workload(v)["histogram"] = json!(""),
    },
    Mutation {
        name: "histogram not base64",
        at: "/runs/0/workloads/0/operations/0/histogram",
        apply: |v| workload(v)["operations"][0]["histogram"] = json!("not base64!"),
    },
    Mutation {
        name: "interval window histogram not base64",
        at: "/runs/0/workloads/0/per_trial/0/intervals/windows/0/histogram",
        apply: |v| {
            workload(v)["per_trial"][0]["intervals"] = json!({
                "interval_s": 1.0,
                "windows": [{"start_s": 0.0, "duration_s": 1.0, "ops": 1, "errors": 0,
                             "histogram": "not base64!"}]
            })
        },
    },
    Mutation {
        name: "interval of 0 s",
        at: "/runs/0/workloads/0/per_trial/0/intervals/interval_s",
        apply: |v| {
            workload(v)["per_trial"][0]["intervals"] = json!({"interval_s": 0, "windows": []})
        },
    },
    Mutation {
        name: "throughput as a string",
        at: "/runs/0/workloads/0/throughput_ops_s",
        apply: |v| workload(v)["throughput_ops_s"] = json!("352 ops/s"),
    },
    Mutation {
        name: "target without server_version",
        at: "/environment/targets/pg",
        apply: |v| {
            v["environment"]["targets"]["pg"]
                .as_object_mut()
                .unwrap()
                .remove("server_version");
        },
    },
    Mutation {
        name: "unredacted password in a target URL",
        at: "/environment/targets/pg/url",
        apply: |v| {
            v["environment"]["targets"]["pg"]["url"] =
                json!("postgres://tunebench:tunebench@127.0.0.1:5432/tunebench");
        },
    },
    Mutation {
        name: "started_at not a date-time",
        at: "/started_at",
        apply: |v| v["started_at"] = json!("yesterday"),
    },
    Mutation {
        name: "no profile runs",
        at: "/runs",
        apply: |v| v["runs"] = json!([]),
    },
];

#[test]
fn mutations_are_rejected_where_they_are() {
    let validator = schema_validator();
    let mut failures = Vec::new();
    for m in MUTATIONS {
        let mut v = fixture();
        (m.apply)(&mut v);
        let errors: Vec<_> = validator.iter_errors(&v).collect();
        if errors.is_empty() {
            failures.push(format!("{}: accepted", m.name));
        } else if !errors.iter().any(|e| e.instance_path.as_str() == m.at) {
            let got: Vec<String> = errors
                .iter()
                .map(|e| format!("{}: {e}", e.instance_path))
                .collect();
            failures.push(format!(
                "{}: rejected, but not at `{}`: {}",
                m.name,
                m.at,
                got.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn reader_rejects_what_the_schema_rejects_on_shape() {
    // The mutations that break the struct shape (not only content rules the schema adds on top)
    // must be refused by `Results::read` too, so the schema never promises more than the tool.
    let shape_breaking = [
        "missing schema_version",
        "schema_version 2",
        "workload result without latency_ms.p99",
        "unknown field in a workload result",
        "negative ops",
        "workload result without histogram",
        "throughput as a string",
        "target without server_version",
        "started_at not a date-time",
    ];
    for m in MUTATIONS
        .iter()
        .filter(|m| shape_breaking.contains(&m.name))
    {
        let mut v = fixture();
        (m.apply)(&mut v);
        assert!(
            read_value(&v).is_err(),
            "Results::read accepted: {}",
            m.name
        );
    }
}

#[test]
fn round_trip_through_the_reader_stays_valid_and_equal() {
    let results = read_fixture();
    let back = serde_json::to_value(&results).expect("results serialize");
    assert_valid(&schema_validator(), &back, "re-serialized fixture");
    assert!(
        back == fixture(),
        "reading and writing the fixture changed it"
    );
}

#[test]
fn optional_and_rare_shapes_from_the_structs_match_the_schema() {
    // The fixture is a closed-loop run without errors or recorded changes; build the other
    // shapes from the Rust structs themselves so the schema is checked against serde's output.
    let mut results = read_fixture();
    let lag = LatencySummary {
        p50: 0.1,
        p95: 0.2,
        p99: 0.3,
        p999: 0.4,
        max: 0.5,
        mean: 0.15,
        min: 0.01,
    };
    let run = &mut results.runs[1];
    run.changes.push(TargetChanges {
        target: "pg".into(),
        profile_file: "profiles/postgres/tuned.toml".into(),
        description: "tuned".into(),
        settings: vec![SettingChange {
            name: "shared_buffers".into(),
            requested: "25%".into(),
            before: "128MB".into(),
            after: "5GB".into(),
            context: "postmaster".into(),
        }],
        indexes: vec![
            IndexChange {
                name: "tunebench_documents_tsv_gin".into(),
                table: "documents".into(),
                definition: "CREATE INDEX tunebench_documents_tsv_gin ON s.documents USING gin (tsv)"
                    .into(),
                created: true,
                build_seconds: Some(0.42),
                size_bytes: Some(1_048_576),
            },
            IndexChange {
                name: "documents_pkey".into(),
                table: "documents".into(),
                definition: "existing".into(),
                created: false,
                build_seconds: None,
                size_bytes: None,
            },
        ],
        restarted: true,
    });
    let w = &mut run.workloads[0];
    w.mode = "open".into();
    w.rate_ops_s = Some(500.0);
    w.schedule_lag_ms = Some(lag);
    w.timer_lag_ms = Some(lag);
    w.recall_at_k = Some(0.9451);
    w.recall_at_k_tolerant = Some(0.9512);
    w.recall_by_query = vec![QueryRecall {
        filter: 0,
        query: 7,
        answers: 3,
        recall: 0.9,
        recall_tolerant: 1.0,
    }];
    let host = tunebench::host::HostLoad {
        load_1m: 2.5,
        busy: 0.93,
        steal: 0.01,
        other_busy: Some(0.04),
    };
    w.harness = Some(HarnessReport {
        client_cpu_s: 3.2,
        client_cpu_per_op_us: 21.5,
        server_cpu_per_op_us: Some(35.0),
        client_cores_per_worker: 0.8,
        pacer_cpu_s: Some(0.4),
        server_in_process: false,
        host,
        limited_by_harness: vec!["the load generator used 0.80 cores per worker".into()],
    });
    w.per_trial[0].client_cpu_s = Some(1.6);
    w.per_trial[0].host = Some(host);
    w.per_trial[0].server_cpu_s = Some(2.8);
    let whole = w.per_trial[0].histogram.clone();
    w.per_trial[0].intervals = Some(tunebench::results::Intervals {
        interval_s: 1.0,
        windows: vec![
            tunebench::results::IntervalWindow {
                start_s: 0.0,
                duration_s: 1.0,
                ops: 10,
                errors: 1,
                bytes: Some(4096),
                histogram: whole,
            },
            // A stall: nothing completed.
            tunebench::results::IntervalWindow {
                start_s: 1.0,
                duration_s: 0.25,
                ops: 0,
                errors: 0,
                bytes: None,
                histogram: String::new(),
            },
        ],
    });
    w.errors = 3;
    w.errors_by_kind.insert(
        "timeout".into(),
        ErrorCount {
            count: 3,
            example: "operation timed out after 30s".into(),
        },
    );
    run.criteria.push(CriterionResult {
        criterion: "fts_search.prefix.p99 < 10ms".into(),
        workload: "fts_search".into(),
        op: Some("prefix".into()),
        metric: "p99".into(),
        unit: "ms".into(),
        threshold: 10.0,
        value: None,
        passed: false,
    });
    run.server.insert(
        "other".into(),
        tunebench::results::Evidence::Postgres(PgEvidence {
            statements_note: Some("pg_stat_statements is not installed".into()),
            ..PgEvidence::default()
        }),
    );
    results.datasets[0].load_seconds = None;
    results.datasets[0].load_rows_per_s = None;
    results.tool.git_commit = Some("50969b7eef78-dirty".into());
    results.shard = Some(tunebench::results::ShardInfo {
        index: 1,
        count: 3,
        start_at: results.started_at,
        phase_gap_s: 2.0,
        late_start_max_ms: 12.5,
    });
    results.merged = Some(tunebench::results::MergedFrom {
        shards: 3,
        start_spread_ms: 0.0,
        notes: vec!["server evidence is shard 0's".into()],
    });

    let value = serde_json::to_value(&results).expect("results serialize");
    assert_valid(
        &schema_validator(),
        &value,
        "fixture with optional shapes filled in",
    );
    assert!(
        read_value(&value).is_ok(),
        "Results::read refused its own output"
    );
}

#[test]
fn report_renders_the_required_sections_without_credentials() {
    let results = read_fixture();
    let md = tunebench::report::render(&results, None).expect("default template renders");
    for heading in [
        "## 1. Databases optimized",
        "## 2. Performance improvements",
        "## Acceptance criteria",
        "## Environment",
    ] {
        assert!(
            md.lines().any(|l| l.trim_end() == heading),
            "report lacks heading `{heading}`:\n{md}"
        );
    }
    assert_no_password(&md, "rendered report");
    assert!(
        md.contains("://tunebench:***@"),
        "report shows the redacted target URL"
    );
    let json_text = std::fs::read_to_string(repo_path(FIXTURE)).unwrap();
    assert_no_password(&json_text, FIXTURE);
}

#[test]
fn password_check_catches_leaks() {
    assert_eq!(
        unredacted_urls("at postgres://bench:s3cret@db:5432/x."),
        ["://bench:s3cret@db:5432"]
    );
    assert!(
        unredacted_urls("postgres://bench:***@db/x, https://example.org/a@b, s3://bucket")
            .is_empty()
    );
}
