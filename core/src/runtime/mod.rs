//! The thread-per-core runtime: one glommio executor per core, pinned to a CPU, each
//! owning a set of shards; requests reach a core through its mailbox.
//!
//! Invariants: a shard lives on exactly one core for the engine's life; only that core
//! writes its log. A core thread never blocks on another core. Executors are built in
//! threads of our own (`LocalExecutorBuilder::make`) so a failure to create one (io_uring
//! refused) is an error the engine reports, not a panic.
#![forbid(unsafe_code)]

pub mod core;
pub mod envcheck;
pub mod mailbox;
pub mod reply;
pub mod timer;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use glommio::{LocalExecutorBuilder, Placement, PoolPlacement};

use self::core::{CoreContext, Request};
use self::mailbox::{MailboxSender, mailbox};
use crate::error::{Error, Result};

/// When a put is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Durability {
    /// After an io_uring fdatasync covering the record completed (group commit:
    /// concurrent puts on a core share fsyncs). Survives power loss.
    #[default]
    Sync,
    /// Once the record is in the page cache. Survives a crash of the process, not a
    /// power loss or a kernel crash.
    Os,
}

/// How a core makes a group commit durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SyncDriver {
    /// fdatasync through io_uring (glommio): the core keeps serving requests while the
    /// flush runs, and the flushes of different shards overlap. Each flush costs two
    /// thread wake-ups (the io_uring worker, then the core), which on a VM like the
    /// one measured here (~50 µs per wake-up) makes a lone sync put ~2x the raw device.
    #[default]
    IoUring,
    /// fdatasync called by the core thread itself: no wake-ups beyond the disk's, so a
    /// lone sync put costs what the device costs, but the core serves nothing else
    /// while the flush runs and flushes of its shards do not overlap.
    Blocking,
}

/// The CPUs this process may run on, in order.
pub fn allowed_cpus() -> Vec<usize> {
    match rustix::thread::sched_getaffinity(None) {
        Ok(set) => (0..rustix::thread::CpuSet::MAX_CPU)
            .filter(|&cpu| set.is_set(cpu))
            .collect(),
        Err(_) => (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect(),
    }
}

struct CoreHandle {
    sender: MailboxSender<Request>,
    thread: Option<JoinHandle<()>>,
}

/// The running cores.
pub struct Runtime {
    cores: Vec<CoreHandle>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("cores", &self.cores.len())
            .finish()
    }
}

impl Runtime {
    /// Starts one core per context, pinned to `cpus[i]` when given.
    pub fn start(contexts: Vec<Arc<CoreContext>>, cpus: Option<&[usize]>) -> Result<Self> {
        let mut cores = Vec::with_capacity(contexts.len());
        for (i, ctx) in contexts.into_iter().enumerate() {
            let (sender, receiver) = mailbox::<Request>();
            let placement = match cpus.and_then(|c| c.get(i)) {
                Some(&cpu) => Placement::Fixed(cpu),
                None => Placement::Unbound,
            };
            let (ready_tx, ready_rx) =
                std::sync::mpsc::channel::<std::result::Result<(), String>>();
            let preempt_timer = ctx.preempt_timer;
            let thread = std::thread::Builder::new()
                .name(format!("tidelog-core-{i}"))
                .spawn(move || {
                    let executor = LocalExecutorBuilder::new(placement)
                        .name(&format!("tidelog-core-{i}"))
                        .io_memory(64 << 10)
                        .ring_depth(256)
                        // glommio polls io_uring only when idle or preempted: under a
                        // steady stream of requests this bounds how late a completed
                        // fsync is noticed. Caveat (glommio 0.9): if the timer fires
                        // between glommio arming it and running its first task queue,
                        // `run_task_queues` runs nothing and the executor parks with
                        // no timer even though tasks are runnable; only a foreign wake
                        // gets it out. A thread stalled longer than the timer at that
                        // point (Valgrind translating code, an overloaded host) hits
                        // it, hence the setting.
                        .preempt_timer(preempt_timer)
                        // Spare segments are zero-filled on the blocking pool: keep that
                        // work off the core's own CPU.
                        .blocking_thread_pool_placement(PoolPlacement::Unbound(1))
                        .make();
                    match executor {
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                        }
                        Ok(executor) => {
                            // Ready once the core's loop runs, not merely once the
                            // executor exists: a core that never starts (the glommio
                            // caveat above) fails `Engine::open` after the timeout
                            // below instead of hanging the first request sent to it.
                            executor.run(async move {
                                let _ = ready_tx.send(Ok(()));
                                self::core::run(ctx, receiver).await
                            });
                        }
                    }
                })
                .map_err(|e| Error::io("spawn core thread", "tidelog-core", e))?;
            let started = ready_rx.recv_timeout(Duration::from_secs(30));
            match started {
                Ok(Ok(())) => cores.push(CoreHandle {
                    sender,
                    thread: Some(thread),
                }),
                Ok(Err(detail)) => {
                    let _ = thread.join();
                    let mut partial = Self { cores };
                    let _ = partial.shutdown();
                    return Err(envcheck::executor_failed(detail));
                }
                Err(_) => {
                    let mut partial = Self { cores };
                    let _ = partial.shutdown();
                    return Err(envcheck::executor_failed(
                        "the core thread did not start".to_string(),
                    ));
                }
            }
        }
        Ok(Self { cores })
    }

    /// Number of cores.
    pub fn len(&self) -> usize {
        self.cores.len()
    }

    /// True if no core runs.
    pub fn is_empty(&self) -> bool {
        self.cores.is_empty()
    }

    /// The mailbox of core `i`.
    pub fn core(&self, i: usize) -> &MailboxSender<Request> {
        &self.cores[i % self.cores.len()].sender
    }

    /// Asks every core to sync, close its logs and stop; waits for them.
    pub fn shutdown(&mut self) -> Result<()> {
        let mut pending = Vec::new();
        for core in &self.cores {
            let (reply, wait) = reply::channel();
            if core.sender.send(Request::Shutdown { reply }).is_ok() {
                pending.push(wait);
            }
        }
        let mut first_error = None;
        for wait in pending {
            if let Err(e) = wait.wait(Duration::ZERO) {
                first_error.get_or_insert(e);
            }
        }
        for core in &mut self.cores {
            if let Some(thread) = core.thread.take() {
                let _ = thread.join();
            }
        }
        match first_error {
            Some(Error::Closed) | None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
