//! Handle tables: how opaque C handles map to Rust objects, and how misuse is caught.
//!
//! A handle is a 64-bit number shown to C as a pointer to an incomplete struct; it is
//! never dereferenced. Layout:
//! ```text
//!  63            40 39      32 31                     0
//! +----------------+----------+------------------------+
//! | generation     | kind     | slot index + 1         |
//! | (24 bits)      | (8 bits) | (32 bits, never 0)     |
//! +----------------+----------+------------------------+
//! ```
//! Each kind (engine, iterator, batch, ...) has its own table of slots. Freeing a
//! handle empties its slot and bumps the slot's generation, so the freed handle (and
//! any copy of it) no longer matches: a use after free, a double free, a handle of
//! another kind or a made-up value is answered with `TIDELOG_STATUS_INVALID_HANDLE`.
//! A slot is reused only after 2^24 frees of that slot before a stale handle could
//! match again.
//!
//! Objects are held as `Arc`s: a call clones the `Arc` out of the table and works on
//! it with the table unlocked, so a handle freed by another thread while a call runs
//! stays alive until that call returns. The tables are locked only to look up, insert
//! or remove (a few dozen nanoseconds).
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::status::{FfiError, FfiResult, tidelog_status};

const INDEX_BITS: u32 = 32;
const KIND_SHIFT: u32 = 32;
const GENERATION_SHIFT: u32 = 40;
const GENERATION_MASK: u32 = (1 << 24) - 1;

/// The kind numbers, one per handle type (distinct, non-zero).
pub(crate) mod kind {
    /// `tidelog_engine`.
    pub(crate) const ENGINE: u8 = 1;
    /// `tidelog_iterator`.
    pub(crate) const ITERATOR: u8 = 2;
    /// `tidelog_batch`.
    pub(crate) const BATCH: u8 = 3;
    /// `tidelog_subscription`.
    pub(crate) const SUBSCRIPTION: u8 = 4;
    /// `tidelog_shard_list`.
    pub(crate) const SHARD_LIST: u8 = 5;
    /// `tidelog_string_list`.
    pub(crate) const STRING_LIST: u8 = 6;
    /// `tidelog_tag_list`.
    pub(crate) const TAG_LIST: u8 = 7;
    /// `tidelog_metrics_list`.
    pub(crate) const METRICS_LIST: u8 = 8;
    /// `tidelog_put_records_output`.
    pub(crate) const PUT_RECORDS_OUTPUT: u8 = 9;
    /// `tidelog_consumer_list`.
    pub(crate) const CONSUMER_LIST: u8 = 10;
    /// `tidelog_shard_subscription`.
    pub(crate) const SHARD_SUBSCRIPTION: u8 = 11;
    /// `tidelog_queue_list`.
    pub(crate) const QUEUE_LIST: u8 = 12;
    /// `tidelog_queue_record_list`.
    pub(crate) const QUEUE_RECORD_LIST: u8 = 13;
    /// `tidelog_queue_batch_result`.
    pub(crate) const QUEUE_BATCH_RESULT: u8 = 14;
    /// `tidelog_sql_session` (analytics: numbered from 20 so other parts' kinds never
    /// meet it).
    #[cfg_attr(not(feature = "analytics"), allow(dead_code))]
    pub(crate) const SQL_SESSION: u8 = 20;
    /// `tidelog_apps` (continuous applications).
    #[cfg_attr(not(feature = "analytics"), allow(dead_code))]
    pub(crate) const APPS: u8 = 21;
    /// `tidelog_firehose` (Firehose's kinds count down from 64, clear of the engine's).
    pub(crate) const FIREHOSE: u8 = 64;
    /// `tidelog_firehose_transform_output`.
    pub(crate) const FIREHOSE_ANSWER: u8 = 63;
    /// Every kind (for the uniqueness test).
    #[cfg(test)]
    pub(crate) const ALL: [u8; 18] = [
        ENGINE,
        ITERATOR,
        BATCH,
        SUBSCRIPTION,
        SHARD_LIST,
        STRING_LIST,
        TAG_LIST,
        METRICS_LIST,
        PUT_RECORDS_OUTPUT,
        CONSUMER_LIST,
        SHARD_SUBSCRIPTION,
        QUEUE_LIST,
        QUEUE_RECORD_LIST,
        QUEUE_BATCH_RESULT,
        SQL_SESSION,
        APPS,
        FIREHOSE,
        FIREHOSE_ANSWER,
    ];
}

