//! Unit tests of the driver's pacing and accounting, with stand-in executors (pure logic).

use super::*;

/// A stand-in store whose every 50th operation stalls: used only to check pacing logic.
struct Stalling {
    n: u64,
    stall: Duration,
}

impl Executor for Stalling {
    type Params = ();
    fn draw(&mut self, _op: usize, _rng: &mut ChaCha8Rng) {}
    async fn execute(&mut self, _op: usize, _params: &()) -> Result<Done, OpError> {
        self.n += 1;
        if self.n.is_multiple_of(50) {
            tokio::time::sleep(self.stall).await;
        }
        Ok(Done { bytes: 10 })
    }

    fn settle(&mut self, _op: usize, _params: &()) -> Option<Judged> {
        Some(Judged {
            filter: 0,
            query: (self.n % 3) as usize,
            recall: crate::dataset::Recall {
                strict: 0.5,
                tolerant: 0.75,
            },
        })
    }
}

struct Failing;

impl Executor for Failing {
    type Params = ();
    fn draw(&mut self, _op: usize, _rng: &mut ChaCha8Rng) {}
    async fn execute(&mut self, _op: usize, _params: &()) -> Result<Done, OpError> {
        Err(OpError {
            kind: "boom".into(),
            message: "always".into(),
        })
    }
}

/// Opens `n` workers made by `make` (given each worker's index) and runs one phase on them.
async fn run_phase<E: Executor>(
    n: u32,
    make: impl Fn(usize) -> E + Send + Sync + 'static,
    spec: &PhaseSpec,
) -> PhaseOutcome {
    let crew = Crew::open(n, move |i| {
        let e = make(i as usize);
        async move { Ok(e) }
    })
    .await
    .expect("stand-in workers open");
    let out = crew.run(mix(), spec).await.expect("the phase runs");
    assert_eq!(crew.close().await, 0, "stand-in workers close cleanly");
    out
}

fn stalling(stall: Duration) -> impl Fn(usize) -> Stalling + Send + Sync + 'static {
    move |_| Stalling { n: 0, stall }
}

fn mix() -> Arc<OpMix> {
    Arc::new(OpMix::new(&[("op".into(), 1)]))
}

fn open(rate: f64) -> Pacing {
    Pacing::Open {
        rate,
        arrivals: pacing::Arrivals::Uniform,
    }
}

fn spec(pacing: Pacing, secs: f64) -> PhaseSpec {
    PhaseSpec {
        label: "test".into(),
        pacing,
        duration: Duration::from_secs_f64(secs),
        iterations: None,
        op_timeout: Duration::from_secs(5),
        error_budget: 0.01,
        seed: 1,
        server: crate::host::ServerSite::InProcess,
        interval: intervals::DEFAULT_INTERVAL,
        shard: Shard::ALONE,
        start_at: None,
    }
}

#[tokio::test]
async fn open_loop_charges_stalls_to_the_operations_queued_behind_them() {
    // One connection, 200 ops/s, a 200 ms stall every 50 ops: the ~40 operations due
    // during a stall wait behind it, and open loop must show that wait in their latency.
    let stall = stalling(Duration::from_millis(200));
    let out = run_phase(1, stall, &spec(open(200.0), 1.0)).await;
    let s = metrics::LatencySummary::of(&out.total);
    assert!(out.ops >= 150, "ops {}", out.ops);
    assert!(
        s.p95 > 50.0,
        "queued operations must show their wait: {s:?}"
    );
    let lag = metrics::LatencySummary::of(out.schedule_lag().unwrap());
    assert!(lag.max > 50.0, "schedule lag must be reported: {lag:?}");
}

#[tokio::test]
async fn poisson_open_loop_issues_every_arrival_of_its_schedule() {
    let pacing = Pacing::Open {
        rate: 400.0,
        arrivals: pacing::Arrivals::Poisson,
    };
    let out = run_phase(2, stalling(Duration::ZERO), &spec(pacing, 0.5)).await;
    // The schedule is fixed by its seed: count its arrivals apart from the driver.
    let s = Schedule::new(Instant::now(), Duration::from_secs_f64(0.5), pacing);
    let source = pacing::ArrivalSource::new(pacing);
    let expected = std::iter::from_fn(|| source.next(&s)).count() as u64;
    // Evenly spaced arrivals would be exactly 200: this schedule differs, so the count
    // tells the two apart.
    assert_ne!(Some(expected), s.planned_ops());
    assert_eq!(out.ops, expected);
    assert!(out.schedule_lag().is_some());
}

