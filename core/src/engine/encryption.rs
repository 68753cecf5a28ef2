//! Encryption at rest: StartStreamEncryption, StopStreamEncryption, and the stream's
//! key ring (see `crypto/` for the scheme).
//!
//! Invariants:
//! - Starting encryption (or changing its key) makes a new key slot: a fresh data key,
//!   wrapped with the provider's key, written to the catalog before any record uses
//!   it. Records keep the slot they were sealed with, so records of every key since
//!   the stream began stay readable as long as the provider has their keys.
//! - Records put after StartStreamEncryption returns are sealed on their core and
//!   never reach the log as plaintext; records put after StopStreamEncryption returns
//!   are stored plain. Reads open sealed records with their slot's key (unwrapped on
//!   first use, then cached for the engine run) and hand out the plaintext.
//! - A key the provider does not have, refuses, or that does not open the slot's data
//!   key is a KMS-named error (KMSNotFoundException, KMSAccessDeniedException...); a
//!   record that fails its tag under the right key is corruption.
#![forbid(unsafe_code)]

use std::sync::Arc;

use super::{Engine, StreamRuntime, lock};
use crate::crypto::envelope::{OpenError, envelope_slot};
use crate::crypto::{DataKey, KmsError, KmsFailure, RecordCipher};
use crate::error::{Error, InvalidArgument, Result, Validation};
use crate::log::ReadBatch;
use crate::log::format::FRAME_FLAG_ENCRYPTED;
use crate::stream::catalog::{
    ENCRYPTION_CHANGES_KEPT, KEY_ID_CHARS_MAX, KEY_SLOTS_MAX, KeySlot, StreamRecord, StreamStatus,
};

/// How a stream's records are stored (Kinesis EncryptionType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EncryptionType {
    /// Plain.
    #[default]
    None,
    /// Encrypted with a key from the key provider.
    Kms,
}

impl EncryptionType {
    /// The Kinesis name.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Kms => "KMS",
        }
    }

    /// Parses the Kinesis name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "NONE" => Some(Self::None),
            "KMS" => Some(Self::Kms),
            _ => None,
        }
    }

    pub(crate) fn of(record: &StreamRecord) -> Self {
        if record.settings.encryption_slot.is_some() {
            Self::Kms
        } else {
            Self::None
        }
    }
}

const DAY_MS: u64 = 86_400_000;

fn check_key_id(key_id: &str) -> Result<()> {
    let chars = key_id.chars().count();
    if chars == 0 || chars > KEY_ID_CHARS_MAX {
        return Err(Validation::KeyId { chars }.into());
    }
    Ok(())
}

fn check_type(encryption_type: &str) -> Result<()> {
    match EncryptionType::from_name(encryption_type) {
        Some(EncryptionType::Kms) => Ok(()),
        Some(EncryptionType::None) => Err(InvalidArgument::Encryption {
            rule: "EncryptionType NONE cannot start or stop encryption; use KMS".to_string(),
        }
        .into()),
        None => Err(Validation::Argument(format!(
            "EncryptionType {encryption_type:?} is not NONE or KMS"
        ))
        .into()),
    }
}

/// Keeps the times of the last 24 hours and checks that one more fits `max` of them.
fn rate_limited(times: &mut Vec<u64>, now_ms: u64, what: &'static str) -> Result<()> {
    times.retain(|&t| t + DAY_MS > now_ms);
    if times.len() >= ENCRYPTION_CHANGES_KEPT {
        return Err(Error::LimitExceeded {
            what,
            requested: times.len() as u64 + 1,
            limit: ENCRYPTION_CHANGES_KEPT as u64,
        });
    }
    times.push(now_ms);
    Ok(())
}

