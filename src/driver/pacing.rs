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

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub start: Instant,
    pub end: Instant,
    pub pacing: Pacing,
}

impl Schedule {
    pub fn new(start: Instant, duration: Duration, pacing: Pacing) -> Self {
        Schedule {
            start,
            end: start + duration,
            pacing,
        }
    }

    /// Intended start of ticket `i` in open loop; `None` once it falls past the end.
    pub fn intended(&self, ticket: u64) -> Option<Instant> {
        match self.pacing {
            Pacing::Closed => None,
            Pacing::Open { rate } => {
                let at = self.start + Duration::from_secs_f64(ticket as f64 / rate);
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
    fn closed_schedule_has_no_intended_times() {
        let s = Schedule::new(Instant::now(), Duration::from_secs(1), Pacing::Closed);
        assert_eq!(s.intended(0), None);
        assert_eq!(s.planned_ops(), None);
    }
}
