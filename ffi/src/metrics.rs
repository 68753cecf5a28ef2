//! Metrics: per-shard snapshots, stream totals, OpenMetrics text. Snapshots never
//! block writers or readers; every function here is thread-safe.

use std::ffi::c_char;

use crate::abi::*;
use crate::args::{self, Out, OutStruct};
use crate::boundary;
use crate::engine::engine;
use crate::lists::{self, METRICS_LISTS, c_string};
use crate::status::{FfiResult, tidelog_status};

/// Snapshots of every live shard of `stream`, or of every stream when `stream` is
/// NULL (sorted by stream name), as a new metrics list in `*list_out` (NULL on
/// failure; free it with `tidelog_metrics_list_free`).
///
/// # Safety
/// `stream` is NULL or NUL-terminated; `list_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_metrics(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    list_out: *mut *mut tidelog_metrics_list,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(list_out, "list_out") }?;
        args::produce(out, || {
            let engine = self::engine(engine)?;
            // SAFETY: contract: NULL or NUL-terminated.
            let stream = unsafe { args::opt_string(stream, "stream") }?;
            let snapshots = match stream {
                Some(name) => engine.engine.stream_metrics(name)?,
                None => engine.engine.metrics()?,
            };
            let list = snapshots
                .iter()
                .map(lists::metrics)
                .collect::<FfiResult<Vec<_>>>()?;
            METRICS_LISTS.insert(list)
        })
    })
}

/// The stream's totals over its live shards into `*metrics_out` (set its
/// `struct_size` first): sums, and the maximum iterator age; `shard_id` is "".
///
/// # Safety
/// `stream` is NULL or NUL-terminated; `metrics_out` is NULL or a writable struct of
/// its `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_stream_metrics_total(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    metrics_out: *mut tidelog_shard_metrics,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let out = unsafe { OutStruct::new(metrics_out, "metrics_out") }?;
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        out.write(lists::metrics(
            &engine.engine.stream_metrics_total(stream)?,
        )?);
        Ok(())
    })
}

/// Every shard's metrics as OpenMetrics text (ending with "# EOF\n"), NUL-terminated,
/// into `buf` of `buf_len` bytes. `*text_len_out` always receives the text's length
/// (without the NUL) when the engine answered: if `buf_len` is not more than that, the
/// call returns BUFFER_TOO_SMALL and writes nothing to `buf`; call again with a larger
/// buffer (the text may have grown meanwhile). `buf` may be NULL when `buf_len` is 0
/// (a size query).
///
/// # Safety
/// `buf` is NULL or writable for `buf_len` bytes; `text_len_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_metrics_openmetrics(
    engine: *mut tidelog_engine,
    buf: *mut c_char,
    buf_len: usize,
    text_len_out: *mut usize,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let len_out = unsafe { Out::new(text_len_out, "text_len_out") }?;
        let engine = self::engine(engine)?;
        let text = c_string(&engine.engine.metrics_openmetrics()?)?;
        len_out.write(text.as_bytes().len());
        // SAFETY: contract: NULL or writable for `buf_len` bytes.
        unsafe { args::copy_to_buffer(&text, buf, buf_len, "buf") }
    })
}
