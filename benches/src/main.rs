//! The `tidelog-bench` command: see `tidelog-bench --help` and docs/benchmarks.md.
#![forbid(unsafe_code)]

fn main() {
    std::process::exit(tidelog_bench::cli::main());
}
