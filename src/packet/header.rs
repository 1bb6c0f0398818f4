//! The sampled-header decoder: walk a sampled frame's layers and fill [`PacketKeys`].
//!
//! An sFlow flow sample carries the first bytes of the frame (typically 128), so every layer
//! may be cut short: the decoder takes each key as far as the bytes go, and a key whose bytes
//! are missing stays `None` (a sample lacking a key does not match flows keyed on it). It
//! never reads past the bytes, never panics and never allocates; it runs once per flow
//! sample on the receive threads, so it is written as straight-line code over the
//! [`super::ethernet`], [`super::ipv4`], [`super::ipv6`] and [`super::transport`] views.
//! Two entry points: [`decode_header`] returns everything by value (tools, tests);
//! [`decode_header_keys`] writes the keys where the caller keeps them. The receive path
//! first tries the straight-line [`super::fast`] decoder for the common frame shape and
//! comes here for everything else; this walk is the reference the fast one is tested against.
//!
//! Layers: Ethernet (header protocol 1) with any depth of 802.1Q / 802.1ad tags and 802.2
//! LLC/SNAP; raw IPv4 (11) and raw IPv6 (12); IPv4 options; IPv6 extension headers; TCP,
//! UDP, ICMP (in IPv4) and ICMPv6 (in IPv6). A non-first IPv4 or IPv6 fragment has no
//! transport keys, because its payload does not start with the transport header.
//!
//! ICMP destination unreachable, sFlow-RT's `icmpunreachable*` keys, read from the
//! original packet quoted after the 8-byte ICMP header:
//! - ICMPv4 type 3, exactly as sFlow-RT: code 0 (net) → [`Unreachable::Net`] and code 1
//!   (host) → [`Unreachable::Host`], both the quoted destination address; code 2 (protocol)
//!   → [`Unreachable::Protocol`], the quoted protocol; code 3 (port) → [`Unreachable::Port`],
//!   the quoted TCP or UDP destination port (none for another quoted protocol). Other codes
//!   set none.
//! - ICMPv6 type 1, which sFlow-RT does not document; flowsift maps the codes that mean the
//!   same thing (RFC 4443 section 3.1): code 0 (no route to destination) → `Net`, code 3
//!   (address unreachable) → `Host`, both the quoted destination address; code 4 (port
//!   unreachable) → `Port`, the quoted TCP or UDP destination port found after the quoted
//!   packet's extension headers. Codes 1, 2, 5, 6 and 7 (policy and source-address
//!   failures) set none: they say nothing about a closed port or an absent host.
//!
//! Whenever the quoted packet is cut before the needed field, is not the expected IP
//! version, or (for ports) is a non-first fragment, no unreachable key is set.

use std::net::IpAddr;

use super::ethernet::{self, ethertype};
use super::transport::{self, protocol};
use super::{ipv4, ipv6, PacketKeys, Unreachable, L4};

/// The sFlow `header_protocol` of a sampled-header record (sFlow v5, `enum header_protocol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderProtocol {
    /// 1: ETHERNET-ISO88023.
    Ethernet,
    /// 11: IPv4, no link layer.
    Ipv4,
    /// 12: IPv6, no link layer.
    Ipv6,
    /// Any other value (token ring, FDDI, MPLS, 802.11, ...): carried, not decoded.
    Unknown(u32),
}

impl From<u32> for HeaderProtocol {
    fn from(v: u32) -> Self {
        match v {
            1 => HeaderProtocol::Ethernet,
            11 => HeaderProtocol::Ipv4,
            12 => HeaderProtocol::Ipv6,
            n => HeaderProtocol::Unknown(n),
        }
    }
}

impl From<HeaderProtocol> for u32 {
    fn from(p: HeaderProtocol) -> u32 {
        match p {
            HeaderProtocol::Ethernet => 1,
            HeaderProtocol::Ipv4 => 11,
            HeaderProtocol::Ipv6 => 12,
            HeaderProtocol::Unknown(n) => n,
        }
    }
}

