//! Key providers: where the keys that wrap data keys come from.
//!
//! [`KeyProvider`] is the embedder's seam (a Rust trait; the C ABI adapts a callback
//! and Python a callable to it). A provider answers a KMS key id (`alias/...`, a key
//! id, a key or alias ARN: any text of 1 to 2,048 characters) with a 256-bit key, or
//! with a [`KmsError`] named as AWS KMS names its failures, which the engine passes to
//! the caller unchanged (KMSNotFoundException, KMSAccessDeniedException...).
//!
//! [`FileKeyProvider`] is the built-in one: a directory of key files, one per key id,
//! created with mode 0600. The AWS-managed key `alias/aws/kinesis` is created on first
//! use, as AWS creates it; other ids must be created first ([`FileKeyProvider::create_key`])
//! or are not found. Keys can be disabled and enabled again (KMSDisabledException in
//! between). Key file (64 bytes, little-endian):
//!
//! ```text
//! 0   8  magic "TIDEKEY\0"
//! 8   2  version (1)
//! 10  1  state (1 = enabled, 2 = disabled)
//! 11  5  reserved (0)
//! 16 32  the key
//! 48 12  reserved (0)
//! 60  4  CRC32 of bytes 0..60
//! ```
//!
//! File names are the key id in lowercase hex plus `.key`, so any id is a safe name.
//! Files are replaced atomically (temp, fsync, rename, fsync of the directory).
#![forbid(unsafe_code)]

use std::fmt::Debug;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use zeroize::Zeroizing;

/// The key id of the AWS-managed key for Kinesis.
pub const AWS_MANAGED_KEY_ALIAS: &str = "alias/aws/kinesis";

/// A 256-bit key, wiped from memory when dropped.
pub type MasterKey = Zeroizing<[u8; 32]>;

/// How a key provider failed, with AWS KMS's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KmsFailure {
    /// The key is disabled.
    Disabled,
    /// The key is not in a state that allows its use (e.g. pending deletion).
    InvalidState,
    /// The caller may not use the key, or the key given does not open the data (a
    /// wrong key).
    AccessDenied,
    /// No key of this id.
    NotFound,
    /// The key service needs a subscription first.
    OptInRequired,
    /// The key service refused for now; retry later.
    Throttling,
}

impl KmsFailure {
    /// The Kinesis exception name.
    pub fn kinesis_name(self) -> &'static str {
        match self {
            Self::Disabled => "KMSDisabledException",
            Self::InvalidState => "KMSInvalidStateException",
            Self::AccessDenied => "KMSAccessDeniedException",
            Self::NotFound => "KMSNotFoundException",
            Self::OptInRequired => "KMSOptInRequired",
            Self::Throttling => "KMSThrottlingException",
        }
    }
}

/// A key provider's refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsError {
    /// Which failure.
    pub failure: KmsFailure,
    /// What happened, for the caller.
    pub message: String,
}

impl KmsError {
    /// A failure with a message.
    pub fn new(failure: KmsFailure, message: impl Into<String>) -> Self {
        Self {
            failure,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for KmsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.failure.kinesis_name(), self.message)
    }
}

/// Where keys come from. Called on the thread of the engine call that needs a key (a
/// put, a read, StartStreamEncryption), at most once per key slot per engine run
/// after a success; it may block (a remote key service) but should be quick.
pub trait KeyProvider: Send + Sync + Debug + 'static {
    /// The 256-bit key of `key_id`, or why not.
    fn key(&self, key_id: &str) -> Result<MasterKey, KmsError>;
}

const KEY_FILE_MAGIC: [u8; 8] = *b"TIDEKEY\0";
const KEY_FILE_VERSION: u16 = 1;
const KEY_FILE_BYTES: usize = 64;
const STATE_ENABLED: u8 = 1;
const STATE_DISABLED: u8 = 2;

