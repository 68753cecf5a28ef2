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

/// How many CPUs' worth of time this process can get: the CPUs it may run on, capped by
/// a cgroup v2 CPU quota (`cpu.max` of its cgroup and every ancestor, rounded up), since
/// a container limited to one CPU of time on a many-CPU host must not plan as if it had
/// them all.
pub fn usable_cpus() -> usize {
    let allowed = allowed_cpus().len().max(1);
    cgroup_cpu_quota().map_or(allowed, |quota| quota.clamp(1, allowed))
}

/// The tightest cgroup v2 CPU quota over this process's cgroup and its ancestors, in
/// whole CPUs rounded up; `None` without a cgroup v2 hierarchy or without a quota.
fn cgroup_cpu_quota() -> Option<usize> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = membership
        .lines()
        .find_map(|line| line.strip_prefix("0::"))?
        .trim();
    let mut dir = std::path::PathBuf::from("/sys/fs/cgroup");
    let mut best: Option<usize> = None;
    let mut consider = |dir: &std::path::Path| {
        if let Some(cpus) = std::fs::read_to_string(dir.join("cpu.max"))
            .ok()
            .and_then(|text| parse_cpu_max(&text))
        {
            best = Some(best.map_or(cpus, |b: usize| b.min(cpus)));
        }
    };
    consider(&dir);
    for part in path.split('/').filter(|p| !p.is_empty() && *p != "..") {
        dir.push(part);
        consider(&dir);
    }
    best
}

/// `cpu.max`'s "QUOTA PERIOD" as whole CPUs rounded up; `None` for "max" or a bad line.
fn parse_cpu_max(text: &str) -> Option<usize> {
    let mut words = text.split_whitespace();
    let quota: u64 = words.next()?.parse().ok()?;
    let period: u64 = words.next()?.parse().ok().filter(|&p| p > 0)?;
    usize::try_from(quota.div_ceil(period)).ok()
}

/// Waits for a core's reply to a stop request, nudging the core every 50 ms if glommio
/// left it asleep with the request unread (the maintenance thread's liveness backstop
/// is stopped before the cores are, so the waiter does its job here).
fn wait_nudging<T>(wait: reply::Pending<T>, sender: &MailboxSender<Request>) -> Result<T> {
    let mut seen = sender.turns();
    wait.wait_ticking(Duration::from_millis(50), || {
        sender.nudge_if_stuck(seen);
        seen = sender.turns();
    })
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

/// How long one attempt to start a core may take before it is abandoned and retried.
/// A core starts in about a millisecond; under Valgrind, in a few hundred.
const START_ATTEMPT_WAIT: Duration = Duration::from_secs(5);
/// Attempts to start one core before `Engine::open` fails.
const START_ATTEMPTS: usize = 6;

/// What starting a core's thread gave.
enum Started {
    Ready(CoreHandle),
    /// The executor could not be built (io_uring refused): not worth retrying.
    Failed(String),
    /// The core's loop did not run within [`START_ATTEMPT_WAIT`].
    Stuck,
}

/// Spawns a core thread and waits for its loop to run.
fn start_core(i: usize, ctx: Arc<CoreContext>, placement: Placement) -> Result<Started> {
    let (sender, receiver) = mailbox::<Request>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::result::Result<(), String>>();
    let preempt_timer = ctx.preempt_timer;
    let thread = std::thread::Builder::new()
        .name(format!("tidelog-core-{i}"))
        .spawn(move || {
            let executor = LocalExecutorBuilder::new(placement)
                .name(&format!("tidelog-core-{i}"))
                .io_memory(64 << 10)
                .ring_depth(256)
                // glommio polls io_uring only when idle or preempted: under a steady
                // stream of requests this bounds how late a completed fsync is
                // noticed. Caveat (glommio 0.9): if the timer fires between glommio
                // arming it and running its task queues (the thread was descheduled
                // for longer than the timer right there), `run_task_queues` runs
                // nothing and the executor parks, runnable tasks and all, until a
                // timer or a foreign wake. The core loop keeps a timer registered
                // while it is runnable (`core.rs`, `Watchdog`); before the loop first
                // runs there is none, so a start that stalls is retried below.
                .preempt_timer(preempt_timer)
                // Spare segments are prepared on the blocking pool, unbound: it runs
                // on whichever CPU has time to spare. Where a CPU runs no core it does
                // so at the lowest priority, yielding to the core and to callers
                // (`core.rs`, `spare_nice`).
                .blocking_thread_pool_placement(PoolPlacement::Unbound(1))
                .make();
            match executor {
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                }
                Ok(executor) => {
                    // Ready once the core's loop runs, not merely once the executor
                    // exists (see the caveat above).
                    executor.run(async move {
                        let _ = ready_tx.send(Ok(()));
                        self::core::run(ctx, receiver).await
                    });
                }
            }
        })
        .map_err(|e| Error::io("spawn core thread", "tidelog-core", e))?;
    Ok(match ready_rx.recv_timeout(START_ATTEMPT_WAIT) {
        Ok(Ok(())) => Started::Ready(CoreHandle {
            sender,
            thread: Some(thread),
        }),
        Ok(Err(detail)) => {
            let _ = thread.join();
            Started::Failed(detail)
        }
        // Abandoned: dropping the sender closes its mailbox, so if the loop does run
        // later it finds no senders and ends, and the thread exits. A core parked by
        // the glommio caveat stays asleep (a thread and its rings are leaked).
        Err(_) => Started::Stuck,
    })
}

