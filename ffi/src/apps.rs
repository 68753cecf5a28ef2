//! Continuous SQL applications from C (tidelog-analytics' `Applications`): create from
//! a JSON definition, start, stop, describe, list, delete, reload reference data.
//!
//! Invariants:
//! - A `tidelog_apps` handle holds the engine's applications manager; freeing it stops
//!   the application threads (running applications resume at the next
//!   `tidelog_apps_open`). Any number of threads may use one handle.
//! - Text answers (describe, list) are JSON copied into the caller's buffer
//!   (`BUFFER_TOO_SMALL` names the size needed); nothing is written on failure.
//! - Callbacks (`tidelog_apps_add_callback`) are called on the application's thread
//!   with rows that live for the call only; the user data's release function runs
//!   once, when tidelog drops the callback (`tidelog_apps_clear_callbacks`,
//!   `tidelog_apps_delete`, `tidelog_apps_free`), never while a call is under way.
//! - Built without the cargo feature `analytics`, every function here returns
//!   `TIDELOG_STATUS_UNSUPPORTED`.

use std::ffi::{c_char, c_void};

use crate::abi::*;
use crate::args::{self, Out};
use crate::boundary;
use crate::sql::TIDELOG_SQL_BYTES_MAX;
use crate::status::tidelog_status;

/// Opens the applications stored with `engine` (those that were running start again
/// from their checkpoints). `apps_out` receives the handle; free it with
/// `tidelog_apps_free`.
///
/// # Safety
/// `apps_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_apps_open(
    engine: *mut tidelog_engine,
    apps_out: *mut *mut tidelog_apps,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(apps_out, "apps_out") }?;
        args::produce(out, || imp::open(engine))
    })
}

/// `tidelog_apps_open` with the Firehose (`tidelog_firehose_open`) whose DirectPut
/// delivery streams applications may output into (`"Outputs": [{"InAppStream",
/// "DeliveryStream", "Format"}]`). The handle keeps the Firehose's delivery streams
/// reachable but not open: free the applications before `tidelog_firehose_free`
/// (after it, an application delivering into a delivery stream fails with the
/// Firehose closed, and starts again once the handles are opened again).
///
/// # Safety
/// `apps_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_apps_open_with_firehose(
    engine: *mut tidelog_engine,
    firehose: *mut crate::firehose::tidelog_firehose,
    apps_out: *mut *mut tidelog_apps,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(apps_out, "apps_out") }?;
        args::produce(out, || {
            let firehose = crate::firehose::firehose(firehose)?;
            imp::open_with_firehose(engine, &firehose)
        })
    })
}

/// Stops the application threads (they resume at the next open) and releases the
/// handle. NULL is a no-op.
///
/// # Safety
/// `apps` is NULL or any value (handles are checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_apps_free(apps: *mut tidelog_apps) -> tidelog_status {
    boundary::call(|| imp::free(apps))
}

/// Creates an application from its definition in JSON: `{"Name", "Code", "Input":
/// {"Stream" | "DeliveryStream", "Schema": <input schema as
/// tidelog_sql_register_stream takes it>, "NamePrefix"?}, "Outputs"?: [{"InAppStream", "Stream" | "DeliveryStream", "Format":
/// "JSON" | "CSV"}], "ReferenceTables"?: [{"Name", "Path", "Schema"}], "Options"?:
/// {"AllowedLatenessMs", "WatermarkDelayMs", "MaxRecordsPerShard"}}`. An output names a
/// tidelog stream (`Stream`) or a DirectPut Firehose delivery stream
/// (`DeliveryStream`: the handle must come from `tidelog_apps_open_with_firehose`);
/// so does the input (`Stream`: a tidelog stream; `DeliveryStream`: a DirectPut
/// delivery stream's durable buffer).
/// Everything is checked first: SQL for bad SQL (the message names the line and
/// column), RESOURCE_NOT_FOUND for a missing stream or delivery stream,
/// RESOURCE_IN_USE for a name taken, VALIDATION for a bad name or option, a delivery
/// stream output without a Firehose or into a Kinesis-sourced delivery stream.
///
/// # Safety
/// `definition_json` is NULL or NUL-terminated (up to 1 MiB).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_apps_create(
    apps: *mut tidelog_apps,
    definition_json: *const c_char,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or NUL-terminated.
        let def = unsafe {
            args::long_string(definition_json, TIDELOG_SQL_BYTES_MAX, "definition_json")
        }?;
        imp::create(apps, def)
    })
}

