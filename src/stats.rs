//! Statistics for comparing two sets of trials: a bootstrap confidence interval of the
//! relative change, and a verdict that calls a change "improved" or "regressed" only when the
//! whole interval lies beyond the noise threshold (as criterion.rs does). Self-contained: no
//! I/O, deterministic for a given seed.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Relative change `after / before - 1` of the mean over trials, with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Estimate {
    pub point: f64,
    pub lower: f64,
    pub upper: f64,
    pub confidence: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Improved,
    Regressed,
    NoSignificantChange,
    /// Fewer than two trials on a side: the noise cannot be estimated.
    NotAssessed,
    /// Beyond the noise, but the two runs' hosts were loaded differently: not a verdict, and
    /// never a gate failure.
    Inconclusive,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Regressed => "regressed",
            Verdict::NoSignificantChange => "no significant change",
            Verdict::NotAssessed => "not assessed (needs >= 2 trials per side)",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// Settings of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapConfig {
    pub confidence: f64,
    pub resamples: usize,
    pub seed: u64,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        BootstrapConfig {
            confidence: 0.95,
            resamples: 4_000,
            seed: 0x7E57_BE4C,
        }
    }
}

/// Bootstrap (percentile method) of the relative change of the mean: each resample draws the
/// trials of each side with replacement. `None` when a side has fewer than two trials or the
/// baseline mean is not positive.
pub fn relative_change(before: &[f64], after: &[f64], cfg: &BootstrapConfig) -> Option<Estimate> {
    if before.iter().chain(after).any(|x| !x.is_finite()) {
        return None;
    }
    relative_change_by(
        before.len(),
        after.len(),
        |idx| mean_at(before, idx),
        |idx| mean_at(after, idx),
        cfg,
    )
}

fn mean_at(xs: &[f64], idx: &[usize]) -> f64 {
    idx.iter().map(|&i| xs[i]).sum::<f64>() / idx.len() as f64
}

/// Bootstrap of the relative change of any statistic computed over a set of trials: each
/// resample draws the trials of each side with replacement (so the variance between trials
/// is what the interval reflects) and the statistic sees the drawn trials' indices. The point
/// estimate uses every trial once. `None` when a side has fewer than two trials or the
/// baseline statistic is not positive.
pub fn relative_change_by(
    n_before: usize,
    n_after: usize,
    stat_before: impl Fn(&[usize]) -> f64,
    stat_after: impl Fn(&[usize]) -> f64,
    cfg: &BootstrapConfig,
) -> Option<Estimate> {
    if n_before < 2 || n_after < 2 {
        return None;
    }
    let all = |n: usize| (0..n).collect::<Vec<_>>();
    let base = stat_before(&all(n_before));
    if !(base > 0.0 && base.is_finite()) {
        return None;
    }
    let point = stat_after(&all(n_after)) / base - 1.0;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut draw = |n: usize| (0..n).map(|_| rng.random_range(0..n)).collect::<Vec<_>>();
    let mut ratios: Vec<f64> = (0..cfg.resamples.max(100))
        .filter_map(|_| {
            let (ib, ia) = (draw(n_before), draw(n_after));
            let b = stat_before(&ib);
            (b > 0.0).then(|| stat_after(&ia) / b - 1.0)
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let alpha = (1.0 - cfg.confidence) / 2.0;
    let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    Some(Estimate {
        point,
        lower: at(alpha),
        upper: at(1.0 - alpha),
        confidence: cfg.confidence,
    })
}

/// A change counts only when its whole interval clears the noise threshold (a fraction, e.g.
/// 0.05 for 5 %).
pub fn classify(estimate: Option<&Estimate>, noise: f64, lower_is_better: bool) -> Verdict {
    let Some(e) = estimate else {
        return Verdict::NotAssessed;
    };
    let (better, worse) = if e.upper < -noise {
        (lower_is_better, !lower_is_better)
    } else if e.lower > noise {
        (!lower_is_better, lower_is_better)
    } else {
        return Verdict::NoSignificantChange;
    };
    match (better, worse) {
        (true, _) => Verdict::Improved,
        (_, true) => Verdict::Regressed,
        _ => Verdict::NoSignificantChange,
    }
}

/// Learned thresholds hold this one-sided confidence against between-run noise (Bencher's
/// default upper boundary is 0.99 too).
pub const LEARN_CONFIDENCE: f64 = 0.99;
/// The standard normal quantile at `LEARN_CONFIDENCE`.
const LEARN_Z: f64 = 2.326_347_874;
/// A learned threshold is never below this: HDR buckets hold 3 significant digits, and a
/// history of identical values would otherwise call any 0.1 % move a change.
pub const MIN_LEARNED_THRESHOLD: f64 = 0.01;
/// Nor above this (thresholds are fractions below 1).
pub const MAX_LEARNED_THRESHOLD: f64 = 0.95;

/// Robust standard deviation of ln(x): 1.4826 x the median absolute deviation from the
/// median, so one odd run in the history does not set the noise. `None` with fewer than two
/// values or a value that is not positive and finite.
pub fn robust_log_sd(xs: &[f64]) -> Option<f64> {
    if xs.len() < 2 || xs.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
        return None;
    }
    let logs: Vec<f64> = xs.iter().map(|x| x.ln()).collect();
    let m = median(logs.clone());
    Some(1.4826 * median(logs.iter().map(|l| (l - m).abs()).collect()))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[mid]
    } else {
        (xs[mid - 1] + xs[mid]) / 2.0
    }
}

