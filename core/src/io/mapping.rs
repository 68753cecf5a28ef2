//! Mapped byte regions: the one place in the engine crate that uses `unsafe`.
//!
//! A [`Mapping`] is a fixed-length byte region: either a shared memory map of a
//! segment file (the page cache) or, for the in-memory storage backend, a heap
//! allocation. Many readers and at most one [`MappingWriter`] share it.
//!
//! # Invariants (what makes the safe API sound)
//! - The region is split by two offsets: `readable_start` (fixed) and `frontier`
//!   (only ever grows). Bytes in `[readable_start, frontier)` are **published**: they
//!   are never written again while the mapping lives, so [`Mapping::bytes`] may hand
//!   out `&[u8]` into them to any thread.
//! - Only the single writer writes, and only to `[0, readable_start)` (the header area,
//!   which readers can never borrow) or to `[frontier, len)` (not yet published).
//! - The writer can look at unpublished bytes ([`MappingWriter::peek`]) only through a
//!   shared borrow of itself, so it cannot write while such a view is alive.
//! - The region stays mapped (or allocated) until the last `Arc<Mapping>` drops, even
//!   after the file is unlinked: views never dangle.
//! - Files are never truncated while mapped (tidelog preallocates segments and
//!   never shrinks them), so touching the region cannot raise SIGBUS. Another
//!   process that truncates or writes a segment file breaks this contract, as it
//!   would for any memory-mapped store; the data directory lock keeps other tidelog
//!   instances out.
#![allow(unsafe_code)]

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::fmt;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Whether a mapping may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Readers only; the whole region is published at creation.
    ReadOnly,
    /// One writer may append behind the frontier.
    ReadWrite,
}

enum Backing {
    Mmap(memmap2::MmapRaw),
    Heap(Arc<HeapBuffer>),
}

/// A zeroed heap allocation that outlives every mapping made of it: the in-memory
/// storage backend's "file contents".
pub struct HeapBuffer {
    ptr: NonNull<u8>,
    len: usize,
    /// True while some mapping of this buffer has a writer; a second writer is refused.
    writer_active: AtomicBool,
}

// SAFETY: the buffer is plain bytes; all access goes through `Mapping`, whose
// invariants (see module doc) rule out data races.
unsafe impl Send for HeapBuffer {}
// SAFETY: as above; shared access only reads published bytes.
unsafe impl Sync for HeapBuffer {}

impl HeapBuffer {
    /// A zeroed buffer of `len` bytes (`len` > 0).
    pub fn zeroed(len: usize) -> io::Result<Arc<Self>> {
        let layout = Layout::array::<u8>(len.max(1))
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "buffer too large"))?;
        // SAFETY: `layout` has a non-zero size (len.max(1)).
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(raw)
            .ok_or_else(|| io::Error::new(io::ErrorKind::OutOfMemory, "heap buffer"))?;
        Ok(Arc::new(Self {
            ptr,
            len,
            writer_active: AtomicBool::new(false),
        }))
    }

    /// A buffer holding a copy of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> io::Result<Arc<Self>> {
        let buffer = Self::zeroed(bytes.len())?;
        // SAFETY: the buffer was just allocated with `bytes.len()` bytes and nothing
        // else can reference it yet.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buffer.ptr.as_ptr(), bytes.len()) };
        Ok(buffer)
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the buffer has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies the contents out. Needs exclusive ownership (`Arc::get_mut` succeeded or
    /// the caller holds the only handle), which rules out a concurrent writer.
    pub fn to_vec(self: &mut Arc<Self>) -> Option<Vec<u8>> {
        let this = Arc::get_mut(self)?;
        // SAFETY: `get_mut` proves no mapping or writer holds the buffer; `len` bytes
        // were allocated at `ptr`.
        Some(unsafe { std::slice::from_raw_parts(this.ptr.as_ptr(), this.len) }.to_vec())
    }

    /// Mutable access to the contents when nothing else holds the buffer (tests use it
    /// to damage a stored file).
    pub fn bytes_mut(self: &mut Arc<Self>) -> Option<&mut [u8]> {
        let this = Arc::get_mut(self)?;
        // SAFETY: exclusive access proven by `get_mut`; `len` bytes live at `ptr`.
        Some(unsafe { std::slice::from_raw_parts_mut(this.ptr.as_ptr(), this.len) })
    }
}

