//! A precise timer for open-loop pacing. tokio's timer wheel has millisecond granularity and
//! fires up to a tick late; since open-loop latency is counted from the intended start, that
//! lateness would land in every latency. One OS thread per phase sleeps (with the kernel's
//! timer slack at 1 ns) until shortly before the earliest registered deadline, spins the
//! rest, and wakes that worker's task. Its CPU time is measured, so the cost is known.
//!
//! While it spins it offers its core at every turn (`sched_yield`) to any thread that is
//! ready to run there: on 2 cores the one it holds is often the one a woken worker thread or
//! the server's backend is waiting for. With Poisson arrivals at 2,000 ops/s, 8 connections,
//! a pacer that kept its core started operations up to 0.20-0.27 ms late (p99); one that
//! offers it, 0.09-0.17 ms (docs/measuring.md). On a saturated machine the offer goes to a
//! CPU-bound thread for a whole time slice, so the pacer stops offering for a while after
//! yields that came back late several times in a row ([`YieldGate`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Below this distance to a deadline the timer thread spins instead of sleeping (a sleeping
/// thread wakes tens of microseconds late on a virtual machine). It starts here and then
/// follows how late the thread's sleeps really end, within the bounds below.
const SPIN_START: Duration = Duration::from_micros(80);
const SPIN_MIN: Duration = Duration::from_micros(10);
/// A sleep that ends later than this was not the timer's lateness but the thread waiting
/// for a core (a busy machine): spinning longer cannot help with that, and learning from it
/// made the thread spin ever longer, hold a core and be preempted more (at 2,000 ops/s on 2
/// cores, a third of a core and a schedule lag p99 of 2 ms).
const SPIN_MAX: Duration = Duration::from_micros(200);
/// A woken task is polled some microseconds after its waker fires (the runtime's own
/// wake-up); the timer fires that much early and the task spins the rest inside its poll.
/// The margin follows the lower part of the observed delays (it falls fast and rises slowly),
/// so the spin stays short, and is capped: a spinning task holds up its runtime thread.
const EARLY_MAX_NS: u64 = 50_000;
/// How long the pacer spins without offering its core after `LONG_YIELDS` yields in a row
/// came back later than `SPIN_MAX`: a yield on a saturated machine hands the core to a
/// CPU-bound thread for a time slice (milliseconds). At 2,000 ops/s on 2 cores beside two CPU
/// burners, a pacer that always yielded started operations 1.6-2.0 ms late at p50; one that
/// spun, 1 us. On a quiet machine a long yield happens too (0.2-1 ms, 8-9 times in 13 s at
/// 2,000 ops/s), but alone: one long yield closing the gate kept it closed most of the run.
const YIELD_PAUSE: Duration = Duration::from_secs(1);
const LONG_YIELDS: u32 = 3;
/// A parked timer thread re-checks for stop at least this often.
const IDLE: Duration = Duration::from_millis(20);

struct Slots {
    /// One slot per worker: when to fire its waker, the deadline it waits for, the waker.
    waiting: Vec<Option<(Instant, Instant, Waker)>>,
}

struct Inner {
    slots: Mutex<Slots>,
    stop: AtomicBool,
    /// The deadline the thread is sleeping towards, in ns after `base` (u64::MAX: none), so
    /// a registration only unparks it when it brings an earlier one.
    target_ns: AtomicU64,
    base: Instant,
    thread: OnceLock<thread::Thread>,
    /// How early wakers fire (ns): the average wake-to-poll delay of the runtime.
    early_ns: AtomicU64,
}

/// The timer thread of one phase; stopped (and joined) by [`PreciseTimer::stop`].
pub struct PreciseTimer {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<Duration>>,
}

/// What the timer cost: the CPU time its thread used, spinning included.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimerCost {
    pub cpu: Duration,
}

