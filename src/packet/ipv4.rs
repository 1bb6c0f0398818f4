//! IPv4 header view (RFC 791).
//!
//! [`Packet::new_checked`] needs the 20-byte fixed header, version 4 and an IHL of at least
//! 5 words; the getters then read only inside the fixed header. Options are skipped by the
//! IHL: [`Packet::payload`] is `None` when the sampled bytes end inside them. The total
//! length field is not used to bound the payload, because both a sampled header and the
//! copy embedded in an ICMP error are cut short of it by design.

use std::net::Ipv4Addr;

use super::{array_at, Error};

mod field {
    use std::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// Length of the fixed header (IHL 5).
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// A zero-copy view of an IPv4 header and whatever of its payload was sampled.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    header: &'a [u8; HEADER_LEN],
    buffer: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Check the fixed header is present and plausible.
    #[inline]
    pub fn new_checked(buffer: &'a [u8]) -> Result<Self, Error> {
        let header = array_at::<HEADER_LEN>(buffer, 0).ok_or(Error::Truncated)?;
        let p = Packet { header, buffer };
        if p.version() != 4 || p.header_len() < HEADER_LEN {
            return Err(Error::Malformed);
        }
        Ok(p)
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.header[field::VER_IHL] >> 4
    }

    /// Header length in bytes, options included (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.header[field::VER_IHL] & 0x0F) * 4
    }

    #[inline]
    pub fn tos(&self) -> u8 {
        self.header[field::TOS]
    }

    #[inline]
    pub fn total_len(&self) -> u16 {
        let h = self.header;
        u16::from_be_bytes([h[field::LENGTH.start], h[field::LENGTH.start + 1]])
    }

    /// Fragment offset in 8-byte units; non-zero means the payload does not start with
    /// the transport header.
    #[inline]
    pub fn fragment_offset(&self) -> u16 {
        let h = self.header;
        u16::from_be_bytes([h[field::FLG_OFF.start], h[field::FLG_OFF.start + 1]]) & 0x1FFF
    }

    #[inline]
    pub fn ttl(&self) -> u8 {
        self.header[field::TTL]
    }

    #[inline]
    pub fn protocol(&self) -> u8 {
        self.header[field::PROTOCOL]
    }

    #[inline]
    pub fn source(&self) -> Ipv4Addr {
        let mut a = [0u8; 4];
        a.copy_from_slice(&self.header[field::SRC_ADDR]);
        Ipv4Addr::from(a)
    }

    #[inline]
    pub fn destination(&self) -> Ipv4Addr {
        let mut a = [0u8; 4];
        a.copy_from_slice(&self.header[field::DST_ADDR]);
        Ipv4Addr::from(a)
    }

    /// The sampled bytes after the header and its options, or `None` when the options
    /// themselves were cut.
    #[inline]
    pub fn payload(&self) -> Option<&'a [u8]> {
        self.buffer.get(self.header_len()..)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    // 10.0.0.1 -> 10.0.0.2, TTL 64, UDP, TOS 0x10, IHL 5.
    const UDP_HEADER: [u8; 20] = [
        0x45, 0x10, 0x00, 0x1C, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 10, 0, 0, 1, 10, 0,
        0, 2,
    ];

    #[test]
    fn fields() {
        let p = Packet::new_checked(&UDP_HEADER).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.tos(), 0x10);
        assert_eq!(p.total_len(), 28);
        assert_eq!(p.fragment_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), 17);
        assert_eq!(p.source(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(p.destination(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(p.payload(), Some(&[][..]));
    }

    #[test]
    fn impossible_lengths_and_versions() {
        for n in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&UDP_HEADER[..n]).unwrap_err(),
                Error::Truncated
            );
        }
        let mut b = UDP_HEADER;
        b[0] = 0x44; // IHL 4 < 5
        assert_eq!(Packet::new_checked(&b).unwrap_err(), Error::Malformed);
        b[0] = 0x65; // version 6
        assert_eq!(Packet::new_checked(&b).unwrap_err(), Error::Malformed);
    }

    #[test]
    fn options_cut_short() {
        let mut b = UDP_HEADER.to_vec();
        b[0] = 0x47; // IHL 7: 8 bytes of options
        b.extend_from_slice(&[0x01, 0x01, 0x01, 0x01]);
        let p = Packet::new_checked(&b).unwrap();
        assert_eq!(p.header_len(), 28);
        assert_eq!(p.payload(), None);
        b.extend_from_slice(&[0x01, 0x01, 0x01, 0x00, 0xAB]);
        let p = Packet::new_checked(&b).unwrap();
        assert_eq!(p.payload(), Some(&[0xAB][..]));
    }

    #[test]
    fn fragment_offset_masks_flags() {
        let mut b = UDP_HEADER;
        b[6] = 0x20; // MF
        b[7] = 0x00;
        assert_eq!(Packet::new_checked(&b).unwrap().fragment_offset(), 0);
        b[6] = 0x20;
        b[7] = 0xB9; // offset 185
        assert_eq!(Packet::new_checked(&b).unwrap().fragment_offset(), 185);
    }
}
