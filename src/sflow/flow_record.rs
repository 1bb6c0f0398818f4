//! Flow records: what a flow sample or a discarded-packet sample carries about one packet.
//!
//! The sampled header (format 1) is a zero-copy view ([`SampledHeader`]), since the receive
//! path reads it for every sample. The other records parse into small plain values
//! ([`FlowRecord`]) that borrow their strings and lists from the datagram: parsing allocates
//! nothing, and a list (AS path, communities) is walked lazily from its bytes, its declared
//! count never used to size anything. Records this decoder does not know come back as
//! [`FlowRecord::Unknown`] with their tag and bytes.

use std::net::IpAddr;

use crate::packet::HeaderProtocol;

use super::datagram::Tag;
use super::error::{DecodeError, Structure};
use super::xdr::{u32_at, Reader};

/// Flow record formats of enterprise 0.
pub mod format {
    pub const SAMPLED_HEADER: u32 = 1;
    pub const SAMPLED_ETHERNET: u32 = 2;
    pub const SAMPLED_IPV4: u32 = 3;
    pub const SAMPLED_IPV6: u32 = 4;
    pub const EXTENDED_SWITCH: u32 = 1001;
    pub const EXTENDED_ROUTER: u32 = 1002;
    pub const EXTENDED_GATEWAY: u32 = 1003;
    pub const EXTENDED_USER: u32 = 1004;
    pub const EXTENDED_URL: u32 = 1005;
    pub const EXTENDED_L2_TUNNEL_EGRESS: u32 = 1021;
    pub const EXTENDED_L2_TUNNEL_INGRESS: u32 = 1022;
    pub const EXTENDED_IPV4_TUNNEL_EGRESS: u32 = 1023;
    pub const EXTENDED_IPV4_TUNNEL_INGRESS: u32 = 1024;
    pub const EXTENDED_IPV6_TUNNEL_EGRESS: u32 = 1025;
    pub const EXTENDED_IPV6_TUNNEL_INGRESS: u32 = 1026;
    pub const EXTENDED_DECAP_EGRESS: u32 = 1027;
    pub const EXTENDED_DECAP_INGRESS: u32 = 1028;
    pub const EXTENDED_VNI_EGRESS: u32 = 1029;
    pub const EXTENDED_VNI_INGRESS: u32 = 1030;
    pub const EGRESS_QUEUE: u32 = 1036;
    pub const EXTENDED_ACL: u32 = 1037;
    pub const EXTENDED_FUNCTION: u32 = 1038;
    pub const EXTENDED_TRANSIT: u32 = 1039;
    pub const EXTENDED_QUEUE: u32 = 1040;
    pub const EXTENDED_HW_TRAP: u32 = 1041;
    pub const EXTENDED_LINUX_DROP_REASON: u32 = 1042;
    pub const EXTENDED_SOCKET_IPV4: u32 = 2100;
    pub const EXTENDED_SOCKET_IPV6: u32 = 2101;
}

/// Whether this decoder has a typed view for a flow record tag.
pub const fn is_known(tag: Tag) -> bool {
    use format::*;
    tag.enterprise() == 0
        && matches!(
            tag.format(),
            SAMPLED_HEADER
                | SAMPLED_ETHERNET
                | SAMPLED_IPV4
                | SAMPLED_IPV6
                | EXTENDED_SWITCH
                | EXTENDED_ROUTER
                | EXTENDED_GATEWAY
                | EXTENDED_USER
                | EXTENDED_URL
                | EXTENDED_L2_TUNNEL_EGRESS..=EXTENDED_VNI_INGRESS
                | EGRESS_QUEUE..=EXTENDED_LINUX_DROP_REASON
                | EXTENDED_SOCKET_IPV4
                | EXTENDED_SOCKET_IPV6
        )
}

mod header_field {
    pub use crate::sflow::layout::sampled_header::{
        FRAME_LENGTH, HEADER_LENGTH, PROTOCOL, STRIPPED,
    };
    pub const HEADER: usize = crate::sflow::layout::sampled_header::LEN;
}

/// A zero-copy view of the sampled-header record (format 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampledHeader<'a> {
    data: &'a [u8],
}

