//! Flow keys: the one place that defines their sFlow-RT names and text forms.
//!
//! Decoding fills a [`PacketKeys`] (plain `Copy` data, no allocation). Everything that
//! speaks in key names (flow definitions, filters, syslog events, `decode --format json`)
//! goes through [`Key`] and [`KeyValue`], so a name or a text form can only differ in one place.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What the sampled header revealed: every key the header carried, the others absent (a
/// sample lacking a key does not match flows keyed on it).
///
/// Stored as a presence bitmask (one bit per [`Key`], see [`Key::bit`]) beside plain
/// fields, not as one `Option` per key: the receive path fills one of these per flow sample,
/// and with `Option`s that cost a tag store per key plus a copy of each payload, more than
/// the decoding itself. An absent key's field may hold anything (the fast decoder writes
/// whatever its bytes say rather than branch per key, and a record reused from one sample to
/// the next keeps the previous sample's bytes there): equality and `Debug` look only at the
/// keys present. Read a key with its accessor (`ip_source()`, ...) or [`PacketKeys::get`];
/// build one with the `set_*` / `with_*` methods or from [`KeyFields`].
///
/// The two 16-byte blocks hold their keys in wire order (multi-byte values big-endian, as
/// sent), so that the fast decoder ([`super::fast`]) fills them with one 16-byte copy each
/// from the frame instead of a store per key; the accessors convert on read.
#[derive(Clone, Copy, Default)]
#[repr(C)]
pub struct PacketKeys {
    /// [`Key::bit`] of each key present, plus [`UNREACHABLE_V6`].
    present: u32,
    /// The first 16 bytes of an Ethernet frame: destination MAC (0..6), source MAC (6..12),
    /// then the EtherType after any tags (12..14) and the outermost VLAN id (14..16), both
    /// big-endian. The fast path copies a frame's first 16 bytes here and rewrites the last
    /// four.
    ethernet: [u8; 16],
    /// IPv4 header bytes 8..24 as in the packet: TTL (0), protocol (1), the header checksum
    /// (2..4, not a key), source (4..8) and destination (8..12) IPv4 address, then the first
    /// four bytes of the transport header, the TCP or UDP source and destination ports
    /// (12..16, big-endian; which transport told by the presence bits). IPv6 keys use the
    /// same slots for hop limit, upper-layer protocol and ports, and keep their addresses in
    /// `ip6`.
    ip: [u8; 16],
    /// IPv6 source (0..16) and destination (16..32) address.
    ip6: [u8; 32],
    /// The `Net`/`Host` address of an unreachable message (IPv6 when [`UNREACHABLE_V6`]; an
    /// IPv4 one in the first four bytes).
    unreachable_address: [u8; 16],
    tcp_flags: u16,
    /// `Port`: the quoted destination port.
    unreachable_port: u16,
    ip_tos: u8,
    /// ICMP type and code, adjacent as in the ICMP header.
    icmp: [u8; 2],
    /// `Protocol`: the quoted protocol; `Port`: 6 (TCP) or 17 (UDP).
    unreachable_protocol: u8,
    /// The tunnel this header's payload is ([`TunnelKind`] as a byte, 0 for none): its
    /// contents are the next level's keys.
    tunnel: u8,
    /// That tunnel's VXLAN or Geneve VNI, or GRE key ([`Key::VxlanVni`], [`Key::GeneveVni`],
    /// [`Key::GreKey`] tell which, when present).
    tunnel_id: u32,
}

impl PartialEq for PacketKeys {
    fn eq(&self, other: &Self) -> bool {
        KeyFields::from(*self) == KeyFields::from(*other)
            && self.tunnel_view() == other.tunnel_view()
    }
}

impl Eq for PacketKeys {}

impl fmt::Debug for PacketKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tunnel_view() == TunnelView::default() {
            KeyFields::from(*self).fmt(f)
        } else {
            write!(f, "{:?} {:?}", KeyFields::from(*self), self.tunnel_view())
        }
    }
}

/// What [`PacketKeys`] holds about tunnels, for equality and `Debug`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct TunnelView {
    tunnel: Option<TunnelKind>,
    vxlan_vni: Option<u32>,
    geneve_vni: Option<u32>,
    gre_key: Option<u32>,
    depth: usize,
    too_deep: bool,
}

impl PacketKeys {
    fn tunnel_view(&self) -> TunnelView {
        TunnelView {
            tunnel: self.tunnel(),
            vxlan_vni: self.tunnel_id_of(Key::VxlanVni),
            geneve_vni: self.tunnel_id_of(Key::GeneveVni),
            gre_key: self.tunnel_id_of(Key::GreKey),
            depth: self.depth(),
            too_deep: self.too_deep(),
        }
    }
}

impl PacketKeys {
    /// No key present.
    pub const EMPTY: PacketKeys = PacketKeys {
        present: 0,
        ethernet: [0; 16],
        ip: [0; 16],
        ip6: [0; 32],
        unreachable_address: [0; 16],
        tcp_flags: 0,
        unreachable_port: 0,
        ip_tos: 0,
        icmp: [0; 2],
        unreachable_protocol: 0,
        tunnel: 0,
        tunnel_id: 0,
    };
}

/// Presence flag beyond the [`Key`] bits: the unreachable address is IPv6.
const UNREACHABLE_V6: u32 = 1 << 31;

