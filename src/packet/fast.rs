//! Straight-line decoding of the frame shapes nearly every switch samples: Ethernet/IPv4
//! ([`Ipv4Frame`], described here) and Ethernet/IPv6 without extension headers
//! ([`Ipv6Frame`]); [`Frame`] tells the two apart by one reading of the EtherType.
//!
//! The shape: Ethernet, untagged or with one 802.1Q tag, then IPv4 without options, then
//! anything (TCP, UDP and ICMP give their keys, other protocols none), with at least
//! [`FRAME_LEN`] bytes. One length check up front lets every field be read at a fixed
//! offset of a fixed-size array (bounds checked at compile time), the shape is recognised
//! with three compares, and the keys are computed without branches (except for the rare
//! destination-unreachable quote) and written into the caller's record as two 16-byte
//! copies of the frame plus a few single stores (see [`PacketKeys`]' layout). Anything else (QinQ, LLC/SNAP, IPv6, IPv4 options,
//! raw-IP header protocols, headers cut shorter) gives `None` and goes to the general layer
//! walk in [`super::header`].
//!
//! Why: the general walk handles every layer's truncation and every variant through a chain
//! of dependent `Option` checks, ~100 instructions per sample, and the receive threads run
//! it once per flow sample. The keys given here must be exactly those the general walk gives
//! for the same bytes: the unit tests below and `tests/decode_walk.rs` compare both,
//! over the corpus and over synthetic and mutated frames.

use super::ethernet::ethertype;
use super::header::{
    icmpv4_unreachable, icmpv6_unreachable, tunnel, vxlan_vni, walk_tunnels, walk_tunnels_from,
    Payload, GENEVE_PORT, UDP_HEADER, VXLAN_HEADER, VXLAN_PORT,
};

use super::transport::protocol;
use super::{InnerKeys, Key, PacketKeys, TunnelKind};

/// Bytes needed from the start of the IPv4 header: 20 for the header, 14 for the TCP header
/// up to its flags byte.
pub const IPV4_LEN: usize = 34;

/// Bytes a sampled header needs for the fast path: room for a tagged frame's Ethernet
/// header (18) and [`IPV4_LEN`], checked once whatever the tagging. A minimum-size frame
/// (60 bytes without its FCS) qualifies; an untagged frame cut between 48 and 52 bytes goes
/// to the general walk, which decodes it the same.
pub const FRAME_LEN: usize = 18 + IPV4_LEN;

/// An Ethernet sampled header (header protocol 1) recognised as the common shape (see the
/// module docs): what [`Ipv4Frame::write_keys`] needs, already bounds-checked.
#[derive(Clone, Copy, Debug)]
pub struct Ipv4Frame<'a> {
    /// The frame's first 16 bytes (MACs, then EtherType or tag).
    ethernet: &'a [u8; 16],
    ip: &'a [u8; IPV4_LEN],
    /// The IPv4 header's bytes 8..24 (TTL, protocol, addresses, then the transport's first
    /// four bytes), stored whole into the keys.
    wire: &'a [u8; 16],
    /// The transport header's first two bytes: ICMP type and code.
    icmp: &'a [u8; 2],
    /// The bytes from the IPv4 header on, for the rare destination-unreachable quote.
    packet: &'a [u8],
    /// The keys' Ethernet bytes 12..16: the EtherType (IPv4) and the 802.1Q VID (0 without
    /// a tag), big-endian; and [`Key::Vlan`]'s bit when there is a tag.
    tail: [u8; 4],
    vlan_bit: u32,
}

/// EtherTypes as their bytes on the wire, compared without byte swapping.
const IPV4: [u8; 2] = ethertype::IPV4.to_be_bytes();
const IPV6: [u8; 2] = ethertype::IPV6.to_be_bytes();
const VLAN: [u8; 2] = ethertype::VLAN.to_be_bytes();

/// The Ethernet part of both shapes: EtherType `ip` (as on the wire), untagged or after
/// one 802.1Q tag. Gives where the IP header starts (14 or 18), the keys' Ethernet bytes
/// 12..16 (the EtherType and the VID, 0 without a tag, big-endian) and [`Key::Vlan`]'s bit
/// when there is a tag; `None` for any other Ethernet header.
#[inline(always)]
fn ethernet_shape<const N: usize>(frame: &[u8; N], ip: [u8; 2]) -> Option<(usize, [u8; 4], u32)> {
    if pair(frame, 12) == ip {
        Some((14, [ip[0], ip[1], 0, 0], 0))
    } else if pair(frame, 12) == VLAN && pair(frame, 16) == ip {
        // The tag's last two bytes with the PCP and DEI cleared, after the EtherType: one
        // 16-bit load, a mask and a shift.
        let vid = u16::from_le_bytes(pair(frame, 14)) & u16::from_le_bytes([0x0F, 0xFF]);
        let tail = (u32::from(vid) << 16) | u32::from(u16::from_le_bytes(ip));
        Some((18, tail.to_le_bytes(), Key::Vlan.bit()))
    } else {
        None
    }
}

