//! Workloads on a graph tunebench did not create: their samples (`from = "sample"`, a Cypher
//! query run once before any clock) and their readiness, from the statements themselves.
//!
//! neo4rs 0.8 opens no read access mode sessions, so what keeps the user's graph unchanged is
//! checked before anything runs: `validate` refuses write clauses, and here Neo4j's own
//! planner must call every statement (and every sample query) a read: `EXPLAIN` reports the
//! query type, `r` only for reads (a procedure that writes is `rw` or `w`).

use std::collections::BTreeSet;

use neo4rs::{BoltType, Graph as Bolt, query};
use rand::SeedableRng;

use super::bolt::BoltProfile;
use super::{ForeignCypher, draw_params, rows};
use crate::backend::facts::ReadinessCheck;
use crate::dataset::{Param, ParamValue};

/// Takes the samples of these statements' parameters not taken yet this run: each query once,
/// after Neo4j's planner called it a read, its kept columns converted to values.
pub async fn take_samples(
    bolt: &Bolt,
    login: (&str, &str, &str),
    statements: &[ForeignCypher],
) -> Result<(), String> {
    let mut explain: Option<BoltProfile> = None;
    for s in statements {
        for (name, p) in &s.params {
            let Param::Source(src) = p else { continue };
            let Some((q, columns, size)) = src.sample_query() else {
                continue;
            };
            let fail = |e: String| format!("sampling ${name} of op {}: {e}", s.name);
            if explain.is_none() {
                explain = Some(
                    BoltProfile::connect(login.0, login.1, login.2)
                        .await
                        .map_err(fail)?,
                );
            }
            let Some(conn) = explain.as_mut() else {
                continue;
            };
            let summary = conn.explain(q, &[]).await.map_err(fail)?;
            let kind = summary.get("type").and_then(|t| t.as_str()).unwrap_or("?");
            if kind != "r" {
                return Err(fail(format!(
                    "Neo4j's planner calls the query type `{kind}`, not a read (`r`); a sample only reads"
                )));
            }
            let mut stream = bolt
                .execute(query(q))
                .await
                .map_err(|e| fail(e.to_string()))?;
            let mut values = Vec::new();
            while values.len() < size {
                let Some(row) = stream.next().await.map_err(|e| fail(e.to_string()))? else {
                    break;
                };
                let mut out = Vec::with_capacity(columns.len());
                for c in &columns {
                    let v: BoltType = row.get(c).map_err(|_| {
                        fail(format!("its rows have no column `{c}` (RETURN ... AS {c})"))
                    })?;
                    out.push(value(&v).map_err(|e| {
                        fail(format!("row {} column `{c}`: {e}", values.len() + 1))
                    })?);
                }
                values.push(out);
            }
            src.fill_sample(values).map_err(fail)?;
        }
    }
    Ok(())
}

fn value(v: &BoltType) -> Result<ParamValue, String> {
    Ok(match v {
        BoltType::Integer(i) => ParamValue::Int(i.value),
        BoltType::Float(f) => ParamValue::Float(f.value),
        BoltType::String(s) => ParamValue::Text(s.value.clone()),
        BoltType::DateTime(d) => ParamValue::Time(
            chrono::DateTime::<chrono::FixedOffset>::try_from(d)
                .map_err(|e| e.to_string())?
                .to_utc(),
        ),
        BoltType::Null(_) => {
            return Err("is null; leave nulls out in the query (WHERE x IS NOT NULL)".into());
        }
        _ => {
            return Err(
                "a parameter source takes integers, floats, strings and datetimes; convert it in the query (toString(x), toInteger(x))"
                    .into(),
            );
        }
    })
}