/// Presence bits 28 and 29 of the outermost level's keys: how many tunnel levels below it
/// were decoded (0 to [`MAX_DEPTH`]); the fast decoder's whole-mask store clears them.
const DEPTH_SHIFT: u32 = 28;
const DEPTH_MASK: u32 = 3 << DEPTH_SHIFT;
/// Presence flag of the outermost level's keys: a tunnel deeper than [`MAX_DEPTH`] was
/// found and not walked.
const TOO_DEEP: u32 = 1 << 30;
/// Presence flag: `tunnel` holds the tunnel this header's payload is. `agent`'s bit, which
/// no header key uses; the fast decoder's whole-mask store clears it.
const HAS_TUNNEL: u32 = 1 << (Key::Agent.index());

/// Every bit of a key the sampled header can carry (not `agent`/`inputifindex`/`outputifindex`).
const HEADER_KEYS: u32 = !(Key::Agent.bit() | Key::InputIfIndex.bit() | Key::OutputIfIndex.bit())
    & !UNREACHABLE_V6
    & !DEPTH_MASK
    & !TOO_DEEP;

/// The encapsulations the decoder walks into (see [`super::header`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    /// VXLAN (RFC 7348), UDP port 4789; [`Key::VxlanVni`].
    Vxlan = 1,
    /// Geneve (RFC 8926), UDP port 6081; [`Key::GeneveVni`].
    Geneve = 2,
    /// GRE (RFC 2784, 2890) carrying IPv4 or IPv6; [`Key::GreKey`] when it has a key.
    Gre = 3,
    /// GRE carrying Ethernet (transparent Ethernet bridging, NVGRE RFC 7637); the key,
    /// whose top 24 bits are the VSID, is [`Key::GreKey`].
    Nvgre = 4,
    /// IPv4 directly inside IPv4 or IPv6 (IP protocol 4, RFC 2003 / RFC 2473).
    IpInIp = 5,
    /// IPv6 directly inside IPv4 or IPv6 (IP protocol 41, RFC 4213 / RFC 2473).
    Ipv6InIp = 6,
}

impl TunnelKind {
    /// The name `decode --format json` gives it.
    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::Gre => "gre",
            TunnelKind::Nvgre => "nvgre",
            TunnelKind::IpInIp => "ipip",
            TunnelKind::Ipv6InIp => "ipv6ip",
        }
    }

    fn from_byte(b: u8) -> Option<TunnelKind> {
        Some(match b {
            1 => TunnelKind::Vxlan,
            2 => TunnelKind::Geneve,
            3 => TunnelKind::Gre,
            4 => TunnelKind::Nvgre,
            5 => TunnelKind::IpInIp,
            6 => TunnelKind::Ipv6InIp,
            _ => return None,
        })
    }
}

/// The headers inside tunnels: level N (1 to [`MAX_DEPTH`]) at index N - 1. Only the
/// levels the outermost keys' [`PacketKeys::depth`] counts hold keys; the others may hold
/// anything (a record reused from sample to sample keeps them), so a sample without
/// tunnels never writes here. The levels are made only when a tunnel is found: an empty
/// value is one word, so a record costs no more to create than without tunnel keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InnerKeys {
    levels: Option<[PacketKeys; MAX_DEPTH]>,
}

impl InnerKeys {
    /// No level holds keys.
    pub const EMPTY: InnerKeys = InnerKeys { levels: None };

    /// [`Self::EMPTY`], written as a value so that making one stores only the `None`
    /// (a constant may be materialised whole, zeroing the absent levels' bytes too).
    #[inline(always)]
    pub fn empty() -> InnerKeys {
        InnerKeys { levels: None }
    }

    /// Level `level`'s keys (1 to [`MAX_DEPTH`]), as stored: the caller checks the depth.
    #[inline]
    pub fn level(&self, level: usize) -> Option<&PacketKeys> {
        self.levels.as_ref()?.get(level.checked_sub(1)?)
    }

    /// Every level's storage, made (empty) the first time.
    #[inline]
    pub fn levels_mut(&mut self) -> &mut [PacketKeys; MAX_DEPTH] {
        self.levels.get_or_insert([PacketKeys::EMPTY; MAX_DEPTH])
    }
}

impl Default for InnerKeys {
    #[inline(always)]
    fn default() -> Self {
        InnerKeys::EMPTY
    }
}

/// The keys one `Option` per key: the convenient form for building a [`PacketKeys`] by hand
/// (tests, tools) with struct-update syntax, converted with `.into()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyFields {
    pub mac_source: Option<[u8; 6]>,
    pub mac_destination: Option<[u8; 6]>,
    /// VLAN id of the outermost 802.1Q/802.1ad tag.
    pub vlan: Option<u16>,
    /// The EtherType after any VLAN tags (0x0800, 0x86DD, ...).
    pub ethernet_protocol: Option<u16>,
    pub ip_source: Option<IpAddr>,
    pub ip_destination: Option<IpAddr>,
    /// IPv4 protocol, or the IPv6 upper-layer protocol after extension headers.
    pub ip_protocol: Option<u8>,
    /// IPv4 TOS byte or IPv6 traffic class.
    pub ip_tos: Option<u8>,
    /// IPv4 TTL or IPv6 hop limit.
    pub ip_ttl: Option<u8>,
    pub tcp_source_port: Option<u16>,
    pub tcp_destination_port: Option<u16>,
    pub tcp_flags: Option<u16>,
    pub udp_source_port: Option<u16>,
    pub udp_destination_port: Option<u16>,
    /// ICMP or ICMPv6 type and code.
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    /// Destination-unreachable details taken from the embedded original header.
    pub unreachable: Option<Unreachable>,
}