impl<'a> Ipv4Frame<'a> {
    /// Recognise the shape, or `None` for any other (then use the general walk).
    #[inline(always)]
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        let frame = bytes.first_chunk::<FRAME_LEN>()?;
        let (at, tail, vlan_bit) = ethernet_shape(frame, IPV4)?;
        Self::after_ethernet(bytes, frame, (at, tail, vlan_bit))
    }

    /// [`Self::parse`] once the Ethernet header is known to carry IPv4: `frame` is the
    /// first [`FRAME_LEN`] bytes of `bytes`, the rest what [`ethernet_shape`] gives.
    #[inline(always)]
    fn after_ethernet(
        bytes: &'a [u8],
        frame: &'a [u8; FRAME_LEN],
        (at, tail, vlan_bit): (usize, [u8; 4], u32),
    ) -> Option<Self> {
        // None of these is ever `None`: `at` is at most 18 and the frame `FRAME_LEN` long.
        let ip = frame.get(at..)?.first_chunk::<IPV4_LEN>()?;
        let wire = ip.get(8..)?.first_chunk::<16>()?;
        if ip[0] != 0x45 {
            return None;
        }
        Some(Ipv4Frame {
            ethernet: frame.first_chunk::<16>()?,
            ip,
            wire,
            icmp: ip.get(20..)?.first_chunk::<2>()?,
            packet: bytes.get(at..)?,
            tail,
            vlan_bit,
        })
    }

    /// Every key but the destination-unreachable one, computed without branches and
    /// written over `keys` (then [`Self::finish`]). The transport fields are read whatever
    /// the protocol (they lie within the checked bytes); the presence bits, looked up by
    /// protocol, say which of them count. The Ethernet and IPv4 keys are stored as two
    /// 16-byte copies of the frame (see [`PacketKeys`]' layout), so `keys` is best the one
    /// its caller hands on, not a temporary.
    #[inline(always)]
    pub fn write_keys(&self, keys: &mut PacketKeys) {
        let ip = self.ip;
        // A non-first fragment's payload is not a transport header.
        let first_fragment = be16(ip, 6) & 0x1FFF == 0;
        let transport = transport_keys(ip[9]) & (first_fragment as u32).wrapping_neg();
        keys.write_ethernet_ipv4(
            ALWAYS | self.vlan_bit | transport,
            self.ethernet,
            self.tail,
            self.wire,
            ip[1],
            ip[33],
            self.icmp,
        );
    }

    /// Add the destination-unreachable key to `keys` (from [`Self::write_keys`]) when the
    /// frame is an ICMP destination unreachable, and decode the headers inside when it is a
    /// tunnel (into `inner`; `keys` then records the tunnel and the depth).
    ///
    /// One test decides for nearly every frame: the protocol's `TRANSPORT_KEYS` entry,
    /// which [`Self::write_keys`] stored in the keys, has `LOOK_CLOSER` only for a first
    /// fragment of ICMP, UDP or an encapsulating protocol. UDP, half the samples on many
    /// links, is then let go after one masked compare of its destination port; VXLAN around
    /// a tenant frame of this shape, what a fabric link mostly samples, is decoded here in
    /// line ([`Self::vxlan`]); the rest goes out of line.
    #[inline(always)]
    pub fn finish(&self, keys: &mut PacketKeys, inner: &mut InnerKeys) {
        // The flag as `write_keys` just stored it with the keys (clear for a non-first
        // fragment): no reload of the protocol, its table entry or the fragment word.
        if keys.raw_present() & LOOK_CLOSER == 0 {
            return;
        }
        let ip = self.ip;
        if ip[9] == protocol::UDP && !may_be_tunnel_port(be16(ip, 22)) {
            return;
        }
        look_closer(self.packet.get(20..).unwrap_or(&[]), keys, inner, ip[9]);
    }

    /// [`Self::finish`] for a level inside a tunnel: the contents of a further tunnel are
    /// returned for the caller's walk instead of decoded here.
    #[inline(always)]
    pub(super) fn finish_level(&self, keys: &mut PacketKeys) -> Option<Payload<'a>> {
        let (proto, l4) = self.closer(keys)?;
        level_closer(proto, l4, keys)
    }

    /// The protocol and transport bytes when the frame needs more than its fixed-place keys
    /// (a first fragment of ICMP, of UDP to a port that may be a tunnel's, or of an
    /// encapsulating protocol), else `None`. `keys` are those [`Self::write_keys`] just
    /// wrote: their `LOOK_CLOSER` flag decides for nearly every frame.
    #[inline(always)]
    fn closer(&self, keys: &PacketKeys) -> Option<(u8, &'a [u8])> {
        let ip = self.ip;
        if keys.raw_present() & LOOK_CLOSER == 0
            || ip[9] == protocol::UDP && !may_be_tunnel_port(be16(ip, 22))
        {
            return None;
        }
        Some((ip[9], self.packet.get(20..).unwrap_or(&[])))
    }
}