/// Starts an application from `position`: `LAST_STOPPED_POINT`, `TRIM_HORIZON`,
/// `NOW`, or a time in ms since the epoch, as text.
///
/// # Safety
/// The strings are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_apps_start(
    apps: *mut tidelog_apps,
    name: *const c_char,
    position: *const c_char,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or NUL-terminated.
        let name = unsafe { args::string(name, "name") }?;
        // SAFETY: contract: NULL or NUL-terminated.
        let position = unsafe { args::string(position, "position") }?;
        imp::start(apps, name, position)
    })
}

/// Stops an application (its current epoch commits first).
///
/// # Safety
/// `name` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_apps_stop(
    apps: *mut tidelog_apps,
    name: *const c_char,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or NUL-terminated.
        let name = unsafe { args::string(name, "name") }?;
        imp::stop(apps, name)
    })
}

/// Deletes an application (stopped first) and its files; the streams it wrote stay.
///
/// # Safety
/// `name` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_apps_delete(
    apps: *mut tidelog_apps,
    name: *const c_char,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or NUL-terminated.
        let name = unsafe { args::string(name, "name") }?;
        imp::delete(apps, name)
    })
}

/// Reloads reference table `table` of application `name` from its file.
///
/// # Safety
/// The strings are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_apps_reload_reference(
    apps: *mut tidelog_apps,
    name: *const c_char,
    table: *const c_char,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or NUL-terminated.
        let name = unsafe { args::string(name, "name") }?;
        // SAFETY: contract: NULL or NUL-terminated.
        let table = unsafe { args::string(table, "table") }?;
        imp::reload(apps, name, table)
    })
}

/// Waits up to `timeout_ms` until a running application has read everything and has
/// nothing left to do at the engine clock's current time (INVALID_ARGUMENT if it is not
/// running, failed, or the time passed).
///
/// # Safety
/// `name` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_apps_wait_idle(
    apps: *mut tidelog_apps,
    name: *const c_char,
    timeout_ms: u32,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or NUL-terminated.
        let name = unsafe { args::string(name, "name") }?;
        imp::wait_idle(apps, name, timeout_ms)
    })
}

/// Copies an application's description as JSON into `buf`: `{"Name", "Status"
/// ("READY" | "RUNNING" | "FAILED"), "Epoch", "WatermarkMs", "LagMs",
/// "InputPositions": {shard: sequence number text}, "RecordsIn", "RecordsOut",
/// "Errors", "CaughtUp", "LastError", "Definition"}`.
///
/// # Safety
/// `name` is NULL or NUL-terminated; `buf` is NULL or writable for `buf_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_apps_describe(
    apps: *mut tidelog_apps,
    name: *const c_char,
    buf: *mut c_char,
    buf_len: usize,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or NUL-terminated.
        let name = unsafe { args::string(name, "name") }?;
        let text = imp::describe(apps, name)?;
        // SAFETY: contract: NULL or writable for `buf_len` bytes.
        unsafe { args::copy_to_buffer(&text, buf, buf_len, "buf") }
    })
}

/// Copies the applications as JSON into `buf`: `[{"Name", "Status"}, ...]` by name.
///
/// # Safety
/// `buf` is NULL or writable for `buf_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_apps_list(
    apps: *mut tidelog_apps,
    buf: *mut c_char,
    buf_len: usize,
) -> tidelog_status {
    boundary::call(|| {
        let text = imp::list(apps)?;
        // SAFETY: contract: NULL or writable for `buf_len` bytes.
        unsafe { args::copy_to_buffer(&text, buf, buf_len, "buf") }
    })
}

/// `tidelog_apps_add_callback` flag: also hand the rows over as an Arrow C stream
/// (`tidelog_app_rows.arrow`).
pub const TIDELOG_APPS_CALLBACK_ARROW: u32 = 1;

