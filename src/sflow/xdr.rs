//! XDR primitives shared by every sFlow view: big-endian words read without panicking, and a
//! forward-only reader for the variable-length structures (opaque strings, address unions).
//!
//! sFlow v5 is XDR (RFC 4506): 32-bit big-endian words, `opaque<>`/`string<>` carry a length
//! and are padded to a multiple of four bytes. The fixed-size views (`Datagram`, `FlowSample`,
//! ...) check their length once and then read with [`u32_at`]/[`u64_at`], which return 0 rather
//! than panic should a caller ever break that invariant. The record parsers use [`Reader`],
//! which returns a typed error at the first short read.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::{DecodeError, Structure};

/// The big-endian word at `at`, or 0 when the buffer is too short (never after a length check).
#[inline(always)]
pub(crate) fn u32_at(buf: &[u8], at: usize) -> u32 {
    match at.checked_add(4).and_then(|end| buf.get(at..end)) {
        Some(s) => <[u8; 4]>::try_from(s).map_or(0, u32::from_be_bytes),
        None => 0,
    }
}

/// The big-endian 64-bit value at `at`, or 0 when the buffer is too short.
#[inline(always)]
pub(crate) fn u64_at(buf: &[u8], at: usize) -> u64 {
    match at.checked_add(8).and_then(|end| buf.get(at..end)) {
        Some(s) => <[u8; 8]>::try_from(s).map_or(0, u64::from_be_bytes),
        None => 0,
    }
}

/// `len` rounded up to the XDR 4-byte boundary (saturating, so absurd lengths stay absurd
/// instead of wrapping to small ones).
#[inline(always)]
pub(crate) fn padded(len: usize) -> usize {
    len.saturating_add(3) & !3
}

/// A forward-only cursor over one XDR structure. Every read is bounds-checked and returns
/// [`DecodeError::Truncated`] naming the structure being read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: Structure,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: Structure) -> Self {
        Reader { buf, pos: 0, what }
    }

    fn short(&self, needed: usize) -> DecodeError {
        DecodeError::Truncated {
            what: self.what,
            needed: self.pos.saturating_add(needed),
            available: self.buf.len(),
        }
    }

    /// The next `n` bytes, unpadded.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.short(n))?;
        let s = self.buf.get(self.pos..end).ok_or_else(|| self.short(n))?;
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        let s = self.bytes(4)?;
        Ok(u32_at(s, 0))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        let s = self.bytes(8)?;
        Ok(u64_at(s, 0))
    }

    /// An XDR `mac`: 6 address bytes padded to 8.
    pub(crate) fn mac(&mut self) -> Result<[u8; 6], DecodeError> {
        let s = self.bytes(8)?;
        let mut m = [0u8; 6];
        m.copy_from_slice(s.get(..6).unwrap_or(&[0; 6]));
        Ok(m)
    }

    /// A variable-length `opaque<>` or `string<>`: a length word, the bytes, then padding.
    /// The padding is skipped only as far as the buffer goes: some agents (and published test
    /// vectors) end a structure on an unpadded string, and the enclosing length is what counts.
    pub(crate) fn opaque(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()? as usize;
        let s = self.bytes(len)?;
        self.pos = self
            .pos
            .saturating_add(padded(len) - len)
            .min(self.buf.len());
        Ok(s)
    }

    /// An sFlow `address`: a type word (1 IPv4, 2 IPv6) then the address. Type 0 ("unknown")
    /// carries no address bytes and reads as `None`.
    pub(crate) fn address(&mut self) -> Result<Option<IpAddr>, DecodeError> {
        match self.u32()? {
            0 => Ok(None),
            1 => self.ipv4().map(|a| Some(IpAddr::V4(a))),
            2 => self.ipv6().map(|a| Some(IpAddr::V6(a))),
            t => Err(DecodeError::UnknownAddressType(t)),
        }
    }

    pub(crate) fn ipv4(&mut self) -> Result<Ipv4Addr, DecodeError> {
        let s = self.bytes(4)?;
        Ok(Ipv4Addr::from(u32_at(s, 0)))
    }

    pub(crate) fn ipv6(&mut self) -> Result<Ipv6Addr, DecodeError> {
        let s = self.bytes(16)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(s);
        Ok(Ipv6Addr::from(a))
    }

    /// Everything not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn words_never_panic() {
        assert_eq!(u32_at(&[0, 0, 1, 2], 0), 0x102);
        assert_eq!(u32_at(&[0, 0, 1], 0), 0);
        assert_eq!(u32_at(&[0; 8], usize::MAX - 1), 0);
        assert_eq!(u64_at(&[0, 0, 0, 0, 0, 0, 0, 9], 0), 9);
        assert_eq!(u64_at(&[0; 7], 0), 0);
    }

    #[test]
    fn padding() {
        assert_eq!(padded(0), 0);
        assert_eq!(padded(5), 8);
        assert_eq!(padded(8), 8);
        assert_eq!(padded(usize::MAX), usize::MAX & !3);
    }

    #[test]
    fn opaque_padding_is_clamped_to_the_buffer() {
        // length 3 "foo" then a (non-zero) pad byte, then a word
        let b = [0, 0, 0, 3, b'f', b'o', b'o', 0x99, 0, 0, 0, 7];
        let mut r = Reader::new(&b, Structure::Record);
        assert_eq!(r.opaque().unwrap(), b"foo");
        assert_eq!(r.u32().unwrap(), 7);
        // unpadded string at the very end
        let b = [0, 0, 0, 2, b'h', b'i'];
        let mut r = Reader::new(&b, Structure::Record);
        assert_eq!(r.opaque().unwrap(), b"hi");
        assert!(r.rest().is_empty());
    }

    #[test]
    fn impossible_lengths_are_errors() {
        let b = [0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4];
        let mut r = Reader::new(&b, Structure::Record);
        assert!(matches!(r.opaque(), Err(DecodeError::Truncated { .. })));
        let b = [0, 0, 0, 7, 1, 2, 3, 4];
        let mut r = Reader::new(&b, Structure::Record);
        assert_eq!(r.address(), Err(DecodeError::UnknownAddressType(7)));
        let b = [0, 0, 0, 2, 1, 2, 3, 4];
        let mut r = Reader::new(&b, Structure::Record);
        assert!(matches!(r.address(), Err(DecodeError::Truncated { .. })));
    }
}
