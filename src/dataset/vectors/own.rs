//! A user's own vectors as a query source (`from = "vectors"`): the rows of their table read
//! once per run, query vectors sampled from those rows (held out: each query's own row is
//! left out of its ground truth, and the statement leaves it out of its answer) or read from
//! a `.npy` / `.fvecs` file, and the exact top-k of every query by brute force over every
//! row, so recall@k is judged on the user's real embeddings.
//!
//! Memory: the rows are kept as f32, `4 * dimension` bytes each, plus about 40 bytes for the
//! id and its lookup entry: 1.6 GB per million 384-d vectors, 6.2 GB per million 1536-d.

use std::collections::HashMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::truth::{self, Metric, Neighbours, Recall};

/// The checks a source of the user's vectors shares (pgvector's `from = "vectors"`, Qdrant's
/// `vectors`): every problem as (field, message).
pub fn query_problems(
    queries: Option<usize>,
    path: Option<&str>,
    k_max: usize,
    max_vectors: usize,
) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if !(1..=1000).contains(&k_max) {
        problems.push(("k_max", format!("{k_max}; must be 1..=1000")));
    }
    if max_vectors == 0 {
        problems.push(("max_vectors", "must be at least 1".into()));
    }
    match (queries, path) {
        (Some(_), Some(_)) => problems.push((
            "queries",
            "goes with held-out queries; with `path` the queries are the file's vectors: set one of them".into(),
        )),
        (Some(q), None) if !(1..=100_000).contains(&q) => {
            problems.push(("queries", format!("{q}; must be 1..=100000")))
        }
        _ => {}
    }
    problems
}

/// Rows read from the user's table: ids (as the table has them) and vectors, row-major.
pub struct Rows {
    pub ids: Vec<i64>,
    pub dim: usize,
    pub data: Vec<f32>,
}

/// Where the queries come from.
pub enum Queries {
    /// This many rows, drawn without replacement (seeded), each left out of its own truth.
    HeldOut { count: usize, seed: u64 },
    /// Vectors from a file (not rows of the table: nothing is left out).
    Given(Vec<f32>),
}

/// The rows, the queries and the exact ground truth of each query.
pub struct OwnVectors {
    pub metric: Metric,
    pub dim: usize,
    pub ids: Vec<i64>,
    pub base: Vec<f32>,
    pub queries: Vec<f32>,
    /// For held-out queries: the id of each query's own row (bound as its second parameter).
    pub query_ids: Option<Vec<i64>>,
    pub truth: Vec<Neighbours>,
    row_of: HashMap<i64, u32>,
    /// Seconds the ground truth took.
    pub truth_seconds: f64,
}

impl std::fmt::Debug for OwnVectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnVectors")
            .field("rows", &self.len())
            .field("dim", &self.dim)
            .field("queries", &self.query_count())
            .finish_non_exhaustive()
    }
}