/// One epoch's rows of an in-application stream, as an application callback gets
/// them. Everything it points to is valid during the call only (copy what you keep).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tidelog_app_rows {
    /// `sizeof(tidelog_app_rows)` of this library.
    pub struct_size: usize,
    /// The application's name (NUL-terminated).
    pub app_name: *const c_char,
    /// The in-application stream (NUL-terminated), as given to
    /// `tidelog_apps_add_callback`.
    pub in_app_stream: *const c_char,
    /// The epoch the rows belong to (1, 2, ...; after a crash or a kill an epoch that
    /// had not committed comes again, with the same number and the same rows).
    pub epoch: u64,
    /// Rows (at least 1: an epoch without rows for the stream calls nothing).
    pub row_count: usize,
    /// The rows as one JSON array of objects (`[{"ROWTIME": "2026-...Z", "k": "a",
    /// "n": 3}, ...]`: every column of the stream, ROWTIME first, NULLs omitted,
    /// timestamps as ISO 8601 text, DECIMAL as JSON numbers or texts), NUL-terminated.
    pub rows_json: *const c_char,
    /// Bytes of `rows_json`, without the NUL.
    pub rows_json_len: usize,
    /// With `TIDELOG_APPS_CALLBACK_ARROW`: the rows as an Arrow C stream of one record
    /// batch (the stream's columns, ROWTIME first, as `timestamp[ms, UTC]`); NULL
    /// otherwise. Arrow's move semantics: to keep it past the call, copy the struct
    /// and set the original's `release` to NULL (then call `release` on your copy when
    /// done); if `release` is still set when the callback returns, tidelog releases it.
    pub arrow: *mut ArrowArrayStream,
}

/// An application callback: called with each epoch's rows of the in-application
/// stream it was added for, on the application's thread (`tidelog-app-<name>`), or on
/// the thread of `tidelog_apps_start` / `tidelog_apps_open` when they compute again an
/// epoch a crash interrupted. One call at a time per application; several
/// applications' callbacks may run at once. It is called before the epoch commits, so
/// delivery is at least once: after a crash the same epoch (number and rows) may come
/// again. It must not unwind, and must not stop, delete, start or free the
/// application it serves (stop/delete of its own application from the callback
/// return TIDELOG_STATUS_INVALID_ARGUMENT); describe and list are fine. While it runs
/// the application makes no progress.
pub type tidelog_apps_callback_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, rows: *const tidelog_app_rows)>;

/// Releases a callback's user data: called once, when tidelog drops the callback
/// (after its last call), on the thread that dropped it.
pub type tidelog_apps_release_fn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// Adds a callback for in-application stream `in_app_stream` of application `name`
/// (any stream of its code, `error_stream` included). Only while the application is
/// not running (INVALID_ARGUMENT otherwise, as after it failed: stop it first); it
/// applies from the next `tidelog_apps_start`. Several callbacks may be added; they
/// are called in the order added. `flags` is 0 or `TIDELOG_APPS_CALLBACK_ARROW`.
/// `release` (may be NULL) gets `user_data` once tidelog no longer needs it: after
/// `tidelog_apps_clear_callbacks`, `tidelog_apps_delete` of the application or
/// `tidelog_apps_free` (each stops the application's thread first, so no call is under
/// way then), and also when this function fails. Callbacks are not stored with the
/// application: after `tidelog_apps_open` (a restart) add them again, before the
/// application starts (an application resumed by the open runs without them until
/// stopped and started). RESOURCE_NOT_FOUND for an unknown application or stream,
/// VALIDATION for unknown flags.
///
/// # Safety
/// The strings are NULL or NUL-terminated; `callback` and `release` may be called from
/// any thread, with `user_data`, as described above.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_apps_add_callback(
    apps: *mut tidelog_apps,
    name: *const c_char,
    in_app_stream: *const c_char,
    callback: tidelog_apps_callback_fn,
    user_data: *mut c_void,
    release: tidelog_apps_release_fn,
    flags: u32,
) -> tidelog_status {
    // Ownership of `user_data` passes to tidelog first, so every failure releases it.
    let owned = imp::UserData {
        user_data: user_data as usize,
        release,
    };
    boundary::call(move || {
        // SAFETY: contract: NULL or NUL-terminated.
        let name = unsafe { args::string(name, "name") }?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(in_app_stream, "in_app_stream") }?;
        let callback = callback.ok_or_else(|| crate::status::FfiError::null("callback"))?;
        if flags & !TIDELOG_APPS_CALLBACK_ARROW != 0 {
            return Err(crate::status::FfiError::new(
                crate::status::tidelog_status::Validation,
                format!("flags {flags:#x}: only TIDELOG_APPS_CALLBACK_ARROW (1) is defined"),
            ));
        }
        imp::add_callback(
            apps,
            name,
            stream,
            callback,
            owned,
            flags & TIDELOG_APPS_CALLBACK_ARROW != 0,
        )
    })
}

