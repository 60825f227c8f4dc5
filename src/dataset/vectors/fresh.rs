//! Fresh points for concurrent upsert + search workloads, and how searches are judged while
//! they arrive.
//!
//! The pool is drawn from the dataset's own distribution (generator stream 4, so it never
//! repeats a base row or a query) and takes the row indexes after the dataset's. Upserts
//! write it in batches, in ticket order; a search is judged against exactly the points that
//! were acknowledged before it started: its k-th true distance is the k-th smallest of the
//! base ground truth merged with the acknowledged fresh points' exact distances (computed
//! once, before measuring, with the same matrix-multiply kernel as the ground truth). A
//! fresh point written while the search ran counts when it is returned and close enough,
//! and is never required. When the pool is used up, upserts rewrite its points with the same
//! vectors, which leaves the truth unchanged.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::truth::{self, GroundTruth, Recall, TOLERANT_EPSILON};
use super::{FILTERS, VectorSet, generate, payload};

/// Generator stream of fresh points (0 base, 1 queries, 2 centers, 3 payload).
const STREAM: u64 = 4;

/// Why a dataset read from files cannot feed upserts (`tunebench validate` says it too).
pub const FROM_FILES: &str = "upserts draw fresh points from the dataset's generator, and this dataset comes from files; use a generated dataset (no vectors_file) for upsert workloads";

pub struct FreshPool {
    /// Row index of the first fresh point: the dataset's size.
    pub start: usize,
    pub batch: usize,
    dim: usize,
    vectors: Vec<f32>,
    categories: Vec<u8>,
    timestamps: Vec<i64>,
    /// Per filter and query, the nearest fresh points (ids are fresh indexes).
    near: GroundTruth,
    /// Batches handed out, and acknowledged ones (a contiguous prefix plus stragglers).
    tickets: AtomicU64,
    acked: Mutex<(u64, BTreeSet<u64>)>,
}

impl FreshPool {
    /// The pool of an upsert op: `fresh_points` or, unset, 10 % of the dataset (at least one
    /// batch).
    pub fn for_op(
        set: &VectorSet,
        batch: u32,
        fresh_points: Option<u32>,
        k: usize,
    ) -> Result<Self, String> {
        let count = fresh_points.map_or((set.len() / 10).max(batch as usize), |p| p as usize);
        Self::new(set, count, batch as usize, k)
    }

    /// `count` fresh points (rounded up to whole batches) for a generated dataset, judged at
    /// `k`. Blocking and CPU-heavy: call it off the async workers.
    pub fn new(set: &VectorSet, count: usize, batch: usize, k: usize) -> Result<Self, String> {
        if set.spec().vectors_file.is_some() {
            return Err(FROM_FILES.into());
        }
        let batch = batch.max(1);
        let count = count.max(1).div_ceil(batch) * batch;
        let start = set.len();
        let seed = set.spec().seed;
        let vectors = generate(set.spec(), count, seed, STREAM);
        let (categories, timestamps): (Vec<u8>, Vec<i64>) = (0..count)
            .map(|j| payload(seed, (start + j) as u64))
            .unzip();
        let filters: Vec<u8> = FILTERS.iter().map(|f| f.1).collect();
        let depth = set.truth.k.min(count);
        let near = truth::compute(
            set.spec().metric,
            set.dim,
            &vectors,
            &set.queries,
            &categories,
            &filters,
            depth,
        );
        // Exactness needs every fresh point that can enter a top-k: if a query's `depth`
        // nearest fresh points all lie within its base k-th distance, more might.
        for (f, per_query) in near.filters.iter().enumerate() {
            for (q, nb) in per_query.iter().enumerate() {
                let base = &set.truth.filters[f][q];
                let kk = k.min(base.distances.len());
                if nb.ids.len() == depth
                    && depth < count
                    && kk > 0
                    && f64::from(nb.distances[depth - 1])
                        <= f64::from(base.distances[kk - 1]) + TOLERANT_EPSILON
                {
                    return Err(format!(
                        "{count} fresh points are too many to judge recall exactly against a {start}-vector dataset at k = {kk} (query {q} has {depth} fresh points inside its top-{kk}); use fewer fresh points or raise the dataset's k_max"
                    ));
                }
            }
        }
        Ok(FreshPool {
            start,
            batch,
            dim: set.dim,
            vectors,
            categories,
            timestamps,
            near,
            tickets: AtomicU64::new(0),
            acked: Mutex::new((0, BTreeSet::new())),
        })
    }

    pub fn len(&self) -> usize {
        self.categories.len()
    }

