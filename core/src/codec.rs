//! The byte codec of tidelog's own binary files (the stream catalog, the queue
//! catalog and journals): little-endian integers and length-prefixed UTF-8 strings,
//! written into a `Vec` and read back with every length checked.
//!
//! Invariant: a read never panics and never reads past its buffer. A buffer that ends
//! inside a field is [`CatalogDecodeError::Truncated`]; a length over its limit or text
//! that is not UTF-8 is [`CatalogDecodeError::Invalid`]; both name the field.
#![forbid(unsafe_code)]

use crate::stream::catalog::CatalogDecodeError;

/// Appends fields to a byte buffer (`.0`).
pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(crate) fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u128(&mut self, v: u128) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    /// A string behind a u16 byte length (the stream catalog's form).
    pub(crate) fn str16(&mut self, s: &str) {
        self.u16(s.len() as u16);
        self.0.extend_from_slice(s.as_bytes());
    }
    /// A string behind a u32 byte length (the queue files' form).
    pub(crate) fn str32(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
}

/// Reads fields from a byte buffer, front to back.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }
    pub(crate) fn take(
        &mut self,
        n: usize,
        field: &'static str,
    ) -> Result<&'a [u8], CatalogDecodeError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(CatalogDecodeError::Truncated { field })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }
    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], CatalogDecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, CatalogDecodeError> {
        Ok(self.take(1, field)?[0])
    }
    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, CatalogDecodeError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }
    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, CatalogDecodeError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }
    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, CatalogDecodeError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }
    pub(crate) fn u128(&mut self, field: &'static str) -> Result<u128, CatalogDecodeError> {
        Ok(u128::from_le_bytes(self.array(field)?))
    }
    /// A [`Writer::str16`] string of at most `max_chars` characters.
    pub(crate) fn str16(
        &mut self,
        field: &'static str,
        max_chars: usize,
    ) -> Result<String, CatalogDecodeError> {
        let len = self.u16(field)? as usize;
        if len > max_chars * 4 {
            return Err(CatalogDecodeError::Invalid { field });
        }
        let text = self.utf8(len, field)?;
        if text.chars().count() > max_chars {
            return Err(CatalogDecodeError::Invalid { field });
        }
        Ok(text.to_string())
    }
    /// A [`Writer::str32`] string of at most `max_bytes` bytes.
    pub(crate) fn str32(
        &mut self,
        field: &'static str,
        max_bytes: usize,
    ) -> Result<String, CatalogDecodeError> {
        let len = self.u32(field)? as usize;
        if len > max_bytes {
            return Err(CatalogDecodeError::Invalid { field });
        }
        Ok(self.utf8(len, field)?.to_string())
    }
    fn utf8(&mut self, len: usize, field: &'static str) -> Result<&'a str, CatalogDecodeError> {
        std::str::from_utf8(self.take(len, field)?)
            .map_err(|_| CatalogDecodeError::Invalid { field })
    }
    /// A u32 count of at most `max`.
    pub(crate) fn count(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<usize, CatalogDecodeError> {
        let n = self.u32(field)? as usize;
        if n > max {
            return Err(CatalogDecodeError::Invalid { field });
        }
        Ok(n)
    }
    /// True once every byte has been read.
    pub(crate) fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_short_or_oversized_input_is_refused() {
        let mut w = Writer(Vec::new());
        w.u8(7);
        w.u16(0xBEEF);
        w.u32(0xDEAD_BEEF);
        w.u64(u64::MAX - 1);
        w.u128(u128::MAX / 3);
        w.str16("héllo");
        w.str32("wörld");
        let bytes = w.0;
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8("a").unwrap(), 7);
        assert_eq!(r.u16("b").unwrap(), 0xBEEF);
        assert_eq!(r.u32("c").unwrap(), 0xDEAD_BEEF);
        assert_eq!(r.u64("d").unwrap(), u64::MAX - 1);
        assert_eq!(r.u128("e").unwrap(), u128::MAX / 3);
        assert_eq!(r.str16("f", 5).unwrap(), "héllo");
        assert!(!r.done());
        assert_eq!(r.str32("g", 6).unwrap(), "wörld");
        assert!(r.done());
        // Every shorter prefix ends inside some field.
        for cut in 0..bytes.len() {
            let mut r = Reader::new(&bytes[..cut]);
            let all = (|| {
                r.u8("a")?;
                r.u16("b")?;
                r.u32("c")?;
                r.u64("d")?;
                r.u128("e")?;
                r.str16("f", 5)?;
                r.str32("g", 6)
            })();
            assert!(
                matches!(all, Err(CatalogDecodeError::Truncated { .. })),
                "{cut}"
            );
        }
        // Limits: characters for str16, bytes for str32.
        let mut r = Reader::new(&bytes[31..]);
        assert!(matches!(
            r.str16("f", 4),
            Err(CatalogDecodeError::Invalid { field: "f" })
        ));
        let mut w = Writer(Vec::new());
        w.str32("wörld");
        w.u32(1);
        w.0.push(0xFF);
        let mut r = Reader::new(&w.0);
        assert!(matches!(
            r.str32("g", 5),
            Err(CatalogDecodeError::Invalid { .. })
        ));
        assert!(matches!(
            r.str32("h", 5),
            Err(CatalogDecodeError::Invalid { .. })
        ));
        assert_eq!(Reader::new(&[1, 0, 0, 0, 9]).count("n", 1).unwrap(), 1);
        assert!(Reader::new(&[2, 0, 0, 0]).count("n", 1).is_err());
    }
}
