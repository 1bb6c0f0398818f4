//! Each key's accessors over [`PacketKeys`]' storage: `name()` reads, `set_name` writes
//! (or clears), `with_name` builds.
//!
//! Apart from the type because they are many and uniform (most come from three macros, one
//! per kind of slot: a field of its own, part of an array block, a port in the shared
//! transport bytes), while the layout they read is what the fast decoder is written
//! against: the layout and its flags stay short and in one place (`mod.rs`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Key, PacketKeys, Unreachable, L4, UNREACHABLE_V6};

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
    /// TCP/UDP/ICMP), for [`crate::packet::fast`]: `ethernet` is the frame's first 16 bytes (its
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

    /// [`Self::write_ethernet_ipv4`] for the common IPv6 frame shape (Ethernet, IPv6 without
    /// extension headers, TCP/UDP/ICMPv6): `addresses` is the IPv6 header's bytes 8..40
    /// (source, then destination), copied whole into `ip6`; `hop_limit_protocol` and
    /// `ports` (the transport header's first four bytes) go to the `ip` block's slots of
    /// the IPv4 TTL and protocol and of the ports.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) fn write_ethernet_ipv6(
        &mut self,
        present: u32,
        ethernet: &[u8; 16],
        ethernet_tail: [u8; 4],
        addresses: &[u8; 32],
        hop_limit_protocol: [u8; 2],
        ports: &[u8; 4],
        ip_tos: u8,
        tcp_flags: u8,
    ) {
        self.present = present;
        self.ethernet = *ethernet;
        self.ethernet[12..16].copy_from_slice(&ethernet_tail);
        self.ip6 = *addresses;
        self.ip[0..2].copy_from_slice(&hop_limit_protocol);
        self.ip[12..16].copy_from_slice(ports);
        self.ip_tos = ip_tos;
        self.tcp_flags = u16::from(tcp_flags);
        if let Some(icmp) = ports.first_chunk::<2>() {
            self.icmp = *icmp;
        }
    }
}
