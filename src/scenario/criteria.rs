//! Acceptance criteria written as `workload[.op].metric < value unit`, e.g.
//! `fts_search.p99 < 50ms` or `common_queries.throughput > 100ops/s`.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    P50,
    P95,
    P99,
    P999,
    Max,
    Mean,
    /// Completed operations per second.
    Throughput,
    /// Failed operations as a percentage of all.
    ErrorRate,
    /// Mean recall@k against exact ground truth, a fraction 0..1 (or written in %).
    RecallAtK,
    /// The same judged with ann-benchmarks' 1e-3 distance tolerance: only when a criterion
    /// names it, since it counts near misses as hits.
    RecallAtKTolerant,
    /// Payload bytes per second, in MB/s (10^6 bytes).
    BytesPerS,
    /// Vectors indexed per second, index build included, on the workload's target under the
    /// profile (the store's evidence says whether from the profile's re-index or the load).
    IndexVectorsPerS,
    /// The worst whole window (latency over time, `[load] interval`) of every trial: the
    /// highest p50, p95, p99 or max of one window, the lowest throughput, the highest error
    /// rate. A stall of a few seconds fails these even when the whole-trial figure passes.
    P50WindowMax,
    P95WindowMax,
    P99WindowMax,
    MaxWindowMax,
    ThroughputWindowMin,
    ErrorRateWindowMax,
}

