//! A storage backend that injects faults: wraps another backend and makes chosen
//! operations fail (EIO, ENOSPC, ...) or write short, on chosen paths, after a chosen
//! number of successful calls. Tests use it to check that every failure leaves a clear
//! error and consistent data (catalog updates, segment rolls, fsyncs, writes).
#![forbid(unsafe_code)]

use std::fmt::Debug;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{Access, DirEntry, DirLockGuard, FileHandle, MappedFile, Preallocation, Storage};

/// An operation a fault can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultOp {
    /// `Storage::write_file` (also the first step of an atomic replace).
    WriteFile,
    /// `Storage::rename`.
    Rename,
    /// `Storage::sync_dir`.
    SyncDir,
    /// `Storage::create_segment`.
    CreateSegment,
    /// `Storage::remove_file`.
    RemoveFile,
    /// `Storage::map`.
    Map,
    /// `FileHandle::write_at` (pwritev on a segment).
    WriteAt,
    /// `FileHandle::sync_data` (fdatasync of a segment).
    SyncData,
}

/// Which paths a fault applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// Paths whose text contains this (empty: every path).
    Contains(String),
    /// Exactly this path.
    Exact(PathBuf),
}

impl PathMatch {
    fn matches(&self, path: &Path) -> bool {
        match self {
            Self::Contains(text) => path.to_string_lossy().contains(text.as_str()),
            Self::Exact(p) => p == path,
        }
    }
}

/// One injected fault.
#[derive(Debug, Clone)]
pub struct Fault {
    /// The operation.
    pub op: FaultOp,
    /// Which paths.
    pub path: PathMatch,
    /// Matching calls that succeed before the fault fires.
    pub skip: u64,
    /// How many matching calls fail once it fires (`u64::MAX`: all later ones).
    pub times: u64,
    /// The error returned.
    pub kind: io::ErrorKind,
    /// For `WriteAt`: write this many bytes before failing (a short write).
    pub short_write_bytes: Option<usize>,
    /// Instead of failing, sleep this long and then let the call through.
    pub delay: Option<std::time::Duration>,
}

impl Fault {
    /// A fault on every matching call from the first, forever.
    pub fn always(op: FaultOp, path_contains: &str, kind: io::ErrorKind) -> Self {
        Self {
            op,
            path: PathMatch::Contains(path_contains.to_string()),
            skip: 0,
            times: u64::MAX,
            kind,
            short_write_bytes: None,
            delay: None,
        }
    }

    /// A fault on the `(skip + 1)`-th matching call only.
    pub fn once_after(op: FaultOp, path_contains: &str, skip: u64, kind: io::ErrorKind) -> Self {
        Self {
            skip,
            times: 1,
            ..Self::always(op, path_contains, kind)
        }
    }

    /// The same fault, on exactly `path`.
    pub fn on_exact(mut self, path: &Path) -> Self {
        self.path = PathMatch::Exact(path.to_path_buf());
        self
    }

    /// Every matching call sleeps for `delay` (then succeeds).
    pub fn delay(op: FaultOp, path_contains: &str, delay: std::time::Duration) -> Self {
        Self {
            delay: Some(delay),
            ..Self::always(op, path_contains, io::ErrorKind::Other)
        }
    }
}

#[derive(Debug, Default)]
struct Rules {
    faults: Vec<(Fault, u64)>,
    fired: u64,
}

/// Wraps a backend and injects [`Fault`]s.
#[derive(Debug, Clone)]
pub struct FaultyStorage {
    inner: Arc<dyn Storage>,
    rules: Arc<Mutex<Rules>>,
}

impl FaultyStorage {
    /// Wraps `inner` with no faults yet.
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        Self {
            inner,
            rules: Arc::new(Mutex::new(Rules::default())),
        }
    }

    /// Adds a fault.
    pub fn inject(&self, fault: Fault) {
        self.rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .faults
            .push((fault, 0));
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .faults
            .clear();
    }

    /// How many calls failed because of an injected fault.
    pub fn fired(&self) -> u64 {
        self.rules.lock().unwrap_or_else(|p| p.into_inner()).fired
    }

    fn check(&self, op: FaultOp, path: &Path) -> Result<(), (io::Error, Option<usize>)> {
        check(&self.rules, op, path)
    }
}

fn check(rules: &Mutex<Rules>, op: FaultOp, path: &Path) -> Result<(), (io::Error, Option<usize>)> {
    let mut rules = rules.lock().unwrap_or_else(|p| p.into_inner());
    let text = path.to_string_lossy();
    let mut hit = None;
    let mut sleep = None;
    for (fault, seen) in rules.faults.iter_mut() {
        if fault.op != op || !fault.path.matches(path) {
            continue;
        }
        *seen += 1;
        if *seen > fault.skip && *seen - fault.skip <= fault.times {
            if let Some(delay) = fault.delay {
                sleep = Some(delay);
                continue;
            }
            hit = Some((
                io::Error::new(fault.kind, format!("injected {op:?} fault on {text}")),
                fault.short_write_bytes,
            ));
            break;
        }
    }
    if hit.is_some() {
        rules.fired += 1;
    }
    drop(rules);
    if let Some(delay) = sleep {
        std::thread::sleep(delay);
    }
    match hit {
        Some(h) => Err(h),
        None => Ok(()),
    }
}

