//! Engine handles: options, open, close, free, flush, maintenance, the manual clock.
//!
//! Invariants: an engine handle owns one `tidelog::Engine` (a clone of which lives in
//! every iterator and subscription made from it); `tidelog_engine_close` closes the
//! engine but keeps the handle (later calls on it, and on iterators and subscriptions
//! made from it, return `TIDELOG_STATUS_CLOSED`); `tidelog_engine_free` closes it and
//! releases the handle. Options are read once, during `tidelog_engine_open`.

use std::ffi::c_char;
use std::mem::size_of;
use std::sync::Arc;
use std::time::Duration;

use tidelog_core::crypto::{FileKeyProvider, KeyProvider, KmsError, KmsFailure, MasterKey};
use tidelog_core::io::Preallocation;
use tidelog_core::{Durability, Engine, EngineConfig, Limits, Machine, ManualClock, SyncDriver};

use crate::abi::*;
use crate::args::{self, InStruct, Out, SizedStruct};
use crate::boundary;
use crate::handles::{Registry, kind};
use crate::status::{FfiError, FfiResult, tidelog_status};

/// What an engine handle holds.
pub struct EngineObject {
    /// The engine.
    pub engine: Engine,
    /// The manual clock, if the engine was opened with one.
    pub clock: Option<Arc<ManualClock>>,
}

/// Every live engine handle.
pub static ENGINES: Registry<EngineObject> = Registry::new(kind::ENGINE, "tidelog_engine");

/// The engine behind a handle argument.
pub fn engine(handle: *const tidelog_engine) -> FfiResult<Arc<EngineObject>> {
    ENGINES.get(handle, "engine")
}

// SAFETY: #[repr(C)], starts with struct_size, and holds only integers, raw pointers
// and an optional function pointer (any non-null value is a valid one to hold; it is
// only called as the caller's contract allows). Its first published version ended
// where `region` begins.
unsafe impl SizedStruct for tidelog_engine_options {
    const MIN_SIZE: usize = std::mem::offset_of!(tidelog_engine_options, region);
}
impl InStruct for tidelog_engine_options {}

const SPIN_US_MAX: u64 = 1_000_000;

/// The defaults, read from `EngineConfig::new` and `Limits::kinesis` (one source).
pub fn default_options() -> tidelog_engine_options {
    let config = EngineConfig::new("");
    let limits = config.limits;
    tidelog_engine_options {
        struct_size: size_of::<tidelog_engine_options>(),
        cores: 0,
        pin_cores: u32::from(config.pin_cores),
        durability: tidelog_durability::Default as u32,
        sync_driver: tidelog_sync_driver::Default as u32,
        retention_hours_default: config.retention_hours_default,
        retention_hours_min: config.retention_hours_min,
        max_shards: config.max_shards,
        record_bytes_max: config.log.record_bytes_max,
        verify_crc_on_read: u32::from(config.log.verify_crc_on_read),
        preallocation: tidelog_preallocation::Default as u32,
        segment_bytes_initial: config.log.segment_bytes_initial,
        segment_bytes_max: config.log.segment_bytes_max,
        core_spin_us: config.core_spin.as_micros() as u64,
        reply_spin_us: config.reply_spin.as_micros() as u64,
        subscriber_spin_us: config.subscriber_spin.as_micros() as u64,
        maintenance_interval_ms: config.maintenance_interval.as_millis() as u64,
        preempt_timer_us: config.preempt_timer.as_micros() as u64,
        manual_clock_start_ms: 0,
        write_bytes_per_sec: limits.write_bytes_per_sec,
        write_records_per_sec: limits.write_records_per_sec,
        read_bytes_per_sec: limits.read_bytes_per_sec,
        read_calls_per_sec: limits.read_calls_per_sec,
        read_records_per_call_max: limits.read_records_per_call_max as u64,
        read_bytes_per_call_max: limits.read_bytes_per_call_max as u64,
        read_penalty_after_max_call_ms: limits.read_penalty_after_max_call_ms,
        subscribe_bytes_per_sec: limits.subscribe_bytes_per_sec,
        put_records_entries_max: limits.put_records_entries_max as u64,
        put_records_bytes_max: limits.put_records_bytes_max as u64,
        region: std::ptr::null(),
        account_id: std::ptr::null(),
        key_provider: None,
        key_provider_user_data: std::ptr::null_mut(),
        key_dir: std::ptr::null(),
        consumer_transition_ms: config.consumer_transition.as_millis() as u64,
        consumers_per_stream_max: config.consumers_per_stream_max as u32,
        on_demand_stream_count_max: config.on_demand_stream_count_max,
        on_demand_evaluation_interval_ms: config.on_demand.evaluation_interval.as_millis() as u64,
        on_demand_max_shards: config.on_demand.max_shards,
        machine: match config.machine {
            Machine::Shared => tidelog_machine::Shared as u32,
            Machine::Dedicated => tidelog_machine::Dedicated as u32,
        },
    }
}

