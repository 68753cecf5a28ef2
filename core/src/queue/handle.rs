//! Receipt handles: what a receive hands out with each record, and what acknowledge,
//! visibility and restore calls take back.
//!
//! ```text
//! byte 0      version (1)
//! bytes 1-8   queue id (u64 LE)
//! bytes 9-24  sequence number (u128 LE)
//! bytes 25-32 receipt number (u64 LE)
//! byte 33     kind: 0 a delivery, 1 a dead-letter delivery
//! bytes 34-49 MAC: BLAKE3 keyed with a key derived from the data directory's secret
//! ```
//! written as 100 lowercase hex digits. Invariants: a handle this data directory did
//! not issue, or one edited in any bit, fails its MAC; a handle says which queue,
//! record and delivery it is for, so a handle of another queue, or of an earlier
//! delivery of the record, is told apart from a forged one.
#![forbid(unsafe_code)]

const VERSION: u8 = 1;
const BODY_BYTES: usize = 34;
const MAC_BYTES: usize = 16;
const HANDLE_BYTES: usize = BODY_BYTES + MAC_BYTES;
const HANDLE_CHARS: usize = HANDLE_BYTES * 2;
const KEY_CONTEXT: &str = "tidelog 2026 queue receipt handle MAC key";

/// A decoded receipt handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptHandle {
    /// The queue that issued it.
    pub queue_id: u64,
    /// The record's sequence number.
    pub seq: u128,
    /// The delivery's receipt number.
    pub receipt: u64,
    /// Issued by a dead-letter receive.
    pub dead: bool,
}

/// Why a receipt handle was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleError {
    /// Not 100 lowercase hex digits of a known version.
    Malformed,
    /// Its MAC does not match: edited, or issued by another data directory.
    Forged,
}

impl std::fmt::Display for HandleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed => f.write_str("the receipt handle is malformed"),
            Self::Forged => f.write_str(
                "the receipt handle was altered or was not issued by this data directory",
            ),
        }
    }
}

fn key(secret: &[u8; 32]) -> [u8; 32] {
    blake3::derive_key(KEY_CONTEXT, secret)
}

fn mac(key: &[u8; 32], body: &[u8]) -> [u8; MAC_BYTES] {
    let hash = blake3::keyed_hash(key, body);
    let mut out = [0u8; MAC_BYTES];
    out.copy_from_slice(&hash.as_bytes()[..MAC_BYTES]);
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl ReceiptHandle {
    /// The handle's text form, signed with a key derived from `secret`.
    pub fn encode(&self, secret: &[u8; 32]) -> String {
        let mut bytes = [0u8; HANDLE_BYTES];
        bytes[0] = VERSION;
        bytes[1..9].copy_from_slice(&self.queue_id.to_le_bytes());
        bytes[9..25].copy_from_slice(&self.seq.to_le_bytes());
        bytes[25..33].copy_from_slice(&self.receipt.to_le_bytes());
        bytes[33] = u8::from(self.dead);
        let tag = mac(&key(secret), &bytes[..BODY_BYTES]);
        bytes[BODY_BYTES..].copy_from_slice(&tag);
        let mut text = String::with_capacity(HANDLE_CHARS);
        for b in bytes {
            text.push(HEX[(b >> 4) as usize] as char);
            text.push(HEX[(b & 15) as usize] as char);
        }
        text
    }

    /// Decodes and verifies a handle's text form.
    pub fn decode(text: &str, secret: &[u8; 32]) -> Result<Self, HandleError> {
        let raw = text.as_bytes();
        if raw.len() != HANDLE_CHARS {
            return Err(HandleError::Malformed);
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut bytes = [0u8; HANDLE_BYTES];
        for (i, pair) in raw.chunks_exact(2).enumerate() {
            let (Some(hi), Some(lo)) = (nibble(pair[0]), nibble(pair[1])) else {
                return Err(HandleError::Malformed);
            };
            bytes[i] = (hi << 4) | lo;
        }
        if bytes[0] != VERSION || bytes[33] > 1 {
            return Err(HandleError::Malformed);
        }
        let expected = mac(&key(secret), &bytes[..BODY_BYTES]);
        if expected
            .iter()
            .zip(&bytes[BODY_BYTES..])
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            != 0
        {
            return Err(HandleError::Forged);
        }
        let mut u64_bytes = [0u8; 8];
        let mut u128_bytes = [0u8; 16];
        u64_bytes.copy_from_slice(&bytes[1..9]);
        let queue_id = u64::from_le_bytes(u64_bytes);
        u128_bytes.copy_from_slice(&bytes[9..25]);
        let seq = u128::from_le_bytes(u128_bytes);
        u64_bytes.copy_from_slice(&bytes[25..33]);
        let receipt = u64::from_le_bytes(u64_bytes);
        Ok(Self {
            queue_id,
            seq,
            receipt,
            dead: bytes[33] == 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_edit_refused() {
        let secret = [7u8; 32];
        let h = ReceiptHandle {
            queue_id: 0xdead_beef,
            seq: (5u128 << 96) | (3u128 << 64) | 42,
            receipt: 9,
            dead: true,
        };
        let text = h.encode(&secret);
        assert_eq!(text.len(), HANDLE_CHARS);
        assert_eq!(ReceiptHandle::decode(&text, &secret), Ok(h));
        assert_eq!(
            ReceiptHandle::decode(&text, &[8u8; 32]),
            Err(HandleError::Forged)
        );
        for i in 2..text.len() {
            let mut edited = text.clone().into_bytes();
            edited[i] = if edited[i] == b'0' { b'1' } else { b'0' };
            let edited = String::from_utf8(edited).unwrap();
            assert!(
                ReceiptHandle::decode(&edited, &secret).is_err(),
                "digit {i}"
            );
        }
        for bad in ["", "zz", &text[1..], &text.to_uppercase()] {
            assert_eq!(
                ReceiptHandle::decode(bad, &secret),
                Err(HandleError::Malformed)
            );
        }
    }
}
