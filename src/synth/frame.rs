//! Sampled frames to put in a sampled-header record: Ethernet (optionally 802.1Q-tagged)
//! carrying IPv4 or IPv6 and TCP, UDP, ICMP/ICMPv6, or a destination-unreachable answer
//! that embeds the original IP header and the first 8 bytes of its TCP/UDP header.

use std::net::IpAddr;

/// TCP flag bits (RFC 9293 section 3.1).
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// The transport a [`FrameSpec`] carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp {
        src_port: u16,
        dst_port: u16,
        flags: u8,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
    },
    /// ICMP (over IPv4) or ICMPv6 (over IPv6) with this type and code and a zero rest.
    Icmp {
        icmp_type: u8,
        code: u8,
    },
    /// Destination unreachable: ICMP type 3 over IPv4, ICMPv6 type 1 over IPv6, with `code`,
    /// embedding `original` (the packet that could not be delivered).
    Unreachable {
        code: u8,
        original: Original,
    },
}

/// The packet a destination-unreachable message quotes: its IP header (same family as
/// the message) and the first 8 bytes of its transport header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Original {
    /// The original sender (the scanner, when the message answers a probe).
    pub src: IpAddr,
    /// The original destination (the probed host).
    pub dst: IpAddr,
    /// IP protocol: 6 and 17 get ports; anything else gets 8 zero bytes.
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
}

/// An Ethernet frame to encode. `payload_len` zero bytes follow the transport header, so
/// frame lengths can be realistic while the sampled header stays short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameSpec {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    /// 802.1Q tag (VLAN id, 12 bits) when set.
    pub vlan: Option<u16>,
    /// Source and destination must be the same family; a mismatch encodes the destination
    /// as the unspecified address of the source's family.
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    pub tos: u8,
    pub transport: Transport,
    pub payload_len: u16,
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const ETHERTYPE_VLAN: u16 = 0x8100;
const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_ICMPV6: u8 = 58;

impl FrameSpec {
    /// A frame with common defaults: no VLAN, TTL 64, TOS 0, no payload.
    pub fn new(src: IpAddr, dst: IpAddr, transport: Transport) -> Self {
        FrameSpec {
            dst_mac: [0x02, 0, 0, 0, 0, 0x02],
            src_mac: [0x02, 0, 0, 0, 0, 0x01],
            vlan: None,
            src,
            dst,
            ttl: 64,
            tos: 0,
            transport,
            payload_len: 0,
        }
    }

    /// Append the whole Ethernet frame to `out`; returns its length.
    pub fn write_ethernet(&self, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        out.extend_from_slice(&self.dst_mac);
        out.extend_from_slice(&self.src_mac);
        if let Some(vid) = self.vlan {
            out.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            out.extend_from_slice(&(vid & 0x0FFF).to_be_bytes());
        }
        let ethertype = if self.src.is_ipv4() {
            ETHERTYPE_IPV4
        } else {
            ETHERTYPE_IPV6
        };
        out.extend_from_slice(&ethertype.to_be_bytes());
        self.write_ip(out);
        out.len() - start
    }

    /// Append the IP packet alone (for header protocols 11 and 12); returns its length.
    pub fn write_ip(&self, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        let l4_len = self.transport_len() + usize::from(self.payload_len);
        match (self.src, self.dst) {
            (IpAddr::V4(s), d) => {
                let d = match d {
                    IpAddr::V4(d) => d.octets(),
                    IpAddr::V6(_) => [0; 4],
                };
                let proto = match self.transport {
                    Transport::Icmp { .. } | Transport::Unreachable { .. } => PROTO_ICMP,
                    _ => self.l4_protocol(),
                };
                write_ipv4(out, s.octets(), d, proto, self.ttl, self.tos, l4_len);
            }
            (IpAddr::V6(s), d) => {
                let d = match d {
                    IpAddr::V6(d) => d.octets(),
                    IpAddr::V4(_) => [0; 16],
                };
                let proto = match self.transport {
                    Transport::Icmp { .. } | Transport::Unreachable { .. } => PROTO_ICMPV6,
                    _ => self.l4_protocol(),
                };
                write_ipv6(out, s.octets(), d, proto, self.ttl, self.tos, l4_len);
            }
        }
        let v6 = self.src.is_ipv6();
        match self.transport {
            Transport::Tcp {
                src_port,
                dst_port,
                flags,
            } => write_tcp(out, src_port, dst_port, flags),
            Transport::Udp { src_port, dst_port } => write_udp(out, src_port, dst_port, l4_len),
            Transport::Icmp { icmp_type, code } => {
                out.extend_from_slice(&[icmp_type, code, 0, 0, 0, 0, 0, 0]);
            }
            Transport::Unreachable { code, original } => {
                let icmp_type = if v6 { 1 } else { 3 };
                out.extend_from_slice(&[icmp_type, code, 0, 0, 0, 0, 0, 0]);
                write_original(out, &original, v6);
            }
        }
        out.resize(out.len() + usize::from(self.payload_len), 0);
        out.len() - start
    }

