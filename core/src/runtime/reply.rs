//! One-shot replies from a core to the thread (or task) that asked.
//!
//! The core fills a [`Reply`]; the caller holds the matching [`Pending`], which it can
//! wait on in three ways: spin briefly then park the thread (blocking calls), park with
//! a periodic tick (the engine's own waits at close and crash, which nudge a sleeping
//! core), or poll it as a `Future` from any executor (async calls).
//!
//! Invariants: a reply is delivered exactly once; a `Reply` dropped unfilled (the core
//! stopped) delivers [`Error::Closed`]; no wake-up is lost: the filler stores the value,
//! then swaps the state to READY and wakes the waiter if it found WAITING; the waiter
//! registers, then moves the state from EMPTY to WAITING with a compare-exchange, and if
//! it found READY takes the value at once. Both are read-modify-writes of one atomic, so
//! whichever comes second sees the other. `core/tests/loom_models.rs` checks this.
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

enum Waiter {
    Thread(Thread),
    Task(Waker),
}

impl Waiter {
    fn wake(self) {
        match self {
            Self::Thread(thread) => thread.unpark(),
            Self::Task(waker) => waker.wake(),
        }
    }
}

const EMPTY: u8 = 0;
const WAITING: u8 = 1;
const READY: u8 = 2;

struct Slot<T> {
    state: AtomicU8,
    value: Mutex<Option<Result<T>>>,
    waiter: Mutex<Option<Waiter>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The filling side, held by the core.
pub struct Reply<T> {
    slot: Option<Arc<Slot<T>>>,
}

/// The waiting side, held by the caller.
pub struct Pending<T> {
    slot: Arc<Slot<T>>,
}

/// A connected reply and pending pair.
pub fn channel<T>() -> (Reply<T>, Pending<T>) {
    let slot = Arc::new(Slot {
        state: AtomicU8::new(EMPTY),
        value: Mutex::new(None),
        waiter: Mutex::new(None),
    });
    (
        Reply {
            slot: Some(Arc::clone(&slot)),
        },
        Pending { slot },
    )
}

impl<T> Reply<T> {
    /// Delivers the result and wakes the waiter, if it sleeps.
    pub fn send(mut self, value: Result<T>) {
        if let Some(slot) = self.slot.take() {
            deliver(&slot, value);
        }
    }
}

fn deliver<T>(slot: &Slot<T>, value: Result<T>) {
    *lock(&slot.value) = Some(value);
    if slot.state.swap(READY, Ordering::AcqRel) == WAITING
        && let Some(waiter) = lock(&slot.waiter).take()
    {
        waiter.wake();
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            deliver(&slot, Err(Error::Closed));
        }
    }
}

impl<T> Pending<T> {
    fn take(&self) -> Result<T> {
        lock(&self.slot.value)
            .take()
            .unwrap_or(Err(Error::Internal("reply taken twice")))
    }

    /// True once the reply has arrived.
    pub fn is_ready(&self) -> bool {
        self.slot.state.load(Ordering::Acquire) == READY
    }

    /// Registers `waiter`; false if the reply is already there (take it instead).
    fn register(&self, waiter: Waiter) -> bool {
        *lock(&self.slot.waiter) = Some(waiter);
        match self
            .slot
            .state
            .compare_exchange(EMPTY, WAITING, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(WAITING) => true, // registered before (a future polled again)
            Err(_) => false,
        }
    }

    /// Spins for up to `spin` while the reply is not there; true once it is.
    pub fn spin(&self, spin: Duration) -> bool {
        if !spin.is_zero() {
            let start = Instant::now();
            let mut rounds = 0u32;
            while !self.is_ready() {
                std::hint::spin_loop();
                rounds += 1;
                if rounds % 64 == 0 && start.elapsed() >= spin {
                    break;
                }
            }
        }
        self.is_ready()
    }

