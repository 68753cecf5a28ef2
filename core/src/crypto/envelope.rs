//! Sealing records and wrapping data keys (AES-256-GCM, `ring`'s).
//!
//! A wrapped data key (kept in a catalog key slot), 64 bytes:
//!
//! ```text
//! 0   1  version (1)
//! 1   3  reserved (0)
//! 4  12  nonce (random)
//! 16 32  the data key, encrypted with the provider's key
//! 48 16  GCM tag; additional data: "tidelog data key v1" | stream id (u64) | slot (u32)
//! ```
//!
//! An encrypted record's frame (flag `FRAME_FLAG_ENCRYPTED`): the plaintext
//! `partition key | data` is sealed as one GCM message; the frame's key bytes are the
//! first `key length` bytes of the ciphertext (same length as the key), and its data
//! bytes are:
//!
//! ```text
//! 0   1  envelope version (1)
//! 1   3  reserved (0)
//! 4   4  key slot (u32)
//! 8   n  the rest of the ciphertext (the data's)
//! 8+n 16 GCM tag; additional data: version | slot (u32) | sequence number (u128)
//! ```
//!
//! The GCM key is a subkey of the slot's data key for the record's engine run (epoch)
//! and shard (both in its sequence number): BLAKE3 `derive_key` over the data key,
//! stream id, slot, epoch and shard index. The nonce is the sequence number's counter
//! (64 bits) and four zero bytes. A sequence number is sealed at most once (the core
//! never hands one out twice, even when an append fails), so no (subkey, nonce) pair is
//! ever used twice; moving a frame to another record, shard or stream makes its tag
//! fail.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, Tag, UnboundKey};
use zeroize::Zeroizing;

use super::provider::{MasterKey, random_bytes};
use crate::stream::sequence::SeqParts;

/// Version byte of wrapped keys and record envelopes.
pub const ENVELOPE_VERSION: u8 = 1;
/// Bytes of an envelope before the ciphertext.
pub const ENVELOPE_HEADER_BYTES: usize = 8;
/// Bytes of a GCM tag.
pub const TAG_BYTES: usize = 16;
/// What sealing adds to a record's data, bytes.
pub const ENVELOPE_OVERHEAD_BYTES: usize = ENVELOPE_HEADER_BYTES + TAG_BYTES;
/// Bytes of a wrapped data key.
pub const WRAPPED_KEY_BYTES: usize = 64;

const _: () = assert!(ENVELOPE_OVERHEAD_BYTES <= crate::limits::RECORD_ENVELOPE_BYTES_MAX as usize);
const _: () = assert!(WRAPPED_KEY_BYTES <= crate::stream::catalog::WRAPPED_KEY_BYTES_MAX);

const WRAP_AAD: &[u8] = b"tidelog data key v1";
const SUBKEY_CONTEXT: &str =
    "tidelog 2026-01 AES-256-GCM record subkey for a stream key slot, engine run and shard";

/// Why sealed bytes did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// The bytes do not have the envelope's shape.
    Malformed(&'static str),
    /// The tag does not match: the wrong key, or bytes that were changed or moved.
    Authentication,
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(what) => write!(f, "malformed envelope: {what}"),
            Self::Authentication => {
                write!(f, "authentication failed (wrong key, or changed bytes)")
            }
        }
    }
}

/// A stream's 256-bit data key, wiped from memory when dropped.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

fn wrap_aad(stream_id: u64, slot: u32) -> Vec<u8> {
    let mut aad = WRAP_AAD.to_vec();
    aad.extend_from_slice(&stream_id.to_le_bytes());
    aad.extend_from_slice(&slot.to_le_bytes());
    aad
}

/// An AES-256-GCM key. `ring` keeps the expanded key inside the value and does not
/// wipe it when dropped; the raw key bytes this is made from are wiped (`Zeroizing`).
fn cipher(key: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &key[..]).expect("a 32-byte key is an AES-256 key"),
    )
}

fn nonce_of(bytes: &[u8]) -> Nonce {
    Nonce::try_assume_unique_for_key(bytes).expect("a 12-byte nonce")
}

impl DataKey {
    /// A fresh random data key.
    pub fn generate() -> std::io::Result<Self> {
        let mut key = Zeroizing::new([0u8; 32]);
        random_bytes(&mut key[..])?;
        Ok(Self(key))
    }