impl From<KeyFields> for PacketKeys {
    fn from(f: KeyFields) -> Self {
        let mut k = PacketKeys::default();
        k.set_mac_source(f.mac_source);
        k.set_mac_destination(f.mac_destination);
        k.set_vlan(f.vlan);
        k.set_ethernet_protocol(f.ethernet_protocol);
        k.set_ip_source(f.ip_source);
        k.set_ip_destination(f.ip_destination);
        k.set_ip_protocol(f.ip_protocol);
        k.set_ip_tos(f.ip_tos);
        k.set_ip_ttl(f.ip_ttl);
        k.set_tcp_source_port(f.tcp_source_port);
        k.set_tcp_destination_port(f.tcp_destination_port);
        k.set_tcp_flags(f.tcp_flags);
        k.set_udp_source_port(f.udp_source_port);
        k.set_udp_destination_port(f.udp_destination_port);
        k.set_icmp_type(f.icmp_type);
        k.set_icmp_code(f.icmp_code);
        k.set_unreachable(f.unreachable);
        k
    }
}

impl From<PacketKeys> for KeyFields {
    fn from(k: PacketKeys) -> Self {
        KeyFields {
            mac_source: k.mac_source(),
            mac_destination: k.mac_destination(),
            vlan: k.vlan(),
            ethernet_protocol: k.ethernet_protocol(),
            ip_source: k.ip_source(),
            ip_destination: k.ip_destination(),
            ip_protocol: k.ip_protocol(),
            ip_tos: k.ip_tos(),
            ip_ttl: k.ip_ttl(),
            tcp_source_port: k.tcp_source_port(),
            tcp_destination_port: k.tcp_destination_port(),
            tcp_flags: k.tcp_flags(),
            udp_source_port: k.udp_source_port(),
            udp_destination_port: k.udp_destination_port(),
            icmp_type: k.icmp_type(),
            icmp_code: k.icmp_code(),
            unreachable: k.unreachable(),
        }
    }
}

/// Accessors for the keys held in one field each: `name()` reads, `set_name` writes (or
/// clears), `with_name` builds.
macro_rules! plain_keys {
    ($($key:ident: $field:ident: $ty:ty, $set:ident, $with:ident;)*) => {
        impl PacketKeys {
            $(
                #[inline]
                pub fn $field(&self) -> Option<$ty> {
                    self.has(Key::$key).then_some(self.$field)
                }

                #[inline]
                pub fn $set(&mut self, value: Option<$ty>) {
                    if let Some(v) = value {
                        self.$field = v;
                    }
                    self.mark(Key::$key.bit(), value.is_some());
                }

                #[inline]
                #[must_use]
                pub fn $with(mut self, value: $ty) -> Self {
                    self.$set(Some(value));
                    self
                }
            )*
        }
    };
}

plain_keys! {
    IpTos: ip_tos: u8, set_ip_tos, with_ip_tos;
    TcpFlags: tcp_flags: u16, set_tcp_flags, with_tcp_flags;
}

/// Accessors for the keys kept in part of an array field (the MACs, ICMP type and code).
macro_rules! array_keys {
    ($($key:ident: $get:ident, $set:ident, $with:ident, $field:ident[$at:literal..$end:literal] -> $ty:ty, $from:expr, $to:expr;)*) => {
        impl PacketKeys {
            $(
                #[inline]
                pub fn $get(&self) -> Option<$ty> {
                    let mut v = [0u8; $end - $at];
                    v.copy_from_slice(&self.$field[$at..$end]);
                    self.has(Key::$key).then(|| $from(v))
                }

                #[inline]
                pub fn $set(&mut self, value: Option<$ty>) {
                    if let Some(v) = value {
                        self.$field[$at..$end].copy_from_slice(&$to(v));
                    }
                    self.mark(Key::$key.bit(), value.is_some());
                }

                #[inline]
                #[must_use]
                pub fn $with(mut self, value: $ty) -> Self {
                    self.$set(Some(value));
                    self
                }
            )*
        }
    };
}

array_keys! {
    MacDestination: mac_destination, set_mac_destination, with_mac_destination,
        ethernet[0..6] -> [u8; 6], |v| v, |v| v;
    MacSource: mac_source, set_mac_source, with_mac_source,
        ethernet[6..12] -> [u8; 6], |v| v, |v| v;
    EthernetProtocol: ethernet_protocol, set_ethernet_protocol, with_ethernet_protocol,
        ethernet[12..14] -> u16, u16::from_be_bytes, u16::to_be_bytes;
    Vlan: vlan, set_vlan, with_vlan,
        ethernet[14..16] -> u16, u16::from_be_bytes, u16::to_be_bytes;
    IpTtl: ip_ttl, set_ip_ttl, with_ip_ttl,
        ip[0..1] -> u8, |v: [u8; 1]| v[0], |v: u8| [v];
    IpProtocol: ip_protocol, set_ip_protocol, with_ip_protocol,
        ip[1..2] -> u8, |v: [u8; 1]| v[0], |v: u8| [v];
    IcmpType: icmp_type, set_icmp_type, with_icmp_type,
        icmp[0..1] -> u8, |v: [u8; 1]| v[0], |v: u8| [v];
    IcmpCode: icmp_code, set_icmp_code, with_icmp_code,
        icmp[1..2] -> u8, |v: [u8; 1]| v[0], |v: u8| [v];
}

