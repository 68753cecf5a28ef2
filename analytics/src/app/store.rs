//! The files of an application (docs/format.md, "Analytics applications"):
//! `<data_dir>/analytics/applications/<name>/` holds `application` (the definition),
//! `intent` (the epoch being delivered: its input ranges and watermark) and `state`
//! (the state log: window-state chunks and checkpoints, the last checkpoint being the
//! last committed epoch's input positions, window and model state, output positions).
//! Versions before the state log kept the checkpoint in a file `checkpoint`; it is
//! still read when there is no `state`.
//!
//! `application`, `intent` and the old `checkpoint` are framed the same way:
//!
//! ```text
//! offset size field
//!      0    8 magic: TIDEAPD\0 (definition), TIDEAPI\0 (intent), TIDEAPK\0 (checkpoint)
//!      8    4 format version, u32 LE (1)
//!     12    4 CRC-32 (IEEE) of the body, u32 LE
//!     16    8 body length, u64 LE
//!     24    n body
//! ```
//!
//! A definition's and an intent's body is JSON. A checkpoint's body is a u32 LE length
//! `m`, `m` bytes of JSON (the metadata), then per pump its window-state blob (an
//! Arrow IPC stream) and its model state (a table function's bytes), whose lengths the
//! metadata lists, back to back.
//!
//! The state log ([`StateLog`]) is a 16-byte header (magic `TIDEAPS\0`, u32 LE
//! version 1, u32 zero) and frames: u32 LE payload length, u32 LE CRC-32 of bytes 8..16
//! of the frame header and the payload, u8 kind (1: a chunk, 2: a checkpoint), 7 zero
//! bytes, the payload. An epoch appends the chunks it adds (Arrow IPC of the rows that
//! entered a window, a model's bytes) and then its checkpoint (JSON naming the chunks
//! that make up the state by offset and length), with one `fdatasync` when the engine's
//! durability is `Sync` (under `Os`, nothing is synced: like the engine's records,
//! the state then survives the process, not a power loss); when the log
//! holds mostly dead chunks it is rewritten whole as `state.tmp` and renamed over.
//!
//! Invariants: `application` and a rewritten log are replaced atomically (written to
//! `<file>.tmp`, fsynced, renamed over the old one, the directory fsynced), so a crash
//! leaves the old or the new file, never a mix; a file that fails its checks is
//! reported as corrupt, never used. The state log's committed frames are never
//! overwritten: an append a crash cut short ends at the first frame whose length or
//! CRC does not hold, and everything from there on (at most the last, uncommitted
//! epoch) is cut off at the next open, so the last checkpoint read is the last one
//! whose `fdatasync` returned. `intent` is overwritten in place and synced before the
//! epoch delivers anything: an intent that fails its checks was torn by a crash before
//! anything of its epoch was delivered, and is ignored ([`read_intent`]).
#![forbid(unsafe_code)]

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Magic of a definition.
pub const MAGIC_DEFINITION: [u8; 8] = *b"TIDEAPD\0";
/// Magic of an intent.
pub const MAGIC_INTENT: [u8; 8] = *b"TIDEAPI\0";
/// Magic of a checkpoint.
pub const MAGIC_CHECKPOINT: [u8; 8] = *b"TIDEAPK\0";
/// Magic of a state log.
pub const MAGIC_STATE_LOG: [u8; 8] = *b"TIDEAPS\0";
/// The format version written.
pub const VERSION: u32 = 1;
const HEADER: usize = 24;
const LOG_HEADER: usize = 16;
const FRAME_HEADER: usize = 16;
/// A state-log frame holding a chunk of state.
pub const FRAME_CHUNK: u8 = 1;
/// A state-log frame holding a checkpoint.
pub const FRAME_CHECKPOINT: u8 = 2;

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

fn framed(magic: [u8; 8], body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER + body.len());
    bytes.extend_from_slice(&magic);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// Writes `body` framed with `magic` to `path`, atomically and durably.
pub fn write_framed(path: &Path, magic: [u8; 8], body: &[u8]) -> Result<()> {
    let bytes = framed(magic, body);
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp).map_err(|e| io(&tmp, e))?;
        f.write_all(&bytes).map_err(|e| io(&tmp, e))?;
        f.sync_all().map_err(|e| io(&tmp, e))?;
    }
    fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Writes `body` framed with `magic` over `path` in place; with `sync`, makes it