    /// The key wrapped with `master` for slot `slot` of stream `stream_id` (see the
    /// module doc for the bytes).
    pub fn wrap(&self, master: &MasterKey, stream_id: u64, slot: u32) -> std::io::Result<Vec<u8>> {
        let mut out = vec![0u8; WRAPPED_KEY_BYTES];
        out[0] = ENVELOPE_VERSION;
        random_bytes(&mut out[4..16])?;
        out[16..48].copy_from_slice(&self.0[..]);
        let nonce = nonce_of(&out[4..16]);
        let tag = cipher(master)
            .seal_in_place_separate_tag(
                nonce,
                Aad::from(wrap_aad(stream_id, slot)),
                &mut out[16..48],
            )
            .map_err(|_| std::io::Error::other("AES-GCM refused to seal a data key"))?;
        out[48..64].copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Unwraps a key [`wrap`](Self::wrap) made; [`OpenError::Authentication`] with any
    /// other master key, stream or slot.
    pub fn unwrap(
        master: &MasterKey,
        wrapped: &[u8],
        stream_id: u64,
        slot: u32,
    ) -> Result<Self, OpenError> {
        if wrapped.len() != WRAPPED_KEY_BYTES {
            return Err(OpenError::Malformed("wrapped key length"));
        }
        if wrapped[0] != ENVELOPE_VERSION || wrapped[1..4] != [0, 0, 0] {
            return Err(OpenError::Malformed("wrapped key version"));
        }
        let nonce = nonce_of(&wrapped[4..16]);
        let tag = Tag::try_from(&wrapped[48..64]).map_err(|_| OpenError::Authentication)?;
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&wrapped[16..48]);
        cipher(master)
            .open_in_place_separate_tag(
                nonce,
                Aad::from(wrap_aad(stream_id, slot)),
                tag,
                &mut key[..],
                0..,
            )
            .map_err(|_| OpenError::Authentication)?;
        Ok(Self(key))
    }
}

/// The encrypted form of a record: the frame's key bytes and data bytes.
#[derive(Debug)]
pub struct Sealed {
    /// The partition key's ciphertext (as long as the key).
    pub key: Vec<u8>,
    /// The envelope: header, the data's ciphertext, tag.
    pub data: Vec<u8>,
}

/// Seals and opens the records of one key slot of one stream. Shared by every core and
/// reader of the stream; subkeys are derived once per (epoch, shard) and cached.
pub struct RecordCipher {
    stream_id: u64,
    slot: u32,
    key: DataKey,
    subkeys: Mutex<HashMap<(u32, u32), Arc<LessSafeKey>>>,
}

impl std::fmt::Debug for RecordCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordCipher")
            .field("stream_id", &self.stream_id)
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}

/// Subkeys cached per cipher before the cache is cleared (each is a few hundred
/// bytes; one per shard and engine run is the normal count).
const SUBKEYS_CACHED_MAX: usize = 4096;

fn record_aad(slot: u32, seq: u128) -> [u8; 21] {
    let mut aad = [0u8; 21];
    aad[0] = ENVELOPE_VERSION;
    aad[1..5].copy_from_slice(&slot.to_le_bytes());
    aad[5..21].copy_from_slice(&seq.to_le_bytes());
    aad
}

fn record_nonce(seq: u128) -> Nonce {
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&SeqParts::unpack(seq).counter.to_le_bytes());
    Nonce::assume_unique_for_key(nonce)
}

/// The key slot an envelope names.
pub fn envelope_slot(envelope: &[u8]) -> Result<u32, OpenError> {
    if envelope.len() < ENVELOPE_OVERHEAD_BYTES {
        return Err(OpenError::Malformed("shorter than an envelope"));
    }
    if envelope[0] != ENVELOPE_VERSION || envelope[1..4] != [0, 0, 0] {
        return Err(OpenError::Malformed("unknown envelope version"));
    }
    Ok(u32::from_le_bytes([
        envelope[4],
        envelope[5],
        envelope[6],
        envelope[7],
    ]))
}

impl RecordCipher {
    /// The cipher of `slot` of stream `stream_id`, with its data key.
    pub fn new(stream_id: u64, slot: u32, key: DataKey) -> Self {
        Self {
            stream_id,
            slot,
            key,
            subkeys: Mutex::new(HashMap::new()),
        }
    }

    /// The key slot.
    pub fn slot(&self) -> u32 {
        self.slot
    }

    fn subkey(&self, seq: u128) -> Arc<LessSafeKey> {
        let parts = SeqParts::unpack(seq);
        let id = (parts.epoch, parts.shard_index);
        let mut cache = self.subkeys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = cache.get(&id) {
            return Arc::clone(found);
        }
        let mut material = Zeroizing::new([0u8; 52]);
        material[..32].copy_from_slice(&self.key.0[..]);
        material[32..40].copy_from_slice(&self.stream_id.to_le_bytes());
        material[40..44].copy_from_slice(&self.slot.to_le_bytes());
        material[44..48].copy_from_slice(&parts.epoch.to_le_bytes());
        material[48..52].copy_from_slice(&parts.shard_index.to_le_bytes());
        let subkey = Zeroizing::new(blake3::derive_key(SUBKEY_CONTEXT, &material[..]));
        let cipher = Arc::new(cipher(&subkey));
        if cache.len() >= SUBKEYS_CACHED_MAX {
            cache.clear();
        }
        cache.insert(id, Arc::clone(&cipher));
        cipher
    }

