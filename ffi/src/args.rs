//! Reading and writing caller memory: the one module that turns raw pointers from C
//! into Rust values, with every check the ABI promises.
//!
//! - Strings: NULL is refused (or `None` where optional); the NUL is searched within
//!   `TIDELOG_STRING_BYTES_MAX` bytes (so an unterminated buffer is never scanned
//!   without bound); the bytes must be UTF-8.
//! - Byte buffers: a NULL pointer is allowed only with length 0; the length is checked
//!   against its bound before a slice is formed.
//! - Out-pointers are checked for NULL before the call has any effect ([`Out`]).
//! - Structs with `struct_size` (growable structs): an input struct is read as
//!   `min(struct_size, sizeof)` bytes over the defaults, and any bytes the caller has
//!   beyond what this library knows must be zero; an output struct is written as
//!   `min(struct_size, sizeof)` bytes, leaving the caller's `struct_size` and any
//!   bytes beyond it untouched. `struct_size` must be at least the struct's first
//!   published size and at most `TIDELOG_STRUCT_SIZE_MAX`.
//!
//! Every function that takes a raw pointer is `unsafe`: its caller (an export)
//! asserts, in a `// SAFETY:` comment, the contract the export documents for C.

use std::ffi::{CStr, c_char};
use std::marker::PhantomData;
use std::mem::size_of;
use std::ptr::NonNull;

use crate::abi::{TIDELOG_STRING_BYTES_MAX, TIDELOG_STRUCT_SIZE_MAX};
use crate::status::{FfiError, FfiResult, tidelog_status};

/// A NUL-terminated UTF-8 argument.
///
/// # Safety
/// `ptr` is NULL or points to bytes readable up to and including a NUL, or to at least
/// `TIDELOG_STRING_BYTES_MAX + 1` readable bytes; they stay unchanged for `'a`.
pub unsafe fn string<'a>(ptr: *const c_char, what: &str) -> FfiResult<&'a str> {
    // SAFETY: forwarded from this function's contract.
    unsafe { opt_string(ptr, what) }?.ok_or_else(|| FfiError::null(what))
}

