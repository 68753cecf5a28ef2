//! `tidelog._tidelog`: the native half of the `tidelog` Python package (the pure-Python
//! half, in `python/tidelog/`, builds the Pythonic API and the boto3-compatible client
//! on it).
//!
//! Modules: [`engine`] (the engine handle), [`kinesis`] (the rest of the Kinesis API:
//! consumers, SubscribeToShard, ARNs, encryption, capacity), [`queues`] (Kinesis queues and
//! their dead letters), [`records`] (records and batches),
//! [`buffer`] (zero-copy memoryviews: the crate's only `unsafe`), [`subscription`],
//! [`errors`] (the exception tree), [`convert`] (Python values to engine arguments and
//! back), [`clock`] (the test-only manual clock); `analytics` (SQL sessions and
//! results), `applications` (continuous SQL applications) and `arrow_export` (the Arrow PyCapsule interface, the crate's other
//! `unsafe`); [`firehose`] (Firehose delivery streams).
//!
//! Invariants kept across the crate: every blocking call releases the GIL; every class
//! is frozen and `Send + Sync` (engine handles, or state behind a mutex), so any thread
//! may use any object; no engine error or panic crosses into Python as anything but an
//! exception (pyo3 turns a panic into `PanicException`; the engine reports bugs as
//! `InternalError`).
// `deny`, not `forbid`: `buffer.rs` must `allow(unsafe_code)` for the buffer protocol
// (and `arrow_export.rs` for the Arrow capsules),
// and a crate-level `forbid` cannot be relaxed by a module. Every other module
// forbids unsafe code itself (pyo3's macros compile under `forbid`).
#![deny(unsafe_code)]

mod analytics;
mod applications;
mod arrow_export;
mod buffer;
mod clock;
mod convert;
mod engine;
mod errors;
mod firehose;
mod kinesis;
mod queues;
mod records;
mod subscription;

use pyo3::prelude::*;

/// The native module of the `tidelog` package.
#[pymodule]
fn _tidelog(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // Which build this is: a debug build (`maturin develop` without `--release`) runs
    // the engine's calls ~20x slower, so the package says so at import.
    m.add(
        "BUILD_PROFILE",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    )?;
    m.add_class::<engine::Engine>()?;
    m.add_class::<records::Record>()?;
    m.add_class::<records::RecordBatch>()?;
    m.add_class::<records::RecordIter>()?;
    m.add_class::<buffer::RecordBytes>()?;
    m.add_class::<subscription::Subscription>()?;
    m.add_class::<kinesis::ShardSubscription>()?;
    m.add_class::<clock::ManualClock>()?;
    errors::register(m)?;
    analytics::register(m)?;
    applications::register(m)?;
    firehose::register(m)?;
    Ok(())
}