impl PreciseTimer {
    pub fn start(workers: usize) -> Self {
        let inner = Arc::new(Inner {
            slots: Mutex::new(Slots {
                waiting: (0..workers).map(|_| None).collect(),
            }),
            stop: AtomicBool::new(false),
            target_ns: AtomicU64::new(u64::MAX),
            base: Instant::now(),
            thread: OnceLock::new(),
            early_ns: AtomicU64::new(0),
        });
        let thread = {
            let inner = inner.clone();
            thread::Builder::new()
                .name("tunebench-pacer".into())
                .spawn(move || run(&inner))
                .expect("spawning the pacing thread")
        };
        let _ = inner.thread.set(thread.thread().clone());
        PreciseTimer {
            inner,
            thread: Some(thread),
        }
    }

    /// A handle a worker uses to sleep until its operations' intended starts.
    pub fn handle(&self, worker: usize) -> TimerHandle {
        TimerHandle {
            inner: self.inner.clone(),
            slot: worker,
        }
    }

    pub fn stop(mut self) -> TimerCost {
        self.shutdown()
    }

    fn shutdown(&mut self) -> TimerCost {
        self.inner.stop.store(true, Ordering::Release);
        let Some(t) = self.thread.take() else {
            return TimerCost::default();
        };
        t.thread().unpark();
        TimerCost {
            cpu: t.join().unwrap_or_default(),
        }
    }
}

impl Drop for PreciseTimer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub struct TimerHandle {
    inner: Arc<Inner>,
    slot: usize,
}

impl TimerHandle {
    /// Completes at `deadline` (or at once if it has passed), to within the spin's precision
    /// plus the time the runtime takes to poll the woken task.
    pub fn sleep_until(&self, deadline: Instant) -> PreciseSleep<'_> {
        PreciseSleep {
            handle: self,
            deadline,
            fire_at: None,
        }
    }
}

pub struct PreciseSleep<'a> {
    handle: &'a TimerHandle,
    deadline: Instant,
    /// When the registered waker is due to fire (the deadline less the learnt early margin).
    fire_at: Option<Instant>,
}

impl Future for PreciseSleep<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let now = Instant::now();
        let inner = self.handle.inner.clone();
        if let Some(fire_at) = self.fire_at
            && now >= fire_at
        {
            // Woken: learn the wake-to-poll delay, then spin what is left of the margin.
            let seen = u64::try_from((now - fire_at).as_nanos()).unwrap_or(u64::MAX);
            let early = inner.early_ns.load(Ordering::Relaxed);
            let next = if seen < early {
                early - (early - seen) / 4
            } else {
                early + (seen - early) / 32
            }
            .min(EARLY_MAX_NS);
            inner.early_ns.store(next, Ordering::Relaxed);
            while Instant::now() < self.deadline {
                std::hint::spin_loop();
            }
            return Poll::Ready(());
        }
        if now >= self.deadline {
            return Poll::Ready(());
        }
        let early = Duration::from_nanos(inner.early_ns.load(Ordering::Relaxed));
        let fire_at = self
            .deadline
            .checked_sub(early)
            .map_or(self.deadline, |f| f.max(now));
        self.fire_at = Some(fire_at);
        {
            let mut slots = inner.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.waiting[self.handle.slot] = Some((fire_at, self.deadline, cx.waker().clone()));
        }
        let ns = nanos_after(inner.base, fire_at);
        if inner.target_ns.fetch_min(ns, Ordering::AcqRel) > ns {
            // Earlier than what the thread sleeps towards: wake it to re-plan.
            if let Some(t) = inner.thread.get() {
                t.unpark();
            }
        }
        Poll::Pending
    }
}

impl Drop for PreciseSleep<'_> {
    fn drop(&mut self) {
        // A sleep dropped early (its phase stopped) must not leave a waker behind.
        let mut slots = self
            .handle
            .inner
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some((_, d, _)) = &slots.waiting[self.handle.slot]
            && *d == self.deadline
        {
            slots.waiting[self.handle.slot] = None;
        }
    }
}

