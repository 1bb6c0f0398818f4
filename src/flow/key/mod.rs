//! Packed flow keys: a definition's key values as a fixed run of machine words.
//!
//! A flow table compares and hashes keys on every sample, and keeps millions of them, so
//! keys live in the table as plain `u64` words rather than as [`KeyValue`]s (an IPv4
//! source takes 4 bytes packed, 20 as a `KeyValue`). Each [`Key`] has a fixed packed
//! width decided by its [`Kind`], so a definition's packed key has one fixed length and
//! equality is a word compare. Unpacking back to [`KeyValue`]s only happens for events.
//!
//! Laid out by role:
//!
//! - `mod.rs`: the bounds, [`Kind`] and its widths, [`PackedKey`];
//! - `codec`: packing any key list through a bit cursor, and [`unpack`];
//! - `plan`: [`PackPlan`], packing by fixed places for the usual short key lists;
//! - `presence`: the presence masks by which the router rejects a sample before packing;
//! - `identity`: the rest of a flow's identity, the scope words, and [`flow_hash`].
//!
//! [`KeyValue`]: crate::packet::KeyValue

mod codec;
mod identity;
mod plan;
mod presence;
#[cfg(test)]
mod tests;

use crate::packet::Key;

pub use codec::unpack;
pub use identity::{
    definition_seed, flow_hash, scope_from_words, scope_words, SCOPE_BITS, SCOPE_V6,
};
pub use plan::PackPlan;
pub use presence::{key_bit, present_keys, required_keys};

/// Most keys one definition may have.
pub const MAX_KEYS: usize = 8;
/// Widest packed key in bytes (four IPv6 addresses, or eight numbers). A bound keeps
/// probes and entries small: every sample copies and compares one.
pub const MAX_KEY_BYTES: usize = 64;
/// Widest packed key in words.
pub const MAX_KEY_WORDS: usize = MAX_KEY_BYTES / 8;

/// The shape of a key's values, which fixes its packed width and how filters parse literals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// IPv4 address only (`ipsource`, `ipdestination`).
    Ip4,
    /// IPv6 address only (`ip6source`, `ip6destination`).
    Ip6,
    /// Either family (`agent`, `icmpunreachablenet`, `icmpunreachablehost`).
    Ip,
    /// Six-byte MAC address.
    Mac,
    /// Unsigned decimal number.
    Number,
    /// `tcp_<port>` / `udp_<port>`.
    Port,
}

impl Kind {
    /// The kind of values a key takes.
    pub fn of(key: Key) -> Kind {
        match key.plain() {
            Key::IpSource | Key::IpDestination => Kind::Ip4,
            Key::Ip6Source | Key::Ip6Destination => Kind::Ip6,
            Key::Agent | Key::IcmpUnreachableNet | Key::IcmpUnreachableHost => Kind::Ip,
            Key::MacSource | Key::MacDestination => Kind::Mac,
            Key::IcmpUnreachablePort => Kind::Port,
            _ => Kind::Number,
        }
    }

    /// Bytes a value of this kind takes packed.
    pub const fn width(self) -> usize {
        match self {
            Kind::Ip4 | Kind::Number => 4,
            Kind::Ip6 => 16,
            // A family byte, then 16 address bytes (IPv4 in the first 4).
            Kind::Ip => 17,
            Kind::Mac => 6,
            Kind::Port => 3,
        }
    }
}

/// Bytes needed to pack `keys`.
pub fn packed_bytes(keys: &[Key]) -> usize {
    keys.iter().map(|&k| Kind::of(k).width()).sum()
}

/// Words needed to pack `keys`.
pub fn packed_words(keys: &[Key]) -> usize {
    packed_bytes(keys).div_ceil(8)
}

/// A definition's key values packed into words; only the first `len` words are meaningful
/// (the rest stay zero so whole-array copies are harmless).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedKey {
    pub words: [u64; MAX_KEY_WORDS],
    pub len: usize,
}

impl PackedKey {
    /// No key yet: all words zero.
    pub const EMPTY: PackedKey = PackedKey {
        words: [0; MAX_KEY_WORDS],
        len: 0,
    };

    /// The meaningful words.
    pub fn as_words(&self) -> &[u64] {
        &self.words[..self.len.min(MAX_KEY_WORDS)]
    }
}