/// Removes every callback of application `name` (only while it is not running:
/// INVALID_ARGUMENT otherwise); their release functions run before this returns.
///
/// # Safety
/// `name` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_apps_clear_callbacks(
    apps: *mut tidelog_apps,
    name: *const c_char,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or NUL-terminated.
        let name = unsafe { args::string(name, "name") }?;
        imp::clear_callbacks(apps, name)
    })
}

/// The C callback's function type, without the `Option`.
type CallbackFn = unsafe extern "C" fn(*mut c_void, *const tidelog_app_rows);

#[cfg(feature = "analytics")]
mod imp {
    use std::ffi::{CString, c_void};
    use std::sync::Arc;
    use std::time::Duration;

    use tidelog_analytics::app::{AppDefinition, Callback, StartFrom};
    use tidelog_analytics::arrow::array::RecordBatch;
    use tidelog_analytics::arrow::ffi_stream::FFI_ArrowArrayStream;
    use tidelog_analytics::arrow::record_batch::RecordBatchIterator;
    use tidelog_analytics::{Applications, Error as AError};

    use super::{CallbackFn, tidelog_app_rows, tidelog_apps_release_fn};
    use crate::abi::*;
    use crate::engine::engine;
    use crate::handles::{Registry, kind};
    use crate::status::{FfiError, FfiResult, tidelog_status};

    /// A callback's user data and its release function, which runs when this drops.
    pub struct UserData {
        pub user_data: usize,
        pub release: tidelog_apps_release_fn,
    }

    impl Drop for UserData {
        fn drop(&mut self) {
            if let Some(release) = self.release {
                // SAFETY: `tidelog_apps_add_callback`'s contract: `release` may be
                // called from any thread with `user_data`, once tidelog drops the
                // callback; this value exists once per add and drops once.
                unsafe { release(self.user_data as *mut c_void) }
            }
        }
    }

    /// A C callback as the applications manager calls it.
    struct CCallback {
        callback: CallbackFn,
        data: UserData,
        app: CString,
        stream: CString,
        arrow: bool,
    }

    impl CCallback {
        fn call(&self, epoch: u64, batch: &RecordBatch) {
            let json = rows_json(batch);
            let mut stream = self.arrow.then(|| {
                let reader =
                    RecordBatchIterator::new(std::iter::once(Ok(batch.clone())), batch.schema());
                FFI_ArrowArrayStream::new(Box::new(reader))
            });
            let rows = tidelog_app_rows {
                struct_size: std::mem::size_of::<tidelog_app_rows>(),
                app_name: self.app.as_ptr(),
                in_app_stream: self.stream.as_ptr(),
                epoch,
                row_count: batch.num_rows(),
                rows_json: json.as_ptr(),
                rows_json_len: json.as_bytes().len(),
                arrow: stream.as_mut().map_or(std::ptr::null_mut(), |s| {
                    (s as *mut FFI_ArrowArrayStream).cast()
                }),
            };
            // SAFETY: the registration's contract: `callback` has this signature and
            // may be called from any thread with `user_data`; `rows` and what it
            // points to (the names, the JSON text, the Arrow stream, whose layout is
            // the C struct ArrowArrayStream) live until it returns. If the callee
            // moved the stream out it set `release` to NULL, and dropping `stream`
            // below releases nothing.
            unsafe { (self.callback)(self.data.user_data as *mut c_void, &rows) };
            drop(stream);
        }
    }

