//! TOML syntax errors, fields serde rejects while parsing, and values of the wrong type.

use crate::{Bad, check_all};

/// TOML syntax errors and fields serde rejects while parsing.
pub(crate) const PARSE_ERRORS: &[Bad] = &[
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
    Bad {
        fixture: "arrivals_unknown.toml",
        at: "arrivals_unknown.toml:17:12",
        expect: &["unknown variant `bursty`", "`uniform`", "`poisson`"],
    },
];

/// A value of the wrong type: located, and the field is named.
pub(crate) const MISTYPED: &[Bad] = &[Bad {
    fixture: "wrong_type_concurrency.toml",
    at: "wrong_type_concurrency.toml:15:15",
    // "load.concurrency", not just "concurrency": the file name contains that word.
    expect: &["load.concurrency", "\"four\"", "expected u32"],
}];

#[test]
fn parse_errors_name_file_line_col_and_what_is_valid() {
    check_all(PARSE_ERRORS, true);
}

#[test]
fn mistyped_value_names_the_field() {
    check_all(MISTYPED, true);
}