/// A C callback as the engine's key provider.
struct CKeyProvider {
    callback: unsafe extern "C" fn(*mut std::ffi::c_void, *const c_char, *mut u8) -> tidelog_status,
    /// The caller's pointer, passed back as is (kept as an integer: tidelog never
    /// dereferences it).
    user_data: usize,
}

impl std::fmt::Debug for CKeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CKeyProvider(..)")
    }
}

impl KeyProvider for CKeyProvider {
    fn key(&self, key_id: &str) -> Result<MasterKey, KmsError> {
        let id = std::ffi::CString::new(key_id).map_err(|_| {
            KmsError::new(KmsFailure::NotFound, "a key id with a NUL byte".to_string())
        })?;
        let mut key = zeroize::Zeroizing::new([0u8; TIDELOG_KEY_BYTES]);
        // SAFETY: the callback's contract (tidelog_key_provider_callback): it reads the
        // NUL-terminated `id` and writes 32 bytes to `key`, both valid for the call;
        // `user_data` is the caller's own pointer, handed back unchanged.
        let status = unsafe {
            (self.callback)(
                self.user_data as *mut std::ffi::c_void,
                id.as_ptr(),
                key.as_mut_ptr(),
            )
        };
        let failure = match status {
            tidelog_status::Ok => return Ok(key),
            tidelog_status::KmsDisabled => KmsFailure::Disabled,
            tidelog_status::KmsAccessDenied => KmsFailure::AccessDenied,
            tidelog_status::KmsNotFound => KmsFailure::NotFound,
            tidelog_status::KmsOptInRequired => KmsFailure::OptInRequired,
            tidelog_status::KmsThrottling => KmsFailure::Throttling,
            _ => KmsFailure::InvalidState,
        };
        Err(KmsError::new(
            failure,
            format!(
                "the key provider callback answered {} for key {key_id:?}",
                status.name().to_string_lossy()
            ),
        ))
    }
}

fn enum_error(what: &str, value: u32, allowed: &str) -> FfiError {
    FfiError::new(
        tidelog_status::InvalidEnumValue,
        format!("{what} = {value} is not one of {allowed}"),
    )
}

/// A 0/1 flag.
pub fn flag(value: u32, what: &str) -> FfiResult<bool> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(enum_error(what, value, "0, 1")),
    }
}

/// A `tidelog_durability` value; `DEFAULT` gives `None`.
pub fn durability(value: u32, what: &str) -> FfiResult<Option<Durability>> {
    match value {
        v if v == tidelog_durability::Default as u32 => Ok(None),
        v if v == tidelog_durability::Sync as u32 => Ok(Some(Durability::Sync)),
        v if v == tidelog_durability::Os as u32 => Ok(Some(Durability::Os)),
        _ => Err(enum_error(
            what,
            value,
            "TIDELOG_DURABILITY_DEFAULT, _SYNC, _OS",
        )),
    }
}

fn config_error(field: &str, value: u64, rule: &str) -> FfiError {
    FfiError::new(
        tidelog_status::Validation,
        format!("invalid engine configuration: {field} = {value}: {rule}"),
    )
}

fn spin(value_us: u64, field: &str) -> FfiResult<Duration> {
    if value_us > SPIN_US_MAX {
        return Err(config_error(
            field,
            value_us,
            "must be at most 1,000,000 µs",
        ));
    }
    Ok(Duration::from_micros(value_us))
}

fn to_usize(value: u64, field: &str) -> FfiResult<usize> {
    usize::try_from(value).map_err(|_| config_error(field, value, "does not fit in size_t"))
}

