//! Latency over time. Besides its whole-phase tally, each worker records every operation into
//! the window of the interval it completed in; windows are aligned to the phase's start, so
//! the windows of the same index on every worker cover the same span of time and merge
//! exactly (HDR add). A worker hands a window to the phase's collector thread when it first
//! sees the clock in a later interval (latte's snapshot model: one message per interval per
//! worker, none per operation). The collector merges and encodes a window once every worker
//! has moved past it, so memory holds only the windows still open, not a whole soak test's.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use crate::metrics;

/// Default window length.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// What one worker, or all of them merged, measured in one window.
#[derive(Debug, Clone)]
pub struct Window {
    pub hist: Histogram<u64>,
    pub ops: u64,
    pub errors: u64,
    pub bytes: u64,
}

impl Window {
    fn new() -> Self {
        Window {
            hist: metrics::new_histogram(),
            ops: 0,
            errors: 0,
            bytes: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.ops == 0 && self.errors == 0
    }

    fn merge(&mut self, o: &Window) {
        metrics::merge(&mut self.hist, &o.hist);
        self.ops += o.ops;
        self.errors += o.errors;
        self.bytes += o.bytes;
    }
}

/// A window once every worker's share is in: counts and the encoded histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct Closed {
    /// The window's index: it starts at `index x interval` after the phase's start.
    pub index: u64,
    pub ops: u64,
    pub errors: u64,
    pub bytes: u64,
    /// HdrHistogram V2 (deflate), base64, microseconds; empty when no operation succeeded.
    pub histogram: String,
    /// The window's p99 in ms (0 when empty), for the live line.
    pub p99_ms: f64,
}

/// A worker's message: it has moved on to window `now`, and hands over what it recorded in
/// its previous window (if anything).
struct Handover {
    worker: usize,
    now: u64,
    window: Option<(u64, Window)>,
}

/// The windows a phase measured, in order, with no gaps: an interval in which nothing
/// completed is there with zero operations.
#[derive(Debug, Clone, Default)]
pub struct Windows {
    pub interval: Duration,
    pub windows: Vec<Closed>,
}

/// The last window closed while a phase runs, for the live line.
pub type Live = Arc<Mutex<Option<Closed>>>;

/// One worker's side: the window it is recording into.
pub struct Recorder {
    worker: usize,
    start: Instant,
    interval_ns: u128,
    index: u64,
    /// Start of the next window: until then the current one is recorded into.
    next_at: Instant,
    current: Window,
    tx: mpsc::Sender<Handover>,
}

impl Recorder {
    /// The window of an operation that completed at `at`; the current one is handed over
    /// first if `at` lies in a later interval.
    #[inline]
    pub fn window(&mut self, at: Instant) -> &mut Window {
        if at >= self.next_at {
            self.advance(at);
        }
        &mut self.current
    }

    /// Hands over the current window if the clock is past it: called before each operation
    /// too, so a worker with nothing completing does not hold the collector back.
    #[inline]
    pub fn tick(&mut self, now: Instant) {
        if now >= self.next_at {
            self.advance(now);
        }
    }

    fn advance(&mut self, at: Instant) {
        let index = (at.saturating_duration_since(self.start).as_nanos() / self.interval_ns) as u64;
        let done = std::mem::replace(&mut self.current, Window::new());
        let window = (!done.is_empty()).then_some((self.index, done));
        // The collector outlives every recorder; a send can only fail after it stopped.
        let _ = self.tx.send(Handover {
            worker: self.worker,
            now: index,
            window,
        });
        self.index = index;
        self.next_at = self.start + interval_times(self.interval_ns, index + 1);
    }
}

impl Drop for Recorder {
    /// The last window, and the worker's position past every window.
    fn drop(&mut self) {
        let done = std::mem::replace(&mut self.current, Window::new());
        let _ = self.tx.send(Handover {
            worker: self.worker,
            now: u64::MAX,
            window: (!done.is_empty()).then_some((self.index, done)),
        });
    }
}

