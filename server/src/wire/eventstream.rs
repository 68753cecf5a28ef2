//! The AWS event stream encoding (`application/vnd.amazon.eventstream`), which carries
//! SubscribeToShard's events.
//!
//! ```text
//! offset  size  field
//! 0       4     total length (big-endian; the whole message, CRCs included)
//! 4       4     headers length
//! 8       4     prelude CRC32 (of bytes 0..8)
//! 12      h     headers: name length (1), name, value type (1), value
//!               (type 7 = string: length (2, big-endian) then UTF-8 bytes)
//! 12+h    p     payload
//! 12+h+p  4     message CRC32 (of every byte before it)
//! ```
//!
//! Only string headers are written (`:message-type`, `:event-type`, `:content-type`,
//! `:exception-type`), which is all SubscribeToShard uses. The decoder (for tests and
//! the CLI) checks both CRCs and every length before using it.
#![forbid(unsafe_code)]

/// Header value type of a UTF-8 string.
const HEADER_STRING: u8 = 7;
/// Bytes before the headers.
const PRELUDE_BYTES: usize = 12;
/// Largest message accepted by the decoder (AWS: 16 MiB).
pub const MESSAGE_BYTES_MAX: usize = 16 << 20;

/// One encoded message.
pub fn encode(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let headers_len: usize = headers
        .iter()
        .map(|(name, value)| 1 + name.len() + 1 + 2 + value.len())
        .sum();
    let total = PRELUDE_BYTES + headers_len + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(headers_len as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out[..8]);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    for (name, value) in headers {
        debug_assert!(name.len() <= 255 && value.len() <= usize::from(u16::MAX));
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.push(HEADER_STRING);
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    debug_assert_eq!(out.len(), total);
    out
}

/// An event (`:message-type` `event`) of type `event_type` with a payload.
pub fn event(event_type: &str, content_type: &str, payload: &[u8]) -> Vec<u8> {
    encode(
        &[
            (":message-type", "event"),
            (":event-type", event_type),
            (":content-type", content_type),
        ],
        payload,
    )
}

/// An exception (`:message-type` `exception`) that ends the stream.
pub fn exception(exception_type: &str, content_type: &str, payload: &[u8]) -> Vec<u8> {
    encode(
        &[
            (":message-type", "exception"),
            (":exception-type", exception_type),
            (":content-type", content_type),
        ],
        payload,
    )
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// String headers, in order (other header types are skipped).
    pub headers: Vec<(String, String)>,
    /// The payload.
    pub payload: Vec<u8>,
}

impl Message {
    /// The value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why bytes are not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A length field is impossible.
    #[error("bad length: {0}")]
    Length(&'static str),
    /// The prelude's CRC does not match.
    #[error("prelude CRC mismatch: got {got:08x}, expected {expected:08x}")]
    PreludeCrc {
        /// Stored.
        got: u32,
        /// Computed.
        expected: u32,
    },
    /// The message CRC does not match.
    #[error("message CRC mismatch: got {got:08x}, expected {expected:08x}")]
    MessageCrc {
        /// Stored.
        got: u32,
        /// Computed.
        expected: u32,
    },
    /// A header is malformed.
    #[error("bad header: {0}")]
    Header(&'static str),
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Decodes the first message of `buf`: `Ok(None)` if `buf` holds only part of one,
/// else the message and how many bytes it took.
pub fn decode(buf: &[u8]) -> Result<Option<(Message, usize)>, DecodeError> {
    if buf.len() < PRELUDE_BYTES {
        return Ok(None);
    }
    let total = be32(&buf[0..4]) as usize;
    let headers_len = be32(&buf[4..8]) as usize;
    let expected = crc32fast::hash(&buf[0..8]);
    let got = be32(&buf[8..12]);
    if got != expected {
        return Err(DecodeError::PreludeCrc { got, expected });
    }
    if !(PRELUDE_BYTES + 4..=MESSAGE_BYTES_MAX).contains(&total) {
        return Err(DecodeError::Length("total length"));
    }
    if headers_len > total - PRELUDE_BYTES - 4 {
        return Err(DecodeError::Length("headers length"));
    }
    if buf.len() < total {
        return Ok(None);
    }
    let expected = crc32fast::hash(&buf[..total - 4]);
    let got = be32(&buf[total - 4..total]);
    if got != expected {
        return Err(DecodeError::MessageCrc { got, expected });
    }
    let mut h = &buf[PRELUDE_BYTES..PRELUDE_BYTES + headers_len];
    let mut headers = Vec::new();
    while !h.is_empty() {
        let name_len = usize::from(h[0]);
        if h.len() < 1 + name_len + 1 {
            return Err(DecodeError::Header("truncated name"));
        }
        let name = std::str::from_utf8(&h[1..1 + name_len])
            .map_err(|_| DecodeError::Header("name is not UTF-8"))?
            .to_string();
        let kind = h[1 + name_len];
        h = &h[2 + name_len..];
        let skip = match kind {
            0 | 1 => 0,
            2 => 1,
            3 => 2,
            4 => 4,
            5 | 8 => 8,
            9 => 16,
            6 | 7 => {
                if h.len() < 2 {
                    return Err(DecodeError::Header("truncated value length"));
                }
                2 + usize::from(u16::from_be_bytes([h[0], h[1]]))
            }
            _ => return Err(DecodeError::Header("unknown value type")),
        };
        if h.len() < skip {
            return Err(DecodeError::Header("truncated value"));
        }
        if kind == HEADER_STRING {
            let value = std::str::from_utf8(&h[2..skip])
                .map_err(|_| DecodeError::Header("value is not UTF-8"))?;
            headers.push((name, value.to_string()));
        }
        h = &h[skip..];
    }
    let payload = buf[PRELUDE_BYTES + headers_len..total - 4].to_vec();
    Ok(Some((Message { headers, payload }, total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_partial() {
        let bytes = event(
            "SubscribeToShardEvent",
            "application/json",
            b"{\"Records\":[]}",
        );
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut]).unwrap(), None, "cut {cut}");
        }
        let (m, used) = decode(&bytes).unwrap().unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(m.header(":event-type"), Some("SubscribeToShardEvent"));
        assert_eq!(m.header(":message-type"), Some("event"));
        assert_eq!(m.payload, b"{\"Records\":[]}");
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let bytes = exception("ResourceNotFoundException", "application/json", b"{}");
        for i in 0..bytes.len() * 8 {
            let mut bad = bytes.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(
                !matches!(decode(&bad), Ok(Some(_))),
                "bit {i} went unnoticed"
            );
        }
    }

    #[test]
    fn known_vector() {
        // An empty message: prelude only and the two CRCs (0x05c248eb is the CRC32 of
        // 00 00 00 10 00 00 00 00; AWS's own examples begin the same way).
        let bytes = encode(&[], b"");
        assert_eq!(
            &bytes[..12],
            &[0, 0, 0, 16, 0, 0, 0, 0, 0x05, 0xc2, 0x48, 0xeb]
        );
    }
}
