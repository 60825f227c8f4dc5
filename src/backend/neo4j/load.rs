//! Loads the graph in UNWIND batches. A manifest node records the spec hash: an identical,
//! complete graph is reused; a graph under our labels without a manifest was not created by
//! tunebench and is refused, never touched.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use neo4rs::{BoltType, Graph as Bolt, query};

use super::{rows, target_error};
use crate::backend::facts::DatasetReport;
use crate::backend::model::{Dataset, Target};
use crate::dataset::Graph;
use crate::dataset::graph::{DOCUMENT, ENTITY, LABELS, MANIFEST, TOPIC, USER};
use crate::error::Result;

struct Manifest {
    hash: String,
    complete: bool,
    relationships: i64,
}

pub async fn prepare(
    bolt: &Bolt,
    target: &Target,
    dataset: &Dataset,
    graph: &Graph,
) -> Result<DatasetReport> {
    let err = |what: &str, e: neo4rs::Error| target_error(target, what, e);
    let hash = graph.spec().hash();
    let manifest = read_manifest(bolt)
        .await
        .map_err(|e| err("reading the manifest", e))?;
    let counts = count_graph(bolt)
        .await
        .map_err(|e| err("counting nodes", e))?;
    match &manifest {
        Some(m) if m.hash == hash && m.complete && counts == expected_counts(graph) => {
            tracing::info!("dataset {}: identical graph already loaded", dataset.name);
            let mut counts = counts;
            counts.insert("relationships".into(), m.relationships.max(0) as u64);
            return Ok(report(dataset, graph, false, counts, None, BTreeMap::new()));
        }
        _ if dataset.reuse_only => dataset.may_load()?,
        Some(m) => {
            tracing::info!(
                "dataset {}: replacing tunebench graph {} (complete: {})",
                dataset.name,
                m.hash,
                m.complete
            );
            clear(bolt)
                .await
                .map_err(|e| err("removing the previous tunebench graph", e))?;
        }
        None => {
            if let Some((label, n)) = counts.iter().find(|(_, n)| **n > 0) {
                return Err(target_error(
                    target,
                    "preparing the graph",
                    format!(
                        "label {label} already holds {n} node(s) and there is no {MANIFEST} node, so tunebench did not create them; it leaves them untouched. Remove them yourself or point the target at another database."
                    ),
                ));
            }
        }
    }

    let started = Instant::now();
    bolt.run(
        query("CREATE (:TunebenchManifest {spec_hash: $h, dataset: $d, complete: false, created_by: 'tunebench'})")
            .param("h", hash.as_str())
            .param("d", dataset.name.as_str()),
    )
    .await
    .map_err(|e| err("writing the manifest", e))?;

    let spec = graph.spec();
    let batch = spec.batch_size as usize;
    let mut ids: HashMap<&str, Vec<String>> = HashMap::new();
    let node_started = Instant::now();
    let users = load_nodes(bolt, USER, spec.users, batch, |i| {
        let u = graph.user(i);
        row([
            ("k", i.into()),
            ("uid", u.uid.into()),
            ("handle", u.handle.into()),
            ("name", u.name.into()),
            ("city", u.city.into()),
            ("joined", u.joined.into()),
        ])
    })
    .await
    .map_err(|e| err("loading users", e))?;
    ids.insert(USER, users);
    let docs = load_nodes(bolt, DOCUMENT, spec.documents, batch, |i| {
        let d = graph.document(i);
        row([
            ("k", i.into()),
            ("doc_id", d.doc_id.into()),
            ("title", d.title.into()),
            ("year", d.year.into()),
        ])
    })
    .await
    .map_err(|e| err("loading documents", e))?;
    ids.insert(DOCUMENT, docs);
    let topics = load_nodes(bolt, TOPIC, spec.topics, batch, |i| {
        row([("k", i.into()), ("name", graph.topic(i).into())])
    })
    .await
    .map_err(|e| err("loading topics", e))?;
    ids.insert(TOPIC, topics);
    let entities = load_nodes(bolt, ENTITY, spec.entities, batch, |i| {
        let (name, kind) = graph.entity(i);
        row([
            ("k", i.into()),
            ("name", name.into()),
            ("kind", kind.into()),
        ])
    })
    .await
    .map_err(|e| err("loading entities", e))?;
    ids.insert(ENTITY, entities);
    let node_secs = node_started.elapsed().as_secs_f64();

    let rel_started = Instant::now();
    let mut rels: u64 = 0;
    let mut pending: Vec<(String, String)> = Vec::with_capacity(batch * 2);
    let (u, d, t, e) = (&ids[USER], &ids[DOCUMENT], &ids[TOPIC], &ids[ENTITY]);
    let rel_batch = batch * 2;
    for uid in 0..spec.users as i64 {
        for f in graph.follows(uid) {
            pending.push((u[uid as usize].clone(), u[f as usize].clone()));
        }
        if pending.len() >= rel_batch {
            rels += flush(bolt, "FOLLOWS", &mut pending)
                .await
                .map_err(|e| err("loading FOLLOWS", e))?;
        }
    }
    rels += flush(bolt, "FOLLOWS", &mut pending)
        .await
        .map_err(|e| err("loading FOLLOWS", e))?;
    // Documents are generated once and their three edge kinds queued side by side.
    let mut authored = Vec::new();
    let mut mentions = Vec::new();
    let mut tagged = Vec::new();
    for doc in 0..spec.documents as i64 {
        let dn = graph.document(doc);
        let dk = &d[doc as usize];
        authored.push((u[dn.author as usize].clone(), dk.clone()));
        for m in dn.mentions {
            mentions.push((dk.clone(), e[m as usize].clone()));
        }
        for tp in dn.topics {
            tagged.push((dk.clone(), t[tp as usize].clone()));
        }
        for (ty, q) in [
            ("AUTHORED", &mut authored),
            ("MENTIONS", &mut mentions),
            ("TAGGED", &mut tagged),
        ] {
            if q.len() >= rel_batch {
                rels += flush(bolt, ty, q)
                    .await
                    .map_err(|e| err("loading relationships", e))?;
            }
        }
    }
    for (ty, q) in [
        ("AUTHORED", &mut authored),
        ("MENTIONS", &mut mentions),
        ("TAGGED", &mut tagged),
    ] {
        rels += flush(bolt, ty, q)
            .await
            .map_err(|e| err("loading relationships", e))?;
    }
    let rel_secs = rel_started.elapsed().as_secs_f64();

    let nodes = spec.nodes();
    bolt.run(
        query(
            "MATCH (m:TunebenchManifest) SET m.complete = true, m.nodes = $n, m.relationships = $r",
        )
        .param("n", nodes as i64)
        .param("r", rels as i64),
    )
    .await
    .map_err(|e| err("completing the manifest", e))?;
    let seconds = started.elapsed().as_secs_f64();
    let mut rates = BTreeMap::new();
    rates.insert(
        "nodes_per_s".to_string(),
        nodes as f64 / node_secs.max(1e-9),
    );
    rates.insert(
        "relationships_per_s".to_string(),
        rels as f64 / rel_secs.max(1e-9),
    );
    tracing::info!(
        "dataset {}: {nodes} nodes in {node_secs:.1} s ({:.0}/s), {rels} relationships in {rel_secs:.1} s ({:.0}/s)",
        dataset.name,
        rates["nodes_per_s"],
        rates["relationships_per_s"]
    );
    let mut counts = count_graph(bolt)
        .await
        .map_err(|e| err("counting nodes", e))?;
    counts.insert("relationships".into(), rels);
    Ok(report(dataset, graph, true, counts, Some(seconds), rates))
}

