//! Presence masks: which keys a sample has and which a definition needs, one bit per
//! [`Key`], so the router rejects a sample for every definition that needs a key it lacks
//! with one AND each, before packing anything.

use crate::packet::Key;
use crate::record::SampleRecord;

/// The bit of `key` in a presence mask ([`present_keys`], [`required_keys`]): 32 bits per
/// tunnel level, the plain keys in the lowest.
#[inline]
pub const fn key_bit(key: Key) -> u128 {
    1 << key.index()
}

/// The presence mask a definition needs: one bit per key.
pub fn required_keys(keys: &[Key]) -> u128 {
    keys.iter().fold(0, |m, &k| m | key_bit(k))
}

/// Which keys `record` has, one bit per [`Key`] ([`key_bit`]), with each key's kind
/// checked as packing checks it (`ipsource` is set only for an IPv4 source). A sample
/// lacks a definition's key exactly when `required & !present != 0`, so the router
/// rejects it for every definition with one AND each, without packing anything.
/// `presence_matches_packing` checks this against
/// [`PackedKey::pack`](super::PackedKey::pack) for every key.
#[inline]
pub fn present_keys(record: &SampleRecord) -> u128 {
    let bit = |has: bool, key: Key| u32::from(has) << key.index();
    // The decoder keeps the header keys' presence as the same bits (`Key::bit`), with the
    // IPv4 and IPv6 address keys apart, so only the record's own keys are added here.
    let outer = record.keys.present()
        | Key::Agent.bit()
        | bit(record.input_ifindex().is_some(), Key::InputIfIndex)
        | bit(record.output_ifindex().is_some(), Key::OutputIfIndex);
    let mut present = u128::from(outer);
    if record.keys.depth() != 0 {
        present |= inner_present(record);
    }
    present
}

/// The presence bits of a record's tunnel levels (32 per level, level 1 from bit 32).
#[inline(never)]
fn inner_present(record: &SampleRecord) -> u128 {
    (1..=record.keys.depth()).fold(0, |m, n| {
        m | record
            .level_keys(n)
            .map_or(0, |k| u128::from(k.present()) << (32 * n))
    })
}
