//! The log of one shard: an append-only sequence of segment files.
//!
//! ```text
//! <shard dir>/
//!   LOCK                                         flock: one open log per directory
//!   000000000000000000000000000000000001000.seg   sealed segment  (records, then zeros)
//!   000000000000000000000000000000000001000.idx   its sparse index (derived; rebuilt if lost)
//!   000000000000000000000000000000000052311.seg   active segment  (mapped read-write)
//!   spare-3.spare                                a next segment, prepared ahead of need (up to two)
//! ```
//!
//! Invariants (each is tested in this module's tests or `core/tests/log_*.rs`):
//! - **One writer.** A [`Log`] is the only writer of its directory (`LOCK`, taken with
//!   `flock`). Appends take `&mut self`; readers ([`LogReader`]) never block them.
//! - **Order.** Sequence numbers strictly increase along the log (appends with a
//!   non-increasing number are refused; the engine assigns them).
//! - **Readers never see a partial record**: a record is published (the segment's tip,
//!   release) only after its bytes and CRC are in place.
//! - **Every record is checked**: a CRC32 over its header, key and data; recovery
//!   verifies every frame that is not durably sealed, reads verify what they return.
//! - **No SIGBUS, no truncation of mapped files**: segments are allocated and
//!   zero-filled before they are mapped (a full disk fails at roll time with
//!   [`LogError::StorageFull`]); the log never shrinks a file.
//! - **Durability is explicit**: [`Log::sync`] (or the [`SyncPlan`] a driver executes
//!   with io_uring) makes everything appended so far durable; the checkpoint in a
//!   segment header only ever records what a completed sync covered.
//!
//! What opening costs: sealed segments with a valid index file are mapped, not read
//! (the index is mapped too); the unsealed tail (normally the one active segment) is
//! scanned and every frame's CRC verified, so open time is bounded by the maximum
//! segment size, not by the size of the log. See `recovery.rs` for the exact rule.
#![forbid(unsafe_code)]

mod error;
pub mod format;
mod index;
pub mod inspect;
mod reader;
pub mod record;
mod recovery;
mod retention;
mod segment;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

pub use crate::io::Preallocation;
pub use error::{ConfigError, Corruption, CorruptionKind, KeyError, LogError, LogResult};
pub use reader::{
    LogReader, Plaintext, ReadBatch, Record, RecordLocation, RecordView, SegmentBytes, SegmentSpan,
};
pub use recovery::{RecoveryReport, TailTruncation};
pub use retention::{RetentionPolicy, RetentionReport};
pub use segment::{ShardIdentity, WriteVia};

use crate::io::{Access, DirLockGuard, Storage};
use crate::limits;
use format::{
    CHECKPOINT_STATE_CLOSED, CHECKPOINT_STATE_SEALED, RECORD_HEADER_BYTES, RECORDS_OFFSET,
    SPARE_SUFFIX, align_up, index_file_name, segment_file_name,
};
use index::{IndexBuilder, SegmentIndex};
use reader::LogShared;
use segment::{DurableState, Segment, SegmentWriter};

/// After a roll finds no spare ready (the zero fills fall behind the appends), this many
/// next spares are made allocate-only: under sustained appends the disk cannot write
/// every segment twice (zeros, then data), and a missing spare means an inline
/// allocation on the appending thread (measured 15-63 ms for 64 MiB under write load).
/// Allocate-only segments cost the first sync of each page a metadata write instead.
const SPARES_ALLOCATED_AFTER_MISS: u32 = 16;

/// Spares a log keeps ready once its segments have grown to their largest (a busy log):
/// two, so a preparation that runs late (its thread shares a CPU with callers) still
/// has a whole segment's time before a roll needs it. Smaller logs keep one.
const SPARES_AHEAD_BUSY: usize = 2;

/// How a log sizes and checks things. [`LogConfig::default`] gives Kinesis-like values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Size of the first segment (and the smallest), bytes.
    pub segment_bytes_initial: u64,
    /// Size segments grow toward, doubling at each roll, bytes.
    pub segment_bytes_max: u64,
    /// Largest record accepted: data plus partition key, bytes.
    pub record_bytes_max: u32,
    /// Check each record's CRC when it is read.
    pub verify_crc_on_read: bool,
    /// How new segment files are prepared.
    pub preallocation: Preallocation,
    /// Take an exclusive lock on the directory (an engine that locks its whole data
    /// directory may turn this off).
    pub lock_directory: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes_initial: limits::SEGMENT_BYTES_INITIAL_DEFAULT,
            segment_bytes_max: limits::SEGMENT_BYTES_MAX_DEFAULT,
            record_bytes_max: limits::RECORD_BYTES_MAX_DEFAULT,
            verify_crc_on_read: true,
            preallocation: Preallocation::Zeroed,
            lock_directory: true,
        }
    }
}

