//! The mailbox of a core: how requests from any thread reach the core that owns a shard.
//!
//! Senders push onto a lock-free queue and, only if the core is parked, wake it (a
//! cross-thread wake through glommio's foreign-waker path, an eventfd write). A busy or
//! spinning core picks requests up with a non-blocking poll (~0.3 µs round trip here),
//! so a sender pays the wake-up (~45-60 µs on this VM) only when the core had gone idle.
//!
//! Invariant: no request is left unseen while the core parks. The handshake is one
//! atomic `state` that both sides change with read-modify-write operations (which are
//! totally ordered on one location): a sender pushes, then swaps the state to
//! NOTIFIED and wakes the core if it found PARKED; the core, before sleeping, swaps the
//! state to PARKED, and if it found NOTIFIED it polls again instead. Whichever swap
//! comes second sees the other. `core/tests/loom_models.rs` checks this handshake.
//!
//! Liveness backstop: glommio 0.9 can put an executor to sleep with runnable tasks (see
//! `core.rs`, the watchdog). The core records its loop's waker once and counts its
//! loop's turns; [`MailboxSender::nudge_if_stuck`] (called by the engine's maintenance
//! thread) wakes a core that is not parked on its mailbox and has not turned since the
//! last look. A foreign wake always writes the executor's eventfd, which ends any sleep.
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::error::Error;

const IDLE: u8 = 0;
const PARKED: u8 = 1;
const NOTIFIED: u8 = 2;

#[derive(Debug, Default)]
struct Shared {
    state: AtomicU8,
    waker: Mutex<Option<Waker>>,
    /// The core loop's waker, recorded once; used only by the liveness backstop.
    loop_waker: Mutex<Option<Waker>>,
    /// Turns of the core loop (on its own cache line: senders write `state` often).
    turns: Turns,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct Turns(AtomicU64);

/// The sending side: cloneable, usable from any thread.
#[derive(Debug)]
pub struct MailboxSender<T> {
    tx: Sender<T>,
    shared: Arc<Shared>,
}

impl<T> Clone for MailboxSender<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The receiving side, owned by the core.
#[derive(Debug)]
pub struct MailboxReceiver<T> {
    rx: Receiver<T>,
    shared: Arc<Shared>,
}

/// A new mailbox.
pub fn mailbox<T>() -> (MailboxSender<T>, MailboxReceiver<T>) {
    let (tx, rx) = channel();
    let shared = Arc::new(Shared::default());
    (
        MailboxSender {
            tx,
            shared: Arc::clone(&shared),
        },
        MailboxReceiver { rx, shared },
    )
}

impl<T> MailboxSender<T> {
    /// Queues a request and wakes the core if it is parked. Fails if the core has
    /// stopped.
    pub fn send(&self, item: T) -> Result<(), Error> {
        self.tx.send(item).map_err(|_| Error::Closed)?;
        if self.shared.state.swap(NOTIFIED, Ordering::AcqRel) == PARKED {
            let waker = self
                .shared
                .waker
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
        Ok(())
    }

    /// The loop-turn count the core last published, for [`nudge_if_stuck`](Self::nudge_if_stuck).
    pub fn turns(&self) -> u64 {
        self.shared.turns.0.load(Ordering::Relaxed)
    }

    /// Wakes the core loop if it is not parked on its mailbox and its turn count is
    /// still `seen` (taken one look earlier). Returns whether it woke it. A core that is
    /// merely busy with one long request gets a harmless spurious wake.
    pub fn nudge_if_stuck(&self, seen: u64) -> bool {
        if self.shared.state.load(Ordering::Acquire) == PARKED || self.turns() != seen {
            return false;
        }
        let waker = self
            .shared
            .loop_waker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match waker {
            Some(waker) => {
                waker.wake();
                true
            }
            None => false,
        }
    }
}

/// What a non-blocking poll found.
pub enum Polled<T> {
    /// A request.
    Item(T),
    /// Nothing now.
    Empty,
    /// Every sender is gone.
    Closed,
}

impl<T> MailboxReceiver<T> {
    /// Takes one request without waiting.
    #[inline]
    pub fn poll_now(&self) -> Polled<T> {
        match self.rx.try_recv() {
            Ok(item) => Polled::Item(item),
            Err(TryRecvError::Empty) => Polled::Empty,
            Err(TryRecvError::Disconnected) => Polled::Closed,
        }
    }

