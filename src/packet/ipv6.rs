//! IPv6 header view (RFC 8200) and the extension-header walk.
//!
//! [`Packet::new_checked`] needs the 40-byte fixed header and version 6. [`Packet::upper_layer`]
//! follows the chain of extension headers (hop-by-hop, routing, fragment, destination options,
//! AH, and the RFC 7045 generic-format mobility, HIP and shim6 headers) to the upper-layer
//! protocol. It stops at ESP (50, the rest is encrypted), at No Next Header (59), at any other
//! value, and after the fragment header of a non-first fragment (what follows is the middle
//! of the payload). Every header consumes at least 8 bytes, so the walk is bounded by the
//! sampled length.

use std::net::Ipv6Addr;

use super::{array_at, Error};

mod field {
    use std::ops::Range;
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Range<usize> = 8..24;
    pub const DST_ADDR: Range<usize> = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// IPv6 next-header values the walk knows (IANA "Assigned Internet Protocol Numbers").
pub mod next_header {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const NO_NEXT_HEADER: u8 = 59;
    pub const DESTINATION_OPTIONS: u8 = 60;
    pub const MOBILITY: u8 = 135;
    pub const HIP: u8 = 139;
    pub const SHIM6: u8 = 140;
}

/// Where the extension-header chain ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpperLayer {
    /// The upper-layer protocol (6 TCP, 17 UDP, 58 ICMPv6, 50 ESP, 59 none, ...).
    pub protocol: u8,
    /// Offset of the upper-layer header from the start of the IPv6 header; may lie past the
    /// sampled bytes when the last extension header was cut.
    pub offset: usize,
    /// False for a non-first fragment, whose payload does not start with the upper-layer header.
    pub first_fragment: bool,
}

/// A zero-copy view of an IPv6 header and whatever follows it in the sampled bytes.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    header: &'a [u8; HEADER_LEN],
    buffer: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Check the fixed header is present and says version 6.
    #[inline]
    pub fn new_checked(buffer: &'a [u8]) -> Result<Self, Error> {
        let header = array_at::<HEADER_LEN>(buffer, 0).ok_or(Error::Truncated)?;
        let p = Packet { header, buffer };
        if p.version() != 6 {
            return Err(Error::Malformed);
        }
        Ok(p)
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.header[field::VER_TC_FLOW.start] >> 4
    }

    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.header[0] << 4) | (self.header[1] >> 4)
    }

    #[inline]
    pub fn next_header(&self) -> u8 {
        self.header[field::NEXT_HEADER]
    }

    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.header[field::HOP_LIMIT]
    }

    #[inline]
    pub fn source(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.header[field::SRC_ADDR]);
        Ipv6Addr::from(a)
    }

    #[inline]
    pub fn destination(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.header[field::DST_ADDR]);
        Ipv6Addr::from(a)
    }

    /// The sampled bytes from the start of the IPv6 header (for offsets from [`Self::upper_layer`]).
    #[inline]
    pub fn buffer(&self) -> &'a [u8] {
        self.buffer
    }

    /// Follow the extension headers to the upper-layer protocol. `None` when the sampled
    /// bytes end before the chain does (the protocol is then unknown).
    #[inline]
    pub fn upper_layer(&self) -> Option<UpperLayer> {
        use next_header::*;
        let mut protocol = self.next_header();
        let mut at = HEADER_LEN;
        loop {
            match protocol {
                HOP_BY_HOP | ROUTING | DESTINATION_OPTIONS | MOBILITY | HIP | SHIM6 => {
                    // Next header, then the length in 8-byte units not counting the first 8.
                    let h = array_at::<2>(self.buffer, at)?;
                    protocol = h[0];
                    at += (usize::from(h[1]) + 1) * 8;
                }
                AH => {
                    // RFC 4302: the length is in 4-byte units, minus 2.
                    let h = array_at::<2>(self.buffer, at)?;
                    protocol = h[0];
                    at += (usize::from(h[1]) + 2) * 4;
                }
                FRAGMENT => {
                    let h = array_at::<4>(self.buffer, at)?;
                    protocol = h[0];
                    at += 8;
                    if u16::from_be_bytes([h[2], h[3]]) >> 3 != 0 {
                        return Some(UpperLayer {
                            protocol,
                            offset: at,
                            first_fragment: false,
                        });
                    }
                }
                _ => {
                    return Some(UpperLayer {
                        protocol,
                        offset: at,
                        first_fragment: true,
                    })
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// 2001:db8::1 -> 2001:db8::2, traffic class 0xB8, hop limit 64, next header `nh`.
    fn fixed(nh: u8) -> Vec<u8> {
        let mut b = vec![0x6B, 0x80, 0x00, 0x00, 0x00, 0x00, nh, 64];
        b.extend_from_slice(&[0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        b.extend_from_slice(&[0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        b
    }

    #[test]
    fn fields() {
        let b = fixed(17);
        let p = Packet::new_checked(&b).unwrap();
        assert_eq!(p.traffic_class(), 0xB8);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.next_header(), 17);
        assert_eq!(p.source(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.destination(), "2001:db8::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            p.upper_layer(),
            Some(UpperLayer {
                protocol: 17,
                offset: 40,
                first_fragment: true
            })
        );
    }

    #[test]
    fn impossible_lengths_and_versions() {
        let b = fixed(17);
        for n in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&b[..n]).unwrap_err(), Error::Truncated);
        }
        let mut b = b;
        b[0] = 0x45;
        assert_eq!(Packet::new_checked(&b).unwrap_err(), Error::Malformed);
    }

    #[test]
    fn extension_chain() {
        // hop-by-hop (8) -> routing (24) -> AH (len 4 => 24 bytes) -> dest opts (8) -> TCP at 104
        let mut b = fixed(0);
        b.extend_from_slice(&[43, 0, 1, 4, 0, 0, 0, 0]);
        b.extend_from_slice(&[51, 2, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&[60, 4, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&[0xC3, 0x50, 0x00, 0x50]);
        let p = Packet::new_checked(&b).unwrap();
        let ul = p.upper_layer().unwrap();
        assert_eq!((ul.protocol, ul.offset, ul.first_fragment), (6, 104, true));
        // Cut right before the last extension header: protocol unknown.
        let p = Packet::new_checked(&b[..96]).unwrap();
        assert_eq!(p.upper_layer(), None);
        // Cut inside the last extension header: protocol known, offset past the end.
        let p = Packet::new_checked(&b[..98]).unwrap();
        assert_eq!(p.upper_layer().map(|u| u.protocol), Some(6));
    }

    #[test]
    fn fragments_and_esp() {
        let mut b = fixed(44);
        b.extend_from_slice(&[17, 0, 0x00, 0x01, 0, 0, 0, 1]); // first fragment, M flag
        let ul = Packet::new_checked(&b).unwrap().upper_layer().unwrap();
        assert_eq!((ul.protocol, ul.offset, ul.first_fragment), (17, 48, true));
        b[42] = 0x05; // offset 0x05 << 5 ... non-zero
        b[43] = 0x00;
        let ul = Packet::new_checked(&b).unwrap().upper_layer().unwrap();
        assert_eq!((ul.protocol, ul.first_fragment), (17, false));

        let b = fixed(50);
        let ul = Packet::new_checked(&b).unwrap().upper_layer().unwrap();
        assert_eq!(ul.protocol, 50);
        let b = fixed(59);
        let ul = Packet::new_checked(&b).unwrap().upper_layer().unwrap();
        assert_eq!(ul.protocol, 59);
    }
}