impl LogConfig {
    /// Checks every value against its limit.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, value, rule| Err(ConfigError { field, value, rule });
        if self.segment_bytes_initial < limits::SEGMENT_BYTES_MIN
            || self.segment_bytes_initial > limits::SEGMENT_BYTES_CEILING
        {
            return bad(
                "segment_bytes_initial",
                self.segment_bytes_initial,
                "must be within [16 KiB, 1 GiB]",
            );
        }
        if self.segment_bytes_max < self.segment_bytes_initial
            || self.segment_bytes_max > limits::SEGMENT_BYTES_CEILING
        {
            return bad(
                "segment_bytes_max",
                self.segment_bytes_max,
                "must be within [segment_bytes_initial, 1 GiB]",
            );
        }
        for (field, value) in [
            ("segment_bytes_initial", self.segment_bytes_initial),
            ("segment_bytes_max", self.segment_bytes_max),
        ] {
            if value % 4096 != 0 {
                return bad(field, value, "must be a multiple of 4096 (a page)");
            }
        }
        if self.record_bytes_max == 0 || self.record_bytes_max > limits::FRAME_PAYLOAD_BYTES_CEILING
        {
            return bad(
                "record_bytes_max",
                self.record_bytes_max.into(),
                "must be within [1, 10 MiB + 64] (the largest record plus an envelope)",
            );
        }
        Ok(())
    }
}

/// A zero-filled file to become the next segment, prepared off the append path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpareRequest {
    /// Where to create it (a `spare-*.spare` name in the log's directory).
    pub path: PathBuf,
    /// Its size in bytes.
    pub capacity: u64,
    /// How to prepare its blocks.
    pub fill: Preallocation,
}

/// One file a sync must flush, and what flushing it will make durable.
#[derive(Debug, Clone)]
pub struct SyncTarget {
    /// The segment's base sequence number (identifies it to [`Log::complete_sync`]).
    pub base_seq: u128,
    /// The segment file (a driver may open its own handle on it).
    pub path: PathBuf,
    /// True if `path` is a real file a driver can open; false for in-memory storage,
    /// which the driver must sync through [`Log::sync_target`] instead.
    pub real_file: bool,
    covers: DurableState,
    header_writes: u64,
}

/// The work of one sync: fdatasync each target in order, then fsync the directory if
/// named. Appends may continue while a driver executes it; it covers what was appended
/// before it was planned.
#[derive(Debug, Clone, Default)]
pub struct SyncPlan {
    /// Files to flush, oldest segment first (the order matters: a later segment's data
    /// must never be durable while an earlier one's is not).
    pub targets: Vec<SyncTarget>,
    /// A directory to fsync after the files (new segments were linked into it).
    pub sync_dir: Option<PathBuf>,
    dir_generation: u64,
}

impl SyncPlan {
    /// True if there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty() && self.sync_dir.is_none()
    }
}

#[derive(Debug, Clone)]
struct FailedOp {
    op: &'static str,
    path: PathBuf,
    kind: std::io::ErrorKind,
    os_code: Option<i32>,
}

/// The log of one shard. See the module documentation for its invariants.
pub struct Log {
    storage: Arc<dyn Storage>,
    config: LogConfig,
    shared: Arc<LogShared>,
    active: Option<SegmentWriter>,
    finishing: Vec<SegmentWriter>,
    /// Prepared spares, oldest first.
    spares: VecDeque<SpareRequest>,
    spare_pending: bool,
    spare_counter: u64,
    /// Spares still to make allocate-only because a roll found none ready (see
    /// [`SPARES_ALLOCATED_AFTER_MISS`]).
    spares_allocated: u32,
    /// Frame bytes appended through the mapping, and otherwise (pwritev, staged),
    /// since the last spare request: an allocate-only spare is cached ahead
    /// ([`Preallocation::AllocatedCached`]) only for a log written mostly through
    /// its mapping.
    mapped_bytes: u64,
    written_bytes: u64,
    dir_generation: u64,
    dir_synced_generation: u64,
    last_seq: Option<u128>,
    failed: Option<FailedOp>,
    _lock: Option<Box<dyn DirLockGuard>>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.shared.dir)
            .field("identity", &self.shared.identity)
            .field("last_seq", &self.last_seq)
            .field("segments", &self.shared.segments.load().len())
            .finish()
    }
}

