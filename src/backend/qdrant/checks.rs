//! Configuration checks of a Qdrant target, read from its collections.

use super::Engine;

/// Configuration checks on the datasets' collections, read from the engine.
pub(super) async fn check_collections(
    engine: &Engine,
    kind: &crate::backend::checks::CheckKind,
    collections: &[String],
) -> std::result::Result<crate::backend::facts::CheckOutcome, String> {
    use crate::backend::checks::CheckKind;
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
            CheckKind::Hnsw {
                m: want_m,
                ef_construct,
            } => (
                m.m == *want_m && m.ef_construct == *ef_construct,
                format!("{c}: m = {}, ef_construct = {}", m.m, m.ef_construct),
            ),
            CheckKind::Int8Quantization => (
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
            other => {
                return Ok(CheckOutcome::not_evaluated(format!(
                    "`{}` is not a Qdrant check",
                    other.expected()
                )));
            }
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
