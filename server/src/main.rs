//! The `tidelog` command (see `cli/mod.rs`).
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    tidelog_server::cli::main()
}
