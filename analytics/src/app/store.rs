//! The files of an application (docs/format.md, "Analytics applications"):
//! `<data_dir>/analytics/applications/<name>/` holds `application` (the definition),
//! `intent` (the epoch being computed: its input ranges and watermark) and
//! `checkpoint` (the last committed epoch: input positions, window and model state,
//! output positions).
//!
//! Every file is framed the same way:
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
//! Invariants: a file is replaced atomically (written to `<file>.tmp`, fsynced,
//! renamed over the old one, the directory fsynced), so a crash leaves the old or the
//! new file, never a mix; a file that fails its checks is reported as corrupt, never
//! used.
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
/// The format version written.
pub const VERSION: u32 = 1;
const HEADER: usize = 24;

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes `body` framed with `magic` to `path`, atomically and durably.
pub fn write_framed(path: &Path, magic: [u8; 8], body: &[u8]) -> Result<()> {
    let mut bytes = Vec::with_capacity(HEADER + body.len());
    bytes.extend_from_slice(&magic);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(body);
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp).map_err(|e| io(&tmp, e))?;
        f.write_all(&bytes).map_err(|e| io(&tmp, e))?;
        f.sync_all().map_err(|e| io(&tmp, e))?;
    }
    fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
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
}