/// The built-in key provider: key files in a directory (see the module doc).
#[derive(Debug)]
pub struct FileKeyProvider {
    dir: PathBuf,
    /// Serializes creations, so two first uses of the managed key make one key.
    create: Mutex<()>,
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn io_error(key_id: &str, what: &str, e: std::io::Error) -> KmsError {
    KmsError::new(
        KmsFailure::InvalidState,
        format!("key {key_id:?}: {what}: {e}"),
    )
}

fn encode(key: &[u8; 32], enabled: bool) -> Zeroizing<[u8; KEY_FILE_BYTES]> {
    let mut file = Zeroizing::new([0u8; KEY_FILE_BYTES]);
    file[0..8].copy_from_slice(&KEY_FILE_MAGIC);
    file[8..10].copy_from_slice(&KEY_FILE_VERSION.to_le_bytes());
    file[10] = if enabled {
        STATE_ENABLED
    } else {
        STATE_DISABLED
    };
    file[16..48].copy_from_slice(key);
    let crc = crc32fast::hash(&file[..60]);
    file[60..64].copy_from_slice(&crc.to_le_bytes());
    file
}

/// (key, enabled) from a key file's bytes, or what is wrong with them.
fn decode(bytes: &[u8]) -> Result<(MasterKey, bool), &'static str> {
    if bytes.len() != KEY_FILE_BYTES || bytes[0..8] != KEY_FILE_MAGIC {
        return Err("not a tidelog key file");
    }
    let stored = u32::from_le_bytes([bytes[60], bytes[61], bytes[62], bytes[63]]);
    if crc32fast::hash(&bytes[..60]) != stored {
        return Err("key file checksum mismatch");
    }
    if u16::from_le_bytes([bytes[8], bytes[9]]) != KEY_FILE_VERSION {
        return Err("unknown key file version");
    }
    let enabled = match bytes[10] {
        STATE_ENABLED => true,
        STATE_DISABLED => false,
        _ => return Err("unknown key state"),
    };
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&bytes[16..48]);
    Ok((key, enabled))
}

pub(crate) fn random_bytes(out: &mut [u8]) -> std::io::Result<()> {
    let mut filled = 0;
    while filled < out.len() {
        filled +=
            rustix::rand::getrandom(&mut out[filled..], rustix::rand::GetRandomFlags::empty())
                .map_err(std::io::Error::from)?;
    }
    Ok(())
}

impl FileKeyProvider {
    /// A provider keeping its key files in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            create: Mutex::new(()),
        }
    }

    /// The directory of the key files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key_id: &str) -> PathBuf {
        self.dir.join(format!("{}.key", hex(key_id)))
    }

    fn check_id(key_id: &str) -> Result<(), KmsError> {
        let chars = key_id.chars().count();
        if chars == 0 || chars > crate::stream::catalog::KEY_ID_CHARS_MAX {
            return Err(KmsError::new(
                KmsFailure::NotFound,
                format!("key id of {chars} characters (1 to 2048)"),
            ));
        }
        Ok(())
    }

    fn write(&self, key_id: &str, file: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path(key_id);
        let temp = path.with_extension("key.tmp");
        {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&temp)?;
            f.write_all(file)?;
            f.sync_all()?;
        }
        std::fs::rename(&temp, &path)?;
        std::fs::File::open(&self.dir)?.sync_all()
    }

    fn read(&self, key_id: &str) -> Result<Option<(MasterKey, bool)>, KmsError> {
        match std::fs::read(self.path(key_id)) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                decode(&bytes).map(Some).map_err(|why| {
                    KmsError::new(KmsFailure::InvalidState, format!("key {key_id:?}: {why}"))
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(key_id, "read", e)),
        }
    }

    /// Creates a new random key named `key_id` (an error if one exists).
    pub fn create_key(&self, key_id: &str) -> Result<(), KmsError> {
        Self::check_id(key_id)?;
        let _guard = self.create.lock().unwrap_or_else(|p| p.into_inner());
        if self.read(key_id)?.is_some() {
            return Err(KmsError::new(
                KmsFailure::InvalidState,
                format!("key {key_id:?} exists already"),
            ));
        }
        let mut key = Zeroizing::new([0u8; 32]);
        random_bytes(&mut key[..]).map_err(|e| io_error(key_id, "generate", e))?;
        self.write(key_id, &encode(&key, true)[..])
            .map_err(|e| io_error(key_id, "write", e))
    }

    /// Disables (`false`) or enables again (`true`) the key `key_id`.
    pub fn set_enabled(&self, key_id: &str, enabled: bool) -> Result<(), KmsError> {
        Self::check_id(key_id)?;
        let _guard = self.create.lock().unwrap_or_else(|p| p.into_inner());
        let Some((key, _)) = self.read(key_id)? else {
            return Err(not_found(key_id));
        };
        self.write(key_id, &encode(&key, enabled)[..])
            .map_err(|e| io_error(key_id, "write", e))
    }

    /// Deletes the key `key_id` for good: what it wrapped cannot be read again.
    pub fn delete_key(&self, key_id: &str) -> Result<(), KmsError> {
        Self::check_id(key_id)?;
        match std::fs::remove_file(self.path(key_id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(not_found(key_id)),
            Err(e) => Err(io_error(key_id, "delete", e)),
        }
    }
}

