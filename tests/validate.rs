//! Bad input through the real binary: `tunebench validate` on broken scenarios (and the
//! workload, profile and dataset files they reference), `tunebench run` with bad flag values,
//! and `tunebench report` on broken results files.
//!
//! The contract (README, `--help`): bad input exits 2, never panics, and the message names the
//! file, `line:column` where known, the field, and what would be valid.
//!
//! The fixtures live in `tests/fixtures/bad/`. Each `snake_case.toml` is a small self-contained
//! scenario with one problem (except `three_problems.toml`); it references the repo's real
//! workload, profile and dataset files through `../../../`, or a bad copy beside it
//! (`kebab-case.toml`) when the referenced file itself has to be bad.
//!
//! Locations below are 1-based `line:column` of the offending value, or only `line:` (the
//! enclosing `[load]` table) when the problem is a missing field.

use std::path::Path;
use std::process::{Command, Output};

const GOOD: &str = "scenarios/postgres-fts.toml";
const FIXTURES: &str = "tests/fixtures/bad";
/// Nothing listens on port 1: a connection attempt fails (exit 3), so a run that exits 2
/// proves it stopped before touching any server.
const UNREACHABLE_PG: &str = "postgres://u:p@127.0.0.1:1/db";

/// Runs the real binary from the crate root, with a target URL that cannot be reached.
fn tunebench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tunebench"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .env("TUNEBENCH_PG_URL", UNREACHABLE_PG)
        .env_remove("UNSET_VARIABLE_XYZ")
        .env_remove("RUST_LOG")
        .output()
        .expect("the tunebench binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

/// One bad scenario: where its problem is, and what the message must say about it.
struct Bad {
    fixture: &'static str,
    /// `FILE:LINE:COL` (or `FILE:LINE:`) of the problem. FILE is the file that holds the
    /// problem: the scenario, or the bad workload/profile/dataset copy it references.
    at: &'static str,
    /// The field, the offending value and the hint at what would be valid.
    expect: &'static [&'static str],
}

impl Bad {
    /// The file the message must name (the part of `at` before the position).
    fn file(&self) -> &'static str {
        self.at.split(':').next().unwrap_or(self.at)
    }
}

/// TOML syntax errors and fields serde rejects while parsing.
const PARSE_ERRORS: &[Bad] = &[
    Bad {
        fixture: "syntax_error.toml",
        at: "syntax_error.toml:16:16",
        expect: &["invalid basic string", "expected `\"`"],
    },
    Bad {
        fixture: "unknown_top_level.toml",
        at: "unknown_top_level.toml:3:1",
        expect: &[
            "unknown field `colour`",
            "expected one of",
            "`targets`",
            "`criteria`",
        ],
    },
    Bad {
        fixture: "unknown_load_field.toml",
        at: "unknown_load_field.toml:16:1",
        expect: &[
            "unknown field `think_time`",
            "`concurrency`",
            "`max_in_flight`",
        ],
    },
];

/// A value of the wrong type: located, and the field is named.
const MISTYPED: &[Bad] = &[Bad {
    fixture: "wrong_type_concurrency.toml",
    at: "wrong_type_concurrency.toml:15:15",
    // "load.concurrency", not just "concurrency": the file name contains that word.
    expect: &["load.concurrency", "\"four\"", "expected u32"],
}];

