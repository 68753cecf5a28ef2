//! The buffer protocol: a record's data or key lent to Python as a read-only
//! `memoryview` straight over the mapped segment. The only `unsafe` code of the crate.
//!
//! A [`RecordBytes`] owns a `RecordView`, which holds a reference-counted handle on its
//! segment's mapping; a `memoryview` made from it holds a reference to the
//! `RecordBytes` (the buffer's `obj`). So the bytes stay mapped while any memoryview
//! of them lives, after the batch, the engine handle, and even the segment file are
//! gone.
//!
//! Invariants (what makes the `unsafe` sound):
//! - the bytes lent are published log bytes: the engine never writes them again while
//!   the mapping lives (`core/src/io/mapping.rs`), so lending them to any thread is not
//!   a data race; or, for a record of an encrypted stream, its decrypted plaintext: an
//!   immutable heap buffer the `RecordView` owns (an `Arc`), never written after it was
//!   made;
//! - the buffer is exported read-only: a request for a writable buffer fails with
//!   `BufferError` (checked by `PyBuffer_FillInfo`);
//! - the pointer stays valid as long as the exporter lives, and the exporter lives as
//!   long as the buffer (`PyBuffer_FillInfo` takes a reference to it for `view.obj`);
//!   no memory is owned by the view itself, so there is nothing to release.
#![allow(unsafe_code)] // the buffer protocol is a C ABI: see the module doc

use std::ffi::{c_int, c_void};

use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyMemoryView;
use tidelog::log::RecordView;

/// Which bytes of a record a [`RecordBytes`] lends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// The data blob.
    Data,
    /// The partition key (UTF-8).
    Key,
}

/// The exporter behind a record's `data` / `key` memoryview: read-only bytes in the
/// mapped segment, kept alive as long as any view of them.
#[pyclass(frozen, module = "tidelog")]
pub struct RecordBytes {
    view: RecordView,
    part: Part,
}

impl RecordBytes {
    fn bytes(&self) -> &[u8] {
        match self.part {
            Part::Data => self.view.data(),
            Part::Key => self.view.key(),
        }
    }
}

#[pymethods]
impl RecordBytes {
    /// Exports the bytes read-only (`memoryview(obj)`, `bytes(obj)`, NumPy, ...).
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let bytes = slf.get().bytes();
        let len = ffi::Py_ssize_t::try_from(bytes.len())
            .map_err(|_| PyBufferError::new_err("record larger than Py_ssize_t"))?;
        // SAFETY: `view` is the non-null, writable Py_buffer the interpreter passes to a
        // bf_getbuffer slot (PyBuffer_FillInfo also checks it for NULL). `bytes` points
        // at `len` published bytes of a mapping that `slf` keeps alive (through its
        // RecordView), and FillInfo stores a new reference to `slf` in `view.obj`, so
        // the pointer outlives the buffer. `readonly = 1`: FillInfo refuses
        // PyBUF_WRITABLE requests, and the pointer is cast to `*mut` only because the C
        // struct's field is; nothing writes through it. (A decrypted record's bytes are
        // an immutable heap buffer the same RecordView owns: the same argument holds.)
        let rc = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                bytes.as_ptr() as *mut c_void,
                len,
                1,
                flags,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(PyErr::take(slf.py())
                .unwrap_or_else(|| PyBufferError::new_err("could not export the record bytes")))
        }
    }

    /// Number of bytes.
    fn __len__(&self) -> usize {
        self.bytes().len()
    }

    fn __repr__(&self) -> String {
        let part = match self.part {
            Part::Data => "data",
            Part::Key => "key",
        };
        format!(
            "<tidelog.RecordBytes: {} bytes of {part}>",
            self.bytes().len()
        )
    }
}

/// A read-only memoryview of one part of a record, over the mapping.
pub(crate) fn memoryview(
    py: Python<'_>,
    view: RecordView,
    part: Part,
) -> PyResult<Bound<'_, PyMemoryView>> {
    let exporter = Bound::new(py, RecordBytes { view, part })?;
    PyMemoryView::from(exporter.as_any())
}
