//! `tidelog dump` and `tidelog verify`: offline, read-only walks of a data directory.
//! The catalog names the streams and shards; each shard directory is inspected by
//! `tidelog::log::inspect` (nothing is written or locked, so a running server's
//! directory can be read too, its newest bytes possibly seen mid-write).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use clap::Args;
use tidelog::io::FsStorage;
use tidelog::log::inspect::{Finding, InspectReport, inspect_dir};
use tidelog::stream::catalog::{self, ShardState};
use tidelog::stream::names::shard_id;

use super::{EXIT_FAILED, EXIT_OK, EXIT_REPAIRABLE, EXIT_UNREACHABLE, Style, error};

/// `tidelog dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// The data directory.
    pub data_dir: PathBuf,
    /// Only this stream.
    #[arg(long)]
    pub stream: Option<String>,
    /// Only this shard (with --stream).
    #[arg(long, requires = "stream")]
    pub shard: Option<String>,
    /// Print every record (sequence number, arrival time, key, data size and start).
    #[arg(long)]
    pub records: bool,
}

/// `tidelog verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The data directory.
    pub data_dir: PathBuf,
}

/// A shard directory to inspect.
struct ShardDir {
    stream: String,
    shard: String,
    state: &'static str,
    dir: PathBuf,
}

fn shard_dirs(data_dir: &Path) -> Result<Vec<ShardDir>, String> {
    let data = match catalog::load(&FsStorage::new(), data_dir) {
        Ok(Some(Ok(data))) => data,
        Ok(Some(Err(e))) => {
            return Err(format!(
                "{}: the catalog is damaged: {e:?}",
                data_dir.join(catalog::CATALOG_FILE).display()
            ));
        }
        Ok(None) => {
            return Err(format!(
                "{} is not a tidelog data directory (no catalog)",
                data_dir.display()
            ));
        }
        Err(e) => return Err(format!("cannot read {}: {e}", data_dir.display())),
    };
    let mut out = Vec::new();
    for stream in &data.streams {
        for shard in &stream.shards {
            if shard.state == ShardState::Expired {
                continue;
            }
            out.push(ShardDir {
                stream: stream.name.clone(),
                shard: shard_id(shard.index),
                state: match shard.state {
                    ShardState::Open => "open",
                    ShardState::Closed => "closed",
                    ShardState::Expired => "expired",
                },
                dir: data_dir
                    .join("streams")
                    .join(format!("{:016x}", stream.id))
                    .join(format!("{:012}", shard.index)),
            });
        }
    }
    Ok(out)
}

fn preview(data: &[u8]) -> String {
    let head = &data[..data.len().min(48)];
    let text = String::from_utf8_lossy(head).escape_debug().to_string();
    if data.len() > head.len() {
        format!("{text}…")
    } else {
        text
    }
}

/// Runs `tidelog dump`.
pub fn run_dump(args: DumpArgs, style: Style) -> u8 {
    let dirs = match shard_dirs(&args.data_dir) {
        Ok(d) => d,
        Err(e) => {
            error(&style, e);
            return EXIT_UNREACHABLE;
        }
    };
    let mut problems = 0;
    let mut matched = false;
    for shard in dirs {
        if args.stream.as_ref().is_some_and(|s| *s != shard.stream)
            || args.shard.as_ref().is_some_and(|s| *s != shard.shard)
        {
            continue;
        }
        matched = true;
        println!(
            "{} {} ({}) {}",
            style.bold(&shard.stream),
            style.cyan(&shard.shard),
            shard.state,
            style.dim(&shard.dir.display().to_string())
        );
        let records = args.records;
        let result = inspect_dir(&shard.dir, &mut |f| {
            if records {
                println!(
                    "    {}  {}  {}  {} bytes  {}",
                    style.dim(&f.info.seq.to_string()),
                    f.info.timestamp_ms,
                    style.cyan(&String::from_utf8_lossy(f.key)),
                    f.data.len(),
                    preview(f.data)
                );
            }
        });
        match result {
            Ok(report) => {
                for s in &report.segments {
                    let (lo, hi) = s
                        .seq_range
                        .map_or(("-".to_string(), "-".to_string()), |(a, b)| {
                            (a.to_string(), b.to_string())
                        });
                    let checkpoint = match s.checkpoint {
                        Some((2, end)) => format!("sealed at {end}"),
                        Some((3, end)) => format!("closed cleanly at {end}"),
                        Some((_, end)) => format!("durable to {end}"),
                        None => "no checkpoint".to_string(),
                    };
                    println!(
                        "  segment {}: {} frames, {} payload bytes, sequence {lo}..{hi}, ends at {} of {} ({checkpoint})",
                        s.path
                            .file_name()
                            .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
                        s.frames,
                        s.payload_bytes,
                        s.end_offset,
                        s.file_bytes
                    );
                }
                for f in &report.findings {
                    problems += 1;
                    println!("  {}", describe(&style, f));
                }
            }
            Err(e) => {
                problems += 1;
                error(&style, format!("{}: {e}", shard.dir.display()));
            }
        }
    }
    if !matched && (args.stream.is_some() || args.shard.is_some()) {
        error(&style, "no such stream or shard in the catalog");
        return EXIT_FAILED;
    }
    if problems > 0 { EXIT_FAILED } else { EXIT_OK }
}

fn describe(style: &Style, finding: &Finding) -> String {
    match finding {
        Finding::Corruption { .. } => style.red(&finding.to_string()),
        _ => style.yellow(&finding.to_string()),
    }
}

/// Runs `tidelog verify`.
pub fn run_verify(args: VerifyArgs, style: Style) -> u8 {
    let dirs = match shard_dirs(&args.data_dir) {
        Ok(d) => d,
        Err(e) => {
            error(&style, e);
            return EXIT_UNREACHABLE;
        }
    };
    let total = dirs.len();
    let (mut frames, mut corrupt, mut repairable, mut unreadable) = (0u64, 0, 0, 0);
    for (i, shard) in dirs.iter().enumerate() {
        style.progress(&format!(
            "verifying shard {}/{total}: {} {}",
            i + 1,
            shard.stream,
            shard.shard
        ));
        let report: InspectReport = match inspect_dir(&shard.dir, &mut |_| {}) {
            Ok(r) => r,
            Err(e) => {
                unreadable += 1;
                style.progress_done();
                error(
                    &style,
                    format!(
                        "{} {}: {}: {e}",
                        shard.stream,
                        shard.shard,
                        shard.dir.display()
                    ),
                );
                continue;
            }
        };
        frames += report.segments.iter().map(|s| s.frames).sum::<u64>();
        for f in &report.findings {
            style.progress_done();
            println!("{} {}: {}", shard.stream, shard.shard, describe(&style, f));
            if f.is_corruption() {
                corrupt += 1;
            } else {
                repairable += 1;
            }
        }
    }
    style.progress_done();
    let summary = format!(
        "{total} shards, {frames} records checked: {corrupt} corrupt, {repairable} torn tails or unknown files, {unreadable} unreadable"
    );
    if corrupt > 0 || unreadable > 0 {
        println!("{}", style.red(&summary));
        if corrupt > 0 {
            EXIT_FAILED
        } else {
            EXIT_UNREACHABLE
        }
    } else if repairable > 0 {
        println!("{}", style.yellow(&summary));
        EXIT_REPAIRABLE
    } else {
        println!("{}", style.green(&summary));
        EXIT_OK
    }
}
