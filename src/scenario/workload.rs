//! Reusable workload definitions (`workloads/*.toml`): which store a file is for, then that
//! store's own loader (`backend::<store>::spec::load_ops`) reads its ops.

use std::path::Path;

use serde::Deserialize;

use crate::backend::{TargetKind, WorkloadDef};
use crate::error::{Error, Result};
use crate::source::SourceFile;

#[derive(Debug, Deserialize)]
struct StoreOnly {
    store: TargetKind,
}

pub fn load(path: &Path) -> Result<WorkloadDef> {
    let src = SourceFile::read(path)?;
    let store = toml::from_str::<StoreOnly>(&src.text)
        .map_err(|_| {
            Error::input(src.issue(
                "store",
                "is missing or unknown; valid: postgres, neo4j, s3, http, qdrant",
            ))
        })?
        .store;
    let def = store.load_ops(&src)?;
    if def.ops.is_empty() {
        return Err(Error::input(
            src.issue("ops", "define at least one op, e.g. [ops.lookup] ..."),
        ));
    }
    Ok(def)
}
