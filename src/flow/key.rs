//! Packed flow keys: a definition's key values as a fixed run of machine words.
//!
//! A flow table compares and hashes keys on every sample, and keeps millions of them, so
//! keys live in the table as plain `u64` words rather than as [`KeyValue`]s (an IPv4
//! source takes 4 bytes packed, 20 as a `KeyValue`). Each [`Key`] has a fixed packed
//! width decided by its [`Kind`], so a definition's packed key has one fixed length and
//! equality is a word compare. Unpacking back to [`KeyValue`]s only happens for events.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::packet::{Key, KeyValue, L4};
use crate::record::SampleRecord;

/// Most keys one definition may have.
pub const MAX_KEYS: usize = 8;
/// Widest packed key: [`MAX_KEYS`] keys of the widest kind (17 bytes), in words.
pub const MAX_KEY_WORDS: usize = (MAX_KEYS * 17).div_ceil(8);

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
        match key {
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

/// Words needed to pack `keys`.
pub fn packed_words(keys: &[Key]) -> usize {
    keys.iter()
        .map(|&k| Kind::of(k).width())
        .sum::<usize>()
        .div_ceil(8)
}

/// A definition's key values packed into words; only the first `len` words are meaningful
/// (the rest stay zero so whole-array copies are harmless).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedKey {
    pub words: [u64; MAX_KEY_WORDS],
    pub len: usize,
}

impl PackedKey {
    /// Pack `record`'s values of `keys`, or `None` when the record lacks one of them
    /// (such a sample does not match the definition) or there are more than [`MAX_KEYS`].
    pub fn pack(record: &SampleRecord, keys: &[Key]) -> Option<PackedKey> {
        if keys.len() > MAX_KEYS {
            return None;
        }
        let mut bytes = [0u8; MAX_KEY_WORDS * 8];
        let mut at = 0;
        for &key in keys {
            let kind = Kind::of(key);
            let out = bytes.get_mut(at..at + kind.width())?;
            encode(kind, record.key(key)?, out)?;
            at += kind.width();
        }
        let mut words = [0u64; MAX_KEY_WORDS];
        for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *w = u64::from_le_bytes(b);
        }
        Some(PackedKey {
            words,
            len: at.div_ceil(8),
        })
    }

    /// The meaningful words.
    pub fn as_words(&self) -> &[u64] {
        &self.words[..self.len.min(MAX_KEY_WORDS)]
    }
}

/// Turn packed words back into `(key, value)` pairs, in the definition's order.
/// Returns `None` only if `words` is shorter than `keys` need (a table bug, not input).
pub fn unpack(words: &[u64], keys: &[Key]) -> Option<Box<[(Key, KeyValue)]>> {
    let mut bytes = [0u8; MAX_KEY_WORDS * 8];
    for (chunk, w) in bytes.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    let mut at = 0;
    let mut out = Vec::with_capacity(keys.len());
    for &key in keys {
        let kind = Kind::of(key);
        let b = bytes.get(at..at + kind.width())?;
        out.push((key, decode(kind, b)?));
        at += kind.width();
    }
    Some(out.into_boxed_slice())
}

/// Write one value into exactly `kind.width()` bytes. `None` when the value does not have
/// the shape its key promises (the decoder never produces that; treated as a missing key).
fn encode(kind: Kind, value: KeyValue, out: &mut [u8]) -> Option<()> {
    match (kind, value) {
        (Kind::Ip4, KeyValue::Ip(IpAddr::V4(a))) => out.copy_from_slice(&a.octets()),
        (Kind::Ip6, KeyValue::Ip(IpAddr::V6(a))) => out.copy_from_slice(&a.octets()),
        (Kind::Ip, KeyValue::Ip(ip)) => {
            let (family, rest) = out.split_first_mut()?;
            match ip {
                IpAddr::V4(a) => {
                    *family = 4;
                    rest.get_mut(..4)?.copy_from_slice(&a.octets());
                }
                IpAddr::V6(a) => {
                    *family = 6;
                    rest.copy_from_slice(&a.octets());
                }
            }
        }
        (Kind::Mac, KeyValue::Mac(m)) => out.copy_from_slice(&m),
        (Kind::Number, KeyValue::Number(n)) => out.copy_from_slice(&n.to_le_bytes()),
        (Kind::Port, KeyValue::Port(l4, port)) => {
            out[0] = match l4 {
                L4::Tcp => 6,
                L4::Udp => 17,
            };
            out[1..3].copy_from_slice(&port.to_le_bytes());
        }
        _ => return None,
    }
    Some(())
}

fn decode(kind: Kind, b: &[u8]) -> Option<KeyValue> {
    let arr = |b: &[u8]| -> Option<[u8; 16]> { b.try_into().ok() };
    Some(match kind {
        Kind::Ip4 => KeyValue::Ip(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?))),
        Kind::Ip6 => KeyValue::Ip(IpAddr::V6(Ipv6Addr::from(arr(b)?))),
        Kind::Ip => {
            let (&family, rest) = b.split_first()?;
            if family == 4 {
                KeyValue::Ip(IpAddr::V4(Ipv4Addr::from(
                    <[u8; 4]>::try_from(rest.get(..4)?).ok()?,
                )))
            } else {
                KeyValue::Ip(IpAddr::V6(Ipv6Addr::from(arr(rest)?)))
            }
        }
        Kind::Mac => KeyValue::Mac(b.try_into().ok()?),
        Kind::Number => KeyValue::Number(u32::from_le_bytes(b.try_into().ok()?)),
        Kind::Port => {
            let l4 = if *b.first()? == 6 { L4::Tcp } else { L4::Udp };
            KeyValue::Port(l4, u16::from_le_bytes(b.get(1..3)?.try_into().ok()?))
        }
    })
}

