//! Loom models of the wake-up handshakes the runtime relies on (a thread sanitizer needs
//! a nightly compiler, which this machine does not have). Each model restates the
//! protocol of the production code with loom's types, and loom explores every
//! interleaving: no wake-up may be lost (a lost one shows as a deadlock), and the value
//! delivered is the value sent.
//!
//! Every handshake is a read-modify-write pair on one atomic, because two RMWs of one
//! location are totally ordered and the later one reads (and acquires) the earlier one.
//! Loom models SeqCst accesses as AcqRel, so a "store, then load the other flag"
//! handshake cannot be verified by it, and on x86 the mailbox's earlier version of that
//! handshake did lose a wake-up (a request sat queued until the next one arrived).
//!
//! - `reply`: `runtime/reply.rs`: the core stores the value, then swaps the state to
//!   READY and wakes the waiter if it found WAITING; the waiter registers, then moves
//!   the state EMPTY -> WAITING by compare-exchange, and takes the value if it found
//!   READY.
//! - `mailbox`: `runtime/mailbox.rs`: the sender pushes, then swaps the state to
//!   NOTIFIED and wakes the receiver if it found PARKED; the receiver clears the state,
//!   polls, registers its waker, swaps the state to PARKED and polls again if it found
//!   NOTIFIED.
//! - `notify`: `stream/shard.rs`: a subscriber registers, sets `has_waiters`, then reads
//!   the version with an RMW; the core moves the version with an RMW, then wakes the
//!   registered waiters if `has_waiters` is set.
//!
//! Each model also runs in a weakened form (the handshake done with plain stores and
//! loads) that loom must reject: proof that the model can fail at all.

use loom::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

/// `std::thread::park`/`unpark` semantics (one wake-up token), modelled with a mutex and
/// a condition variable.
#[derive(Default)]
struct Parker {
    token: Mutex<bool>,
    changed: Condvar,
}

impl Parker {
    fn park(&self) {
        let mut token = self.token.lock().unwrap();
        while !*token {
            token = self.changed.wait(token).unwrap();
        }
        *token = false;
    }

    fn unpark(&self) {
        *self.token.lock().unwrap() = true;
        self.changed.notify_one();
    }
}

const EMPTY: u8 = 0;
const WAITING: u8 = 1;
const READY: u8 = 2;

fn reply_model(weak: bool) {
    loom::model(move || {
        struct Slot {
            state: AtomicU8,
            value: Mutex<Option<u32>>,
            waiter: Mutex<Option<Arc<Parker>>>,
        }
        let slot = Arc::new(Slot {
            state: AtomicU8::new(EMPTY),
            value: Mutex::new(None),
            waiter: Mutex::new(None),
        });
        let me = Arc::new(Parker::default());
        let core = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                *slot.value.lock().unwrap() = Some(42);
                let before = if weak {
                    let before = slot.state.load(Ordering::Acquire);
                    slot.state.store(READY, Ordering::Release);
                    before
                } else {
                    slot.state.swap(READY, Ordering::AcqRel)
                };
                if before == WAITING
                    && let Some(t) = slot.waiter.lock().unwrap().take()
                {
                    t.unpark();
                }
            })
        };
        // The caller.
        if slot.state.load(Ordering::Acquire) != READY {
            *slot.waiter.lock().unwrap() = Some(Arc::clone(&me));
            let registered = if weak {
                let ready = slot.state.load(Ordering::Acquire) == READY;
                slot.state.store(WAITING, Ordering::Release);
                !ready
            } else {
                slot.state
                    .compare_exchange(EMPTY, WAITING, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            };
            if registered {
                while slot.state.load(Ordering::Acquire) != READY {
                    me.park();
                }
            }
        }
        assert_eq!(slot.value.lock().unwrap().take(), Some(42));
        core.join().unwrap();
    });
}

const IDLE: u8 = 0;
const PARKED: u8 = 1;
const NOTIFIED: u8 = 2;

