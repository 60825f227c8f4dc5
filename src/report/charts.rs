//! Per-workload charts written under `charts/` beside the report: the latency percentile
//! spectrum of every profile (read from the merged HDR histogram, so the tail is the real
//! tail, not an interpolation of five summary numbers) and, for S3 workloads, payload MB/s
//! in each measured second (uploads count each part as it completes). Figures come from results.json only.

use std::ops::Range;
use std::path::Path;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use serde::Serialize;

use super::axes::{Axis, linear_ticks, log_ticks, number, percentile_label};
use crate::error::{Error, InputIssue, Result};
use crate::results::{Evidence, Results};

/// Folder of the charts, relative to the report (links in the report use it as is).
pub const DIR: &str = "charts";

/// Finest step on the nines axis: ~50 points per decade of tail.
const NINES_STEP: f64 = 0.02;
/// The deepest percentile drawn (99.999); beyond it no run here has enough samples.
const MAX_NINES: f64 = 5.0;

/// One chart file: what it shows (for the template) and its lines (for drawing).
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    pub workload: String,
    pub target: String,
    /// Path relative to the report, e.g. `charts/latency-fts_search.svg`.
    pub file: String,
    /// The profiles drawn, in run order.
    pub profiles: Vec<String>,
    #[serde(skip)]
    lines: Vec<Line>,
    #[serde(skip)]
    kind: Kind,
    /// Over time: x positions (seconds) where a trial ended and the next began.
    #[serde(skip)]
    marks: Vec<(usize, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Latency,
    Throughput,
    /// p50, p99 and max of each window of latency over time.
    LatencyOverTime,
    /// Operations per second in each window.
    RateOverTime,
    /// Payload MB/s in each window, bytes counted when their operation completes.
    BytesOverTime,
}

#[derive(Debug, Clone)]
struct Line {
    label: String,
    /// (x, y) in data units: (nines, ms), (second, MB/s), (second, ms) or (second, ops/s).
    points: Vec<(f64, f64)>,
    /// Which palette colour: one per profile.
    color: usize,
    stroke: Stroke,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stroke {
    Bold,
    Thin,
    Dashed,
}

/// The latency spectrum chart of every workload, one line per profile that ran it.
pub fn latency(results: &Results) -> Result<Vec<Chart>> {
    let mut charts: Vec<Chart> = Vec::new();
    for (ri, run) in results.runs.iter().enumerate() {
        for (wi, w) in run.workloads.iter().enumerate() {
            let h = crate::metrics::decode(&w.histogram).map_err(|e| {
                Error::input(InputIssue::new(
                    "results file",
                    format!("runs[{ri}].workloads[{wi}].histogram"),
                    format!("{e} (workload {}, profile {})", w.workload, run.profile),
                ))
            })?;
            if h.is_empty() {
                continue;
            }
            let line = Line {
                label: run.profile.clone(),
                points: spectrum(&h),
                color: ri,
                stroke: Stroke::Bold,
            };
            chart_for(&mut charts, Kind::Latency, &w.workload, &w.target).push(line);
        }
    }
    Ok(charts)
}

/// Payload MB/s per measured second from the S3 evidence (uploads and downloads alike), one
/// chart per workload that moved bytes, one line per profile. Trials are drawn one after
/// another.
pub fn throughput(results: &Results) -> Vec<Chart> {
    let mut charts: Vec<Chart> = Vec::new();
    for (ri, run) in results.runs.iter().enumerate() {
        for (target, ev) in &run.server {
            let Evidence::S3(s3) = ev else { continue };
            let mut by_workload: Vec<(&str, Vec<(f64, f64)>)> = Vec::new();
            for p in &s3.throughput_series {
                let series = match by_workload.iter_mut().find(|(w, _)| *w == p.workload) {
                    Some((_, s)) => s,
                    None => {
                        by_workload.push((&p.workload, Vec::new()));
                        &mut by_workload.last_mut().expect("just pushed").1
                    }
                };
                // `second` restarts at 0 in each trial: the x axis counts measured seconds.
                let x = series.len() as f64;
                series.push((x, p.bytes as f64 / 1e6));
            }
            for (workload, points) in by_workload {
                if points.iter().all(|p| p.1 == 0.0) {
                    continue; // nothing moved: a flat zero line says nothing
                }
                chart_for(&mut charts, Kind::Throughput, workload, target).push(Line {
                    label: run.profile.clone(),
                    points,
                    color: ri,
                    stroke: Stroke::Bold,
                });
            }
        }
    }
    charts
}

fn chart_for<'a>(
    charts: &'a mut Vec<Chart>,
    kind: Kind,
    workload: &str,
    target: &str,
) -> ChartLines<'a> {
    let i = match charts
        .iter()
        .position(|c| c.workload == workload && c.target == target)
    {
        Some(i) => i,
        None => {
            let prefix = match kind {
                Kind::Latency => "latency",
                Kind::Throughput => "throughput",
                Kind::LatencyOverTime => "latency-over-time",
                Kind::RateOverTime => "ops-over-time",
                Kind::BytesOverTime => "mbs-over-time",
            };
            // Two targets may run workloads of the same name: the second gets its target
            // in the file name so no chart overwrites another.
            let clash = charts.iter().any(|c| c.workload == workload);
            let stem = if clash {
                format!("{prefix}-{}-{}", file_safe(workload), file_safe(target))
            } else {
                format!("{prefix}-{}", file_safe(workload))
            };
            charts.push(Chart {
                workload: workload.to_string(),
                target: target.to_string(),
                file: format!("{DIR}/{stem}.svg"),
                profiles: Vec::new(),
                lines: Vec::new(),
                kind,
                marks: Vec::new(),
            });
            charts.len() - 1
        }
    };
    ChartLines(&mut charts[i])
}