/// A first fragment of ICMP, of UDP to a port that may be a tunnel's, or of an encapsulating
/// protocol, a small fraction of samples on most links: decoded out of the straight line.
/// `l4` starts at the transport header. Each call here is the function's last act, a jump
/// (the arguments they share come first, in the same registers).
#[inline(never)]
fn look_closer(l4: &[u8], keys: &mut PacketKeys, inner: &mut InnerKeys, proto: u8) {
    match (proto, l4) {
        (protocol::ICMP, &[ICMPV4_DESTINATION_UNREACHABLE, code, ..]) => {
            unreachable_v4(l4, keys, code)
        }
        (protocol::ICMP, _) => {}
        (protocol::UDP, &[_, _, p0, p1, ..]) if u16::from_be_bytes([p0, p1]) == VXLAN_PORT => {
            vxlan(l4, keys, inner)
        }
        _ => general_tunnel(l4, keys, inner, proto),
    }
}

/// The bytes a UDP datagram to the VXLAN port needs for [`vxlan`]'s straight line: the UDP
/// and VXLAN headers, then a tenant frame of [`Ipv4Frame`]'s shape.
const VXLAN_LEN: usize = UDP_HEADER + VXLAN_HEADER + FRAME_LEN;

/// A first fragment of UDP to the VXLAN port (`l4` from its UDP header on), out of the
/// straight line. VXLAN around a tenant frame of this module's shape, what a fabric link
/// mostly samples, goes straight through: the tunnel recorded in `keys`, the tenant's keys
/// written as level 1 of `inner`. Anything else on the port takes the general walk.
///
/// Every call is the function's last act (a jump), so that it keeps nothing across one:
/// a record's first tunnel makes the levels and comes back ([`vxlan_first`]).
#[inline(never)]
fn vxlan(l4: &[u8], keys: &mut PacketKeys, inner: &mut InnerKeys) {
    // The levels exist from a record's first tunnel on.
    let Some(level) = inner.level_mut(1) else {
        return vxlan_first(l4, keys, inner);
    };
    // One length check for the UDP and VXLAN headers and the tenant's fixed part; the
    // tenant's own checks then fold away.
    let (Some(h), Some(tenant)) = (
        l4.first_chunk::<VXLAN_LEN>()
            .and_then(|b| b.get(UDP_HEADER..))
            .and_then(<[u8]>::first_chunk::<VXLAN_HEADER>),
        l4.get(UDP_HEADER + VXLAN_HEADER..),
    ) else {
        return general_tunnel(l4, keys, inner, protocol::UDP);
    };
    let (Some(vni), Some(frame)) = (vxlan_vni(h), Ipv4Frame::parse(tenant)) else {
        return general_tunnel(l4, keys, inner, protocol::UDP);
    };
    keys.set_tunnel(TunnelKind::Vxlan, Some(vni));
    keys.set_depth(1);
    frame.write_keys(level);
    if let Some((proto, l4)) = frame.closer(level) {
        tenant_closer(proto, l4, keys, inner);
    }
}

/// [`vxlan`] in a record without levels yet: they are made (a 300-byte clear, once per
/// record), then [`vxlan`] goes on.
#[cold]
#[inline(never)]
fn vxlan_first(l4: &[u8], keys: &mut PacketKeys, inner: &mut InnerKeys) {
    inner.levels_mut();
    vxlan(l4, keys, inner)
}

/// The tunnel in the transport payload `l4` of protocol `proto`, if any, recorded in `keys`
/// and its levels walked into `inner`.
#[inline(never)]
fn general_tunnel(l4: &[u8], keys: &mut PacketKeys, inner: &mut InnerKeys, proto: u8) {
    if let Some(payload) = tunnel(proto, l4, keys) {
        walk_tunnels(payload, keys, inner);
    }
}

/// What a VXLAN tenant frame (level 1, its keys written) needs beyond its fixed-place keys:
/// its unreachable key, or the levels of a tunnel inside it.
#[inline(never)]
fn tenant_closer(proto: u8, l4: &[u8], keys: &mut PacketKeys, inner: &mut InnerKeys) {
    if let Some(payload) = level_closer(proto, l4, &mut inner.levels_mut()[0]) {
        walk_tunnels_from(payload, 1, keys, inner);
    }
}

/// [`look_closer`] for a level inside a tunnel: a further tunnel's contents are returned.
#[inline(never)]
fn level_closer<'a>(proto: u8, l4: &'a [u8], keys: &mut PacketKeys) -> Option<Payload<'a>> {
    if proto == protocol::ICMP {
        if let [ICMPV4_DESTINATION_UNREACHABLE, code, ..] = *l4 {
            unreachable_v4(l4, keys, code);
        }
        return None;
    }
    tunnel(proto, l4, keys)
}

/// UDP destination ports of the tunnels [`super::header`] recognises.
#[inline(always)]
fn is_tunnel_port(port: u16) -> bool {
    port == VXLAN_PORT || port == GENEVE_PORT
}

