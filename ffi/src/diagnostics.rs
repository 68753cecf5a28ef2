//! Status names, the last error message, versions, and the live-handle count.
//!
//! Invariant: every string these functions return is static (or, for the last error,
//! thread-local with a documented lifetime) and NUL-terminated; none allocates for the
//! caller, none can fail. Like every export they run inside the panic boundary (with a
//! fallback value, since they return no status).

use std::ffi::c_char;

use crate::abi::{TIDELOG_VERSION_MAJOR, TIDELOG_VERSION_MINOR, TIDELOG_VERSION_PATCH};
use crate::boundary;
use crate::handles;
use crate::status::{self, tidelog_status};

/// The name of a status as this header spells it (e.g.
/// "TIDELOG_STATUS_RESOURCE_NOT_FOUND"); "TIDELOG_STATUS_UNKNOWN" for a value that is
/// not a status. Never NULL; static. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn tidelog_status_name(status: u32) -> *const c_char {
    boundary::call_value(c"TIDELOG_STATUS_UNKNOWN".as_ptr(), || {
        tidelog_status::from_value(status)
            .map_or(c"TIDELOG_STATUS_UNKNOWN", tidelog_status::name)
            .as_ptr()
    })
}

/// The Kinesis exception name of an engine error status (e.g.
/// "ResourceNotFoundException"); NULL for `TIDELOG_STATUS_OK`, the ABI-level statuses
/// (100 and above) and values that are not statuses. Static. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn tidelog_status_kinesis_name(status: u32) -> *const c_char {
    boundary::call_value(std::ptr::null(), || {
        tidelog_status::from_value(status)
            .and_then(tidelog_status::kinesis_name)
            .map_or(std::ptr::null(), |name| name.as_ptr())
    })
}

/// A one-line description of the most recent failed call on the calling thread ("" if
/// none has failed yet). Successful calls leave it unchanged. Never NULL.
///
/// The string belongs to the thread: it stays valid until the thread's next call to
/// a tidelog function other than this one, `tidelog_status_name` and
/// `tidelog_status_kinesis_name` (copy it to keep it), and never outlives the thread.
/// In a subscription callback it describes the event's error.
#[unsafe(no_mangle)]
pub extern "C" fn tidelog_last_error_message() -> *const c_char {
    boundary::call_value(c"".as_ptr(), status::last_error_ptr)
}

/// The library's version as text, e.g. "0.1.0" (compare with the header's
/// `TIDELOG_VERSION_MAJOR`/`_MINOR`/`_PATCH`). Static. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn tidelog_version_string() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    boundary::call_value(VERSION.as_ptr().cast(), || VERSION.as_ptr().cast())
}

/// The library's version as one number, `(major << 16) | (minor << 8) | patch`: the
/// same encoding as the header's `TIDELOG_VERSION_NUMBER`, so a program can check at
/// run time that the library it loaded is the one it was compiled against (same
/// major, minor at least the header's). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn tidelog_version_number() -> u32 {
    const NUMBER: u32 =
        (TIDELOG_VERSION_MAJOR << 16) | (TIDELOG_VERSION_MINOR << 8) | TIDELOG_VERSION_PATCH;
    boundary::call_value(NUMBER, || NUMBER)
}

/// How many handles of all kinds (engines, iterators, batches, subscriptions, lists,
/// outputs) are live in this process: a leak check for tests and shutdown code.
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn tidelog_live_handle_count() -> usize {
    boundary::call_value(0, handles::live_count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn version_constants_match_the_crate_version() {
        assert_eq!(
            TIDELOG_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            TIDELOG_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            TIDELOG_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
        // SAFETY: a static NUL-terminated string.
        let text = unsafe { CStr::from_ptr(tidelog_version_string()) };
        assert_eq!(text.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn names_for_known_and_unknown_values() {
        // SAFETY: static NUL-terminated strings.
        unsafe {
            assert_eq!(
                CStr::from_ptr(tidelog_status_name(3)),
                c"TIDELOG_STATUS_RESOURCE_NOT_FOUND"
            );
            assert_eq!(
                CStr::from_ptr(tidelog_status_name(4242)),
                c"TIDELOG_STATUS_UNKNOWN"
            );
            assert_eq!(
                CStr::from_ptr(tidelog_status_kinesis_name(6)),
                c"ProvisionedThroughputExceededException"
            );
        }
        assert!(tidelog_status_kinesis_name(0).is_null());
        assert!(tidelog_status_kinesis_name(100).is_null());
        assert!(tidelog_status_kinesis_name(4242).is_null());
    }
}