/// Accessors for the TCP and UDP ports, which share the `ip` block's transport bytes (a
/// header has one transport), big-endian at `$at` as in the transport header.
macro_rules! port_keys {
    ($($key:ident: $get:ident, $set:ident, $with:ident, $at:literal, $other:ident;)*) => {
        impl PacketKeys {
            $(
                #[inline]
                pub fn $get(&self) -> Option<u16> {
                    self.has(Key::$key)
                        .then(|| u16::from_be_bytes([self.ip[$at], self.ip[$at + 1]]))
                }

                /// Setting a value replaces the other transport's same port (they share
                /// storage); clearing leaves the other transport's port alone.
                #[inline]
                pub fn $set(&mut self, value: Option<u16>) {
                    match value {
                        Some(port) => {
                            self.ip[$at..$at + 2].copy_from_slice(&port.to_be_bytes());
                            self.mark(Key::$key.bit(), true);
                            self.mark(Key::$other.bit(), false);
                        }
                        None => self.mark(Key::$key.bit(), false),
                    }
                }

                #[inline]
                #[must_use]
                pub fn $with(mut self, value: u16) -> Self {
                    self.$set(Some(value));
                    self
                }
            )*
        }
    };
}

port_keys! {
    TcpSourcePort: tcp_source_port, set_tcp_source_port, with_tcp_source_port, 12, UdpSourcePort;
    TcpDestinationPort: tcp_destination_port, set_tcp_destination_port, with_tcp_destination_port, 14, UdpDestinationPort;
    UdpSourcePort: udp_source_port, set_udp_source_port, with_udp_source_port, 12, TcpSourcePort;
    UdpDestinationPort: udp_destination_port, set_udp_destination_port, with_udp_destination_port, 14, TcpDestinationPort;
}

/// 16 bytes holding an address: IPv4 in the first four (the rest zero).
#[inline]
fn address_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(a) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&a.octets());
            b
        }
        IpAddr::V6(a) => a.octets(),
    }
}

#[inline]
fn address(bytes: [u8; 16], v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(bytes))
    } else {
        IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
    }
}

impl PacketKeys {
    /// The bits ([`Key::bit`]) of every key present.
    #[inline]
    pub fn present(&self) -> u32 {
        self.present & HEADER_KEYS
    }

    /// The presence word as stored, flags included (for [`super::fast`]).
    #[inline(always)]
    pub(crate) fn raw_present(&self) -> u32 {
        self.present
    }

    /// How many tunnel levels below these (outermost) keys were decoded, 0 to
    /// [`MAX_DEPTH`].
    #[inline]
    pub fn depth(&self) -> usize {
        ((self.present & DEPTH_MASK) >> DEPTH_SHIFT) as usize
    }

    /// Record that `depth` tunnel levels were decoded (on the outermost keys).
    #[inline]
    pub fn set_depth(&mut self, depth: usize) {
        let d = (depth.min(MAX_DEPTH) as u32) << DEPTH_SHIFT;
        self.present = (self.present & !DEPTH_MASK) | d;
    }

    /// Whether a tunnel deeper than [`MAX_DEPTH`] levels was found and left unwalked.
    #[inline]
    pub fn too_deep(&self) -> bool {
        self.present & TOO_DEEP != 0
    }

    /// Mark (on the outermost keys) that a tunnel too deep to walk was found.
    #[inline]
    pub fn set_too_deep(&mut self) {
        self.present |= TOO_DEEP;
    }

    /// The tunnel whose payload follows this header, if the decoder recognised one.
    #[inline]
    pub fn tunnel(&self) -> Option<TunnelKind> {
        if self.present & HAS_TUNNEL == 0 {
            return None;
        }
        TunnelKind::from_byte(self.tunnel)
    }

    /// Record the tunnel found in this header, with its VNI or key (which sets
    /// [`Key::VxlanVni`], [`Key::GeneveVni`] or [`Key::GreKey`] by the kind).
    #[inline]
    pub fn set_tunnel(&mut self, kind: TunnelKind, id: Option<u32>) {
        self.tunnel = kind as u8;
        self.present |= HAS_TUNNEL;
        let bit = match kind {
            TunnelKind::Vxlan => Key::VxlanVni.bit(),
            TunnelKind::Geneve => Key::GeneveVni.bit(),
            TunnelKind::Gre | TunnelKind::Nvgre => Key::GreKey.bit(),
            TunnelKind::IpInIp | TunnelKind::Ipv6InIp => 0,
        };
        self.mark(
            Key::VxlanVni.bit() | Key::GeneveVni.bit() | Key::GreKey.bit(),
            false,
        );
        if let Some(id) = id {
            self.tunnel_id = id;
            self.mark(bit, true);
        }
    }

    /// The VXLAN VNI, Geneve VNI or GRE key of the tunnel in this header.
    #[inline]
    fn tunnel_id_of(&self, key: Key) -> Option<u32> {
        self.has(key).then_some(self.tunnel_id)
    }

    /// Whether the header carried `key`.
    #[inline]
    pub fn has(&self, key: Key) -> bool {
        self.present & key.bit() & HEADER_KEYS != 0
    }

    #[inline]
    fn mark(&mut self, bits: u32, on: bool) {
        if on {
            self.present |= bits;
        } else {
            self.present &= !bits;
        }
    }

