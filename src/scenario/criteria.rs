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
    /// Recovery drills (`kind = "drill"`), worst of every trial: seconds the backup took,
    /// its size in bytes, seconds of the restore alone, RTO (restore start until the copy
    /// answers its readiness query), RPO in seconds and rows lost, and the integrity verdict
    /// (`integrity == ok`: the restored copy matches the source).
    BackupTime,
    BackupBytes,
    RestoreTime,
    Rto,
    Rpo,
    RpoRows,
    Integrity,
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
            "backup_time" => Metric::BackupTime,
            "backup_bytes" => Metric::BackupBytes,
            "restore_time" => Metric::RestoreTime,
            "rto" => Metric::Rto,
            "rpo" => Metric::Rpo,
            "rpo_rows" => Metric::RpoRows,
            "integrity" => Metric::Integrity,
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

    /// True for the metrics of recovery drills.
    pub fn is_drill(self) -> bool {
        matches!(
            self,
            Metric::BackupTime
                | Metric::BackupBytes
                | Metric::RestoreTime
                | Metric::Rto
                | Metric::Rpo
                | Metric::RpoRows
                | Metric::Integrity
        )
    }

    /// True when a higher value is worse (latency, sizes, durations, loss).
    pub fn higher_is_worse(self) -> bool {
        !matches!(
            self.per_window(),
            Metric::Throughput
                | Metric::RecallAtK
                | Metric::RecallAtKTolerant
                | Metric::BytesPerS
                | Metric::IndexVectorsPerS
                | Metric::Integrity
        )
    }

    pub fn is_latency(self) -> bool {
        !self.is_drill()
            && !matches!(
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
            Metric::BackupTime => "backup_time",
            Metric::BackupBytes => "backup_bytes",
            Metric::RestoreTime => "restore_time",
            Metric::Rto => "rto",
            Metric::Rpo => "rpo",
            Metric::RpoRows => "rpo_rows",
            Metric::Integrity => "integrity",
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
            Metric::BackupTime | Metric::RestoreTime | Metric::Rto | Metric::Rpo => "s",
            Metric::BackupBytes => "bytes",
            Metric::RpoRows => "rows",
            Metric::Integrity => "ok",
            _ => "ms",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Comparison {
    /// Only `integrity == ok`.
    #[serde(rename = "==")]
    Eq,
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
            Comparison::Eq => value == threshold,
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

const HELP: &str = "write `WORKLOAD[.OP].METRIC OP VALUE` (a goose journey's OP is `JOURNEY.STEP`), e.g. `fts_search.p99 < 50ms` or `common_queries.throughput > 100ops/s`; metrics: p50 p95 p99 p999 max mean throughput error_rate recall_at_k recall_at_k_tolerant bytes_per_s index_vectors_per_s (e.g. `knn.recall_at_k > 0.95`, `upload.bytes_per_s > 100MB/s`, `knn.index_vectors_per_s > 1000`), and per window of latency over time (whole workload only) p50_window_max p95_window_max p99_window_max max_window_max throughput_window_min error_rate_window_max (e.g. `fts_search.p99_window_max < 200ms`); for drills (kind = \"drill\") backup_time backup_bytes restore_time rto rpo rpo_rows integrity (e.g. `pg_restore.rto < 1h`, `pg_backup.backup_bytes < 1GB`, `pg_restore.integrity == ok`)";

impl Criterion {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let (lhs, cmp, rhs) = ["<=", ">=", "==", "<", ">"]
            .iter()
            .find_map(|op| t.find(op).map(|i| (&t[..i], *op, &t[i + op.len()..])))
            .ok_or_else(|| format!("`{text}` has no comparison (<, <=, >, >=, ==); {HELP}"))?;
        let comparison = match cmp {
            "<" => Comparison::Lt,
            "<=" => Comparison::Le,
            ">" => Comparison::Gt,
            "==" => Comparison::Eq,
            _ => Comparison::Ge,
        };
        let parts: Vec<&str> = lhs.trim().split('.').collect();
        let (workload, op, metric) = match parts.as_slice() {
            [w, m] if !w.is_empty() => (*w, None, *m),
            // An op's name may hold dots itself: a goose journey's step is `JOURNEY.STEP`.
            [w, o @ .., m] if !w.is_empty() && o.len() <= 2 && o.iter().all(|s| !s.is_empty()) => {
                (*w, Some(o.join(".")), *m)
            }
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
        if (metric == Metric::Integrity) != (comparison == Comparison::Eq) {
            return Err(format!(
                "`{}`: write the integrity of a drill as `DRILL.integrity == ok`; `==` fits no other metric",
                t
            ));
        }
        if metric == Metric::Integrity {
            if rhs != "ok" {
                return Err(format!(
                    "`{t}`: integrity is compared with `ok` only (`DRILL.integrity == ok`)"
                ));
            }
            return Ok(Criterion {
                text: t.to_string(),
                workload: workload.to_string(),
                op,
                metric,
                comparison,
                threshold: 1.0,
            });
        }
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
            (Metric::BackupTime | Metric::RestoreTime | Metric::Rto | Metric::Rpo, u)
                if seconds_per(u).is_some() =>
            {
                number * seconds_per(u).unwrap_or(1.0)
            }
            (Metric::BackupBytes, u) if bytes_per(u).is_some() => {
                number * bytes_per(u).unwrap_or(1.0)
            }
            (Metric::RpoRows, "" | "rows") => number,
            (m, u) => {
                let valid = match m {
                    Metric::Throughput => "ops/s",
                    Metric::ErrorRate => "%",
                    Metric::RecallAtK | Metric::RecallAtKTolerant => {
                        "a fraction 0..1 (0.95) or a percentage (95%)"
                    }
                    Metric::BytesPerS => "MB/s, MiB/s, GB/s or KB/s",
                    Metric::IndexVectorsPerS => "vectors/s (e.g. `knn.index_vectors_per_s > 1000`)",
                    Metric::BackupTime | Metric::RestoreTime | Metric::Rto | Metric::Rpo => {
                        "ms, s, m (or min) or h (e.g. `pg_restore.rto < 1h`)"
                    }
                    Metric::BackupBytes => {
                        "B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (e.g. `pg_backup.backup_bytes < 1GB`)"
                    }
                    Metric::RpoRows => "rows or a bare number",
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

/// Seconds in one of a drill duration's units.
fn seconds_per(unit: &str) -> Option<f64> {
    Some(match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return None,
    })
}

/// Bytes in one of a size's units.
fn bytes_per(unit: &str) -> Option<f64> {
    Some(match unit {
        "" | "B" | "bytes" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_drill_metrics_in_seconds_bytes_and_ok() {
        let c = Criterion::parse("pg_restore.rto < 1h").unwrap();
        assert_eq!(
            (c.metric, c.threshold, c.metric.unit()),
            (Metric::Rto, 3600.0, "s")
        );
        assert!(c.metric.is_drill() && !c.metric.is_latency());
        let c = Criterion::parse("pg_pitr.rpo < 15m").unwrap();
        assert_eq!(c.threshold, 900.0);
        let c = Criterion::parse("pg_backup.backup_bytes < 1GB").unwrap();
        assert_eq!((c.metric, c.threshold), (Metric::BackupBytes, 1e9));
        let c = Criterion::parse("b.backup_bytes <= 2MiB").unwrap();
        assert_eq!(c.threshold, 2.0 * 1024.0 * 1024.0);
        let c = Criterion::parse("b.integrity == ok").unwrap();
        assert_eq!((c.comparison, c.threshold), (Comparison::Eq, 1.0));
        assert!(c.comparison.holds(1.0, c.threshold) && !c.comparison.holds(0.0, c.threshold));
        let e = Criterion::parse("b.integrity == fine").unwrap_err();
        assert!(e.contains("`ok` only"), "{e}");
        let e = Criterion::parse("b.integrity > 0").unwrap_err();
        assert!(e.contains("DRILL.integrity == ok"), "{e}");
        let e = Criterion::parse("w.p99 == 5ms").unwrap_err();
        assert!(e.contains("fits no other metric"), "{e}");
        let e = Criterion::parse("b.rto < 5 parsecs").unwrap_err();
        assert!(e.contains("ms, s, m"), "{e}");
        let e = Criterion::parse("b.backup_bytes < 5ms").unwrap_err();
        assert!(e.contains("KiB"), "{e}");
    }

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
        // A goose journey's step: the op is `JOURNEY.STEP`.
        let c = Criterion::parse("journeys.browse.search.p99 < 50ms").unwrap();
        assert_eq!(
            (c.workload.as_str(), c.op.as_deref(), c.metric),
            ("journeys", Some("browse.search"), Metric::P99)
        );
        for bad in ["w..p99 < 5ms", "w.a.b.c.p99 < 5ms", ".p99 < 5ms"] {
            assert!(Criterion::parse(bad).is_err(), "{bad}");
        }
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
