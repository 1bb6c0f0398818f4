//! Tunnel decapsulation: which tunnel a carrier's transport payload is, and the walk
//! through the levels inside it.
//!
//! The header inside a tunnel is walked like a sampled header of its own, its keys
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
//! key and no other).
//!
//! Apart from the layer walk because most samples have no tunnel: this code runs out of
//! line (the walk calls it only once a tunnel's protocol or port is seen), and the fast
//! decoder ([`crate::packet::fast`]) shares it.
//!
//! [`Key::VxlanVni`]: crate::packet::Key::VxlanVni
//! [`Key::GeneveVni`]: crate::packet::Key::GeneveVni
//! [`Key::GreKey`]: crate::packet::Key::GreKey

use crate::packet::ethernet::ethertype;
use crate::packet::transport::{self, protocol};
use crate::packet::{array_at, be16_at, fast, InnerKeys, PacketKeys, TunnelKind, MAX_DEPTH};

use super::{decode_ethernet, decode_ipv4, decode_ipv6, HeaderLayout};

/// The contents of a tunnel: where they start, and what they are.
#[derive(Clone, Copy, Debug)]
pub(in crate::packet) enum Payload<'a> {
    Ethernet(&'a [u8]),
    Ipv4(&'a [u8]),
    Ipv6(&'a [u8]),
}

/// Decode the levels inside the tunnel whose contents are `payload`, found in the
/// outermost header (whose keys are `outer`): each level's keys go to `inner`, fresh, and
/// `outer` records how many levels there are. Out of line: most samples have no tunnel.
#[inline(never)]
pub(in crate::packet) fn walk_tunnels(
    payload: Payload<'_>,
    outer: &mut PacketKeys,
    inner: &mut InnerKeys,
) {
    walk_tunnels_from(payload, 0, outer, inner);
}

/// [`walk_tunnels`] for a payload found at level `found_at` (whose keys are already written).
pub(in crate::packet) fn walk_tunnels_from(
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

/// IANA-assigned UDP ports of VXLAN (RFC 7348) and Geneve (RFC 8926).
pub(in crate::packet) const VXLAN_PORT: u16 = 4789;
pub(in crate::packet) const GENEVE_PORT: u16 = 6081;
/// Bytes of a UDP header (RFC 768), of a VXLAN and of a Geneve fixed header.
pub(in crate::packet) const UDP_HEADER: usize = 8;
pub(in crate::packet) const VXLAN_HEADER: usize = 8;
const GENEVE_HEADER: usize = 8;

/// The tunnel an IP payload of protocol `proto` is (see the module docs), recorded in
/// `keys`, and its contents; `None` when it is none. `l4` starts at the transport header.
#[inline(never)]
pub(in crate::packet) fn tunnel<'a>(
    proto: u8,
    l4: &'a [u8],
    keys: &mut PacketKeys,
) -> Option<Payload<'a>> {
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
pub(in crate::packet) fn vxlan_vni(h: &[u8; VXLAN_HEADER]) -> Option<u32> {
    if h[0] & VXLAN_I == 0 || h[0] & !(VXLAN_I | VXLAN_G) != 0 {
        return None;
    }
    // Bytes 4..7, as the top three of one big-endian load.
    Some(u32::from_be_bytes(*h.last_chunk::<4>()?) >> 8)
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