struct ChartLines<'a>(&'a mut Chart);

impl ChartLines<'_> {
    fn push(self, line: Line) {
        self.0.profiles.push(line.label.clone());
        self.0.lines.push(line);
    }

    /// A profile's lines of one chart (over time: p99, p50 and max), its trial boundaries.
    fn push_all(self, profile: &str, lines: Vec<Line>, marks: &[f64], color: usize) {
        self.0.profiles.push(profile.to_string());
        self.0.lines.extend(lines);
        self.0.marks.extend(marks.iter().map(|&m| (color, m)));
    }
}

/// Latency and operations per second over time, per workload, from each trial's windows:
/// one chart of p99 (bold), p50 (thin) and max (dashed) per window and one of ops/s, each
/// with one colour per profile, trials one after another with a mark where one ends.
/// Workloads without windows (files written before they were recorded) get none.
pub fn over_time(results: &Results) -> Result<OverTime> {
    let mut latency: Vec<Chart> = Vec::new();
    let mut rate: Vec<Chart> = Vec::new();
    let mut bytes: Vec<Chart> = Vec::new();
    for (ri, run) in results.runs.iter().enumerate() {
        for (wi, w) in run.workloads.iter().enumerate() {
            let (mut p50, mut p99, mut max, mut ops) = (vec![], vec![], vec![], vec![]);
            let (mut mbs, mut moved) = (vec![], false);
            let mut marks = Vec::new();
            let mut offset = 0.0;
            for (ti, t) in w.per_trial.iter().enumerate() {
                let Some(iv) = &t.intervals else { continue };
                if offset > 0.0 {
                    marks.push(offset);
                }
                for (xi, win) in iv.windows.iter().enumerate() {
                    let x = offset + win.start_s;
                    // A trial's cut-off last window would show a rate from a sliver of time.
                    if win.duration_s >= iv.interval_s / 2.0 {
                        ops.push((x, win.ops as f64 / win.duration_s));
                        let b = win.bytes.unwrap_or(0);
                        moved |= b > 0;
                        mbs.push((x, b as f64 / win.duration_s / 1e6));
                    }
                    if win.histogram.is_empty() {
                        // Nothing completed: a gap in the lines, not a line drawn across it.
                        for l in [&mut p50, &mut p99, &mut max] {
                            l.push((x, f64::NAN));
                        }
                        continue;
                    }
                    let h = crate::metrics::decode(&win.histogram).map_err(|e| {
                        Error::input(InputIssue::new(
                            "results file",
                            format!(
                                "runs[{ri}].workloads[{wi}].per_trial[{ti}].intervals.windows[{xi}].histogram"
                            ),
                            format!("{e} (workload {}, profile {})", w.workload, run.profile),
                        ))
                    })?;
                    let ms = |us: u64| us as f64 / 1000.0;
                    p50.push((x, ms(h.value_at_quantile(0.5))));
                    p99.push((x, ms(h.value_at_quantile(0.99))));
                    max.push((x, ms(h.max())));
                }
                offset += t.duration_s;
            }
            if ops.is_empty() {
                continue;
            }
            let line = |what: &str, points, stroke| Line {
                label: format!("{} {what}", run.profile),
                points,
                color: ri,
                stroke,
            };
            let lines = vec![
                line("p99", p99, Stroke::Bold),
                line("p50", p50, Stroke::Thin),
                line("max", max, Stroke::Dashed),
            ];
            chart_for(&mut latency, Kind::LatencyOverTime, &w.workload, &w.target).push_all(
                &run.profile,
                lines,
                &marks,
                ri,
            );
            chart_for(&mut rate, Kind::RateOverTime, &w.workload, &w.target).push_all(
                &run.profile,
                vec![line("ops/s", ops, Stroke::Bold)],
                &marks,
                ri,
            );
            if moved {
                chart_for(&mut bytes, Kind::BytesOverTime, &w.workload, &w.target).push_all(
                    &run.profile,
                    vec![line("MB/s", mbs, Stroke::Bold)],
                    &marks,
                    ri,
                );
            }
        }
    }
    Ok(OverTime {
        latency,
        ops: rate,
        bytes,
    })
}

