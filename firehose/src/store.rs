//! Where objects land: a directory on the local file system (the embedded default) or
//! any S3-compatible store through the `object_store` crate.
//!
//! Keys: a key that is a valid object path (no empty, `.` or `..` segment, no control
//! character) is used as it is; any other key is normalized the way `object_store`
//! does it (empty segments dropped, `.`/`..` and unsafe characters percent-encoded), the
//! same way for both stores, so a key can never climb out of its bucket directory.
//!
//! Invariants:
//! - A reader never sees half an object. Directory: the bytes go to a temporary file
//!   (`.tidelog-tmp-<hash>`) beside the target, which is synced and renamed over it,
//!   then the directory is synced (the syncs only in `durable` mode). S3: a single PUT,
//!   or a multipart upload that becomes visible only when completed (aborted on error).
//! - Writing the same key again replaces the object: redelivery is idempotent.
//! - S3 calls run on Firehose's own tokio runtime, never on an engine core, and make
//!   one attempt each: retries and their backoff belong to the delivery worker, on the
//!   engine's clock.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use object_store::ObjectStoreExt as _;

use crate::config::{BucketStore, S3Connection};

/// The object path of a key (see the module doc).
pub fn object_path(key: &str) -> object_store::path::Path {
    object_store::path::Path::parse(key).unwrap_or_else(|_| object_store::path::Path::from(key))
}

/// Stores objects into buckets.
pub struct Stores {
    default: BucketStore,
    buckets: std::collections::BTreeMap<String, BucketStore>,
    runtime: tokio::runtime::Handle,
    s3: Mutex<HashMap<String, Arc<object_store::aws::AmazonS3>>>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("default", &self.default)
            .field("buckets", &self.buckets)
            .finish_non_exhaustive()
    }
}

impl Stores {
    /// Stores for the configured buckets.
    pub fn new(
        default: BucketStore,
        buckets: std::collections::BTreeMap<String, BucketStore>,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Self {
            default,
            buckets,
            runtime,
            s3: Mutex::new(HashMap::new()),
        }
    }

    /// The store of `bucket`.
    pub fn store_of(&self, bucket: &str) -> &BucketStore {
        self.buckets.get(bucket).unwrap_or(&self.default)
    }

    /// Writes `body` as `key` in `bucket`. `durable`: sync before reporting success
    /// (directories; S3 is durable when it answers).
    pub fn put(&self, bucket: &str, key: &str, body: Bytes, durable: bool) -> Result<(), String> {
        self.put_parts(bucket, key, vec![body], durable)
    }

    /// Writes the concatenation of `parts` as `key` in `bucket`, without assembling
    /// it first (a directory gets them with `writev`; S3 as one payload of many parts).
    pub fn put_parts(
        &self,
        bucket: &str,
        key: &str,
        parts: Vec<Bytes>,
        durable: bool,
    ) -> Result<(), String> {
        match self.store_of(bucket) {
            BucketStore::Directory { root } => put_file(&root.join(bucket), key, &parts, durable),
            BucketStore::S3(conn) => {
                let total: usize = parts.iter().map(Bytes::len).sum();
                let store = self.s3_store(bucket, conn)?;
                let path = object_path(key);
                let threshold = conn.multipart_threshold_bytes;
                let part = conn.multipart_part_bytes;
                self.runtime.block_on(async move {
                    if total <= threshold {
                        store
                            .put(
                                &path,
                                parts.into_iter().collect::<object_store::PutPayload>(),
                            )
                            .await
                            .map(|_| ())
                            .map_err(|e| format!("S3 PUT {path}: {e}"))
                    } else {
                        let upload = store
                            .put_multipart(&path)
                            .await
                            .map_err(|e| format!("S3 multipart start {path}: {e}"))?;
                        let mut writer =
                            object_store::WriteMultipart::new_with_chunk_size(upload, part);
                        for p in parts {
                            writer.put(p);
                        }
                        match writer.finish().await {
                            Ok(_) => Ok(()),
                            Err(e) => Err(format!("S3 multipart upload {path}: {e}")),
                        }
                    }
                })
            }
        }
    }

