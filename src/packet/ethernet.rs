//! Ethernet II / IEEE 802.3 frame view (the sFlow header protocol 1).
//!
//! [`Frame::new_checked`] needs the 14-byte MAC header; the getters then read only inside it.
//! VLAN tags and 802.2 LLC/SNAP are walked by [`Frame::payload_type`], which returns the
//! EtherType of the payload and where it starts, stopping (never guessing) when the tags or
//! the LLC header run past the sampled bytes.

use super::{array_at, be16_at, Error};

mod field {
    use std::ops::Range;
    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
}

/// Length of the MAC header without tags.
pub const HEADER_LEN: usize = field::ETHERTYPE.end;

/// Length of one 802.1Q / 802.1ad tag (TPID + TCI).
pub const TAG_LEN: usize = 4;

/// EtherTypes the decoder acts on.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86DD;
    /// MPLS unicast and multicast label stacks (RFC 3032).
    pub const MPLS: u16 = 0x8847;
    pub const MPLS_MULTICAST: u16 = 0x8848;
    /// Transparent Ethernet bridging: an Ethernet frame inside GRE (NVGRE) or Geneve.
    pub const TRANSPARENT_ETHERNET: u16 = 0x6558;
    /// IEEE 802.1Q customer tag.
    pub const VLAN: u16 = 0x8100;
    /// IEEE 802.1ad service tag (QinQ outer tag).
    pub const QINQ: u16 = 0x88A8;
    /// Pre-standard QinQ TPIDs still sent by some switches (sflowtool accepts them too).
    pub const QINQ_9100: u16 = 0x9100;
    pub const QINQ_9200: u16 = 0x9200;
    pub const QINQ_9300: u16 = 0x9300;
    /// Type/length values up to this are 802.3 lengths, not EtherTypes (IEEE 802.3 clause 3.2.6).
    pub const MAX_8023_LENGTH: u16 = 1500;
}

/// True for a TPID that introduces a VLAN tag.
#[inline(always)]
pub fn is_vlan_tpid(t: u16) -> bool {
    matches!(
        t,
        ethertype::VLAN | ethertype::QINQ | 0x9100 | 0x9200 | 0x9300
    )
}

/// A zero-copy view of an Ethernet frame's first bytes.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    header: &'a [u8; HEADER_LEN],
    buffer: &'a [u8],
}

/// What follows the MAC header, the tags and any LLC/SNAP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadType {
    /// VID of the first (outermost) tag, if any.
    pub outer_vlan: Option<u16>,
    /// VID of the last (innermost) tag, if any; equal to `outer_vlan` with a single tag.
    pub inner_vlan: Option<u16>,
    /// EtherType of the payload, when the tags and the LLC header were complete.
    pub ethertype: Option<u16>,
    /// Offset of the payload within the frame, meaningful when `ethertype` is `Some`.
    pub offset: usize,
}

impl<'a> Frame<'a> {
    /// Check that the MAC header is present.
    #[inline]
    pub fn new_checked(buffer: &'a [u8]) -> Result<Self, Error> {
        let header = array_at::<HEADER_LEN>(buffer, 0).ok_or(Error::Truncated)?;
        Ok(Frame { header, buffer })
    }

    #[inline]
    pub fn destination(&self) -> [u8; 6] {
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&self.header[field::DESTINATION]);
        mac
    }

    #[inline]
    pub fn source(&self) -> [u8; 6] {
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&self.header[field::SOURCE]);
        mac
    }

    /// The type/length field right after the MAC addresses (a TPID when the frame is tagged).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        u16::from_be_bytes([
            self.header[field::ETHERTYPE.start],
            self.header[field::ETHERTYPE.start + 1],
        ])
    }

    /// Walk the VLAN tags (any depth: each one consumes 4 bytes, so the walk is bounded by
    /// the sampled length) and an 802.2 LLC/SNAP header.
    #[inline(always)]
    pub fn payload_type(&self) -> PayloadType {
        let mut out = PayloadType {
            outer_vlan: None,
            inner_vlan: None,
            ethertype: None,
            offset: HEADER_LEN,
        };
        let mut ty = self.ethertype();
        let mut at = HEADER_LEN;
        // Most sampled frames are untagged IP: skip the tag and LLC checks for them.
        if ty == ethertype::IPV4 || ty == ethertype::IPV6 {
            out.ethertype = Some(ty);
            return out;
        }
        while is_vlan_tpid(ty) {
            let Some(tag) = array_at::<TAG_LEN>(self.buffer, at) else {
                return out;
            };
            let vid = u16::from_be_bytes([tag[0], tag[1]]) & 0x0FFF;
            out.outer_vlan.get_or_insert(vid);
            out.inner_vlan = Some(vid);
            ty = u16::from_be_bytes([tag[2], tag[3]]);
            at += TAG_LEN;
        }
        if ty <= ethertype::MAX_8023_LENGTH {
            match llc(self.buffer, at) {
                Some((t, next)) => {
                    ty = t;
                    at = next;
                }
                None => return out,
            }
        }
        out.ethertype = Some(ty);
        out.offset = at;
        out
    }
}

