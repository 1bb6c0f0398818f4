//! The tunnel side of the keys: which encapsulation a header's payload is
//! ([`TunnelKind`]), and the keys of the headers inside tunnels ([`InnerKeys`]).
//!
//! Apart from [`PacketKeys`] because most samples have no tunnel: these types are what a
//! record carries only when one is found (the outermost keys record just the kind, the id
//! and the depth in their presence word).

use super::{PacketKeys, MAX_DEPTH};

/// The encapsulations the decoder walks into (see [`crate::packet::header`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    /// VXLAN (RFC 7348), UDP port 4789; [`Key::VxlanVni`](super::Key::VxlanVni).
    Vxlan = 1,
    /// Geneve (RFC 8926), UDP port 6081; [`Key::GeneveVni`](super::Key::GeneveVni).
    Geneve = 2,
    /// GRE (RFC 2784, 2890) carrying IPv4 or IPv6; [`Key::GreKey`](super::Key::GreKey) when it has a key.
    Gre = 3,
    /// GRE carrying Ethernet (transparent Ethernet bridging, NVGRE RFC 7637); the key,
    /// whose top 24 bits are the VSID, is [`Key::GreKey`](super::Key::GreKey).
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

    /// The kind a [`PacketKeys`] stores as a byte (`kind as u8`); `None` for any other byte.
    pub(super) fn from_byte(b: u8) -> Option<TunnelKind> {
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

    /// Level `level`'s keys (1 to [`MAX_DEPTH`]) to write, when the levels are made.
    #[inline]
    pub fn level_mut(&mut self, level: usize) -> Option<&mut PacketKeys> {
        self.levels.as_mut()?.get_mut(level.checked_sub(1)?)
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
