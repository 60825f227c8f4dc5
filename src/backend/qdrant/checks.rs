//! Configuration checks of a Qdrant target, read from its collections.

use serde::{Deserialize, Serialize};

use super::Engine;
use crate::backend::checks::CheckFields;

/// Qdrant's configuration checks, on the datasets' collections.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "check", rename_all = "snake_case", deny_unknown_fields)]
pub enum QdrantCheck {
    /// The collection's HNSW graph has these parameters.
    Hnsw { m: u32, ef_construct: u32 },
    /// The collection has int8 scalar quantization.
    Int8Quantization,
}

pub const CHECK_NAMES: &[&str] = &["hnsw", "int8_quantization"];
pub const CHECK_HELP: &str = "hnsw (m, ef_construct), int8_quantization";

/// Reads a `[[checks]]` entry named `name` (one of `CHECK_NAMES`).
pub fn parse_check(name: &str, f: &mut CheckFields<'_>) -> Option<QdrantCheck> {
    Some(match name {
        "int8_quantization" => QdrantCheck::Int8Quantization,
        "hnsw" => {
            let m = f.uint("m", u32::MAX);
            let ef_construct = f.uint("ef_construct", u32::MAX);
            QdrantCheck::Hnsw {
                m: m.unwrap_or(16),
                ef_construct: ef_construct.unwrap_or(100),
            }
        }
        _ => return None,
    })
}

impl QdrantCheck {
    /// What passing means, in words.
    pub fn expected(&self) -> String {
        match self {
            QdrantCheck::Hnsw { m, ef_construct } => {
                format!("HNSW m = {m}, ef_construct = {ef_construct}")
            }
            QdrantCheck::Int8Quantization => "int8 scalar quantization".into(),
        }
    }

    /// How a report names it.
    pub fn text(&self) -> String {
        match self {
            QdrantCheck::Hnsw { m, ef_construct } => {
                format!("hnsw m = {m}, ef_construct = {ef_construct}")
            }
            QdrantCheck::Int8Quantization => "int8_quantization".into(),
        }
    }
}

/// Configuration checks on the datasets' collections, read from the engine.
pub(super) async fn check_collections(
    engine: &Engine,
    kind: &QdrantCheck,
    collections: &[String],
) -> std::result::Result<crate::backend::facts::CheckOutcome, String> {
    use crate::backend::facts::CheckOutcome;
    if collections.is_empty() {
        return Ok(CheckOutcome::not_evaluated(
            "no vectors dataset on this target, so no collection to check",
        ));
    }
    let mut found = Vec::new();
    let mut fails = Vec::new();
    for c in collections {
        if engine.manifest(c).await?.is_none() {
            return Ok(CheckOutcome::not_evaluated(format!(
                "collection {c} has not been loaded by tunebench"
            )));
        }
        engine.open_collection(c).await?;
        let m = engine.info(c).await?.managed;
        let (ok, what) = match kind {
            QdrantCheck::Hnsw {
                m: want_m,
                ef_construct,
            } => (
                m.m == *want_m && m.ef_construct == *ef_construct,
                format!("{c}: m = {}, ef_construct = {}", m.m, m.ef_construct),
            ),
            QdrantCheck::Int8Quantization => (
                m.quantization.is_some(),
                format!(
                    "{c}: {}",
                    if m.quantization.is_some() {
                        "scalar int8"
                    } else {
                        "no quantization"
                    }
                ),
            ),
        };
        if !ok {
            fails.push(what.clone());
        }
        found.push(what);
    }
    let pass = fails.is_empty();
    let details = if collections.len() > 1 {
        fails
    } else {
        Vec::new()
    };
    Ok(CheckOutcome::judged(pass, found.join("; "), details))
}
