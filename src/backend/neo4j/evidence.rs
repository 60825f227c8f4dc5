//! Neo4j readiness checks and server-side evidence: index usage (SHOW INDEXES readCount),
//! page cache hits and faults, store size on disk.

use std::collections::BTreeMap;
use std::path::Path;

use neo4rs::{Graph as Bolt, query};

use super::load::count_graph;
use super::rows;
use crate::dataset::Graph;
use serde::{Deserialize, Serialize};

use crate::backend::facts::{PlanCapture, ReadinessCheck};

/// Counters read around a measured phase.
pub struct NeoSnapshot {
    /// name -> (type, entity, readCount)
    indexes: BTreeMap<String, (String, String, i64)>,
    page_cache: Option<(i64, i64)>,
}

pub async fn readiness(
    bolt: &Bolt,
    target: &str,
    graph: &Graph,
    expected: &[String],
) -> std::result::Result<Vec<ReadinessCheck>, neo4rs::Error> {
    let mut checks = Vec::new();
    let counts = count_graph(bolt).await?;
    let s = graph.spec();
    for (label, n) in [
        (crate::dataset::graph::USER, s.users),
        (crate::dataset::graph::DOCUMENT, s.documents),
        (crate::dataset::graph::TOPIC, s.topics),
        (crate::dataset::graph::ENTITY, s.entities),
    ] {
        let actual = counts.get(label).copied().unwrap_or(0);
        checks.push(ReadinessCheck {
            target: target.into(),
            check: format!("nodes :{label}"),
            expected: n.to_string(),
            actual: actual.to_string(),
            ok: actual == n,
        });
    }
    let m = rows(
        bolt,
        query(
            "MATCH (m:TunebenchManifest) RETURN coalesce(m.complete, false) AS c, m.spec_hash AS h",
        ),
    )
    .await?;
    let complete = m
        .first()
        .and_then(|r| r.get::<bool>("c").ok())
        .unwrap_or(false);
    let hash: String = m.first().and_then(|r| r.get("h").ok()).unwrap_or_default();
    checks.push(ReadinessCheck {
        target: target.into(),
        check: "manifest complete, same spec".into(),
        expected: s.hash(),
        actual: if complete {
            hash
        } else {
            format!("{hash} (incomplete)")
        },
        ok: complete
            && m.first()
                .is_some_and(|r| r.get::<String>("h").ok().as_deref() == Some(s.hash().as_str())),
    });
    let states = index_states(bolt).await?;
    for name in expected {
        let state = states.get(name).cloned().unwrap_or_else(|| "absent".into());
        checks.push(ReadinessCheck {
            target: target.into(),
            check: format!("index {name}"),
            expected: "ONLINE".into(),
            ok: state == "ONLINE",
            actual: state,
        });
    }
    Ok(checks)
}

/// Index name -> state (constraints' backing indexes carry the constraint's name).
pub async fn index_states(
    bolt: &Bolt,
) -> std::result::Result<BTreeMap<String, String>, neo4rs::Error> {
    Ok(rows(
        bolt,
        query("SHOW INDEXES YIELD name, state RETURN name, state"),
    )
    .await?
    .iter()
    .filter_map(|r| Some((r.get("name").ok()?, r.get("state").ok()?)))
    .collect())
}

impl NeoSnapshot {
    pub async fn take(bolt: &Bolt) -> std::result::Result<Self, neo4rs::Error> {
        let indexes = rows(
            bolt,
            query(
                "SHOW INDEXES YIELD name, type, entityType, labelsOrTypes, properties, readCount \
                 RETURN name, type, entityType, coalesce(labelsOrTypes, []) AS l, \
                 coalesce(properties, []) AS p, coalesce(readCount, 0) AS reads",
            ),
        )
        .await?
        .iter()
        .filter_map(|r| {
            let l: Vec<String> = r.get("l").unwrap_or_default();
            let p: Vec<String> = r.get("p").unwrap_or_default();
            let entity: String = r.get("entityType").unwrap_or_default();
            let on = if l.is_empty() {
                format!("all {entity}s")
            } else {
                format!(":{}({})", l.join("|"), p.join(", "))
            };
            Some((
                r.get("name").ok()?,
                (r.get("type").ok()?, on, r.get("reads").unwrap_or(0)),
            ))
        })
        .collect();
        Ok(NeoSnapshot {
            indexes,
            page_cache: page_cache(bolt).await,
        })
    }

    /// Adds the change since `before` to the evidence.
    pub fn accumulate_delta(&self, before: &NeoSnapshot, ev: &mut NeoEvidence) {
        for (name, (ty, entity, reads)) in &self.indexes {
            let prev = before.indexes.get(name).map_or(0, |b| b.2);
            let delta = (reads - prev).max(0);
            match ev.index_usage.iter_mut().find(|u| &u.name == name) {
                Some(u) => u.reads += delta,
                None => ev.index_usage.push(IndexUsage {
                    name: name.clone(),
                    index_type: ty.clone(),
                    entity: entity.clone(),
                    reads: delta,
                }),
            }
        }
        // Without measured-phase counters the PROFILE-based figures stand (see plans).
        if let (Some((h1, f1)), Some((h0, f0))) = (self.page_cache, before.page_cache) {
            if ev.page_cache_note.is_some() {
                ev.page_cache_note = None;
                ev.page_cache_hits = 0;
                ev.page_cache_faults = 0;
            }
            ev.page_cache_hits += (h1 - h0).max(0);
            ev.page_cache_faults += (f1 - f0).max(0);
            let all = ev.page_cache_hits + ev.page_cache_faults;
            ev.page_cache_hit_ratio = (all > 0).then(|| ev.page_cache_hits as f64 / all as f64);
        }
    }
}