/// Problems found after parsing, by checking the values and following the references.
const SEMANTIC_ERRORS: &[Bad] = &[
    // [load]
    Bad {
        fixture: "closed_without_concurrency.toml",
        at: "closed_without_concurrency.toml:13:",
        expect: &[
            "field `load.concurrency`",
            "closed-loop load needs concurrency >= 1",
        ],
    },
    Bad {
        fixture: "open_without_rate.toml",
        at: "open_without_rate.toml:13:",
        expect: &["field `load.rate`", "open-loop load needs rate > 0"],
    },
    Bad {
        fixture: "open_without_max_in_flight.toml",
        at: "open_without_max_in_flight.toml:13:",
        expect: &[
            "field `load.max_in_flight`",
            "open-loop load needs max_in_flight >= 1",
        ],
    },
    Bad {
        fixture: "duration_parsecs.toml",
        at: "duration_parsecs.toml:16:12",
        expect: &[
            "field `load.duration`",
            "`20 parsecs` is not a duration",
            "\"500ms\", \"20s\" or \"2m\"",
        ],
    },
    Bad {
        fixture: "trials_zero.toml",
        at: "trials_zero.toml:17:10",
        expect: &["field `load.trials`", "must be at least 1"],
    },
    Bad {
        fixture: "error_budget_two.toml",
        at: "error_budget_two.toml:17:16",
        expect: &["field `load.error_budget`", "between 0.0 and 1.0"],
    },
    Bad {
        fixture: "concurrency_over_pool.toml",
        at: "concurrency_over_pool.toml:15:15",
        expect: &[
            "field `load.concurrency`",
            "needs 50 connections",
            "pool.max_connections is 10",
        ],
    },
    // [[workload]] and the definitions they reference
    Bad {
        fixture: "workload_unknown_target.toml",
        at: "workload_unknown_target.toml:20:10",
        expect: &[
            "field `workload[0].target`",
            "unknown target `mysql`",
            "valid: pg",
        ],
    },
    Bad {
        fixture: "workload_unknown_dataset.toml",
        at: "workload_unknown_dataset.toml:21:11",
        expect: &[
            "field `workload[0].dataset`",
            "unknown dataset `nosuch_docs`",
            "valid: docs",
        ],
    },
    Bad {
        fixture: "workload_unknown_op.toml",
        at: "workload_unknown_op.toml:23:15",
        expect: &[
            "field `workload[0].ops[0].op`",
            "unknown op `nosuch_op`",
            "valid: author_window, comments_by_document, doc_by_pk, docs_by_author, phrase, \
             prefix, title_trigram, websearch_common, websearch_medium, websearch_rare",
            "workloads/postgres-fts.toml",
        ],
    },
    Bad {
        fixture: "workload_param_arity.toml",
        at: "workload-param-arity.toml:8:10",
        expect: &[
            "field `ops.window.params`",
            "uses 2 bind parameter(s) ($1..$2)",
            "params fill 1",
        ],
    },
    Bad {
        fixture: "workload_upsert_and_query.toml",
        at: "workload-upsert-and-query.toml:4:1",
        expect: &[
            "field `ops.mixed`",
            "set exactly one of `query` (a search) and `upsert`",
        ],
    },
    Bad {
        fixture: "workload_fresh_points_without_batch.toml",
        at: "workload-fresh-points-without-batch.toml:4:1",
        expect: &[
            "field `ops.upsert.batch`",
            "is required with fresh_points",
            "1..=10000",
        ],
    },
    // [[profile]] files
    Bad {
        fixture: "profile_bad_index_name.toml",
        at: "profile-bad-index-name.toml:5:8",
        expect: &[
            "field `indexes[0].name`",
            "`documents_tsv_gin`",
            "must start with tunebench_",
        ],
    },
    Bad {
        fixture: "profile_setting_150_percent.toml",
        at: "profile-setting-150-percent.toml:6:18",
        expect: &[
            "field `settings.shared_buffers`",
            "`150%`",
            "between 0% and 100%",
        ],
    },
    // [datasets] spec files
    Bad {
        fixture: "dataset_zero_documents.toml",
        at: "dataset-zero-documents.toml:6:13",
        expect: &["field `documents`", "must be at least 1 row"],
    },
    Bad {
        fixture: "dataset_bad_schema.toml",
        at: "dataset-bad-schema.toml:3:10",
        expect: &["field `schema`", "`public`", "must start with tunebench_"],
    },
    // criteria
    // [[checks]]
    Bad {
        fixture: "check_unknown.toml",
        at: "check_unknown.toml:30:9",
        expect: &[
            "field `checks[0].check`",
            "unknown check `fk_index`",
            "valid: postgres: pg_stat_statements, fk_indexes",
        ],
    },
    Bad {
        fixture: "check_bad_max.toml",
        at: "check_bad_max.toml:31:7",
        expect: &["field `checks[0].max`", "`fast` is not a duration"],
    },
    Bad {
        fixture: "criteria_bad_metric.toml",
        at: "criteria_bad_metric.toml:4:3",
        expect: &[
            "field `criteria[0]`",
            "unknown metric `p42`",
            "metrics: p50 p95 p99 p999 max mean throughput error_rate",
        ],
    },
    Bad {
        fixture: "criteria_wrong_unit.toml",
        at: "criteria_wrong_unit.toml:4:3",
        expect: &[
            "field `criteria[0]`",
            "unit `ops/s` does not fit metric p99",
            "use us, ms or s",
        ],
    },
    Bad {
        fixture: "criteria_unknown_workload.toml",
        at: "criteria_unknown_workload.toml:5:3",
        expect: &[
            "field `criteria[1]`",
            "`nosuch_workload.p99 < 5ms` names no workload",
            "workloads: fts_search",
        ],
    },
    // environment
    Bad {
        fixture: "url_unset_variable.toml",
        at: "url_unset_variable.toml:6:7",
        expect: &[
            "field `targets.pg.url`",
            "UNSET_VARIABLE_XYZ is not set",
            "${UNSET_VARIABLE_XYZ:-default}",
        ],
    },
];

