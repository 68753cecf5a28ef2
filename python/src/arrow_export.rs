//! Arrow out of Python without copies: the Arrow PyCapsule Interface.
//!
//! [`stream_capsule`] wraps an Arrow C stream (`ArrowArrayStream`, built by arrow's
//! `FFI_ArrowArrayStream` from a `RecordBatchReader`) in a `PyCapsule` named
//! `"arrow_array_stream"`, and [`schema_capsule`] an `ArrowSchema` in one named
//! `"arrow_schema"`: what `__arrow_c_stream__` and `__arrow_c_schema__` return, so
//! pyarrow, polars, DuckDB and pandas (through pyarrow) import results and record
//! batches by moving pointers. A consumer moves the struct out of the capsule (and sets
//! its `release` to NULL); a capsule never consumed releases the stream when Python
//! frees it (arrow's `Drop` calls `release` if it is still set).
//!
//! pyo3-arrow 0.20 would fit pyo3 0.30 and arrow 59, but it brings numpy/ndarray and
//! turns on features of chrono, half and num-* under arrow, so the extension would
//! compile arrow and DataFusion a second time in a different feature set; these ~60
//! lines avoid that.
//!
//! This is one of the crate's two places allowed `unsafe` (with `buffer.rs`): the
//! `Send` assertions below, each with its SAFETY argument.
#![allow(unsafe_code)]

use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use tidelog_analytics::arrow::datatypes::Schema;
use tidelog_analytics::arrow::ffi::FFI_ArrowSchema;
use tidelog_analytics::arrow::ffi_stream::FFI_ArrowArrayStream;
use tidelog_analytics::arrow::record_batch::RecordBatchReader;

/// An `ArrowArrayStream` owned by a capsule. `repr(transparent)`: the capsule's
/// pointer is the pointer to the C struct consumers expect.
#[repr(transparent)]
struct StreamInCapsule(FFI_ArrowArrayStream);

// SAFETY: the stream's private data is arrow's own holder of a `Box<dyn
// RecordBatchReader + Send>` and its exported schema; nothing in it is tied to the
// thread that made it. The Arrow C stream interface lets a consumer move the struct
// and call it from any thread (one at a time), which is all a capsule destructor on
// another thread does.
unsafe impl Send for StreamInCapsule {}

/// An `ArrowSchema` owned by a capsule (same layout argument as above).
#[repr(transparent)]
struct SchemaInCapsule(FFI_ArrowSchema);

// SAFETY: an exported schema owns its strings and children (allocated by arrow's
// exporter, freed by its `release`), none tied to a thread; the C data interface lets
// any thread release it.
unsafe impl Send for SchemaInCapsule {}

/// `__arrow_c_stream__`'s answer for `reader`.
pub(crate) fn stream_capsule<'py>(
    py: Python<'py>,
    reader: Box<dyn RecordBatchReader + Send>,
) -> PyResult<Bound<'py, PyCapsule>> {
    let stream = FFI_ArrowArrayStream::new(reader);
    PyCapsule::new_with_value(py, StreamInCapsule(stream), c"arrow_array_stream")
}

/// `__arrow_c_schema__`'s answer for `schema`.
pub(crate) fn schema_capsule<'py>(
    py: Python<'py>,
    schema: &Schema,
) -> PyResult<Bound<'py, PyCapsule>> {
    let ffi = FFI_ArrowSchema::try_from(schema).map_err(|e| {
        pyo3::exceptions::PyValueError::new_err(format!("cannot export the schema: {e}"))
    })?;
    PyCapsule::new_with_value(py, SchemaInCapsule(ffi), c"arrow_schema")
}
