//! The Neo4j recovery drill, export (`method = "export"`): every node of the dataset's labels
//! and every relationship from them written through Bolt to a gzip'd JSON Lines file, then
//! imported into scratch labels (`TunebenchRestore_…_User`, …) of the same database and
//! compared with the source node by node and relationship by relationship (properties and
//! endpoints, hashed), and deleted afterwards, also after a failure. Community Edition has
//! one database and backs up only offline (`neo4j-admin database dump` with the server
//! stopped), so this is a logical backup taken online; the report says so. The source is
//! only read.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;

use neo4rs::{BoltType, Graph as Bolt, query};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::rows;
use crate::backend::drill::{self, Drill, DrillReport, DrillRun, Integrity, Steps};
use crate::backend::model::Target;
use crate::dataset::graph::LABELS;
use crate::error::{Error, Result};

const BATCH: usize = 2000;
/// The property that ties a restored node to its source node while relationships are
/// restored and compared; left out of the comparison of properties.
const SOURCE_ID: &str = "_tunebench_source";
const SCRATCH_PREFIX: &str = "TunebenchRestore_";

/// Count and order-independent sum of item hashes, per label and for the relationships.
#[derive(Debug, Default, Clone, PartialEq)]
struct Print {
    count: u64,
    sum: u64,
}

impl Print {
    fn add(&mut self, item: &Value) {
        let text = drill::canonical_json(item);
        let h = Sha256::digest(text.as_bytes());
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[..8]);
        self.count += 1;
        self.sum = self.sum.wrapping_add(u64::from_le_bytes(b));
    }
}

fn scratch_label(prefix: &str, label: &str) -> String {
    format!(
        "{prefix}{}",
        label.strip_prefix("Tunebench").unwrap_or(label)
    )
}

pub async fn export(
    bolt: &Bolt,
    target: &Target,
    drill: &Drill,
    run: &DrillRun<'_>,
    store_bytes: Option<u64>,
) -> Result<DrillReport> {
    let who = format!("drill {} on target {}", drill.name, target.name);
    remove_leftovers(bolt, &who, false).await;
    std::fs::create_dir_all(run.dir)
        .map_err(|e| Error::target(&who, format!("cannot create {}: {e}", run.dir.display())))?;
    // Nodes and relationships as gzip'd JSON: well below the store files' size.
    drill::check_disk(run.dir, store_bytes.unwrap_or(0), &who)?;
    let prefix = format!("{SCRATCH_PREFIX}{}_", drill::scratch_suffix());
    let how = format!(
        "every node of {} and every relationship from them exported through Bolt to gzip'd JSON Lines, imported into scratch labels {prefix}* of the same database, compared and deleted (Community Edition backs up only offline; this logical export runs online)",
        LABELS.join(", ")
    );
    let mut report = DrillReport::start(drill, run, how);
    report.source_bytes = store_bytes;
    let file = run.dir.join("graph.jsonl.gz");
    let mut steps = Steps::new();
    let labels: Vec<(String, String)> = LABELS
        .iter()
        .map(|l| (l.to_string(), scratch_label(&prefix, l)))
        .collect();

    let outcome = async {
        let source = steps
            .run("fingerprint source", async {
                let p = fingerprint(bolt, &labels, false)
                    .await
                    .map_err(|e| e.to_string())?;
                let nodes: u64 = p.0.values().map(|x| x.count).sum();
                Ok((
                    p.clone(),
                    None,
                    format!("{nodes} nodes, {} relationships", p.1.count),
                ))
            })
            .await?;
        steps
            .run("backup", async {
                let (n, r) = write_export(bolt, &file).await?;
                let bytes = std::fs::metadata(&file).map_err(|e| e.to_string())?.len();
                Ok(((), Some(bytes), format!("{n} nodes, {r} relationships")))
            })
            .await?;
        report.backup_bytes = std::fs::metadata(&file).ok().map(|m| m.len());
        if drill.inject == Some(drill::Fault::TruncateBackup) {
            let len =
                drill::truncate_half(&file).map_err(|e| format!("planting the fault: {e}"))?;
            steps.steps.push(drill::DrillStep {
                step: "plant fault".into(),
                seconds: 0.0,
                bytes: Some(len),
                ok: true,
                detail: "export truncated to half its length (inject = \"truncate_backup\")".into(),
            });
        }
        steps
            .run("restore", async {
                let (n, r) = import(bolt, &file, &prefix).await?;
                Ok(((), None, format!("{n} nodes, {r} relationships")))
            })
            .await?;
        let ready = steps
            .run("ready", async {
                let mut short = Vec::new();
                for (label, scratch) in &labels {
                    let got = count(bolt, scratch).await.map_err(|e| e.to_string())?;
                    let want = source.0.get(label).map_or(0, |p| p.count);
                    if got != want {
                        short.push(format!("{label}: {got} nodes of {want}"));
                    }
                }
                if short.is_empty() {
                    Ok(((), None, format!("{} labels answer", labels.len())))
                } else {
                    Err(format!(
                        "restored copy is not complete: {}",
                        short.join(", ")
                    ))
                }
            })
            .await;
        report.rto_s = steps.seconds(&["restore", "ready"]);
        ready?;
        let copy = steps
            .run("verify", async {
                let p = fingerprint(bolt, &labels, true)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok((p, None, String::new()))
            })
            .await?;
        report.integrity = compare(&source, &copy);
        Ok::<(), String>(())
    }
    .await;

    let deleted = delete_scratch(bolt, &labels).await;
    if let Err(e) = &deleted {
        tracing::warn!("{who}: could not delete the scratch labels {prefix}*: {e}");
    }
    let removed = drill.keep_backup || std::fs::remove_file(&file).is_ok() || !file.exists();
    report.cleaned_up = deleted.is_ok() && removed;
    report.backup_s = steps.seconds(&["backup"]);
    report.restore_s = steps.seconds(&["restore"]);
    report.steps = steps.steps;
    report.failure = outcome.err();
    Ok(report)
}