/// The bits in which the two tunnel ports agree, and their value there: a port that differs
/// in any of them is neither (one masked compare; 64 of the 65536 ports pass, the two tunnel
/// ports among them, and [`is_tunnel_port`] tells those apart).
const TUNNEL_PORT_MASK: u16 = !(VXLAN_PORT ^ GENEVE_PORT);
const TUNNEL_PORT_BITS: u16 = VXLAN_PORT & TUNNEL_PORT_MASK;

#[inline(always)]
fn may_be_tunnel_port(port: u16) -> bool {
    port & TUNNEL_PORT_MASK == TUNNEL_PORT_BITS
}

/// Flag in [`TRANSPORT_KEYS`] entries: the protocol may need more than the fixed-place
/// keys (ICMP's unreachable quote, a tunnel). Bit 1 of a presence mask is `inputifindex`'s,
/// which [`PacketKeys`] never counts, so the flag is harmless in the keys.
const LOOK_CLOSER: u32 = Key::InputIfIndex.bit();

/// The keys of an Ethernet sampled header of the common shape, or `None` for any other
/// shape. Every key is set: keys the frame lacks are absent, as [`super::decode_header`]
/// leaves them.
#[inline(always)]
pub fn ethernet_ipv4(bytes: &[u8]) -> Option<PacketKeys> {
    let frame = Ipv4Frame::parse(bytes)?;
    let mut keys = PacketKeys::default();
    frame.write_keys(&mut keys);
    frame.finish(&mut keys, &mut InnerKeys::default());
    Some(keys)
}

/// Keys every frame of the shape carries.
const ALWAYS: u32 = Key::MacSource.bit()
    | Key::MacDestination.bit()
    | Key::EthernetProtocol.bit()
    | Key::IpSource.bit()
    | Key::IpDestination.bit()
    | Key::IpProtocol.bit()
    | Key::IpTos.bit()
    | Key::IpTtl.bit();
/// The transport keys IPv4 protocol number `number` gives (ICMPv6's 58 gives none in IPv4).
const fn transport_keys_of(number: u8) -> u32 {
    match number {
        protocol::TCP => {
            Key::TcpSourcePort.bit() | Key::TcpDestinationPort.bit() | Key::TcpFlags.bit()
        }
        protocol::UDP => Key::UdpSourcePort.bit() | Key::UdpDestinationPort.bit() | LOOK_CLOSER,
        protocol::ICMP => Key::IcmpType.bit() | Key::IcmpCode.bit() | LOOK_CLOSER,
        protocol::IPIP | protocol::IPV6 | protocol::GRE => LOOK_CLOSER,
        _ => 0,
    }
}

/// A table of `$of(number)` for every `u8` number, built at compile time, so that a frame
/// costs one load and no branch per protocol (read through [`entry`]).
macro_rules! by_number {
    ($of:ident) => {{
        let mut t = [0u32; 256];
        let mut rest: &mut [u32] = &mut t;
        let mut number = 0u8;
        while let [entry, tail @ ..] = rest {
            *entry = $of(number);
            number = number.wrapping_add(1);
            rest = tail;
        }
        t
    }};
}

/// The entry of `number` in a [`by_number`] table. Every `u8` indexes one of the 256
/// entries, so the fallback is never taken and the check compiles away.
#[inline(always)]
fn entry(table: &[u32; 256], number: u8) -> u32 {
    table.get(usize::from(number)).copied().unwrap_or(0)
}

/// [`transport_keys_of`] for every protocol number.
static TRANSPORT_KEYS: [u32; 256] = by_number!(transport_keys_of);

#[inline(always)]
fn transport_keys(number: u8) -> u32 {
    entry(&TRANSPORT_KEYS, number)
}

/// RFC 792.
const ICMPV4_DESTINATION_UNREACHABLE: u8 = 3;
/// RFC 4443 section 3.1.
const ICMPV6_DESTINATION_UNREACHABLE: u8 = 1;

/// Bytes an IPv6 frame of the common shape needs from the start of its IPv6 header: the
/// 40-byte fixed header and 14 bytes of TCP, up to its flags byte.
pub const IPV6_LEN: usize = 40 + 14;

/// Bytes an Ethernet sampled header needs for [`Ipv6Frame`]: a tagged frame's Ethernet
/// header (18) and [`IPV6_LEN`], whatever the tagging (shorter frames take the general walk,
/// which decodes them the same).
pub const FRAME6_LEN: usize = 18 + IPV6_LEN;

/// An Ethernet sampled header of the common IPv6 shape: untagged or one 802.1Q tag, IPv6
/// with no extension header, then TCP, UDP (to a port that is no tunnel's) or ICMPv6, with
/// at least [`FRAME6_LEN`] bytes. Its keys lie at fixed places, so they are read at fixed
/// offsets of one checked array and written as [`Ipv4Frame`]'s are: the frame's first 16
/// bytes and the two addresses as whole copies, the rest as a few single stores, the
/// presence bits looked up by next header (no branch per key). Anything else gives `None`
/// from [`Ipv6Frame::parse`] and takes the general layer walk.
#[derive(Clone, Copy, Debug)]
pub struct Ipv6Frame<'a> {
    /// The frame's first 16 bytes (MACs, then EtherType or tag).
    ethernet: &'a [u8; 16],
    ip: &'a [u8; IPV6_LEN],
    /// The keys' Ethernet bytes 12..16 and [`Key::Vlan`]'s bit, as in [`Ipv4Frame`].
    tail: [u8; 4],
    vlan_bit: u32,
    /// The bytes from the transport header on, for the rare destination-unreachable quote.
    l4: &'a [u8],
}