/// The spin window after a sleep that ended `late`: it follows how late sleeps end; an
/// early end (an unpark) or a preempted one (later than `SPIN_MAX`) only decays it.
fn next_spin(spin: Duration, late: Duration) -> Duration {
    let learnt = if late <= SPIN_MAX {
        late + late / 4
    } else {
        Duration::ZERO
    };
    (spin - spin / 32).max(learnt).clamp(SPIN_MIN, SPIN_MAX)
}

/// Whether the spinning pacer offers its core. A yield that lets a short task run (a woken
/// worker's send, a backend's answer) comes back within microseconds; one that comes back
/// later than `SPIN_MAX` let another thread run a whole time slice. When `LONG_YIELDS` do so
/// in a row, CPU-bound threads are waiting for this core: the gate closes for `YIELD_PAUSE`
/// and the pacer spins as if it never yielded, then tries again.
#[derive(Default)]
struct YieldGate {
    long_in_a_row: u32,
    closed_until: Option<Instant>,
}

impl YieldGate {
    fn open(&self, now: Instant) -> bool {
        self.closed_until.is_none_or(|until| now >= until)
    }

    /// A yield took `took` and returned at `back`.
    fn yielded(&mut self, took: Duration, back: Instant) {
        if took <= SPIN_MAX {
            self.long_in_a_row = 0;
            return;
        }
        self.long_in_a_row += 1;
        if self.long_in_a_row >= LONG_YIELDS {
            self.long_in_a_row = 0;
            self.closed_until = Some(back + YIELD_PAUSE);
        }
    }
}

fn nanos_after(base: Instant, t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(base).as_nanos()).unwrap_or(u64::MAX - 1)
}

fn run(inner: &Inner) -> Duration {
    set_timer_slack_ns(1);
    let cpu_start = thread_cpu_time();
    let mut spin = SPIN_START;
    let mut yields = YieldGate::default();
    loop {
        if inner.stop.load(Ordering::Acquire) {
            break;
        }
        let earliest = {
            let slots = inner.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.waiting.iter().flatten().map(|(f, _, _)| *f).min()
        };
        let Some(deadline) = earliest else {
            inner.target_ns.store(u64::MAX, Ordering::Release);
            thread::park_timeout(IDLE);
            continue;
        };
        inner
            .target_ns
            .store(nanos_after(inner.base, deadline), Ordering::Release);
        let now = Instant::now();
        if deadline > now + spin {
            let wake = deadline - spin;
            thread::park_timeout(wake - now);
            spin = next_spin(spin, Instant::now().saturating_duration_since(wake));
            // Re-plan: an earlier deadline may have been registered meanwhile.
            continue;
        }
        let mut now = Instant::now();
        while now < deadline {
            // Spin, but let a thread that is ready on this core run first (it returns at
            // once when none is), unless yielding has recently cost a time slice.
            if yields.open(now) {
                thread::yield_now();
                let back = Instant::now();
                yields.yielded(back - now, back);
                now = back;
            } else {
                std::hint::spin_loop();
                now = Instant::now();
            }
        }
        let due: Vec<Waker> = {
            let mut slots = inner.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots
                .waiting
                .iter_mut()
                .filter(|s| s.as_ref().is_some_and(|(f, _, _)| *f <= now))
                .filter_map(|s| s.take().map(|(_, _, w)| w))
                .collect()
        };
        inner.target_ns.store(u64::MAX, Ordering::Release);
        due.into_iter().for_each(Waker::wake);
    }
    thread_cpu_time().saturating_sub(cpu_start)
}

/// Linux rounds a sleeping thread's wake-up up by its timer slack (50 us by default).
fn set_timer_slack_ns(ns: u64) {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes an unsigned long and touches only this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = ns;
}

