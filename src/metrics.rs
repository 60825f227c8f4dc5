//! Latency histograms: microseconds, 3 significant digits, one per worker, merged (never
//! averaged). Serialized in HdrHistogram's V2 compressed format so later runs can be compared
//! against the full distribution.

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

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ErrorCount {
    pub count: u64,
    pub example: String,
}