    /// Blocks the thread until the reply arrives: spins for up to `spin` (a core
    /// usually answers a page-cache write in about a microsecond, far less than the
    /// cost of parking and waking a thread), then parks.
    pub fn wait(self, spin: Duration) -> Result<T> {
        self.spin(spin);
        if !self.is_ready() && self.register(Waiter::Thread(std::thread::current())) {
            while !self.is_ready() {
                std::thread::park();
            }
        }
        self.take()
    }
}

impl<T> Pending<T> {
    /// Blocks the thread until the reply arrives: yields its CPU (`sched_yield`) for up
    /// to `limit` while the reply is not there, then parks. For a caller sharing a CPU
    /// with the core it waits for (see `Engine::wait_reply`).
    pub fn wait_yielding(self, limit: Duration) -> Result<T> {
        if !limit.is_zero() {
            let start = Instant::now();
            while !self.is_ready() && start.elapsed() < limit {
                std::thread::yield_now();
            }
        }
        if !self.is_ready() && self.register(Waiter::Thread(std::thread::current())) {
            while !self.is_ready() {
                std::thread::park();
            }
        }
        self.take()
    }

    /// Blocks the thread until the reply arrives without spinning, calling `on_tick`
    /// every `tick` while it has not: for the engine's own waits on its cores at close
    /// and crash, where `on_tick` nudges a core glommio left asleep (the maintenance
    /// thread, which does that otherwise, is already stopped then).
    pub fn wait_ticking(self, tick: Duration, mut on_tick: impl FnMut()) -> Result<T> {
        if !self.is_ready() && self.register(Waiter::Thread(std::thread::current())) {
            while !self.is_ready() {
                std::thread::park_timeout(tick);
                if !self.is_ready() {
                    on_tick();
                }
            }
        }
        self.take()
    }
}

impl<T> Future for Pending<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.is_ready() {
            return Poll::Ready(self.take());
        }
        if self.register(Waiter::Task(cx.waker().clone())) && !self.is_ready() {
            return Poll::Pending;
        }
        Poll::Ready(self.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_before_and_after_waiting() {
        let (reply, pending) = channel::<u32>();
        reply.send(Ok(7));
        assert_eq!(pending.wait(Duration::ZERO).unwrap(), 7);

        for spin in [Duration::ZERO, Duration::from_micros(50)] {
            let (reply, pending) = channel::<u32>();
            let filler = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                reply.send(Ok(9));
            });
            assert_eq!(pending.wait(spin).unwrap(), 9);
            filler.join().unwrap();
        }
    }

    #[test]
    fn a_yielding_wait_gets_replies_sent_before_during_and_after_its_yields() {
        let (reply, pending) = channel::<u32>();
        reply.send(Ok(1));
        assert_eq!(pending.wait_yielding(Duration::from_micros(50)).unwrap(), 1);
        // Within the yields, and after them (the waiter parked by then).
        for delay in [Duration::ZERO, Duration::from_millis(5)] {
            let (reply, pending) = channel::<u32>();
            let filler = std::thread::spawn(move || {
                std::thread::sleep(delay);
                reply.send(Ok(2));
            });
            assert_eq!(
                pending.wait_yielding(Duration::from_micros(200)).unwrap(),
                2
            );
            filler.join().unwrap();
        }
        let (reply, pending) = channel::<u32>();
        drop(reply);
        assert!(matches!(
            pending.wait_yielding(Duration::from_micros(50)),
            Err(Error::Closed)
        ));
    }

    #[test]
    fn dropped_reply_means_closed() {
        let (reply, pending) = channel::<u32>();
        drop(reply);
        assert!(matches!(pending.wait(Duration::ZERO), Err(Error::Closed)));
    }

    #[test]
    fn works_as_a_future_from_another_thread() {
        for _ in 0..200 {
            let (reply, pending) = channel::<String>();
            let filler = std::thread::spawn(move || reply.send(Ok("done".to_string())));
            assert_eq!(futures_lite::future::block_on(pending).unwrap(), "done");
            filler.join().unwrap();
        }
    }
}