/// CPU time of the calling thread.
pub fn thread_cpu_time() -> Duration {
    cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time of the whole process (every thread, the runtime's workers included).
pub fn process_cpu_time() -> Duration {
    cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn cpu_clock(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sleeps_end_at_their_deadline_not_before() {
        let timer = PreciseTimer::start(2);
        let (a, b) = (timer.handle(0), timer.handle(1));
        let start = Instant::now();
        // Two workers with interleaved deadlines: each must wake no earlier than its own.
        let run = |h: TimerHandle, offset: u64| async move {
            for i in 0..20u64 {
                let due = start + Duration::from_micros(500 + offset + i * 1000);
                h.sleep_until(due).await;
                assert!(Instant::now() >= due, "woke before the deadline");
            }
        };
        let (x, y) = tokio::join!(tokio::spawn(run(a, 0)), tokio::spawn(run(b, 500)));
        x.unwrap();
        y.unwrap();
        let cost = timer.stop();
        assert!(cost.cpu > Duration::ZERO);
    }

    #[test]
    fn a_yield_that_cost_a_time_slice_stops_the_yielding_for_a_while() {
        let t0 = Instant::now();
        let us = Duration::from_micros;
        let mut gate = YieldGate::default();
        assert!(gate.open(t0));
        // Short hand-offs (a send, a backend's answer) keep it open.
        gate.yielded(us(15), t0 + us(15));
        gate.yielded(SPIN_MAX, t0 + us(300));
        assert!(gate.open(t0 + us(300)));
        // A long yield alone (a backend's slow answer, a VM hiccup) does not close it.
        gate.yielded(us(900), t0 + us(1_200));
        gate.yielded(us(15), t0 + us(1_215));
        gate.yielded(us(900), t0 + us(2_115));
        gate.yielded(us(900), t0 + us(3_015));
        gate.yielded(us(15), t0 + us(3_030));
        assert!(gate.open(t0 + us(3_030)));
        // Slices to CPU-bound threads, one after another, close it for the pause; then it
        // opens again.
        for i in 1..LONG_YIELDS {
            gate.yielded(us(2_700), t0 + us(3_030 + 2_700 * u64::from(i)));
            assert!(gate.open(t0 + us(3_030 + 2_700 * u64::from(i))));
        }
        let back = t0 + us(3_030 + 2_700 * u64::from(LONG_YIELDS));
        gate.yielded(us(2_700), back);
        assert!(!gate.open(back));
        assert!(!gate.open(back + YIELD_PAUSE - us(1)));
        assert!(gate.open(back + YIELD_PAUSE));
    }

    #[test]
    fn the_spin_follows_the_timers_lateness_but_not_a_preemption() {
        let us = Duration::from_micros;
        // A timer 60 us late widens the window to cover it.
        assert_eq!(next_spin(us(20), us(60)), us(75));
        assert_eq!(next_spin(us(20), SPIN_MAX), SPIN_MAX);
        // A sleep ended 2 ms late (the thread waited for a core) does not: spinning longer
        // would only hold a core and be preempted more. The window only decays.
        let after = next_spin(us(160), us(2_000));
        assert!(after < us(160), "{after:?}");
        let mut spin = SPIN_START;
        for _ in 0..1000 {
            spin = next_spin(spin, us(3_000));
        }
        assert_eq!(spin, SPIN_MIN);
        // Early ends (an unpark) decay it, never below the floor.
        assert_eq!(next_spin(SPIN_MIN, Duration::ZERO), SPIN_MIN);
    }

    #[tokio::test]
    async fn a_past_deadline_completes_at_once_and_leaves_no_waker() {
        let timer = PreciseTimer::start(1);
        let h = timer.handle(0);
        h.sleep_until(Instant::now() - Duration::from_millis(1))
            .await;
        // Dropped before its deadline: the slot is cleared.
        let far = h.sleep_until(Instant::now() + Duration::from_secs(60));
        let mut far = Box::pin(far);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(far.as_mut().poll(&mut cx).is_pending());
        drop(far);
        let slots = timer.inner.slots.lock().unwrap();
        assert!(slots.waiting[0].is_none());
    }
}