/// A decoded sampled header: the flow keys, and where layers start (for tools that report
/// sizes relative to a layer, such as sflowtool's IP size column).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodedHeader {
    pub keys: PacketKeys,
    /// Offset of the IPv4 or IPv6 header within the sampled bytes, when one was found.
    pub network_offset: Option<u16>,
    /// Offset of the transport (TCP, UDP, ICMP, ...) header within the sampled bytes, when
    /// the network header and its options or extension headers were complete.
    pub transport_offset: Option<u16>,
    /// VID of the innermost VLAN tag (`keys.vlan()` is the outermost); sflowtool reports
    /// this one, so `decode --format line` needs it.
    pub inner_vlan: Option<u16>,
}

/// Everything [`DecodedHeader`] holds besides the keys: small enough to return in registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeaderLayout {
    pub network_offset: Option<u16>,
    pub transport_offset: Option<u16>,
    pub inner_vlan: Option<u16>,
}

/// Decode a sampled header of the given sFlow header protocol (1 Ethernet, 11 IPv4, 12 IPv6;
/// other protocols yield no keys).
#[inline]
pub fn decode_header(header_protocol: u32, bytes: &[u8]) -> DecodedHeader {
    let mut keys = PacketKeys::default();
    let layout = decode_header_keys(header_protocol, bytes, &mut keys);
    DecodedHeader {
        keys,
        network_offset: layout.network_offset,
        transport_offset: layout.transport_offset,
        inner_vlan: layout.inner_vlan,
    }
}

/// [`decode_header`] writing the keys where the caller keeps them, typically inside the
/// `SampleRecord` being built. Only the keys the header carries are written: pass
/// `PacketKeys::default()` (or keys another record already filled, which the header then
/// overrides field by field).
///
/// Why it exists: a 104-byte `PacketKeys` returned by value and then moved into a record is
/// split by the optimiser into a load and a store per field at every move (about 55
/// instructions each, measured with callgrind), more than the decoding itself.
#[inline(always)]
pub fn decode_header_keys(
    header_protocol: u32,
    bytes: &[u8],
    keys: &mut PacketKeys,
) -> HeaderLayout {
    let mut layout = HeaderLayout::default();
    match HeaderProtocol::from(header_protocol) {
        HeaderProtocol::Ethernet => decode_ethernet(bytes, keys, &mut layout),
        HeaderProtocol::Ipv4 => decode_ipv4(bytes, 0, keys, &mut layout),
        HeaderProtocol::Ipv6 => decode_ipv6(bytes, 0, keys, &mut layout),
        HeaderProtocol::Unknown(_) => {}
    }
    layout
}

#[inline(always)]
fn decode_ethernet(bytes: &[u8], keys: &mut PacketKeys, layout: &mut HeaderLayout) {
    let Ok(frame) = ethernet::Frame::new_checked(bytes) else {
        return;
    };
    keys.set_mac_destination(Some(frame.destination()));
    keys.set_mac_source(Some(frame.source()));
    let payload = frame.payload_type();
    keys.set_vlan(payload.outer_vlan);
    layout.inner_vlan = payload.inner_vlan;
    keys.set_ethernet_protocol(payload.ethertype);
    match payload.ethertype {
        Some(ethertype::IPV4) => decode_ipv4(bytes, payload.offset, keys, layout),
        Some(ethertype::IPV6) => decode_ipv6(bytes, payload.offset, keys, layout),
        _ => {}
    }
}

