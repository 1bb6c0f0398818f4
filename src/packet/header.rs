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
//!
//! Tunnels: the header inside a tunnel is walked like a sampled header of its own, its keys
//! going to the next level ([`InnerKeys`], sFlow-RT's `.1`, `.2`, `.3` key names), up to
//! [`MAX_DEPTH`] levels; a tunnel deeper than that is recorded in its carrier's keys and
//! flagged ([`PacketKeys::too_deep`]), its contents not walked. Recognised, in the carrier's
//! transport payload (IPv4 or IPv6, first fragments only):
//! - VXLAN (RFC 7348): UDP destination port 4789 whose 8-byte header has the I flag and no
//!   other flag but G (group policy) set; the VNI is [`Key::VxlanVni`]; Ethernet inside.
//! - Geneve (RFC 8926): UDP destination port 6081, version 0, options skipped by their
//!   length; protocol type 0x6558 (Ethernet), 0x0800 or 0x86DD; [`Key::GeneveVni`].
//! - GRE (RFC 2784, RFC 2890): IP protocol 47, version 0 and the reserved bits clear, the
//!   optional checksum, key ([`Key::GreKey`]) and sequence fields skipped by the flags;
//!   protocol 0x0800, 0x86DD, or 0x6558 (Ethernet: NVGRE, RFC 7637, the key's top 24 bits
//!   being its VSID).
//! - IPv4 (protocol 4) and IPv6 (protocol 41) directly inside IPv4 or IPv6.
//!
//! A tunnel is recorded once its own header is complete; its level then exists even when
//! the bytes end before any inner key (a header cut inside a tunnel gives every complete
//! key and no other). An MPLS label stack over Ethernet (0x8847, 0x8848) is walked to the
//! IPv4 or IPv6 packet under the bottom label, which keeps the frame's level: MPLS is a
//! label stack, not an encapsulation with endpoints.
//!
//! [`Key::VxlanVni`]: super::Key::VxlanVni
//! [`Key::GeneveVni`]: super::Key::GeneveVni
//! [`Key::GreKey`]: super::Key::GreKey

use std::net::IpAddr;

use super::ethernet::{self, ethertype};
use super::transport::{self, protocol};
use super::{array_at, be16_at, fast, ipv4, ipv6, PacketKeys, Unreachable, L4};
use super::{InnerKeys, TunnelKind, MAX_DEPTH};

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

