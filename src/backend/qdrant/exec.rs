//! The workers' side: one search or one upsert batch per operation. Searches are judged for
//! recall against exact ground truth; in a workload that also upserts, against the base
//! points plus the fresh points acknowledged before the search started
//! ([`FreshPool::recall`]).

use std::sync::Arc;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;

use super::store::QdrantData;
use super::{SearchSpec, Searcher};
use crate::dataset::ParamGen;
use crate::dataset::vectors::FILTERS;
use crate::dataset::vectors::fresh::{self, FreshPool};
use crate::driver::{Done, Executor, Judged, OpError};

/// One operation of a Qdrant workload.
#[derive(Debug, Clone, Copy)]
pub enum QdrantOpKind {
    Search {
        query: ParamGen,
        limit: usize,
    },
    Upsert,
    /// A search of a collection tunebench did not create, with the op's own query vectors.
    Own {
        limit: usize,
    },
}

/// What every worker of a workload shares.
pub struct QdrantWorkers {
    pub(super) searcher: Searcher,
    pub(super) data: Arc<QdrantData>,
    pub(super) ops: Vec<QdrantOpKind>,
    /// Per op: the query vectors and ground truth of a search of an existing collection.
    pub(super) own: Vec<Option<super::spec::QdrantVectors>>,
    /// The fresh-point pool of an upsert + search workload.
    pub(super) fresh: Option<Arc<FreshPool>>,
    pub(super) spec: SearchSpec,
    pub(super) k: usize,
    pub(super) timeout: Duration,
}

/// Runs a workload's operations; each search's answer is kept and judged for recall by
/// `settle`, after the clock stopped.
pub struct QdrantExecutor {
    pub(super) w: Arc<QdrantWorkers>,
    /// The last search's answer (point ids, nearest first) and the fresh points visible
    /// when it started.
    pub(super) answer: Vec<u64>,
    pub(super) rows: Vec<u32>,
    pub(super) visible: Option<usize>,
}

/// A drawn operation: a search (which held-out query, which filter (0 none), its vector) or
/// an upsert (the batch's ticket and points).
pub enum QdrantParams {
    Search {
        query: usize,
        filter: usize,
        vector: Vec<f32>,
        /// A held-out query's own point, left out of the answer.
        exclude: Option<u64>,
    },
    Upsert {
        ticket: u64,
        points: Vec<(u64, Vec<f32>, u8, i64)>,
    },
}

fn timeout_error(what: &str, t: Duration) -> OpError {
    OpError {
        kind: "timeout".into(),
        message: format!("{what} took longer than {t:?}"),
    }
}

fn qdrant_error(e: String) -> OpError {
    OpError {
        kind: "qdrant".into(),
        message: e,
    }
}

impl Executor for QdrantExecutor {
    type Params = QdrantParams;

    fn draw(&mut self, op: usize, rng: &mut ChaCha8Rng) -> QdrantParams {
        match self.w.ops[op] {
            QdrantOpKind::Search { query: param, .. } => {
                let super::store::QdrantData::Set { set, .. } = &*self.w.data else {
                    unreachable!("validate refuses dataset searches without a dataset")
                };
                let query = rand::RngExt::random_range(rng, 0..set.query_count());
                QdrantParams::Search {
                    query,
                    filter: param.vector_filter().unwrap_or(0),
                    vector: set.query(query).to_vec(),
                    exclude: None,
                }
            }
            QdrantOpKind::Own { .. } => {
                let own = self.w.own[op]
                    .as_ref()
                    .and_then(|v| v.own())
                    .expect("readiness read the collection's points");
                let query = rand::RngExt::random_range(rng, 0..own.query_count());
                QdrantParams::Search {
                    query,
                    filter: 0,
                    vector: own.query(query).to_vec(),
                    exclude: own.query_ids.as_ref().map(|ids| ids[query] as u64),
                }
            }
            QdrantOpKind::Upsert => {
                let pool = self.w.fresh.as_ref().expect("upsert ops come with a pool");
                let (ticket, points) = pool.next_batch();
                QdrantParams::Upsert {
                    ticket,
                    // Row i is point id i + 1, as in the load.
                    points: points
                        .into_iter()
                        .map(|(row, v, c, t)| (row as u64 + 1, v.to_vec(), c, t))
                        .collect(),
                }
            }
        }
    }

