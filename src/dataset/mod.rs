//! Deterministic, seeded datasets. Generation is pure (no I/O): any row can be regenerated
//! from its id, so query parameters are drawn from the same corpus that was loaded.

mod copy;
mod documents;
pub mod graph;
pub mod objects;
pub mod params;
pub mod sources;
pub mod vectors;

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use copy::CopyEncoder;
pub use documents::{Author, Comment, Corpus, Document, ParamValue, TermStats};
pub use graph::{Graph, GraphParam, GraphSpec, GraphValue};
pub use params::{ParamGen, TermBand, name_seed};
pub use sources::{Param, Source, SourceSpec, load_param, param_names};
pub use vectors::{Recall, VectorSet, VectorsSpec};

use crate::error::{Error, InputIssue, Result};
use crate::source::SourceFile;

/// Bumped whenever generated content changes, so cached loads are not reused wrongly.
pub const GENERATOR_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    Documents,
    Vectors,
    Graph,
    Objects,
}

/// A document corpus: authors, documents (title, body, tags, created_at) and comments.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DocumentsSpec {
    pub kind: DatasetKind,
    /// Schema the corpus lives in; must start with `tunebench_`.
    pub schema: String,
    pub seed: u64,
    pub authors: u64,
    pub documents: u64,
    /// Mean comments per document (each document gets 0..=2x this, at most 15).
    #[serde(default = "default_comments")]
    pub comments_per_document: f64,
    /// Distinct words in the body vocabulary.
    #[serde(default = "default_vocabulary")]
    pub vocabulary: usize,
    /// Zipf exponent of word frequencies (1.0 is natural-language-like).
    #[serde(default = "default_zipf")]
    pub zipf_exponent: f64,
    /// Inclusive range of body length in words.
    #[serde(default = "default_body_words")]
    pub body_words: [u32; 2],
}

fn default_comments() -> f64 {
    2.0
}
fn default_vocabulary() -> usize {
    20_000
}
fn default_zipf() -> f64 {
    1.0
}
fn default_body_words() -> [u32; 2] {
    [40, 100]
}

impl DocumentsSpec {
    /// Stable identity of the generated content: equal hashes mean identical rows.
    pub fn hash(&self) -> String {
        let canonical = serde_json::to_string(self).expect("spec serializes");
        let digest = Sha256::digest(format!("v{GENERATOR_VERSION}:{canonical}").as_bytes());
        digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
    }

    pub fn max_comments(&self) -> u32 {
        ((self.comments_per_document * 2.0).round() as u32).min(15)
    }
}

/// A dataset spec, by kind.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum DatasetSpec {
    Documents(DocumentsSpec),
    Vectors(VectorsSpec),
    Graph(GraphSpec),
    Objects(objects::ObjectsSpec),
}

impl DatasetSpec {
    /// Stable identity of the generated content.
    pub fn hash(&self) -> String {
        match self {
            DatasetSpec::Documents(s) => s.hash(),
            DatasetSpec::Vectors(s) => s.hash(),
            DatasetSpec::Graph(s) => s.hash(),
            DatasetSpec::Objects(s) => s.hash(),
        }
    }

    /// Where the data lives on the server (schema, bucket, label ...), for messages.
    pub fn namespace(&self) -> &str {
        match self {
            DatasetSpec::Documents(s) => &s.schema,
            DatasetSpec::Vectors(s) => &s.schema,
            DatasetSpec::Graph(_) => "Tunebench* labels",
            DatasetSpec::Objects(s) => &s.bucket,
        }
    }

    pub fn kind(&self) -> DatasetKind {
        match self {
            DatasetSpec::Documents(_) => DatasetKind::Documents,
            DatasetSpec::Vectors(_) => DatasetKind::Vectors,
            DatasetSpec::Graph(_) => DatasetKind::Graph,
            DatasetSpec::Objects(_) => DatasetKind::Objects,
        }
    }
}

/// Reads a dataset spec file (any kind) and applies a scenario's `set = {...}` overrides.
pub fn load_spec(path: &Path, overrides: &toml::Table) -> Result<DatasetSpec> {
    let src = SourceFile::read(path)?;
    let mut table = src.parse_table()?;
    for (k, v) in overrides {
        table.insert(k.clone(), v.clone());
    }
    match table.get("kind").and_then(|k| k.as_str()) {
        Some("documents") => load_documents(&src, table).map(DatasetSpec::Documents),
        Some("vectors") => load_vectors(&src, table).map(DatasetSpec::Vectors),
        Some("graph") => load_graph(&src, table).map(DatasetSpec::Graph),
        Some("objects") => objects::load_objects(&src, table).map(DatasetSpec::Objects),
        Some(other) => Err(Error::input(src.issue(
            "kind",
            format!("unknown dataset kind `{other}`; valid: documents, vectors, graph, objects"),
        ))),
        None => Err(Error::input(src.issue(
            "kind",
            "is missing; valid: documents, vectors, graph, objects",
        ))),
    }
}

/// Reads a document-corpus spec file (with overrides).
pub fn load_documents_spec(path: &Path, overrides: &toml::Table) -> Result<DocumentsSpec> {
    match load_spec(path, overrides)? {
        DatasetSpec::Documents(d) => Ok(d),
        DatasetSpec::Vectors(_) => Err(Error::input(crate::error::InputIssue::new(
            path,
            "kind",
            "is vectors; a document corpus is needed here (kind = \"documents\")",
        ))),
        DatasetSpec::Graph(_) => Err(Error::input(InputIssue::new(
            path,
            "kind",
            "is `graph`; a document corpus (kind = \"documents\") is needed here",
        ))),
        DatasetSpec::Objects(_) => Err(Error::input(crate::error::InputIssue::new(
            path,
            "kind",
            "is \"objects\"; a document corpus (kind = \"documents\") is needed here",
        ))),
    }
}