    /// The source (`side` 0) or destination (`side` 1) address, IPv4 or IPv6 as `bits` (the
    /// side's presence bits) say.
    #[inline]
    fn address_of(&self, side: usize, bits: u32, v6_bit: u32) -> Option<IpAddr> {
        if bits == 0 {
            return None;
        }
        // `side` is 0 or 1, so both reads are inside the arrays; `?` never returns.
        Some(if bits == v6_bit {
            let a = self.ip6.get(side * 16..)?.first_chunk::<16>()?;
            IpAddr::V6(Ipv6Addr::from(*a))
        } else {
            let a = self.ip.get(4 + side * 4..)?.first_chunk::<4>()?;
            IpAddr::V4(Ipv4Addr::from(*a))
        })
    }

    /// Store `ip` as the source (`side` 0) or destination (`side` 1) address.
    #[inline]
    fn store_address(&mut self, side: usize, ip: IpAddr) {
        // `side` is 0 or 1, so both slots exist.
        match ip {
            IpAddr::V4(a) => {
                if let Some(slot) = self
                    .ip
                    .get_mut(4 + side * 4..)
                    .and_then(|s| s.first_chunk_mut())
                {
                    *slot = a.octets();
                }
            }
            IpAddr::V6(a) => {
                if let Some(slot) = self
                    .ip6
                    .get_mut(side * 16..)
                    .and_then(|s| s.first_chunk_mut())
                {
                    *slot = a.octets();
                }
            }
        }
    }

    /// The IPv4 or IPv6 source address.
    #[inline]
    pub fn ip_source(&self) -> Option<IpAddr> {
        let bits = self.present & (Key::IpSource.bit() | Key::Ip6Source.bit());
        self.address_of(0, bits, Key::Ip6Source.bit())
    }

    /// The IPv4 or IPv6 destination address.
    #[inline]
    pub fn ip_destination(&self) -> Option<IpAddr> {
        let bits = self.present & (Key::IpDestination.bit() | Key::Ip6Destination.bit());
        self.address_of(1, bits, Key::Ip6Destination.bit())
    }

    #[inline]
    pub fn set_ip_source(&mut self, ip: Option<IpAddr>) {
        self.set_address(0, Key::IpSource, Key::Ip6Source, ip);
    }

    #[inline]
    pub fn set_ip_destination(&mut self, ip: Option<IpAddr>) {
        self.set_address(1, Key::IpDestination, Key::Ip6Destination, ip);
    }

    /// Address `side` (0 source, 1 destination): stored, and present under `v4` or `v6`
    /// by its family; `None` clears both.
    #[inline]
    fn set_address(&mut self, side: usize, v4: Key, v6: Key, ip: Option<IpAddr>) {
        self.mark(v4.bit() | v6.bit(), false);
        if let Some(ip) = ip {
            self.store_address(side, ip);
        }
        match ip {
            Some(IpAddr::V4(_)) => self.mark(v4.bit(), true),
            Some(IpAddr::V6(_)) => self.mark(v6.bit(), true),
            None => {}
        }
    }

    #[inline]
    #[must_use]
    pub fn with_ip_source(mut self, ip: IpAddr) -> Self {
        self.set_ip_source(Some(ip));
        self
    }

    #[inline]
    #[must_use]
    pub fn with_ip_destination(mut self, ip: IpAddr) -> Self {
        self.set_ip_destination(Some(ip));
        self
    }

    /// The destination-unreachable key the message set, if any.
    #[inline]
    pub fn unreachable(&self) -> Option<Unreachable> {
        let v6 = self.present & UNREACHABLE_V6 != 0;
        if self.has(Key::IcmpUnreachablePort) {
            let protocol = if self.unreachable_protocol == 6 {
                L4::Tcp
            } else {
                L4::Udp
            };
            Some(Unreachable::Port {
                protocol,
                port: self.unreachable_port,
            })
        } else if self.has(Key::IcmpUnreachableProtocol) {
            Some(Unreachable::Protocol(self.unreachable_protocol))
        } else if self.has(Key::IcmpUnreachableNet) {
            Some(Unreachable::Net(address(self.unreachable_address, v6)))
        } else if self.has(Key::IcmpUnreachableHost) {
            Some(Unreachable::Host(address(self.unreachable_address, v6)))
        } else {
            None
        }
    }

    pub fn set_unreachable(&mut self, u: Option<Unreachable>) {
        self.mark(
            Key::IcmpUnreachableNet.bit()
                | Key::IcmpUnreachableHost.bit()
                | Key::IcmpUnreachableProtocol.bit()
                | Key::IcmpUnreachablePort.bit()
                | UNREACHABLE_V6,
            false,
        );
        let (bit, ip) = match u {
            None => return,
            Some(Unreachable::Net(ip)) => (Key::IcmpUnreachableNet, Some(ip)),
            Some(Unreachable::Host(ip)) => (Key::IcmpUnreachableHost, Some(ip)),
            Some(Unreachable::Protocol(p)) => {
                self.unreachable_protocol = p;
                (Key::IcmpUnreachableProtocol, None)
            }
            Some(Unreachable::Port { protocol, port }) => {
                self.unreachable_protocol = match protocol {
                    L4::Tcp => 6,
                    L4::Udp => 17,
                };
                self.unreachable_port = port;
                (Key::IcmpUnreachablePort, None)
            }
        };
        self.mark(bit.bit(), true);
        if let Some(ip) = ip {
            self.unreachable_address = address_bytes(ip);
            self.mark(UNREACHABLE_V6, ip.is_ipv6());
        }
    }

    #[must_use]
    pub fn with_unreachable(mut self, u: Unreachable) -> Self {
        self.set_unreachable(Some(u));
        self
    }

