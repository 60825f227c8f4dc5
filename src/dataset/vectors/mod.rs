//! Vector datasets: a deterministic Gaussian-mixture generator (or a user's `.npy` / `.fvecs`
//! files), held-out queries, payload for filtered search, and exact ground truth cached on
//! disk by the dataset's hash.
//!
//! Calibration of the generator: every row is `normalize(center + spread * g / sqrt(dim))`
//! with `g` standard normal and centers random unit vectors. With `spread` well below 1 the
//! clusters are tight and far apart, a query's neighbours all sit in its own small cluster,
//! and any ANN index finds them at its lowest settings (recall 0.997 at ef_search 40 was seen
//! that way), unlike real embeddings. At the default `spread = 1.0` a row's noise is as long
//! as its center, so clusters overlap and neighbourhoods are decided by the full-dimensional
//! noise: low `ef_search` visibly loses recall while the data keeps cluster structure (exact
//! neighbours mostly share the query's cluster). Measured numbers are in the README.

pub mod files;
pub mod fresh;
pub mod own;
pub mod truth;

use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use files::{Matrix, Shape, inspect, read_matrix};
pub use truth::{GroundTruth, Metric, Neighbours, Recall};

use super::DatasetKind;

/// Category values and the share of rows that carry each, for filtered search.
pub const CATEGORIES: [(u8, f64); 4] = [(0, 0.50), (1, 0.10), (2, 0.01), (3, 0.39)];
/// Filters with ground truth: selectivity (percent) and the category that gives it.
pub const FILTERS: [(u32, u8); 3] = [(50, 0), (10, 1), (1, 2)];
/// Timestamps spread uniformly over 2025 (Unix seconds).
const TS_START: i64 = 1_735_689_600;
const TS_SPAN: i64 = 365 * 86_400;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VectorsSpec {
    pub kind: DatasetKind,
    /// Namespace on the server (PostgreSQL schema, Qdrant collection); starts with tunebench_.
    pub schema: String,
    pub seed: u64,
    /// Base vectors to generate (ignored when `vectors_file` is set; then the file's rows).
    #[serde(default)]
    pub count: u64,
    #[serde(default = "default_dimension")]
    pub dimension: u32,
    /// Held-out query vectors (from the same distribution, never in the base set).
    #[serde(default = "default_queries")]
    pub queries: u32,
    #[serde(default = "default_clusters")]
    pub clusters: u32,
    /// Noise length relative to the cluster center (see the module comment).
    #[serde(default = "default_spread")]
    pub spread: f64,
    #[serde(default)]
    pub metric: Metric,
    /// Depth of the ground truth: the largest k a workload may ask recall for.
    #[serde(default = "default_k_max")]
    pub k_max: u32,
    /// A user's own base vectors (.npy float32 2-D or .fvecs), relative to the spec file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vectors_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queries_file: Option<PathBuf>,
}

fn default_dimension() -> u32 {
    384
}
fn default_queries() -> u32 {
    1000
}
fn default_clusters() -> u32 {
    100
}
fn default_spread() -> f64 {
    1.0
}
fn default_k_max() -> u32 {
    100
}

