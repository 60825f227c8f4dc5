//! The workers' side: one search per operation, judged for recall against exact ground truth.

use std::sync::Arc;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;

use super::store::QdrantData;
use super::{SearchSpec, Searcher};
use crate::dataset::vectors::FILTERS;
use crate::driver::{Done, Executor, OpError};
use crate::scenario::ParamGen;

/// Runs a workload's searches; each result is judged for recall inside the timed call
/// (k exact distances cost microseconds against a search of a millisecond or more).
pub struct QdrantExecutor {
    pub(super) searcher: Searcher,
    pub(super) data: Arc<QdrantData>,
    pub(super) ops: Arc<Vec<(ParamGen, usize)>>,
    pub(super) spec: SearchSpec,
    pub(super) k: usize,
    pub(super) timeout: Duration,
}

/// A drawn query: which held-out query, which filter (0 none), its vector.
pub struct QdrantParams {
    query: usize,
    filter: usize,
    vector: Vec<f32>,
}

impl Executor for QdrantExecutor {
    type Params = QdrantParams;

    fn draw(&mut self, op: usize, rng: &mut ChaCha8Rng) -> QdrantParams {
        let set = &self.data.set;
        let query = rand::RngExt::random_range(rng, 0..set.query_count());
        QdrantParams {
            query,
            filter: self.ops[op].0.vector_filter().unwrap_or(0),
            vector: set.query(query).to_vec(),
        }
    }

    async fn execute(&mut self, op: usize, p: &QdrantParams) -> std::result::Result<Done, OpError> {
        let category = (p.filter > 0).then(|| FILTERS[p.filter - 1].1);
        let limit = self.ops[op].1;
        let ids = tokio::time::timeout(
            self.timeout,
            self.searcher
                .search(p.vector.clone(), category, limit, self.spec),
        )
        .await
        .map_err(|_| OpError {
            kind: "timeout".into(),
            message: format!("search took longer than {:?}", self.timeout),
        })?
        .map_err(|e| OpError {
            kind: "qdrant".into(),
            message: e,
        })?;
        let ids: Vec<u32> = ids
            .iter()
            .map(|id| u32::try_from(id.saturating_sub(1)).unwrap_or(u32::MAX))
            .collect();
        Ok(Done {
            bytes: 0,
            recall: Some(self.data.set.recall(p.query, p.filter, self.k, &ids)),
        })
    }
}