fn row<const N: usize>(fields: [(&str, BoltType); N]) -> BoltType {
    let map: HashMap<String, BoltType> = fields
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    map.into()
}

/// Creates `n` nodes of `label` in batches; returns their element ids by key.
async fn load_nodes(
    bolt: &Bolt,
    label: &str,
    n: u64,
    batch: usize,
    make: impl Fn(i64) -> BoltType,
) -> std::result::Result<Vec<String>, neo4rs::Error> {
    let mut ids = vec![String::new(); n as usize];
    // All properties except the batch key `k` are set from the row.
    let cypher = format!(
        "UNWIND $rows AS r CREATE (n:{label}) SET n = r REMOVE n.k RETURN r.k AS k, elementId(n) AS e"
    );
    let mut start = 0u64;
    while start < n {
        let end = (start + batch as u64).min(n);
        let batch_rows: Vec<BoltType> = (start..end).map(|i| make(i as i64)).collect();
        for r in rows(bolt, query(&cypher).param("rows", batch_rows)).await? {
            let k: i64 = r.get("k").map_err(neo4rs::Error::DeserializationError)?;
            ids[k as usize] = r.get("e").map_err(neo4rs::Error::DeserializationError)?;
        }
        start = end;
    }
    Ok(ids)
}

async fn flush(
    bolt: &Bolt,
    rel: &str,
    pending: &mut Vec<(String, String)>,
) -> std::result::Result<u64, neo4rs::Error> {
    if pending.is_empty() {
        return Ok(0);
    }
    let n = pending.len() as u64;
    let batch: Vec<BoltType> = pending
        .drain(..)
        .map(|(a, b)| row([("a", a.into()), ("b", b.into())]))
        .collect();
    // Element-id seeks need no index, so the baseline stays index-free.
    let cypher = format!(
        "UNWIND $rows AS r MATCH (a) WHERE elementId(a) = r.a MATCH (b) WHERE elementId(b) = r.b CREATE (a)-[:{rel}]->(b)"
    );
    bolt.run(query(&cypher).param("rows", batch)).await?;
    Ok(n)
}

