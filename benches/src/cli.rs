//! The command line: flags, their defaults and checks, the help text, and the entry
//! point that runs a suite or one of the hidden child-process subcommands.
//!
//! Invariant: every bad flag ends in a clear message and exit status 2, never a panic;
//! a failure while measuring ends in a message naming the workload and exit status 1.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::Duration;

use tidelog::log::Preallocation;
use tidelog::{Durability, SyncDriver};

use crate::workloads::Workload;

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Run the selected workloads.
    Run(Args),
    /// Print the help text.
    Help,
    /// Hidden: write to an engine until killed (the recovery workload's child).
    CrashWriter {
        /// Data directory.
        dir: PathBuf,
        /// GiB of log to write before saying `ready`.
        gib: f64,
        /// Shards of the stream.
        shards: u32,
    },
    /// Hidden: the server workload's measurements, in its own process (and network
    /// namespace), printed as JSON.
    ServerChild {
        /// The workload's settings, as JSON.
        config: String,
    },
    /// Hidden: open an engine with idle shards and print what they cost, as JSON.
    IdleShards {
        /// Data directory.
        dir: PathBuf,
        /// Shards to create.
        shards: u32,
    },
}

/// Options of a benchmark run.
#[derive(Debug, Clone)]
pub struct Args {
    /// Workloads to run, in suite order.
    pub workloads: Vec<Workload>,
    /// Measuring time of each case.
    pub duration: Duration,
    /// Warm-up time before each case.
    pub warmup: Duration,
    /// Open loop at this many requests per second per producer (`None`: closed loop).
    pub rate_per_sec: Option<f64>,
    /// Record size, bytes (`None`: each workload's defaults).
    pub record_bytes: Option<usize>,
    /// Shards (`None`: each workload's defaults).
    pub shards: Option<u32>,
    /// Producer threads (`None`: each workload's defaults).
    pub producers: Option<usize>,
    /// Subscriber threads of the end-to-end workload.
    pub consumers: usize,
    /// Engine cores (`None`: one).
    pub cores: Option<usize>,
    /// Pin cores (and the bench's own threads to the other CPUs).
    pub pin: bool,
    /// Only this durability (`None`: both).
    pub durability: Option<Durability>,
    /// Only this sync driver (`None`: both).
    pub sync_driver: Option<SyncDriver>,
    /// Data directory (`None`: a temporary one, removed at the end).
    pub data_dir: Option<PathBuf>,
    /// Output directory (`None`: `bench-results/<timestamp>/`).
    pub out: Option<PathBuf>,
    /// Print the JSON document on stdout instead of the table.
    pub json: bool,
    /// GiB of log the recovery workload writes before the kill.
    pub recovery_gib: f64,
    /// Shards of the idle-shards workload.
    pub idle_shards: u32,
    /// MB of the log the log workload reopens and scans.
    pub log_mb: u64,
    /// How new segment files are prepared, for every engine and log of the run; the log
    /// workload's appends run with each of these.
    pub preallocation: Vec<Preallocation>,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            workloads: Workload::ALL.to_vec(),
            duration: Duration::from_millis(500),
            warmup: Duration::from_millis(200),
            rate_per_sec: None,
            record_bytes: None,
            shards: None,
            producers: None,
            consumers: 1,
            cores: None,
            pin: true,
            durability: None,
            sync_driver: None,
            data_dir: None,
            out: None,
            json: false,
            recovery_gib: 1.0,
            idle_shards: 2_000,
            log_mb: 200,
            preallocation: vec![Preallocation::Zeroed],
        }
    }
}