/// An 802.2 LLC header at `at`: SNAP with the zero OUI carries an EtherType (RFC 1042);
/// DSAP/SSAP 0x06 is IPv4 directly over LLC. Anything else has no EtherType to report.
#[inline]
fn llc(buffer: &[u8], at: usize) -> Option<(u16, usize)> {
    let llc = array_at::<3>(buffer, at)?;
    match *llc {
        [0xAA, 0xAA, 0x03] => {
            let oui = array_at::<3>(buffer, at + 3)?;
            if *oui != [0, 0, 0] {
                return None;
            }
            Some((be16_at(buffer, at + 6)?, at + 8))
        }
        [0x06, 0x06, ctl] if ctl & 1 == 1 => Some((ethertype::IPV4, at + 3)),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const UNTAGGED: [u8; 14] = [
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, // dst
        0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, // src
        0x08, 0x00,
    ];

    #[test]
    fn untagged() {
        let f = Frame::new_checked(&UNTAGGED).unwrap();
        assert_eq!(f.destination(), [0x00, 0x11, 0x22, 0x33, 0x44, 0x55]);
        assert_eq!(f.source(), [0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB]);
        let p = f.payload_type();
        assert_eq!(p.ethertype, Some(0x0800));
        assert_eq!(p.offset, 14);
        assert_eq!(p.outer_vlan, None);
    }

    #[test]
    fn impossible_lengths() {
        for n in 0..HEADER_LEN {
            assert_eq!(
                Frame::new_checked(&UNTAGGED[..n]).unwrap_err(),
                Error::Truncated
            );
        }
    }

    #[test]
    fn qinq_outer_and_inner() {
        let mut b = UNTAGGED.to_vec();
        b.truncate(12);
        b.extend_from_slice(&[0x88, 0xA8, 0x20, 0x64, 0x81, 0x00, 0x00, 0xC8, 0x86, 0xDD]);
        let p = Frame::new_checked(&b).unwrap().payload_type();
        assert_eq!(p.outer_vlan, Some(100));
        assert_eq!(p.inner_vlan, Some(200));
        assert_eq!(p.ethertype, Some(0x86DD));
        assert_eq!(p.offset, 22);
        // Cut inside the second tag: the first tag still counts, no EtherType.
        let p = Frame::new_checked(&b[..19]).unwrap().payload_type();
        assert_eq!(p.outer_vlan, Some(100));
        assert_eq!(p.ethertype, None);
    }

    #[test]
    fn snap_and_llc() {
        let mut b = UNTAGGED[..12].to_vec();
        b.extend_from_slice(&[0x00, 0x40, 0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00]);
        let p = Frame::new_checked(&b).unwrap().payload_type();
        assert_eq!((p.ethertype, p.offset), (Some(0x0800), 22));
        // Vendor OUI: no EtherType.
        b[17] = 0x0C;
        assert_eq!(
            Frame::new_checked(&b).unwrap().payload_type().ethertype,
            None
        );
        // Spanning tree (DSAP 0x42): no EtherType.
        let mut stp = UNTAGGED[..12].to_vec();
        stp.extend_from_slice(&[0x00, 0x26, 0x42, 0x42, 0x03, 0x00]);
        assert_eq!(
            Frame::new_checked(&stp).unwrap().payload_type().ethertype,
            None
        );
        // IPv4 over 802.2.
        let mut ip = UNTAGGED[..12].to_vec();
        ip.extend_from_slice(&[0x00, 0x40, 0x06, 0x06, 0x03]);
        let p = Frame::new_checked(&ip).unwrap().payload_type();
        assert_eq!((p.ethertype, p.offset), (Some(0x0800), 17));
    }
}