    /// Overwrite every key with those of the common frame shape (Ethernet, IPv4,
    /// TCP/UDP/ICMP), for [`super::fast`]: `ethernet` is the frame's first 16 bytes (its
    /// bytes 12..16 then replaced by `ethernet_tail`, the EtherType and VID, big-endian),
    /// `ip` the IPv4 header's bytes 8..24 (see the `ip` field), each copied whole. `present`
    /// holds the [`Key::bit`]s of the keys that count; the other arguments may hold
    /// anything, and keys absent from `present` keep whatever bytes they had (absent keys
    /// never count).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) fn write_ethernet_ipv4(
        &mut self,
        present: u32,
        ethernet: &[u8; 16],
        ethernet_tail: [u8; 4],
        ip: &[u8; 16],
        ip_tos: u8,
        tcp_flags: u8,
        icmp: &[u8; 2],
    ) {
        self.present = present;
        self.ethernet = *ethernet;
        self.ethernet[12..16].copy_from_slice(&ethernet_tail);
        self.ip = *ip;
        self.ip_tos = ip_tos;
        self.tcp_flags = u16::from(tcp_flags);
        self.icmp = *icmp;
    }
}

/// The sFlow-RT `icmpunreachable*` key a destination-unreachable message sets.
/// Exactly one of them is set per message, chosen by the ICMP code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unreachable {
    /// `icmpunreachablenet`: the embedded (original) destination address.
    Net(IpAddr),
    /// `icmpunreachablehost`: the embedded (original) destination address.
    Host(IpAddr),
    /// `icmpunreachableprotocol`: the embedded protocol number.
    Protocol(u8),
    /// `icmpunreachableport`: the embedded destination port of a TCP or UDP packet.
    Port { protocol: L4, port: u16 },
}

/// The transport of an unreachable port, printed as the `tcp_`/`udp_` prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum L4 {
    Tcp,
    Udp,
}

macro_rules! keys {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// The plain keys' codes, in declaration order.
        #[allow(clippy::enum_variant_names)]
        #[derive(Clone, Copy)]
        #[repr(u8)]
        enum Code { $($variant),* }

        /// A flow key, named as in sFlow-RT: a plain key (`ipsource`), or a header key at
        /// tunnel level N = 1..=[`MAX_DEPTH`] (`ipsource.1`, the header inside the first
        /// tunnel; `.2` the one inside that). Plain names are the outermost header.
        ///
        /// A code, not an enum: the low five bits are the plain key (its bit in
        /// [`PacketKeys`]' presence mask), the two above the level. The plain keys are
        /// associated constants, so `match key { Key::IpSource => .. }` reads as with an enum.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct Key(u8);

        #[allow(non_upper_case_globals)]
        impl Key {
            $(pub const $variant: Key = Key(Code::$variant as u8);)*

            /// Every plain key, in declaration order (the `.N` forms are
            /// [`Key::at_level`] of the header keys among them).
            pub const ALL: &'static [Key] = &[$(Key::$variant),*];

            /// The plain keys' names, by code.
            const NAMES: &'static [[&'static str; 1 + MAX_DEPTH]] =
                &[$([$name, concat!($name, ".1"), concat!($name, ".2"), concat!($name, ".3")]),*];

            /// The plain key of a name without a level suffix.
            fn plain_from_name(name: &str) -> Option<Key> {
                match name { $($name => Some(Key::$variant),)* _ => None }
            }
        }
    };
}

keys! {
    Agent => "agent",
    InputIfIndex => "inputifindex",
    OutputIfIndex => "outputifindex",
    MacSource => "macsource",
    MacDestination => "macdestination",
    Vlan => "vlan",
    EthernetProtocol => "ethernetprotocol",
    IpSource => "ipsource",
    IpDestination => "ipdestination",
    Ip6Source => "ip6source",
    Ip6Destination => "ip6destination",
    IpProtocol => "ipprotocol",
    IpTos => "iptos",
    IpTtl => "ipttl",
    TcpSourcePort => "tcpsourceport",
    TcpDestinationPort => "tcpdestinationport",
    TcpFlags => "tcpflags",
    UdpSourcePort => "udpsourceport",
    UdpDestinationPort => "udpdestinationport",
    IcmpType => "icmptype",
    IcmpCode => "icmpcode",
    IcmpUnreachableNet => "icmpunreachablenet",
    IcmpUnreachableHost => "icmpunreachablehost",
    IcmpUnreachableProtocol => "icmpunreachableprotocol",
    IcmpUnreachablePort => "icmpunreachableport",
    VxlanVni => "vxlanvni",
    GeneveVni => "genevevni",
    GreKey => "grekey",
}

/// Deepest tunnel level decoded: headers inside a fourth tunnel are not walked (the
/// sample keeps its other keys, and [`PacketKeys::too_deep`] says so).
pub const MAX_DEPTH: usize = 3;

impl Key {
    /// This key's bit in [`PacketKeys`]' presence mask (the same for every level).
    pub const fn bit(self) -> u32 {
        1 << (self.0 & 31)
    }

    /// The plain key (level 0) of this key.
    pub const fn plain(self) -> Key {
        Key(self.0 & 31)
    }

    /// The tunnel level: 0 for the outermost header, N for a `.N` key.
    pub const fn level(self) -> usize {
        (self.0 >> 5) as usize
    }

    /// A small number unique to each key of every level, below 128: its bit in a
    /// record's presence mask ([`crate::flow::key::present_keys`]).
    pub const fn index(self) -> u32 {
        (self.level() as u32) * 32 + (self.0 & 31) as u32
    }

