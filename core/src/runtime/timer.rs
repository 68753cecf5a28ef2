//! Timeouts for futures awaited outside the cores (subscriptions polled from any
//! executor): one background thread keeps the deadlines and wakes the tasks.
#![forbid(unsafe_code)]

use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

struct Entry {
    deadline: Instant,
    waker: Waker,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.deadline == other.deadline
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.deadline.cmp(&self.deadline) // min-heap
    }
}

struct Wheel {
    heap: Mutex<BinaryHeap<Entry>>,
    changed: Condvar,
}

fn wheel() -> &'static Wheel {
    static WHEEL: OnceLock<&'static Wheel> = OnceLock::new();
    WHEEL.get_or_init(|| {
        let wheel: &'static Wheel = Box::leak(Box::new(Wheel {
            heap: Mutex::new(BinaryHeap::new()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("tidelog-timer".to_string())
            .spawn(move || {
                let mut heap = wheel.heap.lock().unwrap_or_else(|p| p.into_inner());
                loop {
                    let now = Instant::now();
                    while heap.peek().is_some_and(|e| e.deadline <= now) {
                        if let Some(entry) = heap.pop() {
                            entry.waker.wake();
                        }
                    }
                    heap = match heap.peek().map(|e| e.deadline) {
                        Some(deadline) => {
                            let wait = deadline.saturating_duration_since(now);
                            wheel
                                .changed
                                .wait_timeout(heap, wait)
                                .unwrap_or_else(|p| p.into_inner())
                                .0
                        }
                        None => wheel.changed.wait(heap).unwrap_or_else(|p| p.into_inner()),
                    };
                }
            })
            .expect("spawn the timer thread");
        wheel
    })
}

/// Completes at `deadline`.
pub struct Sleep {
    deadline: Instant,
    registered: bool,
}

/// A future that completes after `duration`.
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        deadline: Instant::now() + duration,
        registered: false,
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        // Register on every poll with the current waker; stale entries only cause an
        // extra wake-up.
        let wheel = wheel();
        wheel
            .heap
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Entry {
                deadline: self.deadline,
                waker: cx.waker().clone(),
            });
        wheel.changed.notify_one();
        self.registered = true;
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeps_at_least_the_duration() {
        let start = Instant::now();
        futures_lite::future::block_on(sleep(Duration::from_millis(20)));
        assert!(start.elapsed() >= Duration::from_millis(20));
        futures_lite::future::block_on(sleep(Duration::ZERO));
    }
}