impl OwnVectors {
    /// Samples the queries and computes the exact top-`k` of each. CPU-heavy (every core):
    /// call it off the async workers. The error says what is wrong with the rows.
    pub fn build(metric: Metric, rows: Rows, queries: Queries, k: usize) -> Result<Self, String> {
        let Rows { ids, dim, data } = rows;
        let n = ids.len();
        if n == 0 || dim == 0 {
            return Err("no rows with a vector: there is nothing to search".into());
        }
        let mut row_of = HashMap::with_capacity(n);
        for (i, id) in ids.iter().enumerate() {
            if row_of.insert(*id, i as u32).is_some() {
                return Err(format!(
                    "id {id} appears on more than one row: the id column must identify a row"
                ));
            }
        }
        let (queries, own_rows) = match queries {
            Queries::Given(q) => {
                if q.is_empty() || q.len() % dim != 0 {
                    return Err(format!(
                        "the query vectors are not {dim}-d, the dimension of the table's vectors"
                    ));
                }
                (q, None)
            }
            Queries::HeldOut { count, seed } => {
                if count >= n {
                    return Err(format!(
                        "{count} held-out queries need more than {count} rows, and the table has {n}: ask for fewer queries"
                    ));
                }
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let mut picked = rand::seq::index::sample(&mut rng, n, count).into_vec();
                picked.sort_unstable();
                let q = picked
                    .iter()
                    .flat_map(|&r| data[r * dim..(r + 1) * dim].iter().copied())
                    .collect();
                (q, Some(picked))
            }
        };
        let started = std::time::Instant::now();
        // One deeper than asked when each query's own row is among the rows: it is the
        // nearest to itself (or tied with a duplicate) and is then taken out.
        let depth = (k + usize::from(own_rows.is_some())).min(n);
        let gt = truth::compute(metric, dim, &data, &queries, &[], &[], depth);
        let mut truth = gt.filters.into_iter().next().unwrap_or_default();
        if let Some(own) = &own_rows {
            for (nb, &row) in truth.iter_mut().zip(own) {
                match nb.ids.iter().position(|&i| i as usize == row) {
                    Some(p) => {
                        nb.ids.remove(p);
                        nb.distances.remove(p);
                    }
                    None => {
                        // Exact duplicates of the query filled the k + 1 slots.
                        nb.ids.truncate(k);
                        nb.distances.truncate(k);
                    }
                }
            }
        }
        let query_ids = own_rows.map(|r| r.iter().map(|&i| ids[i]).collect());
        Ok(OwnVectors {
            metric,
            dim,
            ids,
            base: data,
            queries,
            query_ids,
            truth,
            row_of,
            truth_seconds: started.elapsed().as_secs_f64(),
        })
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn query_count(&self) -> usize {
        self.queries.len() / self.dim
    }

    pub fn query(&self, q: usize) -> &[f32] {
        &self.queries[q * self.dim..(q + 1) * self.dim]
    }

    /// Recall@k of an answer given as the table's ids, nearest first. An id that is not a row
    /// read (added since, or the query's own row) never counts.
    pub fn recall(&self, q: usize, k: usize, returned: &[i64]) -> Recall {
        let own = self.query_ids.as_ref().map(|ids| ids[q]);
        let rows: Vec<u32> = returned
            .iter()
            .map(|id| match self.row_of.get(id) {
                Some(&r) if Some(*id) != own => r,
                _ => u32::MAX,
            })
            .collect();
        truth::recall(&self.truth[q], k, &rows, |r| {
            let r = r as usize;
            (r < self.len()).then(|| {
                self.metric
                    .distance(self.query(q), &self.base[r * self.dim..(r + 1) * self.dim])
            })
        })
    }
}

/// Reads PostgreSQL's binary COPY output of `(int8, vector)` rows as it arrives: the
/// signature, the header, then per row a field count, and each field's length and bytes
/// (big-endian); pgvector sends a vector as its dimension (int16), an unused int16 and
/// float4 values. Only an incomplete row is buffered, so reading holds the rows once.
pub struct CopyReader {
    pending: Vec<u8>,
    header: bool,
    done: bool,
    expected: usize,
    rows: Rows,
}

/// What the next bytes held: a row or the header taken (bytes used), more needed, or the end.
enum Step {
    Took(usize),
    More,
    End(usize),
}

impl CopyReader {
    /// `expected`: the rows the table said it has (memory is reserved for them once).
    pub fn new(expected: usize) -> Self {
        CopyReader {
            pending: Vec::new(),
            header: false,
            done: false,
            expected,
            rows: Rows {
                ids: Vec::with_capacity(expected),
                dim: 0,
                data: Vec::new(),
            },
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        if self.done {
            return Err(bad("bytes after the trailer"));
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.extend_from_slice(chunk);
        let mut at = 0;
        loop {
            match self.step(&pending[at..])? {
                Step::Took(n) => at += n,
                Step::More => break,
                Step::End(n) => {
                    at += n;
                    self.done = true;
                    break;
                }
            }
        }
        pending.drain(..at);
        self.pending = pending;
        if self.done && !self.pending.is_empty() {
            return Err(bad("bytes after the trailer"));
        }
        Ok(())
    }

    pub fn finish(self) -> Result<Rows, String> {
        if !self.done {
            return Err(bad(if self.header {
                "it ended before its trailer"
            } else {
                "no PGCOPY signature"
            }));
        }
        Ok(self.rows)
    }

    fn step(&mut self, bytes: &[u8]) -> Result<Step, String> {
        const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
        let mut r = Reader(bytes);
        if !self.header {
            let Some(sig) = r.take(SIGNATURE.len()) else {
                return Ok(Step::More);
            };
            if sig != SIGNATURE {
                return Err(bad("no PGCOPY signature"));
            }
            let (Some(_flags), Some(ext)) = (r.take(4), r.u32()) else {
                return Ok(Step::More);
            };
            if r.take(ext as usize).is_none() {
                return Ok(Step::More);
            }
            self.header = true;
            return Ok(Step::Took(bytes.len() - r.0.len()));
        }
        let Some(fields) = r.u16() else {
            return Ok(Step::More);
        };
        match fields as i16 {
            -1 => return Ok(Step::End(2)),
            2 => {}
            n => return Err(bad(&format!("{n} fields in a row, expected 2"))),
        }
        let Some(id_len) = r.u32() else {
            return Ok(Step::More);
        };
        if id_len as i32 != 8 {
            return Err("a row's id is NULL or not an int8".into());
        }
        let (Some(id), Some(len)) = (r.u64(), r.u32()) else {
            return Ok(Step::More);
        };
        let id = id as i64;
        let len = len as i32;
        if len < 4 {
            return Err(format!("the vector of id {id} is NULL"));
        }
        let Some(body) = r.take(len as usize) else {
            return Ok(Step::More);
        };
        let dim = u16::from_be_bytes([body[0], body[1]]) as usize;
        if body.len() != 4 + 4 * dim {
            return Err(bad(&format!(
                "vector of id {id} is {} bytes for {dim} dimensions",
                body.len()
            )));
        }
        if self.rows.ids.is_empty() {
            self.rows.dim = dim;
            self.rows.data.reserve_exact(self.expected.max(1) * dim);
        } else if dim != self.rows.dim {
            return Err(format!(
                "the vector of id {id} has {dim} dimensions, earlier rows {}: every row must have the same",
                self.rows.dim
            ));
        }
        self.rows.ids.push(id);
        self.rows.data.extend(
            body[4..]
                .chunks_exact(4)
                .map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]])),
        );
        Ok(Step::Took(bytes.len() - r.0.len()))
    }
}

