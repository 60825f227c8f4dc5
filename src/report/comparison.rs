//! The gate's comparison as markdown, for a terminal or a pull-request comment. A pure
//! function of the comparison: nothing is computed here.

use crate::compare::FileComparison;
use crate::stats::{Estimate, Verdict};

pub fn markdown(c: &FileComparison) -> String {
    let mut s = format!("### tunebench: `{}` vs `{}`\n\n", c.baseline, c.current);
    if c.forced && !c.differences.is_empty() {
        s.push_str(&format!(
            "Compared with --force despite: {}.\n\n",
            c.differences.join("; ")
        ));
    }
    s.push_str("| Workload | Metric | Baseline | Current | Change (95 % CI) | Noise | Verdict |\n|---|---|---:|---:|---:|---:|---|\n");
    for r in &c.rows {
        let noise = match r.threshold_runs {
            Some(n) => format!("±{:.1} % (learned, {n} runs)", r.noise_threshold * 100.0),
            None => format!("±{:.0} %", r.noise_threshold * 100.0),
        };
        let verdict = match (r.verdict, &r.reason) {
            (Verdict::Regressed, _) => "**regressed**".to_string(),
            (Verdict::Inconclusive, Some(why)) => format!("*inconclusive* ({why})"),
            (v, _) => v.label().to_string(),
        };
        s.push_str(&format!(
            "| {} | {} | {:.2} {} | {:.2} {} | {} | {} | {} |\n",
            r.workload,
            r.metric,
            r.before,
            r.unit,
            r.after,
            r.unit,
            change_text(r.change.as_ref()),
            noise,
            verdict
        ));
    }
    s.push_str(&format!(
        "\n{} regression(s). A change counts only when its whole {:.0} % interval (bootstrap over trials) lies beyond the noise threshold.\n",
        c.regressions,
        c.confidence * 100.0
    ));
    if let Some(again) = &c.confirmed_with {
        s.push_str(&format!(
            "Confirmed with `{again}` (the current side measured again): a change counts only where both current runs show it.\n"
        ));
    }
    if c.unconfirmed > 0 {
        s.push_str(&format!(
            "{} change(s) not repeated by the confirming run: inconclusive, not failing the gate.\n",
            c.unconfirmed
        ));
    }
    if c.inconclusive > c.unconfirmed {
        s.push_str(&format!(
            "{} change(s) inconclusive: measured while the hosts were loaded differently or too heavily for the threshold ({}). They do not fail the gate; re-run both sides on a quieter or equally loaded machine, or, for a machine that is always this loaded, judge with --history holding {} or more runs under that load.\n",
            c.inconclusive - c.unconfirmed,
            c.host_bound,
            crate::gate::host::LOADED_MIN_RUNS
        ));
    }
    if let Some(h) = &c.history {
        s.push_str(&format!(
            "Thresholds: {}. Learned ones are exp(z x sqrt(2) x sigma) - 1, sigma the robust sd of the log of the history's merged values, z at {:.0} % one-sided.\n",
            h.note,
            h.confidence * 100.0
        ));
    }
    for n in &c.notes {
        s.push_str(&format!("Note: {n}.\n"));
    }
    s
}

pub fn change_text(e: Option<&Estimate>) -> String {
    match e {
        Some(e) => format!(
            "{:+.1} % [{:+.1}, {:+.1}]",
            e.point * 100.0,
            e.lower * 100.0,
            e.upper * 100.0
        ),
        None => "n/a".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{compare_files, testkit};
    use crate::gate::{NoiseThresholds, Settings};

    fn markdown_of(base_other: f64, cur_ms: f64, cur_other: f64) -> String {
        let base = testkit::results(1.0, 3, testkit::load(base_other));
        let cur = testkit::results(cur_ms, 3, testkit::load(cur_other));
        let s = Settings::configured(NoiseThresholds::default(), Default::default(), 2);
        markdown(&compare_files(&base, &cur, ("base", "cur"), &s, false))
    }

    #[test]
    fn inconclusive_rows_say_why_and_the_footer_counts_them() {
        let md = markdown_of(0.03, 1.5, 0.41);
        assert!(
            md.contains("*inconclusive* (other work 3 % vs 41 %)"),
            "{md}"
        );
        assert!(md.contains("3 change(s) inconclusive"), "{md}");
        assert!(md.contains("\n0 regression(s)."), "{md}");
    }

    #[test]
    fn regressions_are_bold_with_their_interval_and_noise() {
        let md = markdown_of(0.03, 1.5, 0.03);
        assert!(
            md.starts_with("### tunebench: `base` vs `cur`\n\n| Workload |"),
            "{md}"
        );
        let p50 = md.lines().find(|l| l.contains("| p50 |")).unwrap();
        assert!(p50.starts_with("| fts_search | p50 | 1."), "{p50}");
        assert!(p50.ends_with("| ±5 % | **regressed** |"), "{p50}");
        assert!(p50.contains(" % [+"), "{p50}");
        assert!(
            md.contains("\n3 regression(s). A change counts only when its whole 95 % interval")
        );
        assert!(!md.contains("inconclusive"), "{md}");
    }

    #[test]
    fn change_text_is_a_signed_percentage_with_its_interval() {
        let e = Estimate {
            point: 0.123,
            lower: -0.01,
            upper: 0.25,
            confidence: 0.95,
        };
        assert_eq!(change_text(Some(&e)), "+12.3 % [-1.0, +25.0]");
        assert_eq!(change_text(None), "n/a");
    }
}
