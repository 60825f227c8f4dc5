//! `tunebench merge`: worker shards' parts of one run into one results file. Latencies are
//! merged exactly (HDR add of every histogram: per workload, op, trial and window), counts
//! and errors summed, throughput counted over the merged trial time; what cannot be merged
//! exactly is said in `merged.notes`. Parts of different runs are refused, naming what
//! differs. The merged file is an ordinary results.json: report, compare, gate and export
//! read it unchanged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;

use crate::error::{Error, InputIssue, Result};
use crate::metrics::{self, ErrorCount, LatencySummary};
use crate::results::{
    HarnessReport, IntervalWindow, Intervals, MergedFrom, OpResult, ProfileRun, QueryRecall,
    Results, TrialResult, WorkloadResult,
};
use crate::scenario::Criterion;

/// Reads the parts: results.json files, or `s3://BUCKET/PREFIX` for every results.json under
/// it (a rendezvous's parts of a block).
pub async fn read_parts(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Results)>> {
    let mut parts = Vec::new();
    for p in paths {
        match p.to_str().and_then(|t| t.strip_prefix("s3://")) {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                let found = crate::history::s3::load(bucket, prefix).await?;
                if found.is_empty() {
                    return Err(Error::Usage(format!(
                        "merge: no results.json under {}",
                        p.display()
                    )));
                }
                parts.extend(
                    found
                        .into_iter()
                        .map(|(label, r)| (PathBuf::from(label), r)),
                );
            }
            None => parts.push((p.clone(), Results::read(p)?)),
        }
    }
    Ok(parts)
}

fn refuse(path: &Path, field: &str, message: impl Into<String>) -> Error {
    Error::input(InputIssue::new(path, field, message.into()))
}

/// The parts must be the shards of one run: every shard once, the same scenario, tool,
/// datasets and profiles.
fn check_parts(parts: &[(PathBuf, Results)]) -> Result<()> {
    let Some((first_path, first)) = parts.first() else {
        return Err(Error::Usage("merge needs at least one part".into()));
    };
    let shard_of = |path: &Path, r: &Results| {
        r.shard.clone().ok_or_else(|| {
            refuse(
                path,
                "shard",
                "is missing: this is not a worker shard's part; merge takes the results.json each `tunebench worker` wrote",
            )
        })
    };
    let s0 = shard_of(first_path, first)?;
    let mut seen = vec![None::<&Path>; s0.count as usize];
    let scenario0 = comparable(&first.scenario);
    let datasets0: Vec<(&str, &str)> = first
        .datasets
        .iter()
        .map(|d| (d.name.as_str(), d.spec_hash.as_str()))
        .collect();
    let profiles0: Vec<&str> = first.runs.iter().map(|r| r.profile.as_str()).collect();
    for (path, r) in parts {
        let s = shard_of(path, r)?;
        if s.count != s0.count {
            return Err(refuse(
                path,
                "shard.count",
                format!(
                    "is {}, but {} is a shard of {}: all parts must come from one run",
                    s.count,
                    first_path.display(),
                    s0.count
                ),
            ));
        }
        if s.start_at != s0.start_at {
            return Err(refuse(
                path,
                "shard.start_at",
                format!(
                    "is {}, but {} started at {}: parts of different runs",
                    s.start_at,
                    first_path.display(),
                    s0.start_at
                ),
            ));
        }
        match seen.get_mut(s.index as usize) {
            Some(Some(other)) => {
                return Err(refuse(
                    path,
                    "shard.index",
                    format!("shard {} is also {}", s.index, other.display()),
                ));
            }
            Some(slot) => *slot = Some(path),
            None => {
                return Err(refuse(
                    path,
                    "shard.index",
                    format!("is {}, not below the count {}", s.index, s.count),
                ));
            }
        }
        let differs = |field: &str, what: String| {
            refuse(
                path,
                field,
                format!(
                    "{what} than {}: parts of different runs",
                    first_path.display()
                ),
            )
        };
        if r.tool.version != first.tool.version {
            return Err(differs(
                "tool.version",
                format!(
                    "is tunebench {}, another version ({})",
                    r.tool.version, first.tool.version
                ),
            ));
        }
        if r.scenario.name != first.scenario.name {
            return Err(differs(
                "scenario.name",
                format!(
                    "is `{}`, another scenario (`{}`)",
                    r.scenario.name, first.scenario.name
                ),
            ));
        }
        if comparable(&r.scenario) != scenario0 {
            return Err(differs(
                "scenario",
                "is the same scenario written differently (load, workloads, profiles or criteria)"
                    .into(),
            ));
        }
        let datasets: Vec<(&str, &str)> = r
            .datasets
            .iter()
            .map(|d| (d.name.as_str(), d.spec_hash.as_str()))
            .collect();
        if datasets != datasets0 {
            return Err(differs(
                "datasets",
                format!("are {datasets:?}, other datasets ({datasets0:?})"),
            ));
        }
        let profiles: Vec<&str> = r.runs.iter().map(|p| p.profile.as_str()).collect();
        if profiles != profiles0 {
            return Err(differs(
                "runs",
                format!("measured profiles {profiles:?}, other profiles ({profiles0:?})"),
            ));
        }
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, p)| p.is_none())
        .map(|(i, _)| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(Error::Usage(format!(
            "merge: shard(s) {} of {} missing; give every shard's results.json",
            missing.join(", "),
            s0.count
        )));
    }
    Ok(())
}

