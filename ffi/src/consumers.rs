//! Enhanced fan-out from C: consumers (register, deregister, describe, list) and
//! SubscribeToShard subscriptions.
//!
//! Invariants: consumer lists are immutable once their handle exists; a shard
//! subscription is used by one call at a time (a mutex) and hands each event out
//! once, its batch owned by the caller from then on; after
//! `tidelog_shard_subscription_free` the subscription is gone (a later SubscribeToShard
//! of the same consumer and shard follows Kinesis's 5-second rule, not this handle).

use std::ffi::c_char;
use std::mem::size_of;
use std::sync::Mutex;
use std::time::Duration;

use tidelog_core::engine::{ConsumerDescription, ConsumerStatus};
use tidelog_core::{FanoutEvent, ShardSubscription};

use crate::abi::*;
use crate::args::{self, Out, OutStruct, fixed};
use crate::boundary;
use crate::engine::engine;
use crate::handles::{Registry, kind};
use crate::lists::{self, CONSUMER_LISTS};
use crate::numbers::decimal;
use crate::read::{BATCHES, BatchObject};
use crate::status::{FfiError, FfiResult, tidelog_status};

/// What a shard subscription handle holds.
pub struct ShardSubscriptionObject {
    sub: Mutex<ShardSubscription>,
}

/// Every live shard subscription.
pub static SHARD_SUBSCRIPTIONS: Registry<ShardSubscriptionObject> =
    Registry::new(kind::SHARD_SUBSCRIPTION, "tidelog_shard_subscription");

fn consumer(c: &ConsumerDescription) -> FfiResult<tidelog_consumer> {
    Ok(tidelog_consumer {
        struct_size: size_of::<tidelog_consumer>(),
        name: fixed(&c.name)?,
        arn: fixed(&c.arn)?,
        status: match c.status {
            ConsumerStatus::Creating => tidelog_consumer_status::Creating,
            ConsumerStatus::Active => tidelog_consumer_status::Active,
            ConsumerStatus::Deleting => tidelog_consumer_status::Deleting,
        },
        created_ms: c.created_ms,
        stream_arn: fixed(&c.stream_arn)?,
    })
}

/// RegisterStreamConsumer: registers `consumer` (1-128 of `[a-zA-Z0-9_.-]`) on
/// `stream` with tags (`tag_keys[i]` = `tag_values[i]`, `tag_count` of them, at most
/// 50), and writes it to `*consumer_out` (status CREATING, as Kinesis answers; ACTIVE
/// after the engine's `consumer_transition_ms`). RESOURCE_IN_USE if it exists,
/// LIMIT_EXCEEDED past 20 consumers (or 5 CREATING), RESOURCE_NOT_FOUND without the
/// stream, VALIDATION for bad names or tags.
///
/// # Safety
/// `stream` and `consumer` are NULL or NUL-terminated; the tag arrays are NULL (only
/// with `tag_count` 0) or hold `tag_count` NUL-terminated strings; `consumer_out` is
/// NULL or a writable struct of its `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_register_stream_consumer(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    consumer: *const c_char,
    tag_keys: *const *const c_char,
    tag_values: *const *const c_char,
    tag_count: usize,
    consumer_out: *mut tidelog_consumer,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let out = unsafe { OutStruct::new(consumer_out, "consumer_out") }?;
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        // SAFETY: contract: NULL or NUL-terminated.
        let name = unsafe { args::string(consumer, "consumer") }?;
        // SAFETY: contract: the tag arrays as documented.
        let tags = unsafe { crate::settings::tag_map(tag_keys, tag_values, tag_count) }?;
        let c = engine
            .engine
            .register_stream_consumer(stream, name, &tags)?;
        out.write(self::consumer(&c)?);
        Ok(())
    })
}

/// The consumer a call names: by `consumer_arn`, or by `stream` and `consumer_name`
/// (each may be NULL as long as one way is given in full; if all are given they must
/// agree: INVALID_ARGUMENT otherwise).
///
/// # Safety
/// Each string is NULL or NUL-terminated.
unsafe fn consumer_args<'a>(
    stream: *const c_char,
    consumer_name: *const c_char,
    consumer_arn: *const c_char,
) -> FfiResult<(Option<&'a str>, Option<&'a str>, Option<&'a str>)> {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        Ok((
            args::opt_string(stream, "stream")?,
            args::opt_string(consumer_name, "consumer_name")?,
            args::opt_string(consumer_arn, "consumer_arn")?,
        ))
    }
}

