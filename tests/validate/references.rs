//! Referenced files: profile SQL reaching outside tunebench's namespace, and files that do
//! not exist.

use crate::{Bad, check_all};

/// Profile SQL that reaches outside tunebench's namespace, or onto a table tunebench did not
/// create without the target's `allow_foreign_indexes`.
pub(crate) const FOREIGN_SQL: &[Bad] = &[
    Bad {
        fixture: "profile_foreign_table_not_allowed.toml",
        at: "profile_foreign_table_not_allowed.toml:28:16",
        expect: &[
            "field `profile[0].apply.pg`",
            "index tunebench_orders_customer is on app.orders, a table tunebench did not create",
            "allow_foreign_indexes = true on targets.pg",
        ],
    },
    Bad {
        fixture: "target_flag_on_neo4j.toml",
        at: "target_flag_on_neo4j.toml:9:16",
        expect: &[
            "field `targets.graph.allow_writes`",
            "only applies to kind = \"postgres\" so far",
        ],
    },
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
pub(crate) const MISSING_FILES: &[Bad] = &[
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

#[test]
fn profile_sql_outside_the_tunebench_namespace_is_refused() {
    check_all(FOREIGN_SQL, true);
}

#[test]
fn missing_referenced_file_names_the_scenario_field() {
    check_all(MISSING_FILES, true);
}