fn bad(what: &str) -> String {
    format!("unexpected COPY output: {what}")
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_be_bytes(b.try_into().unwrap_or([0; 8])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// All of a COPY's bytes at once.
    fn parse_copy_binary(bytes: &[u8]) -> Result<Rows, String> {
        let mut r = CopyReader::new(0);
        r.feed(bytes)?;
        r.finish()
    }

    fn rows(n: usize, dim: usize) -> Rows {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let data = (0..n * dim)
            .map(|_| rand::RngExt::random_range(&mut rng, -1.0f32..1.0))
            .collect();
        // Ids as a user's table might have them: not 1..n, not in order.
        Rows {
            ids: (0..n as i64).map(|i| 1000 + 7 * (n as i64 - i)).collect(),
            dim,
            data,
        }
    }

    /// Brute force in f64 over every row but the query's own.
    fn brute(v: &OwnVectors, q: usize, k: usize) -> Vec<i64> {
        let own = v.query_ids.as_ref().map(|ids| ids[q]);
        let mut all: Vec<(f64, i64)> = (0..v.len())
            .filter(|&r| Some(v.ids[r]) != own)
            .map(|r| {
                let x = &v.base[r * v.dim..(r + 1) * v.dim];
                (v.metric.distance(v.query(q), x), v.ids[r])
            })
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        all.into_iter().take(k).map(|x| x.1).collect()
    }

    #[test]
    fn held_out_queries_are_judged_without_their_own_row() {
        for metric in [Metric::Cosine, Metric::L2, Metric::Dot] {
            let v = OwnVectors::build(
                metric,
                rows(500, 16),
                Queries::HeldOut { count: 20, seed: 3 },
                10,
            )
            .unwrap();
            assert_eq!(v.query_count(), 20);
            let own = v.query_ids.clone().unwrap();
            for (q, own_id) in own.iter().enumerate() {
                let exact = brute(&v, q, 10);
                assert_eq!(v.truth[q].ids.len(), 10);
                assert!(!exact.contains(own_id));
                assert_eq!(v.recall(q, 10, &exact).strict, 1.0, "{metric:?} q{q}");
                // The query's own row is a miss, not a hit: an answer that keeps it in
                // scores 9 of 10.
                let mut with_self = vec![*own_id];
                with_self.extend_from_slice(&exact[..9]);
                assert_eq!(v.recall(q, 10, &with_self).strict, 0.9, "{metric:?}");
                // Ids that are not rows never count; repeats count once.
                assert_eq!(v.recall(q, 10, &[exact[0], exact[0], -5]).strict, 0.1);
            }
        }
    }

    #[test]
    fn given_queries_keep_every_row_and_check_their_dimension() {
        let r = rows(200, 8);
        let q: Vec<f32> = r.data[..8].to_vec();
        let first = r.ids[0];
        let v = OwnVectors::build(Metric::L2, r, Queries::Given(q), 5).unwrap();
        assert_eq!(v.truth[0].ids[0], 0, "the row itself is its nearest");
        assert_eq!(v.recall(0, 5, &brute(&v, 0, 5)).strict, 1.0);
        assert!(brute(&v, 0, 5).contains(&first));
        let e = OwnVectors::build(Metric::L2, rows(10, 8), Queries::Given(vec![0.0; 6]), 5)
            .err()
            .unwrap();
        assert!(e.contains("not 8-d"), "{e}");
    }

    #[test]
    fn refusals() {
        let mut r = rows(10, 4);
        r.ids[3] = r.ids[4];
        let e = OwnVectors::build(Metric::L2, r, Queries::HeldOut { count: 2, seed: 1 }, 3)
            .err()
            .unwrap();
        assert!(e.contains("more than one row"), "{e}");
        let e = OwnVectors::build(
            Metric::L2,
            rows(10, 4),
            Queries::HeldOut { count: 10, seed: 1 },
            3,
        )
        .err()
        .unwrap();
        assert!(e.contains("ask for fewer"), "{e}");
    }

    fn copy(rows: &[(i64, Option<Vec<f32>>)]) -> Vec<u8> {
        let mut b = b"PGCOPY\n\xff\r\n\0".to_vec();
        b.extend(0u32.to_be_bytes());
        b.extend(0u32.to_be_bytes());
        for (id, v) in rows {
            b.extend(2u16.to_be_bytes());
            b.extend(8u32.to_be_bytes());
            b.extend(id.to_be_bytes());
            match v {
                None => b.extend((-1i32).to_be_bytes()),
                Some(v) => {
                    b.extend(((4 + 4 * v.len()) as u32).to_be_bytes());
                    b.extend((v.len() as u16).to_be_bytes());
                    b.extend(0u16.to_be_bytes());
                    for x in v {
                        b.extend(x.to_be_bytes());
                    }
                }
            }
        }
        b.extend((-1i16).to_be_bytes());
        b
    }

    #[test]
    fn copy_binary_rows() {
        let r = parse_copy_binary(&copy(&[
            (5, Some(vec![1.0, -2.5])),
            (-9, Some(vec![0.0, 3.0])),
        ]))
        .unwrap();
        assert_eq!(r.ids, [5, -9]);
        assert_eq!((r.dim, r.data), (2, vec![1.0, -2.5, 0.0, 3.0]));
        let e = parse_copy_binary(&copy(&[(5, Some(vec![1.0, 2.0])), (6, Some(vec![1.0]))]))
            .err()
            .unwrap();
        assert!(e.contains("id 6 has 1 dimensions"), "{e}");
        let e = parse_copy_binary(&copy(&[(5, None)])).err().unwrap();
        assert!(e.contains("id 5 is NULL"), "{e}");
        let full = copy(&[(5, Some(vec![1.0, 2.0]))]);
        for cut in 0..full.len() - 1 {
            assert!(parse_copy_binary(&full[..cut]).is_err(), "cut at {cut}");
        }
        // As the server sends it: in pieces of any size, rows split anywhere.
        let many: Vec<(i64, Option<Vec<f32>>)> = (0..50)
            .map(|i| (i * 11 - 90, Some(vec![i as f32, -0.5, 2.0 * i as f32])))
            .collect();
        let whole = parse_copy_binary(&copy(&many)).unwrap();
        assert_eq!(whole.ids.len(), 50);
        for piece in [1, 3, 7, 64, 1000] {
            let mut r = CopyReader::new(50);
            for chunk in copy(&many).chunks(piece) {
                r.feed(chunk).unwrap();
            }
            let rows = r.finish().unwrap();
            assert_eq!(
                (rows.ids, rows.dim, rows.data),
                (whole.ids.clone(), 3, whole.data.clone()),
                "pieces of {piece}"
            );
        }
        let mut extra = copy(&many);
        extra.push(0);
        assert!(
            parse_copy_binary(&extra)
                .err()
                .unwrap()
                .contains("after the trailer")
        );
    }
}