/// An optional NUL-terminated UTF-8 argument (NULL gives `None`).
///
/// # Safety
/// As [`string`].
pub unsafe fn opt_string<'a>(ptr: *const c_char, what: &str) -> FfiResult<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    let bytes = ptr.cast::<u8>();
    let mut len = 0usize;
    loop {
        if len > TIDELOG_STRING_BYTES_MAX {
            return Err(FfiError::new(
                tidelog_status::OutOfRange,
                format!("{what} has no NUL within {TIDELOG_STRING_BYTES_MAX} bytes"),
            ));
        }
        // SAFETY: the contract makes every byte up to the NUL (or the bound) readable;
        // `len` has not passed either.
        if unsafe { bytes.add(len).read() } == 0 {
            break;
        }
        len += 1;
    }
    // SAFETY: `len` bytes before the NUL were just read, so they are readable; the
    // contract keeps them unchanged for 'a.
    let slice = unsafe { std::slice::from_raw_parts(bytes, len) };
    std::str::from_utf8(slice).map(Some).map_err(|e| {
        FfiError::new(
            tidelog_status::InvalidUtf8,
            format!(
                "{what} is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// A NUL-terminated UTF-8 argument that may be longer than `TIDELOG_STRING_BYTES_MAX`
/// (SQL text, a schema): the NUL is searched within `max` bytes.
///
/// # Safety
/// `ptr` is NULL or points to bytes readable up to and including a NUL, or to at least
/// `max + 1` readable bytes; they stay unchanged for `'a`.
pub unsafe fn long_string<'a>(ptr: *const c_char, max: usize, what: &str) -> FfiResult<&'a str> {
    if ptr.is_null() {
        return Err(FfiError::null(what));
    }
    let bytes = ptr.cast::<u8>();
    let mut len = 0usize;
    loop {
        if len > max {
            return Err(FfiError::new(
                tidelog_status::OutOfRange,
                format!("{what} has no NUL within {max} bytes"),
            ));
        }
        // SAFETY: the contract makes every byte up to the NUL (or the bound) readable;
        // `len` has not passed either.
        if unsafe { bytes.add(len).read() } == 0 {
            break;
        }
        len += 1;
    }
    // SAFETY: `len` bytes before the NUL were just read, so they are readable; the
    // contract keeps them unchanged for 'a.
    let slice = unsafe { std::slice::from_raw_parts(bytes, len) };
    std::str::from_utf8(slice).map_err(|e| {
        FfiError::new(
            tidelog_status::InvalidUtf8,
            format!(
                "{what} is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// A byte buffer argument of `len` bytes, at most `max`.
///
/// # Safety
/// `ptr` is NULL (then `len` must be 0) or valid for reads of `len` bytes, unchanged
/// for `'a`.
pub unsafe fn bytes<'a>(ptr: *const u8, len: usize, max: usize, what: &str) -> FfiResult<&'a [u8]> {
    if len > max {
        return Err(FfiError::new(
            tidelog_status::OutOfRange,
            format!("{what} length {len} is above the bound of {max} bytes"),
        ));
    }
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(FfiError::null(what));
    }
    // SAFETY: non-NULL, `len` readable bytes by the contract, and `len` <= max, which
    // is far below isize::MAX.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// An array of `count` (at most `max`) NUL-terminated strings.
///
/// # Safety
/// `ptr` is NULL (then `count` must be 0) or valid for reads of `count` pointers, each
/// meeting [`string`]'s contract.
pub unsafe fn string_array<'a>(
    ptr: *const *const c_char,
    count: usize,
    max: usize,
    what: &str,
) -> FfiResult<Vec<&'a str>> {
    if count > max {
        return Err(FfiError::new(
            tidelog_status::OutOfRange,
            format!("{what} count {count} is above the bound of {max}"),
        ));
    }
    if count == 0 {
        return Ok(Vec::new());
    }
    if ptr.is_null() {
        return Err(FfiError::null(what));
    }
    (0..count)
        .map(|i| {
            // SAFETY: i < count, and `count` pointers are readable by the contract.
            let item = unsafe { ptr.add(i).read() };
            // SAFETY: each pointer meets `string`'s contract.
            unsafe { string(item, &format!("{what}[{i}]")) }
        })
        .collect()
}

/// A required out-pointer, checked for NULL up front; written at most once, at the
/// end of a successful call.
pub struct Out<'a, T> {
    ptr: NonNull<T>,
    _life: PhantomData<&'a mut T>,
}

impl<T> Out<'_, T> {
    /// Checks `ptr`.
    ///
    /// # Safety
    /// `ptr` is NULL or valid for a write of one `T` (alignment included) for `'a`.
    pub unsafe fn new(ptr: *mut T, what: &str) -> FfiResult<Self> {
        let ptr = NonNull::new(ptr).ok_or_else(|| FfiError::null(what))?;
        Ok(Self {
            ptr,
            _life: PhantomData,
        })
    }

    /// Checks an optional out-pointer (NULL gives `None`: the value is not wanted).
    ///
    /// # Safety
    /// As [`Out::new`].
    pub unsafe fn optional(ptr: *mut T) -> Option<Self> {
        NonNull::new(ptr).map(|ptr| Self {
            ptr,
            _life: PhantomData,
        })
    }

    /// Stores the value (may be called again to replace it).
    pub fn write(&self, value: T) {
        // SAFETY: `new` checked non-NULL; its contract makes the pointee writable.
        // `write` does not drop the old (possibly uninitialised) value.
        unsafe { self.ptr.as_ptr().write(value) }
    }
}

/// Stores NULL in a handle out-pointer, runs `make`, and stores the handle it made:
/// the caller sees NULL unless the call succeeds.
pub fn produce<H>(out: Out<'_, *mut H>, make: impl FnOnce() -> FfiResult<*mut H>) -> FfiResult<()> {
    out.write(std::ptr::null_mut());
    out.write(make()?);
    Ok(())
}

/// Marks a `#[repr(C)]` struct that starts with `struct_size: usize`.
///
/// # Safety
/// The implementing type is `#[repr(C)]`, its first field is `struct_size: usize`,
/// and if it is [`InStruct`], every bit pattern of its bytes is a valid value (its
/// fields are integers and raw pointers only).
pub unsafe trait SizedStruct: Copy {
    /// The struct's size in its first published version: the smallest `struct_size`
    /// accepted. (Fields are only ever added at the end.)
    const MIN_SIZE: usize;
}

/// Marks a [`SizedStruct`] the caller fills (read by tidelog).
pub trait InStruct: SizedStruct {}

fn check_struct_size<T: SizedStruct>(size: usize, what: &str) -> FfiResult<()> {
    if size < T::MIN_SIZE || size > TIDELOG_STRUCT_SIZE_MAX {
        return Err(FfiError::new(
            tidelog_status::BadStructSize,
            format!(
                "{what}->struct_size is {size}; this library accepts {} to {} (set it to sizeof the struct)",
                T::MIN_SIZE,
                TIDELOG_STRUCT_SIZE_MAX
            ),
        ));
    }
    Ok(())
}

/// Reads an input struct (see the module doc): `defaults` where the caller's struct is
/// shorter; refuses unknown non-zero trailing bytes.
///
/// # Safety
/// `ptr` is NULL or points to a readable `usize` and then to `struct_size` readable
/// bytes in all (struct_size is its first field).
pub unsafe fn read_struct<T: InStruct>(ptr: *const T, defaults: T, what: &str) -> FfiResult<T> {
    if ptr.is_null() {
        return Err(FfiError::null(what));
    }
    // SAFETY: the first field is a usize the contract makes readable; read_unaligned
    // needs no alignment.
    let size = unsafe { ptr.cast::<usize>().read_unaligned() };
    check_struct_size::<T>(size, what)?;
    let known = size.min(size_of::<T>());
    let base = ptr.cast::<u8>();
    for offset in known..size {
        // SAFETY: offset < struct_size bytes, readable by the contract.
        if unsafe { base.add(offset).read() } != 0 {
            return Err(FfiError::new(
                tidelog_status::BadStructSize,
                format!(
                    "{what} has a non-zero byte at offset {offset}, past the {} bytes this library knows: a field from a newer header is set",
                    size_of::<T>()
                ),
            ));
        }
    }
    let mut value = defaults;
    // SAFETY: `known` bytes are readable at `base` (known <= struct_size) and writable
    // in `value` (known <= size_of::<T>()); the regions are distinct; every bit
    // pattern is a valid T (InStruct's contract).
    unsafe {
        std::ptr::copy_nonoverlapping(base, (&raw mut value).cast::<u8>(), known);
    }
    Ok(value)
}

/// An array of input structs whose stride is the first element's `struct_size`;
/// every element must carry the same `struct_size`.
///
/// # Safety
/// `ptr` is NULL (then `count` must be 0) or points to `count` elements of
/// `ptr->struct_size` bytes each, readable.
pub unsafe fn read_struct_array<T: InStruct>(
    ptr: *const T,
    count: usize,
    max: usize,
    defaults: T,
    what: &str,
) -> FfiResult<Vec<T>> {
    if count > max {
        return Err(FfiError::new(
            tidelog_status::OutOfRange,
            format!("{what} count {count} is above the bound of {max}"),
        ));
    }
    if count == 0 {
        return Ok(Vec::new());
    }
    if ptr.is_null() {
        return Err(FfiError::null(what));
    }
    // SAFETY: the first element's struct_size is readable by the contract.
    let stride = unsafe { ptr.cast::<usize>().read_unaligned() };
    check_struct_size::<T>(stride, what)?;
    let base = ptr.cast::<u8>();
    (0..count)
        .map(|i| {
            // SAFETY: element i starts at i * stride (stride <= 4096 and count <= max,
            // so no overflow), within the `count * stride` readable bytes.
            let element = unsafe { base.add(i * stride) }.cast::<T>();
            // SAFETY: as above, the element's first field is readable.
            let size = unsafe { element.cast::<usize>().read_unaligned() };
            let name = format!("{what}[{i}]");
            if size != stride {
                return Err(FfiError::new(
                    tidelog_status::BadStructSize,
                    format!("{name}.struct_size is {size}, not {stride} like element 0"),
                ));
            }
            // SAFETY: the element is `stride` readable bytes starting with struct_size.
            unsafe { read_struct(element, defaults, &name) }
        })
        .collect()
}

/// A checked output struct (see the module doc).
pub struct OutStruct<'a, T> {
    ptr: NonNull<T>,
    size: usize,
    _life: PhantomData<&'a mut T>,
}

impl<T: SizedStruct> OutStruct<'_, T> {
    /// Checks `ptr` and its `struct_size`.
    ///
    /// # Safety
    /// `ptr` is NULL or points to a readable and writable `usize` and then to
    /// `struct_size` writable bytes in all, for `'a`.
    pub unsafe fn new(ptr: *mut T, what: &str) -> FfiResult<Self> {
        let ptr = NonNull::new(ptr).ok_or_else(|| FfiError::null(what))?;
        // SAFETY: the first field is a readable usize by the contract.
        let size = unsafe { ptr.as_ptr().cast::<usize>().read_unaligned() };
        check_struct_size::<T>(size, what)?;
        Ok(Self {
            ptr,
            size,
            _life: PhantomData,
        })
    }

    /// Writes `value`'s first `min(struct_size, sizeof)` bytes, keeping the caller's
    /// `struct_size`.
    pub fn write(self, value: T) {
        let known = self.size.min(size_of::<T>());
        let skip = size_of::<usize>();
        let src = (&raw const value).cast::<u8>();
        // SAFETY: `new` checked the pointer and that `struct_size` >= MIN_SIZE >
        // size_of::<usize>() bytes are writable; bytes [skip, known) exist in both
        // `value` and the caller's struct, which do not overlap. Padding bytes of
        // `value` may be uninitialised: they are copied as bytes into C memory, which
        // C may not read as values anyway.
        unsafe {
            std::ptr::copy_nonoverlapping(
                src.add(skip),
                self.ptr.as_ptr().cast::<u8>().add(skip),
                known - skip,
            );
        }
    }
}

/// Copies `text` into a fixed, NUL-terminated C array (tidelog's own strings fit by
/// construction; one that does not is an internal error, never a truncation).
pub fn fixed<const N: usize>(text: &str) -> FfiResult<[c_char; N]> {
    let mut out = [0 as c_char; N];
    if text.len() >= N || text.as_bytes().contains(&0) {
        return Err(FfiError::new(
            tidelog_status::Internal,
            format!("{text:?} does not fit a {N}-byte field"),
        ));
    }
    for (dst, src) in out.iter_mut().zip(text.bytes()) {
        *dst = src as c_char;
    }
    Ok(out)
}

/// Copies `text` plus a NUL into a caller's buffer of `len` bytes, or reports
/// `BUFFER_TOO_SMALL` naming the size needed.
///
/// # Safety
/// `buf` is NULL (then `len` must be 0) or valid for writes of `len` bytes.
pub unsafe fn copy_to_buffer(
    text: &CStr,
    buf: *mut c_char,
    len: usize,
    what: &str,
) -> FfiResult<()> {
    let needed = text.to_bytes_with_nul().len();
    if len < needed {
        return Err(FfiError::new(
            tidelog_status::BufferTooSmall,
            format!("{what} needs {needed} bytes (NUL included); {len} given"),
        ));
    }
    if buf.is_null() {
        return Err(FfiError::null(what));
    }
    // SAFETY: `needed` <= `len` bytes are writable at `buf` by the contract; the source
    // is a distinct Rust allocation.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf, needed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::tidelog_put_options;

    #[test]
    fn strings_are_bounded_and_checked() {
        // SAFETY: every pointer below comes from a live Rust buffer that ends in a NUL
        // or is longer than the scan bound.
        unsafe {
            assert_eq!(string(c"orders".as_ptr(), "name").unwrap(), "orders");
            assert_eq!(opt_string(std::ptr::null(), "name").unwrap(), None);
            assert_eq!(
                string(std::ptr::null(), "name").unwrap_err().status,
                tidelog_status::NullPointer
            );
            let bad = [b'a', 0xff, 0xfe, 0];
            assert_eq!(
                string(bad.as_ptr().cast(), "name").unwrap_err().status,
                tidelog_status::InvalidUtf8
            );
            let long = vec![b'x'; TIDELOG_STRING_BYTES_MAX + 10];
            assert_eq!(
                string(long.as_ptr().cast(), "name").unwrap_err().status,
                tidelog_status::OutOfRange
            );
            let mut exact = vec![b'x'; TIDELOG_STRING_BYTES_MAX];
            exact.push(0);
            assert_eq!(
                string(exact.as_ptr().cast(), "name").unwrap().len(),
                TIDELOG_STRING_BYTES_MAX
            );
        }
    }

    #[test]
    fn byte_buffers_check_null_and_bounds() {
        // SAFETY: live buffers or NULL with length 0; the oversize case is refused
        // before any read.
        unsafe {
            assert_eq!(bytes(std::ptr::null(), 0, 10, "data").unwrap(), b"");
            assert_eq!(
                bytes(std::ptr::null(), 1, 10, "data").unwrap_err().status,
                tidelog_status::NullPointer
            );
            let data = [1u8, 2, 3];
            assert_eq!(bytes(data.as_ptr(), 3, 10, "data").unwrap(), &data);
            assert_eq!(
                bytes(data.as_ptr(), usize::MAX, 10, "data")
                    .unwrap_err()
                    .status,
                tidelog_status::OutOfRange
            );
        }
    }

    fn defaults() -> tidelog_put_options {
        tidelog_put_options {
            struct_size: size_of::<tidelog_put_options>(),
            explicit_hash_key: std::ptr::null(),
            sequence_number_for_ordering: std::ptr::null(),
            durability: 0,
        }
    }

    #[test]
    fn input_structs_grow_without_breaking() {
        let mut options = defaults();
        options.durability = 2;
        // SAFETY: a live struct of the size it states.
        let read = unsafe { read_struct(&options, defaults(), "options") }.unwrap();
        assert_eq!(read.durability, 2);

        // A newer caller: larger struct, unknown tail zero (accepted) or set (refused).
        #[repr(C)]
        #[derive(Clone, Copy)]
        struct Newer {
            base: tidelog_put_options,
            extra: u64,
        }
        let mut newer = Newer {
            base: options,
            extra: 0,
        };
        newer.base.struct_size = size_of::<Newer>();
        let ptr = (&raw const newer).cast::<tidelog_put_options>();
        // SAFETY: `ptr` points to a live Newer of the size it states.
        let read = unsafe { read_struct(ptr, defaults(), "options") }.unwrap();
        assert_eq!(read.durability, 2);
        newer.extra = 1;
        let ptr = (&raw const newer).cast::<tidelog_put_options>();
        // SAFETY: as above.
        let err = unsafe { read_struct(ptr, defaults(), "options") }.unwrap_err();
        assert_eq!(err.status, tidelog_status::BadStructSize);

        for size in [0, 7, size_of::<tidelog_put_options>() - 1, 5000] {
            options.struct_size = size;
            // SAFETY: refused on struct_size before reading past it.
            let err = unsafe { read_struct(&options, defaults(), "options") }.unwrap_err();
            assert_eq!(err.status, tidelog_status::BadStructSize, "size {size}");
        }
    }

    #[test]
    fn fixed_fields_never_truncate() {
        let f: [c_char; 8] = fixed("abc").unwrap();
        assert_eq!(f[..4], [b'a' as c_char, b'b' as c_char, b'c' as c_char, 0]);
        assert!(fixed::<4>("abcd").is_err());
    }
}
