//! tidelog-bench: the latency and throughput benchmark suite of tidelog.
//!
//! The binary (`src/main.rs`) parses the command line ([`cli`]), runs the selected
//! workloads ([`workloads`]) on a temporary data directory, and reports every figure
//! ([`report`]): a table on stdout, a JSON document, one `.hgrm` percentile file per
//! latency histogram ([`hist`]) and SVG percentile plots ([`svg`]), each figure judged
//! against the project's targets ([`targets`]).
//!
//! Method, kept by every workload: a warm-up before measuring; latencies recorded in
//! nanoseconds into HdrHistograms; open-loop runs measure from the intended send time
//! ([`pace`]) so a stall is charged to every request it delays (no coordinated
//! omission); never more busy threads than CPUs, since a spinning producer would take
//! the CPU a core or subscriber needs. Nothing here asserts a timing: figures are
//! reported, never tested.
#![forbid(unsafe_code)]

pub mod child;
pub mod cli;
pub mod env;
pub mod hist;
pub mod pace;
pub mod report;
pub mod svg;
pub mod sys;
pub mod targets;
pub mod workloads;