type Fingerprint = (std::collections::BTreeMap<String, Print>, Print);

/// Per source label, its nodes' properties; and the relationships from them (type, both
/// endpoints by source id, properties). `scratch`: read the scratch labels, whose nodes name
/// their source node in [`SOURCE_ID`].
async fn fingerprint(
    bolt: &Bolt,
    labels: &[(String, String)],
    scratch: bool,
) -> std::result::Result<Fingerprint, neo4rs::Error> {
    let mut nodes = std::collections::BTreeMap::new();
    let mut rels = Print::default();
    for (label, scratch_label) in labels {
        let l = if scratch { scratch_label } else { label };
        let mut p = Print::default();
        let mut s = bolt
            .execute(query(&format!("MATCH (n:{l}) RETURN properties(n) AS p")))
            .await?;
        while let Some(row) = s.next().await? {
            let mut v: Value = row.get("p").map_err(neo4rs::Error::DeserializationError)?;
            if let Value::Object(m) = &mut v {
                m.remove(SOURCE_ID);
            }
            p.add(&v);
        }
        nodes.insert(label.clone(), p);
        let ends = if scratch {
            format!("a.{SOURCE_ID} AS a, b.{SOURCE_ID} AS b")
        } else {
            "elementId(a) AS a, elementId(b) AS b".to_string()
        };
        let mut s = bolt
            .execute(query(&format!(
                "MATCH (a:{l})-[r]->(b) RETURN type(r) AS t, {ends}, properties(r) AS p"
            )))
            .await?;
        while let Some(row) = s.next().await? {
            let item = serde_json::json!({
                "t": row.get::<String>("t").map_err(neo4rs::Error::DeserializationError)?,
                "a": row.get::<String>("a").map_err(neo4rs::Error::DeserializationError)?,
                "b": row.get::<String>("b").map_err(neo4rs::Error::DeserializationError)?,
                "p": row.get::<Value>("p").map_err(neo4rs::Error::DeserializationError)?,
            });
            rels.add(&item);
        }
    }
    Ok((nodes, rels))
}

fn compare(source: &Fingerprint, copy: &Fingerprint) -> Integrity {
    let mut differences = Vec::new();
    for (label, s) in &source.0 {
        let c = copy.0.get(label).cloned().unwrap_or_default();
        if c.count != s.count {
            differences.push(format!(
                "{label}: {} nodes restored, {} in the source",
                c.count, s.count
            ));
        } else if c.sum != s.sum {
            differences.push(format!(
                "{label}: same {} nodes but different properties (hash sums differ)",
                s.count
            ));
        }
    }
    let (s, c) = (&source.1, &copy.1);
    if c.count != s.count {
        differences.push(format!(
            "relationships: {} restored, {} in the source",
            c.count, s.count
        ));
    } else if c.sum != s.sum {
        differences.push(format!(
            "relationships: same {} but different types, endpoints or properties",
            s.count
        ));
    }
    let nodes: u64 = source.0.values().map(|p| p.count).sum();
    Integrity::of(
        format!(
            "{nodes} nodes of {} labels and {} relationships: count and the sum of SHA-256 of each node's properties and each relationship's type, endpoints and properties",
            source.0.len(),
            s.count
        ),
        nodes + s.count,
        differences,
    )
}

