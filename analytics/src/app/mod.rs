//! Continuous SQL applications (Kinesis Data Analytics' model): in-application
//! streams, pumps, windows, outputs.
//!
//! - [`dialect`]: an application's SQL (CREATE STREAM, CREATE PUMP, STEP/FLOOR,
//!   tumble/hop/session, sliding OVER windows, STAGGER) into plain SQL plus a window
//!   specification;
//! - [`window`]: the window operators (which rows belong to which window, when a
//!   window closes on the watermark, late rows);
//! - [`pump`]: a pump's SELECT run by DataFusion over the rows of closed windows;
//! - [`functions`]: the table functions (`TOP_K_ITEMS_TUMBLING`,
//!   `COUNT_DISTINCT_ITEMS_TUMBLING`, `RANDOM_CUT_FOREST`, `HOTSPOTS`) between a
//!   pump's CURSOR and its SELECT; [`rcf`]: the random cut forest.
//!
//! - [`config`]: an application's definition (input, outputs, reference tables,
//!   options) and its JSON form;
//! - [`runner`]: the epochs that read the input, run the pumps, deliver the outputs
//!   and checkpoint, exactly once across crashes;
//! - [`manage`]: [`Applications`]: create, start, stop, describe, list, delete;
//! - [`store`]: the application's files (definition, intent, checkpoint).
#![forbid(unsafe_code)]

pub mod config;
pub mod dialect;
pub mod functions;
pub mod manage;
pub mod pump;
pub mod rcf;
pub mod runner;
pub mod store;
pub mod window;

pub use config::{
    AppDefinition, AppOptions, ERROR_STREAM, InputKind, OutputConfig, OutputFormat, OutputKind,
    ReferenceTable, StartFrom,
};
pub use manage::{AppDescription, AppStatus, Applications};
pub use runner::{AppRunner, Callback, Counters, CrashPoint, RunState, StepReport};
