//! Exact ground truth: brute-force top-k over all base vectors for every query, unfiltered
//! and under each category filter, in one pass. Scores come from a blocked single-precision
//! matrix multiply (`matrixmultiply`), query blocks run in parallel on every core (`rayon`),
//! and each query keeps its k best in a bounded heap per filter.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Distance function, with pgvector's conventions so server distances compare directly:
/// cosine `1 - cos`, dot `-(q.x)`, L2 the Euclidean distance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    #[default]
    Cosine,
    Dot,
    L2,
}

impl Metric {
    /// The exact distance, in f64, used to score a returned id when judging recall.
    pub fn distance(self, q: &[f32], x: &[f32]) -> f64 {
        let (mut dot, mut qq, mut xx) = (0f64, 0f64, 0f64);
        for (a, b) in q.iter().zip(x) {
            let (a, b) = (*a as f64, *b as f64);
            dot += a * b;
            qq += a * a;
            xx += b * b;
        }
        match self {
            Metric::Cosine => 1.0 - dot / (qq.sqrt() * xx.sqrt()).max(f64::MIN_POSITIVE),
            Metric::Dot => -dot,
            Metric::L2 => (qq + xx - 2.0 * dot).max(0.0).sqrt(),
        }
    }
}

/// The k nearest ids (0-based row indexes) and their distances, nearest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Neighbours {
    pub ids: Vec<u32>,
    pub distances: Vec<f32>,
}

/// Per filter (index 0 = unfiltered, then one per category), per query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    pub k: usize,
    pub filters: Vec<Vec<Neighbours>>,
}

/// ann-benchmarks' tolerance: a result counts if its true distance is within this of the
/// k-th true distance. On real embeddings neighbours lie far closer together than this, so
/// it turns misses into hits: it is reported as a second figure, never the recall itself.
pub const TOLERANT_EPSILON: f64 = 1e-3;

/// Ties: a returned id whose exact distance is within this many f32 ULPs of the k-th true
/// distance counts, since servers rank in f32 and such ids are equally near.
pub const TIE_ULPS: f64 = 4.0;

/// The tie allowance at a k-th distance: [`TIE_ULPS`] ULPs of f32 at its magnitude (at
/// least that of 1.0, the scale cosine distances are computed at).
pub fn tie_tolerance(kth: f64) -> f64 {
    TIE_ULPS * f64::from(f32::EPSILON) * kth.abs().max(1.0)
}

/// Recall@k of one answer, judged strictly (the exact top-k, ties only within float
/// rounding) and, as a second figure, with ann-benchmarks' [`TOLERANT_EPSILON`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Recall {
    pub strict: f64,
    pub tolerant: f64,
}

impl Recall {
    pub const PERFECT: Recall = Recall {
        strict: 1.0,
        tolerant: 1.0,
    };
}

#[derive(PartialEq, Clone)]
struct Cand(f32, u32);
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Cand {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0).then(self.1.cmp(&o.1))
    }
}

/// Queries per block: each block packs every base block once (matrixmultiply's packing was
/// half the time at 32 on 1M x 384), so blocks are as large as still gives every core a few.
fn query_block(queries: usize) -> usize {
    (queries / (4 * rayon::current_num_threads()).max(1)).clamp(32, 256)
}
const BASE_BLOCK: usize = 2048;