/// The scenario as a part records it, without where its files were on that machine (a
/// checkout in another folder is the same scenario): every `path`, `file`, `workdir` and
/// `*_file` field is left out.
fn comparable(scenario: &crate::results::RunConfig) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(o) => {
                o.retain(|k, _| {
                    !(k == "path" || k == "file" || k == "workdir" || k.ends_with("_file"))
                });
                o.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(scenario).unwrap_or_default();
    strip(&mut v);
    v
}

/// Adds an encoded histogram into `into`, naming where it came from if it does not decode.
fn add(into: &mut Histogram<u64>, text: &str, path: &Path, field: &str) -> Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    let h = metrics::decode(text).map_err(|e| refuse(path, field, e))?;
    metrics::merge(into, &h);
    Ok(())
}

/// Merges worker shards' parts of one run into one results file.
pub fn merge(parts: &[(PathBuf, Results)]) -> Result<Results> {
    check_parts(parts)?;
    let (_, first) = &parts[0];
    let mut notes = vec![
        "server evidence is shard 0's: every shard ran its trials at the same planned times, so the server counters shard 0 read around each trial cover all shards' operations".to_string(),
    ];
    let mut runs = Vec::new();
    for (ri, run0) in first.runs.iter().enumerate() {
        let mut workloads = Vec::new();
        for (wi, w0) in run0.workloads.iter().enumerate() {
            let mut ws = Vec::new();
            for (path, r) in parts {
                let w = r.runs[ri]
                    .workloads
                    .iter()
                    .find(|w| w.workload == w0.workload)
                    .ok_or_else(|| {
                        refuse(
                            path,
                            &format!("runs[{ri}].workloads"),
                            format!(
                                "has no workload {} under profile {}, which {} has",
                                w0.workload,
                                run0.profile,
                                parts[0].0.display()
                            ),
                        )
                    })?;
                ws.push((path.as_path(), w));
            }
            let at = format!("runs[{ri}].workloads[{wi}]");
            workloads.push(merge_workload(&ws, &at, &mut notes)?);
        }
        let server = run0.server.clone();
        runs.push(ProfileRun {
            profile: run0.profile.clone(),
            changes: run0.changes.clone(),
            readiness: run0.readiness.clone(),
            // Judged by the caller, with the scenario's criteria (`criteria_of`).
            criteria: Vec::new(),
            checks: Vec::new(),
            // Drills run in the coordinating process, never in a worker shard.
            drills: Vec::new(),
            workloads,
            server,
            revert: run0.revert.clone(),
        });
    }
    let lates: Vec<f64> = parts
        .iter()
        .filter_map(|(_, r)| r.shard.as_ref().map(|s| s.late_start_max_ms))
        .collect();
    let spread = lates.iter().copied().fold(0.0, f64::max)
        - lates.iter().copied().fold(f64::INFINITY, f64::min);
    if spread > 100.0 {
        notes.push(format!(
            "the shards started their trials up to {spread:.0} ms apart (latest late start per shard), above 100 ms: their trials overlapped less by as much; raise --phase-gap"
        ));
    }
    notes.sort();
    notes.dedup();
    Ok(Results {
        schema_version: first.schema_version,
        tool: first.tool.clone(),
        started_at: parts
            .iter()
            .map(|p| p.1.started_at)
            .min()
            .unwrap_or(first.started_at),
        finished_at: parts
            .iter()
            .map(|p| p.1.finished_at)
            .max()
            .unwrap_or(first.finished_at),
        scenario: first.scenario.clone(),
        environment: first.environment.clone(),
        datasets: first.datasets.clone(),
        runs,
        incomplete: None,
        shard: None,
        merged: Some(MergedFrom {
            shards: parts.len() as u32,
            start_spread_ms: spread.max(0.0),
            notes,
        }),
    })
}