/// The contents of a tunnel: where they start, and what they are.
#[derive(Clone, Copy, Debug)]
pub(super) enum Payload<'a> {
    Ethernet(&'a [u8]),
    Ipv4(&'a [u8]),
    Ipv6(&'a [u8]),
}

/// Decode the levels inside the tunnel whose contents are `payload`, found in the
/// outermost header (whose keys are `outer`): each level's keys go to `inner`, fresh, and
/// `outer` records how many levels there are. Out of line: most samples have no tunnel.
#[inline(never)]
pub(super) fn walk_tunnels(payload: Payload<'_>, outer: &mut PacketKeys, inner: &mut InnerKeys) {
    walk_tunnels_from(payload, 0, outer, inner);
}

/// [`walk_tunnels`] for a payload found at level `found_at` (whose keys are already written).
pub(super) fn walk_tunnels_from(
    payload: Payload<'_>,
    found_at: usize,
    outer: &mut PacketKeys,
    inner: &mut InnerKeys,
) {
    let mut next = Some(payload);
    let mut depth = found_at;
    for keys in inner.levels_mut().iter_mut().skip(found_at) {
        let Some(payload) = next else {
            break;
        };
        depth += 1;
        let mut layout = HeaderLayout::default();
        next = match payload {
            Payload::Ethernet(b) => match fast::Ipv4Frame::parse(b) {
                Some(frame) => {
                    frame.write_keys(keys);
                    frame.finish_level(keys)
                }
                None => {
                    *keys = PacketKeys::EMPTY;
                    decode_ethernet(b, keys, &mut layout)
                }
            },
            Payload::Ipv4(b) => {
                *keys = PacketKeys::EMPTY;
                decode_ipv4(b, 0, keys, &mut layout)
            }
            Payload::Ipv6(b) => {
                *keys = PacketKeys::EMPTY;
                decode_ipv6(b, 0, keys, &mut layout)
            }
        };
    }
    outer.set_depth(depth);
    if next.is_some() && depth == MAX_DEPTH {
        outer.set_too_deep();
    }
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
/// contents of a tunnel the transport payload is, if any (see [`tunnel`]).
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

/// IANA-assigned UDP ports of VXLAN (RFC 7348) and Geneve (RFC 8926).
pub(super) const VXLAN_PORT: u16 = 4789;
pub(super) const GENEVE_PORT: u16 = 6081;
/// Bytes of a UDP header (RFC 768), of a VXLAN and of a Geneve fixed header.
pub(super) const UDP_HEADER: usize = 8;
pub(super) const VXLAN_HEADER: usize = 8;
const GENEVE_HEADER: usize = 8;

/// The tunnel an IP payload of protocol `proto` is (see the module docs), recorded in
/// `keys`, and its contents; `None` when it is none. `l4` starts at the transport header.
#[inline(never)]
pub(super) fn tunnel<'a>(proto: u8, l4: &'a [u8], keys: &mut PacketKeys) -> Option<Payload<'a>> {
    match proto {
        protocol::UDP => {
            let udp_payload = l4.get(UDP_HEADER..)?;
            match transport::destination_port(l4)? {
                VXLAN_PORT => vxlan(udp_payload, keys),
                GENEVE_PORT => geneve(udp_payload, keys),
                _ => None,
            }
        }
        protocol::GRE => gre(l4, keys),
        protocol::IPIP => {
            keys.set_tunnel(TunnelKind::IpInIp, None);
            Some(Payload::Ipv4(l4))
        }
        protocol::IPV6 => {
            keys.set_tunnel(TunnelKind::Ipv6InIp, None);
            Some(Payload::Ipv6(l4))
        }
        _ => None,
    }
}

/// VXLAN flags: I (a valid VNI, RFC 7348) and G (group policy, whose ID takes reserved
/// bytes); any other flag means another protocol on the port.
const VXLAN_I: u8 = 0x08;
const VXLAN_G: u8 = 0x80;

/// The VNI of a VXLAN-shaped header (see [`VXLAN_I`]), or `None`.
#[inline(always)]
pub(super) fn vxlan_vni(h: &[u8; VXLAN_HEADER]) -> Option<u32> {
    if h[0] & VXLAN_I == 0 || h[0] & !(VXLAN_I | VXLAN_G) != 0 {
        return None;
    }
    Some(u32::from_be_bytes([0, h[4], h[5], h[6]]))
}

fn vxlan<'a>(b: &'a [u8], keys: &mut PacketKeys) -> Option<Payload<'a>> {
    let vni = vxlan_vni(array_at::<VXLAN_HEADER>(b, 0)?)?;
    keys.set_tunnel(TunnelKind::Vxlan, Some(vni));
    Some(Payload::Ethernet(b.get(VXLAN_HEADER..).unwrap_or_default()))
}

/// The contents of a Geneve or GRE tunnel carrying EtherType `protocol`.
fn by_ethertype(protocol: u16, b: &[u8]) -> Option<Payload<'_>> {
    match protocol {
        ethertype::TRANSPARENT_ETHERNET => Some(Payload::Ethernet(b)),
        ethertype::IPV4 => Some(Payload::Ipv4(b)),
        ethertype::IPV6 => Some(Payload::Ipv6(b)),
        _ => None,
    }
}

fn geneve<'a>(b: &'a [u8], keys: &mut PacketKeys) -> Option<Payload<'a>> {
    let h = array_at::<GENEVE_HEADER>(b, 0)?;
    // Version 0 only (the top two bits).
    if h[0] >> 6 != 0 {
        return None;
    }
    let options = usize::from(h[0] & 0x3F) * 4;
    let contents = by_ethertype(u16::from_be_bytes([h[2], h[3]]), &[])?;
    keys.set_tunnel(
        TunnelKind::Geneve,
        Some(u32::from_be_bytes([0, h[4], h[5], h[6]])),
    );
    let inside = b.get(GENEVE_HEADER + options..).unwrap_or_default();
    Some(with_bytes(contents, inside))
}

/// `payload`'s kind over other bytes.
fn with_bytes<'a>(payload: Payload<'_>, b: &'a [u8]) -> Payload<'a> {
    match payload {
        Payload::Ethernet(_) => Payload::Ethernet(b),
        Payload::Ipv4(_) => Payload::Ipv4(b),
        Payload::Ipv6(_) => Payload::Ipv6(b),
    }
}