impl Drop for HeapBuffer {
    fn drop(&mut self) {
        let layout = Layout::array::<u8>(self.len.max(1)).expect("layout was valid at allocation");
        // SAFETY: `ptr` came from `alloc_zeroed` with this same layout and is freed once.
        unsafe { dealloc(self.ptr.as_ptr(), layout) };
    }
}

impl fmt::Debug for HeapBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeapBuffer")
            .field("len", &self.len)
            .finish()
    }
}

/// A fixed-length byte region shared by readers and at most one writer.
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    readable_start: usize,
    frontier: AtomicUsize,
    writer_taken: AtomicBool,
    access: Access,
    backing: Backing,
}

// SAFETY: the raw pointer refers to memory owned by `backing` for the mapping's whole
// life; concurrent access follows the published/unpublished split in the module doc.
unsafe impl Send for Mapping {}
// SAFETY: shared references only read published bytes, which are immutable.
unsafe impl Sync for Mapping {}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping")
            .field("len", &self.len)
            .field("readable_start", &self.readable_start)
            .field("frontier", &self.frontier())
            .field("access", &self.access)
            .finish()
    }
}

/// What a writer did wrong: a write outside the bytes it may touch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "write of {len} bytes at offset {offset} is outside the writable area of a {mapping_len}-byte mapping (frontier {frontier}, header area {readable_start})"
)]
pub struct WriteOutOfBounds {
    /// Offset of the refused write.
    pub offset: usize,
    /// Length of the refused write.
    pub len: usize,
    /// The frontier at the time.
    pub frontier: usize,
    /// End of the header area.
    pub readable_start: usize,
    /// Length of the mapping.
    pub mapping_len: usize,
}

impl Mapping {
    /// Maps `len` bytes of `file` (which must be at least that long and never be
    /// truncated while mapped). With [`Access::ReadWrite`], bytes in
    /// `[0, readable_start)` are the writer's header area and nothing is published yet;
    /// with [`Access::ReadOnly`], everything is published.
    pub fn map_file(
        file: &File,
        len: usize,
        access: Access,
        readable_start: usize,
    ) -> io::Result<Arc<Self>> {
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot map an empty file",
            ));
        }
        let actual = file.metadata()?.len();
        if actual < len as u64 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("file is {actual} bytes, shorter than the {len} bytes to map"),
            ));
        }
        let mut options = memmap2::MmapOptions::new();
        options.len(len);
        let raw = match access {
            Access::ReadOnly => options.map_raw_read_only(file)?,
            Access::ReadWrite => options.map_raw(file)?,
        };
        let ptr = NonNull::new(raw.as_mut_ptr())
            .ok_or_else(|| io::Error::other("mmap returned a null pointer"))?;
        Ok(Arc::new(Self::new(
            ptr,
            len,
            access,
            readable_start,
            Backing::Mmap(raw),
        )))
    }

    /// A mapping over a heap buffer (the in-memory backend's files).
    pub fn map_heap(
        buffer: Arc<HeapBuffer>,
        access: Access,
        readable_start: usize,
    ) -> io::Result<Arc<Self>> {
        if buffer.len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot map an empty file",
            ));
        }
        let (ptr, len) = (buffer.ptr, buffer.len);
        Ok(Arc::new(Self::new(
            ptr,
            len,
            access,
            readable_start,
            Backing::Heap(buffer),
        )))
    }

    fn new(
        ptr: NonNull<u8>,
        len: usize,
        access: Access,
        readable_start: usize,
        backing: Backing,
    ) -> Self {
        let (readable_start, frontier) = match access {
            Access::ReadOnly => (0, len),
            Access::ReadWrite => {
                let start = readable_start.min(len);
                (start, start)
            }
        };
        Self {
            ptr,
            len,
            readable_start,
            frontier: AtomicUsize::new(frontier),
            writer_taken: AtomicBool::new(false),
            access,
            backing,
        }
    }

    /// Length of the region in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a zero-length region (never created; kept for API completeness).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// End of the published bytes (acquire: bytes below it are fully written).
    pub fn frontier(&self) -> usize {
        self.frontier.load(Ordering::Acquire)
    }

    /// Start of the bytes readers may borrow.
    pub fn readable_start(&self) -> usize {
        self.readable_start
    }

    /// Published bytes in `range`, or `None` if any part of it is not published.
    #[inline]
    pub fn bytes(&self, range: Range<usize>) -> Option<&[u8]> {
        if range.start < self.readable_start || range.start > range.end {
            return None;
        }
        if range.end > self.frontier.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: `range` lies inside `[readable_start, frontier)`, which is inside the
        // region (frontier <= len) and is never written again while `self` lives (module
        // invariants); the acquire load above orders the writer's stores before this read.
        Some(unsafe {
            std::slice::from_raw_parts(self.ptr.as_ptr().add(range.start), range.end - range.start)
        })
    }

    /// Takes the single writer of a read-write mapping; `None` if it is read-only or a
    /// writer already exists (for a heap buffer: on any mapping of that buffer).
    pub fn take_writer(self: &Arc<Self>) -> Option<MappingWriter> {
        if self.access != Access::ReadWrite {
            return None;
        }
        if self.writer_taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        if let Backing::Heap(buffer) = &self.backing
            && buffer.writer_active.swap(true, Ordering::AcqRel)
        {
            // Another mapping of the buffer has the writer; this one may get it later.
            self.writer_taken.store(false, Ordering::Release);
            return None;
        }
        Some(MappingWriter {
            mapping: Arc::clone(self),
        })
    }

    /// Hints the kernel to read the region ahead (best effort; heap regions ignore it).
    pub fn advise_will_need(&self) {
        if let Backing::Mmap(raw) = &self.backing {
            let _ = raw.advise(memmap2::Advice::WillNeed);
        }
    }
}