impl Runtime {
    /// Starts one core per context, pinned to `cpus[i]` when given. A core whose loop
    /// does not run in time is abandoned and started again (see [`start_core`]).
    pub fn start(contexts: Vec<Arc<CoreContext>>, cpus: Option<&[usize]>) -> Result<Self> {
        let mut cores = Vec::with_capacity(contexts.len());
        for (i, ctx) in contexts.into_iter().enumerate() {
            let placement = || match cpus.and_then(|c| c.get(i)) {
                Some(&cpu) => Placement::Fixed(cpu),
                None => Placement::Unbound,
            };
            let mut outcome = Started::Stuck;
            for _ in 0..START_ATTEMPTS {
                outcome = start_core(i, Arc::clone(&ctx), placement())?;
                if !matches!(outcome, Started::Stuck) {
                    break;
                }
            }
            match outcome {
                Started::Ready(core) => cores.push(core),
                Started::Failed(detail) => {
                    let mut partial = Self { cores };
                    let _ = partial.shutdown();
                    return Err(envcheck::executor_failed(detail));
                }
                Started::Stuck => {
                    let mut partial = Self { cores };
                    let _ = partial.shutdown();
                    return Err(envcheck::executor_failed(format!(
                        "core {i} did not start in {START_ATTEMPTS} attempts of {START_ATTEMPT_WAIT:?}"
                    )));
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

    /// Stops every core as a crash would (no sync, no close); waits for them.
    pub fn abandon(&mut self) {
        let mut pending = Vec::new();
        for core in &self.cores {
            let (reply, wait) = reply::channel();
            if core.sender.send(Request::Abandon { reply }).is_ok() {
                pending.push((wait, &core.sender));
            }
        }
        for (wait, sender) in pending {
            let _ = wait_nudging(wait, sender);
        }
        for core in &mut self.cores {
            if let Some(thread) = core.thread.take() {
                let _ = thread.join();
            }
        }
    }

    /// Asks every core to sync, close its logs and stop; waits for them.
    pub fn shutdown(&mut self) -> Result<()> {
        let mut pending = Vec::new();
        for core in &self.cores {
            let (reply, wait) = reply::channel();
            if core.sender.send(Request::Shutdown { reply }).is_ok() {
                pending.push((wait, &core.sender));
            }
        }
        let mut first_error = None;
        for (wait, sender) in pending {
            if let Err(e) = wait_nudging(wait, sender) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_max_lines() {
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max("100000 100000\n"), Some(1));
        assert_eq!(parse_cpu_max("150000 100000"), Some(2));
        assert_eq!(parse_cpu_max("50000 100000"), Some(1));
        assert_eq!(parse_cpu_max("400000 100000"), Some(4));
        assert_eq!(parse_cpu_max("100000 0"), None);
        assert_eq!(parse_cpu_max("garbage"), None);
        assert_eq!(parse_cpu_max(""), None);
    }

    #[test]
    fn usable_cpus_within_allowed() {
        let usable = usable_cpus();
        assert!(usable >= 1 && usable <= allowed_cpus().len().max(1));
    }
}