fn interval_times(interval_ns: u128, n: u64) -> Duration {
    let ns = interval_ns.saturating_mul(u128::from(n));
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

/// The phase's side: hands out recorders and merges what they hand over on its own thread.
pub struct Collector {
    tx: Option<mpsc::Sender<Handover>>,
    start: Instant,
    interval: Duration,
    thread: std::thread::JoinHandle<Vec<Closed>>,
}

impl Collector {
    pub fn start(start: Instant, interval: Duration, workers: usize, live: Live) -> Self {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("tunebench-intervals".into())
            .spawn(move || collect(rx, workers, live))
            .expect("starting the interval collector thread");
        Collector {
            tx: Some(tx),
            start,
            interval,
            thread,
        }
    }

    pub fn recorder(&self, worker: usize) -> Recorder {
        let interval_ns = self.interval.as_nanos().max(1);
        Recorder {
            worker,
            start: self.start,
            interval_ns,
            index: 0,
            next_at: self.start + self.interval,
            current: Window::new(),
            tx: self
                .tx
                .clone()
                .expect("recorders are handed out before finish"),
        }
    }

    /// Every window, once every recorder has been dropped.
    pub fn finish(mut self) -> Windows {
        drop(self.tx.take());
        let windows = self.thread.join().unwrap_or_default();
        Windows {
            interval: self.interval,
            windows,
        }
    }
}

/// Merges handovers until every recorder is gone; a window is closed (encoded, its memory
/// freed) once every worker has moved past it.
fn collect(rx: mpsc::Receiver<Handover>, workers: usize, live: Live) -> Vec<Closed> {
    let mut position = vec![0u64; workers];
    let mut open: BTreeMap<u64, Window> = BTreeMap::new();
    let mut closed: Vec<Closed> = Vec::new();
    let close = |index: u64, w: Option<Window>, closed: &mut Vec<Closed>| {
        // Windows in which nothing completed on any worker are there too, empty.
        let from = closed.last().map_or(0, |c| c.index + 1);
        for gap in from..index {
            closed.push(empty(gap));
        }
        let c = match w {
            Some(w) => Closed {
                index,
                ops: w.ops,
                errors: w.errors,
                bytes: w.bytes,
                histogram: if w.hist.is_empty() {
                    String::new()
                } else {
                    metrics::encode(&w.hist)
                },
                p99_ms: w.hist.value_at_quantile(0.99) as f64 / 1000.0,
            },
            None => empty(index),
        };
        closed.push(c);
    };
    while let Ok(h) = rx.recv() {
        if let Some((index, w)) = h.window {
            match open.get_mut(&index) {
                Some(o) => o.merge(&w),
                None => {
                    open.insert(index, w);
                }
            }
        }
        if let Some(p) = position.get_mut(h.worker) {
            *p = (*p).max(h.now);
        }
        let past = position.iter().copied().min().unwrap_or(u64::MAX);
        while let Some(entry) = open.first_entry() {
            if *entry.key() >= past {
                break;
            }
            let (index, w) = entry.remove_entry();
            close(index, Some(w), &mut closed);
            if let Ok(mut l) = live.lock() {
                *l = closed.last().cloned();
            }
        }
    }
    for (index, w) in std::mem::take(&mut open) {
        close(index, Some(w), &mut closed);
    }
    closed
}

fn empty(index: u64) -> Closed {
    Closed {
        index,
        ops: 0,
        errors: 0,
        bytes: 0,
        histogram: String::new(),
        p99_ms: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn windows_from_several_workers_merge_by_interval_with_gaps_kept() {
        let start = Instant::now();
        let live: Live = Arc::default();
        let c = Collector::start(start, Duration::from_millis(100), 2, live.clone());
        let mut a = c.recorder(0);
        let mut b = c.recorder(1);
        // Worker a: 3 ops in window 0, 1 in window 3; worker b: 2 in window 0, 1 error in 1.
        for ms in [10, 20, 30] {
            let w = a.window(at(start, ms));
            metrics::record(&mut w.hist, Duration::from_millis(1));
            w.ops += 1;
        }
        for ms in [5, 95] {
            let w = b.window(at(start, ms));
            metrics::record(&mut w.hist, Duration::from_millis(50));
            w.ops += 1;
            w.bytes += 7;
        }
        b.window(at(start, 150)).errors += 1;
        let w = a.window(at(start, 399));
        metrics::record(&mut w.hist, Duration::from_millis(2));
        w.ops += 1;
        drop((a, b));
        let got = c.finish();
        let counts: Vec<(u64, u64, u64, u64)> = got
            .windows
            .iter()
            .map(|w| (w.index, w.ops, w.errors, w.bytes))
            .collect();
        assert_eq!(
            counts,
            [(0, 5, 0, 14), (1, 0, 1, 0), (2, 0, 0, 0), (3, 1, 0, 0)]
        );
        let first = metrics::decode(&got.windows[0].histogram).unwrap();
        assert_eq!(first.len(), 5);
        assert!((got.windows[0].p99_ms - 50.0).abs() < 0.05);
        // A window with only errors, or nothing, has no histogram.
        assert!(got.windows[1].histogram.is_empty() && got.windows[2].histogram.is_empty());
        assert_eq!(live.lock().unwrap().as_ref().map(|l| l.index), Some(3));
    }

    #[test]
    fn a_window_stays_open_until_every_worker_moved_past_it() {
        let start = Instant::now();
        let live: Live = Arc::default();
        let c = Collector::start(start, Duration::from_millis(10), 2, live.clone());
        let mut a = c.recorder(0);
        let b = c.recorder(1);
        a.window(at(start, 1)).ops += 1;
        a.tick(at(start, 55));
        // Worker b never moved: window 0 may still receive from it.
        std::thread::sleep(Duration::from_millis(50));
        assert!(live.lock().unwrap().is_none());
        drop(b);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(live.lock().unwrap().as_ref().map(|l| l.ops), Some(1));
        drop(a);
        assert_eq!(c.finish().windows.len(), 1);
    }
}