impl<'a> Ipv6Frame<'a> {
    /// Recognise the shape, or `None` for any other (then use the general walk).
    #[inline(always)]
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        let frame = bytes.first_chunk::<FRAME6_LEN>()?;
        let (at, tail, vlan_bit) = ethernet_shape(frame, IPV6)?;
        Self::after_ethernet(bytes, (at, tail, vlan_bit))
    }

    /// [`Self::parse`] once the Ethernet header is known to carry IPv6, with what
    /// [`ethernet_shape`] gives.
    #[inline(always)]
    fn after_ethernet(
        bytes: &'a [u8],
        (at, tail, vlan_bit): (usize, [u8; 4], u32),
    ) -> Option<Self> {
        let frame = bytes.first_chunk::<FRAME6_LEN>()?;
        // Never `None`: `at` is at most 18 and the frame `FRAME6_LEN` long.
        let ip = frame.get(at..)?.first_chunk::<IPV6_LEN>()?;
        // Version 6, a next header of the shape (its keys by table, no branch per next
        // header), and for UDP (flagged in its entry) no tunnel's port.
        let transport = transport6_keys(ip[6]);
        if ip[0] >> 4 != 6 || transport == 0 {
            return None;
        }
        if transport & LOOK_CLOSER != 0 && is_tunnel_port(be16(ip, 42)) {
            return None;
        }
        Some(Ipv6Frame {
            ethernet: frame.first_chunk::<16>()?,
            ip,
            tail,
            vlan_bit,
            l4: bytes.get(at + 40..)?,
        })
    }

    /// Every key of the frame, written over `keys` (the general walk's, for these bytes).
    #[inline(always)]
    pub fn write_keys(&self, keys: &mut PacketKeys) {
        let ip = self.ip;
        let (Some(addresses), Some(ports)) = (
            ip.get(8..).and_then(<[u8]>::first_chunk::<32>),
            ip.get(40..).and_then(<[u8]>::first_chunk::<4>),
        ) else {
            // Never taken: both lie inside the `IPV6_LEN` bytes.
            return;
        };
        keys.write_ethernet_ipv6(
            ALWAYS6 | self.vlan_bit | transport6_keys(ip[6]),
            self.ethernet,
            self.tail,
            addresses,
            // The hop limit, then the next header: the two bytes as sent, swapped.
            u16::from_le_bytes(pair(ip, 6)).rotate_left(8).to_le_bytes(),
            ports,
            (be16(ip, 0) >> 4) as u8,
            ip[53],
        );
        if ip[6] == protocol::ICMPV6 && ip[40] == ICMPV6_DESTINATION_UNREACHABLE {
            unreachable_v6(self.l4, keys, ip[41]);
        }
    }
}

/// Keys every frame of the IPv6 shape carries.
const ALWAYS6: u32 = Key::MacSource.bit()
    | Key::MacDestination.bit()
    | Key::EthernetProtocol.bit()
    | Key::Ip6Source.bit()
    | Key::Ip6Destination.bit()
    | Key::IpProtocol.bit()
    | Key::IpTos.bit()
    | Key::IpTtl.bit();

/// The transport keys of the next headers [`Ipv6Frame`] takes (TCP, UDP, ICMPv6), 0 for
/// every other (extension headers, tunnels, the rest: the general walk's).
const fn transport6_keys_of(next_header: u8) -> u32 {
    match next_header {
        protocol::TCP => {
            Key::TcpSourcePort.bit() | Key::TcpDestinationPort.bit() | Key::TcpFlags.bit()
        }
        protocol::UDP => Key::UdpSourcePort.bit() | Key::UdpDestinationPort.bit() | LOOK_CLOSER,
        protocol::ICMPV6 => Key::IcmpType.bit() | Key::IcmpCode.bit(),
        _ => 0,
    }
}

/// [`transport6_keys_of`] for every next header.
static TRANSPORT6_KEYS: [u32; 256] = by_number!(transport6_keys_of);

#[inline(always)]
fn transport6_keys(next_header: u8) -> u32 {
    entry(&TRANSPORT6_KEYS, next_header)
}