/// GRE flags word (RFC 2784, RFC 2890): C (checksum present), K (key present), S (sequence
/// present); the reserved bits (RFC 1701's routing, strict source route, recursion and
/// flags, all retired) and the version must be 0.
const GRE_C: u16 = 0x8000;
const GRE_K: u16 = 0x2000;
const GRE_S: u16 = 0x1000;
const GRE_RESERVED_AND_VERSION: u16 = 0x4FFF;

fn gre<'a>(b: &'a [u8], keys: &mut PacketKeys) -> Option<Payload<'a>> {
    let flags = be16_at(b, 0)?;
    if flags & GRE_RESERVED_AND_VERSION != 0 {
        return None;
    }
    let protocol = be16_at(b, 2)?;
    let contents = by_ethertype(protocol, &[])?;
    let mut at = 4;
    if flags & GRE_C != 0 {
        at += 4;
    }
    let key = if flags & GRE_K != 0 {
        let k = array_at::<4>(b, at)?;
        at += 4;
        Some(u32::from_be_bytes(*k))
    } else {
        None
    };
    if flags & GRE_S != 0 {
        at += 4;
    }
    // The header is complete only with its sequence number.
    if b.len() < at {
        return None;
    }
    let kind = match contents {
        Payload::Ethernet(_) => TunnelKind::Nvgre,
        _ => TunnelKind::Gre,
    };
    keys.set_tunnel(kind, key);
    Some(with_bytes(contents, b.get(at..).unwrap_or_default()))
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
pub(super) fn icmpv6_unreachable(code: u8, icmp: &[u8]) -> Option<Unreachable> {
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
    use crate::packet::{Key, KeyValue};
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
        let layout = decode_header_keys(1, &b, &mut keys, &mut InnerKeys::default());
        assert_eq!(keys, whole.keys);
        assert_eq!(layout.network_offset, whole.network_offset);
        assert_eq!(layout.transport_offset, whole.transport_offset);
        assert_eq!(layout.inner_vlan, whole.inner_vlan);
        // Only the keys the header carries are written (TCP and UDP ports share storage, so
        // the untouched key is another one).
        let mut keys = PacketKeys::default().with_icmp_type(7);
        decode_header_keys(1, &b, &mut keys, &mut InnerKeys::default());
        assert_eq!(keys.icmp_type(), Some(7));
        assert_eq!(keys.tcp_destination_port(), Some(22));
    }

    /// A tenant's answer to a scan: 10.0.201.2 tells 10.0.201.1 that UDP port 20014 is
    /// closed (Ethernet 02:00:00:00:0a:0b -> 02:00:00:00:0a:0a, IPv4, ICMP 3/3 quoting the
    /// probe's IPv4 and UDP headers).
    const TENANT: [u8; 70] = [
        0x02, 0, 0, 0, 0x0A, 0x0A, 0x02, 0, 0, 0, 0x0A, 0x0B, 0x08, 0x00, // Ethernet
        0x45, 0x00, 0x00, 0x38, 0x00, 0x07, 0x00, 0x00, 64, 1, 0, 0, 10, 0, 201, 2, 10, 0, 201,
        1, // IPv4, ICMP
        3, 3, 0, 0, 0, 0, 0, 0, // port unreachable
        0x45, 0x00, 0x00, 0x24, 0x00, 0x01, 0x00, 0x00, 63, 17, 0, 0, 10, 0, 201, 1, 10, 0, 201,
        2, // quoted IPv4, UDP
        0xC0, 0x00, 0x4E, 0x2E, 0x00, 0x10, 0, 0, // quoted UDP to 20014
    ];

    /// The outer headers: Ethernet (tagged VID 7 when `vlan`), IPv4 192.0.2.1 -> 192.0.2.2
    /// or IPv6 2001:db8::1 -> 2001:db8::2 of protocol `p`, then `inner`.
    fn outer(v6: bool, vlan: bool, p: u8, inner: &[u8]) -> Vec<u8> {
        let mut b = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01];
        if vlan {
            b.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
        }
        let len = inner.len() as u16;
        if v6 {
            b.extend_from_slice(&[0x86, 0xDD, 0x60, 0, 0, 0]);
            b.extend_from_slice(&len.to_be_bytes());
            b.extend_from_slice(&[p, 62]);
            b.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
            b.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).octets());
        } else {
            b.extend_from_slice(&[0x08, 0x00, 0x45, 0x00]);
            b.extend_from_slice(&(len + 20).to_be_bytes());
            b.extend_from_slice(&[0, 0, 0x40, 0, 62, p, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
        }
        b.extend_from_slice(inner);
        b
    }

    /// UDP from 49152 to `port`, then `payload`.
    fn udp(port: u16, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0xC0, 0x00];
        b.extend_from_slice(&port.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0]);
        b.extend_from_slice(payload);
        b
    }

    fn cat(a: &[u8], b: &[u8]) -> Vec<u8> {
        [a, b].concat()
    }

    /// The outer keys every frame of [`outer`] has.
    fn check_outer(k: &PacketKeys, v6: bool, vlan: bool, p: u8) {
        assert_eq!(k.mac_source(), Some([0x02, 0, 0, 0, 0, 0x01]));
        assert_eq!(k.vlan(), vlan.then_some(7));
        assert_eq!(
            k.ethernet_protocol(),
            Some(if v6 { 0x86DD } else { 0x0800 })
        );
        let (src, dst): (IpAddr, IpAddr) = if v6 {
            (
                "2001:db8::1".parse().unwrap(),
                "2001:db8::2".parse().unwrap(),
            )
        } else {
            ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap())
        };
        assert_eq!((k.ip_source(), k.ip_destination()), (Some(src), Some(dst)));
        assert_eq!((k.ip_protocol(), k.ip_ttl()), (Some(p), Some(62)));
    }

    /// The tenant's keys, with its Ethernet header or (`ip_only`) from its IPv4 header on.
    fn check_tenant(k: &PacketKeys, ip_only: bool) {
        let mac = (!ip_only).then_some([0x02, 0, 0, 0, 0x0A, 0x0B]);
        assert_eq!(k.mac_source(), mac);
        assert_eq!(k.ethernet_protocol(), (!ip_only).then_some(0x0800), "{k:?}");
        assert_eq!(k.vlan(), None);
        assert_eq!(k.ip_source(), Some("10.0.201.2".parse().unwrap()));
        assert_eq!(k.ip_destination(), Some("10.0.201.1".parse().unwrap()));
        assert_eq!((k.ip_protocol(), k.ip_ttl()), (Some(1), Some(64)));
        assert_eq!((k.icmp_type(), k.icmp_code()), (Some(3), Some(3)));
        assert_eq!(
            k.unreachable(),
            Some(Unreachable::Port {
                protocol: L4::Udp,
                port: 20014
            })
        );
        assert_eq!(k.udp_destination_port(), None);
    }

    /// Every tunnel kind, over IPv4 and IPv6, with and without a VLAN tag: the outer keys,
    /// the tunnel's own, and the tenant's at level 1, key by key.
    #[test]
    fn every_tunnel_kind_both_underlays_tagged_and_not() {
        let tenant_ip = &TENANT[14..];
        // (protocol, the tunnel's bytes after the outer IP header, kind, VNI or key,
        // whether the tenant's Ethernet header is inside)
        let vxlan = udp(4789, &cat(&[0x08, 0, 0, 0, 0x00, 0x27, 0x11, 0], &TENANT));
        let geneve = udp(
            6081,
            &cat(
                &[
                    2, 0, 0x65, 0x58, 0x01, 0x00, 0x02, 0, 0x01, 0x02, 0x80, 1, 9, 9, 9, 9,
                ],
                &TENANT,
            ),
        );
        let geneve_ip = udp(
            6081,
            &cat(&[0, 0, 0x08, 0x00, 0x00, 0x00, 0x05, 0], tenant_ip),
        );
        let gre_ip = cat(
            &[
                0xB0, 0x00, 0x08, 0x00, 0xAB, 0xCD, 0, 0, 0, 0, 0x30, 0x39, 0, 0, 0, 1,
            ],
            tenant_ip,
        );
        let nvgre = cat(&[0x20, 0x00, 0x65, 0x58, 0x00, 0x01, 0x00, 0x2A], &TENANT);
        type Case = (u8, Vec<u8>, TunnelKind, Option<(Key, u32)>, bool);
        let cases: Vec<Case> = vec![
            (
                17,
                vxlan,
                TunnelKind::Vxlan,
                Some((Key::VxlanVni, 10001)),
                false,
            ),
            (
                17,
                geneve,
                TunnelKind::Geneve,
                Some((Key::GeneveVni, 65538)),
                false,
            ),
            (
                17,
                geneve_ip,
                TunnelKind::Geneve,
                Some((Key::GeneveVni, 5)),
                true,
            ),
            (
                47,
                gre_ip,
                TunnelKind::Gre,
                Some((Key::GreKey, 12345)),
                true,
            ),
            (
                47,
                nvgre,
                TunnelKind::Nvgre,
                Some((Key::GreKey, 0x1002A)),
                false,
            ),
            (4, tenant_ip.to_vec(), TunnelKind::IpInIp, None, true),
        ];
        for v6 in [false, true] {
            for vlan in [false, true] {
                for (p, inner, kind, id, ip_only) in &cases {
                    let b = outer(v6, vlan, *p, inner);
                    let d = decode_header(1, &b);
                    let what = format!("{kind:?} v6={v6} vlan={vlan}");
                    check_outer(&d.keys, v6, vlan, *p);
                    assert_eq!(d.keys.tunnel(), Some(*kind), "{what}");
                    assert_eq!(d.keys.depth(), 1, "{what}");
                    assert!(!d.keys.too_deep());
                    for key in [Key::VxlanVni, Key::GeneveVni, Key::GreKey] {
                        let want = id
                            .filter(|(k, _)| *k == key)
                            .map(|(_, v)| KeyValue::Number(v));
                        assert_eq!(d.keys.get(key), want, "{what} {key}");
                    }
                    check_tenant(d.level_keys(1).unwrap(), *ip_only);
                    assert_eq!(d.level_keys(2), None);
                    // The outer layout is the outer header's (what sflowtool reports).
                    let ip_at = if vlan { 18 } else { 14 };
                    assert_eq!(d.network_offset, Some(ip_at), "{what}");
                }
            }
        }
        // IPv6 inside IPv4 and IPv6 (protocol 41): the tenant over IPv6.
        let mut t6 = vec![0x60, 0, 0, 0, 0, 8, 17, 61];
        t6.extend_from_slice(&Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1).octets());
        t6.extend_from_slice(&Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2).octets());
        t6.extend_from_slice(&[0x12, 0x34, 0x00, 0x35, 0, 8, 0, 0]);
        for v6 in [false, true] {
            let d = decode_header(1, &outer(v6, false, 41, &t6));
            assert_eq!(d.keys.tunnel(), Some(TunnelKind::Ipv6InIp));
            let k = d.level_keys(1).unwrap();
            assert_eq!(k.ip_source(), Some("fd00::1".parse().unwrap()));
            assert_eq!(k.ip_destination(), Some("fd00::2".parse().unwrap()));
            assert_eq!((k.ip_protocol(), k.ip_ttl()), (Some(17), Some(61)));
            assert_eq!(k.udp_destination_port(), Some(53));
            assert_eq!(k.ethernet_protocol(), None);
        }
    }

    #[test]
    fn mpls_labels_are_walked_to_the_packet_below() {
        let mut b = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x88, 0x47];
        b.extend_from_slice(&[0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40]); // 16, 32 (bottom)
        b.extend_from_slice(&TENANT[14..]);
        let d = decode_header(1, &b);
        assert_eq!(d.keys.ethernet_protocol(), Some(0x8847));
        let mut k = d.keys;
        k.set_mac_source(Some([0x02, 0, 0, 0, 0x0A, 0x0B]));
        k.set_ethernet_protocol(Some(0x0800));
        check_tenant(&k, false);
        assert_eq!(d.keys.depth(), 0);
        assert_eq!(
            d.network_offset, None,
            "sflowtool does not look under labels"
        );
        // A stack without a bottom label within the bytes: no IP keys.
        let d = decode_header(1, &b[..22]);
        assert_eq!(d.keys.ip_source(), None);
    }

    #[test]
    fn nesting_stops_after_three_levels() {
        let mut frame = TENANT.to_vec();
        for vni in [4, 3, 2, 1] {
            let mut v = vec![0x08, 0, 0, 0, 0, 0, vni, 0];
            v.extend_from_slice(&frame);
            frame = outer(false, false, 17, &udp(4789, &v));
        }
        let d = decode_header(1, &frame);
        assert_eq!(d.keys.depth(), 3);
        assert!(d.keys.too_deep());
        assert_eq!(d.keys.get(Key::VxlanVni), Some(KeyValue::Number(1)));
        for level in 1..=3 {
            let k = d.level_keys(level).unwrap();
            assert_eq!(k.udp_destination_port(), Some(4789), "{level}");
            assert_eq!(
                k.get(Key::VxlanVni),
                Some(KeyValue::Number(level as u32 + 1))
            );
        }
        assert_eq!(d.level_keys(4), None);
    }

    #[test]
    fn lookalikes_are_not_decapsulated() {
        // UDP 4789 without the I flag, or with another flag.
        for flags in [0x00, 0x0C, 0x48] {
            let v = cat(&[flags, 0, 0, 0, 0, 0, 1, 0], &TENANT);
            let d = decode_header(1, &outer(false, false, 17, &udp(4789, &v)));
            assert_eq!(d.keys.tunnel(), None, "{flags:#x}");
            assert_eq!(d.keys.depth(), 0);
            assert_eq!(d.keys.udp_destination_port(), Some(4789));
            assert_eq!(d.keys.get(Key::VxlanVni), None);
        }
        // The G flag (group policy) is VXLAN.
        let v = cat(&[0x88, 0, 0x12, 0x34, 0, 0, 1, 0], &TENANT);
        let d = decode_header(1, &outer(false, false, 17, &udp(4789, &v)));
        assert_eq!(d.keys.depth(), 1);
        // GRE version 1 (PPTP), reserved bits, routing: not walked.
        for flags in [0x0001u16, 0x4000, 0x0080, 0x0800] {
            let mut g = flags.to_be_bytes().to_vec();
            g.extend_from_slice(&[0x08, 0x00]);
            g.extend_from_slice(&TENANT[14..]);
            let d = decode_header(1, &outer(false, false, 47, &g));
            assert_eq!(d.keys.tunnel(), None, "{flags:#x}");
            assert_eq!(d.keys.ip_protocol(), Some(47));
        }
        // Geneve version 1, an unknown protocol type.
        for h in [
            [0x40, 0, 0x65, 0x58, 0, 0, 1, 0],
            [0, 0, 0x88, 0x47, 0, 0, 1, 0],
        ] {
            let d = decode_header(1, &outer(false, false, 17, &udp(6081, &cat(&h, &TENANT))));
            assert_eq!(d.keys.tunnel(), None);
        }
        // A non-first fragment of IP-in-IP is no tunnel.
        let mut b = outer(false, false, 4, &TENANT[14..]);
        b[20] = 0x00;
        b[21] = 0x10;
        assert_eq!(decode_header(1, &b).keys.tunnel(), None);
    }

    /// Cut anywhere, a tunnelled header gives each key once its bytes are all there.
    #[test]
    fn every_truncation_inside_a_tunnel() {
        let v = cat(&[0x08, 0, 0, 0, 0, 0, 9, 0], &TENANT);
        for v6 in [false, true] {
            let b = outer(v6, true, 17, &udp(4789, &v));
            let ip_len = if v6 { 40 } else { 20 };
            let vxlan_end = 18 + ip_len + 8 + 8;
            for n in 0..=b.len() {
                let d = decode_header(1, &b[..n]);
                let has = |level: usize, key: Key| {
                    d.level_keys(level).is_some_and(|k| k.get(key).is_some())
                };
                assert_eq!(has(0, Key::VxlanVni), n >= vxlan_end, "{n}");
                assert_eq!(d.keys.depth(), usize::from(n >= vxlan_end), "{n}");
                assert_eq!(has(1, Key::MacSource), n >= vxlan_end + 14, "{n}");
                assert_eq!(has(1, Key::IpSource), n >= vxlan_end + 34, "{n}");
                assert_eq!(has(1, Key::IcmpType), n >= vxlan_end + 36, "{n}");
                // The quoted UDP header's destination port ends 4 bytes before the frame.
                assert_eq!(has(1, Key::IcmpUnreachablePort), n >= b.len() - 4, "{n}");
            }
        }
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