    /// Whether the sampled header carries this key (not `agent`, `inputifindex`,
    /// `outputifindex`, which come from the sample): the keys that have `.N` forms.
    pub const fn from_header(self) -> bool {
        !matches!(
            self.plain(),
            Key::Agent | Key::InputIfIndex | Key::OutputIfIndex
        )
    }

    /// This header key at tunnel level `level` (0 = the plain key); `None` for a level
    /// beyond [`MAX_DEPTH`] or a key that does not come from the header.
    pub const fn at_level(self, level: usize) -> Option<Key> {
        if level > MAX_DEPTH || (level > 0 && !self.from_header()) {
            return None;
        }
        Some(Key((self.0 & 31) | (level as u8) << 5))
    }

    /// The sFlow-RT name (`ipsource`, `icmpunreachableport.1`, ...).
    pub fn name(self) -> &'static str {
        Key::NAMES
            .get(usize::from(self.0 & 31))
            .and_then(|n| n.get(self.level()))
            .copied()
            .unwrap_or("")
    }

    /// Look a key up by its sFlow-RT name (exact, lower case), `.1` to `.3` suffixes
    /// included.
    pub fn from_name(name: &str) -> Option<Key> {
        if let Some(k) = Key::plain_from_name(name) {
            return Some(k);
        }
        let (plain, level) = name.rsplit_once('.')?;
        let level = match level {
            "1" => 1,
            "2" => 2,
            "3" => 3,
            _ => return None,
        };
        Key::plain_from_name(plain)?.at_level(level)
    }

    /// Every key of every level: the plain keys, then each header key at levels 1 to
    /// [`MAX_DEPTH`].
    pub fn every() -> impl Iterator<Item = Key> {
        (0..=MAX_DEPTH).flat_map(|level| Key::ALL.iter().filter_map(move |k| k.at_level(level)))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The value of one key, printed (`Display`) exactly as sFlow-RT prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyValue {
    /// Dotted quad, or IPv6 text.
    Ip(IpAddr),
    /// 12 upper-case hex digits, no separators.
    Mac([u8; 6]),
    /// Decimal.
    Number(u32),
    /// `tcp_<port>` or `udp_<port>`.
    Port(L4, u16),
    /// A key function's text result: the name of the address group a `group:` key
    /// found ([`crate::flow::group`]), as written in the group set.
    Group(&'static str),
}

impl fmt::Display for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            KeyValue::Ip(ip) => write!(f, "{ip}"),
            KeyValue::Mac(m) => write!(
                f,
                "{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
                m[0], m[1], m[2], m[3], m[4], m[5]
            ),
            KeyValue::Number(n) => write!(f, "{n}"),
            KeyValue::Port(L4::Tcp, p) => write!(f, "tcp_{p}"),
            KeyValue::Port(L4::Udp, p) => write!(f, "udp_{p}"),
            KeyValue::Group(name) => f.write_str(name),
        }
    }
}

