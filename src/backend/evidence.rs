//! Server-side evidence, by store: one arm per store, each defined in the store's folder.

use serde::{Deserialize, Serialize};

use super::facts::PlanCapture;
use super::http::HttpEvidence;
use super::neo4j::NeoEvidence;
use super::postgres::PgEvidence;
use super::qdrant::QdrantEvidence;
use super::s3::S3Evidence;

/// Server-side evidence per target, by store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "store", rename_all = "lowercase")]
pub enum Evidence {
    Postgres(PgEvidence),
    Neo4j(NeoEvidence),
    S3(S3Evidence),
    Http(HttpEvidence),
    Qdrant(QdrantEvidence),
}

/// What every store's evidence tells the report. A store implements it beside its evidence.
pub trait StoreEvidence {
    /// Plans captured before measuring (stores without plans have none).
    fn plans(&self) -> &[PlanCapture] {
        &[]
    }

    /// Vectors indexed per second (index build included), where the store measured it.
    fn index_vectors_per_s(&self) -> Option<f64> {
        None
    }

    /// What was captured, as (metric, value) lines for the report's Monitoring section.
    fn monitoring(&self) -> Vec<(String, String)>;
}

impl Evidence {
    /// This evidence as what every store's evidence tells: one line per store.
    fn of_store(&self) -> &dyn StoreEvidence {
        match self {
            Evidence::Postgres(e) => e,
            Evidence::Neo4j(e) => e,
            Evidence::S3(e) => e,
            Evidence::Http(e) => e,
            Evidence::Qdrant(e) => e,
        }
    }

    pub fn plans(&self) -> &[PlanCapture] {
        self.of_store().plans()
    }

    pub fn index_vectors_per_s(&self) -> Option<f64> {
        self.of_store().index_vectors_per_s()
    }

    pub fn monitoring(&self) -> Vec<(String, String)> {
        self.of_store().monitoring()
    }
}

macro_rules! evidence_from {
    ($($store:ty => $variant:ident),* $(,)?) => {
        $(impl From<$store> for Evidence {
            fn from(e: $store) -> Self {
                Evidence::$variant(e)
            }
        })*
    };
}
evidence_from!(
    PgEvidence => Postgres,
    NeoEvidence => Neo4j,
    S3Evidence => S3,
    HttpEvidence => Http,
    QdrantEvidence => Qdrant,
);