async fn write_export(bolt: &Bolt, file: &Path) -> std::result::Result<(u64, u64), String> {
    let f = std::fs::File::create(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut out =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(f), flate2::Compression::default());
    let (mut n, mut r) = (0u64, 0u64);
    let io = |e: std::io::Error| e.to_string();
    for label in LABELS {
        let mut s = bolt
            .execute(query(&format!(
                "MATCH (n:{label}) RETURN elementId(n) AS id, properties(n) AS p"
            )))
            .await
            .map_err(|e| e.to_string())?;
        while let Some(row) = s.next().await.map_err(|e| e.to_string())? {
            let line = serde_json::json!({
                "n": label,
                "id": row.get::<String>("id").map_err(|e| e.to_string())?,
                "p": row.get::<Value>("p").map_err(|e| e.to_string())?,
            });
            writeln!(out, "{line}").map_err(io)?;
            n += 1;
        }
    }
    for label in LABELS {
        let mut s = bolt
            .execute(query(&format!(
                "MATCH (a:{label})-[r]->(b) RETURN type(r) AS t, elementId(a) AS a, elementId(b) AS b, properties(r) AS p"
            )))
            .await
            .map_err(|e| e.to_string())?;
        while let Some(row) = s.next().await.map_err(|e| e.to_string())? {
            let line = serde_json::json!({
                "r": row.get::<String>("t").map_err(|e| e.to_string())?,
                "a": row.get::<String>("a").map_err(|e| e.to_string())?,
                "b": row.get::<String>("b").map_err(|e| e.to_string())?,
                "p": row.get::<Value>("p").map_err(|e| e.to_string())?,
            });
            writeln!(out, "{line}").map_err(io)?;
            r += 1;
        }
    }
    out.finish()
        .and_then(|mut w| w.flush())
        .map_err(|e| format!("writing {}: {e}", file.display()))?;
    Ok((n, r))
}

fn bolt(v: &Value) -> BoltType {
    match v {
        Value::Null => BoltType::Null(neo4rs::BoltNull),
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().unwrap_or(f64::NAN).into(),
        },
        Value::String(s) => s.as_str().into(),
        Value::Array(a) => a.iter().map(bolt).collect::<Vec<BoltType>>().into(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), bolt(v)))
            .collect::<HashMap<String, BoltType>>()
            .into(),
    }
}

/// Reads the export back into scratch labels: nodes first (remembering their new ids), then
/// relationships between the new nodes.
async fn import(
    bolt_db: &Bolt,
    file: &Path,
    prefix: &str,
) -> std::result::Result<(u64, u64), String> {
    let f = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(f));
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut nodes: HashMap<String, Vec<BoltType>> = HashMap::new();
    let mut rels: HashMap<String, Vec<(String, String, BoltType)>> = HashMap::new();
    let (mut n, mut r) = (0u64, 0u64);
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| format!("reading the export at line {}: {e}", i + 1))?;
        let v: Value = serde_json::from_str(&line)
            .map_err(|e| format!("the export's line {} is not JSON: {e}", i + 1))?;
        let bad = || format!("the export's line {} is not a node or relationship", i + 1);
        if let Some(label) = v.get("n").and_then(Value::as_str) {
            if !LABELS.contains(&label) {
                return Err(bad());
            }
            let id = v.get("id").and_then(Value::as_str).ok_or_else(bad)?;
            let mut m: HashMap<String, BoltType> = HashMap::new();
            m.insert("id".into(), id.into());
            m.insert("p".into(), bolt(v.get("p").unwrap_or(&Value::Null)));
            let batch = nodes.entry(label.to_string()).or_default();
            batch.push(m.into());
            if batch.len() >= BATCH {
                let rows_ = std::mem::take(batch);
                n += create_nodes(bolt_db, &scratch_label(prefix, label), rows_, &mut ids).await?;
            }
        } else if let Some(t) = v.get("r").and_then(Value::as_str) {
            let (Some(a), Some(b)) = (
                v.get("a").and_then(Value::as_str),
                v.get("b").and_then(Value::as_str),
            ) else {
                return Err(bad());
            };
            if !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(bad());
            }
            rels.entry(t.to_string()).or_default().push((
                a.to_string(),
                b.to_string(),
                bolt(v.get("p").unwrap_or(&Value::Null)),
            ));
        } else {
            return Err(bad());
        }
    }
    for (label, batch) in nodes {
        n += create_nodes(bolt_db, &scratch_label(prefix, &label), batch, &mut ids).await?;
    }
    for (t, list) in rels {
        for chunk in list.chunks(BATCH) {
            let mut batch = Vec::with_capacity(chunk.len());
            for (a, b, p) in chunk {
                let (Some(na), Some(nb)) = (ids.get(a), ids.get(b)) else {
                    return Err(format!(
                        "a {t} relationship's endpoint is not among the exported nodes"
                    ));
                };
                let mut m: HashMap<String, BoltType> = HashMap::new();
                m.insert("a".into(), na.as_str().into());
                m.insert("b".into(), nb.as_str().into());
                m.insert("p".into(), p.clone());
                batch.push(BoltType::from(m));
            }
            bolt_db
                .run(query(&format!(
                    "UNWIND $rows AS r MATCH (a) WHERE elementId(a) = r.a MATCH (b) WHERE elementId(b) = r.b CREATE (a)-[x:{t}]->(b) SET x = r.p"
                )).param("rows", batch))
                .await
                .map_err(|e| format!("restoring {t} relationships: {e}"))?;
            r += chunk.len() as u64;
        }
    }
    Ok((n, r))
}