async fn read_manifest(bolt: &Bolt) -> std::result::Result<Option<Manifest>, neo4rs::Error> {
    let r = rows(
        bolt,
        query("MATCH (m:TunebenchManifest) RETURN m.spec_hash AS h, coalesce(m.complete, false) AS c, coalesce(m.relationships, 0) AS r LIMIT 1"),
    )
    .await?;
    Ok(r.first().map(|r| Manifest {
        hash: r.get("h").unwrap_or_default(),
        complete: r.get("c").unwrap_or(false),
        relationships: r.get("r").unwrap_or(0),
    }))
}

/// Node counts per label (the count store answers these without a scan).
pub async fn count_graph(bolt: &Bolt) -> std::result::Result<BTreeMap<String, u64>, neo4rs::Error> {
    let mut out = BTreeMap::new();
    for label in LABELS {
        let r = rows(
            bolt,
            query(&format!("MATCH (n:{label}) RETURN count(n) AS c")),
        )
        .await?;
        let c: i64 = r.first().and_then(|r| r.get("c").ok()).unwrap_or(0);
        out.insert(label.to_string(), c as u64);
    }
    Ok(out)
}

fn expected_counts(graph: &Graph) -> BTreeMap<String, u64> {
    let s = graph.spec();
    [
        (USER, s.users),
        (DOCUMENT, s.documents),
        (TOPIC, s.topics),
        (ENTITY, s.entities),
    ]
    .into_iter()
    .map(|(l, n)| (l.to_string(), n))
    .collect()
}

/// Removes the graph a manifest says tunebench created, in bounded transactions.
async fn clear(bolt: &Bolt) -> std::result::Result<(), neo4rs::Error> {
    for label in LABELS {
        loop {
            let r = rows(
                bolt,
                query(&format!(
                    "MATCH (n:{label}) WITH n LIMIT 5000 DETACH DELETE n RETURN count(*) AS c"
                )),
            )
            .await?;
            let c: i64 = r.first().and_then(|r| r.get("c").ok()).unwrap_or(0);
            if c == 0 {
                break;
            }
        }
    }
    bolt.run(query("MATCH (m:TunebenchManifest) DELETE m"))
        .await
}

fn report(
    dataset: &Dataset,
    graph: &Graph,
    loaded: bool,
    mut counts: BTreeMap<String, u64>,
    seconds: Option<f64>,
    load_rates: BTreeMap<String, f64>,
) -> DatasetReport {
    let nodes: u64 = LABELS
        .iter()
        .map(|l| counts.get(*l).copied().unwrap_or(0))
        .sum();
    counts.insert("nodes".into(), nodes);
    let total = nodes + counts.get("relationships").copied().unwrap_or(0);
    DatasetReport {
        name: dataset.name.clone(),
        target: dataset.target.clone(),
        schema: dataset.spec.namespace().to_string(),
        spec_hash: graph.spec().hash(),
        loaded,
        rows: counts,
        load_seconds: seconds,
        load_rows_per_s: seconds.map(|s| total as f64 / s.max(1e-9)),
        term_bands: Vec::new(),
        load_rates,
    }
}
