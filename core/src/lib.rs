//! tidelog: an embedded storage engine for Kinesis-style data streams.
//!
//! The layers, top to bottom (ARCHITECTURE.md has the full map):
//! - [`log`]: the durable, segmented, memory-mapped log of one shard;
//! - [`io`]: the one seam to the file system (real and in-memory backends);
//! - [`clock`]: injected time; [`limits`]: every bound in one place.
//!
//! `unsafe` is confined to `io/mapping.rs` (the mapped regions); every other module is
//! `#![forbid(unsafe_code)]`.
#![deny(unsafe_code)]

pub mod clock;
pub mod io;
pub mod limits;
pub mod log;

pub use clock::{Clock, ManualClock, SystemClock};
