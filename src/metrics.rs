//! Latency histograms: microseconds, 3 significant digits, one per worker, merged (never
//! averaged). Serialized in HdrHistogram's V2 compressed format so later runs can be compared
//! against the full distribution. A [`Tally`] holds what a set of operations produced and is
//! the one place where workers' and trials' counts are merged.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

/// Highest trackable latency: one hour, in microseconds.
const HIGHEST_US: u64 = 3_600_000_000;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("static bounds are valid")
}

/// Records one latency; values beyond an hour are clamped to the top bucket, not dropped.
#[inline]
pub fn record(h: &mut Histogram<u64>, latency: Duration) {
    let us = u64::try_from(latency.as_micros())
        .unwrap_or(u64::MAX)
        .max(1);
    h.saturating_record(us);
}

/// Adds `from` into `into`. Both come from [`new_histogram`], so bounds always agree.
pub fn merge(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    into.add(from).expect("histograms share bounds");
}

/// Errors of one kind, with the first message seen as an example.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ErrorCount {
    pub count: u64,
    pub example: String,
}

/// What an operation kind sums besides its latencies and errors (bytes, recall), merged with
/// them.
pub trait Merge {
    fn merge(&mut self, other: &Self);
}

impl Merge for () {
    fn merge(&mut self, _: &()) {}
}

/// What a set of operations produced, per operation kind: latencies, errors and extras, plus
/// the open-loop pacer's lateness. Each worker fills its own; a phase merges its workers' and
/// a workload merges its trials' with [`Tally::merge`].
#[derive(Debug, Clone)]
pub struct Tally<X> {
    pub per_op: Vec<Histogram<u64>>,
    pub per_op_errors: Vec<u64>,
    pub per_op_extras: Vec<X>,
    /// Open loop: how late each operation started against its schedule.
    pub lag: Histogram<u64>,
    /// Open loop: the lateness of operations whose connection was idle and waiting for their
    /// start, i.e. the pacer's own precision.
    pub timer_lag: Histogram<u64>,
    pub errors_by_kind: BTreeMap<String, ErrorCount>,
}

impl<X: Merge + Default + Clone> Tally<X> {
    /// An empty tally for `ops` operation kinds.
    pub fn new(ops: usize) -> Self {
        Tally {
            per_op: (0..ops).map(|_| new_histogram()).collect(),
            per_op_errors: vec![0; ops],
            per_op_extras: vec![X::default(); ops],
            lag: new_histogram(),
            timer_lag: new_histogram(),
            errors_by_kind: BTreeMap::new(),
        }
    }

    /// One failed operation of kind `op`; the first message of each error kind is kept.
    pub fn record_error(&mut self, op: usize, kind: String, message: String) {
        self.per_op_errors[op] += 1;
        let entry = self.errors_by_kind.entry(kind).or_default();
        entry.count += 1;
        if entry.example.is_empty() {
            entry.example = message;
        }
    }

    /// Adds `other` (of the same operation kinds) into this one.
    pub fn merge(&mut self, other: &Tally<X>) {
        for (i, h) in other.per_op.iter().enumerate() {
            merge(&mut self.per_op[i], h);
            self.per_op_errors[i] += other.per_op_errors[i];
            self.per_op_extras[i].merge(&other.per_op_extras[i]);
        }
        merge(&mut self.lag, &other.lag);
        merge(&mut self.timer_lag, &other.timer_lag);
        for (kind, c) in &other.errors_by_kind {
            let e = self.errors_by_kind.entry(kind.clone()).or_default();
            e.count += c.count;
            if e.example.is_empty() {
                e.example.clone_from(&c.example);
            }
        }
    }

    /// Every operation kind's latencies in one histogram.
    pub fn total(&self) -> Histogram<u64> {
        let mut all = new_histogram();
        self.per_op.iter().for_each(|h| merge(&mut all, h));
        all
    }

    /// Failed operations of every kind.
    pub fn errors(&self) -> u64 {
        self.per_op_errors.iter().sum()
    }
}

/// Percentiles in milliseconds, read from a (merged) histogram.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LatencySummary {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
    pub min: f64,
}

impl LatencySummary {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return LatencySummary::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        LatencySummary {
            p50: ms(h.value_at_quantile(0.50)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
            min: ms(h.min()),
        }
    }
}