/// Index hit ratio and (lacking server counters) page cache figures from the PROFILE plans.
pub fn plan_ratios(ev: &mut NeoEvidence) {
    let (mut index, mut scans) = (0u32, 0u32);
    for p in &ev.plans {
        for n in &p.nodes {
            let op = n.split_whitespace().next().unwrap_or("");
            if op.contains("Index") || (op == "ProcedureCall" && n.contains("db.index.fulltext")) {
                index += 1;
            } else if op == "NodeByLabelScan" || op == "AllNodesScan" {
                scans += 1;
            }
        }
    }
    ev.index_hit_ratio = (index + scans > 0).then(|| f64::from(index) / f64::from(index + scans));
    let measured = ev.page_cache_note.is_none() && ev.page_cache_hits + ev.page_cache_faults > 0;
    if !measured {
        let (h, m) = ev.plans.iter().fold((0, 0), |(h, m), p| {
            let (ph, pm) = super::bolt::page_cache(&p.plan);
            (h + ph, m + pm)
        });
        ev.page_cache_hits = h;
        ev.page_cache_faults = m;
        ev.page_cache_hit_ratio = (h + m > 0).then(|| h as f64 / (h + m) as f64);
        ev.page_cache_note = Some(if h + m > 0 {
            "over one PROFILE per operation: the server exposes no page cache counters (JMX)".into()
        } else {
            // Neo4j Community has no page cache JMX bean and its slotted runtime profiles
            // report no page cache hits or misses: say so rather than show a made-up ratio.
            "not available: this server exposes no page cache counters (no JMX bean; PROFILE reports none)".into()
        });
    }
}

/// Page cache (hits, faults) since start, from the server's JMX bean.
async fn page_cache(bolt: &Bolt) -> Option<(i64, i64)> {
    let r = rows(
        bolt,
        query(
            "CALL dbms.queryJmx('org.neo4j:*') YIELD name, attributes \
             WHERE name CONTAINS 'Page cache' \
             RETURN attributes.Hits.value AS hits, attributes.Faults.value AS faults",
        ),
    )
    .await
    .ok()?;
    let row = r.first()?;
    Some((row.get("hits").ok()?, row.get("faults").ok()?))
}

/// Bytes of the store files under a folder.
pub fn dir_bytes(path: &Path) -> Option<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(path).ok()? {
        let entry = entry.ok()?;
        let meta = entry.metadata().ok()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path()).unwrap_or(0)
        } else {
            meta.len()
        };
    }
    Some(total)
}

/// Neo4j evidence over the measured phases of one profile.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NeoEvidence {
    /// Page cache hits / (hits + faults): over the measured phases where the server exposes
    /// page cache counters (JMX), else over the captured PROFILE executions (see the note).
    pub page_cache_hit_ratio: Option<f64>,
    pub page_cache_hits: i64,
    pub page_cache_faults: i64,
    /// Where the page cache figures come from when not from measured-phase counters.
    pub page_cache_note: Option<String>,
    /// Index anchors / (index anchors + label or all-node scans) over the operators of the
    /// captured PROFILE plans: how many of the queries' starting points an index serves.
    pub index_hit_ratio: Option<f64>,
    /// SHOW INDEXES readCount deltas over the measured phases, per index. Neo4j updates
    /// readCount periodically, so a short phase may show fewer reads than it made.
    pub index_usage: Vec<IndexUsage>,
    /// Size of the database's store files on disk, bytes.
    pub store_bytes: Option<u64>,
    /// Indexes and constraints present while measuring (SHOW INDEXES / SHOW CONSTRAINTS).
    pub indexes_present: Vec<String>,
    pub constraints_present: Vec<String>,
    /// Operations that ran their fallback Cypher because the index they need was absent.
    pub fallbacks: Vec<String>,
    /// One PROFILE per operation: operators outermost first, db hits in `shared_hit`.
    pub plans: Vec<PlanCapture>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexUsage {
    pub name: String,
    /// RANGE, TEXT, FULLTEXT, LOOKUP, POINT, VECTOR.
    pub index_type: String,
    pub entity: String,
    pub reads: i64,
}

impl crate::backend::evidence::StoreEvidence for NeoEvidence {
    fn plans(&self) -> &[PlanCapture] {
        &self.plans
    }

    fn monitoring(&self) -> Vec<(String, String)> {
        let n = self;
        let mut rows = vec![
            (
                "page cache hit ratio".to_string(),
                match (n.page_cache_hit_ratio, &n.page_cache_note) {
                    (Some(r), None) => format!("{:.2} %", r * 100.0),
                    (Some(r), Some(note)) => format!("{:.2} % ({note})", r * 100.0),
                    (None, note) => note.clone().unwrap_or("n/a".into()),
                },
            ),
            (
                "index hit ratio (index anchors / all anchors, PROFILE)".to_string(),
                n.index_hit_ratio
                    .map_or("n/a".into(), |r| format!("{:.2} %", r * 100.0)),
            ),
            (
                "store size on disk".to_string(),
                n.store_bytes
                    .map_or("n/a".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0)),
            ),
            (
                "plans captured (PROFILE, db hits)".to_string(),
                n.plans.len().to_string(),
            ),
        ];
        for u in &n.index_usage {
            rows.push((
                format!("index reads: {} ({})", u.name, u.index_type),
                u.reads.to_string(),
            ));
        }
        for f in &n.fallbacks {
            rows.push(("ran fallback query".to_string(), f.clone()));
        }
        rows
    }
}
