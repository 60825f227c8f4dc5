//! The load generator's threads. One OS thread per core (at most one per connection), each
//! running its own single-threaded tokio runtime with its share of the workers, like
//! pgbench's `-j`. A worker's connection is opened on the thread that runs it, so its socket
//! is driven by that thread's runtime: an operation's completion wakes no other thread and
//! no task moves between cores. On 2 cores, closed-loop point selects over a multi-threaded
//! runtime ran at 0.42x pgbench's rate at 2 connections; one runtime per core at 0.97x.
//!
//! The workers live on their thread from the moment they connect until they are closed, so
//! warm-up and every trial of a workload reuse the same connections; each phase is a command
//! sent to every thread, answered with what its workers measured.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use futures_util::future::{join_all, try_join_all};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::intervals::{self, Collector};
use super::timer::{self, PreciseTimer, TimerHandle};
use super::{
    Executor, HarnessCost, OpMix, Pacing, PhaseOutcome, PhaseSpec, Progress, Schedule, Shared,
    StopOnDrop, WorkerOutcome, worker,
};
use crate::error::{Error, Result};
use crate::metrics::Tally;

/// What every worker of a phase shares.
pub(super) struct PhaseCommon {
    pub schedule: Schedule,
    pub shared: Arc<Shared>,
    pub mix: Arc<OpMix>,
    pub seed: u64,
    pub op_timeout: Duration,
    pub error_budget: f64,
    pub iterations: Option<u64>,
}

enum Command {
    /// Run a phase: the pacer handles of this thread's workers, in order, and where to
    /// send what each measured.
    Phase {
        common: Arc<PhaseCommon>,
        pacers: Vec<Option<TimerHandle>>,
        recorders: Vec<intervals::Recorder>,
        reply: oneshot::Sender<Vec<WorkerOutcome>>,
    },
    /// Close every worker; answers how many did not close cleanly.
    Close(oneshot::Sender<u32>),
}

/// The workers of one workload, spread over per-core threads. Dropping it without
/// [`Crew::close`] lets each thread finish its current phase (workers stop at the phase's
/// stop flag) and drop its workers inside its own runtime.
pub struct Crew<E> {
    lanes: Vec<mpsc::Sender<Command>>,
    /// Worker indexes per thread, in the order each thread holds them.
    indexes: Vec<Vec<usize>>,
    workers: usize,
    _exec: PhantomData<fn() -> E>,
}

/// How many threads drive `workers` connections: one per core, never more than workers.
fn threads_for(workers: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    workers.clamp(1, cores.max(1))
}

fn stopped() -> Error {
    Error::target(
        "load generator",
        "a worker thread stopped unexpectedly (a worker panicked; see the message above)",
    )
}

impl<E: Executor> Crew<E> {
    /// Starts the threads and opens `workers` workers, worker `i` with `open(i)` on the
    /// thread that will run it. Fails with the first opening error; the workers already
    /// open are then closed on their threads.
    pub async fn open<F, Fut>(workers: u32, open: F) -> Result<Crew<E>>
    where
        F: Fn(u32) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<E>> + 'static,
    {
        let n = workers as usize;
        let threads = threads_for(n);
        let open = Arc::new(open);
        let mut lanes = Vec::new();
        let mut indexes = Vec::new();
        let mut opened = Vec::new();
        for t in 0..threads {
            let mine: Vec<usize> = (t..n).step_by(threads).collect();
            let (tx, rx) = mpsc::channel();
            let (ready, ready_rx) = oneshot::channel();
            let open = open.clone();
            let ids = mine.clone();
            std::thread::Builder::new()
                .name(format!("tunebench-worker-{t}"))
                .spawn(move || lane(ids, open, rx, ready))
                .map_err(|e| {
                    Error::target("load generator", format!("starting a worker thread: {e}"))
                })?;
            lanes.push(tx);
            indexes.push(mine);
            opened.push(ready_rx);
        }
        let crew = Crew {
            lanes,
            indexes,
            workers: n,
            _exec: PhantomData,
        };
        for ready in opened {
            ready.await.map_err(|_| stopped())??;
        }
        Ok(crew)
    }

    /// The number of workers.
    pub fn len(&self) -> usize {
        self.workers
    }

    pub fn is_empty(&self) -> bool {
        self.workers == 0
    }