/// The criteria the scenario of a results file lists, parsed again from their text.
pub fn criteria_of(r: &Results) -> Result<Vec<Criterion>> {
    let Some(list) = r.scenario.rest.get("criteria").and_then(|c| c.as_array()) else {
        return Ok(Vec::new());
    };
    list.iter()
        .enumerate()
        .map(|(i, c)| {
            let text = c.get("text").and_then(|t| t.as_str()).unwrap_or_default();
            Criterion::parse(text).map_err(|e| {
                Error::input(InputIssue::new(
                    "results file",
                    format!("scenario.criteria[{i}]"),
                    e,
                ))
            })
        })
        .collect()
}

fn merge_errors(into: &mut BTreeMap<String, ErrorCount>, from: &BTreeMap<String, ErrorCount>) {
    for (k, c) in from {
        let e = into.entry(k.clone()).or_default();
        e.count += c.count;
        if e.example.is_empty() {
            e.example.clone_from(&c.example);
        }
    }
}

fn merge_workload(
    ws: &[(&Path, &WorkloadResult)],
    at: &str,
    notes: &mut Vec<String>,
) -> Result<WorkloadResult> {
    let w0 = ws[0].1;
    let mut total = metrics::new_histogram();
    let mut errors_by_kind = BTreeMap::new();
    for (path, w) in ws {
        add(&mut total, &w.histogram, path, &format!("{at}.histogram"))?;
        merge_errors(&mut errors_by_kind, &w.errors_by_kind);
    }
    let per_trial = merge_trials(ws, at)?;
    let duration_s: f64 = per_trial.iter().map(|t| t.duration_s).sum();
    let wall = duration_s.max(1e-9);
    let ops: u64 = ws.iter().map(|(_, w)| w.ops).sum();
    let bytes = |f: fn(&WorkloadResult) -> Option<f64>| -> Option<f64> {
        let parts: Vec<f64> = ws
            .iter()
            .filter_map(|(_, w)| f(w).map(|b| b * w.duration_s))
            .collect();
        (!parts.is_empty()).then(|| parts.iter().sum::<f64>() / wall)
    };
    // Recall: every judged answer counts once, whichever shard judged it.
    let mut by_query: BTreeMap<(u32, u32), (u64, f64, f64)> = BTreeMap::new();
    for (_, w) in ws {
        for q in &w.recall_by_query {
            let e = by_query.entry((q.filter, q.query)).or_default();
            e.0 += q.answers;
            e.1 += q.recall * q.answers as f64;
            e.2 += q.recall_tolerant * q.answers as f64;
        }
    }
    let recall_by_query: Vec<QueryRecall> = by_query
        .iter()
        .map(|(&(filter, query), &(n, s, t))| QueryRecall {
            filter,
            query,
            answers: n,
            recall: s / n.max(1) as f64,
            recall_tolerant: t / n.max(1) as f64,
        })
        .collect();
    let answers: u64 = by_query.values().map(|v| v.0).sum();
    let (recall_at_k, recall_at_k_tolerant) = if answers > 0 {
        let s: f64 = by_query.values().map(|v| v.1).sum();
        let t: f64 = by_query.values().map(|v| v.2).sum();
        (
            w0.recall_at_k.map(|_| s / answers as f64),
            w0.recall_at_k_tolerant.map(|_| t / answers as f64),
        )
    } else {
        (None, None)
    };
    let mut operations = Vec::new();
    for (oi, o0) in w0.operations.iter().enumerate() {
        let mut h = metrics::new_histogram();
        let (mut ops, mut errors, mut recall_n) = (0u64, 0u64, 0u64);
        let (mut recall, mut tolerant, mut moved) = (0.0, 0.0, None::<f64>);
        for (path, w) in ws {
            let o = w.operations.iter().find(|o| o.op == o0.op).ok_or_else(|| {
                refuse(
                    path,
                    &format!("{at}.operations"),
                    format!("has no op {}", o0.op),
                )
            })?;
            add(
                &mut h,
                &o.histogram,
                path,
                &format!("{at}.operations[{oi}].histogram"),
            )?;
            ops += o.ops;
            errors += o.errors;
            if let Some(r) = o.recall_at_k {
                recall += r * o.ops as f64;
                tolerant += o.recall_at_k_tolerant.unwrap_or(0.0) * o.ops as f64;
                recall_n += o.ops;
            }
            if let Some(b) = o.bytes_per_s {
                *moved.get_or_insert(0.0) += b * w.duration_s;
            }
        }
        if recall_n > 0 {
            notes.push("an op's recall is the shards' recall weighted by their ops (every successful search is judged); the workload's is merged query by query".into());
        }
        operations.push(OpResult {
            op: o0.op.clone(),
            weight: o0.weight,
            ops,
            errors,
            throughput_ops_s: ops as f64 / wall,
            bytes_per_s: moved.map(|b| b / wall),
            recall_at_k: (recall_n > 0).then(|| recall / recall_n as f64),
            recall_at_k_tolerant: (recall_n > 0 && o0.recall_at_k_tolerant.is_some())
                .then(|| tolerant / recall_n as f64),
            latency_ms: LatencySummary::of(&h),
            histogram: metrics::encode(&h),
        });
    }
    // Lag is kept as summaries only: the most-lagged shard's stands for all.
    let worst = |f: fn(&WorkloadResult) -> Option<LatencySummary>| {
        ws.iter()
            .filter_map(|(_, w)| f(w))
            .max_by(|a, b| a.p99.total_cmp(&b.p99))
    };
    if w0.schedule_lag_ms.is_some() {
        notes.push("open-loop schedule and timer lag are the most-lagged shard's (kept as summaries, not histograms)".into());
    }
    let harness = merge_harness(ws, wall, ops);
    if ws.iter().any(|(_, w)| w.param_sources != w0.param_sources) {
        notes.push("the shards drew parameters from different values (each took its own sample, or read a different file): the first shard's sources are shown".into());
    }
    Ok(WorkloadResult {
        profile: w0.profile.clone(),
        workload: w0.workload.clone(),
        target: w0.target.clone(),
        mode: w0.mode.clone(),
        concurrency: ws.iter().map(|(_, w)| w.concurrency).sum(),
        rate_ops_s: w0
            .rate_ops_s
            .map(|_| ws.iter().filter_map(|(_, w)| w.rate_ops_s).sum()),
        trials: w0.trials,
        ops,
        errors: ws.iter().map(|(_, w)| w.errors).sum(),
        errors_by_kind,
        duration_s,
        throughput_ops_s: ops as f64 / wall,
        bytes_per_s: bytes(|w| w.bytes_per_s),
        recall_at_k,
        recall_at_k_tolerant,
        recall_by_query,
        k: w0.k,
        latency_ms: LatencySummary::of(&total),
        schedule_lag_ms: worst(|w| w.schedule_lag_ms),
        timer_lag_ms: worst(|w| w.timer_lag_ms),
        harness,
        histogram: metrics::encode(&total),
        operations,
        per_trial,
        param_sources: w0.param_sources.clone(),
    })
}