    /// Seals the record `seq` (partition key and data).
    pub fn seal(&self, seq: u128, key: &[u8], data: &[u8]) -> std::io::Result<Sealed> {
        let mut message = Vec::with_capacity(key.len() + data.len());
        message.extend_from_slice(key);
        message.extend_from_slice(data);
        let tag = self
            .subkey(seq)
            .seal_in_place_separate_tag(
                record_nonce(seq),
                Aad::from(record_aad(self.slot, seq)),
                &mut message,
            )
            .map_err(|_| std::io::Error::other("AES-GCM refused to seal a record"))?;
        let mut envelope = Vec::with_capacity(ENVELOPE_OVERHEAD_BYTES + data.len());
        envelope.push(ENVELOPE_VERSION);
        envelope.extend_from_slice(&[0, 0, 0]);
        envelope.extend_from_slice(&self.slot.to_le_bytes());
        envelope.extend_from_slice(&message[key.len()..]);
        envelope.extend_from_slice(tag.as_ref());
        message.truncate(key.len());
        Ok(Sealed {
            key: message,
            data: envelope,
        })
    }

    /// Opens the record `seq` sealed by [`seal`](Self::seal): (partition key, data).
    pub fn open(
        &self,
        seq: u128,
        sealed_key: &[u8],
        envelope: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), OpenError> {
        if envelope_slot(envelope)? != self.slot {
            return Err(OpenError::Malformed("the envelope names another key slot"));
        }
        let body = &envelope[ENVELOPE_HEADER_BYTES..envelope.len() - TAG_BYTES];
        let tag = Tag::try_from(&envelope[envelope.len() - TAG_BYTES..])
            .map_err(|_| OpenError::Malformed("tag length"))?;
        let mut message = Vec::with_capacity(sealed_key.len() + body.len());
        message.extend_from_slice(sealed_key);
        message.extend_from_slice(body);
        self.subkey(seq)
            .open_in_place_separate_tag(
                record_nonce(seq),
                Aad::from(record_aad(self.slot, seq)),
                tag,
                &mut message,
                0..,
            )
            .map_err(|_| OpenError::Authentication)?;
        let data = message.split_off(sealed_key.len());
        Ok((message, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(epoch: u32, shard: u32, counter: u64) -> u128 {
        SeqParts {
            epoch,
            shard_index: shard,
            counter,
        }
        .pack()
    }

    #[test]
    fn data_keys_wrap_and_unwrap_only_with_their_master_and_place() {
        let master = Zeroizing::new([7u8; 32]);
        let other = Zeroizing::new([8u8; 32]);
        let key = DataKey::generate().unwrap();
        let wrapped = key.wrap(&master, 5, 2).unwrap();
        assert_eq!(wrapped.len(), WRAPPED_KEY_BYTES);
        assert!(
            !wrapped.windows(32).any(|w| w == &key.0[..]),
            "no plain key"
        );
        let back = DataKey::unwrap(&master, &wrapped, 5, 2).unwrap();
        assert_eq!(*back.0, *key.0);
        for (m, s, sl) in [(&other, 5, 2), (&master, 6, 2), (&master, 5, 3)] {
            assert_eq!(
                DataKey::unwrap(m, &wrapped, s, sl).unwrap_err(),
                OpenError::Authentication
            );
        }
        assert!(matches!(
            DataKey::unwrap(&master, &wrapped[..63], 5, 2),
            Err(OpenError::Malformed(_))
        ));
    }

    #[test]
    fn records_seal_and_open_and_nothing_else_opens() {
        let cipher = RecordCipher::new(9, 1, DataKey::generate().unwrap());
        let s = seq(3, 4, 77);
        let sealed = cipher.seal(s, b"user-42", b"secret payload").unwrap();
        assert_eq!(sealed.key.len(), 7);
        assert_eq!(sealed.data.len(), 14 + ENVELOPE_OVERHEAD_BYTES);
        assert_eq!(envelope_slot(&sealed.data), Ok(1));
        assert!(!sealed.data.windows(6).any(|w| w == b"secret"));
        assert_ne!(&sealed.key[..], b"user-42");
        let (key, data) = cipher.open(s, &sealed.key, &sealed.data).unwrap();
        assert_eq!(
            (&key[..], &data[..]),
            (&b"user-42"[..], &b"secret payload"[..])
        );
        // Another sequence number, shard or epoch: the tag fails.
        for other in [seq(3, 4, 78), seq(3, 5, 77), seq(4, 4, 77)] {
            assert_eq!(
                cipher.open(other, &sealed.key, &sealed.data).unwrap_err(),
                OpenError::Authentication
            );
        }
        // Any flipped bit fails.
        for i in 0..sealed.data.len() {
            let mut bad = sealed.data.clone();
            bad[i] ^= 0x10;
            assert!(cipher.open(s, &sealed.key, &bad).is_err(), "byte {i}");
        }
        let mut bad_key = sealed.key.clone();
        bad_key[0] ^= 1;
        assert!(cipher.open(s, &bad_key, &sealed.data).is_err());
        // Another data key: fails.
        let other = RecordCipher::new(9, 1, DataKey::generate().unwrap());
        assert_eq!(
            other.open(s, &sealed.key, &sealed.data).unwrap_err(),
            OpenError::Authentication
        );
        // Empty data seals too.
        let empty = cipher.seal(s + 1, b"k", b"").unwrap();
        assert_eq!(cipher.open(s + 1, &empty.key, &empty.data).unwrap().1, b"");
        assert!(matches!(
            envelope_slot(&[1, 0, 0]),
            Err(OpenError::Malformed(_))
        ));
    }
}