#[inline(always)]
fn decode_ipv4(bytes: &[u8], at: usize, keys: &mut PacketKeys, layout: &mut HeaderLayout) {
    let Some(Ok(ip)) = bytes.get(at..).map(ipv4::Packet::new_checked) else {
        return;
    };
    layout.network_offset = u16::try_from(at).ok();
    keys.set_ip_source(Some(IpAddr::V4(ip.source())));
    keys.set_ip_destination(Some(IpAddr::V4(ip.destination())));
    keys.set_ip_protocol(Some(ip.protocol()));
    keys.set_ip_tos(Some(ip.tos()));
    keys.set_ip_ttl(Some(ip.ttl()));
    if ip.fragment_offset() != 0 {
        return;
    }
    let Some(l4) = ip.payload() else {
        return;
    };
    layout.transport_offset = u16::try_from(at + ip.header_len()).ok();
    decode_transport(ip.protocol(), l4, false, keys);
}

#[inline]
fn decode_ipv6(bytes: &[u8], at: usize, keys: &mut PacketKeys, layout: &mut HeaderLayout) {
    let Some(Ok(ip)) = bytes.get(at..).map(ipv6::Packet::new_checked) else {
        return;
    };
    layout.network_offset = u16::try_from(at).ok();
    keys.set_ip_source(Some(IpAddr::V6(ip.source())));
    keys.set_ip_destination(Some(IpAddr::V6(ip.destination())));
    keys.set_ip_tos(Some(ip.traffic_class()));
    keys.set_ip_ttl(Some(ip.hop_limit()));
    let Some(upper) = ip.upper_layer() else {
        return;
    };
    keys.set_ip_protocol(Some(upper.protocol));
    if !upper.first_fragment {
        return;
    }
    let Some(l4) = ip.buffer().get(upper.offset..) else {
        return;
    };
    layout.transport_offset = u16::try_from(at + upper.offset).ok();
    decode_transport(upper.protocol, l4, true, keys);
}

/// Transport keys; ICMP is only ICMP inside IPv4 and ICMPv6 only inside IPv6.
#[inline(always)]
fn decode_transport(proto: u8, l4: &[u8], over_ipv6: bool, keys: &mut PacketKeys) {
    match proto {
        protocol::TCP => {
            if let Some((src, dst)) = transport::ports(l4) {
                keys.set_tcp_source_port(Some(src));
                keys.set_tcp_destination_port(Some(dst));
            }
            keys.set_tcp_flags(transport::tcp_flags(l4).map(u16::from));
        }
        protocol::UDP => {
            if let Some((src, dst)) = transport::ports(l4) {
                keys.set_udp_source_port(Some(src));
                keys.set_udp_destination_port(Some(dst));
            }
        }
        protocol::ICMP if !over_ipv6 => {
            if let Some((ty, code)) = transport::icmp_type_code(l4) {
                keys.set_icmp_type(Some(ty));
                keys.set_icmp_code(Some(code));
                if ty == ICMPV4_DESTINATION_UNREACHABLE {
                    keys.set_unreachable(icmpv4_unreachable(code, l4));
                }
            }
        }
        protocol::ICMPV6 if over_ipv6 => {
            if let Some((ty, code)) = transport::icmp_type_code(l4) {
                keys.set_icmp_type(Some(ty));
                keys.set_icmp_code(Some(code));
                if ty == ICMPV6_DESTINATION_UNREACHABLE {
                    keys.set_unreachable(icmpv6_unreachable(code, l4));
                }
            }
        }
        _ => {}
    }
}

/// RFC 792.
const ICMPV4_DESTINATION_UNREACHABLE: u8 = 3;
/// RFC 4443 section 3.1.
const ICMPV6_DESTINATION_UNREACHABLE: u8 = 1;

/// The TCP or UDP destination port of a quoted packet's transport bytes.
#[inline]
fn quoted_port(proto: u8, l4: &[u8]) -> Option<Unreachable> {
    let protocol = match proto {
        protocol::TCP => L4::Tcp,
        protocol::UDP => L4::Udp,
        _ => return None,
    };
    let port = transport::destination_port(l4)?;
    Some(Unreachable::Port { protocol, port })
}