/// durable: one `fdatasync` (plus a directory sync when the file is new). Not atomic:
/// a crash during the write leaves a file that fails its checks (see [`read_intent`]).
pub fn overwrite_framed(path: &Path, magic: [u8; 8], body: &[u8], sync: bool) -> Result<()> {
    let bytes = framed(magic, body);
    let existed = path.exists();
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| io(path, e))?;
    f.write_all(&bytes).map_err(|e| io(path, e))?;
    f.set_len(bytes.len() as u64).map_err(|e| io(path, e))?;
    if !sync {
        return Ok(());
    }
    f.sync_data().map_err(|e| io(path, e))?;
    if !existed {
        sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    }
    Ok(())
}

/// Reads an intent written by [`overwrite_framed`]: `None` if there is none, or if it
/// fails its checks (torn by a crash while it was written: its epoch delivered
/// nothing, so it is as if it had not been written).
pub fn read_intent(path: &Path) -> Result<Option<Vec<u8>>> {
    match read_framed(path, MAGIC_INTENT) {
        Ok(body) => Ok(body),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::InvalidData => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The append-only state log of an application (see the module doc).
#[derive(Debug)]
pub struct StateLog {
    path: PathBuf,
    /// Open for appends once the file exists; `None` while a fresh log is pending.
    file: Option<File>,
    /// Bytes committed in the file.
    end: u64,
    /// Frames (and, for a fresh log, the header) not yet committed.
    pending: Vec<u8>,
}

/// A state log read back: the log (positioned after its last checkpoint), the bytes
/// of its committed frames, and the last checkpoint's payload range in them.
#[derive(Debug)]
pub struct LoadedLog {
    /// The log, ready for appends.
    pub log: StateLog,
    /// The file's committed bytes (offsets in checkpoints index these).
    pub bytes: Vec<u8>,
    /// The last checkpoint's payload: `bytes[range]`.
    pub checkpoint: std::ops::Range<usize>,
}

impl StateLog {
    /// A new, empty log that replaces whatever is at `path` when first committed.
    pub fn fresh(path: &Path) -> Self {
        let mut pending = Vec::with_capacity(LOG_HEADER);
        pending.extend_from_slice(&MAGIC_STATE_LOG);
        pending.extend_from_slice(&VERSION.to_le_bytes());
        pending.extend_from_slice(&0u32.to_le_bytes());
        Self {
            path: path.to_path_buf(),
            file: None,
            end: 0,
            pending,
        }
    }

    /// Opens the log at `path`: `None` if there is none. The frames after the last
    /// checkpoint (an epoch a crash cut short) are cut off.
    pub fn open(path: &Path) -> Result<Option<LoadedLog>> {
        let mut bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(path, e)),
        };
        let checkpoint = last_checkpoint(path, &bytes)?;
        let end = checkpoint.end;
        if bytes.len() > end {
            let f = fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| io(path, e))?;
            f.set_len(end as u64).map_err(|e| io(path, e))?;
            f.sync_data().map_err(|e| io(path, e))?;
            bytes.truncate(end);
        }
        let file = fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| io(path, e))?;
        Ok(Some(LoadedLog {
            log: Self {
                path: path.to_path_buf(),
                file: Some(file),
                end: end as u64,
                pending: Vec::new(),
            },
            bytes,
            checkpoint,
        }))
    }

    /// Bytes the log holds once its pending frames are committed.
    pub fn len(&self) -> u64 {
        self.end + self.pending.len() as u64
    }

    /// True if it holds nothing (not even its header).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True until the first commit of a [`fresh`](Self::fresh) log.
    pub fn is_fresh(&self) -> bool {
        self.file.is_none()
    }

    /// Adds a frame of `kind` to the next commit: (offset, length) of its payload.
    pub fn append(&mut self, kind: u8, payload: &[u8]) -> Result<(u64, u64)> {
        let len = u32::try_from(payload.len())
            .map_err(|_| Error::State(format!("a state chunk of {} bytes", payload.len())))?;
        let mut tail = [0u8; 8];
        tail[0] = kind;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&tail);
        crc.update(payload);
        self.pending.extend_from_slice(&len.to_le_bytes());
        self.pending
            .extend_from_slice(&crc.finalize().to_le_bytes());
        self.pending.extend_from_slice(&tail);
        let offset = self.len();
        self.pending.extend_from_slice(payload);
        Ok((offset, u64::from(len)))
    }

    /// Appends `checkpoint` after the pending frames, and with `sync` makes them all
    /// durable: one `fdatasync` (a fresh log: written to `state.tmp`, fsynced,
    /// renamed, the directory fsynced). Without `sync` the bytes are in the page cache
    /// when this returns: they survive the process, not a power loss.
    pub fn commit(&mut self, checkpoint: &[u8], sync: bool) -> Result<()> {
        self.append(FRAME_CHECKPOINT, checkpoint)?;
        let path = self.path.clone();
        match &self.file {
            Some(f) => {
                use std::os::unix::fs::FileExt;
                f.write_all_at(&self.pending, self.end)
                    .map_err(|e| io(&path, e))?;
                if sync {
                    f.sync_data().map_err(|e| io(&path, e))?;
                }
            }
            None => {
                let tmp = path.with_extension("tmp");
                {
                    let mut f = File::create(&tmp).map_err(|e| io(&tmp, e))?;
                    f.write_all(&self.pending).map_err(|e| io(&tmp, e))?;
                    if sync {
                        f.sync_all().map_err(|e| io(&tmp, e))?;
                    }
                }
                fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
                if sync {
                    sync_dir(path.parent().unwrap_or(Path::new(".")))?;
                }
                self.file = Some(
                    fs::OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(|e| io(&path, e))?,
                );
            }
        }
        self.end += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }
}