/// The single writer of a [`Mapping`]. Not `Clone`; dropping it releases the right to
/// write (published bytes stay published).
pub struct MappingWriter {
    mapping: Arc<Mapping>,
}

impl fmt::Debug for MappingWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MappingWriter")
            .field("mapping", &self.mapping)
            .finish()
    }
}

impl MappingWriter {
    /// The mapping this writer writes.
    pub fn mapping(&self) -> &Arc<Mapping> {
        &self.mapping
    }

    /// Checks that `len` bytes at `offset` may be written: in the header area, or at or
    /// above the frontier and inside the region. Writers that write the bytes by other
    /// means (a pwrite to the mapped file) check with this first.
    pub fn check_writable(&self, offset: usize, len: usize) -> Result<(), WriteOutOfBounds> {
        let m = &self.mapping;
        let frontier = m.frontier.load(Ordering::Relaxed);
        let end = offset.checked_add(len);
        let in_header = end.is_some_and(|end| end <= m.readable_start);
        let in_tail = offset >= frontier && end.is_some_and(|end| end <= m.len);
        if in_header || in_tail {
            Ok(())
        } else {
            Err(WriteOutOfBounds {
                offset,
                len,
                frontier,
                readable_start: m.readable_start,
                mapping_len: m.len,
            })
        }
    }

    /// Copies `bytes` to `offset`, which must lie in the header area or at or above the
    /// frontier.
    #[inline]
    pub fn write(&mut self, offset: usize, bytes: &[u8]) -> Result<(), WriteOutOfBounds> {
        self.check_writable(offset, bytes.len())?;
        // SAFETY: the range is inside the region and outside the published bytes
        // (checked above), so no reader can hold a borrow of it; `&mut self` makes this
        // the only writer and rules out a live `peek` view.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.mapping.ptr.as_ptr().add(offset),
                bytes.len(),
            )
        };
        Ok(())
    }

    /// Sets `len` bytes at `offset` to zero (same bounds as [`write`](Self::write)).
    pub fn zero(&mut self, offset: usize, len: usize) -> Result<(), WriteOutOfBounds> {
        self.check_writable(offset, len)?;
        // SAFETY: as in `write`: inside the region, outside published bytes, sole writer.
        unsafe { std::ptr::write_bytes(self.mapping.ptr.as_ptr().add(offset), 0, len) };
        Ok(())
    }

    /// Borrows bytes in `range` (published or not) for the writer's own reading, e.g.
    /// recovery scanning a tail before publishing it. `None` if out of the region.
    #[inline]
    pub fn peek(&self, range: Range<usize>) -> Option<&[u8]> {
        if range.start > range.end || range.end > self.mapping.len {
            return None;
        }
        // SAFETY: in bounds (checked). Published bytes are immutable; unpublished bytes
        // are written only through `&mut self`, which cannot coexist with this borrow.
        Some(unsafe {
            std::slice::from_raw_parts(
                self.mapping.ptr.as_ptr().add(range.start),
                range.end - range.start,
            )
        })
    }

    /// Publishes everything below `frontier` (release). The frontier never moves back:
    /// a smaller value is ignored. Values past the end are clamped to the length.
    #[inline]
    pub fn publish(&mut self, frontier: usize) {
        let frontier = frontier.min(self.mapping.len);
        if frontier > self.mapping.frontier.load(Ordering::Relaxed) {
            self.mapping.frontier.store(frontier, Ordering::Release);
        }
    }
}