impl Engine {
    /// StartStreamEncryption: from now on, records put to `stream` are encrypted with a
    /// new data key wrapped by the provider's key `key_id` (`encryption_type` must be
    /// `KMS`). On an encrypted stream with another key, this changes the key (older
    /// records keep theirs); with the same key, nothing changes. Kinesis's limit of 25
    /// starts in a rolling 24 hours applies.
    pub fn start_stream_encryption(
        &self,
        stream: &str,
        encryption_type: &str,
        key_id: &str,
    ) -> Result<()> {
        self.check_open()?;
        crate::stream::names::validate_stream_name(stream).map_err(Validation::StreamName)?;
        check_type(encryption_type)?;
        check_key_id(key_id)?;
        let runtime = self.stream(stream)?;
        self.fail_if_busy(stream)?;
        let current = self.with_record(stream, |r| {
            r.settings
                .encryption_slot
                .and_then(|slot| r.settings.key_slot(slot))
                .map(|k| k.key_id.clone())
        })?;
        if current.as_deref() == Some(key_id) {
            return Ok(());
        }
        // The provider first (a KMS error changes nothing), then a data key for it.
        let master = self.inner.key_provider.key(key_id).map_err(Error::Kms)?;
        let data_key = DataKey::generate()
            .map_err(|e| Error::io("generate a data key", &self.inner.config.data_dir, e))?;
        let now_ms = self.inner.config.clock.now_ms();
        let record = self.update_stream_record(stream, |r| {
            if r.status != StreamStatus::Active {
                return Err(Error::StreamBusy {
                    stream: r.name.clone(),
                    status: r.status,
                    reason: "another change to the stream is running",
                });
            }
            if r.settings.key_slots.len() >= KEY_SLOTS_MAX {
                return Err(Error::LimitExceeded {
                    what: "encryption keys used by a stream",
                    requested: r.settings.key_slots.len() as u64 + 1,
                    limit: KEY_SLOTS_MAX as u64,
                });
            }
            rate_limited(
                &mut r.settings.encryption_starts_ms,
                now_ms,
                "encryption starts in 24 hours",
            )?;
            let slot = r.settings.key_slots.last().map_or(1, |k| k.slot + 1);
            let wrapped = data_key
                .wrap(&master, r.id, slot)
                .map_err(|e| Error::io("wrap a data key", &self.inner.config.data_dir, e))?;
            r.settings.key_slots.push(KeySlot {
                slot,
                key_id: key_id.to_string(),
                wrapped_key: wrapped,
                created_ms: now_ms,
            });
            r.settings.encryption_slot = Some(slot);
            Ok(())
        })?;
        let slot = record
            .settings
            .encryption_slot
            .ok_or(Error::Internal("encryption slot vanished"))?;
        let cipher = Arc::new(RecordCipher::new(record.id, slot, data_key));
        lock(&runtime.ciphers).insert(slot, Arc::clone(&cipher));
        self.refresh_live(&runtime);
        Ok(())
    }

    /// StopStreamEncryption: records put from now on are stored plain; records already
    /// encrypted stay so (and readable with their keys). `key_id` must be the stream's
    /// current key. Kinesis's limit of 25 stops in a rolling 24 hours applies.
    pub fn stop_stream_encryption(
        &self,
        stream: &str,
        encryption_type: &str,
        key_id: &str,
    ) -> Result<()> {
        self.check_open()?;
        crate::stream::names::validate_stream_name(stream).map_err(Validation::StreamName)?;
        check_type(encryption_type)?;
        check_key_id(key_id)?;
        let runtime = self.stream(stream)?;
        self.fail_if_busy(stream)?;
        let now_ms = self.inner.config.clock.now_ms();
        self.update_stream_record(stream, |r| {
            if r.status != StreamStatus::Active {
                return Err(Error::StreamBusy {
                    stream: r.name.clone(),
                    status: r.status,
                    reason: "another change to the stream is running",
                });
            }
            let Some(slot) = r.settings.encryption_slot else {
                return Err(InvalidArgument::Encryption {
                    rule: format!("stream {:?} is not encrypted", r.name),
                }
                .into());
            };
            let current = r.settings.key_slot(slot).map(|k| k.key_id.as_str());
            if current != Some(key_id) {
                return Err(InvalidArgument::Encryption {
                    rule: format!(
                        "KeyId {key_id:?} is not the key stream {:?} is encrypted with",
                        r.name
                    ),
                }
                .into());
            }
            rate_limited(
                &mut r.settings.encryption_stops_ms,
                now_ms,
                "encryption stops in 24 hours",
            )?;
            r.settings.encryption_slot = None;
            Ok(())
        })?;
        self.refresh_live(&runtime);
        Ok(())
    }