#[tokio::test]
async fn closed_loop_times_only_the_operation() {
    let stall = stalling(Duration::from_millis(200));
    let out = run_phase(1, stall, &spec(Pacing::Closed, 0.5)).await;
    let s = metrics::LatencySummary::of(&out.total);
    // Only the stalled operations themselves are slow: far fewer than 5 %.
    assert!(s.p95 < 5.0, "{s:?}");
    assert!(s.max >= 200.0, "{s:?}");
    assert!(out.schedule_lag().is_none());
    assert_eq!(out.tally.per_op_extras[0].bytes, out.ops * 10);
    let recall = &out.tally.per_op_extras[0].recall;
    assert_eq!(recall.count, out.ops);
    assert_eq!(recall.mean(), Some((0.5, 0.75)));
    let by_query = &out.tally.per_op_extras[0].by_query;
    assert_eq!(by_query.len(), 3);
    assert_eq!(by_query.values().map(|r| r.count).sum::<u64>(), out.ops);
    assert!(out.wall >= Duration::from_millis(500));
}

#[tokio::test]
async fn error_budget_stops_the_phase() {
    let out = run_phase(2, |_| Failing, &spec(Pacing::Closed, 5.0)).await;
    assert!(out.aborted);
    assert!(out.wall < Duration::from_secs(4));
    assert_eq!(out.tally.errors_by_kind["boom"].count, out.errors);
    assert_eq!(out.ops, 0);
}

#[tokio::test]
async fn iterations_stop_the_phase_after_exactly_that_many_operations() {
    for pacing in [Pacing::Closed, open(2000.0)] {
        let spec = PhaseSpec {
            iterations: Some(37),
            ..spec(pacing, 20.0)
        };
        let out = run_phase(3, stalling(Duration::ZERO), &spec).await;
        assert_eq!(out.ops, 37, "{pacing:?}");
    }
}

/// A stand-in store whose operations 3, 4 and 10 never answer, and whose operations 5 and 8
/// answer after 20 ms.
struct Hanging {
    n: u64,
}

impl Executor for Hanging {
    type Params = ();
    fn draw(&mut self, _op: usize, _rng: &mut ChaCha8Rng) {}
    async fn execute(&mut self, _op: usize, _params: &()) -> Result<Done, OpError> {
        self.n += 1;
        match self.n {
            3 | 4 | 10 => std::future::pending().await,
            5 | 8 => tokio::time::sleep(Duration::from_millis(20)).await,
            _ => {}
        }
        Ok(Done::default())
    }
}

#[tokio::test]
async fn an_operation_past_op_timeout_is_cut_and_the_next_gets_the_whole_timeout() {
    // Twelve operations, op_timeout 200 ms: the three that never answer are cut, two of them
    // in a row; the slower ones (20 ms) after a cut, and long after the first operation's
    // deadline, still get their whole 200 ms.
    let spec = PhaseSpec {
        iterations: Some(12),
        op_timeout: Duration::from_millis(200),
        ..spec(Pacing::Closed, 20.0)
    };
    let out = run_phase(1, |_| Hanging { n: 0 }, &spec).await;
    assert_eq!(out.errors, 3);
    assert_eq!(out.tally.errors_by_kind["timeout"].count, 3);
    assert_eq!(out.ops, 9);
    let s = metrics::LatencySummary::of(&out.total);
    assert!(s.max >= 20.0 && s.max < 200.0, "{s:?}");
    assert!(out.wall >= Duration::from_millis(600));
}

/// A stand-in worker that notes the thread it was opened on and every thread it ran on.
struct Pinned {
    opened_on: std::thread::ThreadId,
    moved: Arc<AtomicU64>,
    threads: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
    clean: bool,
}

