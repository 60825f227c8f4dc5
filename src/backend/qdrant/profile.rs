//! Qdrant profiles as collection config: what a profile asks for on top of what the
//! collection has, and how the change is reported.

use super::{ManagedConfig, Quantization, SearchSpec};
use crate::backend::facts::SettingChange;
use crate::backend::qdrant::spec::QdrantProfile;

/// The profile's config on top of what the collection has.
pub fn wanted(before: &ManagedConfig, p: &QdrantProfile) -> ManagedConfig {
    let h = p.hnsw.unwrap_or_default();
    ManagedConfig {
        m: h.m.unwrap_or(before.m),
        ef_construct: h.ef_construct.unwrap_or(before.ef_construct),
        full_scan_threshold: h.full_scan_threshold.unwrap_or(before.full_scan_threshold),
        indexing_threshold: p
            .optimizers
            .and_then(|o| o.indexing_threshold)
            .unwrap_or(before.indexing_threshold),
        quantization: match p.quantization {
            Some(q) => Some(Quantization {
                quantile: q.quantile,
                always_ram: q.always_ram,
            }),
            None => before.quantization,
        },
    }
}

pub fn search_spec(p: &QdrantProfile) -> SearchSpec {
    SearchSpec {
        hnsw_ef: p.search.hnsw_ef,
        exact: p.search.exact,
        rescore: p.search.rescore,
        oversampling: p.search.oversampling,
    }
}

/// One change per managed field that differs, plus the search parameters the profile sends.
pub fn setting_changes(
    before: &ManagedConfig,
    after: &ManagedConfig,
    search: &SearchSpec,
) -> Vec<SettingChange> {
    let mut settings: Vec<SettingChange> = before
        .fields()
        .into_iter()
        .zip(after.fields())
        .filter(|(b, a)| b.1 != a.1)
        .map(|(b, a)| SettingChange {
            name: a.0.into(),
            requested: a.1.clone(),
            before: b.1,
            after: a.1,
            context: "collection".into(),
        })
        .collect();
    for (name, value) in [
        ("search.hnsw_ef", search.hnsw_ef.map(|v| v.to_string())),
        ("search.exact", search.exact.then(|| "true".to_string())),
        (
            "search.quantization.rescore",
            search.rescore.map(|v| v.to_string()),
        ),
        (
            "search.quantization.oversampling",
            search.oversampling.map(|v| v.to_string()),
        ),
    ] {
        if let Some(v) = value {
            settings.push(SettingChange {
                name: name.into(),
                requested: v.clone(),
                before: "engine default".into(),
                after: v,
                context: "search request".into(),
            });
        }
    }
    settings
}