impl Drop for MappingWriter {
    fn drop(&mut self) {
        self.mapping.writer_taken.store(false, Ordering::Release);
        if let Backing::Heap(buffer) = &self.mapping.backing {
            buffer.writer_active.store(false, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_see_only_published_bytes() {
        let buffer = HeapBuffer::zeroed(64).unwrap();
        let mapping = Mapping::map_heap(buffer, Access::ReadWrite, 8).unwrap();
        let mut writer = mapping.take_writer().unwrap();
        assert!(mapping.take_writer().is_none(), "second writer refused");
        writer.write(8, b"hello").unwrap();
        assert_eq!(mapping.bytes(8..13), None, "not yet published");
        writer.publish(13);
        assert_eq!(mapping.bytes(8..13), Some(&b"hello"[..]));
        assert_eq!(
            mapping.bytes(0..4),
            None,
            "header area is never lent to readers"
        );
        assert_eq!(mapping.bytes(12..20), None, "past the frontier");
    }

    #[test]
    fn writer_cannot_touch_published_bytes() {
        let buffer = HeapBuffer::zeroed(64).unwrap();
        let mapping = Mapping::map_heap(buffer, Access::ReadWrite, 8).unwrap();
        let mut writer = mapping.take_writer().unwrap();
        writer.write(8, &[1; 16]).unwrap();
        writer.publish(24);
        let err = writer.write(20, &[2; 8]).unwrap_err();
        assert_eq!(err.frontier, 24);
        assert!(
            writer.write(0, &[9; 8]).is_ok(),
            "header area stays writable"
        );
        assert!(writer.write(60, &[0; 8]).is_err(), "past the end");
        assert!(
            writer.write(usize::MAX, &[0; 8]).is_err(),
            "overflowing offset"
        );
        writer.publish(10);
        assert_eq!(mapping.frontier(), 24, "frontier never moves back");
        assert_eq!(writer.peek(0..8).unwrap(), &[9; 8]);
    }

    #[test]
    fn one_writer_per_heap_buffer_across_mappings() {
        let buffer = HeapBuffer::zeroed(32).unwrap();
        let a = Mapping::map_heap(Arc::clone(&buffer), Access::ReadWrite, 0).unwrap();
        let b = Mapping::map_heap(Arc::clone(&buffer), Access::ReadWrite, 0).unwrap();
        let writer = a.take_writer().unwrap();
        assert!(b.take_writer().is_none());
        drop(writer);
        assert!(b.take_writer().is_some(), "released when the writer drops");
    }

    #[test]
    fn read_only_mapping_publishes_everything() {
        let buffer = HeapBuffer::from_bytes(b"abcdef").unwrap();
        let mapping = Mapping::map_heap(buffer, Access::ReadOnly, 4).unwrap();
        assert_eq!(mapping.bytes(0..6), Some(&b"abcdef"[..]));
        assert!(mapping.take_writer().is_none());
    }

    #[test]
    fn file_mapping_outlives_unlink() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut file = File::create(&path).unwrap();
        file.write_all(b"0123456789").unwrap();
        let file = File::open(&path).unwrap();
        let mapping = Mapping::map_file(&file, 10, Access::ReadOnly, 0).unwrap();
        drop(file);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(mapping.bytes(2..5), Some(&b"234"[..]));
        let short = File::create(dir.path().join("g")).unwrap();
        assert!(Mapping::map_file(&short, 10, Access::ReadOnly, 0).is_err());
    }
}
