//! Runs one measured (or warm-up) phase: one task per connection, each recording into its
//! own histograms, merged at the end. The hot loop is generic over the store's executor.

mod crew;
pub mod intervals;
pub mod pacing;
mod progress;
pub mod timer;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use hdrhistogram::Histogram;
use rand::SeedableRng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use crate::metrics::{self, Tally};
pub use crew::Crew;
pub use pacing::{Pacing, Schedule, Shard};
pub use progress::Progress;
use timer::TimerHandle;

/// One failed operation, classified so errors can be counted by kind.
#[derive(Debug, Clone)]
pub struct OpError {
    pub kind: String,
    pub message: String,
}

/// What a completed operation reports besides its latency.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Done {
    /// Payload bytes moved (uploads, downloads); 0 where it does not apply.
    pub bytes: u64,
}

/// A query's answer judged against exact ground truth: which query (and filter, 0 none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judged {
    pub filter: usize,
    pub query: usize,
    pub recall: crate::dataset::Recall,
}

/// Executes operations against one connection of a store.
pub trait Executor: Send + 'static {
    type Params: Send;

    /// Draws the next operation's parameters. Called before the clock starts, so its cost is
    /// the harness's, not the server's.
    fn draw(&mut self, op: usize, rng: &mut ChaCha8Rng) -> Self::Params;

    fn execute(
        &mut self,
        op: usize,
        params: &Self::Params,
    ) -> impl Future<Output = Result<Done, OpError>> + Send;

    /// Judges the answer of the operation that just succeeded (recall against exact ground
    /// truth), after the clock stopped: the judging is the harness's work, not the server's.
    fn settle(&mut self, _op: usize, _params: &Self::Params) -> Option<Judged> {
        None
    }

    /// Closes the connection on the thread that used it, after the workload's last phase;
    /// false when it could not be closed cleanly (counted as a leaked connection).
    fn close(self) -> impl Future<Output = bool>
    where
        Self: Sized,
    {
        async { true }
    }
}

/// The weighted operations of a workload.
pub struct OpMix {
    pub names: Vec<String>,
    pub weights: WeightedIndex<u32>,
}

impl OpMix {
    pub fn new(ops: &[(String, u32)]) -> Self {
        OpMix {
            names: ops.iter().map(|o| o.0.clone()).collect(),
            weights: WeightedIndex::new(ops.iter().map(|o| o.1)).expect("weights validated >= 1"),
        }
    }
}

/// Bytes and recall per operation kind.
#[derive(Debug, Clone, Default)]
pub struct OpExtras {
    pub bytes: u64,
    pub recall: RecallSum,
    /// Per (filter, query): recall of every judged answer to it, so each query's recall is
    /// kept, not only the mean.
    pub by_query: BTreeMap<(usize, usize), RecallSum>,
}

/// Recall of judged answers, summed (strict, and with ann-benchmarks' tolerance).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RecallSum {
    pub strict: f64,
    pub tolerant: f64,
    pub count: u64,
}

impl RecallSum {
    fn add(&mut self, r: crate::dataset::Recall) {
        self.strict += r.strict;
        self.tolerant += r.tolerant;
        self.count += 1;
    }

    pub fn merge(&mut self, o: &RecallSum) {
        self.strict += o.strict;
        self.tolerant += o.tolerant;
        self.count += o.count;
    }

    /// Mean recall (strict, tolerant); None when nothing was judged.
    pub fn mean(&self) -> Option<(f64, f64)> {
        (self.count > 0).then(|| {
            (
                self.strict / self.count as f64,
                self.tolerant / self.count as f64,
            )
        })
    }
}

impl OpExtras {
    fn add(&mut self, d: &Done, judged: Option<Judged>) {
        self.bytes += d.bytes;
        if let Some(j) = judged {
            self.recall.add(j.recall);
            self.by_query
                .entry((j.filter, j.query))
                .or_default()
                .add(j.recall);
        }
    }
}

impl metrics::Merge for OpExtras {
    fn merge(&mut self, o: &OpExtras) {
        self.bytes += o.bytes;
        self.recall.merge(&o.recall);
        for (k, v) in &o.by_query {
            self.by_query.entry(*k).or_default().merge(v);
        }
    }
}

pub struct PhaseSpec {
    pub label: String,
    pub pacing: Pacing,
    pub duration: Duration,
    /// Stop after this many operations (all workers together), or at `duration`.
    pub iterations: Option<u64>,
    pub op_timeout: Duration,
    pub error_budget: f64,
    pub seed: u64,
    /// Where the measured server runs, to tell its CPU time from other work on the host.
    pub server: crate::host::ServerSite,
    /// Length of the windows latency over time is recorded in.
    pub interval: Duration,
    /// The part of the load this process generates (open loop: its turns of the schedule).
    pub shard: Shard,
    /// When the phase starts (a worker shard's planned time, shared with the other shards);
    /// None: as soon as every worker is ready.
    pub start_at: Option<Instant>,
}