/// Exact top-`k` of every query. `categories[i]` is row i's category; `filters` lists the
/// category values to compute filtered truth for (besides the unfiltered one).
pub fn compute(
    metric: Metric,
    dim: usize,
    base: &[f32],
    queries: &[f32],
    categories: &[u8],
    filters: &[u8],
    k: usize,
) -> GroundTruth {
    let n = base.len() / dim;
    let nq = queries.len() / dim;
    // Norms once: cosine divides by them, L2 adds them.
    let norms = |m: &[f32]| -> Vec<f32> {
        m.par_chunks(dim)
            .map(|r| r.iter().map(|v| v * v).sum::<f32>().sqrt())
            .collect()
    };
    let (bn, qn) = (norms(base), norms(queries));
    let block = query_block(nq);
    let per_block: Vec<Vec<Vec<Neighbours>>> = queries
        .par_chunks(block * dim)
        .enumerate()
        .map(|(b, qblock)| {
            let m = qblock.len() / dim;
            let mut heaps: Vec<Vec<BinaryHeap<Cand>>> = (0..m)
                .map(|_| vec![BinaryHeap::new(); 1 + filters.len()])
                .collect();
            let mut scores = vec![0f32; m * BASE_BLOCK];
            for start in (0..n).step_by(BASE_BLOCK) {
                let nb = BASE_BLOCK.min(n - start);
                let bblock = &base[start * dim..(start + nb) * dim];
                // scores (m x nb) = qblock (m x dim) * bblock^T (dim x nb)
                unsafe {
                    matrixmultiply::sgemm(
                        m,
                        dim,
                        nb,
                        1.0,
                        qblock.as_ptr(),
                        dim as isize,
                        1,
                        bblock.as_ptr(),
                        1,
                        dim as isize,
                        0.0,
                        scores.as_mut_ptr(),
                        nb as isize,
                        1,
                    );
                }
                for (qi, hs) in heaps.iter_mut().enumerate() {
                    let qnorm = qn[b * block + qi];
                    for j in 0..nb {
                        let id = start + j;
                        let dot = scores[qi * nb + j];
                        let d = match metric {
                            Metric::Cosine => 1.0 - dot / (qnorm * bn[id]).max(f32::MIN_POSITIVE),
                            Metric::Dot => -dot,
                            Metric::L2 => (qnorm * qnorm + bn[id] * bn[id] - 2.0 * dot)
                                .max(0.0)
                                .sqrt(),
                        };
                        push(&mut hs[0], k, d, id as u32);
                        for (f, &cat) in filters.iter().enumerate() {
                            if categories[id] == cat {
                                push(&mut hs[1 + f], k, d, id as u32);
                            }
                        }
                    }
                }
            }
            // The kernel ranks in f32; the stored distances are the exact (f64) ones of the
            // ids it found, re-sorted, so the k-th distance that judges recall is exact.
            heaps
                .into_iter()
                .enumerate()
                .map(|(qi, hs)| {
                    let q = &qblock[qi * dim..(qi + 1) * dim];
                    hs.into_iter()
                        .map(|h| exact(metric, q, base, dim, h))
                        .collect()
                })
                .collect()
        })
        .collect();
    let mut out = vec![Vec::with_capacity(nq); 1 + filters.len()];
    for block in per_block {
        for per_query in block {
            for (f, nb) in per_query.into_iter().enumerate() {
                out[f].push(nb);
            }
        }
    }
    GroundTruth { k, filters: out }
}

fn push(h: &mut BinaryHeap<Cand>, k: usize, d: f32, id: u32) {
    if h.len() < k {
        h.push(Cand(d, id));
    } else if let Some(top) = h.peek()
        && d < top.0
    {
        h.pop();
        h.push(Cand(d, id));
    }
}

/// The heap's ids with their exact distances, nearest first (ties by id).
fn exact(metric: Metric, q: &[f32], base: &[f32], dim: usize, h: BinaryHeap<Cand>) -> Neighbours {
    let mut v: Vec<(f64, u32)> = h
        .into_iter()
        .map(|c| {
            let i = c.1 as usize;
            (metric.distance(q, &base[i * dim..(i + 1) * dim]), c.1)
        })
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    Neighbours {
        ids: v.iter().map(|c| c.1).collect(),
        distances: v.iter().map(|c| c.0 as f32).collect(),
    }
}

/// Recall@k of one answer: the share of the k slots filled by distinct ids whose exact
/// distance is at most the k-th true distance (strict: plus [`tie_tolerance`]; tolerant:
/// plus [`TOLERANT_EPSILON`]). `true_distance` returns None for an id that does not exist or
/// does not pass the query's filter (it never counts).
pub fn recall(
    truth: &Neighbours,
    k: usize,
    returned: &[u32],
    true_distance: impl Fn(u32) -> Option<f64>,
) -> Recall {
    let k = k.min(truth.ids.len());
    if k == 0 {
        return Recall::PERFECT;
    }
    recall_at(
        f64::from(truth.distances[k - 1]),
        k,
        returned,
        true_distance,
    )
}