/// An Ethernet sampled header of either straight-line shape, told apart by one reading of
/// its Ethernet header: [`Ipv4Frame`] or [`Ipv6Frame`].
#[derive(Clone, Copy, Debug)]
pub enum Frame<'a> {
    V4(Ipv4Frame<'a>),
    V6(Ipv6Frame<'a>),
}

impl<'a> Frame<'a> {
    /// The frame's shape, or `None` for any other (then use the general walk): what
    /// [`Ipv4Frame::parse`] or [`Ipv6Frame::parse`] would give, the EtherType (after at
    /// most one 802.1Q tag) read once for both.
    #[inline(always)]
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        let frame = bytes.first_chunk::<FRAME_LEN>()?;
        let first = pair(frame, 12);
        let tagged = first == VLAN;
        let (at, ip, vlan_bit) = if tagged {
            (18, pair(frame, 16), Key::Vlan.bit())
        } else {
            (14, first, 0)
        };
        // The keys' Ethernet bytes 12..16, as [`ethernet_shape`] makes them: the EtherType,
        // then the VID with the PCP and DEI cleared (0 without a tag), big-endian.
        let vid = u16::from_le_bytes(pair(frame, 14)) & u16::from_le_bytes([0x0F, 0xFF]);
        let vid = if tagged { u32::from(vid) << 16 } else { 0 };
        let tail = (vid | u32::from(u16::from_le_bytes(ip))).to_le_bytes();
        if ip == IPV4 {
            Ipv4Frame::after_ethernet(bytes, frame, (at, tail, vlan_bit)).map(Frame::V4)
        } else if ip == IPV6 {
            Ipv6Frame::after_ethernet(bytes, (at, tail, vlan_bit)).map(Frame::V6)
        } else {
            None
        }
    }
}

/// [`unreachable_v4`] for ICMPv6.
#[inline(never)]
fn unreachable_v6(icmp: &[u8], keys: &mut PacketKeys, code: u8) {
    keys.set_unreachable(icmpv6_unreachable(code, icmp));
}

/// The two bytes at `at`, as sent.
#[inline(always)]
fn pair<const N: usize>(b: &[u8; N], at: usize) -> [u8; 2] {
    // Every caller passes a constant `at` inside its fixed-size array: after inlining the
    // check folds away and the fallback is never taken.
    b.get(at..)
        .and_then(<[u8]>::first_chunk::<2>)
        .copied()
        .unwrap_or_default()
}

#[inline(always)]
fn be16<const N: usize>(b: &[u8; N], at: usize) -> u16 {
    u16::from_be_bytes(pair(b, at))
}