/// The agent and data source as three words: the address (IPv4 in the low 4 bytes of the
/// first word) and `data_source | family << 24` (a data source index is 24 bits), so an
/// IPv4 agent never equals an IPv4-mapped IPv6 one. The third word fits in 32 bits.
pub fn scope_words(agent: IpAddr, data_source: u32) -> [u64; 3] {
    let (family, octets) = match agent {
        IpAddr::V4(a) => {
            let mut o = [0u8; 16];
            o[..4].copy_from_slice(&a.octets());
            (4u64, o)
        }
        IpAddr::V6(a) => (6u64, a.octets()),
    };
    let mut hi = [0u8; 8];
    let mut lo = [0u8; 8];
    hi.copy_from_slice(&octets[..8]);
    lo.copy_from_slice(&octets[8..]);
    [
        u64::from_le_bytes(hi),
        u64::from_le_bytes(lo),
        u64::from(data_source & 0x00FF_FFFF) | family << 24,
    ]
}

/// The agent and data source back from [`scope_words`].
pub fn scope_from_words(w: [u64; 3]) -> (IpAddr, u32) {
    let mut octets = [0u8; 16];
    octets[..8].copy_from_slice(&w[0].to_le_bytes());
    octets[8..].copy_from_slice(&w[1].to_le_bytes());
    let agent = if (w[2] >> 24) & 0xFF == 6 {
        IpAddr::V6(Ipv6Addr::from(octets))
    } else {
        IpAddr::V4(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]))
    };
    (agent, (w[2] & 0x00FF_FFFF) as u32)
}

/// Hash a flow's identity: the definition's seed, the scope words (agent scope only) and
/// the packed key. Routers and tables use the same function, the router the high bits
/// (worker choice) and the table the low bits (slot), so a worker's shard still spreads
/// over all its slots. Keyed by a per-process random seed ([`definition_seed`]) because
/// sampled headers are attacker-controlled and fixed-seed collisions would lengthen probes.
#[inline]
pub fn flow_hash(seed: u64, scope: Option<&[u64; 3]>, key: &[u64]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = seed;
    if let Some(s) = scope {
        for &w in s {
            h = (h ^ w).wrapping_mul(K).rotate_left(29);
        }
    }
    for &w in key {
        h = (h ^ w).wrapping_mul(K).rotate_left(29);
    }
    fmix64(h)
}

/// MurmurHash3's 64-bit finaliser: every input bit reaches every output bit.
#[inline]
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

/// The hash seed of definition `index`: random per process, distinct per definition.
pub fn definition_seed(index: usize) -> u64 {
    static PROCESS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let base = *PROCESS.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x666c_6f77_7369_6674);
        h.finish()
    });
    fmix64(base ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{PacketKeys, Unreachable};

    fn record() -> SampleRecord {
        SampleRecord {
            agent: "2001:db8::7".parse().unwrap(),
            sub_agent: 0,
            source_id: 5,
            input: 5,
            output: 9,
            sampling_rate: 100,
            frame_length: 70,
            received_ns: 0,
            keys: PacketKeys {
                ip_source: Some("10.1.2.3".parse().unwrap()),
                ip_destination: Some("10.9.8.7".parse().unwrap()),
                mac_source: Some([1, 2, 3, 4, 5, 6]),
                unreachable: Some(Unreachable::Port {
                    protocol: L4::Tcp,
                    port: 443,
                }),
                ..Default::default()
            },
        }
    }

    #[test]
    fn pack_round_trips_every_kind() {
        let keys = [
            Key::IpSource,
            Key::IpDestination,
            Key::IcmpUnreachablePort,
            Key::Agent,
            Key::MacSource,
            Key::InputIfIndex,
        ];
        let r = record();
        let p = PackedKey::pack(&r, &keys).unwrap();
        assert_eq!(p.len, packed_words(&keys));
        assert_eq!(p.len, (4 + 4 + 3 + 17 + 6 + 4usize).div_ceil(8));
        let back = unpack(p.as_words(), &keys).unwrap();
        let want: Vec<_> = keys.iter().map(|&k| (k, r.key(k).unwrap())).collect();
        assert_eq!(&back[..], &want[..]);
    }

    #[test]
    fn uport_packs_into_two_words() {
        let keys = [Key::IpSource, Key::IpDestination, Key::IcmpUnreachablePort];
        assert_eq!(packed_words(&keys), 2);
    }

    #[test]
    fn missing_key_does_not_pack() {
        assert!(PackedKey::pack(&record(), &[Key::IpSource, Key::Ip6Source]).is_none());
        assert!(PackedKey::pack(&record(), &[Key::IcmpUnreachableNet]).is_none());
    }

    #[test]
    fn scope_distinguishes_families() {
        let v4 = scope_words("1.2.3.4".parse().unwrap(), 7);
        let mapped = scope_words("::ffff:1.2.3.4".parse().unwrap(), 7);
        assert_ne!(v4, mapped);
        assert_eq!(scope_from_words(v4), ("1.2.3.4".parse().unwrap(), 7));
        assert_eq!(
            scope_from_words(mapped),
            ("::ffff:1.2.3.4".parse().unwrap(), 7)
        );
    }
}