    /// Waits (parked, no spinning) until a request arrives or every sender is gone.
    pub fn recv(&self) -> Recv<'_, T> {
        Recv { mailbox: self }
    }

    /// Records the core loop's waker (once, at the loop's start).
    pub fn register_loop(&self, waker: &Waker) {
        *self
            .shared
            .loop_waker
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(waker.clone());
    }

    /// Publishes that the loop made another turn.
    #[inline]
    pub fn turned(&self, turns: u64) {
        self.shared.turns.0.store(turns, Ordering::Relaxed);
    }
}

/// Future of [`MailboxReceiver::recv`]: `None` when every sender is gone.
pub struct Recv<'a, T> {
    mailbox: &'a MailboxReceiver<T>,
}

impl<T> Future for Recv<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mailbox = self.mailbox;
        loop {
            // Forget older notifications: everything pushed before this swap is seen by
            // the poll that follows it.
            mailbox.shared.state.swap(IDLE, Ordering::AcqRel);
            match mailbox.poll_now() {
                Polled::Item(item) => return Poll::Ready(Some(item)),
                Polled::Closed => return Poll::Ready(None),
                Polled::Empty => {}
            }
            *mailbox
                .shared
                .waker
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
            if mailbox.shared.state.swap(PARKED, Ordering::AcqRel) == NOTIFIED {
                continue; // a push landed after the poll: look again instead of sleeping
            }
            return Poll::Pending;
        }
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        // No longer parked (a later send's wake-up would go to a dropped waker).
        let _ = self.mailbox.shared.state.compare_exchange(
            PARKED,
            IDLE,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_arrive_in_order_and_wake_a_parked_receiver() {
        let (tx, rx) = mailbox::<u32>();
        tx.send(1).unwrap();
        assert!(matches!(rx.poll_now(), Polled::Item(1)));
        assert!(matches!(rx.poll_now(), Polled::Empty));
        let sender = std::thread::spawn(move || {
            for i in 0..1000 {
                tx.send(i).unwrap();
                if i % 100 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        });
        let mut got = Vec::new();
        while got.len() < 1000 {
            match futures_lite::future::block_on(rx.recv()) {
                Some(i) => got.push(i),
                None => break,
            }
        }
        sender.join().unwrap();
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
        assert!(
            futures_lite::future::block_on(rx.recv()).is_none(),
            "closed once senders are gone"
        );
    }

    #[test]
    fn the_backstop_wakes_only_a_loop_that_is_neither_parked_nor_turning() {
        use std::sync::atomic::AtomicUsize;
        use std::task::Wake;
        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let (tx, rx) = mailbox::<u32>();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        // No loop waker recorded yet: nothing to wake.
        assert!(!tx.nudge_if_stuck(tx.turns()));
        rx.register_loop(&Waker::from(Arc::clone(&count)));
        rx.turned(7);
        // Turning since the last look: not stuck.
        assert!(!tx.nudge_if_stuck(6));
        // Same turn count, not parked: woken.
        assert!(tx.nudge_if_stuck(7));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        // Parked on the mailbox (a sender wakes it): left alone.
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let mut cx = Context::from_waker(&waker);
        let mut recv = Box::pin(rx.recv());
        assert!(recv.as_mut().poll(&mut cx).is_pending());
        assert!(!tx.nudge_if_stuck(7));
        drop(recv);
        assert!(tx.nudge_if_stuck(7));
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
    }
}
