//! Thresholds learned from a history of earlier runs, as the gate uses and reports them.
//! Learning itself (reading earlier results files) is done by the `history` module.

use serde::{Deserialize, Serialize};

/// One metric's threshold learned from history.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LearnedThreshold {
    pub profile: String,
    pub target: String,
    pub workload: String,
    pub metric: String,
    /// History runs the noise was estimated from.
    pub runs: usize,
    /// Robust standard deviation of the log of the merged values (1.4826 x MAD).
    pub sigma_log: f64,
    /// The threshold used: exp(z x sqrt(2) x sigma_log) - 1, z one-sided at
    /// `stats::LEARN_CONFIDENCE`, at least `stats::MIN_LEARNED_THRESHOLD`.
    pub threshold: f64,
}

/// What the history held and what was learned from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryReport {
    pub source: String,
    /// Results files of the same scenario, dataset specs and load shape that were used.
    pub runs: usize,
    /// Files of another scenario, dataset or load shape, left out.
    pub skipped: usize,
    /// The current run itself, found in the history and left out (it would judge itself).
    pub current_excluded: bool,
    /// The confirming run (`compare --confirm`), found in the history and left out.
    #[serde(default)]
    pub confirming_excluded: bool,
    pub min_runs: usize,
    pub confidence: f64,
    pub learned: Vec<LearnedThreshold>,
    /// In words, for the reader.
    pub note: String,
}
