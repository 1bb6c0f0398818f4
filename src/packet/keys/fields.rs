//! [`KeyFields`]: the keys one `Option` per key, the form tests and tools build keys in.
//!
//! Apart from [`PacketKeys`] because nothing on the receive path uses it: it is the readable
//! form, converted to and from the compact one key by key through the accessors.

use std::net::IpAddr;

use super::{PacketKeys, Unreachable};

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
