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
//! transport keys, because its payload does not start with the transport header. An MPLS
//! label stack over Ethernet (0x8847, 0x8848) is walked to the IPv4 or IPv6 packet under the
//! bottom label, which keeps the frame's level: MPLS is a label stack, not an encapsulation
//! with endpoints.
//!
//! One file per role: this one holds the entry points and the layer walk (Ethernet, VLAN
//! tags, MPLS, IPv4, IPv6, the transport keys); `tunnels` recognises tunnel headers in a
//! transport payload and walks the levels inside them; `unreachable` reads the ICMP
//! destination-unreachable keys from the packet an ICMP error quotes; `tests.rs` holds the
//! unit tests (byte-literal frames). Each protocol's rules are documented where they are
//! implemented, so a reader of one role need not read the others.

use std::net::IpAddr;

use super::ethernet::{self, ethertype};
use super::transport::{self, protocol};
use super::{array_at, ipv4, ipv6, InnerKeys, PacketKeys};

mod tunnels;
mod unreachable;

pub(super) use tunnels::{
    tunnel, vxlan_vni, walk_tunnels, walk_tunnels_from, Payload, GENEVE_PORT, UDP_HEADER,
    VXLAN_HEADER, VXLAN_PORT,
};
pub(super) use unreachable::{icmpv4_unreachable, icmpv6_unreachable};
use unreachable::{ICMPV4_DESTINATION_UNREACHABLE, ICMPV6_DESTINATION_UNREACHABLE};

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
    /// The keys inside tunnels: `keys.depth()` levels.
    pub inner: InnerKeys,
}

impl DecodedHeader {
    /// The keys of tunnel level `level` (0 = [`Self::keys`]), `None` past the levels found.
    pub fn level_keys(&self, level: usize) -> Option<&PacketKeys> {
        match level {
            0 => Some(&self.keys),
            n if n <= self.keys.depth() => self.inner.level(n),
            _ => None,
        }
    }
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
    let mut inner = InnerKeys::default();
    let layout = decode_header_keys(header_protocol, bytes, &mut keys, &mut inner);
    DecodedHeader {
        keys,
        network_offset: layout.network_offset,
        transport_offset: layout.transport_offset,
        inner_vlan: layout.inner_vlan,
        inner,
    }
}

/// [`decode_header`] writing the keys where the caller keeps them, typically inside the
/// `SampleRecord` being built (the outermost header's in `keys`, those inside tunnels in
/// `inner`, as many levels as `keys.depth()` then says). Only the keys the header carries
/// are written: pass `PacketKeys::default()` (or keys another record already filled, which
/// the header then overrides field by field).
///
/// Why it exists: a 104-byte `PacketKeys` returned by value and then moved into a record is
/// split by the optimiser into a load and a store per field at every move (about 55
/// instructions each, measured with callgrind), more than the decoding itself.
#[inline(always)]
pub fn decode_header_keys(
    header_protocol: u32,
    bytes: &[u8],
    keys: &mut PacketKeys,
    inner: &mut InnerKeys,
) -> HeaderLayout {
    let mut layout = HeaderLayout::default();
    keys.set_depth(0);
    let tunnel = match HeaderProtocol::from(header_protocol) {
        HeaderProtocol::Ethernet => decode_ethernet(bytes, keys, &mut layout),
        HeaderProtocol::Ipv4 => decode_ipv4(bytes, 0, keys, &mut layout),
        HeaderProtocol::Ipv6 => decode_ipv6(bytes, 0, keys, &mut layout),
        HeaderProtocol::Unknown(_) => None,
    };
    if let Some(payload) = tunnel {
        walk_tunnels(payload, keys, inner);
    }
    layout
}

