//! Flow keys: the one place that defines their sFlow-RT names and text forms.
//!
//! Decoding fills a [`PacketKeys`] (plain `Copy` data, no allocation). Everything that
//! speaks in key names (flow definitions, filters, syslog events, `decode --format json`)
//! goes through [`Key`] and [`KeyValue`], so a name or a text form can only differ in one place.
//!
//! One file per role, so that the storage layout the fast decoder depends on, the accessors
//! over it and the names users write can each be read (and changed) alone:
//! - this file: [`PacketKeys`] itself (its wire-order storage, the presence word and its
//!   flags: tunnel depth, tunnel kind), and the value types [`Unreachable`] and [`L4`];
//! - `access`: each key's accessors (`ip_source()`, `set_ip_source`, `with_ip_source`, ...)
//!   over that storage, and the fast decoder's whole-block write;
//! - `tunnel`: [`TunnelKind`] and the tunnel levels' keys, [`InnerKeys`];
//! - `fields`: [`KeyFields`], the one-`Option`-per-key form for building keys by hand;
//! - `name`: [`Key`] (the sFlow-RT key-name table, `.1` to `.3` levels included), the text
//!   forms ([`KeyValue`]) and [`PacketKeys::get`], reading a key by name;
//! - `tests.rs`: the unit tests.

use std::fmt;
use std::net::IpAddr;

mod access;
mod fields;
mod name;
mod tunnel;

pub use fields::KeyFields;
pub use name::{Key, KeyValue, MAX_DEPTH};
pub use tunnel::{InnerKeys, TunnelKind};

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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests;