/// A destination-unreachable message is a small fraction of samples: its quote is decoded
/// out of the straight line.
#[inline(never)]
fn unreachable_v4(icmp: &[u8], keys: &mut PacketKeys, code: u8) {
    keys.set_unreachable(icmpv4_unreachable(code, icmp));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::decode_header;

    /// Ethernet (optionally tagged VID 0x123, PCP 5) + IPv4 (TOS 0x28, TTL 61, protocol `p`,
    /// flags/fragment word `frag`) + `l4`.
    fn frame(tag: bool, p: u8, frag: u16, l4: &[u8]) -> Vec<u8> {
        let mut b = vec![
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB,
        ];
        if tag {
            b.extend_from_slice(&[0x81, 0x00, 0xA1, 0x23]);
        }
        b.extend_from_slice(&[0x08, 0x00]);
        let [f0, f1] = frag.to_be_bytes();
        b.extend_from_slice(&[
            0x45, 0x28, 0x05, 0xDC, 0x00, 0x01, f0, f1, 61, p, 0, 0, 192, 0, 2, 1, 198, 51, 100, 7,
        ]);
        b.extend_from_slice(l4);
        b
    }

    const TCP: [u8; 20] = [
        0xC3, 0x50, 0x00, 0x16, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x12, 0xFA, 0xF0, 0, 0, 0, 0,
    ];
    const UDP: [u8; 16] = [
        0x00, 0x35, 0xD4, 0x31, 0x00, 0x10, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
    ];

    /// Port unreachable quoting a UDP datagram to port 53.
    fn unreachable() -> Vec<u8> {
        let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&[
            0x45, 0, 0, 0x1C, 0, 0, 0, 0, 64, 17, 0, 0, 198, 51, 100, 7, 203, 0, 113, 9,
        ]);
        icmp.extend_from_slice(&[0xD4, 0x31, 0x00, 0x35, 0, 8, 0, 0]);
        icmp
    }

    #[test]
    fn tcp_untagged_byte_literal() {
        let k = ethernet_ipv4(&frame(false, 6, 0x4000, &TCP)).unwrap();
        assert_eq!(
            k.mac_destination(),
            Some([0x00, 0x11, 0x22, 0x33, 0x44, 0x55])
        );
        assert_eq!(k.mac_source(), Some([0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB]));
        assert_eq!((k.vlan(), k.ethernet_protocol()), (None, Some(0x0800)));
        assert_eq!(k.ip_source(), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(k.ip_destination(), Some("198.51.100.7".parse().unwrap()));
        assert_eq!(
            (k.ip_protocol(), k.ip_tos(), k.ip_ttl()),
            (Some(6), Some(0x28), Some(61))
        );
        assert_eq!(
            (k.tcp_source_port(), k.tcp_destination_port(), k.tcp_flags()),
            (Some(50000), Some(22), Some(0x12))
        );
        assert_eq!(
            (k.udp_source_port(), k.icmp_type(), k.unreachable()),
            (None, None, None)
        );
    }

    #[test]
    fn tagged_udp_and_unreachable() {
        let k = ethernet_ipv4(&frame(true, 17, 0, &UDP)).unwrap();
        assert_eq!(k.vlan(), Some(0x123));
        assert_eq!(
            (k.udp_source_port(), k.udp_destination_port()),
            (Some(53), Some(54321))
        );
        assert_eq!(k.tcp_flags(), None);
        let k = ethernet_ipv4(&frame(true, 1, 0, &unreachable())).unwrap();
        assert_eq!((k.icmp_type(), k.icmp_code()), (Some(3), Some(3)));
        assert_eq!(
            k.unreachable(),
            Some(crate::packet::Unreachable::Port {
                protocol: crate::packet::L4::Udp,
                port: 53
            })
        );
    }

    #[test]
    fn other_shapes_are_declined() {
        let ok = frame(false, 6, 0, &TCP);
        // Shorter than a tagged frame's Ethernet header and IPv4 up to the TCP flags: the
        // general walk's business.
        assert!(ethernet_ipv4(&ok[..51]).is_none());
        assert!(ethernet_ipv4(&ok[..52]).is_some());
        let tagged = frame(true, 6, 0, &TCP);
        assert!(ethernet_ipv4(&tagged[..51]).is_none());
        assert!(ethernet_ipv4(&tagged[..52]).is_some());
        let mut options = ok.clone();
        options[14] = 0x46;
        assert!(ethernet_ipv4(&options).is_none());
        let mut v6 = ok.clone();
        v6[12..14].copy_from_slice(&[0x86, 0xDD]);
        assert!(ethernet_ipv4(&v6).is_none());
        let mut qinq = frame(true, 6, 0, &TCP);
        qinq[16..18].copy_from_slice(&[0x81, 0x00]);
        assert!(ethernet_ipv4(&qinq).is_none());
        assert!(ethernet_ipv4(&[]).is_none());
    }

    /// Ethernet (optionally tagged VID 0x123, PCP 5) + IPv6 (traffic class 0xB8, hop limit
    /// 61, next header `nh`) + `l4`.
    fn frame6(tag: bool, nh: u8, l4: &[u8]) -> Vec<u8> {
        let mut b = vec![
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB,
        ];
        if tag {
            b.extend_from_slice(&[0x81, 0x00, 0xA1, 0x23]);
        }
        b.extend_from_slice(&[0x86, 0xDD, 0x6B, 0x81, 0x23, 0x45, 0x00, 0x20, nh, 61]);
        b.extend_from_slice(&[0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        b.extend_from_slice(&[0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        b.extend_from_slice(l4);
        b
    }

    /// Port unreachable (ICMPv6 type 1, code 4) quoting a UDP datagram to port 53.
    fn unreachable6() -> Vec<u8> {
        let mut icmp = vec![1, 4, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&frame6(false, 17, &[0xD4, 0x31, 0x00, 0x35, 0, 8, 0, 0])[14..]);
        icmp
    }

    #[test]
    fn ipv6_tcp_byte_literal() {
        let b = frame6(true, 6, &TCP);
        let frame = Ipv6Frame::parse(&b).unwrap();
        let mut k = PacketKeys::default();
        frame.write_keys(&mut k);
        assert_eq!(k.mac_source(), Some([0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB]));
        assert_eq!(
            (k.vlan(), k.ethernet_protocol()),
            (Some(0x123), Some(0x86DD))
        );
        assert_eq!(k.ip_source(), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(k.ip_destination(), Some("2001:db8::2".parse().unwrap()));
        assert_eq!(
            (k.ip_protocol(), k.ip_tos(), k.ip_ttl()),
            (Some(6), Some(0xB8), Some(61))
        );
        assert_eq!(
            (k.tcp_source_port(), k.tcp_destination_port(), k.tcp_flags()),
            (Some(50000), Some(22), Some(0x12))
        );
        assert_eq!(k, decode_header(1, &b).keys);
    }

    /// Every IPv6 frame [`Ipv6Frame`] accepts gives exactly the general walk's keys, over
    /// next headers, tunnel ports, truncations and (steered) random bytes; extension headers
    /// and tunnels are declined.
    #[test]
    fn ipv6_same_keys_as_the_general_walk() {
        let mut accepted = 0;
        let mut check = |b: &[u8]| {
            if let Some(frame) = Ipv6Frame::parse(b) {
                let mut k = PacketKeys::default();
                frame.write_keys(&mut k);
                assert_eq!(k, decode_header(1, b).keys, "{b:02x?}");
                accepted += 1;
            }
        };
        let vxlan = [0xC3, 0x50, 0x12, 0xB5, 0, 16, 0, 0, 8, 0, 0, 0, 0, 0, 1, 0];
        for tag in [false, true] {
            for (nh, l4) in [
                (6, &TCP[..]),
                (17, &UDP[..]),
                (17, &vxlan[..]),
                (58, &unreachable6()[..]),
                (0, &TCP[..]),
                (44, &TCP[..]),
                (4, &TCP[..]),
            ] {
                let b = frame6(tag, nh, l4);
                for n in 0..=b.len() {
                    check(&b[..n]);
                }
            }
        }
        assert!(Ipv6Frame::parse(&frame6(false, 17, &vxlan)).is_none());
        assert!(Ipv6Frame::parse(&frame6(false, 0, &TCP)).is_none());
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut buf = frame6(true, 58, &unreachable6());
        for i in 0..50_000u32 {
            scramble(&mut buf, &mut state);
            let tagged = i % 2 == 0;
            buf[12..14].copy_from_slice(if tagged { &[0x81, 0x00] } else { &[0x86, 0xDD] });
            if tagged {
                buf[16..18].copy_from_slice(&[0x86, 0xDD]);
            }
            let at = if tagged { 18 } else { 14 };
            buf[at] = 0x60 | (buf[at] & 0x0F);
            buf[at + 6] = [6, 17, 58, 58][i as usize % 4];
            check(&buf);
        }
        assert!(accepted > 40_000, "{accepted}");
    }

    /// [`Frame::parse`] takes exactly the frames [`Ipv4Frame::parse`] or
    /// [`Ipv6Frame::parse`] take, with the same keys.
    #[test]
    fn either_frame_is_what_each_shape_takes() {
        let keys_of = |b: &[u8]| {
            let mut k = PacketKeys::default();
            let shape = match Frame::parse(b) {
                Some(Frame::V4(f)) => {
                    f.write_keys(&mut k);
                    4
                }
                Some(Frame::V6(f)) => {
                    f.write_keys(&mut k);
                    6
                }
                None => 0,
            };
            let mut each = PacketKeys::default();
            let expected = match (Ipv4Frame::parse(b), Ipv6Frame::parse(b)) {
                (Some(f), None) => {
                    f.write_keys(&mut each);
                    4
                }
                (None, Some(f)) => {
                    f.write_keys(&mut each);
                    6
                }
                (None, None) => 0,
                (Some(_), Some(_)) => panic!("both shapes: {b:02x?}"),
            };
            assert_eq!(shape, expected, "{b:02x?}");
            assert_eq!(k, each, "{b:02x?}");
            shape
        };
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut seen = [0usize; 7];
        for i in 0..40_000u32 {
            let mut buf = if i % 2 == 0 {
                frame6(i % 4 == 0, [6, 17, 58, 0][(i / 4) as usize % 4], &TCP)
            } else {
                frame(i % 4 == 1, [6, 17, 1, 47][(i / 4) as usize % 4], 0, &TCP)
            };
            if i % 3 != 0 {
                scramble(&mut buf, &mut state);
            }
            for n in [
                buf.len(),
                FRAME_LEN - 1,
                FRAME_LEN,
                FRAME6_LEN - 1,
                FRAME6_LEN,
            ] {
                seen[keys_of(&buf[..n.min(buf.len())])] += 1;
            }
        }
        assert!(seen[4] > 10_000 && seen[6] > 10_000, "{seen:?}");
    }

    /// Replaces about one byte in eight after the Ethernet addresses with xorshift output
    /// (`state` carries on between calls); mostly keeping the bytes lets the shape survive.
    fn scramble(buf: &mut [u8], state: &mut u64) {
        for byte in buf.iter_mut().skip(12) {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            if *state % 8 == 0 {
                *byte = (*state >> 32) as u8;
            }
        }
    }

    /// Every shape the fast path accepts gives exactly the general walk's keys, over all
    /// protocols, fragment words, truncations and (steered) random bytes.
    #[test]
    fn same_keys_as_the_general_walk() {
        let mut accepted = 0;
        let mut check = |b: &[u8]| {
            if let Some(k) = ethernet_ipv4(b) {
                assert_eq!(k, decode_header(1, b).keys, "{b:02x?}");
                accepted += 1;
            }
        };
        for tag in [false, true] {
            for (p, l4) in [
                (6, &TCP[..]),
                (17, &UDP[..]),
                (1, &unreachable()[..]),
                (47, &UDP),
            ] {
                for frag in [0, 0x4000, 0x2000, 0x0001, 0x20B9] {
                    let b = frame(tag, p, frag, l4);
                    for n in 0..=b.len() {
                        check(&b[..n]);
                    }
                }
            }
        }
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut buf = frame(true, 1, 0, &unreachable());
        for i in 0..50_000u32 {
            scramble(&mut buf, &mut state);
            let tagged = i % 2 == 0;
            buf[12..14].copy_from_slice(if tagged { &[0x81, 0x00] } else { &[0x08, 0x00] });
            if tagged {
                buf[16..18].copy_from_slice(&[0x08, 0x00]);
            }
            buf[if tagged { 18 } else { 14 }] = 0x45;
            buf[if tagged { 27 } else { 23 }] = [1, 6, 17, 58][i as usize % 4];
            check(&buf);
        }
        assert!(accepted > 50_000, "{accepted}");
    }
}