/// A command line that cannot be run, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// The help text.
pub fn help() -> String {
    let names: Vec<&str> = Workload::ALL.iter().map(|w| w.name()).collect();
    format!(
        "tidelog-bench: measure tidelog's latency and throughput on this machine

USAGE:
    tidelog-bench [OPTIONS]

With no options, runs the default suite (every workload at small sizes, about a
minute) on a temporary data directory, prints a table, and writes results.json,
one .hgrm file per latency histogram and SVG percentile plots to the output directory.

OPTIONS:
    --workload LIST       comma-separated workloads, or `all` (default: all)
                          {workloads}
                          (run only when named: {extra})
    --duration TIME       measuring time of each case, e.g. 2s, 500ms (default: 500ms)
    --warmup TIME         warm-up before each case (default: 200ms)
    --rate N              open loop: N requests/s per producer, latency measured from
                          the intended send time (default: closed loop; the put
                          workload also runs an open-loop case at 20000/s)
    --record-size BYTES   record size, e.g. 100, 1k, 64k (default: per workload)
    --shards N            shards (default: per workload)
    --producers N         producer threads (default: per workload)
    --consumers N         subscribers of the end-to-end workload (default: 1)
    --cores N             engine cores (default: 1, leaving the other CPUs to callers)
    --no-pin              do not pin cores or bench threads to CPUs
    --durability MODE     os or sync: only this durability (default: both)
    --sync-driver DRIVER  io-uring or blocking: only this driver (default: both)
    --data-dir DIR        where the engines write (default: a temporary directory,
                          removed at the end)
    --out DIR             output directory (default: bench-results/<UTC timestamp>/);
                          an earlier run's .hgrm, .svg, results.json and summary.txt
                          there are replaced
    --json                print the JSON document instead of the table
    --recovery-gib N      GiB of log written before the crash (default: 1)
    --idle-shards N       shards of the idle-shards workload (default: 2000; 10000
                          takes about 30 s more, most of it zero-filling spares, and
                          an open-file limit of 2 per shard + 256: the engine
                          refuses more shards than it could reopen)
    --log-mb N            MB of the log the log and peers workloads reopen and scan
                          (default: 200)
    --preallocation MODE  zeroed, allocated or both: how segment files are prepared
                          (default: zeroed, the engine's default); with both, the log
                          workload's appends run with each, the engines use zeroed
    -h, --help            this text

Figures are reported beside their targets (docs/benchmarks.md), not asserted; a
workload fails the run only where a result is wrong (a scan that reads back another
count) or where the defaults fall behind the tuned setup (the defaults workload).
",
        workloads = names.join(", "),
        extra = Workload::EXTRA
            .iter()
            .map(|w| w.name())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn parse_duration(flag: &str, text: &str) -> Result<Duration, UsageError> {
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number.trim().parse().map_err(|_| {
        usage(format!(
            "{flag}: `{text}` is not a time (examples: 2s, 500ms, 1.5)"
        ))
    })?;
    let seconds = value * scale;
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(usage(format!("{flag}: `{text}` must be a positive time")));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn parse_bytes(flag: &str, text: &str) -> Result<usize, UsageError> {
    let lower = text.to_ascii_lowercase();
    let (number, scale) = [
        ("kib", 1usize << 10),
        ("mib", 1 << 20),
        ("k", 1 << 10),
        ("m", 1 << 20),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suffix, scale)| lower.strip_suffix(suffix).map(|n| (n, *scale)))
    .unwrap_or((lower.as_str(), 1));
    let value: usize = number.trim().parse().map_err(|_| {
        usage(format!(
            "{flag}: `{text}` is not a size (examples: 100, 1k, 64KiB)"
        ))
    })?;
    value
        .checked_mul(scale)
        .ok_or_else(|| usage(format!("{flag}: `{text}` is too large")))
}

fn parse_number<T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy>(
    flag: &str,
    text: &str,
    min: T,
    max: T,
) -> Result<T, UsageError> {
    let value: T = text
        .trim()
        .parse()
        .map_err(|_| usage(format!("{flag}: `{text}` is not a number")))?;
    if value < min || value > max {
        return Err(usage(format!(
            "{flag}: {value} is out of range [{min}, {max}]"
        )));
    }
    Ok(value)
}

fn parse_workloads(text: &str) -> Result<Vec<Workload>, UsageError> {
    let mut chosen = Vec::new();
    for name in text.split(',').map(str::trim) {
        if name == "all" {
            return Ok(Workload::ALL.to_vec());
        }
        let workload = Workload::from_name(name).ok_or_else(|| {
            let names: Vec<&str> = Workload::ALL
                .iter()
                .chain(Workload::EXTRA.iter())
                .map(|w| w.name())
                .collect();
            usage(format!(
                "--workload: unknown workload `{name}` (known: {}, all)",
                names.join(", ")
            ))
        })?;
        if !chosen.contains(&workload) {
            chosen.push(workload);
        }
    }
    // Suite order, whatever order they were named in.
    chosen.sort_by_key(|w| {
        Workload::ALL
            .iter()
            .chain(Workload::EXTRA.iter())
            .position(|x| x == w)
    });
    Ok(chosen)
}

/// Splits `--flag=value` and `--flag value` forms; `None` for flags without a value.
struct Flags<I: Iterator<Item = String>> {
    rest: I,
}

impl<I: Iterator<Item = String>> Flags<I> {
    fn value(&mut self, flag: &str, inline: Option<String>) -> Result<String, UsageError> {
        match inline {
            Some(v) => Ok(v),
            None => self
                .rest
                .next()
                .ok_or_else(|| usage(format!("{flag} needs a value (see --help)"))),
        }
    }
}

/// Parses the command line (without the program name).
pub fn parse(argv: impl IntoIterator<Item = String>) -> Result<Command, UsageError> {
    let mut argv = argv.into_iter().peekable();
    match argv.peek().map(String::as_str) {
        Some("__crash-writer") => {
            argv.next();
            let rest: Vec<String> = argv.collect();
            let [dir, gib, shards] = rest.as_slice() else {
                return Err(usage("__crash-writer DIR GIB SHARDS"));
            };
            return Ok(Command::CrashWriter {
                dir: PathBuf::from(dir),
                gib: parse_number("GIB", gib, 0.0001, 64.0)?,
                shards: parse_number("SHARDS", shards, 1, 10_000)?,
            });
        }
        Some("__server-child") => {
            argv.next();
            let rest: Vec<String> = argv.collect();
            let [config] = rest.as_slice() else {
                return Err(usage("__server-child CONFIG"));
            };
            return Ok(Command::ServerChild {
                config: config.clone(),
            });
        }
        Some("__idle-shards") => {
            argv.next();
            let rest: Vec<String> = argv.collect();
            let [dir, shards] = rest.as_slice() else {
                return Err(usage("__idle-shards DIR SHARDS"));
            };
            return Ok(Command::IdleShards {
                dir: PathBuf::from(dir),
                shards: parse_number("SHARDS", shards, 1, 100_000)?,
            });
        }
        _ => {}
    }
    let mut args = Args::default();
    let mut flags = Flags { rest: argv };
    while let Some(arg) = flags.rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if inline.is_some() && matches!(flag.as_str(), "--no-pin" | "--json" | "-h" | "--help") {
            return Err(usage(format!("{flag} takes no value")));
        }
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--workload" | "--workloads" => {
                args.workloads = parse_workloads(&flags.value(&flag, inline)?)?;
            }
            "--duration" => {
                let d = parse_duration(&flag, &flags.value(&flag, inline)?)?;
                if d < Duration::from_millis(1) || d > Duration::from_secs(3600) {
                    return Err(usage("--duration must be within [1ms, 1h]"));
                }
                args.duration = d;
            }
            "--warmup" => {
                let d = parse_duration(&flag, &flags.value(&flag, inline)?)?;
                if d > Duration::from_secs(600) {
                    return Err(usage("--warmup must be at most 10m"));
                }
                args.warmup = d;
            }
            "--rate" => {
                args.rate_per_sec = Some(parse_number(
                    &flag,
                    &flags.value(&flag, inline)?,
                    1.0,
                    10_000_000.0,
                )?);
            }
            "--record-size" => {
                let bytes = parse_bytes(&flag, &flags.value(&flag, inline)?)?;
                // The partition keys the bench uses are short; the engine's record limit
                // (data plus key) is 1 MiB.
                if !(16..=(1 << 20) - 64).contains(&bytes) {
                    return Err(usage(format!(
                        "--record-size: {bytes} bytes is out of range [16, {}] (data plus \
                         partition key must fit the 1 MiB record limit)",
                        (1 << 20) - 64
                    )));
                }
                args.record_bytes = Some(bytes);
            }
            "--shards" => {
                args.shards = Some(parse_number(
                    &flag,
                    &flags.value(&flag, inline)?,
                    1,
                    10_000,
                )?)
            }
            "--producers" => {
                args.producers = Some(parse_number(&flag, &flags.value(&flag, inline)?, 1, 1024)?)
            }
            "--consumers" => {
                args.consumers = parse_number(&flag, &flags.value(&flag, inline)?, 1, 64)?
            }
            "--cores" => {
                args.cores = Some(parse_number(&flag, &flags.value(&flag, inline)?, 1, 1024)?)
            }
            "--no-pin" => args.pin = false,
            "--durability" => {
                args.durability = Some(match flags.value(&flag, inline)?.as_str() {
                    "os" => Durability::Os,
                    "sync" => Durability::Sync,
                    other => {
                        return Err(usage(format!("--durability: `{other}` is not os or sync")));
                    }
                })
            }
            "--sync-driver" => {
                args.sync_driver = Some(match flags.value(&flag, inline)?.as_str() {
                    "io-uring" | "io_uring" | "iouring" => SyncDriver::IoUring,
                    "blocking" => SyncDriver::Blocking,
                    other => {
                        return Err(usage(format!(
                            "--sync-driver: `{other}` is not io-uring or blocking"
                        )));
                    }
                })
            }
            "--data-dir" => args.data_dir = Some(PathBuf::from(flags.value(&flag, inline)?)),
            "--out" => args.out = Some(PathBuf::from(flags.value(&flag, inline)?)),
            "--json" => args.json = true,
            "--recovery-gib" => {
                args.recovery_gib = parse_number(&flag, &flags.value(&flag, inline)?, 0.001, 64.0)?
            }
            "--idle-shards" => {
                args.idle_shards = parse_number(&flag, &flags.value(&flag, inline)?, 1, 100_000)?
            }
            "--log-mb" => {
                args.log_mb = parse_number(&flag, &flags.value(&flag, inline)?, 1, 16_384)?
            }
            "--preallocation" => {
                args.preallocation = match flags.value(&flag, inline)?.as_str() {
                    "zeroed" => vec![Preallocation::Zeroed],
                    "allocated" => vec![Preallocation::Allocated],
                    "both" => vec![Preallocation::Zeroed, Preallocation::Allocated],
                    other => {
                        return Err(usage(format!(
                            "--preallocation: `{other}` is not zeroed, allocated or both"
                        )));
                    }
                }
            }
            other if other.starts_with('-') => {
                return Err(usage(format!("unknown flag `{other}` (see --help)")));
            }
            other => {
                return Err(usage(format!(
                    "unexpected argument `{other}` (flags start with --; see --help)"
                )));
            }
        }
    }
    if args.workloads.is_empty() {
        return Err(usage("--workload: no workload named"));
    }
    Ok(Command::Run(args))
}

