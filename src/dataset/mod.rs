//! Deterministic, seeded datasets. Generation is pure (no I/O): any row can be regenerated
//! from its id, so query parameters are drawn from the same corpus that was loaded.

mod copy;
mod documents;
pub mod objects;

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use copy::CopyEncoder;
pub use documents::{Author, Comment, Corpus, Document, ParamValue, TermStats};

use crate::error::{Error, Result};
use crate::scenario::SourceFile;

/// Bumped whenever generated content changes, so cached loads are not reused wrongly.
pub const GENERATOR_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    Documents,
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
    Objects(objects::ObjectsSpec),
}

impl DatasetSpec {
    /// Stable identity of the generated content.
    pub fn hash(&self) -> String {
        match self {
            DatasetSpec::Documents(s) => s.hash(),
            DatasetSpec::Objects(s) => s.hash(),
        }
    }

    /// Where the data lives on the server (schema, bucket, label ...), for messages.
    pub fn namespace(&self) -> &str {
        match self {
            DatasetSpec::Documents(s) => &s.schema,
            DatasetSpec::Objects(s) => &s.bucket,
        }
    }

    pub fn kind(&self) -> DatasetKind {
        match self {
            DatasetSpec::Documents(_) => DatasetKind::Documents,
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
        Some("objects") => objects::load_objects(&src, table).map(DatasetSpec::Objects),
        Some(other) => Err(Error::input(src.issue(
            "kind",
            format!("unknown dataset kind `{other}`; valid: documents, objects"),
        ))),
        None => Err(Error::input(
            src.issue("kind", "is missing; valid: documents, objects"),
        )),
    }
}

/// Reads a document-corpus spec file (with overrides).
pub fn load_documents_spec(path: &Path, overrides: &toml::Table) -> Result<DocumentsSpec> {
    match load_spec(path, overrides)? {
        DatasetSpec::Documents(d) => Ok(d),
        DatasetSpec::Objects(_) => Err(Error::input(crate::error::InputIssue::new(
            path,
            "kind",
            "is \"objects\"; a document corpus (kind = \"documents\") is needed here",
        ))),
    }
}

fn load_documents(src: &SourceFile, table: toml::Table) -> Result<DocumentsSpec> {
    let spec: DocumentsSpec = table.try_into().map_err(|e: toml::de::Error| {
        Error::input(src.issue(
            "",
            format!("{} (after scenario overrides)", e.message().trim()),
        ))
    })?;
    let mut issues = Vec::new();
    if !spec.schema.starts_with("tunebench_")
        || !spec
            .schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        issues.push(src.issue(
            "schema",
            format!("`{}`: the schema must start with tunebench_ and use lowercase letters, digits and _ only, so tunebench never touches data it did not create", spec.schema),
        ));
    }
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
