//! Sweeps of a search parameter: the points of each swept workload (recall, throughput,
//! latency at each value), the cheapest value that reaches the sweep's recall target, and
//! recall-vs-QPS / recall-vs-p99 charts as SVG. Figures come from results.json only.

use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::results::Results;

#[derive(Debug, Clone, Serialize)]
pub struct Sweep {
    pub profile: String,
    pub workload: String,
    pub setting: String,
    pub min_recall: f64,
    pub k: Option<u32>,
    pub points: Vec<Point>,
    /// Some point's recall was judged strictly (false in a results file older than that).
    pub judged: bool,
    /// Index into `points` of the highest-throughput value whose recall reaches
    /// `min_recall` (the cheapest setting that meets it); None if no value does.
    pub cheapest: Option<usize>,
    /// File names of the charts, relative to the report.
    pub qps_chart: String,
    pub p99_chart: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub value: String,
    pub recall: Option<f64>,
    pub qps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Groups each profile's sweep-point workloads (in scenario order) into sweeps.
pub fn collect(results: &Results) -> Vec<Sweep> {
    let infos: Vec<(String, crate::scenario::SweepPoint)> = results
        .scenario
        .workloads
        .iter()
        .filter_map(|w| Some((w.name.clone(), w.sweep.clone()?)))
        .collect();
    let mut sweeps: Vec<Sweep> = Vec::new();
    for run in &results.runs {
        for (name, info) in &infos {
            let Some(w) = run.workloads.iter().find(|w| &w.workload == name) else {
                continue;
            };
            let point = Point {
                value: info.value.clone(),
                recall: w.recall_at_k,
                qps: w.throughput_ops_s,
                p50_ms: w.latency_ms.p50,
                p99_ms: w.latency_ms.p99,
            };
            match sweeps
                .iter_mut()
                .find(|s| s.profile == run.profile && s.workload == info.base)
            {
                Some(s) => s.points.push(point),
                None => {
                    let stem = format!("sweep-{}-{}", run.profile, info.base);
                    sweeps.push(Sweep {
                        profile: run.profile.clone(),
                        workload: info.base.clone(),
                        setting: info.setting.clone(),
                        min_recall: info.min_recall,
                        k: w.k,
                        points: vec![point],
                        judged: false,
                        cheapest: None,
                        qps_chart: format!("{stem}-recall-qps.svg"),
                        p99_chart: format!("{stem}-recall-p99.svg"),
                    })
                }
            }
        }
    }
    for s in &mut sweeps {
        s.judged = s.points.iter().any(|p| p.recall.is_some());
        s.cheapest = s
            .points
            .iter()
            .enumerate()
            .filter(|(_, p)| p.recall.is_some_and(|r| r >= s.min_recall))
            .max_by(|a, b| a.1.qps.total_cmp(&b.1.qps))
            .map(|(i, _)| i);
    }
    sweeps
}

/// Writes both charts of every sweep into `dir`.
pub fn write_charts(sweeps: &[Sweep], dir: &Path) -> Result<()> {
    for s in sweeps {
        for (file, y_label, y) in [
            (&s.qps_chart, "throughput (queries/s)", Y::Qps),
            (&s.p99_chart, "p99 latency (ms)", Y::P99),
        ] {
            let svg = chart(s, y_label, y);
            let path = dir.join(file);
            std::fs::write(&path, svg).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Y {
    Qps,
    P99,
}

fn chart(s: &Sweep, y_label: &str, y: Y) -> String {
    let pts: Vec<(f64, f64, &str)> = s
        .points
        .iter()
        .filter_map(|p| {
            let v = match y {
                Y::Qps => p.qps,
                Y::P99 => p.p99_ms,
            };
            p.recall.map(|r| (r, v, p.value.as_str()))
        })
        .collect();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (720, 440)).into_drawing_area();
        // Drawing into a string cannot fail for I/O reasons; a failure here would only lose
        // the chart, which the report then lacks, so errors are dropped deliberately.
        let _ = draw(&root, s, &pts, y_label);
        let _ = root.present();
    }
    out
}

fn draw(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    s: &Sweep,
    pts: &[(f64, f64, &str)],
    y_label: &str,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let x_min = pts.iter().map(|p| p.0).fold(s.min_recall, f64::min);
    let x_lo = (x_min - 0.02).max(0.0);
    let y_max = pts.iter().map(|p| p.1).fold(0.0, f64::max) * 1.15 + 1e-9;
    let k = s.k.map(|k| format!("@{k}")).unwrap_or_default();
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!(
                "{} / {}: recall{k} vs {y_label}, sweeping {}",
                s.profile, s.workload, s.setting
            ),
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x_lo..1.0f64, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc(format!("recall{k}"))
        .y_desc(y_label)
        .draw()?;
    // The recall target as a vertical line.
    chart.draw_series(LineSeries::new(
        [(s.min_recall, 0.0), (s.min_recall, y_max)],
        RED.mix(0.5),
    ))?;
    chart.draw_series(LineSeries::new(pts.iter().map(|p| (p.0, p.1)), &BLUE))?;
    chart.draw_series(
        pts.iter()
            .map(|p| Circle::new((p.0, p.1), 4, BLUE.filled())),
    )?;
    chart.draw_series(pts.iter().map(|p| {
        Text::new(
            format!("{}={}", short(&s.setting), p.2),
            (p.0, p.1),
            ("sans-serif", 11).into_font(),
        )
    }))?;
    if let Some(c) = s.cheapest.and_then(|i| s.points.get(i)) {
        let v = pts.iter().find(|p| p.2 == c.value);
        if let Some(p) = v {
            chart.draw_series([Circle::new((p.0, p.1), 9, RED.stroke_width(2))])?;
        }
    }
    Ok(())
}

fn short(setting: &str) -> &str {
    setting.rsplit('.').next().unwrap_or(setting)
}
