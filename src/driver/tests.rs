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

fn mix() -> Arc<OpMix> {
    Arc::new(OpMix::new(&[("op".into(), 1)]))
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
    }
}

#[tokio::test]
async fn open_loop_charges_stalls_to_the_operations_queued_behind_them() {
    // One connection, 200 ops/s, a 200 ms stall every 50 ops: the ~40 operations due
    // during a stall wait behind it, and open loop must show that wait in their latency.
    let execs = vec![Stalling {
        n: 0,
        stall: Duration::from_millis(200),
    }];
    let (_, out) = run_phase(execs, mix(), &spec(Pacing::Open { rate: 200.0 }, 1.0)).await;
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
async fn closed_loop_times_only_the_operation() {
    let execs = vec![Stalling {
        n: 0,
        stall: Duration::from_millis(200),
    }];
    let (_, out) = run_phase(execs, mix(), &spec(Pacing::Closed, 0.5)).await;
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
    let (_, out) = run_phase(vec![Failing, Failing], mix(), &spec(Pacing::Closed, 5.0)).await;
    assert!(out.aborted);
    assert!(out.wall < Duration::from_secs(4));
    assert_eq!(out.tally.errors_by_kind["boom"].count, out.errors);
    assert_eq!(out.ops, 0);
}

#[tokio::test]
async fn iterations_stop_the_phase_after_exactly_that_many_operations() {
    for pacing in [Pacing::Closed, Pacing::Open { rate: 2000.0 }] {
        let execs = (0..3)
            .map(|_| Stalling {
                n: 0,
                stall: Duration::ZERO,
            })
            .collect();
        let spec = PhaseSpec {
            iterations: Some(37),
            ..spec(pacing, 20.0)
        };
        let (_, out) = run_phase(execs, mix(), &spec).await;
        assert_eq!(out.ops, 37, "{pacing:?}");
    }
}