/// Builds the engine configuration from checked options.
///
/// # Safety
/// The string fields of `o` (`region`, `account_id`, `key_dir`) are NULL or
/// NUL-terminated and readable for the call; `key_provider`, if set, honours
/// `tidelog_key_provider_callback`'s contract for as long as the engine lives.
pub unsafe fn config(
    data_dir: &str,
    o: &tidelog_engine_options,
) -> FfiResult<(EngineConfig, Option<Arc<ManualClock>>)> {
    let mut config = EngineConfig::new(data_dir);
    config.cores = match o.cores {
        0 => None,
        n => Some(n as usize),
    };
    config.pin_cores = flag(o.pin_cores, "options->pin_cores")?;
    config.durability = durability(o.durability, "options->durability")?.unwrap_or_default();
    config.sync_driver = match o.sync_driver {
        v if v == tidelog_sync_driver::Default as u32 => SyncDriver::default(),
        v if v == tidelog_sync_driver::IoUring as u32 => SyncDriver::IoUring,
        v if v == tidelog_sync_driver::Blocking as u32 => SyncDriver::Blocking,
        v => {
            return Err(enum_error(
                "options->sync_driver",
                v,
                "TIDELOG_SYNC_DRIVER_DEFAULT, _IO_URING, _BLOCKING",
            ));
        }
    };
    config.machine = match o.machine {
        v if v == tidelog_machine::Shared as u32 => Machine::Shared,
        v if v == tidelog_machine::Dedicated as u32 => Machine::Dedicated,
        v => {
            return Err(enum_error(
                "options->machine",
                v,
                "TIDELOG_MACHINE_SHARED, _DEDICATED",
            ));
        }
    };
    config.retention_hours_default = o.retention_hours_default;
    config.retention_hours_min = o.retention_hours_min;
    config.max_shards = o.max_shards;
    config.log.record_bytes_max = o.record_bytes_max;
    config.log.verify_crc_on_read = flag(o.verify_crc_on_read, "options->verify_crc_on_read")?;
    config.log.preallocation = match o.preallocation {
        v if v == tidelog_preallocation::Default as u32 => Preallocation::default(),
        v if v == tidelog_preallocation::Zeroed as u32 => Preallocation::Zeroed,
        v if v == tidelog_preallocation::Allocated as u32 => Preallocation::Allocated,
        v => {
            return Err(enum_error(
                "options->preallocation",
                v,
                "TIDELOG_PREALLOCATION_DEFAULT, _ZEROED, _ALLOCATED",
            ));
        }
    };
    config.log.segment_bytes_initial = o.segment_bytes_initial;
    config.log.segment_bytes_max = o.segment_bytes_max;
    config.core_spin = spin(o.core_spin_us, "core_spin_us")?;
    config.reply_spin = spin(o.reply_spin_us, "reply_spin_us")?;
    config.subscriber_spin = spin(o.subscriber_spin_us, "subscriber_spin_us")?;
    if o.maintenance_interval_ms == 0 || o.maintenance_interval_ms > TIDELOG_TIMEOUT_MS_MAX {
        return Err(config_error(
            "maintenance_interval_ms",
            o.maintenance_interval_ms,
            "must be 1 to 86,400,000 ms",
        ));
    }
    config.maintenance_interval = Duration::from_millis(o.maintenance_interval_ms);
    config.preempt_timer = Duration::from_micros(o.preempt_timer_us);
    let entries_max = to_usize(o.put_records_entries_max, "put_records_entries_max")?;
    if entries_max > TIDELOG_PUT_RECORDS_ENTRIES_MAX {
        return Err(config_error(
            "put_records_entries_max",
            o.put_records_entries_max,
            "must be at most TIDELOG_PUT_RECORDS_ENTRIES_MAX (65,536)",
        ));
    }
    config.limits = Limits {
        write_bytes_per_sec: o.write_bytes_per_sec,
        write_records_per_sec: o.write_records_per_sec,
        read_bytes_per_sec: o.read_bytes_per_sec,
        read_calls_per_sec: o.read_calls_per_sec,
        read_records_per_call_max: to_usize(
            o.read_records_per_call_max,
            "read_records_per_call_max",
        )?,
        read_bytes_per_call_max: to_usize(o.read_bytes_per_call_max, "read_bytes_per_call_max")?,
        read_penalty_after_max_call_ms: o.read_penalty_after_max_call_ms,
        subscribe_bytes_per_sec: o.subscribe_bytes_per_sec,
        put_records_entries_max: entries_max,
        put_records_bytes_max: to_usize(o.put_records_bytes_max, "put_records_bytes_max")?,
    };
    // SAFETY: the options' contract: NULL or NUL-terminated strings, read now.
    let (region, account, key_dir) = unsafe {
        (
            args::opt_string(o.region, "options->region")?,
            args::opt_string(o.account_id, "options->account_id")?,
            args::opt_string(o.key_dir, "options->key_dir")?,
        )
    };
    if let Some(region) = region {
        config.arn_scope.region = region.to_string();
    }
    if let Some(account) = account {
        config.arn_scope.account = account.to_string();
    }
    match (o.key_provider, key_dir) {
        (Some(_), Some(_)) => {
            return Err(FfiError::new(
                tidelog_status::Validation,
                "options->key_provider and options->key_dir do not go together (key_dir is the built-in provider's)",
            ));
        }
        (Some(callback), None) => {
            config.key_provider = Some(Arc::new(CKeyProvider {
                callback,
                user_data: o.key_provider_user_data as usize,
            }));
        }
        (None, Some(dir)) => {
            config.key_provider = Some(Arc::new(FileKeyProvider::new(dir)));
        }
        (None, None) => {}
    }
    if o.consumer_transition_ms > 3_600_000 {
        return Err(config_error(
            "consumer_transition_ms",
            o.consumer_transition_ms,
            "must be at most 3,600,000 ms",
        ));
    }
    config.consumer_transition = Duration::from_millis(o.consumer_transition_ms);
    config.consumers_per_stream_max = o.consumers_per_stream_max as usize;
    config.on_demand_stream_count_max = o.on_demand_stream_count_max;
    if o.on_demand_evaluation_interval_ms > TIDELOG_TIMEOUT_MS_MAX {
        return Err(config_error(
            "on_demand_evaluation_interval_ms",
            o.on_demand_evaluation_interval_ms,
            "must be 1,000 to 86,400,000 ms",
        ));
    }
    config.on_demand.evaluation_interval =
        Duration::from_millis(o.on_demand_evaluation_interval_ms);
    config.on_demand.max_shards = o.on_demand_max_shards;
    let clock = match o.manual_clock_start_ms {
        0 => None,
        start_ms => {
            let clock = ManualClock::new(start_ms);
            config.clock = Arc::clone(&clock) as Arc<dyn tidelog_core::Clock>;
            Some(clock)
        }
    };
    Ok((config, clock))
}

