//! The `tidelog` command: `serve` (the server), `streams`, `shards`, `tail`, `put`,
//! `stats`, `firehose` (against a server with `--endpoint`, or a data directory opened
//! in-process with `--data-dir`), and `dump`, `verify` (offline, read-only walks of a data
//! directory's segments).
//!
//! Exit codes (stable, for scripts): 0 success; 1 the operation failed (an error
//! answer, failed records, corruption found by `verify`); 2 usage error; 3 cannot
//! reach the server or open the data directory; 4 `verify` found only torn tails or
//! unknown files (what recovery repairs or skips), no corruption.
#![forbid(unsafe_code)]

pub mod config;
pub mod firehose;
pub mod inspect;
pub mod remote;
pub mod serve;
pub mod style;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub use style::{ColorChoice, Style};

/// Exit status: success.
pub const EXIT_OK: u8 = 0;
/// Exit status: the operation failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit status: usage error.
pub const EXIT_USAGE: u8 = 2;
/// Exit status: cannot reach the server or open the data directory.
pub const EXIT_UNREACHABLE: u8 = 3;
/// Exit status: `verify` found torn tails or unknown files only.
pub const EXIT_REPAIRABLE: u8 = 4;

/// tidelog: Kinesis-style data streams on local disk, and the server that speaks
/// Kinesis's wire protocol.
#[derive(Debug, Parser)]
#[command(name = "tidelog", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Colour: auto (when stdout is a terminal and NO_COLOR is unset), always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the Kinesis (and Firehose) wire protocol over a data directory.
    Serve(Box<serve::ServeArgs>),
    /// List, create, describe or delete streams.
    Streams(remote::StreamsArgs),
    /// List a stream's shards.
    Shards(remote::ShardsArgs),
    /// Print a stream's records as they arrive (like `kcat -C`).
    Tail(remote::TailArgs),
    /// Put standard input's lines as records.
    Put(remote::PutArgs),
    /// Per-stream counters (records and bytes in and out, throttles).
    Stats(remote::StatsArgs),
    /// List, create, describe or delete delivery streams; put lines to one; flush.
    Firehose(firehose::FirehoseArgs),
    /// Print a data directory's segments (and records) without opening the engine.
    Dump(inspect::DumpArgs),
    /// Check every frame of a data directory without changing it.
    Verify(inspect::VerifyArgs),
}

/// Where the data is: a server or a data directory.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The server (`http://host:port`).
    #[arg(long, env = "TIDELOG_ENDPOINT", conflicts_with = "data_dir")]
    pub endpoint: Option<String>,
    /// A data directory, opened in-process (no server may be running on it).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Region to sign for.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Access key id (signing is skipped without one).
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub access_key: Option<String>,
    /// Secret access key.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
}

/// Runs the command line; returns the exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let style = Style::detect(cli.color);
    let code = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Streams(args) => remote::run_streams(args, style),
        Command::Shards(args) => remote::run_shards(args, style),
        Command::Tail(args) => remote::run_tail(args, style),
        Command::Put(args) => remote::run_put(args, style),
        Command::Stats(args) => remote::run_stats(args, style),
        Command::Firehose(args) => firehose::run(args, style),
        Command::Dump(args) => inspect::run_dump(args, style),
        Command::Verify(args) => inspect::run_verify(args, style),
    };
    ExitCode::from(code)
}

/// Prints an error to stderr, prefixed like every message of this tool.
pub fn error(style: &Style, message: impl std::fmt::Display) {
    eprintln!("{} {message}", style.red("tidelog: error:"));
}