/// The last whole checkpoint's payload of the state log at `path`, read without
/// changing the file (`None`: no log): what the application resumes from.
pub fn read_checkpoint(path: &Path) -> Result<Option<Vec<u8>>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path, e)),
    };
    let range = last_checkpoint(path, &bytes)?;
    Ok(Some(bytes[range].to_vec()))
}

/// Checks a state log's header and walks its frames: the last checkpoint's payload.
fn last_checkpoint(path: &Path, bytes: &[u8]) -> Result<std::ops::Range<usize>> {
    let corrupt = |why: String| {
        io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("corrupt: {why}")),
        )
    };
    if bytes.len() < LOG_HEADER || bytes[..8] != MAGIC_STATE_LOG {
        return Err(corrupt("bad magic or short header".into()));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(corrupt(format!(
            "format version {version} (this build reads {VERSION})"
        )));
    }
    let mut pos = LOG_HEADER;
    let mut checkpoint = None;
    while let Some((kind, payload)) = frame_at(bytes, pos) {
        pos = payload.end;
        if kind == FRAME_CHECKPOINT {
            checkpoint = Some(payload);
        }
    }
    checkpoint.ok_or_else(|| corrupt("no complete checkpoint".into()))
}

/// The frame at `pos` if it is whole and its CRC holds: (kind, payload range).
fn frame_at(bytes: &[u8], pos: usize) -> Option<(u8, std::ops::Range<usize>)> {
    let header = bytes.get(pos..pos.checked_add(FRAME_HEADER)?)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    let start = pos + FRAME_HEADER;
    let payload = bytes.get(start..start.checked_add(len)?)?;
    let mut h = crc32fast::Hasher::new();
    h.update(&header[8..]);
    h.update(payload);
    let kind = header[8];
    (h.finalize() == crc
        && header[9..].iter().all(|&b| b == 0)
        && (kind == FRAME_CHUNK || kind == FRAME_CHECKPOINT))
        .then_some((kind, start..start + len))
}

/// Fsyncs a directory (so a rename or a new entry in it is durable).
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, e))
}

/// Reads a framed file: `None` if it does not exist.
pub fn read_framed(path: &Path, magic: [u8; 8]) -> Result<Option<Vec<u8>>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path, e)),
    };
    let corrupt = |why: &str| {
        io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("corrupt: {why}")),
        )
    };
    if bytes.len() < HEADER || bytes[..8] != magic {
        return Err(corrupt("bad magic or short header"));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(corrupt(&format!(
            "format version {version} (this build reads {VERSION})"
        )));
    }
    let crc = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
    let len = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
    if len != (bytes.len() - HEADER) as u64 {
        return Err(corrupt("body length does not match the file"));
    }
    let body = &bytes[HEADER..];
    if crc32fast::hash(body) != crc {
        return Err(corrupt("CRC mismatch"));
    }
    Ok(Some(body.to_vec()))
}

