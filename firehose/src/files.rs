//! Firehose's own files (the delivery stream catalog and each delivery stream's
//! checkpoint): a 24-byte checked header and a JSON body, replaced atomically through
//! the engine's `Storage` (temp file, sync, rename, directory sync), so a crash leaves
//! the old file or the new one, never a mix.
//!
//! ```text
//! offset  size  field
//!      0     8  magic (TIDEFHC\0 catalog, TIDEFHK\0 checkpoint)
//!      8     2  format version, little-endian (1)
//!     10     2  flags (0)
//!     12     4  body length in bytes, little-endian (at most 64 MiB)
//!     16     4  CRC32 of the body
//!     20     4  CRC32 of bytes 0..20
//!     24     …  body: UTF-8 JSON
//! ```
//!
//! Invariant: a file whose header or body fails its checks is reported as corrupt with
//! the reason, never half-used.
#![forbid(unsafe_code)]

use std::path::Path;

use tidelog::io::Storage;

/// Magic of the delivery stream catalog.
pub const CATALOG_MAGIC: [u8; 8] = *b"TIDEFHC\0";
/// Magic of a checkpoint.
pub const CHECKPOINT_MAGIC: [u8; 8] = *b"TIDEFHK\0";
/// Format version of both files.
pub const FORMAT_VERSION: u16 = 1;
/// Size of the header.
pub const HEADER_BYTES: usize = 24;
/// Largest body accepted.
pub const BODY_BYTES_MAX: usize = 64 << 20;

/// Frames `body` under `magic`.
pub fn encode(magic: [u8; 8], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES + body.len());
    out.extend_from_slice(&magic);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    let header_crc = crc32fast::hash(&out[..20]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// Checks a framed file and returns its body.
pub fn decode(magic: [u8; 8], bytes: &[u8]) -> Result<&[u8], String> {
    if bytes.len() < HEADER_BYTES {
        return Err(format!("{} bytes, shorter than the header", bytes.len()));
    }
    let u32_at =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    if bytes[..8] != magic {
        return Err(format!("bad magic {:?}", &bytes[..8]));
    }
    let header_crc = crc32fast::hash(&bytes[..20]);
    if header_crc != u32_at(20) {
        return Err(format!(
            "header checksum {:08x} != {:08x}",
            header_crc,
            u32_at(20)
        ));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != FORMAT_VERSION {
        return Err(format!(
            "format version {version} (this build reads {FORMAT_VERSION})"
        ));
    }
    let len = u32_at(12) as usize;
    if len > BODY_BYTES_MAX || HEADER_BYTES + len != bytes.len() {
        return Err(format!(
            "body length {len} does not match the file ({} bytes)",
            bytes.len()
        ));
    }
    let body = &bytes[HEADER_BYTES..];
    let crc = crc32fast::hash(body);
    if crc != u32_at(16) {
        return Err(format!("body checksum {crc:08x} != {:08x}", u32_at(16)));
    }
    Ok(body)
}

/// Replaces `path` atomically with `body` framed under `magic`. `durable`: sync the
/// file and the directory (the engine's `sync` mode); otherwise the rename alone
/// (survives a crash of the process, like the engine's `os` mode).
pub fn save(
    storage: &dyn Storage,
    path: &Path,
    magic: [u8; 8],
    body: &[u8],
    durable: bool,
) -> std::io::Result<()> {
    let bytes = encode(magic, body);
    if durable {
        storage.write_file_atomic(path, &bytes)
    } else {
        let tmp = tidelog::io::temp_path(path);
        storage.write_file_unsynced(&tmp, &bytes)?;
        storage.rename(&tmp, path)
    }
}

/// Reads a framed file: `Ok(None)` if it does not exist, `Err(problem)` inside if it is
/// damaged.
pub fn load(
    storage: &dyn Storage,
    path: &Path,
    magic: [u8; 8],
) -> std::io::Result<Option<Result<Vec<u8>, String>>> {
    if !storage.exists(path)? {
        return Ok(None);
    }
    let bytes = storage.read_file(path)?;
    Ok(Some(decode(magic, &bytes).map(<[u8]>::to_vec)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_every_flip_is_caught() {
        let framed = encode(CATALOG_MAGIC, b"{\"a\":1}");
        assert_eq!(decode(CATALOG_MAGIC, &framed).unwrap(), b"{\"a\":1}");
        assert!(decode(CHECKPOINT_MAGIC, &framed).is_err());
        for i in 0..framed.len() {
            for bit in 0..8 {
                let mut bad = framed.clone();
                bad[i] ^= 1 << bit;
                assert!(decode(CATALOG_MAGIC, &bad).is_err(), "byte {i} bit {bit}");
            }
        }
        for len in 0..framed.len() {
            assert!(decode(CATALOG_MAGIC, &framed[..len]).is_err());
        }
    }

    #[test]
    fn save_and_load_through_storage() {
        let dir = tempfile::tempdir().unwrap();
        let storage = tidelog::io::FsStorage::new();
        let path = dir.path().join("catalog");
        assert!(load(&storage, &path, CATALOG_MAGIC).unwrap().is_none());
        save(&storage, &path, CATALOG_MAGIC, b"one", true).unwrap();
        save(&storage, &path, CATALOG_MAGIC, b"two", false).unwrap();
        assert_eq!(
            load(&storage, &path, CATALOG_MAGIC)
                .unwrap()
                .unwrap()
                .unwrap(),
            b"two"
        );
        std::fs::write(&path, b"garbage").unwrap();
        assert!(
            load(&storage, &path, CATALOG_MAGIC)
                .unwrap()
                .unwrap()
                .is_err()
        );
    }
}
