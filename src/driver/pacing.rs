//! When each operation is meant to start. Open loop fixes the schedule up front, so a stalled
//! server cannot slow the arrivals down and hide its own stall (no coordinated omission).

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub enum Pacing {
    /// Each client starts its next operation when the previous one completes.
    Closed,
    /// Operation `i` is due at `start + i / rate`.
    Open { rate: f64 },
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

    /// Intended start of this shard's ticket `i` in open loop (`rate` is all shards'
    /// together); `None` once it falls past the end.
    pub fn intended(&self, ticket: u64) -> Option<Instant> {
        match self.pacing {
            Pacing::Closed => None,
            Pacing::Open { rate } => {
                let global = ticket
                    .saturating_mul(u64::from(self.shard.count.max(1)))
                    .saturating_add(u64::from(self.shard.index));
                let at = self.start + Duration::from_secs_f64(global as f64 / rate);
                (at < self.end).then_some(at)
            }
        }
    }

    /// Tickets an open-loop phase issues in total.
    pub fn planned_ops(&self) -> Option<u64> {
        match self.pacing {
            Pacing::Closed => None,
            Pacing::Open { rate } => {
                Some(((self.end - self.start).as_secs_f64() * rate).ceil() as u64)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_schedule_is_fixed_up_front() {
        let start = Instant::now();
        let s = Schedule::new(start, Duration::from_secs(1), Pacing::Open { rate: 100.0 });
        assert_eq!(s.intended(0), Some(start));
        assert_eq!(s.intended(50), Some(start + Duration::from_millis(500)));
        assert_eq!(s.intended(99), Some(start + Duration::from_millis(990)));
        assert_eq!(s.intended(100), None);
        assert_eq!(s.planned_ops(), Some(100));
    }

    #[test]
    fn shards_take_turns_so_together_they_are_the_whole_schedule() {
        let start = Instant::now();
        let whole = Schedule::new(start, Duration::from_secs(1), Pacing::Open { rate: 100.0 });
        let mut merged: Vec<Instant> = (0..3)
            .flat_map(|index| {
                let s = Schedule::sharded(
                    start,
                    Duration::from_secs(1),
                    Pacing::Open { rate: 100.0 },
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
    fn closed_schedule_has_no_intended_times() {
        let s = Schedule::new(Instant::now(), Duration::from_secs(1), Pacing::Closed);
        assert_eq!(s.intended(0), None);
        assert_eq!(s.planned_ops(), None);
    }
}
