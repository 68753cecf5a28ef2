//! The part of a shard that every thread shares: its reader, counters, read limits,
//! state, and the notification that wakes subscribers when new records commit.
//!
//! Invariants: only the owning core changes the log; other threads read through the
//! `LogReader` and the atomics here. `Notify::notify` is called by the core after the
//! records it announces are published, so a woken subscriber always finds them.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::thread::Thread;

use super::catalog::ShardState;
use super::metrics::ShardCounters;
use super::throttle::ReadLimiter;
use crate::log::{LogReader, RecoveryReport};

/// Something waiting for new records.
#[derive(Debug)]
pub enum NotifyWaiter {
    /// A parked thread.
    Thread(Thread),
    /// A task of some executor.
    Task(Waker),
}

/// A version counter plus the waiters to wake when it moves.
///
/// No wake-up is lost: a waiter registers (under the lock, then sets `has_waiters`) and
/// only then reads the version with a read-modify-write; the notifier moves the version
/// with a read-modify-write and then looks at `has_waiters`. Both RMWs act on one
/// location, so one reads the other's value: if the waiter's comes first, the
/// notifier's acquires it and sees `has_waiters` (and the waiter in the list); if the
/// notifier's comes first, the waiter sees the new version and does not sleep.
/// `core/tests/loom_models.rs` checks this handshake.
#[derive(Debug, Default)]
pub struct Notify {
    version: AtomicU64,
    has_waiters: AtomicBool,
    waiters: Mutex<Vec<NotifyWaiter>>,
}

impl Notify {
    /// The current version (a plain load: good for polling, not for deciding to sleep;
    /// use the value [`register`](Self::register) returns for that).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Registers a waiter (once: a thread or task already registered is not added
    /// again, so repeated waits stay bounded) and returns the version as of the
    /// registration. If it still equals the version the caller saw before, the caller
    /// may sleep: any later `notify` wakes it.
    pub fn register(&self, waiter: NotifyWaiter) -> u64 {
        {
            let mut list = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            let same = |w: &NotifyWaiter| match (w, &waiter) {
                (NotifyWaiter::Thread(a), NotifyWaiter::Thread(b)) => a.id() == b.id(),
                (NotifyWaiter::Task(a), NotifyWaiter::Task(b)) => a.will_wake(b),
                _ => false,
            };
            match list.iter().position(same) {
                Some(i) => list[i] = waiter,
                None => list.push(waiter),
            }
            self.has_waiters.store(true, Ordering::Release);
        }
        self.version.fetch_add(0, Ordering::AcqRel)
    }

    /// Moves the version and wakes everyone registered (cheap when nobody is).
    pub fn notify(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
        if self.has_waiters.load(Ordering::Acquire) {
            let waiters = {
                let mut list = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
                self.has_waiters.store(false, Ordering::Release);
                std::mem::take(&mut *list)
            };
            for waiter in waiters {
                match waiter {
                    NotifyWaiter::Thread(t) => t.unpark(),
                    NotifyWaiter::Task(w) => w.wake(),
                }
            }
        }
    }
}

/// A stream's retention, shared by its shards.
#[derive(Debug, Default)]
pub struct Retention {
    /// The retention period, ms.
    pub period_ms: AtomicU64,
    /// Records that arrived before this time (ms) stay hidden even if the period is
    /// raised later: raising retention never brings expired data back.
    pub floor_ms: AtomicU64,
}

impl Retention {
    /// A retention of `period_ms` with a floor.
    pub fn new(period_ms: u64, floor_ms: u64) -> Self {
        Self {
            period_ms: AtomicU64::new(period_ms),
            floor_ms: AtomicU64::new(floor_ms),
        }
    }

    /// The oldest arrival time still readable at `now_ms`.
    pub fn cutoff_ms(&self, now_ms: u64) -> u64 {
        now_ms
            .saturating_sub(self.period_ms.load(Ordering::Acquire))
            .max(self.floor_ms.load(Ordering::Acquire))
    }
}

