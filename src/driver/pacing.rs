//! When each operation is meant to start. Open loop fixes the schedule up front, so a stalled
//! server cannot slow the arrivals down and hide its own stall (no coordinated omission).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub enum Pacing {
    /// Each client starts its next operation when the previous one completes.
    Closed,
    /// Operations arrive at `rate` per second, spaced as `arrivals` says.
    Open { rate: f64, arrivals: Arrivals },
}

/// How open-loop arrivals are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Evenly: operation `i` is due at `start + i / rate`.
    #[default]
    Uniform,
    /// A Poisson process: exponential gaps with mean `1 / rate`, so arrivals bunch and thin
    /// out as independent users' do (`pgbench -R` schedules this way). The gaps come from a
    /// fixed seed, so every trial and every shard sees the same schedule.
    Poisson,
}

impl Arrivals {
    pub fn is_uniform(&self) -> bool {
        *self == Arrivals::Uniform
    }
}

/// Hands out a phase's open-loop tickets and when each is due. Uniform arrivals are a
/// formula of the ticket; Poisson arrivals are a running sum of random gaps, drawn in
/// order under a lock (one draw per operation, far below what a lock can take).
pub enum ArrivalSource {
    Uniform(AtomicU64),
    Poisson(Box<Mutex<PoissonClock>>),
}

/// Seed of every Poisson schedule: the same for all shards, so together they are one.
const POISSON_SEED: u64 = 0x5EED_A771_0A15;

impl ArrivalSource {
    pub fn new(pacing: Pacing) -> Self {
        match pacing {
            Pacing::Open {
                rate,
                arrivals: Arrivals::Poisson,
            } => {
                ArrivalSource::Poisson(Box::new(Mutex::new(PoissonClock::new(rate, POISSON_SEED))))
            }
            _ => ArrivalSource::Uniform(AtomicU64::new(0)),
        }
    }

    /// This shard's next ticket and its intended start; `None` once it falls past the end.
    pub fn next(&self, schedule: &Schedule) -> Option<(u64, Instant)> {
        match self {
            ArrivalSource::Uniform(next) => {
                let ticket = next.fetch_add(1, Ordering::Relaxed);
                Some((ticket, schedule.intended(ticket)?))
            }
            ArrivalSource::Poisson(clock) => {
                let (ticket, offset) = clock
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .next(schedule.shard);
                let at = schedule.start + Duration::from_secs_f64(offset);
                (at < schedule.end).then_some((ticket, at))
            }
        }
    }
}

/// A Poisson arrival process over the whole (unsharded) schedule: offsets in seconds from
/// the start. A shard walks the whole sequence and keeps every `count`-th arrival from its
/// `index` on, as uniform tickets are dealt.
pub struct PoissonClock {
    rng: ChaCha8Rng,
    gap: Exp<f64>,
    next_global: u64,
    at: f64,
    issued: u64,
}

impl PoissonClock {
    pub fn new(rate: f64, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let gap = Exp::new(rate).unwrap_or_else(|_| Exp::new(1.0).expect("1 is a valid rate"));
        let at = gap.sample(&mut rng);
        PoissonClock {
            rng,
            gap,
            next_global: 0,
            at,
            issued: 0,
        }
    }

    /// This shard's next ticket and its offset from the start, in seconds.
    pub fn next(&mut self, shard: Shard) -> (u64, f64) {
        let count = u64::from(shard.count.max(1));
        loop {
            let (global, at) = (self.next_global, self.at);
            self.next_global += 1;
            self.at += self.gap.sample(&mut self.rng);
            if global % count == u64::from(shard.index) {
                self.issued += 1;
                return (self.issued - 1, at);
            }
        }
    }
}

/// Which part of the load a process generates: shard `index` of `count` (0 of 1 alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub const ALONE: Shard = Shard { index: 0, count: 1 };

    /// This shard's part of `total` things dealt out one by one (connections, operations):
    /// `total / count`, the first `total % count` shards one more.
    pub fn part(&self, total: u64) -> u64 {
        let (n, i) = (u64::from(self.count.max(1)), u64::from(self.index));
        total / n + u64::from(i < total % n)
    }
}

/// Parses `I/N` (0-based shard I of N).
pub fn parse_shard(text: &str) -> std::result::Result<Shard, String> {
    let bad = || format!("`{text}` is not a shard: write I/N, e.g. 0/3 (shards 0, 1 and 2 of 3)");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let index: u32 = i.trim().parse().map_err(|_| bad())?;
    let count: u32 = n.trim().parse().map_err(|_| bad())?;
    if count == 0 || index >= count || count > 1024 {
        return Err(format!(
            "`{text}`: the shard index must be below the count, and the count between 1 and 1024 (e.g. 0/3)"
        ));
    }
    Ok(Shard { index, count })
}

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub start: Instant,
    pub end: Instant,
    pub pacing: Pacing,
    /// Open loop with several shards: this one issues every `count`-th ticket of the whole
    /// schedule from `index` on, so the shards' arrivals together are exactly one shard's.
    pub shard: Shard,
}

impl Schedule {
    pub fn new(start: Instant, duration: Duration, pacing: Pacing) -> Self {
        Self::sharded(start, duration, pacing, Shard::ALONE)
    }

    pub fn sharded(start: Instant, duration: Duration, pacing: Pacing, shard: Shard) -> Self {
        Schedule {
            start,
            end: start + duration,
            pacing,
            shard,
        }
    }