    /// Rebuilds a stream's hot-path settings from the catalog (after a change), keeping
    /// the current slot's cipher if it is already unwrapped, and tells its shards the
    /// largest record.
    pub(crate) fn refresh_live(&self, runtime: &StreamRuntime) {
        let record = {
            let data = lock(&self.inner.catalog);
            data.streams.iter().find(|s| s.id == runtime.id).cloned()
        };
        let Some(record) = record else { return };
        let sealer = record
            .settings
            .encryption_slot
            .and_then(|slot| lock(&runtime.ciphers).get(&slot).cloned());
        let live = self.live_settings(&record, sealer);
        for shard in runtime.shards.load().values() {
            shard.set_write_burst_bytes(live.record_bytes_max as u64);
        }
        runtime.live.store(Arc::new(live));
    }

    /// The cipher new records of `runtime` are sealed with (`None`: encryption is
    /// off), unwrapping the current slot's key on first use.
    pub(crate) fn sealer_for(&self, runtime: &StreamRuntime) -> Result<Option<Arc<RecordCipher>>> {
        let live = runtime.live.load();
        match (live.encryption_slot, &live.sealer) {
            (None, _) => Ok(None),
            (Some(_), Some(sealer)) => Ok(Some(Arc::clone(sealer))),
            (Some(slot), None) => {
                let cipher = self.cipher_for(runtime, slot)?;
                self.refresh_live(runtime);
                Ok(Some(cipher))
            }
        }
    }

    /// The cipher of key slot `slot` of `runtime`: cached, or unwrapped now with the
    /// provider's key.
    pub(crate) fn cipher_for(
        &self,
        runtime: &StreamRuntime,
        slot: u32,
    ) -> Result<Arc<RecordCipher>> {
        if let Some(found) = lock(&runtime.ciphers).get(&slot) {
            return Ok(Arc::clone(found));
        }
        let key_slot = {
            let data = lock(&self.inner.catalog);
            data.streams
                .iter()
                .find(|s| s.id == runtime.id)
                .and_then(|s| s.settings.key_slot(slot))
                .cloned()
        };
        let Some(key_slot) = key_slot else {
            return Err(Error::Decryption {
                stream: runtime.name.to_string(),
                shard_id: String::new(),
                seq: 0,
                reason: format!("the stream has no key slot {slot}"),
            });
        };
        // The provider is called without any engine lock held.
        let master = self
            .inner
            .key_provider
            .key(&key_slot.key_id)
            .map_err(Error::Kms)?;
        let data_key = DataKey::unwrap(&master, &key_slot.wrapped_key, runtime.id, slot).map_err(
            |e| match e {
                OpenError::Authentication => Error::Kms(KmsError::new(
                    KmsFailure::AccessDenied,
                    format!(
                        "the key provider's key {:?} does not open the data key of stream {:?} \
                         (key slot {slot}): it is not the key that encrypted it",
                        key_slot.key_id, runtime.name
                    ),
                )),
                OpenError::Malformed(what) => Error::Decryption {
                    stream: runtime.name.to_string(),
                    shard_id: String::new(),
                    seq: 0,
                    reason: format!("key slot {slot}: {what}"),
                },
            },
        )?;
        let cipher = Arc::new(RecordCipher::new(runtime.id, slot, data_key));
        Ok(Arc::clone(
            lock(&runtime.ciphers).entry(slot).or_insert(cipher),
        ))
    }

    /// Replaces the bytes of every encrypted record of `batch` with its plaintext.
    /// Batches without encrypted records are left untouched (zero-copy).
    pub(crate) fn decrypt_batch(
        &self,
        runtime: &StreamRuntime,
        shard_id: &str,
        batch: &mut ReadBatch,
    ) -> Result<()> {
        if batch.flagged_count() == 0 {
            return Ok(());
        }
        let failed = |seq: u128, reason: String| Error::Decryption {
            stream: runtime.name.to_string(),
            shard_id: shard_id.to_string(),
            seq,
            reason,
        };
        for i in 0..batch.len() {
            let opened = {
                let Some((flags, key, envelope)) = batch.stored(i) else {
                    break;
                };
                if flags & FRAME_FLAG_ENCRYPTED == 0 {
                    continue;
                }
                let seq = batch.get(i).map_or(0, |r| r.seq);
                let slot = envelope_slot(envelope).map_err(|e| failed(seq, e.to_string()))?;
                let cipher = self.cipher_for(runtime, slot)?;
                cipher
                    .open(seq, key, envelope)
                    .map_err(|e| failed(seq, e.to_string()))?
            };
            batch.set_plaintext(i, opened.0, opened.1);
        }
        Ok(())
    }
}