impl PacketKeys {
    /// The value of a key that the sampled header carries, or `None` when it does not.
    /// `agent`, `inputifindex` and `outputifindex` come from the sample, not the header:
    /// see [`crate::record::SampleRecord::key`]. These are one level's keys: a `.N` key
    /// reads as its plain key here (the record picks the level).
    pub fn get(&self, key: Key) -> Option<KeyValue> {
        let key = key.plain();
        let num = |v: Option<u8>| v.map(|n| KeyValue::Number(u32::from(n)));
        let num16 = |v: Option<u16>| v.map(|n| KeyValue::Number(u32::from(n)));
        let v4 = |ip: Option<IpAddr>| ip.filter(IpAddr::is_ipv4).map(KeyValue::Ip);
        let v6 = |ip: Option<IpAddr>| ip.filter(IpAddr::is_ipv6).map(KeyValue::Ip);
        match key {
            Key::VxlanVni | Key::GeneveVni | Key::GreKey => {
                self.tunnel_id_of(key).map(KeyValue::Number)
            }
            Key::MacSource => self.mac_source().map(KeyValue::Mac),
            Key::MacDestination => self.mac_destination().map(KeyValue::Mac),
            Key::Vlan => num16(self.vlan()),
            Key::EthernetProtocol => num16(self.ethernet_protocol()),
            Key::IpSource => v4(self.ip_source()),
            Key::IpDestination => v4(self.ip_destination()),
            Key::Ip6Source => v6(self.ip_source()),
            Key::Ip6Destination => v6(self.ip_destination()),
            Key::IpProtocol => num(self.ip_protocol()),
            Key::IpTos => num(self.ip_tos()),
            Key::IpTtl => num(self.ip_ttl()),
            Key::TcpSourcePort => num16(self.tcp_source_port()),
            Key::TcpDestinationPort => num16(self.tcp_destination_port()),
            Key::TcpFlags => num16(self.tcp_flags()),
            Key::UdpSourcePort => num16(self.udp_source_port()),
            Key::UdpDestinationPort => num16(self.udp_destination_port()),
            Key::IcmpType => num(self.icmp_type()),
            Key::IcmpCode => num(self.icmp_code()),
            Key::IcmpUnreachableNet => match self.unreachable() {
                Some(Unreachable::Net(ip)) => Some(KeyValue::Ip(ip)),
                _ => None,
            },
            Key::IcmpUnreachableHost => match self.unreachable() {
                Some(Unreachable::Host(ip)) => Some(KeyValue::Ip(ip)),
                _ => None,
            },
            Key::IcmpUnreachableProtocol => match self.unreachable() {
                Some(Unreachable::Protocol(p)) => Some(KeyValue::Number(u32::from(p))),
                _ => None,
            },
            Key::IcmpUnreachablePort => match self.unreachable() {
                Some(Unreachable::Port { protocol, port }) => Some(KeyValue::Port(protocol, port)),
                _ => None,
            },
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &k in Key::ALL {
            assert_eq!(Key::from_name(k.name()), Some(k));
        }
        assert_eq!(Key::from_name("IPSOURCE"), None);
        // Every header key has `.1` to `.3`; the sample's own keys have none.
        let every: Vec<Key> = Key::every().collect();
        assert_eq!(every.len(), Key::ALL.len() + 3 * (Key::ALL.len() - 3));
        for k in every {
            assert_eq!(Key::from_name(k.name()), Some(k), "{k}");
            assert_eq!(k.plain().at_level(k.level()), Some(k));
        }
        let k = Key::from_name("icmpunreachableport.1").unwrap();
        assert_eq!((k.plain(), k.level()), (Key::IcmpUnreachablePort, 1));
        assert_eq!(k.name(), "icmpunreachableport.1");
        for bad in [
            "agent.1",
            "ipsource.0",
            "ipsource.4",
            "ipsource.",
            "ipsource.1.1",
            ".1",
        ] {
            assert_eq!(Key::from_name(bad), None, "{bad}");
        }
        assert_eq!(Key::from_name("vxlanvni.2").map(Key::level), Some(2));
    }

    #[test]
    fn text_forms_follow_sflow_rt() {
        let mac = KeyValue::Mac([0x00, 0x1c, 0x2e, 0xab, 0x0f, 0x80]);
        assert_eq!(mac.to_string(), "001C2EAB0F80");
        assert_eq!(KeyValue::Port(L4::Udp, 53).to_string(), "udp_53");
        assert_eq!(KeyValue::Port(L4::Tcp, 22).to_string(), "tcp_22");
        assert_eq!(
            KeyValue::Ip("10.0.0.5".parse().unwrap()).to_string(),
            "10.0.0.5"
        );
        assert_eq!(
            KeyValue::Ip("2001:db8::1".parse().unwrap()).to_string(),
            "2001:db8::1"
        );
    }

    #[test]
    fn ipv4_keys_do_not_answer_for_ipv6() {
        let k = PacketKeys::default().with_ip_source("2001:db8::1".parse().unwrap());
        assert_eq!(k.get(Key::IpSource), None);
        assert!(k.get(Key::Ip6Source).is_some());
        assert_eq!(k.present(), Key::Ip6Source.bit());
    }

    /// Every key survives the round trip through the compact form, setting a key twice or
    /// clearing it leaves no trace, and the two transports' shared port storage stays apart.
    #[test]
    fn compact_form_round_trips() {
        let v4 = KeyFields {
            mac_source: Some([1, 2, 3, 4, 5, 6]),
            mac_destination: Some([6, 5, 4, 3, 2, 1]),
            vlan: Some(4095),
            ethernet_protocol: Some(0x0800),
            ip_source: Some("10.0.0.1".parse().unwrap()),
            ip_destination: Some("192.0.2.255".parse().unwrap()),
            ip_protocol: Some(1),
            ip_tos: Some(0xFF),
            ip_ttl: Some(0),
            tcp_flags: Some(0x1FF),
            icmp_type: Some(3),
            icmp_code: Some(0),
            unreachable: Some(Unreachable::Net("203.0.113.9".parse().unwrap())),
            ..Default::default()
        };
        let udp = KeyFields {
            ip_source: Some("2001:db8::1".parse().unwrap()),
            ip_destination: Some("2001:db8::2".parse().unwrap()),
            udp_source_port: Some(0),
            udp_destination_port: Some(65535),
            unreachable: Some(Unreachable::Port {
                protocol: L4::Tcp,
                port: 0,
            }),
            ..Default::default()
        };
        let tcp = KeyFields {
            tcp_source_port: Some(22),
            tcp_destination_port: Some(40000),
            unreachable: Some(Unreachable::Host("2001:db8::9".parse().unwrap())),
            ..Default::default()
        };
        let proto = KeyFields {
            unreachable: Some(Unreachable::Protocol(132)),
            ..Default::default()
        };
        for fields in [v4, udp, tcp, proto, KeyFields::default()] {
            let k = PacketKeys::from(fields);
            assert_eq!(KeyFields::from(k), fields);
            let mut cleared = k;
            let empty = KeyFields::default();
            cleared.set_unreachable(None);
            cleared.set_ip_source(None);
            cleared.set_ip_destination(None);
            let back = KeyFields {
                unreachable: None,
                ip_source: None,
                ip_destination: None,
                ..fields
            };
            assert_eq!(KeyFields::from(cleared), back);
            assert_eq!(
                cleared,
                PacketKeys::from(back),
                "absent fields do not count"
            );
            assert_eq!(PacketKeys::from(empty), PacketKeys::default());
        }
        let mut k = PacketKeys::default().with_udp_destination_port(53);
        assert_eq!(k.get(Key::UdpDestinationPort), Some(KeyValue::Number(53)));
        k.set_tcp_destination_port(Some(80));
        assert_eq!(k.udp_destination_port(), None);
        assert_eq!(k.tcp_destination_port(), Some(80));
        assert_eq!(k.present(), Key::TcpDestinationPort.bit());
        k.set_udp_destination_port(None);
        assert_eq!(k.tcp_destination_port(), Some(80));
        k.set_tcp_destination_port(None);
        assert_eq!(k, PacketKeys::default());
    }
}
