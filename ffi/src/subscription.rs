//! Subscriptions: push-style reads of a shard (and, with lineage following, of its
//! descendants), blocking or through a callback on a thread of the library's own.
//!
//! Invariants:
//! - A blocking subscription is a `tidelog::Subscription` behind a mutex: concurrent
//!   `tidelog_subscription_next` calls are serialized.
//! - A callback subscription owns one thread (`tidelog-subscriber`) that waits for
//!   events and calls the callback, one event at a time. `tidelog_subscription_close`
//!   sets the stop flag and joins that thread, so once close returns the callback is
//!   not running and never runs again (closing from inside the callback returns at
//!   once; the thread ends when the callback returns). The thread checks the flag at
//!   least every [`POLL`], so close waits at most that long plus the callback's run.
//! - A batch lent to a callback is a real batch handle, freed when the callback
//!   returns: a callback that keeps it and uses it later gets INVALID_HANDLE, never
//!   freed memory.

use std::ffi::c_void;
use std::mem::size_of;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use std::ffi::c_char;

use tidelog_core::log::ReadBatch;
use tidelog_core::{Subscription, SubscriptionEvent};

use crate::abi::*;
use crate::args::{self, Out, OutStruct, fixed};
use crate::boundary::{self, panic_message};
use crate::engine::engine;
use crate::handles::{Registry, kind};
use crate::lists::{STRING_LISTS, c_string};
use crate::read::{BATCHES, BatchObject, position};
use crate::status::{FfiError, FfiResult, set_last_error, tidelog_status};

/// How long the subscriber thread waits for an event before it looks at its stop flag.
pub(crate) const POLL: Duration = Duration::from_millis(20);

/// What a subscription handle holds.
pub enum SubscriptionObject {
    /// `tidelog_subscribe`: events are pulled with `tidelog_subscription_next`.
    Blocking(Mutex<Subscription>),
    /// `tidelog_subscribe_with_callback`: a thread pushes events to the callback.
    Callback(CallbackRunner),
}

/// The thread of a callback subscription.
pub struct CallbackRunner {
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl CallbackRunner {
    /// Stops the thread; waits for it unless called from it (from the callback).
    fn stop_and_join(&self) {
        self.stop.store(true, Ordering::Release);
        let thread = lock(&self.thread).take();
        if let Some(thread) = thread {
            if thread.thread().id() != std::thread::current().id() {
                // A panic on the thread was already delivered as an ERROR event.
                let _ = thread.join();
            }
        }
    }
}

impl Drop for CallbackRunner {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Every live subscription.
pub static SUBSCRIPTIONS: Registry<SubscriptionObject> =
    Registry::new(kind::SUBSCRIPTION, "tidelog_subscription");

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An event in ABI form, with its batch registered as a handle.
fn event_struct(
    kind: tidelog_event_kind,
    status: tidelog_status,
    shard_id: &str,
    batch: Option<BatchObject>,
) -> FfiResult<tidelog_subscription_event> {
    let batch = match batch {
        Some(b) => BATCHES.insert(b)?,
        None => std::ptr::null_mut(),
    };
    Ok(tidelog_subscription_event {
        struct_size: size_of::<tidelog_subscription_event>(),
        kind,
        status,
        shard_id: fixed(shard_id)?,
        batch,
    })
}

/// The ABI form of an engine event (batch included).
fn convert(event: SubscriptionEvent) -> FfiResult<tidelog_subscription_event> {
    match event {
        SubscriptionEvent::Records { shard_id, batch } => event_struct(
            tidelog_event_kind::Records,
            tidelog_status::Ok,
            &shard_id,
            Some(BatchObject::new(&shard_id, batch, 0, &[])?),
        ),
        SubscriptionEvent::ShardEnded {
            shard_id,
            child_shards,
        } => event_struct(
            tidelog_event_kind::ShardEnded,
            tidelog_status::Ok,
            &shard_id,
            Some(BatchObject::new(
                &shard_id,
                ReadBatch::default(),
                0,
                &child_shards,
            )?),
        ),
        SubscriptionEvent::Timeout => {
            event_struct(tidelog_event_kind::Timeout, tidelog_status::Ok, "", None)
        }
        SubscriptionEvent::Finished => {
            event_struct(tidelog_event_kind::Finished, tidelog_status::Ok, "", None)
        }
    }
}

/// Subscribes to shard `shard_id` of `stream` from a starting position (as
/// `tidelog_get_shard_iterator`). With `follow_lineage`, when the shard is closed and
/// read to its end the subscription goes on with its children (both children of a
/// split side by side; the child of a merge once both parents are drained), so the
/// records of one partition key arrive in put order across reshards.
///
/// `subscription_out` receives the new handle (NULL on failure); pull events with
/// `tidelog_subscription_next`; release it with `tidelog_subscription_close`. A
/// subscription has its own 2 MiB/s budget, apart from the shard's GetRecords limits.
///
/// # Safety
/// The strings are NULL or NUL-terminated (read during the call only);
/// `subscription_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_subscribe(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    shard_id: *const c_char,
    iterator_type: u32,
    sequence_number: *const c_char,
    timestamp_ms: u64,
    follow_lineage: bool,
    subscription_out: *mut *mut tidelog_subscription,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(subscription_out, "subscription_out") }?;
        args::produce(out, || {
            // SAFETY: contract: the strings are NULL or NUL-terminated.
            let sub = unsafe {
                subscribe(
                    engine,
                    stream,
                    shard_id,
                    iterator_type,
                    sequence_number,
                    timestamp_ms,
                    follow_lineage,
                )
            }?;
            SUBSCRIPTIONS.insert(SubscriptionObject::Blocking(Mutex::new(sub)))
        })
    })
}

