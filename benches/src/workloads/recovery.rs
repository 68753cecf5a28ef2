//! Recovery: a child process of the bench (`__crash-writer`) writes `os` puts until
//! `--recovery-gib` GiB of log exist and keeps writing; the bench kills it with SIGKILL
//! mid-write and times `Engine::open` on what it left (the torn tails are checked and
//! cut), then a clean close and a second open. The log's pages are still in the page
//! cache (warm open: the bench does not drop caches, which needs root and disturbs
//! the whole machine).
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{Ctx, Result};

/// Shards the crash writer spreads its records over.
const CRASH_SHARDS: u32 = 4;
/// How long the writer keeps writing after saying `ready`, before the kill.
const WRITE_ON: Duration = Duration::from_millis(50);
/// Longest the writer may go without a line (`progress` every 16 MiB, then `ready`)
/// before the bench gives up on it as stalled.
const STALL_MAX: Duration = Duration::from_secs(60);

/// Runs the crash and the timed opens.
pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let gib = ctx.args.recovery_gib;
    let dir = ctx.case_dir("recovery")?;
    ctx.progress(&format!("child writes {gib} GiB, then SIGKILL"));
    let mut child = ctx.spawn_child(
        Command::new(std::env::current_exe()?)
            .arg("__crash-writer")
            .arg(dir.path())
            .arg(gib.to_string())
            .arg(CRASH_SHARDS.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit()),
    )?;
    let stdout = child
        .stdout
        .take()
        .ok_or("no stdout from the crash writer")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let ready = loop {
        match rx.recv_timeout(STALL_MAX) {
            Ok(line) if line.starts_with("ready") => break Ok(line),
            Ok(_) => continue,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                break Err(format!(
                    "the crash writer made no progress for {} s (engine stalled?)",
                    STALL_MAX.as_secs()
                ));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err("the crash writer stopped before it said ready".to_string());
            }
        }
    };
    if ready.is_ok() {
        std::thread::sleep(WRITE_ON);
    }
    // Child::kill sends SIGKILL: no destructor, no close, no sync runs in the child.
    let _ = child.kill();
    let status = child.wait()?;
    ready.map_err(|e| format!("{e} (exit status {status})"))?;
    let write_s = started.elapsed().as_secs_f64();
    let (allocated, _) = crate::sys::disk_usage(dir.path());
    ctx.progress(&format!(
        "killed after {write_s:.1} s ({status}); {:.2} GiB on disk; opening",
        allocated as f64 / (1u64 << 30) as f64
    ));
    let config = ctx.engine_config(dir.path());
    let t = Instant::now();
    let engine = ctx.open_engine(config.clone())?;
    let open_after_kill_ns = t.elapsed().as_nanos() as f64;
    engine.close()?;
    drop(engine);
    let t = Instant::now();
    let engine = ctx.open_engine(config)?;
    let open_after_close_ns = t.elapsed().as_nanos() as f64;
    engine.close()?;
    ctx.report.figure(
        "recovery",
        "recovery.log_bytes",
        "log on disk at the kill",
        allocated as f64,
        "bytes",
    );
    ctx.report.figure(
        "recovery",
        "recovery.open_after_kill_ns",
        format!("Engine::open after SIGKILL, {CRASH_SHARDS} shards (warm cache)"),
        open_after_kill_ns,
        "ns",
    );
    ctx.report.figure(
        "recovery",
        "recovery.open_after_close_ns",
        "Engine::open after a clean close",
        open_after_close_ns,
        "ns",
    );
    Ok(())
}
