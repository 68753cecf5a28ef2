//! Object compression: Firehose's CompressionFormat values and the files each writes.
//!
//! | format | file | extension |
//! |---|---|---|
//! | UNCOMPRESSED | the records as they are | none |
//! | GZIP | one gzip member (RFC 1952) | `.gz` |
//! | ZIP | a zip archive of one deflated entry (name: the object's file name without `.zip`) | `.zip` |
//! | Snappy | the Snappy framing format (stream identifier, CRC-32C checked chunks) | `.snappy` |
//! | HADOOP_SNAPPY | Hadoop's block stream: per block of up to 256 KiB of input, a big-endian u32 of the uncompressed length, a big-endian u32 of the compressed length, then raw Snappy | `.hsnappy` |
//! | ZSTD (Kinesis channels only; Firehose refuses it) | one Zstandard frame (RFC 8878) | `.zst` |
//!
//! Invariant: each output is complete and readable by the standard tool for its format
//! (gzip, unzip, python-snappy/cramjam); a size the format cannot hold (a ZIP entry past
//! 4 GiB) is an error, never a corrupt file.
#![forbid(unsafe_code)]

use std::io::Write;

/// Firehose's CompressionFormat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression (the default).
    #[default]
    Uncompressed,
    /// gzip.
    Gzip,
    /// A zip archive with one entry.
    Zip,
    /// Snappy framing format.
    Snappy,
    /// Hadoop's Snappy block stream.
    HadoopSnappy,
    /// Zstandard (Kinesis channels' CompressionType ZSTD; not a Firehose format).
    Zstd,
}

/// Hadoop's default block size for its Snappy codec.
const HADOOP_BLOCK_BYTES: usize = 256 << 10;

impl Compression {
    /// Parses the AWS name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "UNCOMPRESSED" => Self::Uncompressed,
            "GZIP" => Self::Gzip,
            "ZIP" => Self::Zip,
            "Snappy" => Self::Snappy,
            "HADOOP_SNAPPY" => Self::HadoopSnappy,
            "ZSTD" => Self::Zstd,
            _ => return None,
        })
    }

    /// The AWS name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Uncompressed => "UNCOMPRESSED",
            Self::Gzip => "GZIP",
            Self::Zip => "ZIP",
            Self::Snappy => "Snappy",
            Self::HadoopSnappy => "HADOOP_SNAPPY",
            Self::Zstd => "ZSTD",
        }
    }

    /// The file extension Firehose appends.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Uncompressed => "",
            Self::Gzip => ".gz",
            Self::Zip => ".zip",
            Self::Snappy => ".snappy",
            Self::HadoopSnappy => ".hsnappy",
            Self::Zstd => ".zst",
        }
    }

    /// Compresses `parts` (concatenated) into one object. `entry_name` names the ZIP
    /// entry; `dos_time_ms` dates it.
    pub fn encode<'a>(
        self,
        parts: impl IntoIterator<Item = &'a [u8]>,
        total_bytes: usize,
        entry_name: &str,
        dos_time_ms: u64,
    ) -> std::io::Result<Vec<u8>> {
        match self {
            Self::Uncompressed => {
                let mut out = Vec::with_capacity(total_bytes);
                for p in parts {
                    out.extend_from_slice(p);
                }
                Ok(out)
            }
            Self::Gzip => {
                let mut e = flate2::write::GzEncoder::new(
                    Vec::with_capacity(total_bytes / 4 + 64),
                    flate2::Compression::default(),
                );
                for p in parts {
                    e.write_all(p)?;
                }
                e.finish()
            }
            Self::Zip => zip_one(parts, entry_name, dos_time_ms),
            Self::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(
                    Vec::with_capacity(total_bytes / 4 + 64),
                    zstd::DEFAULT_COMPRESSION_LEVEL,
                )?;
                for p in parts {
                    e.write_all(p)?;
                }
                e.finish()
            }
            Self::Snappy => {
                let mut e =
                    snap::write::FrameEncoder::new(Vec::with_capacity(total_bytes / 2 + 64));
                for p in parts {
                    e.write_all(p)?;
                }
                e.into_inner().map_err(|e| e.into_error())
            }
            Self::HadoopSnappy => {
                let mut out = Vec::with_capacity(total_bytes / 2 + 64);
                let mut block = Vec::with_capacity(HADOOP_BLOCK_BYTES);
                let mut encoder = snap::raw::Encoder::new();
                let mut flush = |block: &mut Vec<u8>, out: &mut Vec<u8>| -> std::io::Result<()> {
                    if block.is_empty() {
                        return Ok(());
                    }
                    let compressed = encoder.compress_vec(block).map_err(std::io::Error::other)?;
                    out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                    out.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
                    out.extend_from_slice(&compressed);
                    block.clear();
                    Ok(())
                };
                for mut p in parts {
                    while !p.is_empty() {
                        let take = (HADOOP_BLOCK_BYTES - block.len()).min(p.len());
                        block.extend_from_slice(&p[..take]);
                        p = &p[take..];
                        if block.len() == HADOOP_BLOCK_BYTES {
                            flush(&mut block, &mut out)?;
                        }
                    }
                }
                flush(&mut block, &mut out)?;
                Ok(out)
            }
        }
    }
}