impl Executor for Pinned {
    type Params = ();
    fn draw(&mut self, _op: usize, _rng: &mut ChaCha8Rng) {}
    async fn execute(&mut self, _op: usize, _params: &()) -> Result<Done, OpError> {
        tokio::task::yield_now().await;
        let here = std::thread::current();
        if here.id() != self.opened_on {
            self.moved.fetch_add(1, Ordering::Relaxed);
        }
        let name = here.name().unwrap_or("?").to_string();
        self.threads.lock().unwrap().insert(name);
        Ok(Done::default())
    }
    async fn close(self) -> bool {
        self.clean
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_worker_runs_on_the_thread_it_was_opened_on_one_thread_per_core() {
    let moved = Arc::new(AtomicU64::new(0));
    let threads = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let (m, t) = (moved.clone(), threads.clone());
    let crew = Crew::open(5, move |i| {
        let e = Pinned {
            opened_on: std::thread::current().id(),
            moved: m.clone(),
            threads: t.clone(),
            // Worker 3 cannot close its connection cleanly.
            clean: i != 3,
        };
        async move { Ok(e) }
    })
    .await
    .unwrap();
    assert_eq!(crew.len(), 5);
    for pacing in [Pacing::Closed, open(2000.0)] {
        let out = crew.run(mix(), &spec(pacing, 0.2)).await.unwrap();
        assert!(out.ops > 0 && out.errors == 0, "{pacing:?}");
    }
    assert_eq!(
        moved.load(Ordering::Relaxed),
        0,
        "a worker ran on another thread"
    );
    let names = threads.lock().unwrap().clone();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(names.len(), cores.min(5), "one thread per core: {names:?}");
    assert!(
        names.iter().all(|n| n.starts_with("tunebench-worker-")),
        "{names:?}"
    );
    assert_eq!(crew.close().await, 1, "the unclean close is counted");
}

#[tokio::test]
async fn a_worker_that_cannot_open_fails_the_crew_with_its_error() {
    let r = Crew::<Failing>::open(3, |i| async move {
        if i == 2 {
            Err(crate::error::Error::target(
                "target t",
                "connection refused",
            ))
        } else {
            Ok(Failing)
        }
    })
    .await;
    let e = r.err().expect("opening fails");
    assert!(e.to_string().contains("connection refused"), "{e}");
}

/// A stand-in worker whose operations complete without ever waiting (as a query does when
/// its answer is already in the socket buffer), counting what each worker did.
struct Eager {
    i: usize,
    counts: Arc<Vec<AtomicU64>>,
}

impl Executor for Eager {
    type Params = ();
    fn draw(&mut self, _op: usize, _rng: &mut ChaCha8Rng) {}
    async fn execute(&mut self, _op: usize, _params: &()) -> Result<Done, OpError> {
        self.counts[self.i].fetch_add(1, Ordering::Relaxed);
        Ok(Done::default())
    }
}

#[tokio::test]
async fn workers_sharing_a_thread_take_turns_even_when_answers_are_already_there() {
    // Three workers per thread. A worker whose answer is always ready must not keep its
    // thread until the phase ends (or until tokio's budget runs out) while the others'
    // answers wait: each worker gets one operation per turn, as pgbench's clients do.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let n = 3 * cores;
    let counts: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let c = counts.clone();
    let make = move |i| Eager {
        i,
        counts: c.clone(),
    };
    let out = run_phase(n as u32, make, &spec(Pacing::Closed, 0.1)).await;
    let each: Vec<u64> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    assert_eq!(each.iter().sum::<u64>(), out.ops);
    // Worker i runs on thread i % cores; threads run independently of one another.
    for t in 0..cores {
        let mine: Vec<u64> = each.iter().skip(t).step_by(cores).copied().collect();
        let (min, max) = (*mine.iter().min().unwrap(), *mine.iter().max().unwrap());
        assert!(
            min >= 1 && max <= min + 1,
            "operations per worker on thread {t} must differ by at most one turn: {each:?}"
        );
    }
}

#[tokio::test]
async fn windows_hold_every_operation_and_show_a_stall() {
    // One connection, 200 ops/s for 1 s, a 300 ms stall every 50 ops, 100 ms windows: no
    // operation completes during a stall, so at least two windows are empty, and the
    // operations queued behind it complete in a later window with their wait.
    let spec = PhaseSpec {
        interval: Duration::from_millis(100),
        ..spec(open(200.0), 1.0)
    };
    let out = run_phase(1, stalling(Duration::from_millis(300)), &spec).await;
    let w = &out.windows.windows;
    assert_eq!(out.windows.interval, Duration::from_millis(100));
    assert!(
        w.iter().enumerate().all(|(i, x)| x.index == i as u64),
        "windows are contiguous from 0"
    );
    assert_eq!(w.iter().map(|x| x.ops).sum::<u64>(), out.ops);
    assert_eq!(w.iter().map(|x| x.bytes).sum::<u64>(), out.ops * 10);
    // The windows' histograms add up to the phase's, bit for bit.
    let mut merged = metrics::new_histogram();
    for x in w.iter().filter(|x| !x.histogram.is_empty()) {
        metrics::merge(&mut merged, &metrics::decode(&x.histogram).unwrap());
    }
    assert_eq!(metrics::encode(&merged), metrics::encode(&out.total));
    assert!(w.iter().filter(|x| x.ops == 0).count() >= 2, "{w:?}");
    assert!(w.iter().any(|x| x.p99_ms >= 250.0), "{w:?}");
}

#[tokio::test]
async fn windows_count_errors_where_they_happened() {
    let out = run_phase(2, |_| Failing, &spec(Pacing::Closed, 5.0)).await;
    let w = &out.windows.windows;
    assert_eq!(w.iter().map(|x| x.errors).sum::<u64>(), out.errors);
    assert!(w.iter().all(|x| x.ops == 0 && x.histogram.is_empty()));
}

/// A stand-in worker that logs when it sends and when it reads its answer. Its answer
/// arrives at the runtime's next look at its sockets, together with those of the other
/// workers on its thread that are waiting (tokio's `yield_now` resumes there).
struct Logged {
    i: usize,
    log: Arc<std::sync::Mutex<Vec<(std::thread::ThreadId, usize, bool)>>>,
}

impl Executor for Logged {
    type Params = ();
    fn draw(&mut self, _op: usize, _rng: &mut ChaCha8Rng) {}
    async fn execute(&mut self, _op: usize, _params: &()) -> Result<Done, OpError> {
        let me = std::thread::current().id();
        self.log.lock().unwrap().push((me, self.i, true));
        tokio::task::yield_now().await;
        self.log.lock().unwrap().push((me, self.i, false));
        Ok(Done::default())
    }
}

#[tokio::test]
async fn answers_that_arrived_are_all_read_before_a_worker_sends_again() {
    // Two workers per thread, answers arriving together: pgbench reads every ready answer
    // (and stops its clock) before it sends any next query. A worker that sent straight
    // after reading its own answer would make the other's answer wait for that send.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let l = log.clone();
    let make = move |i| Logged { i, log: l.clone() };
    let out = run_phase(2 * cores as u32, make, &spec(Pacing::Closed, 0.1)).await;
    assert!(out.ops > 10);
    let log = log.lock().unwrap().clone();
    let threads: std::collections::HashSet<_> = log.iter().map(|e| e.0).collect();
    for t in threads {
        let mine: Vec<(usize, bool)> = log
            .iter()
            .filter(|e| e.0 == t)
            .map(|e| (e.1, e.2))
            .collect();
        let mut waiting = std::collections::BTreeSet::new();
        for pair in mine.windows(2) {
            let ((a, sent), (b, sends)) = (pair[0], pair[1]);
            if sent {
                waiting.insert(a);
            } else {
                waiting.remove(&a);
                assert!(
                    !(sends && b == a && !waiting.is_empty()),
                    "worker {a} sent again while the answers of {waiting:?} were waiting: {mine:?}"
                );
            }
        }
    }
}

/// A stand-in worker that panics on its third operation when `panics` is set; the others
/// wait a millisecond per operation.
struct Panicking {
    panics: bool,
    n: u64,
}

impl Executor for Panicking {
    type Params = ();
    fn draw(&mut self, _op: usize, _rng: &mut ChaCha8Rng) {}
    async fn execute(&mut self, _op: usize, _params: &()) -> Result<Done, OpError> {
        self.n += 1;
        assert!(!(self.panics && self.n == 3), "stand-in worker panics");
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok(Done::default())
    }
}

#[tokio::test]
async fn a_worker_that_panics_inside_its_task_fails_the_phase_not_hangs_it() {
    // Two workers per thread; worker 0 panics mid-phase. Its task's panic must reach the
    // crew as a stopped worker (not a phase that quietly lost a worker's operations), the
    // other threads' workers must finish, and closing counts the dead thread's workers.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let n = 2 * cores;
    let crew = Crew::open(n as u32, |i| async move {
        Ok(Panicking {
            panics: i == 0,
            n: 0,
        })
    })
    .await
    .expect("stand-in workers open");
    let r = crew.run(mix(), &spec(Pacing::Closed, 0.2)).await;
    let e = r.err().expect("the phase fails");
    assert!(e.to_string().contains("stopped unexpectedly"), "{e}");
    assert_eq!(crew.close().await, 2, "the panicked thread's two workers");
}
