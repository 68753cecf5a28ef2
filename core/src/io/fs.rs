//! The real file-system backend: std files, `fallocate` and `flock` through rustix, and
//! shared memory maps through memmap2 (see `mapping.rs`).
#![forbid(unsafe_code)]

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{
    Access, DirEntry, DirLockGuard, EntryKind, FileHandle, LOCK_FILE_NAME, MappedFile, Mapping,
    Preallocation, Storage,
};

/// Bytes written per call while zero-filling a new segment.
const ZERO_FILL_CHUNK_BYTES: usize = 1 << 20;

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct FsStorage;

impl FsStorage {
    /// The real file system backend.
    pub fn new() -> Self {
        Self
    }
}

#[derive(Debug)]
struct FsFile {
    file: File,
    path: PathBuf,
}

impl FileHandle for FsFile {
    fn write_at(&self, offset: u64, parts: &[&[u8]]) -> io::Result<()> {
        let mut slices: Vec<io::IoSlice<'_>> = parts.iter().map(|p| io::IoSlice::new(p)).collect();
        let mut slices = &mut slices[..];
        let mut offset = offset;
        while !slices.is_empty() {
            let written =
                rustix::io::pwritev(&self.file, slices, offset).map_err(io::Error::from)?;
            if written == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "pwritev wrote nothing",
                ));
            }
            offset += written as u64;
            io::IoSlice::advance_slices(&mut slices, written);
        }
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn is_real_file(&self) -> bool {
        true
    }
}

#[derive(Debug)]
struct FsLock {
    _file: File,
}

impl DirLockGuard for FsLock {}

fn zero_fill(file: &File, from: u64, len: u64) -> io::Result<()> {
    if len <= from {
        return Ok(());
    }
    rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), from, len - from)
        .map_err(io::Error::from)?;
    let zeros = vec![0u8; ZERO_FILL_CHUNK_BYTES.min((len - from) as usize)];
    let mut offset = from;
    while offset < len {
        let n = (len - offset).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], offset)?;
        offset += n as u64;
    }
    file.sync_data()
}

/// Bytes read per call while bringing a new segment into the page cache.
const PAGE_CACHE_FILL_CHUNK_BYTES: usize = 1 << 20;

/// Brings every page of a freshly allocated (unwritten) file into the page cache. Its
/// extents read as zeros without touching the disk, but the kernel still allocates and
/// zeroes each page on first access. Done here, on the thread preparing the spare;
/// otherwise the appender's first write to each readahead window faulted and zeroed up
/// to 8 MiB of pages inline (38% of the core's time in a 1 KiB batched run, measured,
/// and puts of 9-20 ms after each roll). Plain reads, not `fadvise(WILLNEED)`: the
/// kernel caps one hint at the device's readahead window (8 MiB of a 64 MiB file here),
/// and a hint's pages are single 4 KiB folios where a read's readahead builds large
/// ones (fewer, cheaper faults for the appender). Best effort: a failed read leaves
/// the pages to fault in as before.
fn fill_page_cache(file: &File, len: u64) {
    let mut buf = vec![0u8; PAGE_CACHE_FILL_CHUNK_BYTES.min(len as usize)];
    let mut offset = 0;
    while offset < len {
        let n = (len - offset).min(buf.len() as u64) as usize;
        match file.read_at(&mut buf[..n], offset) {
            Ok(0) | Err(_) => return,
            Ok(read) => offset += read as u64,
        }
    }
}

impl Storage for FsStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<DirEntry>> {
        let mut entries = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let file_type = entry.file_type()?;
            let kind = if file_type.is_file() {
                EntryKind::File
            } else if file_type.is_dir() {
                EntryKind::Dir
            } else {
                EntryKind::Other
            };
            entries.push(DirEntry { name, kind });
        }
        Ok(entries)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::metadata(path)?.len())
    }

    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.write_all_at(bytes, 0)?;
        file.sync_data()
    }

    fn append_file(&self, path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
        let mut file = OpenOptions::new().append(true).create(true).open(path)?;
        io::Write::write_all(&mut file, bytes)?;
        if sync {
            file.sync_data()?;
        }
        Ok(())
    }

    fn write_file_unsynced(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.write_all_at(bytes, 0)
    }

    fn create_segment(&self, path: &Path, len: u64, fill: Preallocation) -> io::Result<()> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        let prepared = match fill {
            Preallocation::Zeroed => zero_fill(&file, 0, len),
            // No sync: the allocation becomes durable with the first fdatasync of the
            // segment (and a segment found short after a crash is extended on open).
            Preallocation::Allocated => {
                rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, len)
                    .map_err(io::Error::from)
            }
            Preallocation::AllocatedCached => {
                rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, len)
                    .map_err(io::Error::from)
                    // The whole file brought into the page cache here, off the
                    // appending thread (see `fill_page_cache`).
                    .map(|()| fill_page_cache(&file, len))
            }
        };
        if let Err(err) = prepared {
            drop(file);
            let _ = fs::remove_file(path);
            return Err(err);
        }
        Ok(())
    }

    fn extend_zeroed(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let from = file.metadata()?.len();
        zero_fill(&file, from, len)
    }

    fn map(
        &self,
        path: &Path,
        len: usize,
        access: Access,
        readable_start: usize,
    ) -> io::Result<MappedFile> {
        let file = match access {
            Access::ReadOnly => File::open(path)?,
            Access::ReadWrite => OpenOptions::new().read(true).write(true).open(path)?,
        };
        let mapping = Mapping::map_file(&file, len, access, readable_start)?;
        Ok(MappedFile {
            mapping,
            file: Box::new(FsFile {
                file,
                path: path.to_path_buf(),
            }),
        })
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::remove_dir_all(dir)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn DirLockGuard>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(LOCK_FILE_NAME))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
            |errno| {
                if errno == rustix::io::Errno::WOULDBLOCK {
                    io::Error::new(
                        io::ErrorKind::WouldBlock,
                        format!("{} is locked by another open instance", dir.display()),
                    )
                } else {
                    io::Error::from(errno)
                }
            },
        )?;
        Ok(Box::new(FsLock { _file: file }))
    }
}
