//! Problems found after parsing, by checking the values and following the references; several
//! in one file are reported together.

use crate::{Bad, check_all, fixture, stderr, tunebench};

/// Problems found after parsing, by checking the values and following the references.
pub(crate) const SEMANTIC_ERRORS: &[Bad] = &[
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
        fixture: "closed_with_arrivals.toml",
        at: "closed_with_arrivals.toml:16:12",
        expect: &["field `load.arrivals`", "only apply to mode = \"open\""],
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
        fixture: "criteria_window_on_op.toml",
        at: "criteria_window_on_op.toml:4:3",
        expect: &[
            "field `criteria[0]`",
            "window metrics such as p99_window_max are recorded per workload, not per op",
            "`fts_search.p99_window_max`",
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
    // recovery drills (kind = "drill")
    Bad {
        fixture: "drill_bad_method.toml",
        at: "drill_bad_method.toml:32:10",
        expect: &[
            "field `workload[1].method`",
            "`mirror` is not a drill method of a postgres target",
            "valid: logical",
        ],
    },
    Bad {
        fixture: "drill_with_ops.toml",
        at: "drill_with_ops.toml:33:7",
        expect: &["field `workload[1].ops`", "a drill takes no ops"],
    },
    Bad {
        fixture: "drill_metric_on_workload.toml",
        at: "drill_metric_on_workload.toml:3:13",
        expect: &[
            "field `criteria[0]`",
            "rto is a drill metric",
            "drills (kind = \"drill\"): pg_backup",
        ],
    },
    Bad {
        fixture: "drill_compress_unknown.toml",
        at: "drill_compress_unknown.toml:33:12",
        expect: &[
            "field `workload[1].compress`",
            "`zip` is not a pg_dump compression",
            "zstd:3",
        ],
    },
    Bad {
        fixture: "drill_recover_to_too_long.toml",
        at: "drill_recover_to_too_long.toml:35:14",
        expect: &[
            "field `workload[1].recover_to`",
            "shorter than writer_duration (5 s)",
            "got 5 s",
        ],
    },
];

/// Three distinct problems in one file: all must be reported in one go.
pub(crate) const THREE_PROBLEMS: Bad = Bad {
    fixture: "three_problems.toml",
    at: "three_problems.toml",
    expect: &[
        "field `load.trials`: must be at least 1",
        "field `workload[0].ops[0].op`: unknown op `nosuch_op`",
        "field `criteria[0]`: unknown metric `p42`",
    ],
};
pub(crate) const THREE_PROBLEMS_AT: &[&str] = &[
    "three_problems.toml:20:10",
    "three_problems.toml:27:15",
    "three_problems.toml:4:3",
];

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
fn several_problems_in_one_file_are_reported_together() {
    check_all([&THREE_PROBLEMS], false);
    let err = stderr(&tunebench(&["validate", &fixture(THREE_PROBLEMS.fixture)]));
    let lines = err
        .lines()
        .filter(|l| l.contains("three_problems.toml"))
        .count();
    assert_eq!(lines, 3, "expected one line per problem: {err}");
}
