//! Values no clock, float or server could take.

use crate::{Bad, check_all};

/// Values no clock, float or server could take (issue 13): each refused at validate.
pub(crate) const OUT_OF_RANGE: &[Bad] = &[
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
        fixture: "interval_too_short.toml",
        at: "interval_too_short.toml:17:12",
        expect: &["field `load.interval`", "is 5ms", "between 10ms and 1h"],
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

#[test]
fn out_of_range_values_are_refused_located() {
    check_all(OUT_OF_RANGE, true);
}
