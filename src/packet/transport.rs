//! Transport headers: the few TCP, UDP, ICMP and ICMPv6 fields flow keys need.
//!
//! Sampled headers are often cut inside the transport header, so each field is read on its
//! own, as far as the bytes go: the ports need 4 bytes, the TCP flags 14, the ICMP type and
//! code 2. Each getter is `None` past the end rather than a view that fails as a whole.

use super::{array_at, be16_at};

/// IP protocol numbers the decoder acts on (IANA "Assigned Internet Protocol Numbers").
pub mod protocol {
    pub const ICMP: u8 = 1;
    /// IPv4 encapsulated in IP (RFC 2003).
    pub const IPIP: u8 = 4;
    pub const TCP: u8 = 6;
    /// IPv6 encapsulated in IP (RFC 4213, RFC 2473).
    pub const IPV6: u8 = 41;
    /// Generic Routing Encapsulation (RFC 2784).
    pub const GRE: u8 = 47;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
}

mod field {
    use std::ops::Range;
    // TCP (RFC 9293) and UDP (RFC 768) share the port layout.
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const TCP_FLAGS: usize = 13;
    // ICMP (RFC 792) and ICMPv6 (RFC 4443).
    pub const ICMP_TYPE: usize = 0;
    pub const ICMP_CODE: usize = 1;
    /// Destination unreachable and the other error messages carry the offending packet
    /// after 4 unused bytes.
    pub const ICMP_ERROR_PAYLOAD: usize = 8;
}

/// Source and destination port of a TCP or UDP header.
#[inline]
pub fn ports(bytes: &[u8]) -> Option<(u16, u16)> {
    let b = array_at::<{ field::DST_PORT.end }>(bytes, 0)?;
    Some((
        u16::from_be_bytes([b[field::SRC_PORT.start], b[field::SRC_PORT.start + 1]]),
        u16::from_be_bytes([b[field::DST_PORT.start], b[field::DST_PORT.start + 1]]),
    ))
}

/// Destination port alone (what an ICMP error's 8 embedded payload bytes are read for).
#[inline]
pub fn destination_port(bytes: &[u8]) -> Option<u16> {
    be16_at(bytes, field::DST_PORT.start)
}

/// The TCP flags byte (CWR ECE URG ACK PSH RST SYN FIN), as sflowtool and sFlow-RT report it.
#[inline]
pub fn tcp_flags(bytes: &[u8]) -> Option<u8> {
    bytes.get(field::TCP_FLAGS).copied()
}

/// ICMP or ICMPv6 type and code.
#[inline]
pub fn icmp_type_code(bytes: &[u8]) -> Option<(u8, u8)> {
    let b = array_at::<2>(bytes, 0)?;
    Some((b[field::ICMP_TYPE], b[field::ICMP_CODE]))
}

/// The invoking packet quoted by an ICMP or ICMPv6 error message.
#[inline]
pub fn icmp_error_payload(bytes: &[u8]) -> Option<&[u8]> {
    bytes.get(field::ICMP_ERROR_PAYLOAD..)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn tcp_as_far_as_the_bytes_go() {
        // 443 -> 51000, SYN|ACK
        let tcp = [
            0x01, 0xBB, 0xC7, 0x38, 0, 0, 0, 1, 0, 0, 0, 2, 0x50, 0x12, 0xFF, 0xFF,
        ];
        assert_eq!(ports(&tcp), Some((443, 51000)));
        assert_eq!(tcp_flags(&tcp), Some(0x12));
        assert_eq!(ports(&tcp[..4]), Some((443, 51000)));
        assert_eq!(tcp_flags(&tcp[..13]), None);
        assert_eq!(ports(&tcp[..3]), None);
        assert_eq!(destination_port(&tcp[..4]), Some(51000));
        assert_eq!(destination_port(&tcp[..3]), None);
    }

    #[test]
    fn icmp() {
        let m = [3, 3, 0, 0, 0, 0, 0, 0, 0x45];
        assert_eq!(icmp_type_code(&m), Some((3, 3)));
        assert_eq!(icmp_type_code(&m[..1]), None);
        assert_eq!(icmp_error_payload(&m), Some(&[0x45][..]));
        assert_eq!(icmp_error_payload(&m[..8]), Some(&[][..]));
        assert_eq!(icmp_error_payload(&m[..7]), None);
    }
}
