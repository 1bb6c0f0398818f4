//! Key names and text forms: the sFlow-RT key-name table ([`Key`], the plain names and
//! their `.1` to `.3` tunnel levels), how each value prints ([`KeyValue`]), and reading a
//! key by name from [`PacketKeys`] ([`PacketKeys::get`]).
//!
//! The one place a key's name or text form is written, so that flow definitions, filters,
//! syslog events and `decode --format json` cannot disagree about either.

use std::fmt;
use std::net::IpAddr;

use super::{PacketKeys, Unreachable, L4};

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
