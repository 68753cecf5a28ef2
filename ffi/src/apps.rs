//! Continuous SQL applications from C (tidelog-analytics' `Applications`): create from
//! a JSON definition, start, stop, describe, list, delete, reload reference data.
//!
//! Invariants:
//! - A `tidelog_apps` handle holds the engine's applications manager; freeing it stops
//!   the application threads (running applications resume at the next
//!   `tidelog_apps_open`). Any number of threads may use one handle.
//! - Text answers (describe, list) are JSON copied into the caller's buffer
//!   (`BUFFER_TOO_SMALL` names the size needed); nothing is written on failure.
//! - Built without the cargo feature `analytics`, every function here returns
//!   `TIDELOG_STATUS_UNSUPPORTED`.

use std::ffi::c_char;

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
/// {"Stream", "Schema": <input schema as tidelog_sql_register_stream takes it>,
/// "NamePrefix"?}, "Outputs"?: [{"InAppStream", "Stream", "Format": "JSON" | "CSV"}],
/// "ReferenceTables"?: [{"Name", "Path", "Schema"}], "Options"?:
/// {"AllowedLatenessMs", "WatermarkDelayMs", "MaxRecordsPerShard"}}`. Everything is
/// checked first: SQL for bad SQL (the message names the line and column),
/// RESOURCE_NOT_FOUND for a missing stream, RESOURCE_IN_USE for a name taken,
/// VALIDATION for a bad name or option.
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

#[cfg(feature = "analytics")]
mod imp {
    use std::ffi::CString;
    use std::time::Duration;

    use tidelog_analytics::app::{AppDefinition, StartFrom};
    use tidelog_analytics::{Applications, Error as AError};

    use crate::abi::*;
    use crate::engine::engine;
    use crate::handles::{Registry, kind};
    use crate::status::{FfiError, FfiResult, tidelog_status};

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
}
