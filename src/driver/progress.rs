//! Progress while a phase runs: a bar on a terminal, a plain line every few seconds otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;

pub struct Progress {
    task: JoinHandle<()>,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn start(
        label: &str,
        duration: Duration,
        counters: impl Fn() -> (u64, u64) + Send + 'static,
        live: super::intervals::Live,
        interval: Duration,
    ) -> Self {
        let label = label.to_string();
        let total_ms = duration.as_millis() as u64;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total_ms);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:.bold} [{bar:30}] {elapsed}/{duration} {msg}",
                )
                .expect("static template")
                .progress_chars("=> "),
            );
            bar.set_prefix(label.clone());
            bar
        });
        let b = bar.clone();
        let task = tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let tick = if b.is_some() {
                Duration::from_millis(250)
            } else {
                Duration::from_secs(5)
            };
            let mut ticks = tokio::time::interval_at(started + tick, tick);
            loop {
                ticks.tick().await;
                let (ok, failed) = counters();
                let secs = started.elapsed().as_secs_f64();
                let mut msg = format!(
                    "{ok} ops, {failed} errors, {:.0} ops/s",
                    ok as f64 / secs.max(1e-9)
                );
                // The last window every worker has moved past: its own rate, p99 and errors.
                let last = live.lock().ok().and_then(|l| l.clone());
                if let Some(w) = last {
                    let len = interval.as_secs_f64().max(1e-9);
                    msg.push_str(&format!(
                        " | last {interval:?}: {:.0} ops/s, p99 {:.2} ms, {} errors",
                        w.ops as f64 / len,
                        w.p99_ms,
                        w.errors
                    ));
                }
                match &b {
                    Some(bar) => {
                        bar.set_position((secs * 1000.0) as u64);
                        bar.set_message(msg);
                    }
                    None => eprintln!("  {label}: {secs:.0}s {msg}"),
                }
            }
        });
        Progress { task, bar }
    }

    pub fn finish(self) {
        self.task.abort();
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