/// The share of `k` slots filled by distinct returned ids within the k-th true distance
/// `kth`, strictly and tolerantly.
pub fn recall_at(
    kth: f64,
    k: usize,
    returned: &[u32],
    true_distance: impl Fn(u32) -> Option<f64>,
) -> Recall {
    if k == 0 {
        return Recall::PERFECT;
    }
    let (strict_max, tolerant_max) = (kth + tie_tolerance(kth), kth + TOLERANT_EPSILON);
    let taken = &returned[..returned.len().min(k)];
    let (mut strict, mut tolerant) = (0usize, 0usize);
    for (i, id) in taken.iter().enumerate() {
        // Each id counts once: k is small, a scan beats hashing.
        if taken[..i].contains(id) {
            continue;
        }
        if let Some(d) = true_distance(*id) {
            strict += usize::from(d <= strict_max);
            tolerant += usize::from(d <= tolerant_max);
        }
    }
    Recall {
        strict: strict as f64 / k as f64,
        tolerant: tolerant as f64 / k as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Five 2-d points and two queries, checked by hand:
    // q0 = (1,0): L2 distances 0, 1, 1.414, 2, 0.5 -> nearest 0, 4, then 1
    // q1 = (0,1): L2 distances 1.414, 1, 0, 1.414, 1.803 -> nearest 2, 1, then rows 0 and 3
    // tie (the lower id is kept)
    const BASE: [f32; 10] = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, -1.0, 0.0, 1.5, 0.0];
    const QUERIES: [f32; 4] = [1.0, 0.0, 0.0, 1.0];
    const CATS: [u8; 5] = [0, 1, 1, 0, 1];

    #[test]
    fn hand_checked_l2() {
        let gt = compute(Metric::L2, 2, &BASE, &QUERIES, &CATS, &[1], 3);
        assert_eq!(gt.filters[0][0].ids, [0, 4, 1]);
        assert_eq!(gt.filters[0][1].ids, [2, 1, 0]);
        assert!((gt.filters[0][0].distances[1] - 0.5).abs() < 1e-6);
        // Category 1 only: rows 1, 2, 4.
        assert_eq!(gt.filters[1][0].ids, [4, 1, 2]);
        assert_eq!(gt.filters[1][1].ids, [2, 1, 4]);
    }

    #[test]
    fn hand_checked_cosine_and_dot() {
        // Cosine ignores length: for q0, rows 0 and 4 both have distance 0.
        let gt = compute(Metric::Cosine, 2, &BASE, &QUERIES, &CATS, &[], 2);
        let mut ids = gt.filters[0][0].ids.clone();
        ids.sort();
        assert_eq!(ids, [0, 4]);
        // Dot prefers length: row 4 (1.5) beats row 0 and row 1 (1.0 each).
        let gt = compute(Metric::Dot, 2, &BASE, &QUERIES, &CATS, &[], 1);
        assert_eq!(gt.filters[0][0].ids, [4]);
        assert_eq!(gt.filters[0][0].distances, [-1.5]);
    }

    #[test]
    fn matches_naive_search_on_random_data() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let dim = 37;
        let base: Vec<f32> = (0..5000 * dim).map(|_| rng.random::<f32>() - 0.5).collect();
        let queries: Vec<f32> = (0..300 * dim).map(|_| rng.random::<f32>() - 0.5).collect();
        let cats: Vec<u8> = (0..5000).map(|i| (i % 10 == 0) as u8).collect();
        for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
            let gt = compute(metric, dim, &base, &queries, &cats, &[1], 10);
            for (qi, q) in queries.chunks(dim).enumerate() {
                for (f, truth) in gt.filters.iter().enumerate() {
                    let mut all: Vec<(f64, u32)> = base
                        .chunks(dim)
                        .enumerate()
                        .filter(|(i, _)| f == 0 || cats[*i] == 1)
                        .map(|(i, x)| (metric.distance(q, x), i as u32))
                        .collect();
                    all.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let got = &truth[qi];
                    let want: Vec<u32> = all[..10].iter().map(|p| p.1).collect();
                    let r = recall(got, 10, &want, |id| {
                        Some(metric.distance(q, &base[id as usize * dim..][..dim]))
                    });
                    assert_eq!(r.strict, 1.0, "{metric:?} filter {f} query {qi}");
                    // The stored distances are the exact ones, to f32 precision.
                    for (id, d) in got.ids.iter().zip(&got.distances) {
                        let exact = metric.distance(q, &base[*id as usize * dim..][..dim]);
                        assert!((f64::from(*d) - exact).abs() <= tie_tolerance(exact));
                    }
                }
            }
        }
    }

    #[test]
    fn recall_counts_ties_only_within_float_rounding_and_each_id_once() {
        let truth = Neighbours {
            ids: vec![1, 2, 3],
            distances: vec![0.1, 0.2, 0.3],
        };
        let kth = f64::from(0.3f32);
        let dist = |id: u32| match id {
            1 => Some(0.1),
            2 => Some(0.2),
            3 => Some(kth),
            // Equal to the 3rd neighbour within f32 rounding: a tie.
            8 => Some(kth + 2.0 * f64::from(f32::EPSILON)),
            // 1e-4 further: a real miss, though ann-benchmarks' 1e-3 would count it.
            9 => Some(kth + 1e-4),
            7 => Some(0.9),
            _ => None,
        };
        let strict = |r: &[u32]| recall(&truth, 3, r, dist).strict;
        let tolerant = |r: &[u32]| recall(&truth, 3, r, dist).tolerant;
        assert_eq!(strict(&[1, 2, 3]), 1.0);
        assert_eq!(strict(&[1, 8, 2]), 1.0);
        assert!((strict(&[1, 9, 2]) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(tolerant(&[1, 9, 2]), 1.0);
        assert!((strict(&[1, 7, 2]) - 2.0 / 3.0).abs() < 1e-12);
        assert!((tolerant(&[1, 7, 2]) - 2.0 / 3.0).abs() < 1e-12);
        assert!((strict(&[1, 1, 1]) - 1.0 / 3.0).abs() < 1e-12);
        assert!((strict(&[1, 2]) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(strict(&[42]), 0.0);
    }
}
