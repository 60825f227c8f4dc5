//! The `[load]` table: the load shape, every duration bounded (no clock overflows later) and
//! either a duration or an operation count (`iterations`) per trial.

use std::time::Duration;

use super::*;
use crate::error::InputIssue;
use crate::source::parse_duration;

pub(super) fn resolve(src: &SourceFile, l: &LoadFile, issues: &mut Vec<InputIssue>) -> Load {
    let warmup = duration_field(src, "load.warmup", &l.warmup, issues);
    let op_timeout = duration_field(src, "load.op_timeout", &l.op_timeout, issues);
    if op_timeout.is_zero() && parse_duration(&l.op_timeout).is_some() {
        issues.push(src.issue(
            "load.op_timeout",
            "must be longer than 0s (every operation would time out); e.g. \"30s\"",
        ));
    }
    let duration = match (&l.duration, l.iterations) {
        (Some(d), _) => {
            let duration = duration_field(src, "load.duration", d, issues);
            if duration.is_zero() && parse_duration(d).is_some() {
                issues.push(src.issue("load.duration", "must be longer than 0s"));
            }
            duration
        }
        (None, Some(_)) => ITERATIONS_CAP,
        (None, None) => {
            issues.push(src.issue(
                "load.duration",
                "is missing: set duration (e.g. \"30s\") or iterations (operations per trial, e.g. 1000)",
            ));
            Duration::ZERO
        }
    };
    if l.iterations == Some(0) {
        issues.push(src.issue(
            "load.iterations",
            "must be at least 1 (operations per trial, all workers together)",
        ));
    }
    if l.trials == 0 {
        issues.push(src.issue("load.trials", "must be at least 1"));
    }
    if !(0.0..=1.0).contains(&l.error_budget) {
        issues.push(src.issue(
            "load.error_budget",
            "is a fraction of operations, between 0.0 and 1.0",
        ));
    }
    let concurrency = l.concurrency.unwrap_or(1);
    let mut max_in_flight = l.max_in_flight.unwrap_or(concurrency.max(1));
    match l.mode {
        LoadMode::Closed => {
            if l.concurrency.is_none_or(|c| c == 0) {
                issues.push(src.issue(
                    "load.concurrency",
                    "closed-loop load needs concurrency >= 1 (the number of clients)",
                ));
            }
            if l.rate.is_some() {
                issues.push(src.issue(
                    "load.rate",
                    "a rate only applies to mode = \"open\"; remove it or switch the mode",
                ));
            }
            if l.arrivals.is_some() {
                issues.push(src.issue(
                    "load.arrivals",
                    "arrivals (\"uniform\" or \"poisson\") only apply to mode = \"open\"; remove it or switch the mode",
                ));
            }
            max_in_flight = concurrency;
        }
        LoadMode::Open => {
            match l.rate {
                None => issues.push(src.issue(
                    "load.rate",
                    "open-loop load needs rate > 0 (operations per second)",
                )),
                Some(r) if !RATE_RANGE.contains(&r) => issues.push(src.issue(
                    "load.rate",
                    format!("is {r:?}; open-loop load needs a rate {RATE_HINT}"),
                )),
                Some(_) => {}
            }
            if l.max_in_flight.is_none_or(|m| m == 0) {
                issues.push(src.issue("load.max_in_flight", "open-loop load needs max_in_flight >= 1 (connections that may be busy at once)"));
            }
        }
    }
    let interval = match &l.interval {
        None => crate::driver::intervals::DEFAULT_INTERVAL,
        Some(text) => {
            let d = duration_field(src, "load.interval", text, issues);
            if !INTERVAL_RANGE.contains(&d) && crate::source::parse_duration(text).is_some() {
                issues.push(src.issue(
                    "load.interval",
                    format!(
                        "is {d:?}; latency over time is recorded in windows between 10ms and 1h long (default \"1s\")"
                    ),
                ));
            }
            d
        }
    };
    Load {
        mode: l.mode,
        concurrency,
        rate: l.rate,
        arrivals: l.arrivals.unwrap_or_default(),
        max_in_flight,
        warmup,
        duration,
        iterations: l.iterations,
        trials: l.trials,
        error_budget: l.error_budget,
        op_timeout,
        interleave: l.interleave,
        interval,
    }
}

/// Window lengths accepted for latency over time.
const INTERVAL_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(10)..=Duration::from_secs(3600);

pub(super) fn duration_field(
    src: &SourceFile,
    field: &str,
    text: &str,
    issues: &mut Vec<InputIssue>,
) -> Duration {
    crate::source::duration(text).unwrap_or_else(|e| {
        issues.push(src.issue(field, e));
        Duration::ZERO
    })
}
