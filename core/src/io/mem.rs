//! An in-memory storage backend: files are heap buffers, directories are a set of
//! paths. Fast and deterministic for tests; durability calls succeed and change
//! nothing (everything "written" is immediately "durable").
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::mapping::HeapBuffer;
use super::{
    Access, DirEntry, DirLockGuard, EntryKind, FileHandle, LOCK_FILE_NAME, MappedFile, Mapping,
    Preallocation, Storage,
};

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<PathBuf, Arc<HeapBuffer>>,
    dirs: BTreeSet<PathBuf>,
    locks: BTreeSet<PathBuf>,
}

/// Files and directories held in memory. Clones share the same contents.
#[derive(Debug, Default, Clone)]
pub struct MemStorage {
    state: Arc<Mutex<State>>,
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

impl MemStorage {
    /// An empty in-memory file system (only `/` exists).
    pub fn new() -> Self {
        let storage = Self::default();
        storage.lock().dirs.insert(PathBuf::from("/"));
        storage
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `edit` on a file's bytes, for tests that damage stored data. Fails with
    /// `ErrorKind::ResourceBusy` while any mapping of the file is alive.
    pub fn edit_file<R>(&self, path: &Path, edit: impl FnOnce(&mut Vec<u8>) -> R) -> io::Result<R> {
        let mut state = self.lock();
        let buffer = state.files.get_mut(path).ok_or_else(|| not_found(path))?;
        let mut bytes = buffer.to_vec().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::ResourceBusy,
                "file is mapped; drop its users first",
            )
        })?;
        let result = edit(&mut bytes);
        *buffer = HeapBuffer::from_bytes(&bytes)?;
        Ok(result)
    }

    fn parent_exists(state: &State, path: &Path) -> bool {
        match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => state.dirs.contains(parent),
            _ => true,
        }
    }
}

#[derive(Debug)]
struct MemFile {
    path: PathBuf,
}

impl FileHandle for MemFile {
    fn write_at(&self, _offset: u64, _parts: &[&[u8]]) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "in-memory files are written through their mapping",
        ))
    }

    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn is_real_file(&self) -> bool {
        false
    }
}

#[derive(Debug)]
struct MemLock {
    state: Arc<Mutex<State>>,
    dir: PathBuf,
}

impl DirLockGuard for MemLock {}

impl Drop for MemLock {
    fn drop(&mut self) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.locks.remove(&self.dir);
    }
}

