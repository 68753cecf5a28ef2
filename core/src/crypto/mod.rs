//! Encryption at rest: where keys come from ([`provider`]) and how records and data
//! keys are sealed ([`envelope`]).
//!
//! The scheme is KMS's envelope encryption, done locally:
//! - A **key provider** (the embedder's [`KeyProvider`], or the built-in
//!   [`FileKeyProvider`]) holds key-encryption keys by KMS key id and never hands
//!   them to anything but this module.
//! - Each time encryption starts on a stream (StartStreamEncryption, including a
//!   change of key), the engine makes a random 256-bit **data key**, wraps it with the
//!   provider's key (AES-256-GCM) and keeps the wrapped form in a numbered **key
//!   slot** of the catalog. The plain data key lives only in memory.
//! - Each record written while a slot is current is sealed with AES-256-GCM under a
//!   subkey of that data key (one per engine run and shard), with a nonce made from
//!   the record's sequence number: unique for every record sealed under a subkey, so a
//!   nonce is never reused. The partition key is encrypted with the data; the frame
//!   keeps only ciphertext and the slot number ([`envelope`] draws the bytes).
//!
//! Invariants: no plaintext of an encrypted record and no plain data key is written to
//! disk; a record opens only with the slot, stream, shard and sequence number it was
//! sealed for (a moved or edited frame fails its tag); raw key bytes (provider keys,
//! data keys, subkeys) are wiped from memory when dropped (the AES key schedules `ring`
//! expands from them are not: `ring` does not wipe on drop). This module has no I/O of its own except the file-backed provider.
#![forbid(unsafe_code)]

pub mod envelope;
pub mod provider;

pub use envelope::{DataKey, RecordCipher};
pub use provider::{
    AWS_MANAGED_KEY_ALIAS, FileKeyProvider, KeyProvider, KmsError, KmsFailure, MasterKey,
};
