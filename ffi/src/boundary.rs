//! The panic boundary every export runs inside.
//!
//! Invariant: nothing unwinds into C. [`call`] catches any panic of the closure and
//! turns it into `TIDELOG_STATUS_PANIC` with the panic's message as the thread's last
//! error; a returned error becomes its status and message. The free functions use
//! [`call`] too, so even a panicking destructor is reported, not propagated.
#![forbid(unsafe_code)]

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::status::{FfiResult, set_last_error, tidelog_status};

/// Runs one export's body: `Ok` is `TIDELOG_STATUS_OK`; an error or a panic sets this
/// thread's last error message and returns its status.
pub fn call(body: impl FnOnce() -> FfiResult<()>) -> tidelog_status {
    // AssertUnwindSafe: after a panic the call only reports it; the state a panicking
    // call may have left behind is behind mutexes (poison is tolerated) or atomics.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => tidelog_status::Ok,
        Ok(Err(e)) => {
            set_last_error(&e.message);
            e.status
        }
        Err(payload) => {
            set_last_error(&format!(
                "panic inside tidelog (a bug, please report it): {}",
                panic_message(payload.as_ref())
            ));
            tidelog_status::Panic
        }
    }
}

/// Runs a body that returns a value directly (name lookups): a panic gives `fallback`.
pub fn call_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// The text of a panic payload (`&str` or `String`; anything else is unnamed).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::FfiError;

    #[test]
    fn a_panic_becomes_the_panic_status_with_its_message() {
        let status = call(|| panic!("boom {}", 42));
        assert_eq!(status, tidelog_status::Panic);
        assert_eq!(
            crate::status::last_error_text(),
            "panic inside tidelog (a bug, please report it): boom 42"
        );
    }

    #[test]
    fn errors_and_success_map_to_their_statuses() {
        assert_eq!(call(|| Ok(())), tidelog_status::Ok);
        assert_eq!(
            call(|| Err(FfiError::null("engine"))),
            tidelog_status::NullPointer
        );
        assert_eq!(call_value(7, || panic!("x")), 7);
        assert_eq!(call_value(7, || 8), 8);
    }
}