/// The relative change two runs of the same code exceed with probability 1 - LEARN_CONFIDENCE
/// (one-sided), when each run's ln(value) has standard deviation `sigma_log`: their
/// difference has sqrt(2) x sigma_log, so exp(z x sqrt(2) x sigma_log) - 1.
pub fn learned_threshold(sigma_log: f64) -> f64 {
    ((LEARN_Z * std::f64::consts::SQRT_2 * sigma_log).exp() - 1.0)
        .clamp(MIN_LEARNED_THRESHOLD, MAX_LEARNED_THRESHOLD)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, Normal};

    fn cfg() -> BootstrapConfig {
        BootstrapConfig {
            resamples: 2000,
            ..Default::default()
        }
    }

    #[test]
    fn known_shift_is_inside_the_interval_and_classified() {
        let before = [100.0, 102.0, 98.0, 101.0, 99.0];
        let after = [120.0, 122.0, 118.0, 121.0, 119.0];
        let e = relative_change(&before, &after, &cfg()).unwrap();
        assert!((e.point - 0.2).abs() < 1e-9);
        assert!(e.lower <= 0.2 && 0.2 <= e.upper, "{e:?}");
        assert!(e.lower > 0.15, "{e:?}");
        assert_eq!(classify(Some(&e), 0.05, true), Verdict::Regressed);
        assert_eq!(classify(Some(&e), 0.05, false), Verdict::Improved);
        assert_eq!(classify(Some(&e), 0.5, true), Verdict::NoSignificantChange);
    }

    #[test]
    fn too_few_trials_are_not_assessed() {
        assert!(relative_change(&[1.0], &[2.0, 3.0], &cfg()).is_none());
        assert_eq!(classify(None, 0.05, true), Verdict::NotAssessed);
        assert!(relative_change(&[0.0, 0.0], &[1.0, 1.0], &cfg()).is_none());
    }

    #[test]
    fn deterministic_for_a_seed() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [2.0, 3.0, 4.0, 5.0];
        assert_eq!(
            relative_change(&a, &b, &cfg()),
            relative_change(&a, &b, &cfg())
        );
    }

    /// Coverage: with no true change, a 95 % interval should contain zero in roughly 95 % of
    /// repeated experiments (the percentile bootstrap runs a little narrow for small samples,
    /// so the band is generous), and the verdict with a 5 % noise threshold should almost
    /// never claim a change (the false-alarm rate the gate relies on).
    #[test]
    fn coverage_and_false_alarms_under_no_change() {
        let dist = Normal::new(100.0, 5.0).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        let (mut covered, mut alarms) = (0, 0);
        let runs = 400;
        for i in 0..runs {
            let a: Vec<f64> = (0..10).map(|_| dist.sample(&mut rng)).collect();
            let b: Vec<f64> = (0..10).map(|_| dist.sample(&mut rng)).collect();
            let c = BootstrapConfig {
                resamples: 1000,
                seed: i,
                ..Default::default()
            };
            let e = relative_change(&a, &b, &c).unwrap();
            covered += usize::from(e.lower <= 0.0 && 0.0 <= e.upper);
            alarms += usize::from(classify(Some(&e), 0.05, true) != Verdict::NoSignificantChange);
        }
        let coverage = covered as f64 / runs as f64;
        assert!((0.88..=0.99).contains(&coverage), "coverage {coverage}");
        assert!(
            alarms as u64 <= runs / 100,
            "{alarms} false alarms in {runs}"
        );
    }

    /// Power: a true 20 % shift with 5 % noise per trial is caught nearly always.
    #[test]
    fn catches_a_real_regression() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let base = Normal::new(100.0, 5.0).unwrap();
        let slow = Normal::new(120.0, 6.0).unwrap();
        let mut caught = 0;
        for i in 0..100 {
            let a: Vec<f64> = (0..5).map(|_| base.sample(&mut rng)).collect();
            let b: Vec<f64> = (0..5).map(|_| slow.sample(&mut rng)).collect();
            let c = BootstrapConfig {
                resamples: 1000,
                seed: i,
                ..Default::default()
            };
            caught += usize::from(
                classify(relative_change(&a, &b, &c).as_ref(), 0.05, true) == Verdict::Regressed,
            );
        }
        assert!(caught >= 90, "caught {caught} of 100");
    }

    #[test]
    fn robust_log_sd_ignores_one_odd_run() {
        // ln-values spread +-1 %: sd about 0.01 whatever the scale.
        let runs = [100.0, 101.0, 99.0, 100.5, 99.5, 100.2, 99.8];
        let s = robust_log_sd(&runs).unwrap();
        assert!((0.003..0.012).contains(&s), "{s}");
        let scaled: Vec<f64> = runs.iter().map(|x| x * 1000.0).collect();
        assert!((robust_log_sd(&scaled).unwrap() - s).abs() < 1e-9);
        // One run three times slower barely moves it (a plain sd would be ~0.4).
        let mut odd = runs.to_vec();
        odd[3] = 300.0;
        assert!(robust_log_sd(&odd).unwrap() < 0.02);
        assert_eq!(robust_log_sd(&[1.0]), None);
        assert_eq!(robust_log_sd(&[1.0, 0.0, 2.0]), None);
    }

    #[test]
    fn learned_threshold_formula_and_bounds() {
        // sigma 5 %: exp(2.326 x 1.414 x 0.05) - 1 = 17.9 %.
        assert!(
            (learned_threshold(0.05) - 0.1787).abs() < 1e-3,
            "{}",
            learned_threshold(0.05)
        );
        // Against simulated A/A pairs with that noise, about 1 % exceed it one-sided.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let n = Normal::<f64>::new(0.0, 0.05).unwrap();
        let over = (0..20_000)
            .filter(|_| {
                (n.sample(&mut rng) - n.sample(&mut rng)).exp() - 1.0 > learned_threshold(0.05)
            })
            .count();
        assert!((100..300).contains(&over), "{over} of 20000");
        assert_eq!(learned_threshold(0.0), MIN_LEARNED_THRESHOLD);
        assert_eq!(learned_threshold(5.0), MAX_LEARNED_THRESHOLD);
    }

    proptest::proptest! {
        #[test]
        fn interval_brackets_the_point_and_flips_with_the_sides(
            before in proptest::collection::vec(1.0f64..1000.0, 2..12),
            after in proptest::collection::vec(1.0f64..1000.0, 2..12),
        ) {
            let e = relative_change(&before, &after, &cfg()).unwrap();
            proptest::prop_assert!(e.lower <= e.upper);
            proptest::prop_assert!(e.lower >= -1.0);
            // A relative change does not depend on the unit: scaling both sides changes nothing.
            let scaled = |xs: &[f64]| xs.iter().map(|x| x * 1000.0).collect::<Vec<_>>();
            let s = relative_change(&scaled(&before), &scaled(&after), &cfg()).unwrap();
            proptest::prop_assert!((s.point - e.point).abs() < 1e-9 && (s.lower - e.lower).abs() < 1e-9);
            // Identical sides: no change, and an interval around zero.
            let same = relative_change(&before, &before, &cfg()).unwrap();
            proptest::prop_assert!(same.point.abs() < 1e-12 && same.lower <= 0.0 && same.upper >= 0.0);
            let v = classify(Some(&e), 0.05, true);
            let flipped = classify(Some(&e), 0.05, false);
            match v {
                Verdict::Improved => proptest::prop_assert_eq!(flipped, Verdict::Regressed),
                Verdict::Regressed => proptest::prop_assert_eq!(flipped, Verdict::Improved),
                other => proptest::prop_assert_eq!(flipped, other),
            }
        }
    }
}