/// What a phase measured. Histograms are in microseconds.
pub struct PhaseOutcome {
    /// Every worker's operations, merged.
    pub tally: Tally<OpExtras>,
    /// All operation kinds' latencies together.
    pub total: Histogram<u64>,
    pub open_loop: bool,
    pub ops: u64,
    pub errors: u64,
    pub wall: Duration,
    /// Set when the error budget was exceeded and the phase stopped early.
    pub aborted: bool,
    /// What the harness itself used during the phase.
    pub cost: HarnessCost,
    /// The same operations per interval of the phase, by completion time.
    pub windows: intervals::Windows,
}

impl PhaseOutcome {
    /// Open loop: how late each operation started against its schedule.
    pub fn schedule_lag(&self) -> Option<&Histogram<u64>> {
        self.open_loop.then_some(&self.tally.lag)
    }

    /// Open loop: lateness of the operations whose connection was idle and waiting for
    /// their start, i.e. the pacer's own precision.
    pub fn timer_lag(&self) -> Option<&Histogram<u64>> {
        self.open_loop.then_some(&self.tally.timer_lag)
    }
}

/// The load generator's own cost over one phase, so a figure it limits can be labelled.
#[derive(Debug, Clone, Copy, Default)]
pub struct HarnessCost {
    /// CPU time of the whole tunebench process (every thread).
    pub process_cpu: Duration,
    /// CPU time of the open-loop pacing thread (part of `process_cpu`).
    pub pacer_cpu: Duration,
    /// The host over the same interval.
    pub host: crate::host::HostLoad,
    /// CPU time of the measured server's processes over the same interval, when they run on
    /// this host in processes of their own.
    pub server_cpu: Option<Duration>,
}

/// What the workers of a phase share. Each field a worker writes often has a cache line of
/// its own, and each worker counts its completions in a line of its own: on 2 cores, one
/// counter written by every operation of both threads moved its line between the cores on
/// every operation, and slowed the flag every worker reads before each operation.
struct Shared {
    /// Closed loop's operation count (for `iterations`).
    ticket: Padded<AtomicU64>,
    /// Open loop's tickets and when each is due.
    arrivals: Padded<pacing::ArrivalSource>,
    /// Per worker.
    completed: Box<[Padded<AtomicU64>]>,
    failed: Padded<AtomicU64>,
    stop: Padded<AtomicBool>,
}

/// A value alone in its cache line (two 64-byte lines: the adjacent-line prefetcher pairs
/// them).
#[repr(align(128))]
#[derive(Default)]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Relaxed);
    }
}

/// The resolution of tokio's timers.
const TIMER_TICK: Duration = Duration::from_millis(1);

/// Error budgets are only judged after this many operations, so one early failure in a
/// short phase does not abort it.
const BUDGET_MIN_OPS: u64 = 100;

struct WorkerOutcome {
    tally: Tally<OpExtras>,
    last_completion: Instant,
}

impl Shared {
    fn new(pacing: Pacing, workers: usize) -> Self {
        Shared {
            ticket: Padded::default(),
            arrivals: Padded(pacing::ArrivalSource::new(pacing)),
            completed: (0..workers).map(|_| Padded::default()).collect(),
            failed: Padded::default(),
            stop: Padded::default(),
        }
    }

    /// Operations completed so far, all workers together.
    fn completed(&self) -> u64 {
        self.completed
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    fn counters(self: &Arc<Self>) -> impl Fn() -> (u64, u64) + Send + 'static {
        let s = self.clone();
        move || (s.completed(), s.failed.load(Ordering::Relaxed))
    }
}

