//! PostgreSQL helpers: the stack's URL and the FTS scenario that several test files run.

use std::path::{Path, PathBuf};

use super::ROOT;

pub fn pg_url() -> String {
    std::env::var("TUNEBENCH_PG_URL")
        .unwrap_or_else(|_| "postgres://tunebench:tunebench@127.0.0.1:5432/tunebench".into())
}

/// A scenario in a temp folder over the repo's workload and profile files, with a small corpus.
pub fn fts_scenario(dir: &Path, schema: &str, url: &str, extra: &str) -> PathBuf {
    let dataset = dir.join("docs.toml");
    std::fs::write(
        &dataset,
        format!(
            "kind = \"documents\"\nschema = \"{schema}\"\nseed = 7\nauthors = 300\ndocuments = 6000\nvocabulary = 5000\nbody_words = [40, 100]\n"
        ),
    )
    .unwrap();
    let text = format!(
        r#"
name = "fts-test"
{extra}

[targets.pg]
kind = "postgres"
url = "{url}"
restart_command = "{ROOT}/scripts/stack restart postgres"

[datasets.docs]
target = "pg"
file = "{dataset}"

[load]
mode = "closed"
concurrency = 2
warmup = "300ms"
duration = "1500ms"

[[workload]]
name = "fts_search"
target = "pg"
dataset = "docs"
definition = "{ROOT}/workloads/postgres-fts.toml"
ops = [{{ op = "websearch_medium", weight = 2 }}, {{ op = "websearch_rare", weight = 1 }}, {{ op = "title_trigram", weight = 1 }}]

[[workload]]
name = "common_queries"
target = "pg"
dataset = "docs"
definition = "{ROOT}/workloads/postgres-fts.toml"
ops = [{{ op = "comments_by_document" }}, {{ op = "author_window" }}]

[[profile]]
name = "baseline"
apply = {{ pg = "{ROOT}/profiles/postgres/baseline.toml" }}

[[profile]]
name = "tuned"
apply = {{ pg = "{ROOT}/profiles/postgres/tuned.toml" }}
"#,
        dataset = dataset.display()
    );
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A short baseline-only run: enough to load the dataset and exercise the pipeline.
pub fn quick_baseline<'a>(scenario: &'a str, out: &'a str) -> [&'a str; 10] {
    [
        "run",
        scenario,
        "--out",
        out,
        "--profile",
        "baseline",
        "--duration",
        "200ms",
        "--warmup",
        "0s",
    ]
}
