//! Per-plugin statistics and a circuit breaker: after `TRIP_AFTER` failures in a row a plugin
//! is benched for `BENCH_FOR` (the recipients' profiles decide meanwhile), then tried again.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

pub const TRIP_AFTER: u32 = 5;
pub const BENCH_FOR: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct Stats {
    calls: AtomicU64,
    failures: AtomicU64,
    nanos: AtomicU64,
    in_a_row: AtomicU32,
    benched_until: Mutex<Option<Instant>>,
    flushed_calls: AtomicU64,
    flushed_failures: AtomicU64,
    flushed_nanos: AtomicU64,
}

/// A copy of the counters, for admin pages and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub calls: u64,
    pub failures: u64,
    pub total_time: Duration,
    pub benched: bool,
}

impl Stats {
    fn bench(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.benched_until.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// May the plugin be called now?
    pub fn admit(&self) -> bool {
        let mut until = self.bench();
        match *until {
            Some(t) if Instant::now() < t => false,
            Some(_) => {
                // The bench is over: one more chance.
                *until = None;
                self.in_a_row.store(TRIP_AFTER - 1, Ordering::Relaxed);
                true
            }
            None => true,
        }
    }

    pub fn record(&self, ok: bool, elapsed: Duration) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
        if ok {
            self.in_a_row.store(0, Ordering::Relaxed);
            return;
        }
        self.failures.fetch_add(1, Ordering::Relaxed);
        if self.in_a_row.fetch_add(1, Ordering::Relaxed) + 1 >= TRIP_AFTER {
            *self.bench() = Some(Instant::now() + BENCH_FOR);
        }
    }

    /// Calls, failures and nanoseconds in calls since the last time this was asked (for
    /// adding to stored totals).
    pub fn take_unflushed(&self) -> (u64, u64, u64) {
        let delta = |total: &AtomicU64, flushed: &AtomicU64| {
            let now = total.load(Ordering::Relaxed);
            now.saturating_sub(flushed.swap(now, Ordering::Relaxed))
        };
        (
            delta(&self.calls, &self.flushed_calls),
            delta(&self.failures, &self.flushed_failures),
            delta(&self.nanos, &self.flushed_nanos),
        )
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            calls: self.calls.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            total_time: Duration::from_nanos(self.nanos.load(Ordering::Relaxed)),
            benched: self.bench().is_some_and(|t| Instant::now() < t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_after_failures_in_a_row_and_success_resets() {
        let s = Stats::default();
        for _ in 0..TRIP_AFTER - 1 {
            assert!(s.admit());
            s.record(false, Duration::ZERO);
        }
        s.record(true, Duration::ZERO);
        for _ in 0..TRIP_AFTER - 1 {
            s.record(false, Duration::ZERO);
        }
        assert!(s.admit(), "a success in between resets the count");
        s.record(false, Duration::ZERO);
        assert!(!s.admit());
        let snap = s.snapshot();
        assert!(snap.benched);
        assert_eq!(snap.calls, 2 * TRIP_AFTER as u64);
        assert_eq!(snap.failures, 2 * TRIP_AFTER as u64 - 1);
    }
}