    /// Intended start of this shard's ticket `i` with uniform open-loop arrivals (`rate` is
    /// all shards' together); `None` once it falls past the end. Poisson arrivals are not a
    /// formula of the ticket: `ArrivalSource` draws them.
    pub fn intended(&self, ticket: u64) -> Option<Instant> {
        match self.pacing {
            Pacing::Closed
            | Pacing::Open {
                arrivals: Arrivals::Poisson,
                ..
            } => None,
            Pacing::Open {
                rate,
                arrivals: Arrivals::Uniform,
            } => {
                let global = ticket
                    .saturating_mul(u64::from(self.shard.count.max(1)))
                    .saturating_add(u64::from(self.shard.index));
                let at = self.start + Duration::from_secs_f64(global as f64 / rate);
                (at < self.end).then_some(at)
            }
        }
    }

    /// Tickets an open-loop phase issues in total (uniform arrivals; a Poisson schedule's
    /// count is random, this many on average).
    pub fn planned_ops(&self) -> Option<u64> {
        match self.pacing {
            Pacing::Closed => None,
            Pacing::Open { rate, .. } => {
                Some(((self.end - self.start).as_secs_f64() * rate).ceil() as u64)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 100 evenly spaced arrivals per second.
    const EVEN_100: Pacing = Pacing::Open {
        rate: 100.0,
        arrivals: Arrivals::Uniform,
    };

    #[test]
    fn open_schedule_is_fixed_up_front() {
        let start = Instant::now();
        let s = Schedule::new(start, Duration::from_secs(1), EVEN_100);
        assert_eq!(s.intended(0), Some(start));
        assert_eq!(s.intended(50), Some(start + Duration::from_millis(500)));
        assert_eq!(s.intended(99), Some(start + Duration::from_millis(990)));
        assert_eq!(s.intended(100), None);
        assert_eq!(s.planned_ops(), Some(100));
    }

    #[test]
    fn shards_take_turns_so_together_they_are_the_whole_schedule() {
        let start = Instant::now();
        let whole = Schedule::new(start, Duration::from_secs(1), EVEN_100);
        let mut merged: Vec<Instant> = (0..3)
            .flat_map(|index| {
                let s = Schedule::sharded(
                    start,
                    Duration::from_secs(1),
                    EVEN_100,
                    Shard { index, count: 3 },
                );
                (0..).map_while(move |t| s.intended(t))
            })
            .collect();
        merged.sort();
        let all: Vec<Instant> = (0..).map_while(|t| whole.intended(t)).collect();
        assert_eq!(merged, all);
        // 100 tickets dealt to 3 shards: 34, 33, 33; 7 connections: 3, 2, 2.
        let parts = |total| (0..3).map(move |index| Shard { index, count: 3 }.part(total));
        assert_eq!(parts(100).collect::<Vec<_>>(), [34, 33, 33]);
        assert_eq!(parts(7).collect::<Vec<_>>(), [3, 2, 2]);
        assert_eq!(Shard::ALONE.part(7), 7);
    }

    #[test]
    fn shard_text_is_checked() {
        assert_eq!(parse_shard("1/3"), Ok(Shard { index: 1, count: 3 }));
        for bad in ["3/3", "1", "a/3", "0/0", "-1/2"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn poisson_arrivals_keep_the_rate_with_exponential_gaps() {
        let mut clock = PoissonClock::new(1000.0, 7);
        let times: Vec<f64> = (0..20_000).map(|_| clock.next(Shard::ALONE).1).collect();
        let gaps: Vec<f64> = std::iter::once(times[0])
            .chain(times.windows(2).map(|w| w[1] - w[0]))
            .collect();
        let n = gaps.len() as f64;
        let mean = gaps.iter().sum::<f64>() / n;
        let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!((mean - 0.001).abs() < 0.00003, "mean gap {mean}");
        // An exponential gap's deviation equals its mean (evenly spaced arrivals: 0), and
        // 1 - 1/e of the gaps are shorter than the mean.
        assert!((0.97..1.03).contains(&(sd / mean)), "cv {}", sd / mean);
        let short = gaps.iter().filter(|g| **g < 0.001).count() as f64 / n;
        assert!((short - 0.632).abs() < 0.01, "{short}");
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn poisson_shards_take_turns_so_together_they_are_the_whole_schedule() {
        let start = Instant::now();
        let open = Pacing::Open {
            rate: 500.0,
            arrivals: Arrivals::Poisson,
        };
        let take = |shard| {
            let s = Schedule::sharded(start, Duration::from_secs(1), open, shard);
            let source = ArrivalSource::new(open);
            std::iter::from_fn(move || source.next(&s)).collect::<Vec<_>>()
        };
        let whole = take(Shard::ALONE);
        // About 500 arrivals in 1 s, numbered 0, 1, 2 ... and all before the end.
        assert!((400..600).contains(&whole.len()), "{}", whole.len());
        assert!(whole.iter().enumerate().all(|(i, (t, _))| *t == i as u64));
        assert!(
            whole
                .iter()
                .all(|(_, at)| *at < start + Duration::from_secs(1))
        );
        let mut merged: Vec<Instant> = (0..3)
            .flat_map(|index| take(Shard { index, count: 3 }))
            .map(|(_, at)| at)
            .collect();
        merged.sort();
        assert_eq!(merged, whole.iter().map(|(_, at)| *at).collect::<Vec<_>>());
        // Not evenly spaced: the uniform formula does not apply to them.
        assert_eq!(
            Schedule::new(start, Duration::from_secs(1), open).intended(0),
            None
        );
    }

    #[test]
    fn closed_schedule_has_no_intended_times() {
        let s = Schedule::new(Instant::now(), Duration::from_secs(1), Pacing::Closed);
        assert_eq!(s.intended(0), None);
        assert_eq!(s.planned_ops(), None);
    }
}