/// # Safety
/// The strings are NULL or NUL-terminated.
unsafe fn subscribe(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    shard_id: *const c_char,
    iterator_type: u32,
    sequence_number: *const c_char,
    timestamp_ms: u64,
    follow_lineage: bool,
) -> FfiResult<Subscription> {
    let engine = self::engine(engine)?;
    // SAFETY: this function's contract (each string below).
    let stream = unsafe { args::string(stream, "stream") }?;
    // SAFETY: as above.
    let shard_id = unsafe { args::string(shard_id, "shard_id") }?;
    // SAFETY: as above.
    let seq = unsafe { args::opt_string(sequence_number, "sequence_number") }?;
    let position = position(iterator_type, seq, timestamp_ms)?;
    Ok(engine
        .engine
        .subscribe(stream, shard_id, position, follow_lineage)?)
}

/// Waits up to `timeout_ms` (at most `TIDELOG_TIMEOUT_MS_MAX`) for the next event and
/// fills `*event_out` (set its `struct_size` first): RECORDS (with a batch the caller
/// now owns: `tidelog_batch_free`), SHARD_ENDED (with a batch listing the children,
/// also owned by the caller), FINISHED, or TIMEOUT (batch NULL). Errors are returned
/// as the status (the event is then untouched).
///
/// Blocks the calling thread: it spins briefly (`subscriber_spin_us`) and then sleeps
/// until a core publishes new records. Calls on one subscription are serialized; any
/// thread may call. A callback subscription gives WRONG_SUBSCRIPTION_MODE.
///
/// # Safety
/// `event_out` is NULL or a writable struct of its `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_subscription_next(
    subscription: *mut tidelog_subscription,
    timeout_ms: u64,
    event_out: *mut tidelog_subscription_event,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let out = unsafe { OutStruct::new(event_out, "event_out") }?;
        let object = SUBSCRIPTIONS.get(subscription, "subscription")?;
        if timeout_ms > TIDELOG_TIMEOUT_MS_MAX {
            return Err(FfiError::new(
                tidelog_status::OutOfRange,
                format!(
                    "timeout_ms = {timeout_ms} is above TIDELOG_TIMEOUT_MS_MAX ({TIDELOG_TIMEOUT_MS_MAX})"
                ),
            ));
        }
        let SubscriptionObject::Blocking(sub) = &*object else {
            return Err(wrong_mode("tidelog_subscription_next"));
        };
        let event = lock(sub).next(Duration::from_millis(timeout_ms))?;
        out.write(convert(event)?);
        Ok(())
    })
}