fn merge_harness(ws: &[(&Path, &WorkloadResult)], wall: f64, ops: u64) -> Option<HarnessReport> {
    let hs: Vec<(usize, &HarnessReport)> = ws
        .iter()
        .enumerate()
        .filter_map(|(i, (_, w))| w.harness.as_ref().map(|h| (i, h)))
        .collect();
    let (_, h0) = hs.first()?;
    let cpu: f64 = hs.iter().map(|(_, h)| h.client_cpu_s).sum();
    let workers: u32 = ws.iter().map(|(_, w)| w.concurrency).sum();
    Some(HarnessReport {
        client_cpu_s: cpu,
        client_cpu_per_op_us: cpu * 1e6 / ops.max(1) as f64,
        server_cpu_per_op_us: None,
        client_cores_per_worker: cpu / wall / f64::from(workers.max(1)),
        pacer_cpu_s: h0
            .pacer_cpu_s
            .map(|_| hs.iter().filter_map(|(_, h)| h.pacer_cpu_s).sum()),
        server_in_process: hs.iter().any(|(_, h)| h.server_in_process),
        host: h0.host,
        limited_by_harness: hs
            .iter()
            .flat_map(|(i, h)| {
                h.limited_by_harness
                    .iter()
                    .map(move |l| format!("shard {i}: {l}"))
            })
            .collect(),
    })
}

