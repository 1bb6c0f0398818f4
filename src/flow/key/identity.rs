//! The rest of a flow's identity around its packed key: the agent and data source as
//! scope words (agent-scoped definitions), and the keyed flow hash over the definition's
//! seed, the scope and the key, which routers and tables share.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::hash::{fmix64, process_seed};

/// Bit of the third scope word marking an IPv6 agent. Bit 32 is left clear: the table
/// puts its occupied marker there, so that the data source (32 bits), the marker and the
/// family fit the 5 bytes an entry has after `uport`'s 11 key bytes.
pub const SCOPE_V6: u64 = 1 << 33;
/// The bits of the third scope word that carry the scope (data source and family).
pub const SCOPE_BITS: u64 = 0xFFFF_FFFF | SCOPE_V6;

/// The agent and data source as three words: the address (IPv4 in the low 4 bytes of the
/// first word) and the data source index (all 32 bits) with the agent's family in bit 33,
/// so an IPv4 agent never equals an IPv4-mapped IPv6 one. The third word fits in 34 bits.
pub fn scope_words(agent: IpAddr, data_source: u32) -> [u64; 3] {
    let (family, octets) = match agent {
        IpAddr::V4(a) => {
            let mut o = [0u8; 16];
            o[..4].copy_from_slice(&a.octets());
            (0, o)
        }
        IpAddr::V6(a) => (SCOPE_V6, a.octets()),
    };
    let mut hi = [0u8; 8];
    let mut lo = [0u8; 8];
    hi.copy_from_slice(&octets[..8]);
    lo.copy_from_slice(&octets[8..]);
    [
        u64::from_le_bytes(hi),
        u64::from_le_bytes(lo),
        u64::from(data_source) | family,
    ]
}

/// The agent and data source back from [`scope_words`].
pub fn scope_from_words(w: [u64; 3]) -> (IpAddr, u32) {
    let mut octets = [0u8; 16];
    octets[..8].copy_from_slice(&w[0].to_le_bytes());
    octets[8..].copy_from_slice(&w[1].to_le_bytes());
    let agent = if w[2] & SCOPE_V6 != 0 {
        IpAddr::V6(Ipv6Addr::from(octets))
    } else {
        IpAddr::V4(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]))
    };
    (agent, w[2] as u32)
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

/// The hash seed of definition `index`: random per process, distinct per definition.
pub fn definition_seed(index: usize) -> u64 {
    fmix64(process_seed() ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}