fn wrong_mode(call: &str) -> FfiError {
    FfiError::new(
        tidelog_status::WrongSubscriptionMode,
        format!("{call} is for blocking subscriptions; this one delivers to a callback"),
    )
}

/// The shards the subscription is reading now, as a new string list in `*ids_out`
/// (NULL on failure; `tidelog_string_list_free`). Blocking subscriptions only
/// (a callback subscription gives WRONG_SUBSCRIPTION_MODE). Waits for a
/// `tidelog_subscription_next` running on another thread to return.
///
/// # Safety
/// `ids_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_subscription_shard_ids(
    subscription: *mut tidelog_subscription,
    ids_out: *mut *mut tidelog_string_list,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(ids_out, "ids_out") }?;
        args::produce(out, || {
            let object = SUBSCRIPTIONS.get(subscription, "subscription")?;
            let SubscriptionObject::Blocking(sub) = &*object else {
                return Err(wrong_mode("tidelog_subscription_shard_ids"));
            };
            let ids = lock(sub)
                .shard_ids()
                .iter()
                .map(|id| c_string(id))
                .collect::<FfiResult<Vec<_>>>()?;
            STRING_LISTS.insert(ids)
        })
    })
}

/// The caller's `user_data`, moved to the subscriber thread.
struct UserData(*mut c_void);

// SAFETY: `tidelog_subscribe_with_callback`'s contract makes the caller promise that
// `user_data` may be used from the subscriber thread; tidelog only passes it back.
unsafe impl Send for UserData {}

type Callback =
    unsafe extern "C" fn(user_data: *mut c_void, event: *const tidelog_subscription_event) -> bool;

/// Calls the callback with one event; its batch (if any) is freed afterwards.
fn deliver(callback: Callback, user_data: &UserData, event: &tidelog_subscription_event) -> bool {
    // SAFETY: the callback's contract (tidelog_subscribe_with_callback): a C function
    // of this signature that does not unwind; `event` is a live struct for the call.
    let keep_going = unsafe { callback(user_data.0, event) };
    if !event.batch.is_null() {
        // The callback may have freed it already (INVALID_HANDLE then, ignored).
        let _ = BATCHES.free(event.batch);
    }
    keep_going
}

/// The subscriber thread's loop (see the module doc).
fn run(mut sub: Subscription, stop: Arc<AtomicBool>, callback: Callback, user_data: UserData) {
    loop {
        if stop.load(Ordering::Acquire) {
            return;
        }
        let step = catch_unwind(AssertUnwindSafe(|| -> FfiResult<_> {
            let event = sub.next(POLL)?;
            if matches!(event, SubscriptionEvent::Timeout) {
                return Ok(None);
            }
            Ok(Some(convert(event)?))
        }));
        let event = match step {
            Ok(Ok(None)) => continue,
            Ok(Ok(Some(event))) => event,
            Ok(Err(e)) => error_event(e.status, &e.message),
            Err(payload) => error_event(
                tidelog_status::Panic,
                &format!(
                    "panic inside tidelog's subscriber thread (a bug): {}",
                    panic_message(payload.as_ref())
                ),
            ),
        };
        if stop.load(Ordering::Acquire) {
            // Closed while waiting: deliver nothing more (and free the batch).
            if !event.batch.is_null() {
                let _ = BATCHES.free(event.batch);
            }
            return;
        }
        let last = matches!(
            event.kind,
            tidelog_event_kind::Finished | tidelog_event_kind::Error
        );
        if !deliver(callback, &user_data, &event) || last {
            return;
        }
    }
}