/// Values no clock, float or server could take (issue 13): each refused at validate.
const OUT_OF_RANGE: &[Bad] = &[
    Bad {
        fixture: "duration_too_large.toml",
        at: "duration_too_large.toml:16:12",
        expect: &[
            "field `load.duration`",
            "`99999999999999999999s` is longer than",
            "365 days",
        ],
    },
    Bad {
        fixture: "warmup_too_large.toml",
        at: "warmup_too_large.toml:17:10",
        expect: &["field `load.warmup`", "`9000h` is longer than", "\"8760h\""],
    },
    Bad {
        fixture: "pool_timeout_too_large.toml",
        at: "pool_timeout_too_large.toml:7:47",
        expect: &["field `targets.pg.pool.idle_timeout`", "365 days"],
    },
    Bad {
        fixture: "op_timeout_zero.toml",
        at: "op_timeout_zero.toml:17:14",
        expect: &[
            "field `load.op_timeout`",
            "must be longer than 0s",
            "\"30s\"",
        ],
    },
    Bad {
        fixture: "rate_too_small.toml",
        at: "rate_too_small.toml:15:8",
        expect: &[
            "field `load.rate`",
            "is 1e-300",
            "between 0.001 and 10000000",
        ],
    },
    Bad {
        fixture: "iterations_zero.toml",
        at: "iterations_zero.toml:16:14",
        expect: &["field `load.iterations`", "must be at least 1"],
    },
    Bad {
        fixture: "duration_missing.toml",
        at: "duration_missing.toml:13:",
        expect: &["field `load.duration`", "is missing", "or iterations"],
    },
    Bad {
        fixture: "criteria_infinite_threshold.toml",
        at: "criteria_infinite_threshold.toml:3:13",
        expect: &[
            "field `criteria[0]`",
            "does not start with a finite number",
            "WORKLOAD[.OP].METRIC",
        ],
    },
    Bad {
        fixture: "gate_noise_infinite.toml",
        at: "gate_noise_infinite.toml:31:17",
        expect: &["field `gate.noise.p99`", "between 0 and 1"],
    },
    Bad {
        fixture: "gate_confidence_nan.toml",
        at: "gate_confidence_nan.toml:31:14",
        expect: &["field `gate.confidence`", "between 0.5 and 1"],
    },
    Bad {
        fixture: "sweep_duplicate_values.toml",
        at: "sweep_duplicate_values.toml:25:57",
        expect: &[
            "field `workload[0].sweep.values[2]`",
            "`4MB` repeats an earlier value",
            "list each value once",
        ],
    },
    Bad {
        fixture: "url_password_slash.toml",
        at: "url_password_slash.toml:6:7",
        expect: &[
            "field `targets.pg.url`",
            "`postgres://u:***@127.0.0.1:1/db` does not parse",
            "/ as %2F",
        ],
    },
    Bad {
        fixture: "url_bad_port.toml",
        at: "url_bad_port.toml:6:7",
        expect: &[
            "field `targets.pg.url`",
            "invalid port number",
            "postgres://USER:PASSWORD@HOST:PORT/DB",
        ],
    },
    Bad {
        fixture: "url_unterminated_variable.toml",
        at: "url_unterminated_variable.toml:6:7",
        expect: &[
            "field `targets.pg.url`",
            "unterminated `${` at character 39",
            "${NAME:-default}",
        ],
    },
    Bad {
        fixture: "dataset_schema_too_long.toml",
        at: "dataset-schema-too-long.toml:3:10",
        expect: &["field `schema`", "at most 63 bytes", "it is 70 here"],
    },
    Bad {
        fixture: "profile_setting_nan.toml",
        at: "profile-setting-nan.toml:5:20",
        expect: &[
            "field `settings.random_page_cost`",
            "`NaN`",
            "a finite number or a string",
        ],
    },
    Bad {
        fixture: "dataset_npy_rows_overflow.toml",
        at: "dataset-npy-rows-overflow.toml:6:16",
        expect: &[
            "field `vectors_file`",
            "shape (4611686018427387904, 4) needs more than 2^64 bytes",
            "holds 32",
        ],
    },
    Bad {
        fixture: "dataset_npy_zero_rows.toml",
        at: "dataset-npy-zero-rows.toml:6:16",
        expect: &[
            "field `vectors_file`",
            "shape (0, 4): no vectors",
            "at least one row",
        ],
    },
    Bad {
        fixture: "dataset_npy_nan.toml",
        at: "dataset-npy-nan.toml:6:16",
        expect: &[
            "field `vectors_file`",
            "row 1, value 1 is NaN or infinite",
            "finite float32",
        ],
    },
    Bad {
        fixture: "dataset_fvecs_empty.toml",
        at: "dataset-fvecs-empty.toml:6:16",
        expect: &["field `vectors_file`", "no vectors"],
    },
    Bad {
        fixture: "dataset_fvecs_infinite.toml",
        at: "dataset-fvecs-infinite.toml:6:16",
        expect: &["field `vectors_file`", "row 2, value 1 is NaN or infinite"],
    },
];

