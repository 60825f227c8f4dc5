//! Configuration checks on Neo4j, from SHOW INDEXES and the profiled plans.

use neo4rs::query;
use serde::{Deserialize, Serialize};

use super::{Bolt, rows};
use crate::backend::checks::CheckFields;
use crate::backend::facts::CheckOutcome;
use crate::backend::neo4j::NeoEvidence;

/// Neo4j's configuration checks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "check", rename_all = "snake_case", deny_unknown_fields)]
pub enum NeoCheck {
    /// An online index on each `Label.property`.
    PropertyIndexes { properties: Vec<String> },
    /// At least one online full-text index.
    FulltextIndex,
    /// Index anchors / all anchors of the profiled plans (needs a run).
    IndexHitRatio { min: f64 },
}

pub const CHECK_NAMES: &[&str] = &["property_indexes", "fulltext_index", "index_hit_ratio"];
pub const CHECK_HELP: &str = "property_indexes (properties), fulltext_index, index_hit_ratio (min)";

/// Reads a `[[checks]]` entry named `name` (one of `CHECK_NAMES`).
pub fn parse_check(name: &str, f: &mut CheckFields<'_>) -> Option<NeoCheck> {
    Some(match name {
        "fulltext_index" => NeoCheck::FulltextIndex,
        "index_hit_ratio" => NeoCheck::IndexHitRatio {
            min: f.ratio("min", 0.8)?,
        },
        "property_indexes" => {
            let properties = f.strings("properties").unwrap_or_default();
            let ok = |s: Option<&str>| {
                s.is_some_and(|s| {
                    !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_')
                })
            };
            let bad = properties.iter().any(|p| {
                let mut parts = p.split('.');
                !(ok(parts.next()) && ok(parts.next()) && parts.next().is_none())
            });
            if properties.is_empty() || bad {
                f.problem(
                    "properties",
                    "list the indexed properties as \"Label.property\", e.g. properties = [\"TunebenchUser.handle\"]",
                );
                return None;
            }
            NeoCheck::PropertyIndexes { properties }
        }
        _ => return None,
    })
}

impl NeoCheck {
    /// What passing means, in words.
    pub fn expected(&self) -> String {
        match self {
            NeoCheck::PropertyIndexes { properties } => {
                format!("online index on {}", properties.join(", "))
            }
            NeoCheck::FulltextIndex => "an online full-text index".into(),
            NeoCheck::IndexHitRatio { min } => format!("index hit ratio >= {:.0} %", min * 100.0),
        }
    }

    /// How a report names it.
    pub fn text(&self) -> String {
        match self {
            NeoCheck::PropertyIndexes { properties } => {
                format!("property_indexes on {}", properties.join(", "))
            }
            NeoCheck::FulltextIndex => "fulltext_index".into(),
            NeoCheck::IndexHitRatio { min } => format!("index_hit_ratio >= {:.0} %", min * 100.0),
        }
    }
}

/// An online index: (name, type, labels, properties).
type IndexRow = (String, String, Vec<String>, Vec<String>);

async fn online_indexes(bolt: &Bolt) -> Result<Vec<IndexRow>, neo4rs::Error> {
    Ok(rows(
        bolt,
        query(
            "SHOW INDEXES YIELD name, type, labelsOrTypes, properties, state \
             WHERE state = 'ONLINE' AND type <> 'LOOKUP' \
             RETURN name, type, labelsOrTypes, properties",
        ),
    )
    .await?
    .iter()
    .filter_map(|r| {
        Some((
            r.get("name").ok()?,
            r.get("type").ok()?,
            r.get("labelsOrTypes").unwrap_or_default(),
            r.get("properties").unwrap_or_default(),
        ))
    })
    .collect())
}

pub async fn check(
    bolt: &Bolt,
    kind: &NeoCheck,
    evidence: Option<&NeoEvidence>,
) -> Result<CheckOutcome, neo4rs::Error> {
    Ok(match kind {
        NeoCheck::PropertyIndexes { properties } => {
            let idx = online_indexes(bolt).await?;
            let mut missing = Vec::new();
            let mut found = Vec::new();
            for p in properties {
                let (label, prop) = p.split_once('.').unwrap_or((p, ""));
                // Seekable for equality lookups: a range (or text) index whose first
                // property is the looked-up one.
                match idx.iter().find(|(_, t, l, ps)| {
                    (t == "RANGE" || t == "TEXT")
                        && l.iter().any(|x| x == label)
                        && ps.first().is_some_and(|x| x == prop)
                }) {
                    Some((name, t, _, _)) => found.push(format!("{p}: {name} ({t})")),
                    None => missing.push(format!("{p}: no online range index")),
                }
            }
            CheckOutcome::judged(
                missing.is_empty(),
                format!("{} of {} indexed", found.len(), properties.len()),
                if missing.is_empty() { found } else { missing },
            )
        }
        NeoCheck::FulltextIndex => {
            let ft: Vec<String> = online_indexes(bolt)
                .await?
                .into_iter()
                .filter(|(_, t, _, _)| t == "FULLTEXT")
                .map(|(n, _, l, p)| format!("{n} on {}({})", l.join(" or "), p.join(", ")))
                .collect();
            CheckOutcome::judged(
                !ft.is_empty(),
                if ft.is_empty() {
                    "no online full-text index".into()
                } else {
                    ft.join("; ")
                },
                Vec::new(),
            )
        }
        NeoCheck::IndexHitRatio { min } => match evidence {
            Some(e) => match e.index_hit_ratio {
                Some(r) => CheckOutcome::judged(
                    r >= *min,
                    format!(
                        "{:.1} % of the profiled plans' anchors are index seeks",
                        r * 100.0
                    ),
                    Vec::new(),
                ),
                None => CheckOutcome::not_evaluated("no plan anchors were captured"),
            },
            _ => CheckOutcome::not_evaluated("needs the PROFILE plans of a run (`tunebench run`)"),
        },
    })
}