/// The directory of application `name` under `root`.
pub fn app_dir(root: &Path, name: &str) -> PathBuf {
    root.join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_files_round_trip_and_refuse_damage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("checkpoint");
        assert!(read_framed(&p, MAGIC_CHECKPOINT).unwrap().is_none());
        write_framed(&p, MAGIC_CHECKPOINT, b"hello").unwrap();
        assert_eq!(
            read_framed(&p, MAGIC_CHECKPOINT).unwrap().unwrap(),
            b"hello"
        );
        assert!(read_framed(&p, MAGIC_INTENT).is_err());
        let mut bytes = fs::read(&p).unwrap();
        bytes[HEADER] ^= 1;
        fs::write(&p, &bytes).unwrap();
        let e = read_framed(&p, MAGIC_CHECKPOINT).unwrap_err().to_string();
        assert!(e.contains("CRC"), "{e}");
        fs::write(&p, &bytes[..10]).unwrap();
        assert!(read_framed(&p, MAGIC_CHECKPOINT).is_err());
    }

    #[test]
    fn intents_overwrite_in_place_and_a_torn_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("intent");
        assert!(read_intent(&p).unwrap().is_none());
        overwrite_framed(&p, MAGIC_INTENT, b"a longer first intent", true).unwrap();
        overwrite_framed(&p, MAGIC_INTENT, b"second", true).unwrap();
        assert_eq!(read_intent(&p).unwrap().unwrap(), b"second");
        let mut bytes = fs::read(&p).unwrap();
        bytes[HEADER + 2] ^= 0xff;
        fs::write(&p, &bytes).unwrap();
        assert!(read_intent(&p).unwrap().is_none());
        fs::write(&p, &bytes[..HEADER - 3]).unwrap();
        assert!(read_intent(&p).unwrap().is_none());
    }

    #[test]
    fn the_state_log_keeps_committed_checkpoints_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state");
        assert!(StateLog::open(&p).unwrap().is_none());
        let mut log = StateLog::fresh(&p);
        let a = log.append(FRAME_CHUNK, b"chunk-a").unwrap();
        log.commit(b"cp1", true).unwrap();
        assert!(!log.is_fresh());
        let b = log.append(FRAME_CHUNK, b"chunk-bb").unwrap();
        log.commit(b"cp2", true).unwrap();
        let committed = log.len();
        // An epoch cut short: its chunk written, its checkpoint torn.
        log.append(FRAME_CHUNK, b"lost").unwrap();
        log.commit(b"cp3", true).unwrap();
        let full = fs::read(&p).unwrap();
        fs::write(&p, &full[..full.len() - 2]).unwrap();
        let loaded = StateLog::open(&p).unwrap().unwrap();
        assert_eq!(&loaded.bytes[loaded.checkpoint.clone()], b"cp2");
        let at = |(o, l): (u64, u64)| &loaded.bytes[o as usize..(o + l) as usize];
        assert_eq!(at(a), b"chunk-a");
        assert_eq!(at(b), b"chunk-bb");
        assert_eq!(loaded.log.len(), committed);
        assert_eq!(fs::metadata(&p).unwrap().len(), committed);
        // Appends continue after the cut.
        let mut log = loaded.log;
        let c = log.append(FRAME_CHUNK, b"chunk-c").unwrap();
        log.commit(b"cp4", true).unwrap();
        let loaded = StateLog::open(&p).unwrap().unwrap();
        assert_eq!(&loaded.bytes[loaded.checkpoint.clone()], b"cp4");
        assert_eq!(
            &loaded.bytes[c.0 as usize..(c.0 + c.1) as usize],
            b"chunk-c"
        );
        // A flipped bit in the last checkpoint: the one before it is the last good one.
        let mut bytes = fs::read(&p).unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 1;
        fs::write(&p, &bytes).unwrap();
        let loaded = StateLog::open(&p).unwrap().unwrap();
        assert_eq!(&loaded.bytes[loaded.checkpoint.clone()], b"cp2");
        // A fresh log replaces the file whole at its first commit.
        let mut log = StateLog::fresh(&p);
        log.append(FRAME_CHUNK, b"x").unwrap();
        log.commit(b"only", true).unwrap();
        let loaded = StateLog::open(&p).unwrap().unwrap();
        assert_eq!(&loaded.bytes[loaded.checkpoint.clone()], b"only");
        // Not a log, or a log without any checkpoint: an error, nothing used.
        fs::write(&p, b"TIDEAPK\0 not a state log").unwrap();
        assert!(StateLog::open(&p).is_err());
        fs::write(&p, &bytes[..LOG_HEADER]).unwrap();
        assert!(StateLog::open(&p).is_err());
    }
}