impl<'a> SampledHeader<'a> {
    /// Check that the fixed fields and the declared header bytes are present.
    pub fn new_checked(data: &'a [u8]) -> Result<SampledHeader<'a>, DecodeError> {
        if data.len() < header_field::HEADER {
            return Err(DecodeError::Truncated {
                what: Structure::Record,
                needed: header_field::HEADER,
                available: data.len(),
            });
        }
        let h = SampledHeader { data };
        let declared = h.header_length();
        if declared as usize > data.len() - header_field::HEADER {
            return Err(DecodeError::LengthOverrun {
                what: Structure::Record,
                declared,
                available: data.len() - header_field::HEADER,
            });
        }
        Ok(h)
    }

    /// The raw `header_protocol` word (1 Ethernet, 11 IPv4, 12 IPv6, ...).
    pub fn header_protocol(&self) -> u32 {
        u32_at(self.data, header_field::PROTOCOL)
    }

    pub fn protocol(&self) -> HeaderProtocol {
        HeaderProtocol::from(self.header_protocol())
    }

    /// Length of the original frame, including what was stripped.
    pub fn frame_length(&self) -> u32 {
        u32_at(self.data, header_field::FRAME_LENGTH)
    }

    /// Bytes removed from the frame before sampling (e.g. the Ethernet FCS).
    pub fn stripped(&self) -> u32 {
        u32_at(self.data, header_field::STRIPPED)
    }

    pub fn header_length(&self) -> u32 {
        u32_at(self.data, header_field::HEADER_LENGTH)
    }

    /// The sampled bytes (the first `header_length` bytes of the frame).
    pub fn header(&self) -> &'a [u8] {
        let end = header_field::HEADER.saturating_add(self.header_length() as usize);
        self.data.get(header_field::HEADER..end).unwrap_or(&[])
    }
}

/// Sampled Ethernet frame data (format 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampledEthernet {
    /// Length of the MAC packet in bytes.
    pub length: u32,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub eth_type: u32,
}

/// Sampled IPv4 (format 3) or IPv6 (format 4) data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampledIp {
    /// Length of the IP packet, excluding lower-layer encapsulation.
    pub length: u32,
    /// IP protocol (IPv4) or next header (IPv6).
    pub protocol: u32,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u32,
    pub dst_port: u32,
    pub tcp_flags: u32,
    /// IPv4 TOS, or the IPv6 priority (traffic class).
    pub tos: u32,
}

/// Extended switch data (format 1001).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtendedSwitch {
    pub src_vlan: u32,
    pub src_priority: u32,
    pub dst_vlan: u32,
    pub dst_priority: u32,
}

/// Extended router data (format 1002).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtendedRouter {
    /// `None` when the agent sent address type 0 (unknown).
    pub next_hop: Option<IpAddr>,
    pub src_mask_len: u32,
    pub dst_mask_len: u32,
}

/// Extended gateway data (format 1003): BGP information, with the AS path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtendedGateway<'a> {
    pub next_hop: Option<IpAddr>,
    /// The router's own AS.
    pub as_number: u32,
    pub src_as: u32,
    pub src_peer_as: u32,
    pub as_path: AsPath<'a>,
    /// BGP communities, as big-endian words.
    pub communities: Words<'a>,
    pub local_pref: u32,
}

/// The destination AS path: a list of segments, walked from the datagram's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsPath<'a> {
    /// The segments' bytes (already checked to hold `count` well-formed segments).
    bytes: &'a [u8],
    count: u32,
}

/// One AS path segment: `AS_SET` (1) or `AS_SEQUENCE` (2), and its AS numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsPathSegment<'a> {
    pub segment_type: u32,
    pub asns: Words<'a>,
}

impl<'a> AsPath<'a> {
    /// Number of segments.
    pub fn len(&self) -> u32 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn segments(&self) -> impl Iterator<Item = AsPathSegment<'a>> + 'a {
        let mut rest = self.bytes;
        (0..self.count).map_while(move |_| {
            let segment_type = u32_at(rest, 0);
            let end = (u32_at(rest, 4) as usize).checked_mul(4)?.checked_add(8)?;
            let words = rest.get(8..end)?;
            rest = rest.get(end..).unwrap_or(&[]);
            Some(AsPathSegment {
                segment_type,
                asns: Words(words),
            })
        })
    }