/// Fills `*options` with the defaults: one core per CPU, pinned; `sync` durability;
/// Kinesis limits; 24-hour retention; the system clock. Sets `options->struct_size`
/// to `struct_size`. Use the macro `TIDELOG_ENGINE_OPTIONS_INIT(&options)`, which
/// passes `sizeof options`.
///
/// # Safety
/// `options` is NULL or points to `struct_size` writable bytes. `struct_size` is the
/// caller's `sizeof(tidelog_engine_options)`; bytes this library does not know are
/// set to zero. Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_engine_options_init(
    options: *mut tidelog_engine_options,
    struct_size: usize,
) -> tidelog_status {
    boundary::call(|| {
        if options.is_null() {
            return Err(FfiError::null("options"));
        }
        if !(<tidelog_engine_options as SizedStruct>::MIN_SIZE..=TIDELOG_STRUCT_SIZE_MAX)
            .contains(&struct_size)
        {
            return Err(FfiError::new(
                tidelog_status::BadStructSize,
                format!(
                    "struct_size {struct_size} is outside [{}, {TIDELOG_STRUCT_SIZE_MAX}]",
                    size_of::<tidelog_engine_options>()
                ),
            ));
        }
        let defaults = default_options();
        let known = struct_size.min(size_of::<tidelog_engine_options>());
        let dst = options.cast::<u8>();
        // SAFETY: the contract gives `struct_size` writable bytes at `options`; the
        // defaults are a distinct local value of at least `known` bytes.
        unsafe {
            std::ptr::copy_nonoverlapping((&raw const defaults).cast::<u8>(), dst, known);
            std::ptr::write_bytes(dst.add(known), 0, struct_size - known);
            options.cast::<usize>().write_unaligned(struct_size);
        }
        Ok(())
    })
}

