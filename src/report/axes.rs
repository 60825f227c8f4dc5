//! Chart axes: ranges in plotted units, round tick positions (linear or 1-2-5 per decade)
//! and their labels (percentiles as p99.9, numbers without trailing zeros).

use std::ops::Range;

/// One axis in plotted units: the range, tick positions and how a tick is labelled.
pub(super) struct Axis {
    pub(super) range: Range<f64>,
    pub(super) ticks: Vec<f64>,
    pub(super) desc: String,
    /// Plotted value -> data value (log10 axes plot the exponent).
    pub(super) log: bool,
    pub(super) label: fn(f64) -> String,
}

impl Axis {
    pub(super) fn to_plot(&self, v: f64) -> f64 {
        if self.log { v.max(1e-6).log10() } else { v }
    }
}

pub(super) fn percentile_label(nines: f64) -> String {
    let p = (1.0 - 10f64.powf(-nines)) * 100.0;
    let s = format!("{p:.3}");
    format!("p{}", s.trim_end_matches('0').trim_end_matches('.'))
}

pub(super) fn number(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        let s = format!("{v:.1}");
        s.trim_end_matches(".0").to_string()
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').to_string()
    }
}

/// 1, 2, 5 x 10^k between 10^lo and 10^hi (as exponents); decades only if that is too many.
pub(super) fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let decades: Vec<f64> = (lo as i32..=hi as i32).map(f64::from).collect();
    if decades.len() > 5 {
        return decades;
    }
    decades
        .iter()
        .flat_map(|d| [1.0f64, 2.0, 5.0].map(|m| d + m.log10()))
        .filter(|t| *t <= hi + 1e-9)
        .collect()
}

/// About six round ticks (1, 2 or 5 x 10^k apart) from 0 to `hi`.
pub(super) fn linear_ticks(hi: f64) -> Vec<f64> {
    let raw = hi / 6.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .min_by(|a, b| (a / raw).ln().abs().total_cmp(&(b / raw).ln().abs()))
        .unwrap_or(mag);
    (0..)
        .map(|i| f64::from(i) * step)
        .take_while(|t| *t <= hi + 1e-9)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_ticks() {
        assert_eq!(percentile_label(1.0), "p90");
        assert_eq!(percentile_label(3.0), "p99.9");
        assert_eq!(percentile_label(2f64.log10()), "p50");
        assert_eq!(percentile_label(0.0), "p0");
        assert_eq!(
            linear_ticks(13.0),
            vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
        );
        let lt = log_ticks(-1.0, 1.0);
        assert_eq!(lt.len(), 7, "{lt:?}"); // 0.1 0.2 0.5 1 2 5 10
    }
}