    /// The last AS of the path (the origin), as sFlow collectors report `dst_as`.
    pub fn origin(&self) -> Option<u32> {
        self.segments().last().and_then(|s| s.asns.iter().last())
    }
}

/// A list of big-endian 32-bit words borrowed from the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Words<'a>(&'a [u8]);

impl<'a> Words<'a> {
    pub fn len(&self) -> usize {
        self.0.len() / 4
    }
    pub fn is_empty(&self) -> bool {
        self.0.len() < 4
    }
    pub fn iter(&self) -> impl Iterator<Item = u32> + 'a {
        self.0.chunks_exact(4).map(|c| u32_at(c, 0))
    }
}

/// Extended user data (format 1004).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtendedUser<'a> {
    /// IANA MIBenum character set of `src_user`.
    pub src_charset: u32,
    pub src_user: &'a [u8],
    pub dst_charset: u32,
    pub dst_user: &'a [u8],
}

/// Extended URL data (format 1005).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtendedUrl<'a> {
    /// 1 source address is the server, 2 destination address is the server.
    pub direction: u32,
    pub url: &'a [u8],
    /// The HTTP Host header (added in a later revision; empty when absent).
    pub host: &'a [u8],
}

/// Extended ACL (format 1037, drop notification).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtendedAcl<'a> {
    pub number: u32,
    pub name: &'a [u8],
    /// 0 unknown, 1 ingress, 2 egress.
    pub direction: u32,
}

/// Extended hardware trap (format 1041, drop notification).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtendedHwTrap<'a> {
    pub group: &'a [u8],
    pub trap: &'a [u8],
}

/// Extended socket data (format 2100 IPv4, 2101 IPv6): the application socket a
/// transaction record (HTTP, memcache, ...) belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtendedSocket {
    pub protocol: u32,
    pub local_ip: IpAddr,
    pub remote_ip: IpAddr,
    pub local_port: u32,
    pub remote_port: u32,
}

