//! The journal kept on the Neo4j server too, so a run from another machine sees a profile
//! left applied and can revert it: one node `(:tunebench_Journal {key, entry, written_at})`
//! per target (its name in the scenario that applied the profile), written with the cache
//! journal before each change and deleted by the revert that restores it. `entry` is the
//! journal entry as JSON text.

use neo4rs::{Graph as Bolt, query};

use super::{rows, target_error};
use crate::backend::journal::Entry;
use crate::backend::model::Target;
use crate::error::Result;

/// Writes (replaces) the entry under `key`, before the change it announces.
pub async fn put(bolt: &Bolt, target: &Target, key: &str, entry: &Entry) -> Result<()> {
    let what =
        "writing the journal to the server (a tunebench_Journal node) before changing anything";
    let json = serde_json::to_string(entry).map_err(|e| target_error(target, what, e))?;
    bolt.run(
        query("MERGE (j:tunebench_Journal {key: $key}) SET j.entry = $entry, j.written_at = datetime()")
            .param("key", key)
            .param("entry", json),
    )
    .await
    .map_err(|e| target_error(target, what, e))
}

/// Removes the entry under `key` (none is fine).
pub async fn delete(bolt: &Bolt, key: &str) -> std::result::Result<(), neo4rs::Error> {
    bolt.run(query("MATCH (j:tunebench_Journal {key: $key}) DELETE j").param("key", key))
        .await
}

/// Every entry on the server. An entry this version cannot read is reported as one that
/// cannot be reverted automatically, never dropped.
pub async fn list(
    bolt: &Bolt,
) -> std::result::Result<Vec<std::result::Result<Entry, String>>, neo4rs::Error> {
    let found = rows(
        bolt,
        query(
            "MATCH (j:tunebench_Journal) RETURN j.key AS key, j.entry AS entry ORDER BY j.written_at",
        ),
    )
    .await?;
    Ok(found
        .iter()
        .map(|r| {
            let key = r.get::<String>("key").unwrap_or_default();
            r.get::<String>("entry")
                .map_err(|e| e.to_string())
                .and_then(|text| serde_json::from_str::<Entry>(&text).map_err(|e| e.to_string()))
                .map_err(|e| {
                    format!("the tunebench_Journal node {key:?} is not a journal entry this tunebench reads ({e}); restore that target's profile by hand, then delete the node")
                })
        })
        .collect())
}