/// Live handles of every kind (`tidelog_live_handle_count`).
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Handles currently live, of every kind.
pub fn live_count() -> usize {
    LIVE.load(Ordering::Acquire)
}

struct Slot<T> {
    generation: u32,
    value: Option<Arc<T>>,
}

struct Table<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
}

/// The table of one kind of handle.
pub struct Registry<T> {
    kind: u8,
    type_name: &'static str,
    table: Mutex<Table<T>>,
}

impl<T> Registry<T> {
    /// An empty table for handles of `kind` (a small non-zero number unique per kind),
    /// named `type_name` in error messages.
    pub const fn new(kind: u8, type_name: &'static str) -> Self {
        Self {
            kind,
            type_name,
            table: Mutex::new(Table {
                slots: Vec::new(),
                free: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table<T>> {
        // A panic while the table was locked left it consistent (every change is a
        // single assignment), so a poisoned lock is used as is.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn encode(&self, index: u32, generation: u32) -> usize {
        ((generation as usize) << GENERATION_SHIFT)
            | ((self.kind as usize) << KIND_SHIFT)
            | (index as usize + 1)
    }

    /// The slot a handle names, if it is of this kind (not yet checked for liveness).
    fn decode(&self, handle: usize) -> Option<(usize, u32)> {
        let index_plus_one = handle & ((1usize << INDEX_BITS) - 1);
        let kind = (handle >> KIND_SHIFT) & 0xff;
        let generation = (handle >> GENERATION_SHIFT) as u32;
        if index_plus_one == 0 || kind != self.kind as usize {
            return None;
        }
        Some((index_plus_one - 1, generation))
    }

    /// Stores `value` and returns its new handle (as a pointer to hand to C).
    pub fn insert<H>(&self, value: T) -> FfiResult<*mut H> {
        let mut table = self.lock();
        let index = match table.free.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(table.slots.len())
                    .ok()
                    .filter(|i| *i < u32::MAX)
                    .ok_or_else(|| {
                        FfiError::new(
                            tidelog_status::OutOfRange,
                            format!("too many live {} handles", self.type_name),
                        )
                    })?;
                table.slots.push(Slot {
                    generation: 0,
                    value: None,
                });
                index
            }
        };
        let slot = &mut table.slots[index as usize];
        slot.value = Some(Arc::new(value));
        let handle = self.encode(index, slot.generation);
        LIVE.fetch_add(1, Ordering::AcqRel);
        Ok(std::ptr::without_provenance_mut(handle))
    }

    fn invalid(&self, handle: usize) -> FfiError {
        FfiError::new(
            tidelog_status::InvalidHandle,
            format!(
                "{handle:#x} is not a live {} handle (freed already, of another kind, or never returned by tidelog)",
                self.type_name
            ),
        )
    }

    /// The object behind a live handle; `what` names the argument in errors.
    pub fn get<H>(&self, handle: *const H, what: &str) -> FfiResult<Arc<T>> {
        if handle.is_null() {
            return Err(FfiError::null(what));
        }
        let raw = handle.addr();
        let (index, generation) = self.decode(raw).ok_or_else(|| self.invalid(raw))?;
        let table = self.lock();
        match table.slots.get(index) {
            Some(Slot {
                generation: g,
                value: Some(value),
            }) if *g == generation => Ok(Arc::clone(value)),
            _ => Err(self.invalid(raw)),
        }
    }

    /// Removes a live handle and returns its object (which may still be in use by
    /// calls running on other threads; it drops when the last of them returns).
    pub fn remove<H>(&self, handle: *const H) -> FfiResult<Arc<T>> {
        let raw = handle.addr();
        let (index, generation) = self.decode(raw).ok_or_else(|| self.invalid(raw))?;
        let mut table = self.lock();
        let slot = match table.slots.get_mut(index) {
            Some(slot) if slot.generation == generation && slot.value.is_some() => slot,
            _ => return Err(self.invalid(raw)),
        };
        let value = slot.value.take().ok_or_else(|| self.invalid(raw))?;
        slot.generation = (slot.generation + 1) & GENERATION_MASK;
        table.free.push(index as u32);
        LIVE.fetch_sub(1, Ordering::AcqRel);
        Ok(value)
    }

    /// The free function's body: NULL is a no-op; a live handle is removed and its
    /// object dropped (outside the table lock); anything else is `INVALID_HANDLE`.
    pub fn free<H>(&self, handle: *const H) -> FfiResult<()> {
        if handle.is_null() {
            return Ok(());
        }
        drop(self.remove(handle)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Opaque;

    #[test]
    fn handles_round_trip_and_stale_ones_are_refused() {
        let registry: Registry<String> = Registry::new(200, "test_thing");
        let a: *mut Opaque = registry.insert("a".to_string()).unwrap();
        let b: *mut Opaque = registry.insert("b".to_string()).unwrap();
        assert_ne!(a, b);
        assert!(!a.is_null());
        assert_eq!(*registry.get(a, "a").unwrap(), "a");
        registry.free(a).unwrap();
        assert_eq!(
            registry.get(a, "a").unwrap_err().status,
            tidelog_status::InvalidHandle
        );
        assert_eq!(
            registry.free(a).unwrap_err().status,
            tidelog_status::InvalidHandle
        );
        // The slot is reused with a new generation: the old handle stays dead.
        let c: *mut Opaque = registry.insert("c".to_string()).unwrap();
        assert_ne!(a, c);
        assert_eq!(*registry.get(c, "c").unwrap(), "c");
        assert!(registry.get(a, "a").is_err());
        assert!(registry.free::<Opaque>(std::ptr::null()).is_ok());
        assert_eq!(
            registry
                .get::<Opaque>(std::ptr::null(), "x")
                .unwrap_err()
                .status,
            tidelog_status::NullPointer
        );
        registry.free(b).unwrap();
        registry.free(c).unwrap();
    }

    #[test]
    fn handles_of_another_kind_and_made_up_values_are_refused() {
        let one: Registry<u32> = Registry::new(201, "one");
        let two: Registry<u32> = Registry::new(202, "two");
        let h: *mut Opaque = one.insert(1).unwrap();
        assert!(two.get(h, "h").is_err());
        for made_up in [1usize, 0xdead_beef, usize::MAX, 8] {
            let p: *const Opaque = std::ptr::without_provenance(made_up);
            assert_eq!(
                one.get(p, "p").unwrap_err().status,
                tidelog_status::InvalidHandle
            );
        }
        one.free(h).unwrap();
    }

    #[test]
    fn kinds_are_distinct_and_non_zero() {
        let mut seen = std::collections::HashSet::new();
        for k in kind::ALL {
            assert!(k != 0 && seen.insert(k), "kind {k}");
        }
    }

    #[test]
    fn an_object_in_use_outlives_its_handle() {
        let registry: Registry<Vec<u8>> = Registry::new(203, "bytes");
        let h: *mut Opaque = registry.insert(vec![1, 2, 3]).unwrap();
        let in_use = registry.get(h, "h").unwrap();
        registry.free(h).unwrap();
        assert_eq!(*in_use, vec![1, 2, 3]);
    }
}
