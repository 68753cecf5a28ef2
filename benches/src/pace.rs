//! Pacing and measuring windows.
//!
//! [`Pacer`]: closed loop (send when the previous request returned) or open loop (send
//! at fixed intended times; a request's latency is measured from its intended time, so
//! a stall is charged to every request it delays: no coordinated omission).
//! [`Window`]: the phases of a multi-threaded case (warm-up, measuring, stop), so every
//! thread records only inside the same measuring interval, and CPU time is sampled
//! while the working threads are alive.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// When requests are sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Each request as soon as the previous one returned.
    Closed,
    /// Requests at fixed intervals (requests per second), whatever the latency.
    Open(f64),
}

impl Pace {
    /// Open at `rate`, or closed.
    pub fn from_rate(rate_per_sec: Option<f64>) -> Self {
        rate_per_sec.map_or(Self::Closed, Self::Open)
    }

    /// How the JSON and the table name it.
    pub fn describe(&self) -> String {
        match self {
            Self::Closed => "closed loop".to_string(),
            Self::Open(rate) => format!("open loop at {rate:.0}/s"),
        }
    }
}

/// Hands out send times.
#[derive(Debug)]
pub struct Pacer {
    pace: Pace,
    start: Instant,
    sent: u64,
    /// Busy-wait (true) or sleep (false) until the intended time.
    spin: bool,
}

impl Pacer {
    /// A pacer starting now; an open one spins to hit its intended times (give it a CPU
    /// of its own) unless `spin` is false, when it sleeps (coarser, but leaves the CPU
    /// to others).
    pub fn new(pace: Pace, spin: bool) -> Self {
        Self {
            pace,
            start: Instant::now(),
            sent: 0,
            spin,
        }
    }

    /// Waits until the next request is due and returns the time its latency is
    /// measured from: now (closed loop) or its intended send time (open loop, which
    /// may be in the past when the sender runs late).
    pub fn wait_next(&mut self) -> Instant {
        match self.pace {
            Pace::Closed => Instant::now(),
            Pace::Open(rate) => {
                let intended =
                    self.start + Duration::from_secs_f64(self.sent as f64 / rate.max(1e-9));
                self.sent += 1;
                loop {
                    let now = Instant::now();
                    if now >= intended {
                        break;
                    }
                    if self.spin {
                        std::hint::spin_loop();
                    } else {
                        std::thread::sleep(intended - now);
                    }
                }
                intended
            }
        }
    }
}

const WARMING: u8 = 0;
const MEASURING: u8 = 1;
const STOPPED: u8 = 2;

/// The phases of a multi-threaded case, driven by [`Window::run`].
#[derive(Debug, Default)]
pub struct Window {
    phase: AtomicU8,
    /// Threads that recorded at least one request in the interval.
    sampled: AtomicUsize,
    /// Threads expected to record (0: do not wait for them).
    threads: AtomicUsize,
}

/// Longest the measuring interval is stretched past its duration while a thread has
/// not completed a request yet (a slow fdatasync under load, a tiny `--duration`).
pub const STRETCH_MAX: Duration = Duration::from_secs(10);

/// What the measuring interval saw.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Its length, s.
    pub seconds: f64,
    /// CPU time the process's live threads used in it, ns.
    pub cpu_ns: u64,
}

impl Window {
    /// True while threads should record.
    #[inline]
    pub fn measuring(&self) -> bool {
        self.phase.load(Ordering::Relaxed) == MEASURING
    }

    /// True once threads should stop.
    #[inline]
    pub fn stopped(&self) -> bool {
        self.phase.load(Ordering::Relaxed) == STOPPED
    }

    /// Says `threads` threads will record: the interval lasts until each has recorded
    /// a request (at most [`STRETCH_MAX`] past its duration).
    pub fn expect_threads(&self, threads: usize) {
        self.threads.store(threads, Ordering::SeqCst);
    }

    /// A thread recorded its first request of the interval.
    pub fn sampled(&self) {
        self.sampled.fetch_add(1, Ordering::SeqCst);
    }

    /// Lets the threads warm up for `warmup`, measures for `duration` (stretched until
    /// every expected thread recorded a request), then tells them to stop (the caller
    /// joins them).
    pub fn run(&self, warmup: Duration, duration: Duration) -> Measured {
        std::thread::sleep(warmup);
        let cpu_before = crate::sys::process_cpu_ns();
        let start = Instant::now();
        self.phase.store(MEASURING, Ordering::SeqCst);
        std::thread::sleep(duration);
        while self.sampled.load(Ordering::SeqCst) < self.threads.load(Ordering::SeqCst)
            && start.elapsed() < duration + STRETCH_MAX
            && !self.stopped()
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        let seconds = start.elapsed().as_secs_f64();
        let cpu_after = crate::sys::process_cpu_ns();
        self.phase.store(STOPPED, Ordering::SeqCst);
        Measured {
            seconds,
            cpu_ns: cpu_after.saturating_sub(cpu_before),
        }
    }

    /// Stops the threads without measuring (after a failure).
    pub fn stop(&self) {
        self.phase.store(STOPPED, Ordering::SeqCst);
    }

    /// Back to warming up, for another case.
    pub fn reset(&self) {
        self.phase.store(WARMING, Ordering::SeqCst);
        self.sampled.store(0, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_loop_keeps_its_schedule() {
        let mut pacer = Pacer::new(Pace::Open(10_000.0), true);
        let first = pacer.wait_next();
        let mut last = first;
        for _ in 0..99 {
            last = pacer.wait_next();
        }
        let span = last - first;
        assert!(
            (span.as_secs_f64() - 0.0099).abs() < 1e-6,
            "intended times are exact: {span:?}"
        );
        // Running late: the intended time is in the past, and latency counts from it.
        std::thread::sleep(Duration::from_millis(5));
        let late = pacer.wait_next();
        assert!(late + Duration::from_millis(4) < Instant::now());
        let mut closed = Pacer::new(Pace::Closed, true);
        let before = Instant::now();
        assert!(closed.wait_next() >= before);
    }

    #[test]
    fn window_waits_for_every_thread_within_bounds() {
        let w = Window::default();
        w.expect_threads(1);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                while !w.measuring() {
                    std::thread::yield_now();
                }
                std::thread::sleep(Duration::from_millis(30));
                w.sampled();
            });
            let m = w.run(Duration::ZERO, Duration::from_millis(1));
            assert!(
                m.seconds >= 0.03,
                "stretched until the thread sampled: {m:?}"
            );
        });
    }

    #[test]
    fn window_phases() {
        let w = Window::default();
        assert!(!w.measuring() && !w.stopped());
        let m = w.run(Duration::from_millis(1), Duration::from_millis(5));
        assert!(w.stopped());
        assert!(m.seconds >= 0.005);
        w.reset();
        assert!(!w.stopped());
    }
}
