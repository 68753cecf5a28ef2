//! A storage backend that simulates power loss.
//!
//! It keeps two views of everything: what the process sees (the page cache: current file
//! contents and the current namespace) and what is on disk (contents as of each file's
//! last fdatasync, and the namespace as of each directory's last fsync). A power cut
//! ([`SimStorage::power_cut`]) builds the state a machine would find on reboot:
//! - a file's bytes are its durable bytes, plus a random subset of the 4 KiB pages that
//!   changed since its last sync, in any order, some of them torn (only their first
//!   512-byte sectors written);
//! - a directory's entries are its durable ones, plus a random prefix of the changes
//!   (create, rename, unlink) made since its last sync, in order, as a journal replays.
//!
//! Contents that were synced survive; nothing else is promised, exactly like a disk.
//! Files are heap buffers (as in [`MemStorage`](super::MemStorage)); a power cut needs
//! every mapping dropped first (the engine stopped without its shutdown sync).
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

const PAGE_BYTES: usize = 4096;
const SECTOR_BYTES: usize = 512;

type Ino = u64;

#[derive(Debug)]
struct Inode {
    current: Arc<HeapBuffer>,
    durable: Vec<u8>,
}

#[derive(Debug, Clone)]
enum NsOp {
    Link(PathBuf, Ino),
    Unlink(PathBuf),
    MkDir(PathBuf),
    RmDir(PathBuf),
}

impl NsOp {
    fn dir(&self) -> Option<&Path> {
        match self {
            Self::Link(p, _) | Self::Unlink(p) | Self::MkDir(p) | Self::RmDir(p) => p.parent(),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    next_ino: Ino,
    inodes: BTreeMap<Ino, Inode>,
    names: BTreeMap<PathBuf, Ino>,
    dirs: BTreeSet<PathBuf>,
    durable_names: BTreeMap<PathBuf, Ino>,
    durable_dirs: BTreeSet<PathBuf>,
    pending: Vec<NsOp>,
    locks: BTreeSet<PathBuf>,
    syncs: u64,
}

fn apply(names: &mut BTreeMap<PathBuf, Ino>, dirs: &mut BTreeSet<PathBuf>, op: &NsOp) {
    match op {
        NsOp::Link(p, ino) => {
            names.insert(p.clone(), *ino);
        }
        NsOp::Unlink(p) => {
            names.remove(p);
        }
        NsOp::MkDir(p) => {
            dirs.insert(p.clone());
        }
        NsOp::RmDir(p) => {
            names.retain(|n, _| !n.starts_with(p));
            dirs.retain(|d| !d.starts_with(p));
        }
    }
}

/// A small deterministic generator (splitmix64) for power-cut choices.
#[derive(Debug, Clone)]
pub struct SimRng(u64);

impl SimRng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Storage that remembers what is durable and can cut the power.
#[derive(Debug, Clone, Default)]
pub struct SimStorage {
    state: Arc<Mutex<State>>,
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

/// What a power cut did, for the test's report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PowerCut {
    /// Pages that had changed since their file's last sync.
    pub dirty_pages: u64,
    /// Of those, pages whose new contents reached the disk whole.
    pub pages_written: u64,
    /// Of those, pages torn (some sectors written).
    pub pages_torn: u64,
    /// Directory changes not yet synced.
    pub pending_ops: u64,
    /// Of those, the prefix that reached the disk.
    pub ops_applied: u64,
}

impl SimStorage {
    /// An empty file system (only `/` exists, durably).
    pub fn new() -> Self {
        let storage = Self::default();
        {
            let mut st = storage.lock();
            st.dirs.insert(PathBuf::from("/"));
            st.durable_dirs.insert(PathBuf::from("/"));
        }
        storage
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// fdatasync and fsync calls made so far.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    /// The state a reboot after a power cut now would find, chosen by `seed`. Fails
    /// with `ResourceBusy` while any file is still mapped (stop the engine first).
    pub fn power_cut(&self, seed: u64) -> io::Result<(SimStorage, PowerCut)> {
        let mut st = self.lock();
        let mut rng = SimRng::new(seed);
        let mut report = PowerCut::default();
        // The namespace: durable, plus a prefix of the pending changes.
        let mut names = st.durable_names.clone();
        let mut dirs = st.durable_dirs.clone();
        report.pending_ops = st.pending.len() as u64;
        let keep = rng.below(st.pending.len() as u64 + 1) as usize;
        for op in &st.pending[..keep] {
            apply(&mut names, &mut dirs, op);
        }
        report.ops_applied = keep as u64;
        // Entries of a directory whose own creation did not reach the disk are gone.
        let reachable = |p: &Path, dirs: &BTreeSet<PathBuf>| {
            p.ancestors()
                .skip(1)
                .all(|a| a.as_os_str().is_empty() || dirs.contains(a))
        };
        loop {
            let orphans: Vec<PathBuf> = dirs
                .iter()
                .filter(|d| !reachable(d, &dirs))
                .cloned()
                .collect();
            if orphans.is_empty() {
                break;
            }
            for orphan in orphans {
                dirs.remove(&orphan);
            }
        }
        names.retain(|p, _| reachable(p, &dirs));
        // The contents: durable, plus some of the dirty pages.
        let mut images: BTreeMap<Ino, Vec<u8>> = BTreeMap::new();
        let inos: Vec<Ino> = names
            .values()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for ino in inos {
            let Some(inode) = st.inodes.get_mut(&ino) else {
                continue;
            };
            let current = inode.current.to_vec().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::ResourceBusy,
                    "a file is still mapped: stop the engine before the power cut",
                )
            })?;
            let mut image = inode.durable.clone();
            if image.len() < current.len() && rng.below(2) == 0 {
                image.resize(current.len(), 0); // the new length reached the disk
            }
            for page in 0..current.len().div_ceil(PAGE_BYTES) {
                let start = page * PAGE_BYTES;
                let end = (start + PAGE_BYTES).min(current.len());
                let old = image.get(start..end.min(image.len())).unwrap_or_default();
                if old == &current[start..end] {
                    continue;
                }
                report.dirty_pages += 1;
                if end > image.len() {
                    continue; // the length never reached the disk: the page is not there
                }
                match rng.below(3) {
                    0 => {}
                    1 => {
                        image[start..end].copy_from_slice(&current[start..end]);
                        report.pages_written += 1;
                    }
                    _ => {
                        let sectors = (end - start).div_ceil(SECTOR_BYTES);
                        let written = rng.below(sectors as u64) as usize;
                        let torn_end = (start + written * SECTOR_BYTES).min(end);
                        image[start..torn_end].copy_from_slice(&current[start..torn_end]);
                        report.pages_torn += 1;
                    }
                }
            }
            images.insert(ino, image);
        }
        let rebooted = SimStorage::new();
        {
            let mut new = rebooted.lock();
            for dir in &dirs {
                new.dirs.insert(dir.clone());
                new.durable_dirs.insert(dir.clone());
            }
            for (path, ino) in &names {
                let bytes = images.get(ino).cloned().unwrap_or_default();
                if !new.inodes.contains_key(ino) {
                    new.inodes.insert(
                        *ino,
                        Inode {
                            current: HeapBuffer::from_bytes(&bytes)?,
                            durable: bytes,
                        },
                    );
                }
                new.names.insert(path.clone(), *ino);
                new.durable_names.insert(path.clone(), *ino);
            }
            new.next_ino = st.next_ino;
        }
        Ok((rebooted, report))
    }