/// Profile SQL that reaches outside tunebench's namespace (no `allow_foreign_indexes` yet).
const FOREIGN_SQL: &[Bad] = &[
    Bad {
        fixture: "profile_foreign_index.toml",
        at: "profile-foreign-index.toml:7:6",
        expect: &[
            "field `indexes[0].up`",
            "ON public.users, outside the dataset's schema",
            "ON {schema}.users",
        ],
    },
    Bad {
        fixture: "profile_two_statements.toml",
        at: "profile-two-statements.toml:7:6",
        expect: &[
            "field `indexes[0].up`",
            "more than one statement",
            "a single CREATE INDEX",
        ],
    },
];

/// A referenced file that does not exist: the message must say which scenario field (and
/// line) points at it, not only the missing path (see `missing_referenced_file_names_the_scenario_field`).
const MISSING_FILES: &[Bad] = &[
    Bad {
        fixture: "workload_missing_definition.toml",
        at: "workload_missing_definition.toml:22:14",
        expect: &[
            "workload[0].definition",
            "workloads/does-not-exist.toml",
            "cannot read file",
        ],
    },
    Bad {
        fixture: "profile_missing_file.toml",
        at: "profile_missing_file.toml:27:16",
        expect: &[
            "profile[0].apply.pg",
            "profiles/postgres/does-not-exist.toml",
            "cannot read file",
        ],
    },
    Bad {
        fixture: "dataset_missing_file.toml",
        at: "dataset_missing_file.toml:11:8",
        expect: &[
            "datasets.docs.file",
            "datasets/does-not-exist.toml",
            "cannot read file",
        ],
    },
];

/// Three distinct problems in one file: all must be reported in one go.
const THREE_PROBLEMS: Bad = Bad {
    fixture: "three_problems.toml",
    at: "three_problems.toml",
    expect: &[
        "field `load.trials`: must be at least 1",
        "field `workload[0].ops[0].op`: unknown op `nosuch_op`",
        "field `criteria[0]`: unknown metric `p42`",
    ],
};
const THREE_PROBLEMS_AT: &[&str] = &[
    "three_problems.toml:20:10",
    "three_problems.toml:27:15",
    "three_problems.toml:4:3",
];

fn all_bad() -> impl Iterator<Item = &'static Bad> {
    PARSE_ERRORS
        .iter()
        .chain(MISTYPED)
        .chain(SEMANTIC_ERRORS)
        .chain(MISSING_FILES)
        .chain(OUT_OF_RANGE)
        .chain(FOREIGN_SQL)
        .chain(std::iter::once(&THREE_PROBLEMS))
}