/// Trials merged by number: the shards ran each at the same planned time, so a trial's
/// time is the longest shard's and its windows add up index by index.
fn merge_trials(ws: &[(&Path, &WorkloadResult)], at: &str) -> Result<Vec<TrialResult>> {
    let mut numbers: Vec<u32> = ws
        .iter()
        .flat_map(|(_, w)| w.per_trial.iter().map(|t| t.trial))
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    let mut out = Vec::new();
    for n in numbers {
        let ts: Vec<(&Path, usize, &TrialResult)> = ws
            .iter()
            .filter_map(|(p, w)| {
                w.per_trial
                    .iter()
                    .position(|t| t.trial == n)
                    .map(|i| (*p, i, &w.per_trial[i]))
            })
            .collect();
        if ts.len() != ws.len() {
            return Err(refuse(
                ws[0].0,
                &format!("{at}.per_trial"),
                format!("trial {n} is in {} of the {} parts", ts.len(), ws.len()),
            ));
        }
        let mut h = metrics::new_histogram();
        for (path, i, t) in &ts {
            add(
                &mut h,
                &t.histogram,
                path,
                &format!("{at}.per_trial[{i}].histogram"),
            )?;
        }
        let duration_s = ts.iter().map(|t| t.2.duration_s).fold(0.0, f64::max);
        let dur = duration_s.max(1e-9);
        let ops: u64 = ts.iter().map(|t| t.2.ops).sum();
        let moved: Vec<f64> = ts
            .iter()
            .filter_map(|t| t.2.bytes_per_s.map(|b| b * t.2.duration_s))
            .collect();
        let cpu: Vec<f64> = ts.iter().filter_map(|t| t.2.client_cpu_s).collect();
        out.push(TrialResult {
            trial: n,
            ops,
            errors: ts.iter().map(|t| t.2.errors).sum(),
            duration_s,
            throughput_ops_s: ops as f64 / dur,
            bytes_per_s: (!moved.is_empty()).then(|| moved.iter().sum::<f64>() / dur),
            latency_ms: LatencySummary::of(&h),
            histogram: metrics::encode(&h),
            client_cpu_s: (!cpu.is_empty()).then(|| cpu.iter().sum()),
            // Shards may run on different machines: no one host stands for all.
            host: None,
            // Each shard measured the whole server over its own interval: the sum would
            // count it once per shard.
            server_cpu_s: None,
            intervals: merge_windows(&ts, duration_s, at)?,
        });
    }
    Ok(out)
}