/// Checks a partition key: 1 to 256 Unicode scalar values.
pub fn validate_key(key: &str) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > limits::PARTITION_KEY_CHARS_MAX {
        let chars = key.chars().count();
        if chars > limits::PARTITION_KEY_CHARS_MAX {
            return Err(KeyError::TooLong { chars });
        }
    }
    Ok(())
}

fn round_up_page(n: u64) -> u64 {
    n.div_ceil(4096) * 4096
}

impl Log {
    /// Opens (creating if needed) the log in `dir`, recovering it as `recovery.rs`
    /// describes. Every segment must belong to `identity`.
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: &Path,
        identity: ShardIdentity,
        config: LogConfig,
    ) -> LogResult<(Self, RecoveryReport)> {
        config.validate().map_err(LogError::InvalidConfig)?;
        storage
            .create_dir_all_durable(dir)
            .map_err(|e| LogError::io("create", dir, e))?;
        let lock = if config.lock_directory {
            Some(storage.lock_dir(dir).map_err(|e| {
                if e.kind() == std::io::ErrorKind::WouldBlock {
                    LogError::Locked {
                        dir: dir.to_path_buf(),
                    }
                } else {
                    LogError::io("lock", dir, e)
                }
            })?)
        } else {
            None
        };
        let recovered = recovery::recover(storage.as_ref(), dir, identity)?;
        let shared = Arc::new(LogShared {
            dir: dir.to_path_buf(),
            identity,
            segments: ArcSwap::from_pointee(recovered.segments),
            verify_crc_on_read: config.verify_crc_on_read,
        });
        let log = Self {
            storage,
            config,
            shared,
            active: recovered.active,
            finishing: recovered.finishing,
            spares: VecDeque::new(),
            spare_pending: false,
            spare_counter: 0,
            spares_allocated: 0,
            mapped_bytes: 0,
            written_bytes: 0,
            dir_generation: 0,
            dir_synced_generation: 0,
            last_seq: recovered.last_seq,
            failed: None,
            _lock: lock,
        };
        Ok((log, recovered.report))
    }

    /// A reader for any thread.
    pub fn reader(&self) -> LogReader {
        LogReader::new(Arc::clone(&self.shared))
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The shard the log belongs to.
    pub fn identity(&self) -> ShardIdentity {
        self.shared.identity
    }

    /// The configuration in force.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Sequence number of the last record appended (or recovered).
    pub fn last_seq(&self) -> Option<u128> {
        self.last_seq
    }

    /// True if some appended bytes (or header updates) are not yet durable.
    pub fn needs_sync(&self) -> bool {
        self.finishing
            .iter()
            .any(|w| w.needs_sync() || !w.seal_written)
            || self.active.as_ref().is_some_and(|w| w.needs_sync())
            || self.dir_generation != self.dir_synced_generation
    }

    fn check_failed(&self) -> LogResult<()> {
        match &self.failed {
            None => Ok(()),
            Some(f) => Err(LogError::Failed {
                op: f.op,
                path: f.path.clone(),
                kind: f.kind,
                os_code: f.os_code,
            }),
        }
    }

    fn fail(&mut self, op: &'static str, path: &Path, err: std::io::Error) -> LogError {
        self.failed = Some(FailedOp {
            op,
            path: path.to_path_buf(),
            kind: err.kind(),
            os_code: err.raw_os_error(),
        });
        LogError::io(op, path, err)
    }

    /// Checks a record without appending it: the key, the size, and (if `seq` is given)
    /// the order. The same checks [`append`](Self::append) makes first.
    pub fn check_record(&self, seq: Option<u128>, key: &str, data: &[u8]) -> LogResult<()> {
        validate_key(key).map_err(LogError::InvalidKey)?;
        self.check_frame(seq, key.as_bytes(), data)
    }

    /// The checks of [`check_record`](Self::check_record) on raw key bytes (those of a
    /// flagged frame, e.g. an encrypted key): 1 to 1,024 bytes of key, the size, the
    /// order.
    fn check_frame(&self, seq: Option<u128>, key: &[u8], data: &[u8]) -> LogResult<()> {
        if key.is_empty() {
            return Err(LogError::InvalidKey(KeyError::Empty));
        }
        if key.len() > limits::PARTITION_KEY_BYTES_MAX {
            return Err(LogError::InvalidKey(KeyError::TooLong { chars: key.len() }));
        }
        let bytes = key.len() + data.len();
        if bytes > self.config.record_bytes_max as usize {
            return Err(LogError::RecordTooLarge {
                bytes,
                max_bytes: self.config.record_bytes_max,
            });
        }
        if let (Some(seq), Some(last)) = (seq, self.last_seq)
            && seq <= last
        {
            return Err(LogError::SequenceNotIncreasing { seq, last });
        }
        Ok(())
    }

    /// Appends one record and publishes it to readers. Not durable until a sync.
    ///
    /// Refused with nothing written: an invalid key ([`LogError::InvalidKey`]), data
    /// plus key over the limit ([`LogError::RecordTooLarge`]), `seq` not above the last
    /// one ([`LogError::SequenceNotIncreasing`]), no room on disk for a needed new
    /// segment ([`LogError::StorageFull`]), or an earlier sync failure
    /// ([`LogError::Failed`]).
    pub fn append(
        &mut self,
        seq: u128,
        timestamp_ms: u64,
        key: &str,
        data: &[u8],
    ) -> LogResult<()> {
        self.append_via(seq, timestamp_ms, key, data, WriteVia::Mapping)
    }

    /// [`append`](Self::append), choosing how the bytes reach the page cache (see
    /// [`WriteVia`]: `Syscall` for records about to be synced).
    pub fn append_via(
        &mut self,
        seq: u128,
        timestamp_ms: u64,
        key: &str,
        data: &[u8],
        via: WriteVia,
    ) -> LogResult<()> {
        validate_key(key).map_err(LogError::InvalidKey)?;
        self.append_frame(seq, timestamp_ms, key.as_bytes(), data, 0, via)
    }

    /// Appends a frame with `flags` (a subset of [`format::FRAME_FLAGS_KNOWN`]) and raw
    /// key bytes (1 to 1,024 of them, not necessarily UTF-8: an encrypted key). The log
    /// stores the bytes and the flags and knows nothing else of what they mean; the
    /// same refusals as [`append`](Self::append), plus unknown flags
    /// ([`LogError::InvalidFlags`]).
    pub fn append_frame(
        &mut self,
        seq: u128,
        timestamp_ms: u64,
        key: &[u8],
        data: &[u8],
        flags: u16,
        via: WriteVia,
    ) -> LogResult<()> {
        self.check_failed()?;
        if flags & !format::FRAME_FLAGS_KNOWN != 0 {
            return Err(LogError::InvalidFlags { flags });
        }
        self.check_frame(Some(seq), key, data)?;
        if via != WriteVia::Staged {
            // Frames land in order: staged ones first.
            self.flush_staged()?;
        }
        let frame = align_up(RECORD_HEADER_BYTES + key.len() + data.len());
        let fits = self.active.as_ref().is_some_and(|w| w.room() >= frame);
        if !fits {
            self.roll(seq, frame, timestamp_ms)?;
        }
        let Some(active) = self.active.as_mut() else {
            unreachable!("roll leaves an active segment or returns an error")
        };
        if active.closed_on_disk {
            // The disk says "closed cleanly here, zeros after": make it say "open" before
            // anything is written after that end, or a crash could hide a torn tail.
            active.durable_open_checkpoint()?;
            let path = active.seg.path.clone();
            let synced = active.sync_file();
            if let Err(err) = synced {
                return Err(self.fail("sync reopened segment", &path, err));
            }
            let Some(active) = self.active.as_mut() else {
                unreachable!()
            };
            active.mark_header_synced();
            active.closed_on_disk = false;
        }
        let Some(active) = self.active.as_mut() else {
            unreachable!()
        };
        active.append(seq, timestamp_ms, key, data, flags, via)?;
        let staged = active.staged_bytes();
        if via == WriteVia::Mapping {
            self.mapped_bytes += frame as u64;
        } else {
            self.written_bytes += frame as u64;
        }
        self.last_seq = Some(seq);
        if staged >= segment::STAGE_FLUSH_BYTES {
            self.flush_staged()?;
        }
        Ok(())
    }

    fn next_capacity(&self) -> u64 {
        let current = self.active.as_ref().map_or(0, |w| w.seg.capacity);
        let doubled = current
            .saturating_mul(2)
            .max(self.config.segment_bytes_initial);
        doubled.min(self.config.segment_bytes_max)
    }

    fn next_spare_path(&mut self) -> PathBuf {
        self.spare_counter += 1;
        self.shared
            .dir
            .join(format!("spare-{}{SPARE_SUFFIX}", self.spare_counter))
    }

    fn create_file(&self, path: &Path, capacity: u64, fill: Preallocation) -> LogResult<()> {
        self.storage
            .create_segment(path, capacity, fill)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::StorageFull
                    || e.kind() == std::io::ErrorKind::QuotaExceeded
                {
                    LogError::StorageFull {
                        path: path.to_path_buf(),
                        bytes: capacity,
                    }
                } else {
                    LogError::io("create segment", path, e)
                }
            })
    }

    /// Writes the frames appended with [`WriteVia::Staged`] and publishes them. The
    /// caller of staged appends calls this when its batch ends, before it acknowledges
    /// any of them: an error here means none of the staged frames was kept (the bytes
    /// that landed are zeroed again), and the log is failed like after a failed sync.
    pub fn flush_staged(&mut self) -> LogResult<()> {
        self.check_failed()?;
        let Some(active) = self.active.as_mut() else {
            return Ok(());
        };
        if active.staged_bytes() == 0 {
            return Ok(());
        }
        let path = active.seg.path.clone();
        let written = active.flush_stage();
        written.map_err(|err| self.fail("append to", &path, err))
    }

    /// Starts a new segment whose first record will be `seq` and needs `frame` bytes.
    fn roll(&mut self, seq: u128, frame: usize, created_ms: u64) -> LogResult<()> {
        // The segment being left keeps its frames in order: its stage is written first.
        self.flush_staged()?;
        let needed = (RECORDS_OFFSET + frame) as u64;
        let final_path = self.shared.dir.join(segment_file_name(seq));
        // A spare too small for this frame (made before the segments grew, or for an
        // ordinary frame when this one is huge) is left for a later roll.
        let ready = self.spares.iter().position(|s| s.capacity >= needed);
        let (source, capacity) = match ready.and_then(|i| self.spares.remove(i)) {
            Some(spare) => {
                self.spares_allocated = self.spares_allocated.saturating_sub(1);
                (spare.path, spare.capacity)
            }
            None => {
                // No spare ready: never make the append wait for a zero fill (tens to
                // hundreds of ms for a large segment); allocate only. The zero fills
                // are not keeping up with the appends, so the next spares are made
                // allocate-only too, off this thread.
                self.spares_allocated = SPARES_ALLOCATED_AFTER_MISS;
                // Allocate-only and not cached: O(1) whatever its size (a smaller
                // segment would only bring the next roll, and miss, sooner).
                let capacity = self.next_capacity().max(round_up_page(needed));
                let path = self.next_spare_path();
                self.create_file(&path, capacity, Preallocation::Allocated)?;
                (path, capacity)
            }
        };
        self.storage
            .rename(&source, &final_path)
            .map_err(|e| LogError::io("rename spare to", &final_path, e))?;
        self.dir_generation += 1;
        let mapped = self
            .storage
            .map(
                &final_path,
                capacity as usize,
                Access::ReadWrite,
                RECORDS_OFFSET,
            )
            .map_err(|e| LogError::io("map", &final_path, e))?;
        let Some(writer) = mapped.mapping.take_writer() else {
            return Err(LogError::Locked {
                dir: self.shared.dir.clone(),
            });
        };
        let empty = DurableState {
            end: RECORDS_OFFSET,
            ..DurableState::default()
        };
        let seg = Arc::new(Segment::new(
            seq,
            capacity,
            final_path,
            mapped.mapping,
            SegmentIndex::live(Vec::new()),
            &empty,
            false,
        ));
        let builder = IndexBuilder::new(capacity, RECORDS_OFFSET as u64);
        let mut next = SegmentWriter::new(
            Arc::clone(&seg),
            writer,
            mapped.file,
            builder,
            empty,
            empty,
            RECORDS_OFFSET,
        );
        next.write_header(self.shared.identity, created_ms)?;
        if let Some(mut previous) = self.active.take() {
            previous.finish();
            self.finishing.push(previous);
        }
        self.active = Some(next);
        self.shared.segments.rcu(|segments| {
            let mut segments = Vec::clone(segments);
            segments.push(Arc::clone(&seg));
            segments
        });
        Ok(())
    }

    /// If the next segment should be prepared now (the active one is half full and no
    /// spare is ready, or the log is busy and fewer than [`SPARES_AHEAD_BUSY`] are), the
    /// file to create. The caller creates it with
    /// [`Storage::create_segment`] (on any thread) and hands it back with
    /// [`install_spare`](Self::install_spare).
    pub fn spare_request(&mut self) -> Option<SpareRequest> {
        if self.spare_pending || self.failed.is_some() {
            return None;
        }
        let busy = self
            .active
            .as_ref()
            .is_some_and(|w| w.seg.capacity >= self.config.segment_bytes_max);
        let wanted = if busy { SPARES_AHEAD_BUSY } else { 1 };
        if self.spares.len() >= wanted {
            return None;
        }
        // Half full, or at once where segments have grown to their largest (a busy
        // log: the fill gets the whole segment's time). Idle logs keep no spare early.
        // After a miss, at once: the appends are outrunning the preparation.
        let due = busy
            || self.spares_allocated > 0
            || self
                .active
                .as_ref()
                .is_none_or(|w| w.current.end * 2 >= w.seg.capacity as usize);
        if !due {
            return None;
        }
        self.spare_pending = true;
        let capacity = self.next_capacity();
        let mapped = self.mapped_bytes >= self.written_bytes;
        self.mapped_bytes = 0;
        self.written_bytes = 0;
        let fill = match self.config.preallocation {
            Preallocation::Zeroed if self.spares_allocated == 0 => Preallocation::Zeroed,
            _ if mapped => Preallocation::AllocatedCached,
            _ => Preallocation::Allocated,
        };
        Some(SpareRequest {
            path: self.next_spare_path(),
            capacity,
            fill,
        })
    }

    /// Accepts a spare created for `request`.
    pub fn install_spare(&mut self, request: SpareRequest) {
        self.spare_pending = false;
        self.spares.push_back(request);
        while self.spares.len() > SPARES_AHEAD_BUSY {
            if let Some(old) = self.spares.pop_front() {
                let _ = self.storage.remove_file(&old.path);
            }
        }
    }

    /// Forgets a spare request whose creation failed (the next one will be retried).
    pub fn spare_failed(&mut self, request: &SpareRequest) {
        self.spare_pending = false;
        let _ = self.storage.remove_file(&request.path);
    }

    /// Prepares the next segment now, on this thread, if one is due.
    pub fn prepare_spare(&mut self) -> LogResult<()> {
        if let Some(request) = self.spare_request() {
            match self.create_file(&request.path, request.capacity, request.fill) {
                Ok(()) => self.install_spare(request),
                Err(err) => {
                    self.spare_failed(&request);
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    /// What a sync must do now to make everything appended so far durable.
    pub fn plan_sync(&self) -> SyncPlan {
        let mut plan = SyncPlan::default();
        for w in self.finishing.iter().chain(self.active.iter()) {
            if w.needs_sync() {
                plan.targets.push(SyncTarget {
                    base_seq: w.seg.base_seq,
                    path: w.seg.path.clone(),
                    real_file: w.sync_handle().is_real_file(),
                    // Staged frames are not in the page cache yet: not covered.
                    covers: w.written(),
                    header_writes: w.header_writes(),
                });
            }
        }
        if self.dir_generation != self.dir_synced_generation {
            plan.sync_dir = Some(self.shared.dir.clone());
            plan.dir_generation = self.dir_generation;
        }
        plan
    }

    fn writer_mut(&mut self, base_seq: u128) -> Option<&mut SegmentWriter> {
        self.finishing
            .iter_mut()
            .chain(self.active.iter_mut())
            .find(|w| w.seg.base_seq == base_seq)
    }

    /// Flushes one target through the log's own handle (blocking fdatasync): for
    /// drivers without their own handle, e.g. over in-memory storage.
    pub fn sync_target(&mut self, target: &SyncTarget) -> LogResult<()> {
        let result = match self.writer_mut(target.base_seq) {
            Some(w) => w.sync_file(),
            None => Ok(()), // deleted by retention since the plan was made
        };
        result.map_err(|err| self.fail("sync", &target.path, err))
    }

    /// Flushes the directory through the storage (blocking fsync).
    pub fn sync_directory(&mut self, dir: &Path) -> LogResult<()> {
        let result = self.storage.sync_dir(dir);
        result.map_err(|err| self.fail("sync directory", dir, err))
    }

    /// Records that a driver failed to execute a plan: the log refuses further writes
    /// (an acknowledgement after a failed fsync would be a lie).
    pub fn sync_failed(&mut self, path: &Path, err: std::io::Error) -> LogError {
        self.fail("sync", path, err)
    }

    /// Records that every step of `plan` completed, then does the follow-up work:
    /// seals finished segments whose data is now durable (index file plus sealed
    /// checkpoint), and refreshes the active segment's checkpoint every
    /// [`CHECKPOINT_INTERVAL_BYTES`](crate::limits::CHECKPOINT_INTERVAL_BYTES).
    pub fn complete_sync(&mut self, plan: SyncPlan) -> LogResult<()> {
        for target in &plan.targets {
            if let Some(w) = self.writer_mut(target.base_seq) {
                if target.covers.end >= w.durable.end {
                    w.durable = target.covers;
                }
                w.mark_header_synced_up_to(target.header_writes);
            }
        }
        if plan.sync_dir.is_some() {
            self.dir_synced_generation = self.dir_synced_generation.max(plan.dir_generation);
        }
        // Finished segments: drop those whose seal is durable, seal those whose data is.
        let storage = Arc::clone(&self.storage);
        let mut still_finishing = Vec::with_capacity(self.finishing.len());
        for mut w in std::mem::take(&mut self.finishing) {
            if w.seal_written && !w.needs_sync() {
                continue; // sealed durably; readers keep the segment, the writer goes
            }
            if !w.seal_written && !w.needs_sync() {
                let index_path = self.shared.dir.join(index_file_name(w.seg.base_seq));
                let bytes =
                    index::encode_file(w.seg.base_seq, w.current.end as u64, &w.index_points());
                // The index is derived data: a lost or torn one is rebuilt on open.
                let _ = storage.write_file_unsynced(&index_path, &bytes);
                let state = w.current;
                w.write_checkpoint(state, CHECKPOINT_STATE_SEALED)?;
                w.seal_written = true;
            }
            still_finishing.push(w);
        }
        self.finishing = still_finishing;
        if let Some(active) = self.active.as_mut()
            && !active.closed_on_disk
            && (active.durable.end - active.checkpoint_end) as u64
                >= limits::CHECKPOINT_INTERVAL_BYTES
        {
            active.durable_open_checkpoint()?;
        }
        Ok(())
    }

    /// Makes everything appended so far durable (blocking fdatasync of each dirty
    /// segment, oldest first, and the directory after a roll).
    pub fn sync(&mut self) -> LogResult<()> {
        self.flush_staged()?;
        let plan = self.plan_sync();
        if plan.is_empty() {
            return self.complete_sync(plan);
        }
        for target in &plan.targets {
            self.sync_target(target)?;
        }
        if let Some(dir) = &plan.sync_dir {
            self.sync_directory(dir)?;
        }
        self.complete_sync(plan)
    }

    /// Syncs everything, seals finished segments, and marks the active segment as
    /// closed cleanly (so the next open skips checking its tail).
    pub fn close(mut self) -> LogResult<()> {
        self.sync()?;
        if let Some(active) = self.active.as_mut()
            && !active.closed_on_disk
        {
            let state = active.durable;
            active.write_checkpoint(state, CHECKPOINT_STATE_CLOSED)?;
        }
        self.sync()?;
        // A seal written by the second sync's follow-up needs one more flush.
        self.sync()?;
        for spare in self.spares.drain(..) {
            let _ = self.storage.remove_file(&spare.path);
        }
        Ok(())
    }

    pub(crate) fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    pub(crate) fn shared(&self) -> &Arc<LogShared> {
        &self.shared
    }

    pub(crate) fn active_base_seq(&self) -> Option<u128> {
        self.active.as_ref().map(|w| w.seg.base_seq)
    }

    pub(crate) fn forget_finishing(&mut self, base_seq: u128) {
        self.finishing.retain(|w| w.seg.base_seq != base_seq);
    }
}