/// sFlow-RT's ICMPv4 destination-unreachable keys (see the module docs).
#[inline]
pub(super) fn icmpv4_unreachable(code: u8, icmp: &[u8]) -> Option<Unreachable> {
    let quoted = ipv4::Packet::new_checked(transport::icmp_error_payload(icmp)?).ok()?;
    match code {
        0 => Some(Unreachable::Net(IpAddr::V4(quoted.destination()))),
        1 => Some(Unreachable::Host(IpAddr::V4(quoted.destination()))),
        2 => Some(Unreachable::Protocol(quoted.protocol())),
        3 if quoted.fragment_offset() == 0 => quoted_port(quoted.protocol(), quoted.payload()?),
        _ => None,
    }
}

/// flowsift's ICMPv6 destination-unreachable keys (see the module docs).
#[inline]
fn icmpv6_unreachable(code: u8, icmp: &[u8]) -> Option<Unreachable> {
    let quoted = ipv6::Packet::new_checked(transport::icmp_error_payload(icmp)?).ok()?;
    match code {
        0 => Some(Unreachable::Net(IpAddr::V6(quoted.destination()))),
        3 => Some(Unreachable::Host(IpAddr::V6(quoted.destination()))),
        4 => {
            let upper = quoted.upper_layer()?;
            if !upper.first_fragment {
                return None;
            }
            quoted_port(upper.protocol, quoted.buffer().get(upper.offset..)?)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const ETH_V4: [u8; 14] = [
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0x08, 0x00,
    ];

    /// Ethernet + IPv4 (192.0.2.1 -> 198.51.100.7, TTL 61, TOS 0x28, proto `p`) + `l4`.
    fn eth_ipv4(p: u8, l4: &[u8]) -> Vec<u8> {
        let mut b = ETH_V4.to_vec();
        b.extend_from_slice(&[
            0x45, 0x28, 0x00, 0x3C, 0x00, 0x01, 0x40, 0x00, 61, p, 0, 0, 192, 0, 2, 1, 198, 51,
            100, 7,
        ]);
        b.extend_from_slice(l4);
        b
    }

    const TCP_SYN: [u8; 20] = [
        0xC3, 0x50, 0x00, 0x16, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xFA, 0xF0, 0, 0, 0, 0,
    ];

    #[test]
    fn ethernet_ipv4_tcp() {
        let b = eth_ipv4(6, &TCP_SYN);
        let d = decode_header(1, &b);
        let k = d.keys;
        assert_eq!(
            k.mac_destination(),
            Some([0x00, 0x11, 0x22, 0x33, 0x44, 0x55])
        );
        assert_eq!(k.mac_source(), Some([0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB]));
        assert_eq!(k.vlan(), None);
        assert_eq!(k.ethernet_protocol(), Some(0x0800));
        assert_eq!(k.ip_source(), Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))));
        assert_eq!(
            k.ip_destination(),
            Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)))
        );
        assert_eq!(k.ip_protocol(), Some(6));
        assert_eq!(k.ip_tos(), Some(0x28));
        assert_eq!(k.ip_ttl(), Some(61));
        assert_eq!(k.tcp_source_port(), Some(50000));
        assert_eq!(k.tcp_destination_port(), Some(22));
        assert_eq!(k.tcp_flags(), Some(0x02));
        assert_eq!(k.udp_source_port(), None);
        assert_eq!(d.network_offset, Some(14));
        assert_eq!(d.transport_offset, Some(34));
    }

    #[test]
    fn every_truncation_is_a_prefix_of_the_keys() {
        let b = eth_ipv4(6, &TCP_SYN);
        for n in 0..=b.len() {
            let k = decode_header(1, &b[..n]).keys;
            assert_eq!(k.mac_source().is_some(), n >= 14, "{n}");
            assert_eq!(k.ip_source().is_some(), n >= 34, "{n}");
            assert_eq!(k.tcp_destination_port().is_some(), n >= 38, "{n}");
            assert_eq!(k.tcp_flags().is_some(), n >= 48, "{n}");
        }
    }

    #[test]
    fn udp_and_raw_ipv4() {
        let udp = [0x00, 0x35, 0xD4, 0x31, 0x00, 0x08, 0, 0];
        let b = eth_ipv4(17, &udp);
        let k = decode_header(1, &b).keys;
        assert_eq!(
            (k.udp_source_port(), k.udp_destination_port()),
            (Some(53), Some(54321))
        );
        assert_eq!(k.tcp_source_port(), None);
        // The same packet as header protocol 11: no link layer, no EtherType.
        let d = decode_header(11, &b[14..]);
        assert_eq!(d.keys.udp_destination_port(), Some(54321));
        assert_eq!(d.keys.mac_source(), None);
        assert_eq!(d.keys.ethernet_protocol(), None);
        assert_eq!(d.network_offset, Some(0));
        // An IPv6 packet under header protocol 11 is not IPv4.
        assert_eq!(decode_header(11, &ipv6_udp()).keys.ip_source(), None);
    }

    #[test]
    fn ipv4_options_and_fragments() {
        let mut b = eth_ipv4(17, &[]);
        b[14] = 0x46; // IHL 6: 4 bytes of options
        b.extend_from_slice(&[0x94, 0x04, 0x00, 0x00]); // router alert
        b.extend_from_slice(&[0x00, 0x35, 0x00, 0x44]);
        let d = decode_header(1, &b);
        assert_eq!(d.keys.udp_destination_port(), Some(68));
        assert_eq!(d.transport_offset, Some(38));
        // Options cut: IP keys, no transport.
        let d = decode_header(1, &b[..36]);
        assert_eq!(d.keys.ip_protocol(), Some(17));
        assert_eq!(d.keys.udp_source_port(), None);
        assert_eq!(d.transport_offset, None);
        // Non-first fragment: no transport keys even though bytes follow.
        b[20] = 0x00;
        b[21] = 0x10;
        let k = decode_header(1, &b).keys;
        assert_eq!(k.ip_protocol(), Some(17));
        assert_eq!(k.udp_destination_port(), None);
    }

    #[test]
    fn vlan_and_qinq() {
        // 802.1Q VID 32, PCP 5.
        let mut b = ETH_V4[..12].to_vec();
        b.extend_from_slice(&[0x81, 0x00, 0xA0, 0x20, 0x08, 0x00]);
        b.extend_from_slice(&eth_ipv4(6, &TCP_SYN)[14..]);
        let d = decode_header(1, &b);
        assert_eq!(d.keys.vlan(), Some(32));
        assert_eq!(d.inner_vlan, Some(32));
        assert_eq!(d.keys.ethernet_protocol(), Some(0x0800));
        assert_eq!(d.keys.tcp_destination_port(), Some(22));
        assert_eq!(d.network_offset, Some(18));

        // 802.1ad S-tag 1062 + C-tag 1493, as in the corpus file flowsift-synth/qinq-tcp.pcap.
        let mut b = ETH_V4[..12].to_vec();
        b.extend_from_slice(&[0x88, 0xA8, 0x44, 0x26, 0x81, 0x00, 0x45, 0xD5, 0x08, 0x00]);
        b.extend_from_slice(&eth_ipv4(6, &TCP_SYN)[14..]);
        let d = decode_header(1, &b);
        assert_eq!(d.keys.vlan(), Some(1062));
        assert_eq!(d.inner_vlan, Some(1493));
        assert_eq!(d.keys.ethernet_protocol(), Some(0x0800));
        assert_eq!(d.keys.tcp_source_port(), Some(50000));
        assert_eq!(d.network_offset, Some(22));
    }

    fn ipv6_udp() -> Vec<u8> {
        let mut b = vec![0x60, 0x00, 0x00, 0x00, 0x00, 0x08, 17, 255];
        b.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
        b.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).octets());
        b.extend_from_slice(&[0x02, 0x22, 0x02, 0x23, 0x00, 0x08, 0, 0]);
        b
    }

    #[test]
    fn ipv6_udp_and_extension_headers() {
        let mut b = ETH_V4[..12].to_vec();
        b.extend_from_slice(&[0x86, 0xDD]);
        b.extend_from_slice(&ipv6_udp());
        let d = decode_header(1, &b);
        let k = d.keys;
        assert_eq!(k.ethernet_protocol(), Some(0x86DD));
        assert_eq!(k.ip_source(), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(k.ip_destination(), Some("2001:db8::2".parse().unwrap()));
        assert_eq!(k.ip_protocol(), Some(17));
        assert_eq!(k.ip_ttl(), Some(255));
        assert_eq!(k.ip_tos(), Some(0));
        assert_eq!(
            (k.udp_source_port(), k.udp_destination_port()),
            (Some(546), Some(547))
        );
        assert_eq!(d.network_offset, Some(14));
        assert_eq!(d.transport_offset, Some(54));

        // Raw IPv6 with a hop-by-hop header before UDP.
        let mut v = ipv6_udp();
        v[6] = 0;
        let udp = v.split_off(40);
        v.extend_from_slice(&[17, 0, 5, 2, 0, 0, 1, 0]);
        v.extend_from_slice(&udp);
        let d = decode_header(12, &v);
        assert_eq!(d.keys.ip_protocol(), Some(17));
        assert_eq!(d.keys.udp_destination_port(), Some(547));
        assert_eq!(d.transport_offset, Some(48));
        // Truncated inside the hop-by-hop header's first bytes: protocol unknown.
        let d = decode_header(12, &v[..41]);
        assert_eq!(d.keys.ip_source(), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(d.keys.ip_protocol(), None);
        // ESP stops the walk.
        let mut e = ipv6_udp();
        e[6] = 50;
        let k = decode_header(12, &e).keys;
        assert_eq!(k.ip_protocol(), Some(50));
        assert_eq!(k.udp_source_port(), None);
    }

    #[test]
    fn icmp_echo_and_protocol_confinement() {
        let b = eth_ipv4(1, &[8, 0, 0xF7, 0xFF, 0, 1, 0, 1]);
        let k = decode_header(1, &b).keys;
        assert_eq!((k.icmp_type(), k.icmp_code()), (Some(8), Some(0)));
        assert_eq!(k.unreachable(), None);
        // Protocol 58 inside IPv4 is not ICMPv6.
        let b = eth_ipv4(58, &[1, 4, 0, 0, 0, 0, 0, 0]);
        assert_eq!(decode_header(1, &b).keys.icmp_type(), None);
    }

    /// ICMPv4 destination unreachable with code `code`, quoting an IPv4 packet
    /// 198.51.100.7 -> 203.0.113.9 of protocol `p` whose first transport bytes are `l4`.
    fn unreachable_v4(code: u8, p: u8, l4: &[u8]) -> Vec<u8> {
        let mut icmp = vec![3, code, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&[
            0x45, 0x00, 0x00, 0x1C, 0xAB, 0xCD, 0x00, 0x00, 64, p, 0, 0, 198, 51, 100, 7, 203, 0,
            113, 9,
        ]);
        icmp.extend_from_slice(l4);
        eth_ipv4(1, &icmp)
    }

    #[test]
    fn icmpv4_unreachable_codes() {
        let dst = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
        let udp = [0xD4, 0x31, 0x00, 0x35, 0x00, 0x08, 0, 0];
        let cases = [
            (0, 17, Some(Unreachable::Net(dst))),
            (1, 17, Some(Unreachable::Host(dst))),
            (2, 132, Some(Unreachable::Protocol(132))),
            (
                3,
                17,
                Some(Unreachable::Port {
                    protocol: L4::Udp,
                    port: 53,
                }),
            ),
            (
                3,
                6,
                Some(Unreachable::Port {
                    protocol: L4::Tcp,
                    port: 53,
                }),
            ),
            (3, 132, None),
            (4, 17, None),
            (13, 17, None),
        ];
        for (code, p, want) in cases {
            let k = decode_header(1, &unreachable_v4(code, p, &udp)).keys;
            assert_eq!(k.icmp_type(), Some(3));
            assert_eq!(k.icmp_code(), Some(code));
            assert_eq!(k.unreachable(), want, "code {code} proto {p}");
        }
        // Truncated before the quoted port, or inside the quoted header.
        let b = unreachable_v4(3, 17, &udp);
        assert_eq!(decode_header(1, &b[..b.len() - 5]).keys.unreachable(), None);
        assert!(decode_header(1, &b[..b.len() - 4])
            .keys
            .unreachable()
            .is_some());
        let b = unreachable_v4(1, 17, &[]);
        assert_eq!(decode_header(1, &b[..b.len() - 1]).keys.unreachable(), None);
    }

    #[test]
    fn icmpv6_unreachable_codes() {
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let quoted = {
            let mut q = ipv6_udp();
            q[6] = 6;
            q.truncate(40);
            q.extend_from_slice(&[0xC3, 0x50, 0x01, 0xBB, 0, 0, 0, 0]);
            q
        };
        for (code, want) in [
            (0, Some(Unreachable::Net(IpAddr::V6(dst)))),
            (1, None),
            (3, Some(Unreachable::Host(IpAddr::V6(dst)))),
            (
                4,
                Some(Unreachable::Port {
                    protocol: L4::Tcp,
                    port: 443,
                }),
            ),
            (5, None),
        ] {
            let mut b = vec![0x60, 0, 0, 0, 0, 0, 58, 64];
            b.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xfe).octets());
            b.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
            b.extend_from_slice(&[1, code, 0, 0, 0, 0, 0, 0]);
            b.extend_from_slice(&quoted);
            let k = decode_header(12, &b).keys;
            assert_eq!((k.icmp_type(), k.icmp_code()), (Some(1), Some(code)));
            assert_eq!(k.unreachable(), want, "code {code}");
        }
    }

    #[test]
    fn decode_into_existing_keys() {
        let b = eth_ipv4(6, &TCP_SYN);
        let whole = decode_header(1, &b);
        let mut keys = PacketKeys::default();
        let layout = decode_header_keys(1, &b, &mut keys);
        assert_eq!(keys, whole.keys);
        assert_eq!(layout.network_offset, whole.network_offset);
        assert_eq!(layout.transport_offset, whole.transport_offset);
        assert_eq!(layout.inner_vlan, whole.inner_vlan);
        // Only the keys the header carries are written (TCP and UDP ports share storage, so
        // the untouched key is another one).
        let mut keys = PacketKeys::default().with_icmp_type(7);
        decode_header_keys(1, &b, &mut keys);
        assert_eq!(keys.icmp_type(), Some(7));
        assert_eq!(keys.tcp_destination_port(), Some(22));
    }

    #[test]
    fn unknown_protocols_and_garbage_never_panic() {
        assert_eq!(decode_header(2, &ETH_V4), DecodedHeader::default());
        assert_eq!(decode_header(1, &[]), DecodedHeader::default());
        assert_eq!(decode_header(11, &[0x45]), DecodedHeader::default());
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut buf = [0u8; 160];
        for i in 0..20_000 {
            for byte in buf.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = state as u8;
            }
            // Steer towards the interesting paths.
            buf[12] = 0x08;
            buf[13] = if i % 2 == 0 { 0x00 } else { 0xDD };
            if i % 2 == 1 {
                buf[12] = 0x86;
            }
            buf[14] = if i % 2 == 0 { 0x45 } else { 0x60 };
            for proto in [1, 11, 12] {
                let _ = decode_header(proto, &buf[..(i % 161)]);
            }
        }
    }
}