async fn create_nodes(
    bolt: &Bolt,
    label: &str,
    batch: Vec<BoltType>,
    ids: &mut HashMap<String, String>,
) -> std::result::Result<u64, String> {
    let n = batch.len() as u64;
    let got = rows(
        bolt,
        query(&format!(
            "UNWIND $rows AS r CREATE (n:{label}) SET n = r.p, n.{SOURCE_ID} = r.id RETURN r.id AS s, elementId(n) AS e"
        ))
        .param("rows", batch),
    )
    .await
    .map_err(|e| format!("restoring {label} nodes: {e}"))?;
    for row in got {
        let s: String = row.get("s").map_err(|e| e.to_string())?;
        let e: String = row.get("e").map_err(|e| e.to_string())?;
        ids.insert(s, e);
    }
    Ok(n)
}

async fn count(bolt: &Bolt, label: &str) -> std::result::Result<u64, neo4rs::Error> {
    let r = rows(
        bolt,
        query(&format!("MATCH (n:{label}) RETURN count(n) AS c")),
    )
    .await?;
    Ok(r.first()
        .and_then(|r| r.get::<i64>("c").ok())
        .unwrap_or(0)
        .max(0) as u64)
}

/// Deletes every node (and its relationships) of the scratch labels, in batches.
async fn delete_scratch(
    bolt: &Bolt,
    labels: &[(String, String)],
) -> std::result::Result<(), neo4rs::Error> {
    for (_, scratch) in labels {
        delete_label(bolt, scratch).await?;
    }
    Ok(())
}

async fn delete_label(bolt: &Bolt, label: &str) -> std::result::Result<(), neo4rs::Error> {
    debug_assert!(label.starts_with(SCRATCH_PREFIX));
    loop {
        let r = rows(
            bolt,
            query(&format!(
                "MATCH (n:{label}) WITH n LIMIT 10000 DETACH DELETE n RETURN count(*) AS c"
            )),
        )
        .await?;
        if r.first().and_then(|r| r.get::<i64>("c").ok()).unwrap_or(0) == 0 {
            return Ok(());
        }
    }
}

/// Scratch labels an earlier drill left (its process was killed before deleting them).
pub(super) async fn remove_leftovers(bolt: &Bolt, who: &str, own: bool) {
    let Ok(labels) = rows(bolt, query("CALL db.labels() YIELD label RETURN label")).await else {
        return;
    };
    for row in labels {
        let Ok(label) = row.get::<String>("label") else {
            continue;
        };
        let ours = label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ours && drill::stale(&label, SCRATCH_PREFIX, own) {
            match delete_label(bolt, &label).await {
                Ok(()) => {
                    tracing::warn!("{who}: deleted scratch label {label}, left by an earlier drill")
                }
                Err(e) => {
                    tracing::warn!("{who}: scratch label {label} left by an earlier drill: {e}")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_key_order_and_item_order() {
        let a = serde_json::json!({"x": 1, "y": {"b": 2, "a": [1, "s"]}});
        let b: Value = serde_json::from_str(r#"{"y": {"a": [1, "s"], "b": 2}, "x": 1}"#).unwrap();
        assert_eq!(drill::canonical_json(&a), drill::canonical_json(&b));
        let (mut p, mut q) = (Print::default(), Print::default());
        for v in [&a, &serde_json::json!({"x": 2})] {
            p.add(v);
        }
        for v in [&serde_json::json!({"x": 2}), &b] {
            q.add(v);
        }
        assert_eq!(p, q);
        q.add(&serde_json::json!({"x": 3}));
        assert_ne!(p, q);
        assert_eq!(
            scratch_label("TunebenchRestore_9_0_", "TunebenchUser"),
            "TunebenchRestore_9_0_User"
        );
    }
}
