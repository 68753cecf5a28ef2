//! What the bench reads from and asks of the operating system: CPU time of the
//! process (from `/proc`, nanosecond resolution), memory (anonymous and file-backed
//! resident pages), open descriptors, disk use under a directory, CPU pinning, the
//! round trip between two CPUs, and the open-file limit.
#![forbid(unsafe_code)]

use std::path::Path;

/// CPU time used so far by every live thread of this process, ns (sum of the first
/// field of `/proc/self/task/*/schedstat`). Threads that exited are not counted, so
/// measure windows while the threads that work are alive.
pub fn process_cpu_ns() -> u64 {
    cpu_ns_of("/proc/self")
}

/// [`process_cpu_ns`] of another process (a server the bench started), by pid; 0 when
/// it cannot be read.
pub fn process_cpu_ns_of(pid: u32) -> u64 {
    cpu_ns_of(&format!("/proc/{pid}"))
}

fn cpu_ns_of(proc_dir: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir(Path::new(proc_dir).join("task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Page faults of this process so far, minor and major (`/proc/self/stat` fields 10
/// and 12; threads that exited still count).
pub fn page_faults() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces: count fields after its ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some((fields.get(7)?.parse().ok()?, fields.get(9)?.parse().ok()?))
}

/// A field of `/proc/self/status` in bytes (those lines are in kB).
pub fn status_bytes(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kib: u64 = rest.split_whitespace().next()?.parse().ok()?;
        Some(kib * 1024)
    })
}

/// Resident anonymous memory of this process, bytes: RSS minus file-backed and shared
/// pages (`RssAnon`).
pub fn anon_rss_bytes() -> Option<u64> {
    status_bytes("RssAnon")
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Bytes of disk allocated under `dir` (blocks), and the files' apparent sizes.
pub fn disk_usage(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut allocated = 0;
    let mut apparent = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                allocated += meta.blocks() * 512;
                apparent += meta.len();
            }
        }
    }
    (allocated, apparent)
}

/// The CPUs this process may use, in order (the engine pins core `i` to the `i`-th),
/// as they were at the first call: call it before pinning any thread (the bench's
/// entry point does), since the affinity read is the calling thread's.
pub fn allowed_cpus() -> Vec<usize> {
    static AT_START: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
    AT_START.get_or_init(tidelog::runtime::allowed_cpus).clone()
}

/// Runs `f` with the calling thread allowed on every CPU again, then pins it back to
/// `pinned_to` (if not empty). For what inherits or reads the calling thread's
/// affinity: `Engine::open` (it pins its cores to the CPUs the caller may use) and
/// child processes.
pub fn with_all_cpus<R>(pinned_to: &[usize], f: impl FnOnce() -> R) -> R {
    unpin_current_thread();
    let result = f();
    pin_current_thread(pinned_to);
    result
}

/// The CPUs left to the bench's own threads when `cores` engine cores are pinned: the
/// ones after the cores' (empty if the cores take every CPU).
pub fn free_cpus(cores: usize) -> Vec<usize> {
    allowed_cpus().into_iter().skip(cores).collect()
}

/// Pins the calling thread to `cpus` (no-op if empty). Best effort.
pub fn pin_current_thread(cpus: &[usize]) {
    if cpus.is_empty() {
        return;
    }
    let mut set = rustix::thread::CpuSet::new();
    for &cpu in cpus {
        set.set(cpu);
    }
    let _ = rustix::thread::sched_setaffinity(None, &set);
}

/// The CPU-to-CPU round trip between CPUs `a` and `b`: two threads pinned there pass
/// a counter back and forth through one atomic (both spinning) for `span`; returns the
/// mean round trip, ns, of each batch of `batch` round trips. No engine is involved: on
/// a VM it moves with where the host places the virtual CPUs (docs/benchmarks.md).
pub fn cpu_round_trips(a: usize, b: usize, span: std::time::Duration, batch: u64) -> Vec<u64> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let ball = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            pin_current_thread(&[b]);
            while !stop.load(Ordering::Relaxed) {
                let now = ball.load(Ordering::Acquire);
                if now % 2 == 1 {
                    ball.store(now + 1, Ordering::Release);
                }
                std::hint::spin_loop();
            }
        });
        let player = scope.spawn(|| {
            pin_current_thread(&[a]);
            let start = std::time::Instant::now();
            let mut next = 1u64;
            let mut means = Vec::new();
            while start.elapsed() < span {
                let began = std::time::Instant::now();
                for _ in 0..batch {
                    ball.store(next, Ordering::Release);
                    while ball.load(Ordering::Acquire) != next + 1 {
                        std::hint::spin_loop();
                    }
                    next += 2;
                }
                means.push(began.elapsed().as_nanos() as u64 / batch.max(1));
            }
            stop.store(true, Ordering::Relaxed);
            means
        });
        player.join().unwrap_or_default()
    })
}

/// Lets the calling thread run on every allowed CPU again.
pub fn unpin_current_thread() {
    pin_current_thread(&allowed_cpus());
}

/// Writes back the dirty pages of the file system holding `dir` (syncfs), so one
/// workload's writeback does not land in the next one's measurements.
pub fn settle(dir: &Path) -> std::io::Result<()> {
    let handle = std::fs::File::open(dir)?;
    rustix::fs::syncfs(&handle).map_err(std::io::Error::from)
}

/// Raises the open-file limit as far as allowed (the engine holds descriptors per
/// shard); returns the soft limit in force afterwards.
pub fn raise_open_file_limit(wanted: u64) -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    let current = now.current.unwrap_or(u64::MAX);
    if current >= wanted {
        return Some(current);
    }
    // Raising the hard limit needs privileges; try, then fall back to the hard limit.
    let raised = Rlimit {
        current: Some(wanted),
        maximum: Some(now.maximum.map_or(wanted, |m| m.max(wanted))),
    };
    if setrlimit(Resource::Nofile, raised).is_err() {
        let capped = Rlimit {
            current: now.maximum,
            maximum: now.maximum,
        };
        let _ = setrlimit(Resource::Nofile, capped);
    }
    getrlimit(Resource::Nofile).current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let before = process_cpu_ns();
        // Work the optimizer cannot fold (each step goes through black_box), for at least
        // 20 ms of wall time and until the process's CPU time has moved (at most 30 s).
        // Not a fixed span: the sum is over the threads alive when it is read, and a
        // test finishing on another harness thread meanwhile takes its thread's time
        // out of it, so on a loaded machine 20 ms of this thread's work may not cover it.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        let grew = loop {
            for i in 0..10_000u64 {
                x = x.wrapping_add(std::hint::black_box(i).wrapping_mul(i));
            }
            if start.elapsed() >= std::time::Duration::from_millis(20) {
                let grew = process_cpu_ns() > before;
                if grew || start.elapsed() >= std::time::Duration::from_secs(30) {
                    break grew;
                }
            }
        };
        std::hint::black_box(x);
        assert!(grew, "CPU time grows while working");
        assert!(anon_rss_bytes().is_some_and(|b| b > 0));
        assert!(open_fds() >= 3);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), vec![1u8; 10_000]).unwrap();
        let (allocated, apparent) = disk_usage(dir.path());
        assert_eq!(apparent, 10_000);
        assert!(allocated >= 8192, "{allocated}");
    }
}
