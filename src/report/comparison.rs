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
    if c.inconclusive > 0 {
        s.push_str(&format!(
            "{} change(s) inconclusive: measured while the hosts were loaded differently ({}). They do not fail the gate; re-run both sides on a quieter or equally loaded machine.\n",
            c.inconclusive, c.host_bound
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