/// The over-time charts of a run: latency, ops/s and (where payloads moved) MB/s per window.
pub struct OverTime {
    pub latency: Vec<Chart>,
    pub ops: Vec<Chart>,
    pub bytes: Vec<Chart>,
}

fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// (nines, ms) from the minimum up to the deepest quantile the sample count resolves:
/// nines = -log10(1 - q), so p90 is 1, p99 2, p99.9 3. With n samples quantiles past
/// 1 - 1/n only repeat the maximum, so the line ends at log10(n), with the max as last point.
pub(crate) fn spectrum(h: &hdrhistogram::Histogram<u64>) -> Vec<(f64, f64)> {
    let ms = |us: u64| us as f64 / 1000.0;
    let deepest = (h.len() as f64).log10().min(MAX_NINES);
    let steps = (deepest / NINES_STEP).floor() as usize;
    let mut points: Vec<(f64, f64)> = (0..=steps)
        .map(|i| {
            let x = i as f64 * NINES_STEP;
            let q = 1.0 - 10f64.powf(-x);
            (x, ms(h.value_at_quantile(q)))
        })
        .collect();
    let max = ms(h.max());
    match points.last_mut() {
        // The last step landed on the deepest quantile (up to rounding): end it at the max.
        Some(p) if p.0 >= deepest - 1e-9 => p.1 = p.1.max(max),
        _ => points.push((deepest, max)),
    }
    points
}