fn dos_date_time(epoch_ms: u64) -> (u16, u16) {
    let t = crate::timefmt::Civil::at(epoch_ms as i64, 0);
    let year = (t.year.clamp(1980, 2107) - 1980) as u16;
    let date = (year << 9) | ((t.month as u16) << 5) | t.day as u16;
    let time = ((t.hour as u16) << 11) | ((t.minute as u16) << 5) | (t.second as u16 / 2);
    (time, date)
}

/// A zip archive (PKWARE APPNOTE 6.3) of one deflated entry.
fn zip_one<'a>(
    parts: impl IntoIterator<Item = &'a [u8]>,
    entry_name: &str,
    dos_time_ms: u64,
) -> std::io::Result<Vec<u8>> {
    let too_big = || std::io::Error::other("a ZIP entry cannot exceed 4 GiB without ZIP64");
    let mut crc = crc32fast::Hasher::new();
    let mut uncompressed: u64 = 0;
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    for p in parts {
        crc.update(p);
        uncompressed += p.len() as u64;
        e.write_all(p)?;
    }
    let data = e.finish()?;
    let crc = crc.finalize();
    let size = u32::try_from(uncompressed).map_err(|_| too_big())?;
    let csize = u32::try_from(data.len()).map_err(|_| too_big())?;
    let name = entry_name.as_bytes();
    let name_len =
        u16::try_from(name.len()).map_err(|_| std::io::Error::other("entry name too long"))?;
    let (time, date) = dos_date_time(dos_time_ms);
    let mut out = Vec::with_capacity(data.len() + 2 * name.len() + 128);
    // Local file header.
    out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    out.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0 (deflate)
    out.extend_from_slice(&0x0800u16.to_le_bytes()); // flags: UTF-8 name
    out.extend_from_slice(&8u16.to_le_bytes()); // method: deflate
    out.extend_from_slice(&time.to_le_bytes());
    out.extend_from_slice(&date.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&csize.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&name_len.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // extra length
    out.extend_from_slice(name);
    out.extend_from_slice(&data);
    let central_offset = u32::try_from(out.len()).map_err(|_| too_big())?;
    // Central directory header.
    out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    out.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes()); // made by: Unix, 2.0
    out.extend_from_slice(&20u16.to_le_bytes());
    out.extend_from_slice(&0x0800u16.to_le_bytes());
    out.extend_from_slice(&8u16.to_le_bytes());
    out.extend_from_slice(&time.to_le_bytes());
    out.extend_from_slice(&date.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&csize.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&name_len.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // extra
    out.extend_from_slice(&0u16.to_le_bytes()); // comment
    out.extend_from_slice(&0u16.to_le_bytes()); // disk
    out.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
    out.extend_from_slice(&((0o100644u32) << 16).to_le_bytes()); // external: -rw-r--r--
    out.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    out.extend_from_slice(name);
    let central_len = u32::try_from(out.len()).map_err(|_| too_big())? - central_offset;
    // End of central directory.
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&central_len.to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample() -> Vec<Vec<u8>> {
        (0..2000)
            .map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}\n", "x".repeat(i % 300)).into_bytes())
            .collect()
    }

    fn joined(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.concat()
    }

    fn encode(c: Compression, parts: &[Vec<u8>]) -> Vec<u8> {
        let total = parts.iter().map(Vec::len).sum();
        c.encode(
            parts.iter().map(Vec::as_slice),
            total,
            "object",
            1_535_365_805_123,
        )
        .unwrap()
    }

    #[test]
    fn gzip_and_snappy_round_trip() {
        let parts = sample();
        let want = joined(&parts);
        let mut got = Vec::new();
        flate2::read::GzDecoder::new(&encode(Compression::Gzip, &parts)[..])
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got, want);
        got.clear();
        snap::read::FrameDecoder::new(&encode(Compression::Snappy, &parts)[..])
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got, want);
        assert_eq!(encode(Compression::Uncompressed, &parts), want);
    }

    #[test]
    fn hadoop_snappy_blocks_decode() {
        let parts = sample();
        let want = joined(&parts);
        let out = encode(Compression::HadoopSnappy, &parts);
        let mut at = 0;
        let mut got = Vec::new();
        while at < out.len() {
            let raw_len = u32::from_be_bytes(out[at..at + 4].try_into().unwrap()) as usize;
            let c_len = u32::from_be_bytes(out[at + 4..at + 8].try_into().unwrap()) as usize;
            assert!(raw_len <= HADOOP_BLOCK_BYTES);
            let block = snap::raw::Decoder::new()
                .decompress_vec(&out[at + 8..at + 8 + c_len])
                .unwrap();
            assert_eq!(block.len(), raw_len);
            got.extend(block);
            at += 8 + c_len;
        }
        assert_eq!(got, want);
    }

    #[test]
    fn zip_has_one_entry_with_the_data() {
        let parts = sample();
        let want = joined(&parts);
        let z = encode(Compression::Zip, &parts);
        assert_eq!(&z[..4], b"PK\x03\x04");
        let name_len = u16::from_le_bytes([z[26], z[27]]) as usize;
        assert_eq!(&z[30..30 + name_len], b"object");
        let csize = u32::from_le_bytes(z[18..22].try_into().unwrap()) as usize;
        let mut got = Vec::new();
        flate2::read::DeflateDecoder::new(&z[30 + name_len..30 + name_len + csize])
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got, want);
        assert_eq!(
            u32::from_le_bytes(z[14..18].try_into().unwrap()),
            crc32fast::hash(&want)
        );
        let eocd = z.len() - 22;
        assert_eq!(&z[eocd..eocd + 4], b"PK\x05\x06");
    }

    #[test]
    fn zstd_is_one_frame_of_the_data() {
        let parts = sample();
        let z = encode(Compression::Zstd, &parts);
        assert_eq!(&z[..4], &[0x28, 0xb5, 0x2f, 0xfd]); // the frame magic
        assert_eq!(zstd::decode_all(&z[..]).unwrap(), joined(&parts));
    }

    #[test]
    fn names_and_extensions() {
        for c in [
            Compression::Uncompressed,
            Compression::Gzip,
            Compression::Zip,
            Compression::Snappy,
            Compression::HadoopSnappy,
            Compression::Zstd,
        ] {
            assert_eq!(Compression::from_name(c.name()), Some(c));
        }
        assert_eq!(Compression::from_name("gzip"), None);
        assert_eq!(Compression::HadoopSnappy.extension(), ".hsnappy");
    }
}
