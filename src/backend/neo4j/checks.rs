//! Configuration checks on Neo4j, from SHOW INDEXES and the profiled plans.

use neo4rs::query;

use super::{Bolt, rows};
use crate::backend::checks::CheckKind;
use crate::backend::facts::CheckOutcome;
use crate::backend::neo4j::NeoEvidence;

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
    kind: &CheckKind,
    evidence: Option<&NeoEvidence>,
) -> Result<CheckOutcome, neo4rs::Error> {
    Ok(match kind {
        CheckKind::PropertyIndexes { properties } => {
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
        CheckKind::FulltextIndex => {
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
        CheckKind::IndexHitRatio { min } => match evidence {
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
        other => {
            CheckOutcome::not_evaluated(format!("`{}` is not a Neo4j check", other.expected()))
        }
    })
}
