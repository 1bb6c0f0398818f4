//! Keyed hashing for every table whose keys a sender chooses.
//!
//! Agents pick their own addresses, sequence numbers and data-source ids, and sampled headers
//! carry whatever a host put on the wire; a table hashed with a fixed function can be fed
//! keys that all land in one bucket, turning each lookup into a scan on the receive or worker
//! core. So every such table hashes with a seed drawn once per process from the standard
//! library's random source, and finishes with a full-avalanche mix so the seed reaches every
//! output bit. The mixing itself stays a multiply-rotate: these lookups are on the hot path.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// A random seed, the same for the whole process.
pub fn process_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x666c_6f77_7369_6674);
        h.finish()
    })
}

/// MurmurHash3's 64-bit finaliser: every input bit reaches every output bit.
#[inline]
pub fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

/// A multiply-rotate hasher started from [`process_seed`] and finished with [`fmix64`]: fast
/// for the small fixed keys of the receive tables, and not steerable without the seed.
#[derive(Clone, Copy)]
pub struct KeyedHasher(u64);

impl Hasher for KeyedHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            if let Some(head) = w.get_mut(..chunk.len()) {
                head.copy_from_slice(chunk);
            }
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn finish(&self) -> u64 {
        fmix64(self.0)
    }
}

/// Builds [`KeyedHasher`]s seeded with [`process_seed`].
#[derive(Clone, Copy)]
pub struct Keyed(u64);

impl Default for Keyed {
    fn default() -> Self {
        Keyed(process_seed())
    }
}

impl BuildHasher for Keyed {
    type Hasher = KeyedHasher;
    fn build_hasher(&self) -> KeyedHasher {
        KeyedHasher(self.0)
    }
}

/// A `HashMap` keyed with [`Keyed`].
pub type KeyedMap<K, V> = std::collections::HashMap<K, V, Keyed>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_spread() {
        let b = Keyed::default();
        let h = |v: u64| b.hash_one(v);
        assert_ne!(h(1), h(2));
        assert_eq!(h(7), h(7));
        // Another seed gives other hashes: the seed is part of every output.
        let other = Keyed(process_seed() ^ 1);
        assert_ne!(other.hash_one(7u64), h(7));
        // One flipped input bit flips about half the output bits.
        let flipped = (h(0x1000) ^ h(0x1001)).count_ones();
        assert!((16..=48).contains(&flipped), "{flipped}");
    }
}
