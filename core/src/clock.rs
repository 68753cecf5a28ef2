//! Time, injected. Nothing below the engine reads the wall clock directly: timestamps,
//! retention, iterator expiry and token buckets all take time from a [`Clock`], so a
//! test can run a day of retention or a second of throttling instantly.
#![forbid(unsafe_code)]

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A source of time.
pub trait Clock: Send + Sync + Debug + 'static {
    /// Milliseconds since the Unix epoch (arrival timestamps, retention).
    fn now_ms(&self) -> u64;
    /// A monotonic reading in nanoseconds from an arbitrary origin (rate limits,
    /// timeouts). Never goes backwards.
    fn monotonic_ns(&self) -> u64;
}

/// The real clock: `SystemTime` for wall time, `Instant` for monotonic time.
#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A system clock whose monotonic origin is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }

    /// A shared system clock, ready to hand to configurations.
    pub fn shared() -> Arc<dyn Clock> {
        Arc::new(Self::new())
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    fn monotonic_ns(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }
}

/// A clock that moves only when told to: for tests of retention, expiry and limits.
/// Wall and monotonic time advance together.
#[derive(Debug)]
pub struct ManualClock {
    wall_ms: AtomicU64,
    monotonic_ns: AtomicU64,
}

impl ManualClock {
    /// A manual clock reading `wall_ms` milliseconds since the epoch.
    pub fn new(wall_ms: u64) -> Arc<Self> {
        Arc::new(Self {
            wall_ms: AtomicU64::new(wall_ms),
            monotonic_ns: AtomicU64::new(0),
        })
    }

    /// Moves both readings forward by `ms` milliseconds.
    pub fn advance_ms(&self, ms: u64) {
        self.wall_ms.fetch_add(ms, Ordering::SeqCst);
        self.monotonic_ns
            .fetch_add(ms.saturating_mul(1_000_000), Ordering::SeqCst);
    }

    /// Moves both readings forward by `ns` nanoseconds (wall time by whole ms only
    /// when the nanoseconds add up to them).
    pub fn advance_ns(&self, ns: u64) {
        let before = self.monotonic_ns.fetch_add(ns, Ordering::SeqCst);
        let whole_ms = (before + ns) / 1_000_000 - before / 1_000_000;
        self.wall_ms.fetch_add(whole_ms, Ordering::SeqCst);
    }

    /// Sets the wall clock (it may go backwards, as real wall clocks do); the
    /// monotonic reading is unchanged.
    pub fn set_wall_ms(&self, wall_ms: u64) {
        self.wall_ms.store(wall_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.wall_ms.load(Ordering::SeqCst)
    }

    fn monotonic_ns(&self) -> u64 {
        self.monotonic_ns.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        assert_eq!(clock.monotonic_ns(), 0);
        clock.advance_ms(5);
        assert_eq!(clock.now_ms(), 1_005);
        assert_eq!(clock.monotonic_ns(), 5_000_000);
        clock.advance_ns(999_999);
        assert_eq!(clock.now_ms(), 1_005);
        clock.advance_ns(1);
        assert_eq!(clock.now_ms(), 1_006);
        clock.set_wall_ms(10);
        assert_eq!(clock.now_ms(), 10);
        assert_eq!(clock.monotonic_ns(), 6_000_000);
    }

    #[test]
    fn system_clock_is_monotonic_and_near_wall_time() {
        let clock = SystemClock::new();
        let a = clock.monotonic_ns();
        let b = clock.monotonic_ns();
        assert!(b >= a);
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(clock.now_ms().abs_diff(wall) < 60_000);
    }
}