    /// Runs one phase on every worker and merges what they measured.
    pub async fn run(&self, mix: Arc<OpMix>, spec: &PhaseSpec) -> Result<PhaseOutcome> {
        let shared = Arc::new(Shared::new(spec.pacing, self.workers));
        // Before the schedule: finding a local server's process reads /proc.
        let host_before = crate::host::HostSample::take(&spec.server);
        // Small head start so every worker is waiting when the schedule begins; a shard
        // starts when all shards do (late, if it was not ready by then).
        let start = spec
            .start_at
            .unwrap_or_else(|| Instant::now() + Duration::from_millis(20));
        let schedule = Schedule::sharded(start, spec.duration, spec.pacing, spec.shard);
        // A run dropped mid-phase (an interrupt) stops its workers: they would otherwise go
        // on loading the server while it is reverted.
        let _stop_on_drop = StopOnDrop(shared.clone());
        let live = intervals::Live::default();
        let progress = Progress::start(
            &spec.label,
            spec.duration,
            shared.counters(),
            live.clone(),
            spec.interval,
        );
        let open_loop = matches!(spec.pacing, Pacing::Open { .. });
        let timer = open_loop.then(|| PreciseTimer::start(self.workers));
        let cpu_before = timer::process_cpu_time();
        let common = Arc::new(PhaseCommon {
            schedule,
            shared: shared.clone(),
            mix: mix.clone(),
            seed: spec.seed,
            op_timeout: spec.op_timeout,
            error_budget: spec.error_budget,
            iterations: spec.iterations,
        });
        let collector = Collector::start(start, spec.interval, self.workers, live);
        let mut replies = Vec::new();
        for (lane, ids) in self.lanes.iter().zip(&self.indexes) {
            let (reply, rx) = oneshot::channel();
            let pacers = ids
                .iter()
                .map(|&i| timer.as_ref().map(|t| t.handle(i)))
                .collect();
            let recorders = ids.iter().map(|&i| collector.recorder(i)).collect();
            lane.send(Command::Phase {
                common: common.clone(),
                pacers,
                recorders,
                reply,
            })
            .map_err(|_| stopped())?;
            replies.push(rx);
        }

        let mut tally = Tally::new(mix.names.len());
        let mut last = start;
        let mut lost = false;
        for rx in replies {
            match rx.await {
                Ok(outs) => {
                    for out in outs {
                        tally.merge(&out.tally);
                        last = last.max(out.last_completion);
                    }
                }
                Err(_) => lost = true,
            }
        }
        progress.finish();
        // Every worker has returned, and with it dropped its recorder.
        let windows = collector.finish();
        let pacer_cpu = timer.map(PreciseTimer::stop).unwrap_or_default().cpu;
        if lost {
            return Err(stopped());
        }
        let total = tally.total();
        let (host, server_cpu) = host_before.until_now();
        let cost = HarnessCost {
            process_cpu: timer::process_cpu_time().saturating_sub(cpu_before),
            pacer_cpu,
            host,
            server_cpu,
        };
        Ok(PhaseOutcome {
            ops: total.len(),
            tally,
            total,
            open_loop,
            errors: shared.failed.load(Ordering::Relaxed),
            // Measured from the schedule's start to the last completion: in-flight
            // operations finishing after the deadline are counted, and so is their time.
            wall: last
                .saturating_duration_since(start)
                .max(Duration::from_micros(1)),
            aborted: shared.stop.load(Ordering::Relaxed),
            cost,
            windows,
        })
    }

    /// Closes every worker on its thread; returns how many did not close cleanly (a
    /// connection left open on the server, or a thread that stopped).
    pub async fn close(self) -> u32 {
        let mut replies = Vec::new();
        for (lane, ids) in self.lanes.iter().zip(&self.indexes) {
            let (reply, rx) = oneshot::channel();
            let sent = lane.send(Command::Close(reply)).is_ok();
            replies.push((sent.then_some(rx), ids.len() as u32));
        }
        let mut unclean = 0;
        for (rx, count) in replies {
            unclean += match rx {
                Some(rx) => rx.await.unwrap_or(count),
                None => count,
            };
        }
        unclean
    }
}

/// One worker thread: opens its workers, then runs phases until closed (or until the crew
/// is dropped). Everything its workers own is created, used and dropped inside its runtime.
fn lane<E, F, Fut>(
    ids: Vec<usize>,
    open: Arc<F>,
    rx: mpsc::Receiver<Command>,
    ready: oneshot::Sender<Result<()>>,
) where
    E: Executor,
    F: Fn(u32) -> Fut,
    Fut: Future<Output = Result<E>>,
{
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(Error::target(
                "load generator",
                format!("starting a worker thread's runtime: {e}"),
            )));
            return;
        }
    };
    let opened = rt.block_on(try_join_all(ids.iter().map(|&i| open(i as u32))));
    // What the opener holds (a store's shared handles) must not outlive the workers: a store
    // may reopen what they used (an embedded engine's files) as soon as they are closed.
    drop(open);
    let mut execs = match opened {
        Ok(execs) => {
            let _ = ready.send(Ok(()));
            execs
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    while let Ok(command) = rx.recv() {
        match command {
            Command::Phase {
                common,
                pacers,
                recorders,
                reply,
            } => {
                let shares_thread = execs.len() > 1;
                // Each worker is a task of this thread's runtime, not one of several futures
                // joined inside `block_on`: a wake then polls only the worker it is for.
                // Joined, every wake polled every worker of the thread (docs/measuring.md).
                let runs: Vec<_> = execs
                    .drain(..)
                    .zip(&ids)
                    .zip(pacers)
                    .zip(recorders)
                    .map(|(((mut exec, &i), pacer), rec)| {
                        let common = common.clone();
                        rt.spawn(async move {
                            let out =
                                worker(&mut exec, i, pacer, rec, &common, shares_thread).await;
                            (exec, out)
                        })
                    })
                    .collect();
                let mut outs = Vec::with_capacity(runs.len());
                for joined in rt.block_on(join_all(runs)) {
                    match joined {
                        Ok((exec, out)) => {
                            execs.push(exec);
                            outs.push(out);
                        }
                        // A worker that panicked ends its thread as it did when run inline:
                        // the phase's reply is dropped and the crew reports a stopped worker.
                        Err(e) => match e.try_into_panic() {
                            Ok(panic) => std::panic::resume_unwind(panic),
                            Err(_) => return,
                        },
                    }
                }
                let _ = reply.send(outs);
            }
            Command::Close(reply) => {
                let closed = rt.block_on(join_all(execs.drain(..).map(Executor::close)));
                let _ = reply.send(closed.iter().filter(|ok| !**ok).count() as u32);
                break;
            }
        }
    }
    // Dropped inside the runtime: a connection's drop may need it (to deregister its socket).
    let _guard = rt.enter();
    drop(execs);
}
