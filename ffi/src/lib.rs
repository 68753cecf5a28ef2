//! libtidelog: the C ABI of tidelog (`libtidelog.so`, `libtidelog.a`, and the header
//! `include/tidelog.h` that cbindgen generates from this crate's doc comments).
//!
//! The rules every export follows (docs/c-api.md explains them for C users):
//! - **Status codes.** Every function returns a [`tidelog_status`] (except the free
//!   functions' NULL cases, the name lookups and the version functions); values come
//!   back through out-pointers. A failing call leaves a one-line message for the
//!   calling thread (`tidelog_last_error_message`).
//! - **Panic boundary.** Every export runs inside [`boundary::call`]: a panic becomes
//!   `TIDELOG_STATUS_PANIC`, never an unwind into C and never an abort.
//! - **Handles.** Engines, iterators, batches, subscriptions and result lists are
//!   opaque handles: numbers in a per-kind table with a generation counter
//!   ([`handles`]), never dereferenced. A freed, forged or wrong-kind handle is
//!   detected and answered with `TIDELOG_STATUS_INVALID_HANDLE`.
//! - **Arguments.** Every pointer is checked for NULL, every string is scanned for its
//!   NUL within a bound and checked for UTF-8, every length and count is checked
//!   against a documented bound before a slice is formed ([`args`], [`abi`]).
//! - **Growable structs.** Every struct that crosses the ABI starts with
//!   `size_t struct_size`, so it can grow without breaking old callers ([`args`]).
//!
//! `unsafe` lives where raw pointers arrive: [`args`] (reading and writing caller
//! memory) and the export modules (one `unsafe` block per pointer argument, asserting
//! the function's documented contract). The other modules forbid it.
#![allow(non_camel_case_types)]

#[cfg(not(target_pointer_width = "64"))]
compile_error!("libtidelog's handles are 64-bit values: build it for a 64-bit target");

pub mod abi;
pub mod apps;
pub mod args;
pub mod boundary;
pub mod consumers;
pub mod diagnostics;
pub mod engine;
pub mod firehose;
pub mod handles;
pub mod lists;
pub mod metrics;
pub mod numbers;
pub mod queues;
pub mod read;
pub mod reshard;
pub mod settings;
pub mod sql;
pub mod status;
pub mod streams;
pub mod subscription;
pub mod write;

pub use abi::*;
pub use status::tidelog_status;