    /// The rows as a JSON array of objects (NULLs omitted), NUL-terminated.
    fn rows_json(batch: &RecordBatch) -> CString {
        let mut w = tidelog_analytics::arrow::json::ArrayWriter::new(Vec::new());
        let text = w
            .write_batches(&[batch])
            .and_then(|()| w.finish())
            .map(|()| w.into_inner())
            .unwrap_or_else(|e| {
                serde_json::json!([{ "error": format!("rows not encodable as JSON: {e}") }])
                    .to_string()
                    .into_bytes()
            });
        CString::new(text).unwrap_or_default()
    }

    pub fn add_callback(
        apps: *mut tidelog_apps,
        name: &str,
        stream: &str,
        callback: CallbackFn,
        data: UserData,
        arrow: bool,
    ) -> FfiResult<()> {
        let apps = APPS.get(apps, "apps")?;
        let c = CCallback {
            callback,
            data,
            app: crate::lists::c_string(name)?,
            stream: crate::lists::c_string(stream)?,
            arrow,
        };
        let f: Callback =
            Arc::new(move |_stream: &str, epoch: u64, batch: &RecordBatch| c.call(epoch, batch));
        apps.apps.add_callback(name, stream, f).map_err(err)
    }

    pub fn clear_callbacks(apps: *mut tidelog_apps, name: &str) -> FfiResult<()> {
        APPS.get(apps, "apps")?
            .apps
            .clear_callbacks(name)
            .map_err(err)
    }

    /// What an applications handle holds.
    pub struct AppsObject {
        apps: Applications,
    }

    impl Drop for AppsObject {
        fn drop(&mut self) {
            self.apps.close();
        }
    }

    /// Every live handle.
    pub static APPS: Registry<AppsObject> = Registry::new(kind::APPS, "tidelog_apps");

    fn err(e: AError) -> FfiError {
        let status = match &e {
            AError::Sql(_) => tidelog_status::Sql,
            AError::Schema(_) => tidelog_status::Schema,
            AError::Invalid(_) => tidelog_status::Validation,
            AError::NotFound(_) => tidelog_status::ResourceNotFound,
            AError::Exists(_) => tidelog_status::ResourceInUse,
            AError::State(_) => tidelog_status::InvalidArgument,
            AError::Engine(inner) => inner.kind().into(),
            AError::Io { .. } => tidelog_status::Io,
            AError::Closed => tidelog_status::Closed,
        };
        FfiError::new(status, e.to_string())
    }

    pub fn open(engine_handle: *mut tidelog_engine) -> FfiResult<*mut tidelog_apps> {
        let engine = engine(engine_handle)?;
        let apps = Applications::open(&engine.engine).map_err(err)?;
        APPS.insert(AppsObject { apps })
    }

    pub fn open_with_firehose(
        engine_handle: *mut tidelog_engine,
        firehose: &tidelog_fh::Firehose,
    ) -> FfiResult<*mut tidelog_apps> {
        let engine = engine(engine_handle)?;
        let apps = Applications::open_with_firehose(&engine.engine, firehose).map_err(err)?;
        APPS.insert(AppsObject { apps })
    }

    pub fn free(apps: *mut tidelog_apps) -> FfiResult<()> {
        APPS.free(apps)
    }

    pub fn create(apps: *mut tidelog_apps, definition: &str) -> FfiResult<()> {
        let apps = APPS.get(apps, "apps")?;
        let def = AppDefinition::from_json(definition).map_err(err)?;
        apps.apps.create(def).map_err(err)
    }

    pub fn start(apps: *mut tidelog_apps, name: &str, position: &str) -> FfiResult<()> {
        let apps = APPS.get(apps, "apps")?;
        let from = StartFrom::parse(position).map_err(err)?;
        apps.apps.start(name, from).map_err(err)
    }

    pub fn stop(apps: *mut tidelog_apps, name: &str) -> FfiResult<()> {
        APPS.get(apps, "apps")?.apps.stop(name).map_err(err)
    }

    pub fn delete(apps: *mut tidelog_apps, name: &str) -> FfiResult<()> {
        APPS.get(apps, "apps")?.apps.delete(name).map_err(err)
    }