/// A decoded flow record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowRecord<'a> {
    SampledHeader(SampledHeader<'a>),
    SampledEthernet(SampledEthernet),
    SampledIpv4(SampledIp),
    SampledIpv6(SampledIp),
    ExtendedSwitch(ExtendedSwitch),
    ExtendedRouter(ExtendedRouter),
    ExtendedGateway(ExtendedGateway<'a>),
    ExtendedUser(ExtendedUser<'a>),
    ExtendedUrl(ExtendedUrl<'a>),
    /// Format 1021: the outer Ethernet header a tunnel egress adds.
    ExtendedL2TunnelEgress(SampledEthernet),
    /// Format 1022: the outer Ethernet header a tunnel ingress removed.
    ExtendedL2TunnelIngress(SampledEthernet),
    /// Format 1023: the outer IPv4 header a tunnel egress adds.
    ExtendedIpv4TunnelEgress(SampledIp),
    /// Format 1024: the outer IPv4 header a tunnel ingress removed.
    ExtendedIpv4TunnelIngress(SampledIp),
    /// Format 1025: the outer IPv6 header a tunnel egress adds.
    ExtendedIpv6TunnelEgress(SampledIp),
    /// Format 1026: the outer IPv6 header a tunnel ingress removed.
    ExtendedIpv6TunnelIngress(SampledIp),
    /// Format 1027: offset of the inner header after egress decapsulation.
    ExtendedDecapEgress {
        inner_header_offset: u32,
    },
    /// Format 1028: offset of the inner header after ingress decapsulation.
    ExtendedDecapIngress {
        inner_header_offset: u32,
    },
    /// Format 1029: VXLAN network identifier on egress.
    ExtendedVniEgress {
        vni: u32,
    },
    /// Format 1030: VXLAN network identifier on ingress.
    ExtendedVniIngress {
        vni: u32,
    },
    /// Format 1036: the egress queue the packet was dropped from.
    EgressQueue {
        queue: u32,
    },
    ExtendedAcl(ExtendedAcl<'a>),
    /// Format 1038: the function (symbol) that dropped the packet.
    ExtendedFunction {
        symbol: &'a [u8],
    },
    /// Format 1039: transit delay in nanoseconds.
    ExtendedTransit {
        delay: u32,
    },
    /// Format 1040: queue depth in bytes.
    ExtendedQueue {
        depth: u32,
    },
    ExtendedHwTrap(ExtendedHwTrap<'a>),
    /// Format 1042: the Linux `drop_reason` name.
    ExtendedLinuxDropReason {
        reason: &'a [u8],
    },
    /// Format 2100.
    ExtendedSocketIpv4(ExtendedSocket),
    /// Format 2101.
    ExtendedSocketIpv6(ExtendedSocket),
    /// A record type this decoder does not know.
    Unknown {
        tag: Tag,
        data: &'a [u8],
    },
}

impl<'a> FlowRecord<'a> {
    /// Parse a record body. Trailing bytes after the known fields are ignored (later
    /// revisions of a structure append fields); missing bytes are an error.
    pub fn parse(tag: Tag, data: &'a [u8]) -> Result<FlowRecord<'a>, DecodeError> {
        use format::*;
        if tag.enterprise() != 0 {
            return Ok(FlowRecord::Unknown { tag, data });
        }
        let mut r = Reader::new(data, Structure::Record);
        Ok(match tag.format() {
            SAMPLED_HEADER => FlowRecord::SampledHeader(SampledHeader::new_checked(data)?),
            SAMPLED_ETHERNET => FlowRecord::SampledEthernet(ethernet(&mut r)?),
            SAMPLED_IPV4 => FlowRecord::SampledIpv4(sampled_ip(&mut r, false)?),
            SAMPLED_IPV6 => FlowRecord::SampledIpv6(sampled_ip(&mut r, true)?),
            EXTENDED_SWITCH => FlowRecord::ExtendedSwitch(ExtendedSwitch {
                src_vlan: r.u32()?,
                src_priority: r.u32()?,
                dst_vlan: r.u32()?,
                dst_priority: r.u32()?,
            }),
            EXTENDED_ROUTER => FlowRecord::ExtendedRouter(ExtendedRouter {
                next_hop: r.address()?,
                src_mask_len: r.u32()?,
                dst_mask_len: r.u32()?,
            }),
            EXTENDED_GATEWAY => {
                let next_hop = r.address()?;
                let as_number = r.u32()?;
                let src_as = r.u32()?;
                let src_peer_as = r.u32()?;
                let as_path = as_path(&mut r)?;
                let n = r.u32()?;
                let communities = Words(r.bytes((n as usize).saturating_mul(4))?);
                let local_pref = r.u32()?;
                FlowRecord::ExtendedGateway(ExtendedGateway {
                    next_hop,
                    as_number,
                    src_as,
                    src_peer_as,
                    as_path,
                    communities,
                    local_pref,
                })
            }
            EXTENDED_USER => FlowRecord::ExtendedUser(ExtendedUser {
                src_charset: r.u32()?,
                src_user: r.opaque()?,
                dst_charset: r.u32()?,
                dst_user: r.opaque()?,
            }),
            EXTENDED_URL => {
                let direction = r.u32()?;
                let url = r.opaque()?;
                let host = if r.rest().is_empty() {
                    &[][..]
                } else {
                    r.opaque()?
                };
                FlowRecord::ExtendedUrl(ExtendedUrl {
                    direction,
                    url,
                    host,
                })
            }
            EXTENDED_L2_TUNNEL_EGRESS => FlowRecord::ExtendedL2TunnelEgress(ethernet(&mut r)?),
            EXTENDED_L2_TUNNEL_INGRESS => FlowRecord::ExtendedL2TunnelIngress(ethernet(&mut r)?),
            EXTENDED_IPV4_TUNNEL_EGRESS => {
                FlowRecord::ExtendedIpv4TunnelEgress(sampled_ip(&mut r, false)?)
            }
            EXTENDED_IPV4_TUNNEL_INGRESS => {
                FlowRecord::ExtendedIpv4TunnelIngress(sampled_ip(&mut r, false)?)
            }
            EXTENDED_IPV6_TUNNEL_EGRESS => {
                FlowRecord::ExtendedIpv6TunnelEgress(sampled_ip(&mut r, true)?)
            }
            EXTENDED_IPV6_TUNNEL_INGRESS => {
                FlowRecord::ExtendedIpv6TunnelIngress(sampled_ip(&mut r, true)?)
            }
            EXTENDED_DECAP_EGRESS => FlowRecord::ExtendedDecapEgress {
                inner_header_offset: r.u32()?,
            },
            EXTENDED_DECAP_INGRESS => FlowRecord::ExtendedDecapIngress {
                inner_header_offset: r.u32()?,
            },
            EXTENDED_VNI_EGRESS => FlowRecord::ExtendedVniEgress { vni: r.u32()? },
            EXTENDED_VNI_INGRESS => FlowRecord::ExtendedVniIngress { vni: r.u32()? },
            EXTENDED_SOCKET_IPV4 => FlowRecord::ExtendedSocketIpv4(socket(&mut r, false)?),
            EXTENDED_SOCKET_IPV6 => FlowRecord::ExtendedSocketIpv6(socket(&mut r, true)?),
            EGRESS_QUEUE => FlowRecord::EgressQueue { queue: r.u32()? },
            EXTENDED_ACL => FlowRecord::ExtendedAcl(ExtendedAcl {
                number: r.u32()?,
                name: r.opaque()?,
                direction: r.u32()?,
            }),
            EXTENDED_FUNCTION => FlowRecord::ExtendedFunction {
                symbol: r.opaque()?,
            },
            EXTENDED_TRANSIT => FlowRecord::ExtendedTransit { delay: r.u32()? },
            EXTENDED_QUEUE => FlowRecord::ExtendedQueue { depth: r.u32()? },
            EXTENDED_HW_TRAP => FlowRecord::ExtendedHwTrap(ExtendedHwTrap {
                group: r.opaque()?,
                trap: r.opaque()?,
            }),
            EXTENDED_LINUX_DROP_REASON => FlowRecord::ExtendedLinuxDropReason {
                reason: r.opaque()?,
            },
            _ => FlowRecord::Unknown { tag, data },
        })
    }
}

fn ethernet(r: &mut Reader<'_>) -> Result<SampledEthernet, DecodeError> {
    Ok(SampledEthernet {
        length: r.u32()?,
        src_mac: r.mac()?,
        dst_mac: r.mac()?,
        eth_type: r.u32()?,
    })
}

fn ip(r: &mut Reader<'_>, v6: bool) -> Result<IpAddr, DecodeError> {
    Ok(if v6 {
        IpAddr::V6(r.ipv6()?)
    } else {
        IpAddr::V4(r.ipv4()?)
    })
}

fn sampled_ip(r: &mut Reader<'_>, v6: bool) -> Result<SampledIp, DecodeError> {
    Ok(SampledIp {
        length: r.u32()?,
        protocol: r.u32()?,
        src: ip(r, v6)?,
        dst: ip(r, v6)?,
        src_port: r.u32()?,
        dst_port: r.u32()?,
        tcp_flags: r.u32()?,
        tos: r.u32()?,
    })
}

fn socket(r: &mut Reader<'_>, v6: bool) -> Result<ExtendedSocket, DecodeError> {
    Ok(ExtendedSocket {
        protocol: r.u32()?,
        local_ip: ip(r, v6)?,
        remote_ip: ip(r, v6)?,
        local_port: r.u32()?,
        remote_port: r.u32()?,
    })
}

/// Check the AS path segments once (each segment: type, count, count words) and keep their
/// bytes for lazy iteration.
fn as_path<'a>(r: &mut Reader<'a>) -> Result<AsPath<'a>, DecodeError> {
    let count = r.u32()?;
    let start = r.rest();
    let mut used = 0usize;
    for _ in 0..count {
        let _segment_type = r.u32()?;
        let n = r.u32()? as usize;
        r.bytes(n.saturating_mul(4))?;
        used += 8 + 4 * n;
    }
    Ok(AsPath {
        bytes: start.get(..used).unwrap_or(&[]),
        count,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn words(ws: &[u32]) -> Vec<u8> {
        ws.iter().flat_map(|w| w.to_be_bytes()).collect()
    }

    #[test]
    fn sampled_header_view() {
        let mut b = words(&[1, 64, 4, 6]);
        b.extend_from_slice(&[1, 2, 3, 4, 5, 6, 0, 0]);
        let h = SampledHeader::new_checked(&b).unwrap();
        assert_eq!(h.protocol(), HeaderProtocol::Ethernet);
        assert_eq!((h.frame_length(), h.stripped()), (64, 4));
        assert_eq!(h.header(), &[1, 2, 3, 4, 5, 6]);
        // header length beyond the record
        let b = words(&[1, 64, 4, 100, 0]);
        assert!(matches!(
            SampledHeader::new_checked(&b),
            Err(DecodeError::LengthOverrun { declared: 100, .. })
        ));
        assert!(SampledHeader::new_checked(&b[..15]).is_err());
    }

    #[test]
    fn ipv4_and_switch_records() {
        let b = words(&[40, 6, 0x0303_0303, 0x0404_0404, 53032, 25562, 0x10, 0x70]);
        let FlowRecord::SampledIpv4(ip) = FlowRecord::parse(Tag::new(0, 3), &b).unwrap() else {
            panic!("not IPv4")
        };
        assert_eq!(ip.src, "3.3.3.3".parse::<IpAddr>().unwrap());
        assert_eq!(
            (ip.src_port, ip.dst_port, ip.tcp_flags, ip.tos),
            (53032, 25562, 0x10, 0x70)
        );
        assert!(FlowRecord::parse(Tag::new(0, 3), &b[..31]).is_err());
        let b = words(&[100, 0, 200, 1]);
        assert_eq!(
            FlowRecord::parse(Tag::new(0, 1001), &b).unwrap(),
            FlowRecord::ExtendedSwitch(ExtendedSwitch {
                src_vlan: 100,
                src_priority: 0,
                dst_vlan: 200,
                dst_priority: 1
            })
        );
    }

    #[test]
    fn gateway_with_as_path() {
        let b = words(&[
            1,
            0x0A00_0001,
            65000,
            65001,
            65002, // next hop, as, src as, src peer as
            2,     // two segments
            2,
            2,
            174,
            3356, // AS_SEQUENCE 174 3356
            1,
            1,
            65010, // AS_SET {65010}
            1,
            0xFDE8_0001, // one community
            100,
        ]);
        let FlowRecord::ExtendedGateway(g) = FlowRecord::parse(Tag::new(0, 1003), &b).unwrap()
        else {
            panic!("not a gateway")
        };
        assert_eq!(g.as_number, 65000);
        assert_eq!(g.as_path.len(), 2);
        let segs: Vec<_> = g.as_path.segments().collect();
        assert_eq!(segs[0].segment_type, 2);
        assert_eq!(segs[0].asns.iter().collect::<Vec<_>>(), vec![174, 3356]);
        assert_eq!(g.as_path.origin(), Some(65010));
        assert_eq!(g.communities.iter().collect::<Vec<_>>(), vec![0xFDE8_0001]);
        assert_eq!(g.local_pref, 100);
        // an absurd segment count fails on the bytes, not on memory
        let b = words(&[1, 1, 0, 0, 0, u32::MAX, 2, 0x4000_0000]);
        assert!(FlowRecord::parse(Tag::new(0, 1003), &b).is_err());
    }

    #[test]
    fn drop_records() {
        // 1037: number 1, name "foo" padded with a non-zero byte, direction 2
        let b = [0, 0, 0, 1, 0, 0, 0, 3, b'f', b'o', b'o', 0x99, 0, 0, 0, 2];
        assert_eq!(
            FlowRecord::parse(Tag::new(0, 1037), &b).unwrap(),
            FlowRecord::ExtendedAcl(ExtendedAcl {
                number: 1,
                name: b"foo",
                direction: 2
            })
        );
        // 1038 unpadded at the end of its record
        let b = [0, 0, 0, 6, b'f', b'o', b'o', b'b', b'a', b'r'];
        assert_eq!(
            FlowRecord::parse(Tag::new(0, 1038), &b).unwrap(),
            FlowRecord::ExtendedFunction { symbol: b"foobar" }
        );
        assert_eq!(
            FlowRecord::parse(Tag::new(0, 1036), &[0, 0, 0, 42]).unwrap(),
            FlowRecord::EgressQueue { queue: 42 }
        );
        assert!(is_known(Tag::new(0, 1042)));
        assert!(!is_known(Tag::new(0, 1043)));
        assert!(!is_known(Tag::new(4413, 1)));
        assert!(matches!(
            FlowRecord::parse(Tag::new(0, 2206), &[1]).unwrap(),
            FlowRecord::Unknown { .. }
        ));
    }
}