fn mailbox_model(weak: bool) {
    loom::model(move || {
        // The queue is lock-free in the real code (std's channel: a release RMW on
        // push, an acquire on pop): modelled as one atomic slot, not a mutex (a mutex
        // would add synchronization the real queue does not have). The push is a swap,
        // as in std, and also because loom 0.7 lets a plain store slip between the read
        // and the write of a concurrent swap (tokio-rs/loom#254), which would report a
        // lost request no real memory model allows.
        struct Mailbox {
            queue: AtomicU32,
            state: AtomicU8,
            waker: Mutex<Option<Arc<Parker>>>,
        }
        let mailbox = Arc::new(Mailbox {
            queue: AtomicU32::new(0),
            state: AtomicU8::new(IDLE),
            waker: Mutex::new(None),
        });
        let me = Arc::new(Parker::default());
        let sender = {
            let mailbox = Arc::clone(&mailbox);
            thread::spawn(move || {
                mailbox.queue.swap(7, Ordering::Release);
                let before = if weak {
                    let before = mailbox.state.load(Ordering::Acquire);
                    mailbox.state.store(NOTIFIED, Ordering::Release);
                    before
                } else {
                    mailbox.state.swap(NOTIFIED, Ordering::AcqRel)
                };
                if before == PARKED
                    && let Some(t) = mailbox.waker.lock().unwrap().take()
                {
                    t.unpark();
                }
            })
        };
        // The core's `Recv::poll`, with parking standing in for `Poll::Pending`.
        let got = 'recv: loop {
            loop {
                mailbox.state.swap(IDLE, Ordering::AcqRel);
                let v = mailbox.queue.swap(0, Ordering::Acquire);
                if v != 0 {
                    break 'recv v;
                }
                *mailbox.waker.lock().unwrap() = Some(Arc::clone(&me));
                let before = if weak {
                    let before = mailbox.state.load(Ordering::Acquire);
                    mailbox.state.store(PARKED, Ordering::Release);
                    before
                } else {
                    mailbox.state.swap(PARKED, Ordering::AcqRel)
                };
                if before == NOTIFIED {
                    continue;
                }
                break;
            }
            me.park();
        };
        assert_eq!(got, 7);
        sender.join().unwrap();
    });
}

fn notify_model(weak: bool) {
    loom::model(move || {
        struct Notify {
            version: AtomicU64,
            has_waiters: AtomicBool,
            waiters: Mutex<Vec<Arc<Parker>>>,
        }
        let notify = Arc::new(Notify {
            version: AtomicU64::new(0),
            has_waiters: AtomicBool::new(false),
            waiters: Mutex::new(Vec::new()),
        });
        let me = Arc::new(Parker::default());
        let core = {
            let notify = Arc::clone(&notify);
            thread::spawn(move || {
                if weak {
                    notify.version.store(1, Ordering::Release);
                } else {
                    notify.version.fetch_add(1, Ordering::AcqRel);
                }
                if notify.has_waiters.load(Ordering::Acquire) {
                    let waiters = {
                        let mut list = notify.waiters.lock().unwrap();
                        notify.has_waiters.store(false, Ordering::Release);
                        std::mem::take(&mut *list)
                    };
                    for w in waiters {
                        w.unpark();
                    }
                }
            })
        };
        // The subscriber saw version 0 and found nothing to read.
        let seen = 0;
        {
            let mut list = notify.waiters.lock().unwrap();
            list.push(Arc::clone(&me));
            notify.has_waiters.store(true, Ordering::Release);
        }
        let now = if weak {
            notify.version.load(Ordering::Acquire)
        } else {
            notify.version.fetch_add(0, Ordering::AcqRel)
        };
        if now == seen {
            while notify.version.load(Ordering::Acquire) == seen {
                me.park();
            }
        }
        core.join().unwrap();
    });
}

#[test]
fn reply_never_loses_a_wake_up() {
    reply_model(false);
}

#[test]
#[should_panic(expected = "deadlock")]
fn reply_with_plain_stores_loses_a_wake_up() {
    reply_model(true);
}

#[test]
fn mailbox_never_loses_a_request() {
    mailbox_model(false);
}

#[test]
#[should_panic(expected = "deadlock")]
fn mailbox_with_plain_stores_loses_a_request() {
    mailbox_model(true);
}

#[test]
fn notify_never_loses_a_wake_up() {
    notify_model(false);
}

#[test]
#[should_panic(expected = "deadlock")]
fn notify_with_plain_reads_loses_a_wake_up() {
    notify_model(true);
}