#[inline(always)]
fn decode_ethernet<'a>(
    bytes: &'a [u8],
    keys: &mut PacketKeys,
    layout: &mut HeaderLayout,
) -> Option<Payload<'a>> {
    let frame = ethernet::Frame::new_checked(bytes).ok()?;
    keys.set_mac_destination(Some(frame.destination()));
    keys.set_mac_source(Some(frame.source()));
    let payload = frame.payload_type();
    keys.set_vlan(payload.outer_vlan);
    layout.inner_vlan = payload.inner_vlan;
    keys.set_ethernet_protocol(payload.ethertype);
    match payload.ethertype {
        Some(ethertype::IPV4) => decode_ipv4(bytes, payload.offset, keys, layout),
        Some(ethertype::IPV6) => decode_ipv6(bytes, payload.offset, keys, layout),
        Some(ethertype::MPLS | ethertype::MPLS_MULTICAST) => mpls(bytes, payload.offset, keys),
        _ => None,
    }
}

/// Walk an MPLS label stack (RFC 3032) starting at `at` to the packet under the bottom
/// label, decoded when it is IPv4 or IPv6 (told by its first nibble, as label switching
/// routers do). The layout offsets stay unset: sflowtool does not look under labels, and
/// `decode --format line` reports what it does.
#[inline(never)]
fn mpls<'a>(bytes: &'a [u8], mut at: usize, keys: &mut PacketKeys) -> Option<Payload<'a>> {
    loop {
        let label = array_at::<4>(bytes, at)?;
        at += 4;
        if label[2] & 1 != 0 {
            break;
        }
    }
    let mut layout = HeaderLayout::default();
    match bytes.get(at)? >> 4 {
        4 => decode_ipv4(bytes, at, keys, &mut layout),
        6 => decode_ipv6(bytes, at, keys, &mut layout),
        _ => None,
    }
}

#[inline(always)]
fn decode_ipv4<'a>(
    bytes: &'a [u8],
    at: usize,
    keys: &mut PacketKeys,
    layout: &mut HeaderLayout,
) -> Option<Payload<'a>> {
    let ip = bytes.get(at..).map(ipv4::Packet::new_checked)?.ok()?;
    layout.network_offset = u16::try_from(at).ok();
    keys.set_ip_source(Some(IpAddr::V4(ip.source())));
    keys.set_ip_destination(Some(IpAddr::V4(ip.destination())));
    keys.set_ip_protocol(Some(ip.protocol()));
    keys.set_ip_tos(Some(ip.tos()));
    keys.set_ip_ttl(Some(ip.ttl()));
    if ip.fragment_offset() != 0 {
        return None;
    }
    let l4 = ip.payload()?;
    layout.transport_offset = u16::try_from(at + ip.header_len()).ok();
    decode_transport(ip.protocol(), l4, false, keys)
}

#[inline]
fn decode_ipv6<'a>(
    bytes: &'a [u8],
    at: usize,
    keys: &mut PacketKeys,
    layout: &mut HeaderLayout,
) -> Option<Payload<'a>> {
    let ip = bytes.get(at..).map(ipv6::Packet::new_checked)?.ok()?;
    layout.network_offset = u16::try_from(at).ok();
    keys.set_ip_source(Some(IpAddr::V6(ip.source())));
    keys.set_ip_destination(Some(IpAddr::V6(ip.destination())));
    keys.set_ip_tos(Some(ip.traffic_class()));
    keys.set_ip_ttl(Some(ip.hop_limit()));
    let upper = ip.upper_layer()?;
    keys.set_ip_protocol(Some(upper.protocol));
    if !upper.first_fragment {
        return None;
    }
    let l4 = ip.buffer().get(upper.offset..)?;
    layout.transport_offset = u16::try_from(at + upper.offset).ok();
    decode_transport(upper.protocol, l4, true, keys)
}

/// Transport keys; ICMP is only ICMP inside IPv4 and ICMPv6 only inside IPv6. The
/// contents of a tunnel the transport payload is, if any (see [`tunnel()`]).
#[inline(always)]
fn decode_transport<'a>(
    proto: u8,
    l4: &'a [u8],
    over_ipv6: bool,
    keys: &mut PacketKeys,
) -> Option<Payload<'a>> {
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
                if dst == VXLAN_PORT || dst == GENEVE_PORT {
                    return tunnel(proto, l4, keys);
                }
            }
        }
        protocol::IPIP | protocol::IPV6 | protocol::GRE => return tunnel(proto, l4, keys),
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
    None
}

#[cfg(test)]
mod tests;