    pub fn reload(apps: *mut tidelog_apps, name: &str, table: &str) -> FfiResult<()> {
        APPS.get(apps, "apps")?
            .apps
            .reload_reference(name, table)
            .map_err(err)
    }

    pub fn wait_idle(apps: *mut tidelog_apps, name: &str, timeout_ms: u32) -> FfiResult<()> {
        APPS.get(apps, "apps")?
            .apps
            .wait_idle(name, Duration::from_millis(u64::from(timeout_ms)))
            .map_err(err)
    }

    pub fn describe(apps: *mut tidelog_apps, name: &str) -> FfiResult<CString> {
        let d = APPS.get(apps, "apps")?.apps.describe(name).map_err(err)?;
        crate::lists::c_string(&d.to_json())
    }

    pub fn list(apps: *mut tidelog_apps) -> FfiResult<CString> {
        let list = APPS.get(apps, "apps")?.apps.list();
        let items: Vec<serde_json::Value> = list
            .iter()
            .map(|(n, s)| serde_json::json!({"Name": n, "Status": s.name()}))
            .collect();
        crate::lists::c_string(&serde_json::Value::Array(items).to_string())
    }
}

#[cfg(not(feature = "analytics"))]
mod imp {
    use std::ffi::CString;

    use crate::abi::*;
    use crate::status::{FfiError, FfiResult, tidelog_status};

    fn unsupported() -> FfiError {
        FfiError::new(
            tidelog_status::Unsupported,
            "this libtidelog was built without SQL (cargo feature `analytics` of tidelog-ffi)",
        )
    }

    pub fn open(_: *mut tidelog_engine) -> FfiResult<*mut tidelog_apps> {
        Err(unsupported())
    }
    pub fn open_with_firehose(
        _: *mut tidelog_engine,
        _: &tidelog_fh::Firehose,
    ) -> FfiResult<*mut tidelog_apps> {
        Err(unsupported())
    }
    pub fn free(apps: *mut tidelog_apps) -> FfiResult<()> {
        if apps.is_null() {
            Ok(())
        } else {
            Err(unsupported())
        }
    }
    pub fn create(_: *mut tidelog_apps, _: &str) -> FfiResult<()> {
        Err(unsupported())
    }
    pub fn start(_: *mut tidelog_apps, _: &str, _: &str) -> FfiResult<()> {
        Err(unsupported())
    }
    pub fn stop(_: *mut tidelog_apps, _: &str) -> FfiResult<()> {
        Err(unsupported())
    }
    pub fn delete(_: *mut tidelog_apps, _: &str) -> FfiResult<()> {
        Err(unsupported())
    }
    pub fn reload(_: *mut tidelog_apps, _: &str, _: &str) -> FfiResult<()> {
        Err(unsupported())
    }
    pub fn wait_idle(_: *mut tidelog_apps, _: &str, _: u32) -> FfiResult<()> {
        Err(unsupported())
    }
    pub fn describe(_: *mut tidelog_apps, _: &str) -> FfiResult<CString> {
        Err(unsupported())
    }
    pub fn list(_: *mut tidelog_apps) -> FfiResult<CString> {
        Err(unsupported())
    }

    /// A callback's user data and its release function, which runs when this drops.
    pub struct UserData {
        pub user_data: usize,
        pub release: super::tidelog_apps_release_fn,
    }

    impl Drop for UserData {
        fn drop(&mut self) {
            if let Some(release) = self.release {
                // SAFETY: `tidelog_apps_add_callback`'s contract: `release` may be
                // called with `user_data` once tidelog no longer needs it (here: the
                // add failed).
                unsafe { release(self.user_data as *mut std::ffi::c_void) }
            }
        }
    }

    pub fn add_callback(
        _: *mut tidelog_apps,
        _: &str,
        _: &str,
        _: super::CallbackFn,
        _: UserData,
        _: bool,
    ) -> FfiResult<()> {
        Err(unsupported())
    }
    pub fn clear_callbacks(_: *mut tidelog_apps, _: &str) -> FfiResult<()> {
        Err(unsupported())
    }
}
