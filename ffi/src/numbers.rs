//! 128-bit numbers (sequence numbers, hash keys) as decimal text, and the helpers C
//! callers need to do arithmetic on them (split points, comparisons).
//!
//! Invariant: the decimal form has no sign, no spaces, no leading zeros (except "0"),
//! and at most 39 digits; parsing accepts exactly the engine's rule (1 to 39 digits,
//! value at most 2^128 - 1).

use std::ffi::{CStr, c_char};

use tidelog_core::stream::hashkey::parse_hash_key;

use crate::abi::TIDELOG_SEQUENCE_NUMBER_BUFFER_SIZE;
use crate::args::{self, Out};
use crate::boundary;
use crate::status::{FfiError, tidelog_status};

/// `value` in decimal, NUL-terminated, in a fixed buffer (no allocation: this runs once
/// per record read). The value is cut into at most three chunks of 19 digits with two
/// 128-bit divisions, and each chunk is written with 64-bit arithmetic (a 128-bit
/// division per digit made this most of `tidelog_batch_record`'s time).
pub fn decimal(value: u128) -> [c_char; TIDELOG_SEQUENCE_NUMBER_BUFFER_SIZE] {
    const CHUNK: u128 = 10_000_000_000_000_000_000; // 10^19: the largest power of ten in a u64
    let low = (value % CHUNK) as u64;
    let rest = value / CHUNK;
    let chunks = [(rest / CHUNK) as u64, (rest % CHUNK) as u64, low];
    let first = chunks.iter().position(|&c| c != 0).unwrap_or(2);
    let mut out = [0 as c_char; TIDELOG_SEQUENCE_NUMBER_BUFFER_SIZE];
    let mut len = 0;
    for (i, &chunk) in chunks.iter().enumerate().skip(first) {
        // The leading chunk without leading zeros; the others padded to 19 digits.
        let width = if i == first {
            chunk.checked_ilog10().map_or(1, |d| d as usize + 1)
        } else {
            19
        };
        let mut n = chunk;
        for slot in out[len..len + width].iter_mut().rev() {
            *slot = (b'0' + (n % 10) as u8) as c_char;
            n /= 10;
        }
        len += width;
    }
    out
}

/// Parses a decimal 128-bit number (1 to 39 digits, at most 2^128 - 1) into its high
/// and low 64 bits. Returns `TIDELOG_STATUS_VALIDATION` for anything else. Thread-safe.
///
/// - `text`: NUL-terminated; read during the call only.
/// - `high_out`, `low_out`: receive the value's bits 127-64 and 63-0.
///
/// # Safety
/// `text` is NULL or NUL-terminated; the out-pointers are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_u128_parse(
    text: *const c_char,
    high_out: *mut u64,
    low_out: *mut u64,
) -> tidelog_status {
    boundary::call(|| {
        // SAFETY: contract: NULL or writable.
        let high = unsafe { Out::new(high_out, "high_out") }?;
        // SAFETY: contract: NULL or writable.
        let low = unsafe { Out::new(low_out, "low_out") }?;
        // SAFETY: contract: NULL or NUL-terminated.
        let text = unsafe { args::string(text, "text") }?;
        let value = parse_hash_key(text).ok_or_else(|| {
            FfiError::new(
                tidelog_status::Validation,
                format!("{text:?} is not a decimal integer in [0, 2^128 - 1]"),
            )
        })?;
        high.write((value >> 64) as u64);
        low.write(value as u64);
        Ok(())
    })
}

/// Writes the 128-bit number `(high << 64) | low` in decimal, NUL-terminated, into
/// `buf` of `buf_len` bytes; `TIDELOG_SEQUENCE_NUMBER_BUFFER_SIZE` (40) always
/// suffices. A smaller buffer that cannot hold it gives
/// `TIDELOG_STATUS_BUFFER_TOO_SMALL`. Thread-safe.
///
/// # Safety
/// `buf` is NULL or valid for writes of `buf_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tidelog_u128_format(
    high: u64,
    low: u64,
    buf: *mut c_char,
    buf_len: usize,
) -> tidelog_status {
    boundary::call(|| {
        let value = (u128::from(high) << 64) | u128::from(low);
        let text = decimal(value);
        // SAFETY: `decimal` NUL-terminates within the array.
        let text = unsafe { CStr::from_ptr(text.as_ptr()) };
        // SAFETY: contract: `buf` is NULL or writable for `buf_len` bytes.
        unsafe { args::copy_to_buffer(text, buf, buf_len, "buf") }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: u128) -> String {
        let buf = decimal(value);
        buf.iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8 as char)
            .collect()
    }

    #[test]
    fn decimal_matches_the_standard_formatting() {
        let powers = (0..39).flat_map(|e| {
            let p = 10u128.pow(e);
            [p - 1, p, p + 1]
        });
        let edges = [0, 1, 9, 10, 12345, u64::MAX as u128, u128::MAX, 1 << 127];
        // A cheap deterministic spread over the whole range too.
        let mut x = 0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835u128;
        let spread = (0..10_000).map(move |_| {
            x ^= x << 23;
            x ^= x >> 17;
            x ^= x << 5;
            x >> (x % 128) as u32
        });
        for value in powers.chain(edges).chain(spread) {
            assert_eq!(text(value), value.to_string());
        }
    }

    #[test]
    fn parse_and_format_round_trip_through_the_exports() {
        let (mut high, mut low) = (0u64, 0u64);
        let max = c"340282366920938463463374607431768211455";
        // SAFETY: live NUL-terminated text and live out-pointers.
        let status = unsafe { tidelog_u128_parse(max.as_ptr(), &mut high, &mut low) };
        assert_eq!(status, tidelog_status::Ok);
        assert_eq!((high, low), (u64::MAX, u64::MAX));
        let mut buf = [0 as c_char; 40];
        // SAFETY: a live 40-byte buffer.
        let status = unsafe { tidelog_u128_format(high, low, buf.as_mut_ptr(), buf.len()) };
        assert_eq!(status, tidelog_status::Ok);
        // SAFETY: the format NUL-terminated it.
        assert_eq!(unsafe { CStr::from_ptr(buf.as_ptr()) }, max);
        // SAFETY: the buffer is 40 bytes; 39 digits + NUL do not fit in 39.
        let status = unsafe { tidelog_u128_format(high, low, buf.as_mut_ptr(), 39) };
        assert_eq!(status, tidelog_status::BufferTooSmall);
        let over = c"340282366920938463463374607431768211456";
        // SAFETY: as above.
        let status = unsafe { tidelog_u128_parse(over.as_ptr(), &mut high, &mut low) };
        assert_eq!(status, tidelog_status::Validation);
    }
}
