//! How a comparison judges noise: the thresholds (a scenario's `[gate]`, overridden by
//! `--noise`) and the confidence of the bootstrap interval.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, InputIssue, Result};

/// Relative changes smaller than these (fractions) are treated as noise. Defaults come from
/// ten A/A pairs on a 2-core machine (scripts/calibrate-gate, 5 trials of 1 s): between
/// identical runs medians and throughput moved by up to 4 %, p95 by up to 11 %, and p99 by up
/// to 100 % (its interval's lower end reached +30 %): a handful of slow operations decide a
/// p99, short trials hold few of them, and two separate runs also drift apart. Longer trials
/// narrow the tails' noise; scenarios can set their own thresholds under `[gate]`, and
/// `--history` learns them from earlier runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NoiseThresholds {
    #[serde(default = "d05")]
    pub p50: f64,
    #[serde(default = "d15")]
    pub p95: f64,
    #[serde(default = "d35")]
    pub p99: f64,
    #[serde(default = "d05")]
    pub throughput: f64,
}

fn d05() -> f64 {
    0.05
}
fn d15() -> f64 {
    0.15
}
fn d35() -> f64 {
    0.35
}

impl Default for NoiseThresholds {
    fn default() -> Self {
        NoiseThresholds {
            p50: d05(),
            p95: d15(),
            p99: d35(),
            throughput: d05(),
        }
    }
}

impl NoiseThresholds {
    pub fn of(&self, metric: &str) -> f64 {
        match metric {
            "p50" => self.p50,
            "p95" => self.p95,
            "p99" => self.p99,
            _ => self.throughput,
        }
    }
}

/// Thresholds given on the command line (`--noise METRIC=FRACTION`, repeatable; a later one
/// for the same metric wins), checked before anything runs and applied over the
/// scenario's `[gate]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NoiseOverrides {
    p50: Option<f64>,
    p95: Option<f64>,
    p99: Option<f64>,
    throughput: Option<f64>,
}

impl NoiseOverrides {
    /// Parses every `METRIC=FRACTION` (e.g. `p99=0.2`); the error names the first bad one.
    pub fn parse(specs: &[String]) -> Result<Self, String> {
        let mut out = NoiseOverrides::default();
        for spec in specs {
            let (metric, value) = spec
                .split_once('=')
                .ok_or_else(|| format!("`{spec}`: write METRIC=FRACTION, e.g. p99=0.15"))?;
            let v: f64 = value
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| (0.0..1.0).contains(v))
                .ok_or_else(|| {
                    format!(
                        "`{spec}`: the threshold is a fraction between 0 and 1, e.g. 0.1 for 10 %"
                    )
                })?;
            let slot = match metric.trim() {
                "p50" => &mut out.p50,
                "p95" => &mut out.p95,
                "p99" => &mut out.p99,
                "throughput" => &mut out.throughput,
                m => {
                    return Err(format!(
                        "`{m}`: noise thresholds exist for p50, p95, p99 and throughput"
                    ));
                }
            };
            *slot = Some(v);
        }
        Ok(out)
    }

    /// `base` with the overridden metrics replaced.
    pub fn apply(&self, base: &NoiseThresholds) -> NoiseThresholds {
        NoiseThresholds {
            p50: self.p50.unwrap_or(base.p50),
            p95: self.p95.unwrap_or(base.p95),
            p99: self.p99.unwrap_or(base.p99),
            throughput: self.throughput.unwrap_or(base.throughput),
        }
    }
}

/// How comparisons judge noise (`[gate]` in a scenario).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSpec {
    #[serde(default)]
    pub noise: NoiseThresholds,
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// Whether a change measured under different host conditions (other work, steal) is
    /// `inconclusive` (true, the default) or keeps its verdict with the difference named.
    #[serde(default = "default_host_check")]
    pub host_check: bool,
}

fn default_host_check() -> bool {
    true
}

fn default_confidence() -> f64 {
    0.95
}

impl Default for GateSpec {
    fn default() -> Self {
        GateSpec {
            noise: Default::default(),
            confidence: default_confidence(),
            host_check: default_host_check(),
        }
    }
}

impl GateSpec {
    /// (field under `gate.`, what would be valid) for every value out of range. Checked when a
    /// scenario is loaded and again when a results file is read (its copy may be edited).
    pub fn problems(&self) -> Vec<(String, &'static str)> {
        let mut out = Vec::new();
        if !(0.5..1.0).contains(&self.confidence) {
            out.push((
                "confidence".to_string(),
                "must be between 0.5 and 1 (e.g. 0.95)",
            ));
        }
        for (metric, v) in [
            ("p50", self.noise.p50),
            ("p95", self.noise.p95),
            ("p99", self.noise.p99),
            ("throughput", self.noise.throughput),
        ] {
            if !(0.0..1.0).contains(&v) {
                out.push((
                    format!("noise.{metric}"),
                    "is a fraction between 0 and 1 (0.1 = 10 %)",
                ));
            }
        }
        out
    }

    /// Checks the `[gate]` a results file carries (defaults when it has none) like a
    /// scenario's, naming the field of the file (`scenario.gate.<field>`).
    pub fn check_in_results(&self, path: &Path) -> Result<()> {
        let problems: Vec<_> = self
            .problems()
            .into_iter()
            .map(|(f, m)| InputIssue::new(path, format!("scenario.gate.{f}"), m.to_string()))
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Input(problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn overrides_replace_only_the_metrics_named_and_the_last_one_wins() {
        let scenario = NoiseThresholds {
            p50: 0.1,
            ..NoiseThresholds::default()
        };
        let o =
            NoiseOverrides::parse(&specs(&["p99=0.2", " throughput = 0.01", "p99=0.25"])).unwrap();
        assert_eq!(
            o.apply(&scenario),
            NoiseThresholds {
                p50: 0.1,
                p95: 0.15,
                p99: 0.25,
                throughput: 0.01
            }
        );
        assert_eq!(
            NoiseOverrides::parse(&[]).unwrap().apply(&scenario),
            scenario
        );
    }

    #[test]
    fn bad_overrides_say_what_would_be_valid() {
        let err = |s: &str| NoiseOverrides::parse(&specs(&["p50=0.1", s])).unwrap_err();
        assert!(
            err("p99").contains("write METRIC=FRACTION"),
            "{}",
            err("p99")
        );
        assert!(err("p99=1.5").contains("fraction between 0 and 1"));
        assert!(err("p99=-0.1").contains("fraction between 0 and 1"));
        assert!(err("p99=x").contains("fraction between 0 and 1"));
        assert!(err("p90=0.1").contains("`p90`: noise thresholds exist for p50, p95, p99"));
    }

    #[test]
    fn a_missing_gate_is_the_defaults_and_out_of_range_values_are_named() {
        let path = Path::new("results.json");
        let spec = GateSpec::default();
        assert_eq!(
            (spec.noise.clone(), spec.confidence),
            (NoiseThresholds::default(), 0.95)
        );
        spec.check_in_results(path).unwrap();
        let bad: GateSpec =
            serde_json::from_value(serde_json::json!({"confidence": 1.2, "noise": {"p99": 2.0}}))
                .unwrap();
        let Err(Error::Input(issues)) = bad.check_in_results(path) else {
            panic!("out of range values must be input errors")
        };
        let text: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
        assert_eq!(issues.len(), 2, "{text:?}");
        assert!(text[0].contains("scenario.gate.confidence"), "{text:?}");
        assert!(text[1].contains("scenario.gate.noise.p99"), "{text:?}");
    }
}