impl VectorsSpec {
    /// Stable identity of the content. For files, their path, size and modification time
    /// stand in for the content, so a replaced file is noticed without hashing it.
    pub fn hash(&self) -> String {
        let canonical = serde_json::to_string(self).expect("spec serializes");
        let mut h = Sha256::new();
        h.update(format!("vectors-v{}:{canonical}", super::GENERATOR_VERSION).as_bytes());
        for f in [&self.vectors_file, &self.queries_file]
            .into_iter()
            .flatten()
        {
            if let Ok(m) = std::fs::metadata(f) {
                h.update(format!("{}:{:?}", m.len(), m.modified().ok()).as_bytes());
            }
        }
        h.finalize()
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Where ground truth is cached: `$TUNEBENCH_CACHE/tunebench` (the stack's cache folder)
/// or `.cache/tunebench` in the working directory.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("TUNEBENCH_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".cache"))
        .join("tunebench")
}

/// The vectors in memory, their payload and their ground truth.
pub struct VectorSet {
    spec: VectorsSpec,
    pub dim: usize,
    pub base: Vec<f32>,
    pub queries: Vec<f32>,
    pub categories: Vec<u8>,
    pub timestamps: Vec<i64>,
    pub truth: GroundTruth,
    /// Seconds the ground truth took (None when it came from the cache).
    pub truth_seconds: Option<f64>,
}

impl VectorSet {
    /// Generates or reads the vectors and loads or computes the ground truth (cached under
    /// `cache_dir`). Blocking and CPU-heavy: call it off the async workers.
    pub fn build(spec: &VectorsSpec, cache_dir: &Path) -> Result<Self, String> {
        let dim = spec.dimension as usize;
        let (base, queries) = match (&spec.vectors_file, &spec.queries_file) {
            (Some(v), Some(q)) => (file_rows(v, dim)?, file_rows(q, dim)?),
            (None, None) => (
                generate(spec, spec.count as usize, spec.seed, 0),
                generate(spec, spec.queries as usize, spec.seed, 1),
            ),
            _ => {
                return Err(
                    "vectors_file and queries_file go together: set both or neither".into(),
                );
            }
        };
        let n = base.len() / dim;
        let (categories, timestamps) = (0..n).map(|i| payload(spec.seed, i as u64)).unzip();
        let mut set = VectorSet {
            spec: spec.clone(),
            dim,
            base,
            queries,
            categories,
            timestamps,
            truth: GroundTruth {
                k: 0,
                filters: Vec::new(),
            },
            truth_seconds: None,
        };
        let path = cache_dir
            // v2: stored distances are exact (f64, rounded to f32), not the kernel's f32.
            .join("ground-truth-v2")
            .join(format!("{}.json", spec.hash()));
        let cached = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<GroundTruth>(&b).ok())
            .filter(|gt| {
                gt.k == set.k_max() && gt.filters.iter().all(|f| f.len() == set.query_count())
            });
        set.truth = match cached {
            Some(gt) => gt,
            None => {
                let started = Instant::now();
                let gt = set.compute_truth();
                set.truth_seconds = Some(started.elapsed().as_secs_f64());
                tracing::info!(
                    "ground truth for {} queries over {n} vectors: {:.2} s",
                    set.query_count(),
                    set.truth_seconds.unwrap_or_default()
                );
                // The cache is an optimisation: failing to write it only costs time later.
                if let Some(dir) = path.parent()
                    && std::fs::create_dir_all(dir).is_ok()
                {
                    let tmp = path.with_extension("tmp");
                    if std::fs::write(&tmp, serde_json::to_vec(&gt).expect("serializes")).is_ok() {
                        let _ = std::fs::rename(&tmp, &path);
                    }
                }
                gt
            }
        };
        Ok(set)
    }

    pub fn compute_truth(&self) -> GroundTruth {
        let filters: Vec<u8> = FILTERS.iter().map(|f| f.1).collect();
        truth::compute(
            self.spec.metric,
            self.dim,
            &self.base,
            &self.queries,
            &self.categories,
            &filters,
            self.k_max(),
        )
    }

    pub fn spec(&self) -> &VectorsSpec {
        &self.spec
    }
    pub fn len(&self) -> usize {
        self.base.len() / self.dim
    }
    pub fn is_empty(&self) -> bool {
        self.base.is_empty()
    }
    pub fn query_count(&self) -> usize {
        self.queries.len() / self.dim
    }
    fn k_max(&self) -> usize {
        (self.spec.k_max as usize).min(self.len())
    }
    pub fn row(&self, i: usize) -> &[f32] {
        &self.base[i * self.dim..(i + 1) * self.dim]
    }
    pub fn query(&self, q: usize) -> &[f32] {
        &self.queries[q * self.dim..(q + 1) * self.dim]
    }

    /// Recall@k of one answer. `filter` is 0 for unfiltered, else 1 + index into
    /// [`FILTERS`]; `returned` holds 0-based row indexes, nearest first.
    pub fn recall(&self, query: usize, filter: usize, k: usize, returned: &[u32]) -> truth::Recall {
        truth::recall(&self.truth.filters[filter][query], k, returned, |id| {
            self.true_distance(query, filter, id)
        })
    }

    /// Exact distance from a query to row `id`; None when the row does not exist or does
    /// not pass the filter (0 none, else 1 + index into [`FILTERS`]), so it never counts.
    pub fn true_distance(&self, query: usize, filter: usize, id: u32) -> Option<f64> {
        let i = id as usize;
        let cat = filter.checked_sub(1).map(|f| FILTERS[f].1);
        (i < self.len() && cat.is_none_or(|c| self.categories[i] == c))
            .then(|| self.spec.metric.distance(self.query(query), self.row(i)))
    }
}

fn file_rows(path: &Path, dim: usize) -> Result<Vec<f32>, String> {
    let m = read_matrix(path)?;
    if m.dim != dim {
        return Err(format!(
            "{} holds {}-d vectors but the dataset's dimension is {dim}; set dimension = {} or use matching files",
            path.display(),
            m.dim,
            m.dim
        ));
    }
    if m.rows == 0 {
        return Err(format!("{} holds no vectors", path.display()));
    }
    Ok(m.data)
}

/// Rows `0..count` of stream `stream` (0 = base, 1 = queries): each row from its own seeded
/// generator, so generation is parallel and any row can be regenerated alone.
pub fn generate(spec: &VectorsSpec, count: usize, seed: u64, stream: u64) -> Vec<f32> {
    let dim = spec.dimension as usize;
    let centers: Vec<f32> = (0..spec.clusters.max(1) as u64)
        .flat_map(|c| unit(&mut row_rng(seed, 2, c), dim))
        .collect();
    let scale = (spec.spread / (dim as f64).sqrt()) as f32;
    let mut out = vec![0f32; count * dim];
    out.par_chunks_mut(dim).enumerate().for_each(|(i, row)| {
        let mut rng = row_rng(seed, stream, i as u64);
        let c = rand::RngExt::random_range(&mut rng, 0..spec.clusters.max(1) as usize);
        let center = &centers[c * dim..(c + 1) * dim];
        for (x, m) in row.iter_mut().zip(center) {
            let g: f32 = StandardNormal.sample(&mut rng);
            *x = m + scale * g;
        }
        normalize(row);
    });
    out
}

fn row_rng(seed: u64, stream: u64, i: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    rng.set_stream(i);
    rng
}

fn unit(rng: &mut ChaCha8Rng, dim: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dim).map(|_| StandardNormal.sample(rng)).collect();
    normalize(&mut v);
    v
}

fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Category and timestamp of row `i`, from a hash of (seed, i) so they do not depend on the
/// vector and selectivity holds in every region of the space.
pub fn payload(seed: u64, i: u64) -> (u8, i64) {
    let mut rng = row_rng(seed, 3, i);
    let u: f64 = rand::RngExt::random(&mut rng);
    let mut acc = 0.0;
    let mut cat = CATEGORIES[CATEGORIES.len() - 1].0;
    for (c, share) in CATEGORIES {
        acc += share;
        if u < acc {
            cat = c;
            break;
        }
    }
    let ts = TS_START + rand::RngExt::random_range(&mut rng, 0..TS_SPAN);
    (cat, ts)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn spec(count: u64, dim: u32) -> VectorsSpec {
        VectorsSpec {
            kind: DatasetKind::Vectors,
            schema: "tunebench_vec_test".into(),
            seed: 42,
            count,
            dimension: dim,
            queries: 20,
            clusters: 10,
            spread: 1.0,
            metric: Metric::Cosine,
            k_max: 10,
            vectors_file: None,
            queries_file: None,
        }
    }

    #[test]
    fn generation_is_deterministic_unit_length_and_clustered() {
        let s = spec(2000, 64);
        let a = generate(&s, 2000, 42, 0);
        assert_eq!(a, generate(&s, 2000, 42, 0));
        assert_ne!(a[..64], generate(&s, 1, 42, 1)[..]);
        for row in a.chunks(64) {
            let n: f32 = row.iter().map(|x| x * x).sum();
            assert!((n - 1.0).abs() < 1e-4);
        }
        // Clustered, not uniform: same-cluster pairs are much closer than a uniform pair
        // (expected cosine 0 in 64-d), so the mean best cosine over 200 rows is high.
        let best: f32 = a
            .chunks(64)
            .take(20)
            .map(|q| {
                a.chunks(64)
                    .skip(20)
                    .map(|x| q.iter().zip(x).map(|(p, r)| p * r).sum::<f32>())
                    .fold(f32::MIN, f32::max)
            })
            .sum::<f32>()
            / 20.0;
        assert!(best > 0.4, "mean best cosine {best}");
    }

    #[test]
    fn selectivity_is_close_to_the_nominal_shares() {
        let n = 200_000u64;
        let mut counts = [0u64; 4];
        for i in 0..n {
            counts[payload(9, i).0 as usize] += 1;
        }
        for (c, share) in CATEGORIES {
            let got = counts[c as usize] as f64 / n as f64;
            assert!(
                (got - share).abs() < 0.005,
                "category {c}: {got} vs {share}"
            );
        }
    }

    #[test]
    fn ground_truth_is_cached_and_recall_of_truth_is_one() {
        let dir = tempfile::tempdir().unwrap();
        let s = spec(3000, 32);
        let a = VectorSet::build(&s, dir.path()).unwrap();
        assert!(a.truth_seconds.is_some());
        let b = VectorSet::build(&s, dir.path()).unwrap();
        assert!(b.truth_seconds.is_none(), "second build reads the cache");
        assert_eq!(a.truth, b.truth);
        for f in 0..=FILTERS.len() {
            for q in 0..a.query_count() {
                let ids = &a.truth.filters[f][q].ids;
                assert_eq!(a.recall(q, f, 10, ids).strict, 1.0);
            }
        }
        // A filtered answer holding a row of another category does not count.
        let wrong = (0..a.len() as u32)
            .find(|&i| a.categories[i as usize] != FILTERS[2].1)
            .unwrap();
        let mut ids = a.truth.filters[3][0].ids.clone();
        ids[0] = wrong;
        assert!((a.recall(0, 3, 10, &ids).strict - 0.9).abs() < 1e-9);
    }

    #[test]
    fn files_must_match_the_dimension() {
        let dir = tempfile::tempdir().unwrap();
        let m = Matrix {
            rows: 50,
            dim: 8,
            data: generate(&spec(50, 8), 50, 1, 0),
        };
        let (v, q) = (dir.path().join("v.npy"), dir.path().join("q.fvecs"));
        files::write_npy(&mut std::fs::File::create(&v).unwrap(), &m).unwrap();
        files::write_fvecs(&mut std::fs::File::create(&q).unwrap(), &m).unwrap();
        let mut s = spec(0, 8);
        s.vectors_file = Some(v);
        s.queries_file = Some(q);
        let set = VectorSet::build(&s, dir.path()).unwrap();
        assert_eq!((set.len(), set.query_count()), (50, 50));
        // Each query is a base row: its nearest neighbour is itself.
        assert_eq!(set.truth.filters[0][7].ids[0], 7);
        s.dimension = 16;
        let e = VectorSet::build(&s, dir.path()).err().unwrap();
        assert!(e.contains("8-d") && e.contains("dimension = 8"), "{e}");
    }
}