pub fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("serializing to memory cannot fail");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("histogram is not base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("histogram does not decode: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_percentiles_come_from_all_samples_not_averages() {
        // Worker A: 99 fast ops; worker B: 1 fast and 99 slow ops.
        let mut a = new_histogram();
        let mut b = new_histogram();
        for _ in 0..99 {
            record(&mut a, Duration::from_millis(1));
            record(&mut b, Duration::from_millis(100));
        }
        record(&mut b, Duration::from_millis(1));
        let mut all = new_histogram();
        merge(&mut all, &a);
        merge(&mut all, &b);
        let s = LatencySummary::of(&all);
        assert_eq!(all.len(), 199);
        // 100 of 199 samples are 1 ms, so the median is 1 ms; averaging the two workers'
        // medians would have said 50.5 ms.
        assert!((s.p50 - 1.0).abs() < 0.01, "{s:?}");
        assert!((s.p99 - 100.0).abs() < 0.1, "{s:?}");
    }

    /// A worker's tally: `fast` ops of kind 0 at 1 ms, `slow` of kind 1 at 50 ms, and one
    /// error of kind 1.
    fn worker(fast: u32, slow: u32, error: &str) -> Tally<u64> {
        let mut t = Tally::<u64>::new(2);
        (0..fast).for_each(|_| record(&mut t.per_op[0], Duration::from_millis(1)));
        (0..slow).for_each(|_| record(&mut t.per_op[1], Duration::from_millis(50)));
        record(&mut t.lag, Duration::from_micros(u64::from(fast)));
        t.per_op_extras[1] = u64::from(slow) * 100;
        t.record_error(1, "timeout".into(), error.into());
        t
    }

    impl Merge for u64 {
        fn merge(&mut self, other: &u64) {
            *self += other;
        }
    }

    #[test]
    fn tallies_merge_every_count_and_keep_the_first_example() {
        let mut all = Tally::<u64>::new(2);
        all.merge(&worker(10, 5, "first"));
        all.merge(&worker(20, 1, "second"));
        assert_eq!(all.per_op[0].len(), 30);
        assert_eq!(all.per_op[1].len(), 6);
        assert_eq!(all.per_op_errors, [0, 2]);
        assert_eq!(all.errors(), 2);
        assert_eq!(all.per_op_extras, [0, 600]);
        assert_eq!(all.lag.len(), 2);
        let e = &all.errors_by_kind["timeout"];
        assert_eq!((e.count, e.example.as_str()), (2, "first"));
        let total = all.total();
        assert_eq!(total.len(), 36);
        assert!((LatencySummary::of(&total).p99 - 50.0).abs() < 0.1);
    }

    /// results.json stores encoded histograms: the bytes must not depend on the order in
    /// which workers or trials are merged.
    #[test]
    fn merged_tallies_encode_the_same_in_any_order() {
        let (a, b, c) = (worker(7, 3, "a"), worker(0, 9, "b"), worker(12, 0, "c"));
        let mut one = Tally::<u64>::new(2);
        [&a, &b, &c].iter().for_each(|t| one.merge(t));
        let mut two = Tally::<u64>::new(2);
        [&c, &a, &b].iter().for_each(|t| two.merge(t));
        assert_eq!(encode(&one.total()), encode(&two.total()));
        assert_eq!(encode(&one.per_op[1]), encode(&two.per_op[1]));
        // The total is the sum of the kinds, as if every operation were recorded into it.
        let mut direct = new_histogram();
        for (n, ms) in [(19, 1), (12, 50)] {
            (0..n).for_each(|_| record(&mut direct, Duration::from_millis(ms)));
        }
        assert_eq!(encode(&one.total()), encode(&direct));
    }

    #[test]
    fn clamps_instead_of_dropping() {
        let mut h = new_histogram();
        record(&mut h, Duration::from_secs(10_000));
        record(&mut h, Duration::ZERO);
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn round_trips_through_text() {
        let mut h = new_histogram();
        for i in 1..1000 {
            record(&mut h, Duration::from_micros(i * 37));
        }
        let back = decode(&encode(&h)).unwrap();
        assert_eq!(back.len(), h.len());
        assert_eq!(back.value_at_quantile(0.99), h.value_at_quantile(0.99));
        assert!(decode("not base64!").is_err());
    }
}