    pub fn is_empty(&self) -> bool {
        self.categories.is_empty()
    }

    fn batches(&self) -> u64 {
        (self.len() / self.batch) as u64
    }

    /// Takes the next batch: its ticket and its points as (row index, vector, category,
    /// timestamp).
    #[allow(clippy::type_complexity)]
    pub fn next_batch(&self) -> (u64, Vec<(usize, &[f32], u8, i64)>) {
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        let b = (ticket % self.batches()) as usize;
        let points = (b * self.batch..(b + 1) * self.batch)
            .map(|j| {
                (
                    self.start + j,
                    &self.vectors[j * self.dim..(j + 1) * self.dim],
                    self.categories[j],
                    self.timestamps[j],
                )
            })
            .collect();
        (ticket, points)
    }

    /// Marks a batch as acknowledged by the store.
    pub fn ack(&self, ticket: u64) {
        let mut guard = self.acked.lock().expect("fresh-pool lock");
        let (prefix, stragglers) = &mut *guard;
        if ticket == *prefix {
            *prefix += 1;
            while stragglers.remove(prefix) {
                *prefix += 1;
            }
        } else if ticket > *prefix {
            stragglers.insert(ticket);
        }
    }

    /// Fresh points certainly visible now: those of the acknowledged prefix of batches.
    pub fn visible(&self) -> usize {
        let prefix = self.acked.lock().expect("fresh-pool lock").0;
        (prefix.min(self.batches()) as usize) * self.batch
    }

    /// Back to "nothing written", for a new phase (after the store deleted the points).
    pub fn reset(&self) {
        self.tickets.store(0, Ordering::Relaxed);
        *self.acked.lock().expect("fresh-pool lock") = (0, BTreeSet::new());
    }

    /// Row indexes of the whole pool, to delete.
    pub fn rows(&self) -> std::ops::Range<usize> {
        self.start..self.start + self.len()
    }

    /// Recall@k of one answer given the fresh points `visible` when the search started.
    /// `returned` holds row indexes (base or fresh), nearest first.
    pub fn recall(
        &self,
        set: &VectorSet,
        query: usize,
        filter: usize,
        k: usize,
        visible: usize,
        returned: &[u32],
    ) -> Recall {
        let base = &set.truth.filters[filter][query];
        let fresh = &self.near.filters[filter][query];
        // The k-th smallest of two sorted lists: the base truth and the visible fresh points.
        let mut base_d = base.distances.iter().copied().peekable();
        let mut fresh_d = fresh
            .ids
            .iter()
            .zip(&fresh.distances)
            .filter(|(id, _)| (**id as usize) < visible)
            .map(|(_, d)| *d)
            .peekable();
        let (mut taken, mut kth) = (0, None);
        while taken < k {
            let next = match (base_d.peek(), fresh_d.peek()) {
                (Some(b), Some(f)) if f < b => fresh_d.next(),
                (Some(_), _) => base_d.next(),
                (None, _) => fresh_d.next(),
            };
            let Some(d) = next else { break };
            kth = Some(d);
            taken += 1;
        }
        let Some(kth) = kth else {
            return Recall::PERFECT;
        };
        let cat = filter.checked_sub(1).map(|f| FILTERS[f].1);
        truth::recall_at(f64::from(kth), taken, returned, |id| {
            let i = id as usize;
            if i < set.len() {
                return set.true_distance(query, filter, id);
            }
            let j = i - self.start;
            (j < self.len() && cat.is_none_or(|c| self.categories[j] == c)).then(|| {
                let v = &self.vectors[j * self.dim..(j + 1) * self.dim];
                set.spec().metric.distance(set.query(query), v)
            })
        })
    }
}

