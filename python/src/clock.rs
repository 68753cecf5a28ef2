//! A clock that moves only when told to, for tests: `tidelog.testing.ManualClock`.
//!
//! It drives everything the engine times (arrival timestamps, retention, iterator
//! expiry, rate limits), so a test can expire an iterator or a day of retention
//! without sleeping. Not for production: an engine opened with it never sees real time.
#![forbid(unsafe_code)]

use std::sync::Arc;

use pyo3::prelude::*;
use tidelog::Clock;

/// A test clock: wall time starts at `now_ms` (milliseconds since the Unix epoch) and
/// moves only by `advance_ms`. Pass it as `clock=` to `tidelog.open` (tests only).
#[pyclass(frozen, module = "tidelog.testing")]
pub struct ManualClock {
    pub(crate) clock: Arc<tidelog::ManualClock>,
}

#[pymethods]
impl ManualClock {
    #[new]
    #[pyo3(signature = (now_ms=1_700_000_000_000))]
    fn new(now_ms: u64) -> Self {
        Self {
            clock: tidelog::ManualClock::new(now_ms),
        }
    }

    /// Moves wall and monotonic time forward by `ms` milliseconds.
    fn advance_ms(&self, ms: u64) {
        self.clock.advance_ms(ms);
    }

    /// The wall clock, milliseconds since the Unix epoch.
    #[getter]
    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    fn __repr__(&self) -> String {
        format!("ManualClock(now_ms={})", self.clock.now_ms())
    }
}
