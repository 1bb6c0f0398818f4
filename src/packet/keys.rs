//! Flow keys: the one place that defines their sFlow-RT names and text forms.
//!
//! Decoding fills a [`PacketKeys`] (plain `Copy` data, no allocation). Everything that
//! speaks in key names (flow definitions, filters, syslog events, `decode --format json`)
//! goes through [`Key`] and [`KeyValue`], so a name or a text form can only differ in one place.

use std::fmt;
use std::net::IpAddr;

/// What the sampled header revealed. A field is `None` when the header did not carry it
/// (another protocol, or the header was truncated before it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketKeys {
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
        /// A flow key, named as in sFlow-RT.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Key { $($variant),* }

        impl Key {
            /// Every key, in declaration order.
            pub const ALL: &'static [Key] = &[$(Key::$variant),*];

            /// The sFlow-RT name (`ipsource`, `icmpunreachableport`, ...).
            pub const fn name(self) -> &'static str {
                match self { $(Key::$variant => $name),* }
            }

            /// Look a key up by its sFlow-RT name (exact, lower case).
            pub fn from_name(name: &str) -> Option<Key> {
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
        }
    }
}

impl PacketKeys {
    /// The value of a key that the sampled header carries, or `None` when it does not.
    /// `agent`, `inputifindex` and `outputifindex` come from the sample, not the header:
    /// see [`crate::record::SampleRecord::key`].
    pub fn get(&self, key: Key) -> Option<KeyValue> {
        let num = |v: Option<u8>| v.map(|n| KeyValue::Number(u32::from(n)));
        let num16 = |v: Option<u16>| v.map(|n| KeyValue::Number(u32::from(n)));
        let v4 = |ip: Option<IpAddr>| ip.filter(IpAddr::is_ipv4).map(KeyValue::Ip);
        let v6 = |ip: Option<IpAddr>| ip.filter(IpAddr::is_ipv6).map(KeyValue::Ip);
        match key {
            Key::Agent | Key::InputIfIndex | Key::OutputIfIndex => None,
            Key::MacSource => self.mac_source.map(KeyValue::Mac),
            Key::MacDestination => self.mac_destination.map(KeyValue::Mac),
            Key::Vlan => num16(self.vlan),
            Key::EthernetProtocol => num16(self.ethernet_protocol),
            Key::IpSource => v4(self.ip_source),
            Key::IpDestination => v4(self.ip_destination),
            Key::Ip6Source => v6(self.ip_source),
            Key::Ip6Destination => v6(self.ip_destination),
            Key::IpProtocol => num(self.ip_protocol),
            Key::IpTos => num(self.ip_tos),
            Key::IpTtl => num(self.ip_ttl),
            Key::TcpSourcePort => num16(self.tcp_source_port),
            Key::TcpDestinationPort => num16(self.tcp_destination_port),
            Key::TcpFlags => num16(self.tcp_flags),
            Key::UdpSourcePort => num16(self.udp_source_port),
            Key::UdpDestinationPort => num16(self.udp_destination_port),
            Key::IcmpType => num(self.icmp_type),
            Key::IcmpCode => num(self.icmp_code),
            Key::IcmpUnreachableNet => match self.unreachable {
                Some(Unreachable::Net(ip)) => Some(KeyValue::Ip(ip)),
                _ => None,
            },
            Key::IcmpUnreachableHost => match self.unreachable {
                Some(Unreachable::Host(ip)) => Some(KeyValue::Ip(ip)),
                _ => None,
            },
            Key::IcmpUnreachableProtocol => match self.unreachable {
                Some(Unreachable::Protocol(p)) => Some(KeyValue::Number(u32::from(p))),
                _ => None,
            },
            Key::IcmpUnreachablePort => match self.unreachable {
                Some(Unreachable::Port { protocol, port }) => Some(KeyValue::Port(protocol, port)),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &k in Key::ALL {
            assert_eq!(Key::from_name(k.name()), Some(k));
        }
        assert_eq!(Key::from_name("IPSOURCE"), None);
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
        let k = PacketKeys {
            ip_source: Some("2001:db8::1".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(k.get(Key::IpSource), None);
        assert!(k.get(Key::Ip6Source).is_some());
    }
}