/// One worker's loop over a phase; `i` is its index among the phase's workers.
async fn worker<E: Executor>(
    exec: &mut E,
    i: usize,
    pacer: Option<TimerHandle>,
    mut windows: intervals::Recorder,
    common: &crew::PhaseCommon,
    shares_thread: bool,
) -> WorkerOutcome {
    let crew::PhaseCommon {
        schedule,
        ref shared,
        ref mix,
        seed,
        op_timeout,
        error_budget,
        iterations,
    } = *common;
    let seed = seed.wrapping_add(i as u64 * 0x9E37_79B9);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut tally = Tally::<OpExtras>::new(mix.names.len());
    let mut last_completion = schedule.start;
    tokio::time::sleep_until(schedule.start).await;
    // One timer for every operation's op_timeout, moved to each operation's deadline: a
    // later deadline only updates the armed timer (an atomic store), where a new
    // `tokio::time::timeout` per operation registered a timer and removed it again (about
    // 5 % of the client's own CPU at 50,000 point selects/s, docs/measuring.md). tokio's
    // timers keep whole milliseconds, so the timer is only moved once the deadline moved by
    // one: an operation is cut between op_timeout - 1 ms and op_timeout + 1 ms after its send.
    let mut deadline = std::pin::pin!(tokio::time::sleep(op_timeout));

    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        // Parameters are drawn before the clock starts: their cost is the harness's, not
        // the server's.
        let op = mix.weights.sample(&mut rng);
        let params = exec.draw(op, &mut rng);
        let (started_from, sent) = match schedule.pacing {
            Pacing::Closed => {
                let now = Instant::now();
                let past_count =
                    iterations.is_some_and(|n| shared.ticket.fetch_add(1, Ordering::Relaxed) >= n);
                if now >= schedule.end || past_count {
                    break;
                }
                windows.tick(now);
                (now, now)
            }
            Pacing::Open { .. } => {
                let Some((ticket, intended)) = shared.arrivals.next(&schedule) else {
                    break;
                };
                if iterations.is_some_and(|n| ticket >= n) {
                    break;
                }
                let waited = Instant::now() < intended;
                match &pacer {
                    Some(p) => p.sleep_until(intended.into_std()).await,
                    None => tokio::time::sleep_until(intended).await,
                }
                let now = Instant::now();
                windows.tick(now);
                let late = now.saturating_duration_since(intended);
                metrics::record(&mut tally.lag, late);
                if waited {
                    metrics::record(&mut tally.timer_lag, late);
                }
                (intended, now)
            }
        };
        // op_timeout counts from the send, as the server's statement timeout does.
        let due = sent + op_timeout;
        if due >= deadline.deadline() + TIMER_TICK || deadline.is_elapsed() {
            deadline.as_mut().reset(due);
        }
        let result = match before(exec.execute(op, &params), deadline.as_mut()).await {
            Some(r) => r,
            None => Err(OpError {
                kind: "timeout".into(),
                message: format!("no answer within op_timeout {op_timeout:?}"),
            }),
        };
        let done = Instant::now();
        last_completion = done;
        let window = windows.window(done);
        match result {
            // Latency counts from the intended start in open loop, so queueing behind a
            // slow operation is part of what the user sees.
            Ok(d) => {
                let latency = done - started_from;
                metrics::record(&mut tally.per_op[op], latency);
                metrics::record(&mut window.hist, latency);
                window.ops += 1;
                window.bytes += d.bytes;
                let judged = exec.settle(op, &params);
                tally.per_op_extras[op].add(&d, judged);
                shared.completed[i].fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                window.errors += 1;
                tally.record_error(op, e.kind, e.message);
                let failed = shared.failed.fetch_add(1, Ordering::Relaxed) + 1;
                let all = failed + shared.completed();
                if all >= BUDGET_MIN_OPS && failed as f64 > error_budget * all as f64 {
                    shared.stop.store(true, Ordering::Relaxed);
                }
            }
        }
        // Take turns with the other workers on this thread: every answer that has arrived
        // is read and timed before any worker sends its next query. Sending is the
        // expensive part of an operation on the client (on loopback the kernel delivers the
        // query and wakes the backend inside the send, often handing it the core); a worker
        // that sent straight away would add that to the latency of every answer still
        // waiting on its thread. `yield_now` re-queues the worker only after the runtime has
        // asked the kernel which answers arrived meanwhile (one `epoll_wait`): a turn that
        // only let the workers already known to be ready run first left p95 and p99 at 8
        // connections 1.2-1.8x what this gives (docs/measuring.md). It also stops a worker
        // whose answers are always already there from keeping the thread. A worker alone on
        // its thread has no one to wait for.
        if shares_thread {
            tokio::task::yield_now().await;
        }
    }
    WorkerOutcome {
        tally,
        last_completion,
    }
}

/// `op`'s output, or None when `deadline` passed first. The operation is polled first, so an
/// answer that is already there wins over a deadline that passed while waiting for a turn.
async fn before<F: Future>(op: F, mut deadline: Pin<&mut tokio::time::Sleep>) -> Option<F::Output> {
    let mut op = std::pin::pin!(op);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = op.as_mut().poll(cx) {
            Poll::Ready(Some(out))
        } else if deadline.as_mut().poll(cx).is_ready() {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    })
    .await
}

#[cfg(test)]
mod tests;