    /// The encoded Ethernet frame as a new vector.
    pub fn to_ethernet(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(128);
        self.write_ethernet(&mut v);
        v
    }

    fn l4_protocol(&self) -> u8 {
        match self.transport {
            Transport::Tcp { .. } => PROTO_TCP,
            Transport::Udp { .. } => PROTO_UDP,
            Transport::Icmp { .. } | Transport::Unreachable { .. } => PROTO_ICMP,
        }
    }

    /// Bytes of the transport header (and, for unreachable messages, the quoted packet).
    fn transport_len(&self) -> usize {
        match self.transport {
            Transport::Tcp { .. } => 20,
            Transport::Udp { .. } | Transport::Icmp { .. } => 8,
            Transport::Unreachable { .. } => 8 + if self.src.is_ipv6() { 40 } else { 20 } + 8,
        }
    }
}

/// RFC 1071 Internet checksum of `bytes`.
fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in bytes.chunks(2) {
        let word = match *pair {
            [a, b] => u16::from_be_bytes([a, b]),
            [a] => u16::from_be_bytes([a, 0]),
            _ => 0,
        };
        sum += u32::from(word);
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

fn write_ipv4(
    out: &mut Vec<u8>,
    src: [u8; 4],
    dst: [u8; 4],
    protocol: u8,
    ttl: u8,
    tos: u8,
    payload_len: usize,
) {
    let total = u16::try_from(20 + payload_len).unwrap_or(u16::MAX);
    let start = out.len();
    out.extend_from_slice(&[0x45, tos]);
    out.extend_from_slice(&total.to_be_bytes());
    // Identification 0, flags DF, fragment offset 0.
    out.extend_from_slice(&[0, 0, 0x40, 0, ttl, protocol, 0, 0]);
    out.extend_from_slice(&src);
    out.extend_from_slice(&dst);
    let sum = internet_checksum(&out[start..start + 20]);
    out[start + 10..start + 12].copy_from_slice(&sum.to_be_bytes());
}

fn write_ipv6(
    out: &mut Vec<u8>,
    src: [u8; 16],
    dst: [u8; 16],
    next_header: u8,
    hop_limit: u8,
    traffic_class: u8,
    payload_len: usize,
) {
    let first = (6u32 << 28) | (u32::from(traffic_class) << 20);
    out.extend_from_slice(&first.to_be_bytes());
    out.extend_from_slice(&u16::try_from(payload_len).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(&[next_header, hop_limit]);
    out.extend_from_slice(&src);
    out.extend_from_slice(&dst);
}

/// A 20-byte TCP header (data offset 5, window 65535, checksum left 0: decoders of sampled
/// headers never verify it, and the payload is not all there anyway).
fn write_tcp(out: &mut Vec<u8>, src_port: u16, dst_port: u16, flags: u8) {
    out.extend_from_slice(&src_port.to_be_bytes());
    out.extend_from_slice(&dst_port.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0]);
}

fn write_udp(out: &mut Vec<u8>, src_port: u16, dst_port: u16, len: usize) {
    out.extend_from_slice(&src_port.to_be_bytes());
    out.extend_from_slice(&dst_port.to_be_bytes());
    out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
}

/// The quoted packet of an unreachable message: an IP header of the message's family and
/// the first 8 bytes of the original transport header.
fn write_original(out: &mut Vec<u8>, o: &Original, v6: bool) {
    // The original datagram was at least its transport header long.
    let l4_len = 8;
    if v6 {
        let s = match o.src {
            IpAddr::V6(a) => a.octets(),
            IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        };
        let d = match o.dst {
            IpAddr::V6(a) => a.octets(),
            IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        };
        write_ipv6(out, s, d, o.protocol, 64, 0, l4_len);
    } else {
        let s = match o.src {
            IpAddr::V4(a) => a.octets(),
            IpAddr::V6(_) => [0; 4],
        };
        let d = match o.dst {
            IpAddr::V4(a) => a.octets(),
            IpAddr::V6(_) => [0; 4],
        };
        write_ipv4(out, s, d, o.protocol, 64, 0, l4_len);
    }
    match o.protocol {
        PROTO_TCP => {
            out.extend_from_slice(&o.src_port.to_be_bytes());
            out.extend_from_slice(&o.dst_port.to_be_bytes());
            // Sequence number: the rest of the TCP header is not quoted.
            out.extend_from_slice(&[0, 0, 0, 1]);
        }
        PROTO_UDP => write_udp(out, o.src_port, o.dst_port, l4_len),
        _ => out.extend_from_slice(&[0; 8]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    #[test]
    fn tcp_frame_bytes() {
        let mut f = FrameSpec::new(
            v4(10, 0, 0, 1),
            v4(10, 0, 0, 2),
            Transport::Tcp {
                src_port: 1234,
                dst_port: 80,
                flags: tcp_flags::SYN,
            },
        );
        f.vlan = Some(100);
        let bytes = f.to_ethernet();
        assert_eq!(bytes.len(), 14 + 4 + 20 + 20);
        assert_eq!(&bytes[12..18], &[0x81, 0x00, 0x00, 100, 0x08, 0x00]);
        let ip = &bytes[18..38];
        assert_eq!(ip[0], 0x45);
        assert_eq!(&ip[2..4], &[0, 40], "total length");
        assert_eq!(ip[8], 64);
        assert_eq!(ip[9], 6);
        assert_eq!(internet_checksum(ip), 0, "header checksum verifies");
        assert_eq!(&bytes[38..42], &[0x04, 0xD2, 0x00, 0x50]);
        assert_eq!(bytes[38 + 13], tcp_flags::SYN);
    }

    #[test]
    fn udp_over_ipv6_frame() {
        let s = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        let d = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));
        let mut f = FrameSpec::new(
            s,
            d,
            Transport::Udp {
                src_port: 5353,
                dst_port: 53,
            },
        );
        f.payload_len = 100;
        let bytes = f.to_ethernet();
        assert_eq!(bytes.len(), 14 + 40 + 8 + 100);
        assert_eq!(&bytes[12..14], &[0x86, 0xDD]);
        assert_eq!(bytes[14] >> 4, 6);
        assert_eq!(&bytes[18..20], &[0, 108], "payload length");
        assert_eq!(bytes[20], 17);
        assert_eq!(&bytes[54..58], &[0x14, 0xE9, 0x00, 0x35]);
        assert_eq!(&bytes[58..60], &[0, 108], "UDP length");
    }

    #[test]
    fn icmpv4_port_unreachable_embeds_original() {
        let f = FrameSpec::new(
            v4(10, 0, 0, 9),
            v4(10, 0, 0, 5),
            Transport::Unreachable {
                code: 3,
                original: Original {
                    src: v4(10, 0, 0, 5),
                    dst: v4(10, 0, 0, 9),
                    protocol: 17,
                    src_port: 40000,
                    dst_port: 53,
                },
            },
        );
        let bytes = f.to_ethernet();
        assert_eq!(bytes.len(), 14 + 20 + 8 + 20 + 8);
        assert_eq!(bytes[14 + 9], 1, "ICMP");
        let icmp = &bytes[34..];
        assert_eq!(&icmp[..2], &[3, 3]);
        let inner = &icmp[8..];
        assert_eq!(inner[0], 0x45);
        assert_eq!(inner[9], 17);
        assert_eq!(&inner[12..16], &[10, 0, 0, 5]);
        assert_eq!(&inner[16..20], &[10, 0, 0, 9]);
        assert_eq!(internet_checksum(&inner[..20]), 0);
        assert_eq!(&inner[20..24], &[0x9C, 0x40, 0x00, 0x35]);
    }

    #[test]
    fn icmpv6_unreachable_and_raw_ip() {
        let s = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let o = Original {
            src: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            dst: s,
            protocol: 6,
            src_port: 1,
            dst_port: 22,
        };
        let f = FrameSpec::new(
            s,
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            Transport::Unreachable {
                code: 4,
                original: o,
            },
        );
        let mut ip = Vec::new();
        let n = f.write_ip(&mut ip);
        assert_eq!(n, 40 + 8 + 40 + 8);
        assert_eq!(ip[6], 58, "ICMPv6");
        assert_eq!(&ip[40..42], &[1, 4]);
        assert_eq!(ip[48 + 6], 6, "quoted next header");
        assert_eq!(&ip[88..92], &[0, 1, 0, 22]);
    }
}