#[derive(Debug)]
struct FaultyFile {
    inner: Box<dyn FileHandle>,
    rules: Arc<Mutex<Rules>>,
    path: PathBuf,
}

impl FileHandle for FaultyFile {
    fn write_at(&self, offset: u64, parts: &[&[u8]]) -> io::Result<()> {
        if let Err((err, short)) = check(&self.rules, FaultOp::WriteAt, &self.path) {
            if let Some(bytes) = short {
                // Write a prefix of the frame, then fail: a short write.
                let mut left = bytes;
                let mut at = offset;
                for part in parts {
                    let n = left.min(part.len());
                    if n == 0 {
                        break;
                    }
                    self.inner.write_at(at, &[&part[..n]])?;
                    at += n as u64;
                    left -= n;
                }
            }
            return Err(err);
        }
        self.inner.write_at(offset, parts)
    }

    fn sync_data(&self) -> io::Result<()> {
        check(&self.rules, FaultOp::SyncData, &self.path).map_err(|(e, _)| e)?;
        self.inner.sync_data()
    }

    fn sync_data_with(&self, current: &[u8]) -> io::Result<()> {
        check(&self.rules, FaultOp::SyncData, &self.path).map_err(|(e, _)| e)?;
        self.inner.sync_data_with(current)
    }

    fn path(&self) -> &Path {
        self.inner.path()
    }

    fn is_real_file(&self) -> bool {
        // Drivers must sync through this handle for the faults to apply.
        false
    }
}

impl Storage for FaultyStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<DirEntry>> {
        self.inner.list_dir(dir)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.inner.exists(path)
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        self.inner.file_len(path)
    }

    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.inner.read_file(path)
    }

    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        self.check(FaultOp::WriteFile, path).map_err(|(e, _)| e)?;
        self.inner.write_file(path, bytes)
    }

    fn write_file_unsynced(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        self.check(FaultOp::WriteFile, path).map_err(|(e, _)| e)?;
        self.inner.write_file_unsynced(path, bytes)
    }

    fn create_segment(&self, path: &Path, len: u64, fill: Preallocation) -> io::Result<()> {
        self.check(FaultOp::CreateSegment, path)
            .map_err(|(e, _)| e)?;
        self.inner.create_segment(path, len, fill)
    }

    fn extend_zeroed(&self, path: &Path, len: u64) -> io::Result<()> {
        self.inner.extend_zeroed(path, len)
    }

    fn map(
        &self,
        path: &Path,
        len: usize,
        access: Access,
        readable_start: usize,
    ) -> io::Result<MappedFile> {
        self.check(FaultOp::Map, path).map_err(|(e, _)| e)?;
        let mapped = self.inner.map(path, len, access, readable_start)?;
        Ok(MappedFile {
            mapping: mapped.mapping,
            file: Box::new(FaultyFile {
                inner: mapped.file,
                rules: Arc::clone(&self.rules),
                path: path.to_path_buf(),
            }),
        })
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.check(FaultOp::RemoveFile, path).map_err(|(e, _)| e)?;
        self.inner.remove_file(path)
    }

    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.remove_dir_all(dir)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.check(FaultOp::Rename, to).map_err(|(e, _)| e)?;
        self.inner.rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.check(FaultOp::SyncDir, dir).map_err(|(e, _)| e)?;
        self.inner.sync_dir(dir)
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn DirLockGuard>> {
        self.inner.lock_dir(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemStorage;

    #[test]
    fn faults_fire_where_and_when_asked() {
        let storage = FaultyStorage::new(Arc::new(MemStorage::new()));
        storage.create_dir_all(Path::new("/d")).unwrap();
        storage.inject(Fault::once_after(
            FaultOp::WriteFile,
            "catalog",
            1,
            io::ErrorKind::Other,
        ));
        storage.write_file(Path::new("/d/other"), b"x").unwrap();
        storage.write_file(Path::new("/d/catalog"), b"1").unwrap();
        let err = storage
            .write_file(Path::new("/d/catalog"), b"2")
            .unwrap_err();
        assert!(err.to_string().contains("injected"));
        storage.write_file(Path::new("/d/catalog"), b"3").unwrap();
        assert_eq!(storage.fired(), 1);
        assert_eq!(storage.read_file(Path::new("/d/catalog")).unwrap(), b"3");
        storage.inject(Fault::always(
            FaultOp::SyncDir,
            "",
            io::ErrorKind::StorageFull,
        ));
        assert_eq!(
            storage.sync_dir(Path::new("/d")).unwrap_err().kind(),
            io::ErrorKind::StorageFull
        );
        storage.clear();
        storage.sync_dir(Path::new("/d")).unwrap();
    }
}