/// The spec from its table (the file with the scenario's `set` overrides). A problem is
/// located in the file when the file alone has it; otherwise the overrides caused it.
pub(crate) fn spec_from<T: serde::de::DeserializeOwned>(
    src: &SourceFile,
    table: toml::Table,
) -> Result<T> {
    table
        .try_into()
        .map_err(|e: toml::de::Error| match src.parse::<T>() {
            Err(located) => located,
            Ok(_) => Error::input(src.issue(
                "set",
                format!(
                    "{} (after the scenario's `set` overrides of this file)",
                    e.message().trim()
                ),
            )),
        })
}

fn schema_issue(src: &SourceFile, schema: &str) -> Option<crate::error::InputIssue> {
    let ok = schema.starts_with("tunebench_")
        && schema.len() <= 63
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    (!ok).then(|| src.issue(
        "schema",
        format!("`{schema}`: the schema must start with tunebench_ and use lowercase letters, digits and _ only, at most 63 bytes (PostgreSQL's identifier limit; it is {} here), so tunebench never touches data it did not create", schema.len()),
    ))
}

fn load_vectors(src: &SourceFile, table: toml::Table) -> Result<VectorsSpec> {
    let mut spec: VectorsSpec = spec_from(src, table)?;
    let mut issues: Vec<_> = schema_issue(src, &spec.schema).into_iter().collect();
    if !(1..=16_000).contains(&spec.dimension) {
        issues.push(src.issue("dimension", "must be 1..=16000 (pgvector's vector limit)"));
    }
    match (&spec.vectors_file, &spec.queries_file) {
        (None, None) => {
            if !(1..=100_000_000).contains(&spec.count) {
                issues.push(src.issue("count", "must be 1..=100000000 generated vectors"));
            }
            if spec.queries == 0 {
                issues.push(src.issue("queries", "must be at least 1"));
            }
            if spec.clusters == 0 {
                issues.push(src.issue("clusters", "must be at least 1"));
            }
            if !(spec.spread > 0.0 && spec.spread <= 100.0) {
                issues.push(src.issue(
                    "spread",
                    "must be in (0, 100]; 1.0 is the calibrated default",
                ));
            }
        }
        (Some(_), None) => issues.push(src.issue(
            "queries_file",
            "is missing: vectors_file needs queries_file (.npy or .fvecs)",
        )),
        (None, Some(_)) => issues.push(src.issue(
            "vectors_file",
            "is missing: queries_file needs vectors_file (.npy or .fvecs)",
        )),
        (Some(v), Some(q)) => {
            let (v, q) = (
                src.resolve(&v.to_string_lossy()),
                src.resolve(&q.to_string_lossy()),
            );
            for (field, path) in [("vectors_file", &v), ("queries_file", &q)] {
                // Checked here from the header, the size and a sample (never read whole), so
                // a bad file fails validation, not a run.
                match vectors::inspect(path) {
                    Err(e) => issues.push(src.issue(field, e)),
                    Ok(m) if m.dim != spec.dimension as usize => issues.push(src.issue(
                        field,
                        format!(
                            "holds {}-d vectors but dimension is {}; make them agree",
                            m.dim, spec.dimension
                        ),
                    )),
                    Ok(_) => {}
                }
            }
            spec.vectors_file = Some(v);
            spec.queries_file = Some(q);
        }
    }
    if !(1..=1000).contains(&spec.k_max) {
        issues.push(src.issue("k_max", "must be 1..=1000"));
    }
    if issues.is_empty() {
        Ok(spec)
    } else {
        Err(Error::Input(issues))
    }
}

fn load_documents(src: &SourceFile, table: toml::Table) -> Result<DocumentsSpec> {
    let spec: DocumentsSpec = spec_from(src, table)?;
    let mut issues: Vec<_> = schema_issue(src, &spec.schema).into_iter().collect();
    for (field, value) in [("authors", spec.authors), ("documents", spec.documents)] {
        if value == 0 {
            issues.push(src.issue(field, "must be at least 1 row"));
        }
    }
    if spec.documents > 1 << 40 {
        issues.push(src.issue("documents", "must be below 2^40"));
    }
    if !(0.0..=7.5).contains(&spec.comments_per_document) {
        issues.push(src.issue(
            "comments_per_document",
            "must be between 0 and 7.5 (each document gets at most 15)",
        ));
    }
    if spec.vocabulary < 500 {
        issues.push(src.issue(
            "vocabulary",
            "must be at least 500 words so common, medium and rare terms exist",
        ));
    }
    if !(spec.zipf_exponent > 0.0 && spec.zipf_exponent <= 3.0) {
        issues.push(src.issue(
            "zipf_exponent",
            "must be in (0, 3]; 1.0 resembles natural language",
        ));
    }
    if spec.body_words[0] == 0 || spec.body_words[0] > spec.body_words[1] {
        issues.push(src.issue("body_words", "must be [min, max] with 1 <= min <= max"));
    }
    if issues.is_empty() {
        Ok(spec)
    } else {
        Err(Error::Input(issues))
    }
}

fn load_graph(src: &SourceFile, table: toml::Table) -> Result<GraphSpec> {
    let spec: GraphSpec = spec_from(src, table)?;
    let issues: Vec<InputIssue> = spec
        .problems()
        .into_iter()
        .map(|(field, msg)| src.issue(field, msg))
        .collect();
    if issues.is_empty() {
        Ok(spec)
    } else {
        Err(Error::Input(issues))
    }
}