    async fn execute(&mut self, op: usize, p: &QdrantParams) -> std::result::Result<Done, OpError> {
        match p {
            QdrantParams::Search {
                filter,
                vector,
                exclude,
                ..
            } => {
                let (QdrantOpKind::Search { limit, .. } | QdrantOpKind::Own { limit }) =
                    self.w.ops[op]
                else {
                    unreachable!("draw matches the op")
                };
                let category = (*filter > 0).then(|| FILTERS[filter - 1].1);
                self.visible = self.w.fresh.as_deref().map(FreshPool::visible);
                self.answer = tokio::time::timeout(
                    self.w.timeout,
                    self.w
                        .searcher
                        .search(vector.clone(), category, *exclude, limit, self.w.spec),
                )
                .await
                .map_err(|_| timeout_error("search", self.w.timeout))?
                .map_err(qdrant_error)?;
                Ok(Done::default())
            }
            QdrantParams::Upsert { ticket, points } => {
                let bytes = points.iter().map(|p| p.1.len() as u64 * 4).sum();
                tokio::time::timeout(self.w.timeout, self.w.searcher.upsert(points.clone()))
                    .await
                    .map_err(|_| timeout_error("upsert", self.w.timeout))?
                    .map_err(qdrant_error)?;
                if let Some(pool) = &self.w.fresh {
                    pool.ack(*ticket);
                }
                Ok(Done { bytes })
            }
        }
    }

    fn settle(&mut self, op: usize, p: &QdrantParams) -> Option<Judged> {
        let QdrantParams::Search { query, filter, .. } = p else {
            return None;
        };
        let recall = match &*self.w.data {
            super::store::QdrantData::Set { set, .. } => {
                // tunebench's points have ids row + 1.
                self.rows.clear();
                self.rows.extend(
                    self.answer
                        .iter()
                        .map(|id| u32::try_from(id.saturating_sub(1)).unwrap_or(u32::MAX)),
                );
                let visible = self.w.fresh.as_deref().zip(self.visible);
                fresh::judge(set, visible, *query, *filter, self.w.k, &self.rows)
            }
            super::store::QdrantData::Foreign(_) => {
                let own = self.w.own[op].as_ref()?.own()?;
                let ids: Vec<i64> = self.answer.iter().map(|&id| id as i64).collect();
                own.recall(*query, self.w.k, &ids)
            }
        };
        Some(Judged {
            filter: *filter,
            query: *query,
            recall,
        })
    }
}

/// The profile's search parameters with the workload's sweep point, if any, applied.
pub(super) fn swept(
    spec: SearchSpec,
    workload: &crate::backend::Workload<super::QdrantStore>,
) -> crate::error::Result<SearchSpec> {
    let Some(sw) = &workload.sweep else {
        return Ok(spec);
    };
    super::spec::apply_sweep(spec, &sw.setting, &sw.value)
        .map_err(|e| crate::error::Error::Usage(format!("workload {}: sweep: {e}", sw.base)))
}

/// What each op of the workload does, and the batch and pool size of its upserts, if any.
pub(super) fn op_kinds(
    workload: &crate::backend::Workload<super::QdrantStore>,
) -> (Vec<QdrantOpKind>, Option<(u32, Option<u32>)>) {
    let mut upsert = None;
    let ops = workload
        .ops
        .iter()
        .map(|o| {
            let q = &o.def;
            if q.collection.is_some() {
                return QdrantOpKind::Own {
                    limit: q.limit as usize,
                };
            }
            match (q.query, q.upsert) {
                (_, Some(batch)) => {
                    upsert.get_or_insert((batch, q.fresh_points));
                    QdrantOpKind::Upsert
                }
                (query, None) => QdrantOpKind::Search {
                    query: query.unwrap_or(ParamGen::QueryVector),
                    limit: q.limit as usize,
                },
            }
        })
        .collect();
    (ops, upsert)
}

/// The fresh-point pool of a workload with upserts (`upsert`: batch and pool size), with
/// every fresh point's distance to every query; built off the async workers.
pub(super) async fn fresh_pool(
    workload: &crate::backend::Workload<super::QdrantStore>,
    data: &Arc<QdrantData>,
    upsert: Option<(u32, Option<u32>)>,
    k: usize,
) -> crate::error::Result<Option<Arc<FreshPool>>> {
    let Some((batch, points)) = upsert else {
        return Ok(None);
    };
    let d = data.clone();
    let started = std::time::Instant::now();
    let pool = tokio::task::spawn_blocking(move || match &*d {
        QdrantData::Set { set, .. } => FreshPool::for_op(set, batch, points, k),
        QdrantData::Foreign(_) => Err("an existing collection is only read".into()),
    })
    .await
    .map_err(|e| {
        crate::error::Error::target(
            format!("workload {}: preparing fresh points", workload.name),
            e,
        )
    })?
    .map_err(|e| {
        crate::error::Error::Usage(format!(
            "workload {}: upserts of dataset {}: {e}",
            workload.name,
            workload.dataset.as_deref().unwrap_or_default()
        ))
    })?;
    tracing::info!(
        "{}: {} fresh points and their distances to every query in {:.2} s",
        workload.name,
        pool.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(Some(Arc::new(pool)))
}