/// DeregisterStreamConsumer: the consumer (by ARN, or by stream and name; see
/// `tidelog_describe_stream_consumer`) becomes DELETING and its subscriptions end.
///
/// # Safety
/// Each string is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_deregister_stream_consumer(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    consumer_name: *const c_char,
    consumer_arn: *const c_char,
) -> tidelog_status {
    boundary::call(|| {
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated strings.
        let (stream, name, arn) = unsafe { consumer_args(stream, consumer_name, consumer_arn) }?;
        Ok(engine
            .engine
            .deregister_stream_consumer(stream, name, arn)?)
    })
}

/// DescribeStreamConsumer into `*consumer_out`: by `consumer_arn`, or by `stream` and
/// `consumer_name` (pass NULL for the way not used; VALIDATION if neither is complete,
/// INVALID_ARGUMENT if they disagree, RESOURCE_NOT_FOUND if there is no such consumer,
/// including an ARN of an earlier consumer of the same name).
///
/// # Safety
/// Each string is NULL or NUL-terminated; `consumer_out` is NULL or a writable struct
/// of its `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_describe_stream_consumer(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    consumer_name: *const c_char,
    consumer_arn: *const c_char,
    consumer_out: *mut tidelog_consumer,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let out = unsafe { OutStruct::new(consumer_out, "consumer_out") }?;
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated strings.
        let (stream, name, arn) = unsafe { consumer_args(stream, consumer_name, consumer_arn) }?;
        let c = engine.engine.describe_stream_consumer(stream, name, arn)?;
        out.write(self::consumer(&c)?);
        Ok(())
    })
}

/// ListStreamConsumers: at most `limit` (1 to 10,000; 0 = 100) consumers of `stream`
/// in name order after `exclusive_start_name` (NULL: from the first), as a new list in
/// `*consumers_out` (free with `tidelog_consumer_list_free`); `*has_more_out` tells
/// whether more follow.
///
/// # Safety
/// `stream` and `exclusive_start_name` are NULL or NUL-terminated; the out-pointers
/// are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_list_stream_consumers(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    limit: u32,
    exclusive_start_name: *const c_char,
    consumers_out: *mut *mut tidelog_consumer_list,
    has_more_out: *mut bool,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(consumers_out, "consumers_out") }?;
        // SAFETY: contract: NULL or writable.
        let has_more = unsafe { Out::new(has_more_out, "has_more_out") }?;
        args::produce(out, || {
            let engine = self::engine(engine)?;
            // SAFETY: contract: NULL or NUL-terminated.
            let stream = unsafe { args::string(stream, "stream") }?;
            // SAFETY: contract: NULL or NUL-terminated.
            let start = unsafe { args::opt_string(exclusive_start_name, "exclusive_start_name") }?;
            let limit = (limit != 0).then_some(limit as usize);
            let page = engine.engine.list_stream_consumers(stream, limit, start)?;
            let items = page
                .consumers
                .iter()
                .map(self::consumer)
                .collect::<FfiResult<Vec<_>>>()?;
            let handle = CONSUMER_LISTS.insert(items)?;
            has_more.write(page.has_more);
            Ok(handle)
        })
    })
}

/// How many consumers the list holds.
///
/// # Safety
/// `count_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_consumer_list_count(
    list: *const tidelog_consumer_list,
    count_out: *mut usize,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(count_out, "count_out") }?;
        let list = CONSUMER_LISTS.get(list, "list")?;
        out.write(list.len());
        Ok(())
    })
}

/// Copies consumer `index` of the list into `*consumer_out` (OUT_OF_RANGE past the
/// end).
///
/// # Safety
/// `consumer_out` is NULL or a writable struct of its `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_consumer_list_get(
    list: *const tidelog_consumer_list,
    index: usize,
    consumer_out: *mut tidelog_consumer,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let out = unsafe { OutStruct::new(consumer_out, "consumer_out") }?;
        let list = CONSUMER_LISTS.get(list, "list")?;
        out.write(*lists::index(&list, index, "consumer")?);
        Ok(())
    })
}

/// Releases a consumer list. NULL is a no-op; a freed handle gives INVALID_HANDLE.
///
/// # Safety
/// None beyond the handle rules (any value is checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_consumer_list_free(
    list: *mut tidelog_consumer_list,
) -> tidelog_status {
    boundary::call(|| {
        if list.is_null() {
            return Ok(());
        }
        CONSUMER_LISTS.free(list)
    })
}