/// Writes every chart into `dir/charts/`.
pub fn write(charts: &[Chart], dir: &Path) -> Result<()> {
    if charts.is_empty() {
        return Ok(());
    }
    let folder = dir.join(DIR);
    std::fs::create_dir_all(&folder).map_err(|e| Error::io(&folder, e))?;
    for c in charts {
        let path = dir.join(&c.file);
        std::fs::write(&path, svg(c)).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

/// The chart as an SVG document.
pub fn svg(c: &Chart) -> String {
    let (title, x, y) = match c.kind {
        Kind::Latency => latency_axes(c),
        Kind::Throughput => throughput_axes(c),
        Kind::LatencyOverTime | Kind::RateOverTime | Kind::BytesOverTime => over_time_axes(c),
    };
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (760, 460)).into_drawing_area();
        // Drawing into a string cannot fail for I/O reasons; a failure would only lose the
        // chart, so errors are dropped deliberately (as for the sweep charts).
        let _ = draw(&root, &title, &x, &y, &c.lines, &c.marks);
        let _ = root.present();
    }
    out
}

fn latency_axes(c: &Chart) -> (String, Axis, Axis) {
    let x_hi = c
        .lines
        .iter()
        .filter_map(|l| l.points.last().map(|p| p.0))
        .fold(1.0, f64::max);
    let x = Axis {
        range: 0.0..x_hi,
        ticks: [0.0, 2f64.log10(), 1.0, 2.0, 3.0, 4.0, 5.0]
            .into_iter()
            .filter(|t| *t <= x_hi + 1e-9)
            .collect(),
        desc: "percentile".into(),
        log: false,
        label: percentile_label,
    };
    let y = latency_y(c);
    let title = format!(
        "{} ({}): latency by percentile, all profiles",
        c.workload, c.target
    );
    (title, x, y)
}

/// The latency axis of a chart's lines: log scale when they span a wide range.
fn latency_y(c: &Chart) -> Axis {
    // Gaps (no value) are not data.
    let ys = c
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite());
    let (lo, hi) = ys.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v.max(0.001)), hi.max(v))
    });
    // A wide range (the usual latency tail) reads better on a log axis.
    if hi / lo > 20.0 {
        let (l, h) = (lo.log10().floor(), hi.log10().ceil());
        Axis {
            range: l..h,
            ticks: log_ticks(l, h),
            desc: "latency (ms, log scale)".into(),
            log: true,
            label: |v| number(10f64.powf(v)),
        }
    } else {
        let h = if hi > 0.0 { hi * 1.1 } else { 1.0 };
        Axis {
            range: 0.0..h,
            ticks: linear_ticks(h),
            desc: "latency (ms)".into(),
            log: false,
            label: number,
        }
    }
}

fn over_time_axes(c: &Chart) -> (String, Axis, Axis) {
    let x_hi = c
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .chain(c.marks.iter().map(|m| m.1))
        .fold(0.0, f64::max)
        .max(1.0);
    let x = Axis {
        range: 0.0..x_hi,
        ticks: linear_ticks(x_hi),
        desc: "measured second (trials one after another, | where one ends)".into(),
        log: false,
        label: number,
    };
    if c.kind == Kind::LatencyOverTime {
        let title = format!(
            "{} ({}): latency per window (p99 bold, p50 thin, max dashed)",
            c.workload, c.target
        );
        return (title, x, latency_y(c));
    }
    let (desc, title) = if c.kind == Kind::BytesOverTime {
        (
            "payload MB/s (10^6 bytes/s)",
            format!(
                "{} ({}): payload MB/s per window (at each operation's completion)",
                c.workload, c.target
            ),
        )
    } else {
        (
            "completed operations per second",
            format!("{} ({}): ops/s per window", c.workload, c.target),
        )
    };
    (title, x, linear_y(c, desc))
}

/// A linear axis from 0 to a little above the chart's highest value.
fn linear_y(c: &Chart, desc: &str) -> Axis {
    let y_hi = c
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
        * 1.1
        + 1e-9;
    Axis {
        range: 0.0..y_hi,
        ticks: linear_ticks(y_hi),
        desc: desc.into(),
        log: false,
        label: number,
    }
}