/// Validates `bad` and returns its stderr and every way the output breaks the contract
/// (empty: all good). `located` also demands the exact `at` position.
fn check(bad: &Bad, located: bool) -> (String, Vec<String>) {
    let out = tunebench(&["validate", &fixture(bad.fixture)]);
    let err = stderr(&out);
    let mut wrong = Vec::new();
    if out.status.code() != Some(2) {
        wrong.push(format!("exit code {:?}, expected 2", out.status.code()));
    }
    if err.contains("panicked") {
        wrong.push("panicked".to_string());
    }
    let mut wanted = vec![bad.file()];
    if located {
        wanted.push(bad.at);
    }
    wanted.extend(bad.expect);
    for w in wanted {
        if !err.contains(w) {
            wrong.push(format!("stderr lacks {w:?}"));
        }
    }
    (err, wrong)
}

/// Checks every case and fails once, listing every fixture that broke the contract.
fn check_all<'a>(cases: impl IntoIterator<Item = &'a Bad>, located: bool) {
    let mut failures = Vec::new();
    for bad in cases {
        let (err, wrong) = check(bad, located);
        if !wrong.is_empty() {
            failures.push(format!(
                "{}: {}\n  stderr: {}",
                bad.fixture,
                wrong.join("; "),
                err.trim_end().replace('\n', "\n          ")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn good_scenario_validates_ok() {
    let out = tunebench(&["validate", GOOD]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "stderr: {err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(GOOD) && stdout.contains("ok"),
        "stdout: {stdout}"
    );
    assert!(!err.contains("panicked"), "stderr: {err}");
}

#[test]
fn every_bad_fixture_exits_2_without_panicking() {
    let mut failures = Vec::new();
    for bad in all_bad() {
        let out = tunebench(&["validate", &fixture(bad.fixture)]);
        let err = stderr(&out);
        if out.status.code() != Some(2) || err.contains("panicked") || !err.starts_with("error: ") {
            failures.push(format!(
                "{}: exit {:?}, stderr: {err}",
                bad.fixture,
                out.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn parse_errors_name_file_line_col_and_what_is_valid() {
    check_all(PARSE_ERRORS, true);
}

#[test]
fn semantic_errors_name_file_field_and_what_is_valid() {
    check_all(SEMANTIC_ERRORS, false);
}

#[test]
fn semantic_errors_give_line_and_column() {
    check_all(SEMANTIC_ERRORS, true);
    let out = tunebench(&["validate", &fixture(THREE_PROBLEMS.fixture)]);
    let err = stderr(&out);
    for at in THREE_PROBLEMS_AT {
        assert!(err.contains(at), "stderr lacks {at:?}: {err}");
    }
}

#[test]
fn out_of_range_values_are_refused_located() {
    check_all(OUT_OF_RANGE, true);
}

#[test]
fn profile_sql_outside_the_tunebench_namespace_is_refused() {
    check_all(FOREIGN_SQL, true);
}

/// Every file in tests/fixtures/bad/ is used by a case above (or is a referenced copy), so a
/// fixture cannot be added and silently never checked.
#[test]
fn every_fixture_is_covered() {
    let named: Vec<&str> = all_bad().map(|b| b.fixture).collect();
    let mut unused = Vec::new();
    for e in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURES)).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let scenario = name.ends_with(".toml") && !name.contains('-');
        if scenario && !named.contains(&name.as_str()) {
            unused.push(name);
        }
    }
    assert!(unused.is_empty(), "fixtures no case checks: {unused:?}");
}

#[test]
fn mistyped_value_names_the_field() {
    check_all(MISTYPED, true);
}

#[test]
fn missing_referenced_file_names_the_scenario_field() {
    check_all(MISSING_FILES, true);
}

#[test]
fn broken_dataset_is_not_also_reported_as_unknown() {
    let mut failures = Vec::new();
    for name in [
        "dataset_zero_documents.toml",
        "dataset_bad_schema.toml",
        "dataset_missing_file.toml",
    ] {
        let err = stderr(&tunebench(&["validate", &fixture(name)]));
        if err.contains("unknown dataset") {
            failures.push(format!("{name}: {err}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn several_problems_in_one_file_are_reported_together() {
    check_all([&THREE_PROBLEMS], false);
    let err = stderr(&tunebench(&["validate", &fixture(THREE_PROBLEMS.fixture)]));
    let lines = err
        .lines()
        .filter(|l| l.contains("three_problems.toml"))
        .count();
    assert_eq!(lines, 3, "expected one line per problem: {err}");
}

#[test]
fn validate_reports_problems_of_every_file_given() {
    let out = tunebench(&[
        "validate",
        GOOD,
        &fixture("trials_zero.toml"),
        &fixture("criteria_wrong_unit.toml"),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains("trials_zero.toml"), "stderr: {err}");
    assert!(err.contains("criteria_wrong_unit.toml"), "stderr: {err}");
    assert!(!err.contains("postgres-fts.toml:"), "stderr: {err}");
    assert!(!err.contains("panicked"), "stderr: {err}");
}

// ---- tunebench run: bad flags stop before any server is touched --------------------------

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

// ---- tunebench report: broken results files --------------------------------------------

fn report_fails(results: &Path, expect: &[&str]) {
    let out = tunebench(&["report", results.to_str().expect("utf-8 temp path")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(!err.contains("panicked"), "stderr: {err}");
    for e in expect {
        assert!(err.contains(e), "stderr lacks {e:?}: {err}");
    }
    assert!(
        !results.with_file_name("report.md").exists(),
        "no report may be written from a bad results file"
    );
}

#[test]
fn report_on_a_missing_file_exits_2() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let missing = tmp.path().join("nosuch-results.json");
    report_fails(
        &missing,
        &["nosuch-results.json", "cannot read results file"],
    );
}

#[test]
fn report_on_truncated_json_exits_2() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = tmp.path().join("truncated.json");
    // A results file cut off mid-write.
    std::fs::write(
        &path,
        "{\n  \"schema_version\": 1,\n  \"scenario\": {\n    \"name\": \"postgres-fts\",",
    )
    .expect("write fixture");
    report_fails(&path, &["truncated.json:4:", "not valid JSON", "truncated"]);
}

#[test]
fn report_on_an_unknown_schema_version_exits_2() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = tmp.path().join("future.json");
    std::fs::write(
        &path,
        "{\n  \"schema_version\": 99,\n  \"scenario\": {}\n}\n",
    )
    .expect("write fixture");
    report_fails(
        &path,
        &[
            "future.json",
            "field `schema_version`",
            "is 99",
            "reads schema_version 1",
        ],
    );
}

/// A results file whose gate settings are out of range (hand-edited, or from a broken tool):
/// `report` and `compare` both exit 2 naming the field, instead of crashing in the bootstrap.
#[test]
fn results_with_an_impossible_gate_exit_2_for_report_and_compare() {
    let good = "tests/fixtures/results-small.json";
    for (name, field) in [
        (
            "results-gate-confidence-two.json",
            "scenario.gate.confidence",
        ),
        (
            "results-gate-noise-negative.json",
            "scenario.gate.noise.p50",
        ),
    ] {
        let bad = fixture(name);
        let tmp = tempfile::tempdir().expect("temp dir");
        let json = tmp.path().join("comparison.json");
        let report = tmp.path().join("report.md");
        for args in [
            vec!["report", &bad, "--out", report.to_str().unwrap()],
            vec!["compare", good, &bad, "--json", json.to_str().unwrap()],
            vec!["compare", &bad, good, "--json", json.to_str().unwrap()],
        ] {
            let out = tunebench(&args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(!err.contains("panicked"), "{args:?}: {err}");
            assert!(err.contains(name) && err.contains(field), "{args:?}: {err}");
        }
        assert!(
            !json.exists() && !report.exists(),
            "{name}: nothing may be written"
        );
    }
}

/// Tera has no depth limit: a template including itself, or macros calling each other, would
/// overflow the stack. Both are refused naming the template file.
#[test]
fn recursive_templates_exit_2_naming_the_file() {
    let tmp = tempfile::tempdir().expect("temp dir");
    for (name, says) in [
        (
            "template-includes-itself.md.tera",
            "names this template itself",
        ),
        ("template-macro-cycle.md.tera", "macro `ping` calls itself"),
    ] {
        let template = fixture(name);
        let report = tmp.path().join("report.md");
        let out = tunebench(&[
            "report",
            "tests/fixtures/results-small.json",
            "--template",
            &template,
            "--out",
            report.to_str().unwrap(),
        ]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains(&template) && err.contains(says),
            "{name}: {err}"
        );
        assert!(!report.exists());
        // `run --template` checks the template before touching a server.
        let run = tunebench(&[
            "run",
            GOOD,
            "--template",
            &template,
            "--out",
            tmp.path().join("o").to_str().unwrap(),
        ]);
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(2), "run {name}: {err}");
        assert!(err.contains(says), "run {name}: {err}");
    }
}