/// Opens (or creates) an engine on the data directory `data_dir`: checks the
/// environment (io_uring allowed, locked-memory limit), locks the directory against
/// other engines, starts the cores and opens every stream.
///
/// - `data_dir`: NUL-terminated UTF-8 path; read during the call only.
/// - `options`: NULL for the defaults, or options filled by
///   `TIDELOG_ENGINE_OPTIONS_INIT`; read during the call only, except
///   `key_provider` and `key_provider_user_data`, which the engine keeps and uses
///   until it is freed.
/// - `engine_out`: receives the new handle (NULL on failure). The caller owns it and
///   releases it with `tidelog_engine_free`.
///
/// Thread-safe. Blocks for the open (milliseconds; longer for many shards).
///
/// # Safety
/// Pointer arguments are NULL or valid as described; `engine_out` is writable; a
/// `key_provider` stays callable (with its user data) until the engine is freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_engine_open(
    data_dir: *const c_char,
    options: *const tidelog_engine_options,
    engine_out: *mut *mut tidelog_engine,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: `engine_out` is NULL or writable.
        let out = unsafe { Out::new(engine_out, "engine_out") }?;
        args::produce(out, || {
            // SAFETY: contract: `data_dir` is NULL or a NUL-terminated string.
            let dir = unsafe { args::string(data_dir, "data_dir") }?;
            let options = if options.is_null() {
                default_options()
            } else {
                // SAFETY: contract: `options` points to `struct_size` readable bytes.
                unsafe { args::read_struct(options, default_options(), "options") }?
            };
            // SAFETY: tidelog_engine_open's contract covers the options' pointers: NULL
            // or NUL-terminated strings, and a key provider callback valid while the
            // engine lives.
            let (config, clock) = unsafe { config(dir, &options) }?;
            let engine = Engine::open(config)?;
            ENGINES.insert(EngineObject { engine, clock })
        })
    })
}

/// Closes the engine: drains acknowledged work, syncs and closes every log, stops the
/// cores. Idempotent. The handle stays valid: later calls on it, and on iterators and
/// subscriptions made from it, return `TIDELOG_STATUS_CLOSED`; batches already read
/// stay readable. Release the handle with `tidelog_engine_free`.
///
/// Thread-safe; calls running on other threads finish or fail with CLOSED.
///
/// # Safety
/// `engine` is NULL or any value (handles are checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_engine_close(engine: *mut tidelog_engine) -> tidelog_status {
    boundary::call(|| Ok(self::engine(engine)?.engine.close()?))
}

/// Closes the engine (as `tidelog_engine_close`, if not closed yet) and releases the
/// handle. NULL is a no-op returning OK; a handle already freed returns
/// `TIDELOG_STATUS_INVALID_HANDLE`. The handle is released even if closing fails (the
/// status then reports the close's error).
///
/// Thread-safe, but no other thread may use the handle after this call begins.
///
/// # Safety
/// `engine` is NULL or any value (handles are checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_engine_free(engine: *mut tidelog_engine) -> tidelog_status {
    boundary::call(|| {
        if engine.is_null() {
            return Ok(());
        }
        let object = ENGINES.remove(engine)?;
        object.engine.close()?;
        Ok(())
    })
}

/// Makes every record put so far durable (an fdatasync on every core). Blocks.
/// Thread-safe.
///
/// # Safety
/// `engine` is NULL or any value (handles are checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_engine_flush(engine: *mut tidelog_engine) -> tidelog_status {
    boundary::call(|| Ok(self::engine(engine)?.engine.flush()?))
}

/// Runs retention on every core now (it also runs every `maintenance_interval_ms`).
/// `segments_deleted_out` and `bytes_freed_out` may each be NULL (not wanted). Blocks.
/// Thread-safe.
///
/// # Safety
/// The out-pointers are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_engine_run_maintenance(
    engine: *mut tidelog_engine,
    segments_deleted_out: *mut u64,
    bytes_freed_out: *mut u64,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: each out-pointer is NULL or writable.
        let deleted = unsafe { Out::optional(segments_deleted_out) };
        // SAFETY: as above.
        let freed = unsafe { Out::optional(bytes_freed_out) };
        let report = self::engine(engine)?.engine.run_maintenance()?;
        if let Some(out) = deleted {
            out.write(report.segments_deleted as u64);
        }
        if let Some(out) = freed {
            out.write(report.bytes_freed);
        }
        Ok(())
    })
}