fn merge_windows(
    ts: &[(&Path, usize, &TrialResult)],
    duration_s: f64,
    at: &str,
) -> Result<Option<Intervals>> {
    let with: Vec<(&Path, usize, &Intervals)> = ts
        .iter()
        .filter_map(|(p, i, t)| t.intervals.as_ref().map(|iv| (*p, *i, iv)))
        .collect();
    let Some(&(_, _, first)) = with.first() else {
        return Ok(None);
    };
    let len = first.interval_s;
    let mut windows: BTreeMap<u64, (u64, u64, Option<u64>, Histogram<u64>)> = BTreeMap::new();
    for (path, ti, iv) in &with {
        for (xi, w) in iv.windows.iter().enumerate() {
            let index = (w.start_s / len).round() as u64;
            let e = windows
                .entry(index)
                .or_insert_with(|| (0, 0, None, metrics::new_histogram()));
            e.0 += w.ops;
            e.1 += w.errors;
            if let Some(b) = w.bytes {
                *e.2.get_or_insert(0) += b;
            }
            let field = format!("{at}.per_trial[{ti}].intervals.windows[{xi}].histogram");
            add(&mut e.3, &w.histogram, path, &field)?;
        }
    }
    let last = windows.keys().next_back().copied().unwrap_or(0);
    let merged = (0..=last)
        .map(|index| {
            let start_s = index as f64 * len;
            let (ops, errors, bytes, h) = windows
                .remove(&index)
                .unwrap_or_else(|| (0, 0, None, metrics::new_histogram()));
            IntervalWindow {
                start_s,
                duration_s: len.min(duration_s - start_s).max(0.0),
                ops,
                errors,
                bytes,
                histogram: if h.is_empty() {
                    String::new()
                } else {
                    metrics::encode(&h)
                },
            }
        })
        .collect();
    Ok(Some(Intervals {
        interval_s: len,
        windows: merged,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::testkit;
    use crate::results::ShardInfo;

    /// Shard `index` of `count`: 2 trials of 2,000 ops at `ms`.
    fn part(index: u32, count: u32, ms: f64) -> (PathBuf, Results) {
        let mut r = testkit::results(ms, 2, None);
        r.shard = Some(ShardInfo {
            index,
            count,
            start_at: r.started_at,
            phase_gap_s: 2.0,
            late_start_max_ms: 0.0,
        });
        (PathBuf::from(format!("shard{index}/results.json")), r)
    }

    #[test]
    fn merging_adds_histograms_exactly_where_averaging_percentiles_would_not() {
        // Two fast shards and one slow one: a third of all operations are slow, so the
        // merged p50 is fast and the p99 slow; the mean of the shards' p99s is neither.
        let parts = vec![part(0, 3, 1.0), part(1, 3, 1.0), part(2, 3, 50.0)];
        let m = merge(&parts).unwrap();
        let w = &m.runs[0].workloads[0];
        assert_eq!(w.ops, 3 * 4000);
        let mut sum = metrics::new_histogram();
        for (_, r) in &parts {
            let h = metrics::decode(&r.runs[0].workloads[0].histogram).unwrap();
            metrics::merge(&mut sum, &h);
        }
        assert_eq!(w.histogram, metrics::encode(&sum), "bit-identical HDR sum");
        assert_eq!(w.latency_ms, LatencySummary::of(&sum));
        let averaged: f64 = parts
            .iter()
            .map(|(_, r)| r.runs[0].workloads[0].latency_ms.p99)
            .sum::<f64>()
            / 3.0;
        assert!((w.latency_ms.p99 - 50.0).abs() < 1.0, "{:?}", w.latency_ms);
        assert!((averaged - 17.3).abs() < 0.5, "{averaged}");
        assert!(w.latency_ms.p50 < 1.1, "{:?}", w.latency_ms);
        // Trials merge by number: each holds every shard's operations over the same time.
        assert_eq!(w.per_trial.len(), 2);
        assert!(
            w.per_trial
                .iter()
                .all(|t| t.ops == 6000 && t.duration_s == 1.0)
        );
        assert_eq!(w.throughput_ops_s, 6000.0);
        assert_eq!(m.merged.as_ref().unwrap().shards, 3);
        assert!(m.shard.is_none());
    }

    #[test]
    fn parts_of_different_runs_or_missing_shards_are_refused() {
        let msg = |parts: Vec<(PathBuf, Results)>| merge(&parts).unwrap_err().to_string();
        let e = msg(vec![part(0, 3, 1.0), part(2, 3, 1.0)]);
        assert!(e.contains("shard(s) 1 of 3 missing"), "{e}");
        let e = msg(vec![part(0, 2, 1.0), part(0, 2, 1.0)]);
        assert!(e.contains("shard 0 is also shard0/results.json"), "{e}");
        let mut other = part(1, 2, 1.0);
        other.1.scenario.name = "another".into();
        let e = msg(vec![part(0, 2, 1.0), other]);
        assert!(
            e.contains("shard1/results.json") && e.contains("scenario.name"),
            "{e}"
        );
        // The same scenario from a checkout elsewhere is not another run.
        let mut moved = part(1, 2, 1.0);
        moved
            .1
            .scenario
            .rest
            .insert("path".into(), "/elsewhere/scenarios/x.toml".into());
        assert!(merge(&[part(0, 2, 1.0), moved]).is_ok());
        let mut plain = part(1, 2, 1.0);
        plain.1.shard = None;
        let e = msg(vec![part(0, 2, 1.0), plain]);
        assert!(e.contains("not a worker shard's part"), "{e}");
        let mut late = part(1, 2, 1.0);
        late.1.shard.as_mut().unwrap().start_at += chrono::Duration::seconds(60);
        let e = msg(vec![part(0, 2, 1.0), late]);
        assert!(e.contains("shard.start_at"), "{e}");
    }
}