/// Recall@k of one answer: against the loaded points alone, or, in an upsert + search
/// workload, with the fresh points `visible` when the search started.
pub fn judge(
    set: &VectorSet,
    fresh: Option<(&FreshPool, usize)>,
    query: usize,
    filter: usize,
    k: usize,
    returned: &[u32],
) -> Recall {
    match fresh {
        Some((pool, visible)) => pool.recall(set, query, filter, k, visible, returned),
        None => set.recall(query, filter, k, returned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::vectors::tests::spec;

    /// Exact top-k over the base rows and the first `visible` fresh points, by brute force
    /// with the f64 distance (independent of the kernel and the merge).
    fn brute(set: &VectorSet, pool: &FreshPool, q: usize, visible: usize, k: usize) -> Vec<u32> {
        let metric = set.spec().metric;
        let mut all: Vec<(f64, u32)> = (0..set.len())
            .map(|i| (metric.distance(set.query(q), set.row(i)), i as u32))
            .chain((0..visible).map(|j| {
                let v = &pool.vectors[j * pool.dim..(j + 1) * pool.dim];
                (metric.distance(set.query(q), v), (pool.start + j) as u32)
            }))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        all.into_iter().take(k).map(|x| x.1).collect()
    }

    #[test]
    fn searches_are_judged_against_what_was_visible() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(2000, 32);
        s.k_max = 50;
        let set = VectorSet::build(&s, dir.path()).unwrap();
        // A pool as large as half the dataset, so fresh points often enter a top-10.
        let pool = FreshPool::new(&set, 1000, 100, 10).unwrap();
        assert_eq!(pool.rows(), 2000..3000);
        let mut displaced = 0;
        for q in 0..set.query_count() {
            // Nothing visible: the plain ground truth.
            let base = &set.truth.filters[0][q].ids;
            assert_eq!(pool.recall(&set, q, 0, 10, 0, base).strict, 1.0);
            // Everything visible: the union's exact top-10 is perfect; the base truth alone
            // misses exactly the fresh points that displaced base rows.
            let union = brute(&set, &pool, q, pool.len(), 10);
            assert_eq!(pool.recall(&set, q, 0, 10, pool.len(), &union).strict, 1.0);
            let fresh_in_top = union.iter().filter(|&&id| id >= 2000).count();
            let stale = pool.recall(&set, q, 0, 10, pool.len(), base).strict;
            let metric = set.spec().metric;
            let dist = |id: u32| {
                let i = id as usize;
                if i < set.len() {
                    metric.distance(set.query(q), set.row(i))
                } else {
                    let j = i - pool.start;
                    metric.distance(
                        set.query(q),
                        &pool.vectors[j * pool.dim..(j + 1) * pool.dim],
                    )
                }
            };
            let kth = dist(union[9]);
            let expected = base[..10]
                .iter()
                .filter(|&&id| dist(id) <= kth + truth::tie_tolerance(kth))
                .count();
            assert!((stale - expected as f64 / 10.0).abs() < 1e-9, "query {q}");
            if fresh_in_top > 0 && stale < 1.0 {
                displaced += 1;
            }
            // Half visible: the union with the first 500 only.
            let half = brute(&set, &pool, q, 500, 10);
            assert_eq!(pool.recall(&set, q, 0, 10, 500, &half).strict, 1.0);
        }
        assert!(
            displaced > 0,
            "the test needs answers that miss visible fresh points"
        );
    }

    #[test]
    fn filtered_judgement_ignores_other_categories() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(2000, 32);
        s.k_max = 50;
        let set = VectorSet::build(&s, dir.path()).unwrap();
        let pool = FreshPool::new(&set, 500, 50, 10).unwrap();
        let cat = FILTERS[0].1;
        let other = (0..pool.len())
            .find(|&j| pool.categories[j] != cat)
            .unwrap();
        let mut ids = set.truth.filters[1][0].ids.clone();
        ids[0] = (pool.start + other) as u32;
        assert!((pool.recall(&set, 0, 1, 10, 0, &ids).strict - 0.9).abs() < 1e-9);
    }

    #[test]
    fn the_visible_prefix_follows_acknowledged_batches_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let set = VectorSet::build(&spec(500, 16), dir.path()).unwrap();
        let pool = FreshPool::new(&set, 95, 10, 10).unwrap();
        assert_eq!(pool.len(), 100, "rounded up to whole batches");
        let (t0, b0) = pool.next_batch();
        let (t1, _) = pool.next_batch();
        let (t2, _) = pool.next_batch();
        assert_eq!((t0, t1, t2), (0, 1, 2));
        assert_eq!(b0[0].0, 500);
        pool.ack(t1);
        pool.ack(t2);
        assert_eq!(pool.visible(), 0, "batch 0 is still in flight");
        pool.ack(t0);
        assert_eq!(pool.visible(), 30);
        // Past the end, batches wrap around to rewrite the same points.
        for _ in 3..12 {
            let (t, _) = pool.next_batch();
            pool.ack(t);
        }
        assert_eq!(pool.visible(), 100);
        pool.reset();
        assert_eq!(pool.visible(), 0);
        assert_eq!(pool.next_batch().0, 0);
    }

    #[test]
    fn file_datasets_and_overfull_pools_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let set = VectorSet::build(&spec(200, 16), dir.path()).unwrap();
        // 20x the dataset: some query has its 10 nearest fresh points inside its top-10.
        let err = FreshPool::new(&set, 4000, 100, 10).err().unwrap();
        assert!(err.contains("too many"), "{err}");
    }
}