/// A shard as all threads see it.
#[derive(Debug)]
pub struct ShardShared {
    /// The stream's numeric id.
    pub stream_id: u64,
    /// The stream's name.
    pub stream_name: Arc<str>,
    /// The shard's index.
    pub index: u32,
    /// The shard id (`shardId-...`).
    pub shard_id: String,
    /// The core that owns it.
    pub core: usize,
    /// Reads without going through the core.
    pub reader: LogReader,
    /// Metrics.
    pub counters: ShardCounters,
    /// Read limits, shared by reader threads.
    pub read_limiter: Mutex<ReadLimiter>,
    /// Woken when records commit.
    pub notify: Notify,
    /// The stream's retention (shared by all its shards).
    pub retention: Arc<Retention>,
    /// What recovery found when the shard's log was opened.
    pub recovery: RecoveryReport,
    state: AtomicU8,
    /// Closes and reopens so far (see [`openings`](Self::openings)).
    openings: AtomicU64,
    ending_seq: Mutex<Option<u128>>,
    /// The stream's largest record: the write bucket holds at least this many bytes,
    /// so a large record can burst past the per-second rate (set by the engine).
    write_burst_bytes: AtomicU64,
}

impl ShardShared {
    /// A shared shard record.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        stream_id: u64,
        stream_name: Arc<str>,
        index: u32,
        core: usize,
        reader: LogReader,
        read_limiter: ReadLimiter,
        retention: Arc<Retention>,
        state: ShardState,
        ending_seq: Option<u128>,
        recovery: RecoveryReport,
    ) -> Self {
        Self {
            stream_id,
            stream_name,
            index,
            shard_id: super::names::shard_id(index),
            core,
            reader,
            counters: ShardCounters::default(),
            read_limiter: Mutex::new(read_limiter),
            notify: Notify::default(),
            retention,
            recovery,
            state: AtomicU8::new(state_code(state)),
            openings: AtomicU64::new(0),
            ending_seq: Mutex::new(ending_seq),
            write_burst_bytes: AtomicU64::new(0),
        }
    }

    /// Sets the stream's largest record (see the field's doc).
    pub fn set_write_burst_bytes(&self, bytes: u64) {
        self.write_burst_bytes.store(bytes, Ordering::Relaxed);
    }

    /// The stream's largest record, bytes (0 until the engine sets it).
    pub fn write_burst_bytes(&self) -> u64 {
        self.write_burst_bytes.load(Ordering::Relaxed)
    }

    /// Open, closed or expired.
    pub fn state(&self) -> ShardState {
        match self.state.load(Ordering::Acquire) {
            0 => ShardState::Open,
            1 => ShardState::Closed,
            _ => ShardState::Expired,
        }
    }

    /// How many times the shard was closed or reopened (changed on the core, before
    /// the state). A PutRecords whose records reach the shard in several requests
    /// sends the value it saw with each, and the core refuses a request made before a
    /// change: if one of its requests met the shard closed, none of the later ones is
    /// appended before it is (a reopen in between cannot reorder the call's records).
    pub fn openings(&self) -> u64 {
        self.openings.load(Ordering::Acquire)
    }

    /// Marks the shard closed at `ending_seq` (its last record, or its start if empty).
    pub fn close(&self, ending_seq: u128) {
        self.openings.fetch_add(1, Ordering::AcqRel);
        *self.ending_seq.lock().unwrap_or_else(|p| p.into_inner()) = Some(ending_seq);
        self.state
            .store(state_code(ShardState::Closed), Ordering::Release);
        self.notify.notify();
    }

    /// Undoes [`close`](Self::close) (a reshard that could not be committed).
    pub fn reopen(&self) {
        self.openings.fetch_add(1, Ordering::AcqRel);
        *self.ending_seq.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.state
            .store(state_code(ShardState::Open), Ordering::Release);
        self.notify.notify();
    }

    /// Marks the shard expired.
    pub fn expire(&self) {
        self.state
            .store(state_code(ShardState::Expired), Ordering::Release);
        self.notify.notify();
    }

    /// The last sequence number of a closed shard.
    pub fn ending_seq(&self) -> Option<u128> {
        *self.ending_seq.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn state_code(state: ShardState) -> u8 {
    match state {
        ShardState::Open => 0,
        ShardState::Closed => 1,
        ShardState::Expired => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_wakes_registered_threads() {
        let notify = Arc::new(Notify::default());
        let v0 = notify.version();
        let n = Arc::clone(&notify);
        let waiter = std::thread::spawn(move || {
            n.register(NotifyWaiter::Thread(std::thread::current()));
            while n.version() == v0 {
                std::thread::park();
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(5));
        notify.notify();
        waiter.join().unwrap();
        assert_eq!(notify.version(), v0 + 1);
    }
}