fn error_event(status: tidelog_status, message: &str) -> tidelog_subscription_event {
    set_last_error(message);
    tidelog_subscription_event {
        struct_size: size_of::<tidelog_subscription_event>(),
        kind: tidelog_event_kind::Error,
        status,
        shard_id: [0; TIDELOG_SHARD_ID_BUFFER_SIZE],
        batch: std::ptr::null_mut(),
    }
}

/// Subscribes as `tidelog_subscribe`, but pushes every event to `callback` from a
/// thread the library starts for this subscription (named `tidelog-subscriber`):
/// RECORDS and SHARD_ENDED events (their batch is lent for the callback's duration
/// only: copy what you keep), then FINISHED when every shard has ended, or ERROR
/// (with `status`, and `tidelog_last_error_message()` on that thread) if reading
/// fails; TIMEOUT is never delivered. After FINISHED or ERROR, or when the callback
/// returns false, the thread ends; the handle still needs
/// `tidelog_subscription_close`.
///
/// `tidelog_subscription_close` stops the thread and waits for it (about 20 ms at
/// most, plus a running callback): after it returns the callback is never called again.
/// It may be called from inside the callback (it then returns at once, and the thread
/// ends when the callback returns). Closing the engine ends the subscription with an
/// ERROR event (CLOSED).
///
/// # Safety
/// The strings are NULL or NUL-terminated; `callback` is NULL or a function of this
/// signature that does not unwind and may run on another thread; `user_data` is
/// passed to it unchanged and must be usable from that thread until the subscription
/// is closed; `subscription_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_subscribe_with_callback(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    shard_id: *const c_char,
    iterator_type: u32,
    sequence_number: *const c_char,
    timestamp_ms: u64,
    follow_lineage: bool,
    callback: tidelog_subscription_callback,
    user_data: *mut c_void,
    subscription_out: *mut *mut tidelog_subscription,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(subscription_out, "subscription_out") }?;
        args::produce(out, || {
            let callback = callback.ok_or_else(|| FfiError::null("callback"))?;
            // SAFETY: contract: the strings are NULL or NUL-terminated.
            let sub = unsafe {
                subscribe(
                    engine,
                    stream,
                    shard_id,
                    iterator_type,
                    sequence_number,
                    timestamp_ms,
                    follow_lineage,
                )
            }?;
            let stop = Arc::new(AtomicBool::new(false));
            let user_data = UserData(user_data);
            let thread_stop = Arc::clone(&stop);
            let thread = std::thread::Builder::new()
                .name("tidelog-subscriber".to_string())
                .spawn(move || run(sub, thread_stop, callback, user_data))
                .map_err(|e| {
                    FfiError::new(
                        tidelog_status::Environment,
                        format!("cannot start the subscriber thread: {e}"),
                    )
                })?;
            SUBSCRIPTIONS.insert(SubscriptionObject::Callback(CallbackRunner {
                stop,
                thread: Mutex::new(Some(thread)),
            }))
        })
    })
}

/// Closes the subscription and releases the handle. For a callback subscription it
/// stops the thread first (see `tidelog_subscribe_with_callback`). A
/// `tidelog_subscription_next` running on another thread returns at its timeout.
/// Batches already delivered stay valid. NULL is a no-op; a freed handle gives
/// INVALID_HANDLE.
///
/// # Safety
/// `subscription` is NULL or any value (handles are checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_subscription_close(
    subscription: *mut tidelog_subscription,
) -> tidelog_status {
    boundary::call(|| {
        if subscription.is_null() {
            return Ok(());
        }
        let object = SUBSCRIPTIONS.remove(subscription)?;
        if let SubscriptionObject::Callback(runner) = &*object {
            runner.stop_and_join();
        }
        Ok(())
    })
}