    fn parent_exists(st: &State, path: &Path) -> bool {
        path.parent()
            .is_none_or(|p| p.as_os_str().is_empty() || st.dirs.contains(p))
    }

    fn link_new(st: &mut State, path: &Path, inode: Inode) -> io::Result<()> {
        if !Self::parent_exists(st, path) {
            return Err(not_found(path.parent().unwrap_or(path)));
        }
        let ino = st.next_ino;
        st.next_ino += 1;
        st.inodes.insert(ino, inode);
        st.names.insert(path.to_path_buf(), ino);
        st.pending.push(NsOp::Link(path.to_path_buf(), ino));
        Ok(())
    }
}

#[derive(Debug)]
struct SimFile {
    state: Arc<Mutex<State>>,
    ino: Ino,
    path: PathBuf,
}

impl FileHandle for SimFile {
    fn write_at(&self, _offset: u64, _parts: &[&[u8]]) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "simulated files are written through their mapping",
        ))
    }

    fn sync_data(&self) -> io::Result<()> {
        Err(io::Error::other(
            "a simulated file is synced with sync_data_with",
        ))
    }

    fn sync_data_with(&self, current: &[u8]) -> io::Result<()> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.syncs += 1;
        if let Some(inode) = st.inodes.get_mut(&self.ino) {
            inode.durable = current.to_vec();
        }
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
struct SimLock {
    state: Arc<Mutex<State>>,
    dir: PathBuf,
}

impl DirLockGuard for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .locks
            .remove(&self.dir);
    }
}