/// Runs the command line of this process; returns the exit status.
pub fn main() -> i32 {
    let command = match parse(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tidelog-bench: {e}");
            return 2;
        }
    };
    match command {
        Command::Help => {
            print!("{}", help());
            0
        }
        Command::CrashWriter { dir, gib, shards } => crate::child::crash_writer(&dir, gib, shards),
        Command::IdleShards { dir, shards } => crate::child::idle_shards(&dir, shards),
        Command::ServerChild { config } => crate::workloads::server::child(&config),
        Command::Run(args) => match crate::workloads::run_suite(&args) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("tidelog-bench: {e}");
                1
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Args, UsageError> {
        match parse(args.iter().map(|s| s.to_string()))? {
            Command::Run(a) => Ok(a),
            other => panic!("not a run: {other:?}"),
        }
    }

    #[test]
    fn defaults_and_values() {
        let a = run(&[]).unwrap();
        assert_eq!(a.workloads, Workload::ALL.to_vec());
        let a = run(&[
            "--workload=put,get",
            "--duration",
            "2s",
            "--record-size",
            "64k",
            "--durability",
            "os",
        ])
        .unwrap();
        assert_eq!(a.workloads, vec![Workload::Put, Workload::Get]);
        assert_eq!(a.duration, Duration::from_secs(2));
        assert_eq!(a.record_bytes, Some(65536));
        assert_eq!(a.durability, Some(Durability::Os));
        assert_eq!(
            run(&["--warmup", "150ms"]).unwrap().warmup,
            Duration::from_millis(150)
        );
    }

    #[test]
    fn bad_flags_are_clear_errors() {
        for (argv, needle) in [
            (vec!["--bogus"], "unknown flag"),
            (vec!["--duration"], "needs a value"),
            (vec!["--duration", "soon"], "not a time"),
            (vec!["--duration", "0"], "within"),
            (vec!["--workload", "nope"], "unknown workload"),
            (vec!["--shards", "0"], "out of range"),
            (vec!["--shards", "many"], "not a number"),
            (vec!["--record-size", "4"], "out of range"),
            (vec!["--record-size", "2m"], "out of range"),
            (vec!["--durability", "fast"], "not os or sync"),
            (vec!["--sync-driver", "aio"], "not io-uring"),
            (vec!["--rate", "-5"], "out of range"),
            (vec!["--json=yes"], "takes no value"),
            (vec!["stray"], "unexpected argument"),
            (vec!["--preallocation", "lazy"], "not zeroed"),
        ] {
            let err = run(&argv).unwrap_err();
            assert!(err.0.contains(needle), "{argv:?}: {err}");
        }
    }
}