/// The number of cores (executor threads) the engine runs. Thread-safe.
///
/// # Safety
/// `cores_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_engine_cores(
    engine: *mut tidelog_engine,
    cores_out: *mut u32,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: `cores_out` is NULL or writable.
        let out = unsafe { Out::new(cores_out, "cores_out") }?;
        let object = self::engine(engine)?;
        check_open(&object.engine)?;
        out.write(u32::try_from(object.engine.cores()).unwrap_or(u32::MAX));
        Ok(())
    })
}

/// Moves the engine's manual clock forward by `ms` milliseconds (wall and monotonic
/// time together): retention, iterator expiry and rate limits see the new time.
/// Only for engines opened with `manual_clock_start_ms` set; others return
/// `TIDELOG_STATUS_INVALID_ARGUMENT`. `ms` is at most `TIDELOG_TIMEOUT_MS_MAX`.
/// Thread-safe.
///
/// # Safety
/// `engine` is NULL or any value (handles are checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_engine_advance_clock(
    engine: *mut tidelog_engine,
    ms: u64,
) -> tidelog_status {
    boundary::call(|| {
        let object = self::engine(engine)?;
        if ms > TIDELOG_TIMEOUT_MS_MAX {
            return Err(FfiError::new(
                tidelog_status::OutOfRange,
                format!("ms = {ms} is above TIDELOG_TIMEOUT_MS_MAX ({TIDELOG_TIMEOUT_MS_MAX})"),
            ));
        }
        let clock = object.clock.as_ref().ok_or_else(|| {
            FfiError::new(
                tidelog_status::InvalidArgument,
                "the engine runs on the system clock (open it with manual_clock_start_ms to advance its clock)",
            )
        })?;
        clock.advance_ms(ms);
        Ok(())
    })
}

/// CLOSED for a closed engine (for calls that would otherwise answer from local state).
pub fn check_open(engine: &Engine) -> FfiResult<()> {
    if engine.is_closed() {
        Err(tidelog_core::Error::Closed.into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_into_the_engine_configuration() {
        // SAFETY: the defaults hold NULL strings and no key provider.
        let (config, clock) = unsafe { config("/tmp/x", &default_options()) }.unwrap();
        let reference = EngineConfig::new("/tmp/x");
        assert!(clock.is_none());
        assert_eq!(config.cores, reference.cores);
        assert_eq!(config.pin_cores, reference.pin_cores);
        assert_eq!(config.machine, reference.machine);
        assert_eq!(config.durability, reference.durability);
        assert_eq!(config.limits, reference.limits);
        assert_eq!(config.log, reference.log);
        assert_eq!(config.core_spin, reference.core_spin);
        assert_eq!(config.maintenance_interval, reference.maintenance_interval);
        assert_eq!(config.max_shards, reference.max_shards);
        assert_eq!(config.preempt_timer, reference.preempt_timer);
    }

    #[test]
    fn bad_enum_flag_and_number_fields_get_their_statuses() {
        type Change = fn(&mut tidelog_engine_options);
        let cases: [(Change, tidelog_status); 7] = [
            (|o| o.pin_cores = 2, tidelog_status::InvalidEnumValue),
            (|o| o.machine = 2, tidelog_status::InvalidEnumValue),
            (|o| o.durability = 3, tidelog_status::InvalidEnumValue),
            (|o| o.sync_driver = 9, tidelog_status::InvalidEnumValue),
            (|o| o.preallocation = 3, tidelog_status::InvalidEnumValue),
            (|o| o.core_spin_us = 2_000_000, tidelog_status::Validation),
            (
                |o| o.maintenance_interval_ms = 0,
                tidelog_status::Validation,
            ),
        ];
        for (change, status) in cases {
            let mut options = default_options();
            change(&mut options);
            // SAFETY: the options hold NULL strings and no key provider.
            let refused = unsafe { config("/tmp/x", &options) }.unwrap_err();
            assert_eq!(refused.status, status);
        }
    }

    #[test]
    fn options_init_respects_the_callers_size() {
        let mut options = default_options();
        options.cores = 77;
        // SAFETY: a live struct of the size passed.
        let status = unsafe {
            tidelog_engine_options_init(&mut options, size_of::<tidelog_engine_options>())
        };
        assert_eq!(status, tidelog_status::Ok);
        // (The struct holds a function pointer, so it is compared field by field.)
        assert_eq!(format!("{options:?}"), format!("{:?}", default_options()));
        // SAFETY: refused before any write.
        let status = unsafe { tidelog_engine_options_init(&mut options, 8) };
        assert_eq!(status, tidelog_status::BadStructSize);
    }
}