impl Storage for MemStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.lock();
        for ancestor in dir.ancestors() {
            if ancestor.as_os_str().is_empty() {
                continue;
            }
            if state.files.contains_key(ancestor) {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "a file is in the way",
                ));
            }
            state.dirs.insert(ancestor.to_path_buf());
        }
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<DirEntry>> {
        let state = self.lock();
        if !state.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        let child = |path: &Path| path.parent() == Some(dir);
        let name = |path: &Path| path.file_name().map(|n| n.to_string_lossy().into_owned());
        let mut entries: Vec<DirEntry> = state
            .files
            .keys()
            .filter(|p| child(p))
            .filter_map(|p| {
                name(p).map(|name| DirEntry {
                    name,
                    kind: EntryKind::File,
                })
            })
            .collect();
        entries.extend(state.dirs.iter().filter(|p| child(p)).filter_map(|p| {
            name(p).map(|name| DirEntry {
                name,
                kind: EntryKind::Dir,
            })
        }));
        Ok(entries)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let state = self.lock();
        Ok(state.files.contains_key(path) || state.dirs.contains(path))
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        let state = self.lock();
        Ok(state.files.get(path).ok_or_else(|| not_found(path))?.len() as u64)
    }

    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        let state = self.lock();
        let buffer = state.files.get(path).ok_or_else(|| not_found(path))?;
        let mapping = Mapping::map_heap(Arc::clone(buffer), Access::ReadOnly, 0);
        match mapping {
            Ok(mapping) => Ok(mapping.bytes(0..mapping.len()).unwrap_or_default().to_vec()),
            Err(_) => Ok(Vec::new()),
        }
    }

    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut state = self.lock();
        if !Self::parent_exists(&state, path) {
            return Err(not_found(path.parent().unwrap_or(path)));
        }
        state
            .files
            .insert(path.to_path_buf(), HeapBuffer::from_bytes(bytes)?);
        Ok(())
    }

    fn create_segment(&self, path: &Path, len: u64, _fill: Preallocation) -> io::Result<()> {
        let mut state = self.lock();
        if !Self::parent_exists(&state, path) {
            return Err(not_found(path.parent().unwrap_or(path)));
        }
        if state.files.contains_key(path) || state.dirs.contains(path) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "file exists"));
        }
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length too large"))?;
        state
            .files
            .insert(path.to_path_buf(), HeapBuffer::zeroed(len)?);
        Ok(())
    }

    fn extend_zeroed(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut state = self.lock();
        let buffer = state.files.get_mut(path).ok_or_else(|| not_found(path))?;
        let mut bytes = buffer.to_vec().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::ResourceBusy,
                "file is mapped; cannot extend it",
            )
        })?;
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length too large"))?;
        if len > bytes.len() {
            bytes.resize(len, 0);
            *buffer = HeapBuffer::from_bytes(&bytes)?;
        }
        Ok(())
    }

    fn map(
        &self,
        path: &Path,
        len: usize,
        access: Access,
        readable_start: usize,
    ) -> io::Result<MappedFile> {
        let state = self.lock();
        let buffer = state.files.get(path).ok_or_else(|| not_found(path))?;
        if buffer.len() < len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "file is {} bytes, shorter than the {len} bytes to map",
                    buffer.len()
                ),
            ));
        }
        let mapping = Mapping::map_heap(Arc::clone(buffer), access, readable_start)?;
        Ok(MappedFile {
            mapping,
            file: Box::new(MemFile {
                path: path.to_path_buf(),
            }),
        })
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock();
        state
            .files
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| not_found(path))
    }

    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.lock();
        if !state.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        state.files.retain(|p, _| !p.starts_with(dir));
        state.dirs.retain(|p| !p.starts_with(dir));
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.lock();
        if !Self::parent_exists(&state, to) {
            return Err(not_found(to.parent().unwrap_or(to)));
        }
        if let Some(buffer) = state.files.remove(from) {
            state.files.insert(to.to_path_buf(), buffer);
            return Ok(());
        }
        if !state.dirs.contains(from) {
            return Err(not_found(from));
        }
        if state.dirs.contains(to) || state.files.contains_key(to) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "rename target exists",
            ));
        }
        let moved_dirs: Vec<PathBuf> = state
            .dirs
            .iter()
            .filter(|p| p.starts_with(from))
            .cloned()
            .collect();
        for old in moved_dirs {
            state.dirs.remove(&old);
            let rest = old.strip_prefix(from).unwrap_or(Path::new(""));
            state.dirs.insert(to.join(rest));
        }
        let moved_files: Vec<PathBuf> = state
            .files
            .keys()
            .filter(|p| p.starts_with(from))
            .cloned()
            .collect();
        for old in moved_files {
            if let Some(buffer) = state.files.remove(&old) {
                let rest = old.strip_prefix(from).unwrap_or(Path::new(""));
                state.files.insert(to.join(rest), buffer);
            }
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        if self.lock().dirs.contains(dir) {
            Ok(())
        } else {
            Err(not_found(dir))
        }
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn DirLockGuard>> {
        let mut state = self.lock();
        if !state.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        if !state.locks.insert(dir.to_path_buf()) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is locked by another open instance", dir.display()),
            ));
        }
        let lock_file = dir.join(LOCK_FILE_NAME);
        if let std::collections::btree_map::Entry::Vacant(entry) = state.files.entry(lock_file) {
            entry.insert(HeapBuffer::zeroed(0)?);
        }
        Ok(Box::new(MemLock {
            state: Arc::clone(&self.state),
            dir: dir.to_path_buf(),
        }))
    }
}