    fn s3_store(
        &self,
        bucket: &str,
        conn: &S3Connection,
    ) -> Result<Arc<object_store::aws::AmazonS3>, String> {
        let mut cache = self.s3.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = cache.get(bucket) {
            return Ok(Arc::clone(s));
        }
        let mut builder = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&conn.region)
            .with_allow_http(conn.allow_http)
            .with_virtual_hosted_style_request(conn.virtual_hosted_style)
            .with_retry(object_store::RetryConfig {
                backoff: object_store::BackoffConfig::default(),
                max_retries: 0,
                retry_timeout: Duration::from_secs(60),
            })
            .with_client_options(
                object_store::ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(300))
                    .with_allow_http(conn.allow_http),
            );
        if let Some(e) = &conn.endpoint {
            builder = builder.with_endpoint(e);
        }
        if let Some(k) = &conn.access_key_id {
            builder = builder.with_access_key_id(k);
        }
        if let Some(s) = &conn.secret_access_key {
            builder = builder.with_secret_access_key(s);
        }
        if let Some(t) = &conn.session_token {
            builder = builder.with_token(t);
        }
        let store = Arc::new(
            builder
                .build()
                .map_err(|e| format!("S3 store for bucket {bucket}: {e}"))?,
        );
        cache.insert(bucket.to_string(), Arc::clone(&store));
        Ok(store)
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Creates `dir` and its missing parents; in `durable` mode each new entry is synced
/// into its parent.
fn create_dirs(dir: &Path, durable: bool) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut current = Some(dir);
    while let Some(d) = current {
        if d.is_dir() {
            break;
        }
        missing.push(d.to_path_buf());
        current = d.parent();
    }
    std::fs::create_dir_all(dir)?;
    if durable {
        for created in missing.iter().rev() {
            if let Some(parent) = created.parent() {
                sync_dir(parent)?;
            }
        }
    }
    Ok(())
}

/// The file of `key` under `bucket_dir`.
pub fn file_of(bucket_dir: &Path, key: &str) -> PathBuf {
    let mut path = bucket_dir.to_path_buf();
    for part in object_path(key).parts() {
        path.push(part.as_ref());
    }
    path
}

/// Writes every part to `file` with `writev`, 1,024 slices at a time, resuming after
/// short writes.
fn write_parts(file: &mut std::fs::File, parts: &[Bytes]) -> std::io::Result<()> {
    let mut index = 0;
    let mut offset = 0;
    while index < parts.len() {
        let slices: Vec<std::io::IoSlice<'_>> = std::iter::once(&parts[index][offset..])
            .chain(parts[index + 1..].iter().map(|p| &p[..]))
            .take(1024)
            .map(std::io::IoSlice::new)
            .collect();
        let mut written = file.write_vectored(&slices)?;
        if written == 0 && slices.iter().any(|s| !s.is_empty()) {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while index < parts.len() && written >= parts[index].len() - offset {
            written -= parts[index].len() - offset;
            index += 1;
            offset = 0;
        }
        if index < parts.len() {
            offset += written;
        }
    }
    Ok(())
}

fn put_file(bucket_dir: &Path, key: &str, parts: &[Bytes], durable: bool) -> Result<(), String> {
    let target = file_of(bucket_dir, key);
    let parent = target
        .parent()
        .ok_or_else(|| format!("key {key:?} names no file"))?;
    if target == bucket_dir {
        return Err(format!("key {key:?} names no file"));
    }
    let fail = |op: &str, e: std::io::Error| format!("{op} {}: {e}", target.display());
    create_dirs(parent, durable).map_err(|e| fail("create directory for", e))?;
    let tmp = parent.join(format!(
        ".tidelog-tmp-{}",
        &blake3::hash(key.as_bytes()).to_hex()[..16]
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        write_parts(&mut file, parts)?;
        if durable {
            file.sync_data()?;
        }
        drop(file);
        std::fs::rename(&tmp, &target)?;
        if durable {
            sync_dir(parent)?;
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail("write", e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_leave_the_bucket() {
        let root = Path::new("/b");
        assert_eq!(file_of(root, "a/b=1/c.gz"), Path::new("/b/a/b=1/c.gz"));
        assert_eq!(
            file_of(root, "../../etc/passwd"),
            Path::new("/b/%2E%2E/%2E%2E/etc/passwd")
        );
        assert_eq!(file_of(root, "/x//y/./z"), Path::new("/b/x/y/%2E/z"));
        assert!(file_of(root, "a\u{0}b").starts_with(root));
    }

    #[test]
    fn parts_are_written_in_order_across_short_and_many_slices() {
        let dir = tempfile::tempdir().unwrap();
        let parts: Vec<Bytes> = (0..5000u32)
            .map(|i| Bytes::from(format!("{i};").repeat((i % 7) as usize)))
            .collect();
        put_file(dir.path(), "k", &parts, false).unwrap();
        let want: Vec<u8> = parts.iter().flat_map(|p| p.to_vec()).collect();
        assert_eq!(std::fs::read(dir.path().join("k")).unwrap(), want);
    }

    #[test]
    fn directory_objects_replace_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let stores = Stores::new(
            BucketStore::Directory {
                root: dir.path().to_path_buf(),
            },
            Default::default(),
            rt.handle().clone(),
        );
        stores
            .put("bkt", "p/2018/x.gz", Bytes::from_static(b"one"), true)
            .unwrap();
        stores
            .put("bkt", "p/2018/x.gz", Bytes::from_static(b"two"), false)
            .unwrap();
        let file = dir.path().join("bkt/p/2018/x.gz");
        assert_eq!(std::fs::read(&file).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(file.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file is left: {names:?}");
        // A file where a directory must be: an error, not a panic.
        std::fs::write(dir.path().join("bkt/q"), b"").unwrap();
        assert!(stores.put("bkt", "q/r", Bytes::new(), true).is_err());
    }
}