fn not_found(key_id: &str) -> KmsError {
    KmsError::new(
        KmsFailure::NotFound,
        format!("KMS key {key_id:?} does not exist in the key provider"),
    )
}

impl KeyProvider for FileKeyProvider {
    fn key(&self, key_id: &str) -> Result<MasterKey, KmsError> {
        Self::check_id(key_id)?;
        let found = match self.read(key_id)? {
            Some(found) => Some(found),
            None if key_id == AWS_MANAGED_KEY_ALIAS => {
                // The AWS-managed key exists from its first use on.
                match self.create_key(key_id) {
                    Ok(()) => {}
                    Err(e)
                        if e.failure == KmsFailure::InvalidState
                            && e.message.contains("exists") => {}
                    Err(e) => return Err(e),
                }
                self.read(key_id)?
            }
            None => None,
        };
        match found {
            Some((key, true)) => Ok(key),
            Some((_, false)) => Err(KmsError::new(
                KmsFailure::Disabled,
                format!("KMS key {key_id:?} is disabled"),
            )),
            None => Err(not_found(key_id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_key_appears_others_must_be_created() {
        let tmp = tempfile::tempdir().unwrap();
        let provider = FileKeyProvider::new(tmp.path().join("keys"));
        let a = provider.key(AWS_MANAGED_KEY_ALIAS).unwrap();
        let b = provider.key(AWS_MANAGED_KEY_ALIAS).unwrap();
        assert_eq!(*a, *b, "the managed key is made once");
        let err = provider.key("alias/mine").unwrap_err();
        assert_eq!(err.failure, KmsFailure::NotFound);
        provider.create_key("alias/mine").unwrap();
        let mine = provider.key("alias/mine").unwrap();
        assert_ne!(*mine, *a);
        assert_eq!(
            provider.create_key("alias/mine").unwrap_err().failure,
            KmsFailure::InvalidState
        );
        provider.set_enabled("alias/mine", false).unwrap();
        assert_eq!(
            provider.key("alias/mine").unwrap_err().failure,
            KmsFailure::Disabled
        );
        provider.set_enabled("alias/mine", true).unwrap();
        assert_eq!(*provider.key("alias/mine").unwrap(), *mine);
        provider.delete_key("alias/mine").unwrap();
        assert_eq!(
            provider.key("alias/mine").unwrap_err().failure,
            KmsFailure::NotFound
        );
        // Files are private and named by hex, whatever the id.
        provider.create_key("../../etc/passwd").unwrap();
        for entry in std::fs::read_dir(provider.dir()).unwrap() {
            let entry = entry.unwrap();
            let mode =
                std::os::unix::fs::PermissionsExt::mode(&entry.metadata().unwrap().permissions());
            assert_eq!(mode & 0o077, 0, "{:?}", entry.path());
            assert!(
                entry
                    .file_name()
                    .to_str()
                    .unwrap()
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit()
                        || b == b'.'
                        || b == b'k'
                        || b == b'e'
                        || b == b'y')
            );
        }
        assert_eq!(provider.key("").unwrap_err().failure, KmsFailure::NotFound);
    }

    #[test]
    fn damaged_key_files_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let provider = FileKeyProvider::new(tmp.path());
        provider.create_key("k").unwrap();
        let path = provider.path("k");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[20] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = provider.key("k").unwrap_err();
        assert_eq!(err.failure, KmsFailure::InvalidState);
        assert!(err.message.contains("checksum"), "{err}");
    }
}