impl Storage for SimStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.lock();
        let mut created: Vec<PathBuf> = dir
            .ancestors()
            .filter(|a| !a.as_os_str().is_empty() && !st.dirs.contains(*a))
            .map(Path::to_path_buf)
            .collect();
        created.reverse();
        for d in created {
            if st.names.contains_key(&d) {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "a file is in the way",
                ));
            }
            st.dirs.insert(d.clone());
            st.pending.push(NsOp::MkDir(d));
        }
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<DirEntry>> {
        let st = self.lock();
        if !st.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
        let mut entries: Vec<DirEntry> = st
            .names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| {
                name(p).map(|name| DirEntry {
                    name,
                    kind: EntryKind::File,
                })
            })
            .collect();
        entries.extend(
            st.dirs
                .iter()
                .filter(|p| p.parent() == Some(dir))
                .filter_map(|p| {
                    name(p).map(|name| DirEntry {
                        name,
                        kind: EntryKind::Dir,
                    })
                }),
        );
        Ok(entries)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let st = self.lock();
        Ok(st.names.contains_key(path) || st.dirs.contains(path))
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        let st = self.lock();
        let ino = st.names.get(path).ok_or_else(|| not_found(path))?;
        Ok(st.inodes.get(ino).map_or(0, |i| i.current.len() as u64))
    }

    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        let st = self.lock();
        let ino = st.names.get(path).ok_or_else(|| not_found(path))?;
        let inode = st.inodes.get(ino).ok_or_else(|| not_found(path))?;
        if inode.current.is_empty() {
            return Ok(Vec::new());
        }
        let mapping = Mapping::map_heap(Arc::clone(&inode.current), Access::ReadOnly, 0)?;
        Ok(mapping.bytes(0..mapping.len()).unwrap_or_default().to_vec())
    }

    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        // create/truncate + write + fdatasync: the contents are durable at once, the
        // name only once the directory is synced.
        let mut st = self.lock();
        st.syncs += 1;
        let inode = Inode {
            current: HeapBuffer::from_bytes(bytes)?,
            durable: bytes.to_vec(),
        };
        match st.names.get(path).copied() {
            Some(ino) => {
                st.inodes.insert(ino, inode);
                Ok(())
            }
            None => Self::link_new(&mut st, path, inode),
        }
    }

    fn write_file_unsynced(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut st = self.lock();
        match st.names.get(path).copied() {
            Some(ino) => {
                if let Some(inode) = st.inodes.get_mut(&ino) {
                    inode.current = HeapBuffer::from_bytes(bytes)?;
                }
                Ok(())
            }
            None => Self::link_new(
                &mut st,
                path,
                Inode {
                    current: HeapBuffer::from_bytes(bytes)?,
                    durable: Vec::new(),
                },
            ),
        }
    }

    fn create_segment(&self, path: &Path, len: u64, fill: Preallocation) -> io::Result<()> {
        let mut st = self.lock();
        if st.names.contains_key(path) || st.dirs.contains(path) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "file exists"));
        }
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length too large"))?;
        let durable = match fill {
            Preallocation::Zeroed => {
                st.syncs += 1;
                vec![0u8; len]
            }
            Preallocation::Allocated | Preallocation::AllocatedCached => Vec::new(),
        };
        Self::link_new(
            &mut st,
            path,
            Inode {
                current: HeapBuffer::zeroed(len)?,
                durable,
            },
        )
    }

    fn extend_zeroed(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut st = self.lock();
        let ino = *st.names.get(path).ok_or_else(|| not_found(path))?;
        let inode = st.inodes.get_mut(&ino).ok_or_else(|| not_found(path))?;
        let mut bytes = inode
            .current
            .to_vec()
            .ok_or_else(|| io::Error::new(io::ErrorKind::ResourceBusy, "file is mapped"))?;
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length too large"))?;
        if len > bytes.len() {
            bytes.resize(len, 0);
            inode.current = HeapBuffer::from_bytes(&bytes)?;
            inode.durable = bytes;
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
        let st = self.lock();
        let ino = *st.names.get(path).ok_or_else(|| not_found(path))?;
        let inode = st.inodes.get(&ino).ok_or_else(|| not_found(path))?;
        if inode.current.len() < len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shorter than the mapping",
            ));
        }
        let mapping = Mapping::map_heap(Arc::clone(&inode.current), access, readable_start)?;
        Ok(MappedFile {
            mapping,
            file: Box::new(SimFile {
                state: Arc::clone(&self.state),
                ino,
                path: path.to_path_buf(),
            }),
        })
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = self.lock();
        st.names.remove(path).ok_or_else(|| not_found(path))?;
        st.pending.push(NsOp::Unlink(path.to_path_buf()));
        Ok(())
    }

    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.lock();
        if !st.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        st.names.retain(|p, _| !p.starts_with(dir));
        st.dirs.retain(|p| !p.starts_with(dir));
        st.pending.push(NsOp::RmDir(dir.to_path_buf()));
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.lock();
        if !Self::parent_exists(&st, to) {
            return Err(not_found(to.parent().unwrap_or(to)));
        }
        let ino = st.names.remove(from).ok_or_else(|| not_found(from))?;
        st.names.insert(to.to_path_buf(), ino);
        // On disk a rename is one journaled change: model it as link-then-unlink kept
        // together in order.
        st.pending.push(NsOp::Link(to.to_path_buf(), ino));
        st.pending.push(NsOp::Unlink(from.to_path_buf()));
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.lock();
        if !st.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        st.syncs += 1;
        // Apply this directory's pending changes, in order, to the durable namespace.
        let pending = std::mem::take(&mut st.pending);
        let (mine, rest): (Vec<NsOp>, Vec<NsOp>) =
            pending.into_iter().partition(|op| op.dir() == Some(dir));
        let State {
            durable_names,
            durable_dirs,
            ..
        } = &mut *st;
        for op in &mine {
            apply(durable_names, durable_dirs, op);
        }
        st.pending = rest;
        Ok(())
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn DirLockGuard>> {
        let mut st = self.lock();
        if !st.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        if !st.locks.insert(dir.to_path_buf()) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "locked"));
        }
        let _ = LOCK_FILE_NAME;
        Ok(Box::new(SimLock {
            state: Arc::clone(&self.state),
            dir: dir.to_path_buf(),
        }))
    }
}
