//! Shard iterators: the five starting positions, and the opaque, tamper-evident tokens
//! that carry a read position between calls.
//!
//! A token is 53 bytes, shown as 106 lowercase hex digits:
//! ```text
//! 0        1           9            13              29           37            53
//! +--------+-----------+------------+---------------+------------+-------------+
//! | ver=1  | stream_id | shard      | next_seq      | issued_ms  | MAC (16 B)  |
//! | (u8)   | (u64 LE)  | index (u32)| (u128 LE)     | (u64 LE)   | blake3 keyed|
//! +--------+-----------+------------+---------------+------------+-------------+
//! ```
//! The MAC is BLAKE3 in keyed mode over bytes 0..37 with the data directory's 32-byte
//! secret (kept in the catalog), truncated to 16 bytes: a forged or edited token is
//! refused, and a token from another data directory is refused. Tokens expire
//! [`ITERATOR_LIFETIME_MS`] after they were issued.
#![forbid(unsafe_code)]

/// How long an iterator token stays valid (Kinesis: 5 minutes).
pub const ITERATOR_LIFETIME_MS: u64 = 5 * 60 * 1000;

const TOKEN_VERSION: u8 = 1;
const BODY_BYTES: usize = 37;
const MAC_BYTES: usize = 16;
const TOKEN_BYTES: usize = BODY_BYTES + MAC_BYTES;
/// Length of a token's text form.
pub const TOKEN_CHARS: usize = TOKEN_BYTES * 2;

/// Where a new iterator starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    /// The oldest record kept.
    TrimHorizon,
    /// Just after the newest record: only records put from now on.
    Latest,
    /// At the record with this sequence number (or the next one after it).
    AtSequenceNumber(u128),
    /// Just after the record with this sequence number.
    AfterSequenceNumber(u128),
    /// At the first record whose arrival time is at or after this time (ms since epoch).
    AtTimestamp(u64),
}

impl StartingPosition {
    /// The Kinesis name of the iterator type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::TrimHorizon => "TRIM_HORIZON",
            Self::Latest => "LATEST",
            Self::AtSequenceNumber(_) => "AT_SEQUENCE_NUMBER",
            Self::AfterSequenceNumber(_) => "AFTER_SEQUENCE_NUMBER",
            Self::AtTimestamp(_) => "AT_TIMESTAMP",
        }
    }
}

/// The decoded contents of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IteratorToken {
    /// Numeric id of the stream.
    pub stream_id: u64,
    /// Index of the shard.
    pub shard_index: u32,
    /// Read records with sequence numbers at or above this.
    pub next_seq: u128,
    /// When the token was issued, ms since the epoch.
    pub issued_ms: u64,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not 106 hex digits, or an unknown version.
    Malformed,
    /// The MAC does not match: edited, forged, or from another data directory.
    Forged,
}

fn mac(secret: &[u8; 32], body: &[u8]) -> [u8; MAC_BYTES] {
    let hash = blake3::keyed_hash(secret, body);
    let mut out = [0u8; MAC_BYTES];
    out.copy_from_slice(&hash.as_bytes()[..MAC_BYTES]);
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl IteratorToken {
    /// The token's text form, signed with `secret`.
    pub fn encode(&self, secret: &[u8; 32]) -> String {
        let mut bytes = [0u8; TOKEN_BYTES];
        bytes[0] = TOKEN_VERSION;
        bytes[1..9].copy_from_slice(&self.stream_id.to_le_bytes());
        bytes[9..13].copy_from_slice(&self.shard_index.to_le_bytes());
        bytes[13..29].copy_from_slice(&self.next_seq.to_le_bytes());
        bytes[29..37].copy_from_slice(&self.issued_ms.to_le_bytes());
        let tag = mac(secret, &bytes[..BODY_BYTES]);
        bytes[BODY_BYTES..].copy_from_slice(&tag);
        let mut text = String::with_capacity(TOKEN_CHARS);
        for b in bytes {
            text.push(HEX[(b >> 4) as usize] as char);
            text.push(HEX[(b & 15) as usize] as char);
        }
        text
    }

    /// Decodes and verifies a token's text form.
    pub fn decode(text: &str, secret: &[u8; 32]) -> Result<Self, TokenError> {
        let raw = text.as_bytes();
        if raw.len() != TOKEN_CHARS {
            return Err(TokenError::Malformed);
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut bytes = [0u8; TOKEN_BYTES];
        for (i, pair) in raw.chunks_exact(2).enumerate() {
            let (Some(hi), Some(lo)) = (nibble(pair[0]), nibble(pair[1])) else {
                return Err(TokenError::Malformed);
            };
            bytes[i] = (hi << 4) | lo;
        }
        if bytes[0] != TOKEN_VERSION {
            return Err(TokenError::Malformed);
        }
        let expected = mac(secret, &bytes[..BODY_BYTES]);
        // Not secret-dependent timing in any way that matters here, but compare fully.
        if expected
            .iter()
            .zip(&bytes[BODY_BYTES..])
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            != 0
        {
            return Err(TokenError::Forged);
        }
        let u64_at =
            |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
        Ok(Self {
            stream_id: u64_at(1),
            shard_index: u32::from_le_bytes(bytes[9..13].try_into().unwrap_or_default()),
            next_seq: u128::from_le_bytes(bytes[13..29].try_into().unwrap_or_default()),
            issued_ms: u64_at(29),
        })
    }

    /// When the token stops being valid, ms since the epoch.
    pub fn expires_ms(&self) -> u64 {
        self.issued_ms.saturating_add(ITERATOR_LIFETIME_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: [u8; 32] = [7; 32];

    fn token() -> IteratorToken {
        IteratorToken {
            stream_id: 42,
            shard_index: 3,
            next_seq: u128::MAX - 9,
            issued_ms: 1_700_000_000_123,
        }
    }

    #[test]
    fn round_trip() {
        let text = token().encode(&SECRET);
        assert_eq!(text.len(), TOKEN_CHARS);
        assert!(text.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(IteratorToken::decode(&text, &SECRET), Ok(token()));
        assert_eq!(token().expires_ms(), 1_700_000_000_123 + 300_000);
    }

    #[test]
    fn every_edit_is_caught() {
        let text = token().encode(&SECRET);
        for i in 0..text.len() {
            let mut edited = text.clone().into_bytes();
            edited[i] = if edited[i] == b'0' { b'1' } else { b'0' };
            let edited = String::from_utf8(edited).unwrap();
            assert!(
                IteratorToken::decode(&edited, &SECRET).is_err(),
                "edit at {i} accepted"
            );
        }
        assert_eq!(
            IteratorToken::decode(&text, &[8; 32]),
            Err(TokenError::Forged)
        );
        assert_eq!(
            IteratorToken::decode(&text[..104], &SECRET),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            IteratorToken::decode(&text.to_uppercase(), &SECRET),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            IteratorToken::decode("", &SECRET),
            Err(TokenError::Malformed)
        );
        let with_nul = format!("{}\0", &text[..105]);
        assert_eq!(
            IteratorToken::decode(&with_nul, &SECRET),
            Err(TokenError::Malformed)
        );
        let multibyte = format!("{}é", &text[..104]);
        assert_eq!(
            IteratorToken::decode(&multibyte, &SECRET),
            Err(TokenError::Malformed)
        );
    }
}
