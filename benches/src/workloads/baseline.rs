//! Baselines, measured in the same run as tidelog so ratios compare like with like:
//! - the raw device: overwrite a record-sized piece of a pre-written, synced block,
//!   then fdatasync (no metadata changes: the least a durable write can cost here);
//! - what a user would write by hand: append each record to a file with write() and
//!   fdatasync() it, one thread (the file grows, so the journal works too);
//! - the same without the fdatasync: write() alone, the by-hand `os` durability.
#![forbid(unsafe_code)]

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use super::{Ctx, Result, time_loop};
use crate::pace::Pace;
use crate::report::Row;

/// Blocks of the raw-device file, each 4 KiB, overwritten in turn.
const RAW_BLOCKS: u64 = 256;

/// Runs the three baselines.
pub fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let record_bytes = ctx.args.record_bytes.unwrap_or(1024);
    let record = vec![0x5Au8; record_bytes];
    let dir = ctx.case_dir("baseline")?;
    let (warmup, duration) = (
        ctx.args.warmup,
        ctx.args.duration.max(Duration::from_millis(1)),
    );

    ctx.progress("raw device: overwrite + fdatasync");
    let raw_path = dir.path().join("raw.bin");
    let raw = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&raw_path)?;
    let stride = (record_bytes as u64).div_ceil(4096) * 4096;
    raw.write_all_at(&vec![0u8; (stride * RAW_BLOCKS) as usize], 0)?;
    raw.sync_all()?;
    let mut i = 0u64;
    let timed = time_loop(Pace::Closed, warmup, duration, Duration::ZERO, |_| {
        raw.write_all_at(&record, (i % RAW_BLOCKS) * stride)?;
        raw.sync_data()?;
        i += 1;
        Ok(())
    })?;
    ctx.report.row(Row {
        key: "baseline.raw_device".into(),
        workload: "baseline",
        case: format!("raw device: pwrite {record_bytes} B over a written block + fdatasync"),
        mode: Pace::Closed.describe(),
        seconds: timed.seconds,
        ops: timed.ops,
        records: timed.ops,
        data_bytes: timed.ops * record_bytes as u64,
        cpu_ns: Some(timed.cpu_ns),
        latency: timed.latency,
    });
    drop(raw);

    for (key, label, sync) in [
        (
            "baseline.by_hand_sync",
            "by hand: append write() + fdatasync, 1 thread",
            true,
        ),
        (
            "baseline.by_hand_write",
            "by hand: append write(), no sync, 1 thread",
            false,
        ),
    ] {
        ctx.progress(label);
        let path = dir.path().join(format!("{key}.log"));
        let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
        let timed = time_loop(Pace::Closed, warmup, duration, Duration::ZERO, |_| {
            file.write_all(&record)?;
            if sync {
                file.sync_data()?;
            }
            Ok(())
        })?;
        ctx.report.row(Row {
            key: key.into(),
            workload: "baseline",
            case: format!("{label}, {record_bytes} B"),
            mode: Pace::Closed.describe(),
            seconds: timed.seconds,
            ops: timed.ops,
            records: timed.ops,
            data_bytes: timed.ops * record_bytes as u64,
            cpu_ns: Some(timed.cpu_ns),
            latency: timed.latency,
        });
    }
    Ok(())
}
