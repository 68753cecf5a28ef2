//! Continuous SQL applications (Kinesis Data Analytics' model): in-application
//! streams, pumps, windows, outputs.
//!
//! - [`dialect`]: an application's SQL (CREATE STREAM, CREATE PUMP, STEP/FLOOR,
//!   tumble/hop/session, sliding OVER windows, STAGGER) into plain SQL plus a window
//!   specification;
//! - [`window`]: the window operators (which rows belong to which window, when a
//!   window closes on the watermark, late rows);
//! - [`pump`]: a pump's SELECT run by DataFusion over the rows of closed windows.
//!
//! Status: these are the building blocks of continuous applications (issue 18); the
//! application runner (input merge across shards, outputs to streams, checkpoints and
//! exactly-once recovery, management from Rust, C and Python) is not built yet.
#![forbid(unsafe_code)]

pub mod dialect;
pub mod pump;
pub mod window;