impl Metric {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "p50" => Metric::P50,
            "p95" => Metric::P95,
            "p99" => Metric::P99,
            "p999" => Metric::P999,
            "max" => Metric::Max,
            "mean" => Metric::Mean,
            "throughput" => Metric::Throughput,
            "error_rate" => Metric::ErrorRate,
            "recall_at_k" | "recall" => Metric::RecallAtK,
            "recall_at_k_tolerant" => Metric::RecallAtKTolerant,
            "bytes_per_s" => Metric::BytesPerS,
            "index_vectors_per_s" => Metric::IndexVectorsPerS,
            "p50_window_max" => Metric::P50WindowMax,
            "p95_window_max" => Metric::P95WindowMax,
            "p99_window_max" => Metric::P99WindowMax,
            "max_window_max" => Metric::MaxWindowMax,
            "throughput_window_min" => Metric::ThroughputWindowMin,
            "error_rate_window_max" => Metric::ErrorRateWindowMax,
            _ => return None,
        })
    }

    /// The whole-trial metric a window metric reads per window (itself otherwise): it
    /// decides the unit.
    pub fn per_window(self) -> Metric {
        match self {
            Metric::P50WindowMax => Metric::P50,
            Metric::P95WindowMax => Metric::P95,
            Metric::P99WindowMax => Metric::P99,
            Metric::MaxWindowMax => Metric::Max,
            Metric::ThroughputWindowMin => Metric::Throughput,
            Metric::ErrorRateWindowMax => Metric::ErrorRate,
            m => m,
        }
    }

    /// True for the metrics read from the windows of latency over time.
    pub fn is_window(self) -> bool {
        self.per_window() != self
    }

    pub fn is_latency(self) -> bool {
        !matches!(
            self.per_window(),
            Metric::Throughput
                | Metric::ErrorRate
                | Metric::RecallAtK
                | Metric::RecallAtKTolerant
                | Metric::BytesPerS
                | Metric::IndexVectorsPerS
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::P50 => "p50",
            Metric::P95 => "p95",
            Metric::P99 => "p99",
            Metric::P999 => "p999",
            Metric::Max => "max",
            Metric::Mean => "mean",
            Metric::Throughput => "throughput",
            Metric::ErrorRate => "error_rate",
            Metric::RecallAtK => "recall_at_k",
            Metric::RecallAtKTolerant => "recall_at_k_tolerant",
            Metric::BytesPerS => "bytes_per_s",
            Metric::IndexVectorsPerS => "index_vectors_per_s",
            Metric::P50WindowMax => "p50_window_max",
            Metric::P95WindowMax => "p95_window_max",
            Metric::P99WindowMax => "p99_window_max",
            Metric::MaxWindowMax => "max_window_max",
            Metric::ThroughputWindowMin => "throughput_window_min",
            Metric::ErrorRateWindowMax => "error_rate_window_max",
        }
    }

    /// Unit the threshold is normalised to: ms, ops/s, percent, MB/s, vectors/s, or `recall`
    /// (a fraction 0..1, which the report prints to four decimals).
    pub fn unit(self) -> &'static str {
        match self.per_window() {
            Metric::Throughput => "ops/s",
            Metric::ErrorRate => "%",
            Metric::RecallAtK | Metric::RecallAtKTolerant => "recall",
            Metric::BytesPerS => "MB/s",
            Metric::IndexVectorsPerS => "vectors/s",
            _ => "ms",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Comparison {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl Comparison {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Lt => value < threshold,
            Comparison::Le => value <= threshold,
            Comparison::Gt => value > threshold,
            Comparison::Ge => value >= threshold,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Criterion {
    pub text: String,
    pub workload: String,
    pub op: Option<String>,
    pub metric: Metric,
    pub comparison: Comparison,
    /// Normalised: milliseconds for latency, ops/s for throughput, percent for error rate,
    /// MB/s (10^6 bytes per second) for bytes_per_s.
    pub threshold: f64,
}

const HELP: &str = "write `WORKLOAD[.OP].METRIC OP VALUE`, e.g. `fts_search.p99 < 50ms` or `common_queries.throughput > 100ops/s`; metrics: p50 p95 p99 p999 max mean throughput error_rate recall_at_k recall_at_k_tolerant bytes_per_s index_vectors_per_s (e.g. `knn.recall_at_k > 0.95`, `upload.bytes_per_s > 100MB/s`, `knn.index_vectors_per_s > 1000`), and per window of latency over time (whole workload only) p50_window_max p95_window_max p99_window_max max_window_max throughput_window_min error_rate_window_max (e.g. `fts_search.p99_window_max < 200ms`)";

impl Criterion {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let (lhs, cmp, rhs) = ["<=", ">=", "<", ">"]
            .iter()
            .find_map(|op| t.find(op).map(|i| (&t[..i], *op, &t[i + op.len()..])))
            .ok_or_else(|| format!("`{text}` has no comparison (<, <=, >, >=); {HELP}"))?;
        let comparison = match cmp {
            "<" => Comparison::Lt,
            "<=" => Comparison::Le,
            ">" => Comparison::Gt,
            _ => Comparison::Ge,
        };
        let parts: Vec<&str> = lhs.trim().split('.').collect();
        let (workload, op, metric) = match parts.as_slice() {
            [w, m] => (*w, None, *m),
            [w, o, m] => (*w, Some(o.to_string()), *m),
            _ => {
                return Err(format!(
                    "`{}` is not WORKLOAD[.OP].METRIC; {HELP}",
                    lhs.trim()
                ));
            }
        };
        let metric =
            Metric::parse(metric).ok_or_else(|| format!("unknown metric `{metric}`; {HELP}"))?;
        if metric.is_window() && op.is_some() {
            return Err(format!(
                "window metrics such as {} are recorded per workload, not per op: write `{workload}.{}`",
                metric.name(),
                metric.name()
            ));
        }
        let rhs = rhs.trim();
        let split = rhs
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_' || c == ','))
            .unwrap_or(rhs.len());
        let number: f64 = rhs[..split]
            .replace(['_', ','], "")
            .parse()
            .ok()
            .filter(|n: &f64| n.is_finite())
            .ok_or_else(|| {
                let shown: String = rhs.chars().take(24).collect();
                let more = if shown.len() < rhs.len() { "..." } else { "" };
                format!("`{shown}{more}` does not start with a finite number; {HELP}")
            })?;
        let unit = rhs[split..].trim();
        let threshold = match (metric.per_window(), unit) {
            (m, "ms") if m.is_latency() => number,
            (m, "s") if m.is_latency() => number * 1000.0,
            (m, "us" | "µs") if m.is_latency() => number / 1000.0,
            // Operations per second is throughput's only unit, so a bare number means it.
            (Metric::Throughput, "ops/s" | "/s" | "qps" | "") => number,
            (Metric::ErrorRate, "%") => number,
            (Metric::IndexVectorsPerS, "" | "vectors/s" | "/s") => number,
            (Metric::RecallAtK | Metric::RecallAtKTolerant, "") if number <= 1.0 => number,
            (Metric::RecallAtK | Metric::RecallAtKTolerant, "%") if number <= 100.0 => {
                number / 100.0
            }
            (Metric::BytesPerS, "MB/s") => number,
            (Metric::BytesPerS, "MiB/s") => number * 1.048_576,
            (Metric::BytesPerS, "GB/s") => number * 1000.0,
            (Metric::BytesPerS, "KB/s" | "kB/s") => number / 1000.0,
            (m, u) => {
                let valid = match m {
                    Metric::Throughput => "ops/s",
                    Metric::ErrorRate => "%",
                    Metric::RecallAtK | Metric::RecallAtKTolerant => {
                        "a fraction 0..1 (0.95) or a percentage (95%)"
                    }
                    Metric::BytesPerS => "MB/s, MiB/s, GB/s or KB/s",
                    Metric::IndexVectorsPerS => "vectors/s (e.g. `knn.index_vectors_per_s > 1000`)",
                    _ => "us, ms or s",
                };
                return Err(format!(
                    "unit `{u}` does not fit metric {}; use {valid}",
                    metric.name()
                ));
            }
        };
        Ok(Criterion {
            text: t.to_string(),
            workload: workload.to_string(),
            op,
            metric,
            comparison,
            threshold,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_latency_and_throughput() {
        let c = Criterion::parse("fts_search.p99 < 50ms").unwrap();
        assert_eq!(
            (c.workload.as_str(), c.metric, c.threshold),
            ("fts_search", Metric::P99, 50.0)
        );
        let c = Criterion::parse("w.op_a.p95 <= 0.5s").unwrap();
        assert_eq!(
            (c.op.as_deref(), c.threshold, c.comparison),
            (Some("op_a"), 500.0, Comparison::Le)
        );
        let c = Criterion::parse("knn.index_vectors_per_s > 1,000").unwrap();
        assert_eq!((c.metric, c.threshold), (Metric::IndexVectorsPerS, 1000.0));
        assert!(Criterion::parse("knn.index_vectors_per_s > 1000ms").is_err());
        let c = Criterion::parse("w.throughput > 1,000ops/s").unwrap();
        assert_eq!(c.threshold, 1000.0);
        assert!(c.comparison.holds(1001.0, c.threshold));
        assert!(!c.comparison.holds(1000.0, c.threshold));
    }

    #[test]
    fn parses_bytes_per_second_in_megabytes() {
        let c = Criterion::parse("upload.bytes_per_s > 100MB/s").unwrap();
        assert_eq!((c.metric, c.threshold), (Metric::BytesPerS, 100.0));
        let c = Criterion::parse("w.put.bytes_per_s >= 1GB/s").unwrap();
        assert_eq!(c.threshold, 1000.0);
        assert!(
            Criterion::parse("w.bytes_per_s > 100ms")
                .unwrap_err()
                .contains("MB/s")
        );
    }

    #[test]
    fn parses_window_metrics_in_their_per_window_units() {
        let c = Criterion::parse("fts_search.p99_window_max < 0.2s").unwrap();
        assert_eq!((c.metric, c.threshold), (Metric::P99WindowMax, 200.0));
        assert!(c.metric.is_latency() && c.metric.is_window());
        assert_eq!(c.metric.unit(), "ms");
        let c = Criterion::parse("fts_search.throughput_window_min > 100").unwrap();
        assert_eq!(
            (c.metric, c.threshold),
            (Metric::ThroughputWindowMin, 100.0)
        );
        let e = Criterion::parse("fts_search.throughput_window_min > 100ms").unwrap_err();
        assert!(
            e.contains("does not fit metric throughput_window_min"),
            "{e}"
        );
        let c = Criterion::parse("w.throughput_window_min > 100ops/s").unwrap();
        assert_eq!((c.metric.unit(), c.threshold), ("ops/s", 100.0));
        assert!(!c.metric.is_latency());
        let c = Criterion::parse("w.error_rate_window_max < 5%").unwrap();
        assert_eq!(c.metric, Metric::ErrorRateWindowMax);
        let e = Criterion::parse("w.search.p99_window_max < 1s").unwrap_err();
        assert!(e.contains("per workload, not per op"), "{e}");
    }

    #[test]
    fn rejects_nonsense_with_help() {
        assert!(
            Criterion::parse("w.p99 50ms")
                .unwrap_err()
                .contains("no comparison")
        );
        assert!(
            Criterion::parse("w.p42 < 50ms")
                .unwrap_err()
                .contains("unknown metric")
        );
        assert!(
            Criterion::parse("w.p99 < 50ops/s")
                .unwrap_err()
                .contains("does not fit")
        );
        assert!(
            Criterion::parse("w.p99 < fast")
                .unwrap_err()
                .contains("number")
        );
        let huge = format!("w.p99 < {}ms", "9".repeat(400));
        assert!(Criterion::parse(&huge).unwrap_err().contains("finite"));
    }
}