fn throughput_axes(c: &Chart) -> (String, Axis, Axis) {
    let x_hi = c
        .lines
        .iter()
        .map(|l| l.points.len() as f64)
        .fold(1.0, f64::max);
    let x = Axis {
        range: 0.0..x_hi,
        ticks: linear_ticks(x_hi),
        desc: "measured second (trials one after another)".into(),
        log: false,
        label: number,
    };
    let y = linear_y(c, "payload throughput (MB/s)");
    let title = format!("{} ({}): payload MB/s per second", c.workload, c.target);
    (title, x, y)
}

fn draw(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    x: &Axis,
    y: &Axis,
    lines: &[Line],
    marks: &[(usize, f64)],
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 16))
        .margin(14)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(Ticked::of(x), Ticked::of(y))?;
    let (xl, yl) = (x.label, y.label);
    chart
        .configure_mesh()
        .x_desc(x.desc.as_str())
        .y_desc(y.desc.as_str())
        .x_label_formatter(&|v| xl(*v))
        .y_label_formatter(&|v| yl(*v))
        .draw()?;
    for &(ci, mx) in marks {
        let color = Palette99::pick(ci).mix(0.5);
        let (lo, hi) = (y.range.start, y.range.end);
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(mx, lo), (mx, hi)],
            color.stroke_width(1),
        )))?;
    }
    for line in lines {
        let color = Palette99::pick(line.color).to_rgba();
        let width = if line.stroke == Stroke::Thin { 1 } else { 2 };
        let style = color.stroke_width(width);
        // A point without a value (a window in which nothing completed) splits the line.
        let segments: Vec<Vec<(f64, f64)>> = line
            .points
            .split(|p| !p.1.is_finite())
            .filter(|seg| !seg.is_empty())
            .map(|seg| {
                seg.iter()
                    .map(|&(px, py)| (x.to_plot(px), y.to_plot(py)))
                    .collect()
            })
            .collect();
        for (i, pts) in segments.into_iter().enumerate() {
            let drawn = if line.stroke == Stroke::Dashed {
                chart.draw_series(DashedLineSeries::new(pts, 4, 3, style))?
            } else {
                chart.draw_series(LineSeries::new(pts, style))?
            };
            if i == 0 {
                drawn
                    .label(line.label.as_str())
                    .legend(move |(lx, ly)| PathElement::new(vec![(lx, ly), (lx + 20, ly)], style));
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}

/// A linear f64 axis with our own tick positions (plotters' `with_key_points` drops the
/// label formatter for floats, and the nines axis needs ticks at p50, p90, p99 ...).
struct Ticked {
    range: Range<f64>,
    ticks: Vec<f64>,
}

impl Ticked {
    fn of(axis: &Axis) -> Self {
        Ticked {
            range: axis.range.clone(),
            ticks: axis.ticks.clone(),
        }
    }
}

impl Ranged for Ticked {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        if span <= 0.0 {
            return (limit.0 + limit.1) / 2;
        }
        let f = (v - self.range.start) / span;
        limit.0 + (f64::from(limit.1 - limit.0) * f).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        // Bold points only: light grid lines between uneven ticks would mislead.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn spectrum_reads_the_tail_from_the_histogram() {
        // 990 ops at 1 ms, 9 at 50 ms, 1 at 400 ms: p99 is still 1 ms, the tail past it is slow.
        let mut h = crate::metrics::new_histogram();
        for _ in 0..990 {
            crate::metrics::record(&mut h, Duration::from_millis(1));
        }
        for _ in 0..9 {
            crate::metrics::record(&mut h, Duration::from_millis(50));
        }
        crate::metrics::record(&mut h, Duration::from_millis(400));
        let s = spectrum(&h);
        let at = |nines: f64| {
            s.iter()
                .find(|p| (p.0 - nines).abs() < 1e-9)
                .unwrap_or_else(|| panic!("no point at {nines}: {s:?}"))
                .1
        };
        assert!((at(1.0) - 1.0).abs() < 0.01, "p90 {}", at(1.0));
        assert!((at(2.0) - 1.0).abs() < 0.01, "p99 {}", at(2.0));
        // p99.5 falls among the 50 ms ops.
        assert!((at(2.3) - 50.0).abs() < 0.1, "p99.5 {}", at(2.3));
        // 1000 samples resolve three nines; the line ends there, at the max.
        let last = s.last().unwrap();
        assert!((last.0 - 3.0).abs() < 1e-9, "{last:?}");
        assert!((last.1 - 400.0).abs() < 0.5, "{last:?}");
        // Never decreasing: a spectrum is a quantile function.
        assert!(s.windows(2).all(|w| w[1].1 >= w[0].1 && w[1].0 > w[0].0));
    }

    /// A window of `n` operations at `ms` each.
    fn window(start_s: f64, n: u64, ms: u64) -> crate::results::IntervalWindow {
        let mut h = crate::metrics::new_histogram();
        (0..n).for_each(|_| crate::metrics::record(&mut h, Duration::from_millis(ms)));
        crate::results::IntervalWindow {
            start_s,
            duration_s: 1.0,
            ops: n,
            errors: 0,
            bytes: None,
            histogram: if n == 0 {
                String::new()
            } else {
                crate::metrics::encode(&h)
            },
        }
    }

    #[test]
    fn over_time_draws_each_window_with_a_gap_for_a_stall_and_a_mark_per_trial() {
        let mut r = crate::compare::testkit::results(1.0, 2, None);
        let w = &mut r.runs[0].workloads[0];
        for t in &mut w.per_trial {
            t.duration_s = 3.0;
            t.intervals = Some(crate::results::Intervals {
                interval_s: 1.0,
                windows: vec![window(0.0, 100, 1), window(1.0, 0, 0), window(2.0, 50, 300)],
            });
        }
        let OverTime {
            latency,
            ops: rate,
            bytes,
        } = over_time(&r).unwrap();
        assert_eq!((latency.len(), rate.len()), (1, 1));
        // No window moved a payload: no MB/s chart.
        assert!(bytes.is_empty());
        let (l, o) = (&latency[0], &rate[0]);
        assert_eq!(l.file, "charts/latency-over-time-fts_search.svg");
        assert_eq!(o.file, "charts/ops-over-time-fts_search.svg");
        // Trials one after another: the second starts at 3 s, where the one mark is.
        assert_eq!(l.marks, [(0, 3.0)]);
        let p99 = &l.lines[0];
        assert_eq!(p99.label, "baseline p99");
        let xs: Vec<f64> = p99.points.iter().map(|p| p.0).collect();
        assert_eq!(xs, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!(p99.points[1].1.is_nan() && p99.points[4].1.is_nan());
        assert!((p99.points[2].1 - 300.0).abs() < 0.5, "{:?}", p99.points);
        let ops: Vec<f64> = o.lines[0].points.iter().map(|p| p.1).collect();
        assert_eq!(ops, [100.0, 0.0, 50.0, 100.0, 0.0, 50.0]);
        let svg = svg(l);
        assert!(svg.contains("baseline p99") && svg.contains("baseline max"));
        // A results file without windows gets no over-time chart.
        let plain = crate::compare::testkit::results(1.0, 1, None);
        assert!(over_time(&plain).unwrap().latency.is_empty());
        // Payloads: MB/s per window, counted at each operation's completion.
        let w = &mut r.runs[0].workloads[0];
        for t in &mut w.per_trial {
            let iv = t.intervals.as_mut().unwrap();
            iv.windows[0].bytes = Some(3_000_000);
            iv.windows[2].bytes = Some(1_000_000);
        }
        let bytes = over_time(&r).unwrap().bytes;
        assert_eq!(bytes[0].file, "charts/mbs-over-time-fts_search.svg");
        let mbs: Vec<f64> = bytes[0].lines[0].points.iter().map(|p| p.1).collect();
        assert_eq!(mbs, [3.0, 0.0, 1.0, 3.0, 0.0, 1.0]);
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_safe("a/b c"), "a_b_c");
    }
}
