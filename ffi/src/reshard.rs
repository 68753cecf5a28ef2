//! Resharding: SplitShard, MergeShards, UpdateShardCount, and the expiry of closed
//! shards. Each call blocks until the new shards are routable (puts racing with it are
//! rerouted, none lost) and is thread-safe; a second change to the same stream while
//! one runs gets RESOURCE_IN_USE.

use std::ffi::c_char;

use crate::abi::*;
use crate::args::{self, Out};
use crate::boundary;
use crate::engine::engine;
use crate::status::tidelog_status;

/// SplitShard: closes `shard_id` and creates two children covering its range, the
/// second starting at `new_starting_hash_key` (decimal; inside the parent's range and
/// above its first key, else INVALID_ARGUMENT). A closed shard cannot be split
/// (INVALID_ARGUMENT). Tip: `tidelog_u128_parse`/`_format` compute a midpoint.
///
/// # Safety
/// The strings are NULL or NUL-terminated (read during the call only).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_split_shard(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    shard_id: *const c_char,
    new_starting_hash_key: *const c_char,
) -> tidelog_status {
    boundary::call(|| {
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated (each string below).
        let stream = unsafe { args::string(stream, "stream") }?;
        // SAFETY: as above.
        let shard_id = unsafe { args::string(shard_id, "shard_id") }?;
        // SAFETY: as above.
        let key = unsafe { args::string(new_starting_hash_key, "new_starting_hash_key") }?;
        Ok(engine.engine.split_shard(stream, shard_id, key)?)
    })
}

/// MergeShards: closes two adjacent open shards and creates one child covering both
/// (parent `shard_id`, adjacent parent `adjacent_shard_id`). Shards that are not
/// adjacent, or closed, give INVALID_ARGUMENT.
///
/// # Safety
/// The strings are NULL or NUL-terminated (read during the call only).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_merge_shards(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    shard_id: *const c_char,
    adjacent_shard_id: *const c_char,
) -> tidelog_status {
    boundary::call(|| {
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated (each string below).
        let stream = unsafe { args::string(stream, "stream") }?;
        // SAFETY: as above.
        let shard_id = unsafe { args::string(shard_id, "shard_id") }?;
        // SAFETY: as above.
        let adjacent = unsafe { args::string(adjacent_shard_id, "adjacent_shard_id") }?;
        Ok(engine.engine.merge_shards(stream, shard_id, adjacent)?)
    })
}

/// UpdateShardCount: takes the stream to `target_shard_count` open shards with even
/// ranges (at most double, at least half the current count: INVALID_ARGUMENT
/// otherwise), through splits and merges. `scaling_type` is NULL or
/// "UNIFORM_SCALING" (anything else: INVALID_ARGUMENT). `current_out` and
/// `target_out` receive the counts before and after; each may be NULL.
///
/// # Safety
/// The strings are NULL or NUL-terminated; the out-pointers NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_update_shard_count(
    engine: *mut tidelog_engine,
    stream: *const c_char,
    target_shard_count: u32,
    scaling_type: *const c_char,
    current_out: *mut u32,
    target_out: *mut u32,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let current = unsafe { Out::optional(current_out) };
        // SAFETY: contract: NULL or writable.
        let target = unsafe { Out::optional(target_out) };
        let engine = self::engine(engine)?;
        // SAFETY: contract: NULL or NUL-terminated.
        let stream = unsafe { args::string(stream, "stream") }?;
        // SAFETY: contract: NULL or NUL-terminated.
        let scaling = unsafe { args::opt_string(scaling_type, "scaling_type") }?;
        let output = engine.engine.update_shard_count(
            stream,
            target_shard_count,
            scaling.unwrap_or("UNIFORM_SCALING"),
        )?;
        if let Some(out) = current {
            out.write(output.current_shard_count);
        }
        if let Some(out) = target {
            out.write(output.target_shard_count);
        }
        Ok(())
    })
}

/// Expires closed shards whose every record is past their stream's retention (marks
/// them EXPIRED, reclaims their files, stops listing them); it also runs every
/// `maintenance_interval_ms`. `expired_out` (may be NULL) receives how many expired.
///
/// # Safety
/// `expired_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_expire_shards(
    engine: *mut tidelog_engine,
    expired_out: *mut usize,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let out = unsafe { Out::optional(expired_out) };
        let expired = self::engine(engine)?.engine.expire_shards()?;
        if let Some(out) = out {
            out.write(expired);
        }
        Ok(())
    })
}