/// Readiness of a graph tunebench did not create, from the workloads' own statements: each
/// compiles and Neo4j calls it a read, every label, relationship type and property it names
/// exists, every label it names has nodes, and their indexes are online.
pub async fn foreign_readiness(
    bolt: &Bolt,
    explain: &mut BoltProfile,
    target: &str,
    statements: &[ForeignCypher],
) -> Result<Vec<ReadinessCheck>, String> {
    let check = |check: String, expected: &str, actual: String, ok: bool| ReadinessCheck {
        target: target.to_string(),
        check,
        expected: expected.to_string(),
        actual,
        ok,
    };
    let err = |e: neo4rs::Error| e.to_string();
    let mut checks = Vec::new();
    let mut labels = BTreeSet::new();
    for s in statements {
        let mut rng =
            rand_chacha::ChaCha8Rng::seed_from_u64(crate::dataset::name_seed(&s.name, "readiness"));
        let params = draw_params(s.params.iter().map(|(k, p)| (k, p)), None, &mut rng);
        match explain.explain(&s.cypher, &params).await {
            Ok(summary) => {
                let kind = summary
                    .get("type")
                    .and_then(|t| t.as_str())
                    .unwrap_or("?")
                    .to_string();
                checks.push(check(
                    format!("statement {} is a read", s.name),
                    "query type r",
                    format!("query type {kind}"),
                    kind == "r",
                ));
                let unknown: Vec<String> = summary
                    .get("notifications")
                    .and_then(|n| n.as_array())
                    .into_iter()
                    .flatten()
                    .filter(|n| {
                        n["code"].as_str().is_some_and(|c| {
                            c.contains("UnknownLabel")
                                || c.contains("UnknownRelationshipType")
                                || c.contains("UnknownPropertyKey")
                        })
                    })
                    .map(|n| n["description"].as_str().unwrap_or("?").to_string())
                    .collect();
                checks.push(check(
                    format!("labels, types and properties of {} exist", s.name),
                    "all exist",
                    if unknown.is_empty() {
                        "all exist".into()
                    } else {
                        unknown.join("; ")
                    },
                    unknown.is_empty(),
                ));
            }
            Err(e) => checks.push(check(
                format!("statement {} compiles", s.name),
                "EXPLAIN succeeds",
                e,
                false,
            )),
        }
        labels.extend(named_labels(&s.cypher));
    }
    let states = rows(
        bolt,
        query(
            "SHOW INDEXES YIELD name, state, entityType, labelsOrTypes \
             WHERE entityType = 'NODE' RETURN name, state, coalesce(labelsOrTypes, []) AS l",
        ),
    )
    .await
    .map_err(err)?;
    for label in labels {
        let any = rows(
            bolt,
            query(&format!(
                "MATCH (n:`{}`) RETURN 1 AS one LIMIT 1",
                label.replace('`', "``")
            )),
        )
        .await
        .map_err(err)?;
        checks.push(check(
            format!("nodes :{label}"),
            "at least 1",
            if any.is_empty() { "none" } else { "some" }.into(),
            !any.is_empty(),
        ));
        let not_online: Vec<String> = states
            .iter()
            .filter(|r| r.get::<Vec<String>>("l").is_ok_and(|l| l.contains(&label)))
            .filter_map(|r| {
                let state: String = r.get("state").ok()?;
                let name: String = r.get("name").ok()?;
                (state != "ONLINE").then(|| format!("{name} {state}"))
            })
            .collect();
        checks.push(check(
            format!("indexes on :{label} online"),
            "all ONLINE",
            if not_online.is_empty() {
                "all ONLINE".into()
            } else {
                not_online.join(", ")
            },
            not_online.is_empty(),
        ));
    }
    Ok(checks)
}

/// The labels a statement names: `:Name` in a node pattern `(n:Name)` or a label predicate
/// (`WHERE n:Name`), outside strings; not relationship types (`[:TYPE]`) or map keys
/// (`{key: 1}`).
fn named_labels(cypher: &str) -> BTreeSet<String> {
    let chars: Vec<char> = cypher.chars().collect();
    let mut out = BTreeSet::new();
    let mut open: Vec<char> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            c @ ('(' | '[' | '{') => {
                open.push(c);
                i += 1;
            }
            ')' | ']' | '}' => {
                open.pop();
                i += 1;
            }
            q @ ('\'' | '"') => {
                i += 1;
                while i < chars.len() && chars[i] != q {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            ':' => {
                i += 1;
                while i < chars.len() && chars[i].is_whitespace() {
                    i += 1;
                }
                let name: String = if chars.get(i) == Some(&'`') {
                    i += 1;
                    let start = i;
                    while i < chars.len() && chars[i] != '`' {
                        i += 1;
                    }
                    chars[start..i.min(chars.len())].iter().collect()
                } else {
                    let start = i;
                    while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                        i += 1;
                    }
                    chars[start..i].iter().collect()
                };
                if !name.is_empty() && matches!(open.last(), None | Some('(')) {
                    out.insert(name);
                }
            }
            _ => i += 1,
        }
    }
    out
}

#[cfg(test)]
#[test]
fn labels_are_read_outside_strings() {
    let got = named_labels(
        "MATCH (c:Customer {id: $x})-[:PLACED]->(o: `Order Line`) WHERE c.note = 'a:B' AND o:Paid RETURN {k: 1}",
    );
    assert_eq!(
        got.into_iter().collect::<Vec<_>>(),
        ["Customer", "Order Line", "Paid"]
    );
}