/// SubscribeToShard: subscribes the consumer `consumer_arn` (ACTIVE) to `shard_id` of
/// its stream from a position (`tidelog_iterator_type`; `sequence_number` with the
/// two sequence-number types, else NULL; `timestamp_ms` with AT_TIMESTAMP). The new
/// subscription goes to `*subscription_out` (free with
/// `tidelog_shard_subscription_free`); read it with `tidelog_shard_subscription_next`.
/// Kinesis's rules hold: RESOURCE_IN_USE within 5 s of the consumer's last
/// subscription to the shard (after that a new one takes over the old, whose next call
/// answers RESOURCE_IN_USE), 5 minutes of events at most, an event at least every 5 s,
/// each consumer its own 2 MiB/s per shard.
///
/// # Safety
/// `consumer_arn`, `shard_id` and `sequence_number` are NULL or NUL-terminated;
/// `subscription_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_subscribe_to_shard(
    engine: *mut tidelog_engine,
    consumer_arn: *const c_char,
    shard_id: *const c_char,
    iterator_type: u32,
    sequence_number: *const c_char,
    timestamp_ms: u64,
    subscription_out: *mut *mut tidelog_shard_subscription,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::new(subscription_out, "subscription_out") }?;
        args::produce(out, || {
            let engine = self::engine(engine)?;
            // SAFETY: contract: NULL or NUL-terminated.
            let arn = unsafe { args::string(consumer_arn, "consumer_arn") }?;
            // SAFETY: contract: NULL or NUL-terminated.
            let shard = unsafe { args::string(shard_id, "shard_id") }?;
            // SAFETY: contract: NULL or NUL-terminated.
            let seq = unsafe { args::opt_string(sequence_number, "sequence_number") }?;
            let position = crate::read::position(iterator_type, seq, timestamp_ms)?;
            let sub = engine.engine.subscribe_to_shard(arn, shard, position)?;
            SHARD_SUBSCRIPTIONS.insert(ShardSubscriptionObject {
                sub: Mutex::new(sub),
            })
        })
    })
}

/// Waits up to `timeout_ms` (at most one day) for the subscription's next event and
/// writes it to `*event_out`: EVENT (records, maybe none: a heartbeat; the caller owns
/// `event_out->batch` and frees it with `tidelog_batch_free`), TIMEOUT, or END (the
/// subscription is over: its 5 minutes passed, or its shard ended after the event
/// with the children; subscribe again to go on). Errors: RESOURCE_IN_USE once another
/// SubscribeToShard took over, RESOURCE_NOT_FOUND once the consumer or stream is gone,
/// the KMS statuses reading an encrypted stream. Blocks the calling thread.
///
/// # Safety
/// `event_out` is NULL or a writable struct of its `struct_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_shard_subscription_next(
    subscription: *mut tidelog_shard_subscription,
    timeout_ms: u64,
    event_out: *mut tidelog_shard_event,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or a writable struct of its struct_size.
        let out = unsafe { OutStruct::new(event_out, "event_out") }?;
        if timeout_ms > TIDELOG_TIMEOUT_MS_MAX {
            return Err(FfiError::new(
                tidelog_status::OutOfRange,
                format!("timeout_ms {timeout_ms} is above one day ({TIDELOG_TIMEOUT_MS_MAX})"),
            ));
        }
        let object = SHARD_SUBSCRIPTIONS.get(subscription, "subscription")?;
        let mut sub = object.sub.lock().unwrap_or_else(|p| p.into_inner());
        let event = sub.next(Duration::from_millis(timeout_ms))?;
        let mut written = tidelog_shard_event {
            struct_size: size_of::<tidelog_shard_event>(),
            kind: tidelog_shard_event_kind::Timeout,
            has_continuation: 0,
            continuation_sequence_number: [0; TIDELOG_SEQUENCE_NUMBER_BUFFER_SIZE],
            millis_behind_latest: 0,
            batch: std::ptr::null_mut(),
        };
        match event {
            FanoutEvent::Timeout => {}
            FanoutEvent::End => written.kind = tidelog_shard_event_kind::End,
            FanoutEvent::Event(e) => {
                written.kind = tidelog_shard_event_kind::Event;
                if let Some(seq) = e.continuation_sequence_number {
                    written.has_continuation = 1;
                    written.continuation_sequence_number = decimal(seq);
                }
                written.millis_behind_latest = e.millis_behind_latest;
                let batch = BatchObject::new(
                    sub.shard_id(),
                    e.records,
                    e.millis_behind_latest,
                    &e.child_shards,
                )?;
                written.batch = BATCHES.insert(batch)?;
            }
        }
        out.write(written);
        Ok(())
    })
}

/// Ends the subscription and releases the handle. NULL is a no-op; a freed handle
/// gives INVALID_HANDLE. Batches already handed out stay valid.
///
/// # Safety
/// None beyond the handle rules (any value is checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_shard_subscription_free(
    subscription: *mut tidelog_shard_subscription,
) -> tidelog_status {
    boundary::call(|| {
        if subscription.is_null() {
            return Ok(());
        }
        SHARD_SUBSCRIPTIONS.free(subscription)
    })
}
