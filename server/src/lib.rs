//! tidelog-server: `tidelog serve` (the Kinesis and Firehose wire protocols over the
//! tidelog engine) and the `tidelog` command-line tool.
//!
//! The layers, top to bottom (ARCHITECTURE.md has the map):
//! - [`cli`]: the `tidelog` subcommands (serve, streams, shards, tail, put, dump,
//!   verify, stats) and the config file;
//! - [`http`]: the listener (HTTP/1.1, h2, h2c, TLS), limits, one request from
//!   headers to answer, `/health` and `/metrics`;
//! - [`auth`]: SigV4 verification and signing, access keys;
//! - [`api`]: the dispatch tables and the operations, over the engine's public API;
//! - [`wire`]: JSON 1.1, CBOR 1.1, the event stream framing, the member types;
//! - [`client`]: a small signed HTTP client (the CLI's remote mode, tests, benchmarks).
//!
//! The server runs on tokio threads of its own beside the engine's glommio cores and
//! never blocks a tokio worker on an engine call that waits for a core
//! (`api/mod.rs` says which calls run where).
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod cli;
pub mod client;
pub mod http;
pub mod wire;
