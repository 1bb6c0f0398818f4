//! Packed flow keys: a definition's key values as a fixed run of machine words.
//!
//! A flow table compares and hashes keys on every sample, and keeps millions of them, so
//! keys live in the table as plain `u64` words rather than as [`KeyValue`]s (an IPv4
//! source takes 4 bytes packed, 20 as a `KeyValue`). Each [`Key`] has a fixed packed
//! width decided by its [`Kind`], so a definition's packed key has one fixed length and
//! equality is a word compare. Unpacking back to [`KeyValue`]s only happens for events.

use crate::hash::{fmix64, process_seed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::packet::{Key, KeyValue, Unreachable, L4};
use crate::record::SampleRecord;

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

/// Little-endian bit cursor over a [`PackedKey`]'s words: byte `i` of the packed key is
/// bits `8i..8i+8`. Values are shifted straight into the words, in registers: writing
/// bytes to a buffer and re-reading it as words stalls on store forwarding.
struct Cursor {
    bit: usize,
}

impl Cursor {
    /// OR the low `bytes` bytes of `v` in at the cursor; `None` past the last word.
    #[inline(always)]
    fn put(&mut self, words: &mut [u64; MAX_KEY_WORDS], v: u64, bytes: usize) -> Option<()> {
        let (w, off) = (self.bit / 64, (self.bit % 64) as u32);
        let end = self.bit + bytes * 8;
        if end > MAX_KEY_WORDS * 64 {
            return None;
        }
        words[w] |= v << off;
        // The spill into the next word; `(v >> 1) >> (63 - off)` is `v >> (64 - off)`
        // without the undefined shift by 64 when `off` is 0.
        if end > (w + 1) * 64 {
            words[w + 1] |= (v >> 1) >> (63 - off);
        }
        self.bit = end;
        Some(())
    }

    /// The next `bytes` (at most 8) bytes as the low bytes of a word.
    #[inline]
    fn take(&mut self, words: &[u64], bytes: usize) -> Option<u64> {
        let (w, off) = (self.bit / 64, (self.bit % 64) as u32);
        let end = self.bit + bytes * 8;
        let mut v = *words.get(w)? >> off;
        if end > (w + 1) * 64 {
            v |= (*words.get(w + 1)? << 1) << (63 - off);
        }
        self.bit = end;
        Some(if bytes >= 8 {
            v
        } else {
            v & ((1u64 << (bytes * 8)) - 1)
        })
    }
}

impl PackedKey {
    /// No key yet: all words zero.
    pub const EMPTY: PackedKey = PackedKey {
        words: [0; MAX_KEY_WORDS],
        len: 0,
    };

    /// Pack `record`'s values of `keys`, or `None` when the record lacks one of them
    /// (such a sample does not match the definition) or there are more than [`MAX_KEYS`].
    pub fn pack(record: &SampleRecord, keys: &[Key]) -> Option<PackedKey> {
        let mut k = PackedKey::EMPTY;
        k.pack_into(record, keys).then_some(k)
    }

    /// [`PackedKey::pack`] in place; false when the record lacks a key. Packing where
    /// the key will be read avoids copying a freshly written key with wide loads, which
    /// stalls on store forwarding.
    #[inline]
    pub fn pack_into(&mut self, record: &SampleRecord, keys: &[Key]) -> bool {
        self.words = [0; MAX_KEY_WORDS];
        self.len = 0;
        if keys.len() > MAX_KEYS {
            return false;
        }
        let mut c = Cursor { bit: 0 };
        let w = &mut self.words;
        // Unrolled for the usual short key lists: in a loop the compiler hoists every
        // field load of `encode_key`'s match out of it, which costs more than the keys.
        let packed = match *keys {
            [a] => encode_key(record, a, w, &mut c),
            [a, b] => {
                encode_key(record, a, w, &mut c).and_then(|()| encode_key(record, b, w, &mut c))
            }
            [a, b, c3] => encode_key(record, a, w, &mut c)
                .and_then(|()| encode_key(record, b, w, &mut c))
                .and_then(|()| encode_key(record, c3, w, &mut c)),
            _ => keys
                .iter()
                .try_for_each(|&k| encode_other(record, k, w, &mut c)),
        };
        if packed.is_none() {
            return false;
        }
        self.len = c.bit.div_ceil(64);
        true
    }

    /// The meaningful words.
    pub fn as_words(&self) -> &[u64] {
        &self.words[..self.len.min(MAX_KEY_WORDS)]
    }
}

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
/// `presence_matches_packing` checks this against [`PackedKey::pack`] for every key.
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

/// A definition's keys laid out once: the word and bit where each value goes. Packing
/// by plan reads each value (through a per-key getter) and ORs it in at a fixed place, with
/// no cursor arithmetic or width checks per key (done here, once). It applies when every
/// key is at most 8 bytes wide (`uport`, `uproto` and most definitions); others pack
/// through the cursor.
/// `plan_matches_cursor` checks both give the same words.
#[derive(Clone, Copy, Debug)]
pub struct PackPlan {
    steps: [Step; MAX_KEYS],
    len: usize,
    words: usize,
    /// Every key fits one 8-byte value, so the plan applies.
    simple: bool,
}

#[derive(Clone, Copy, Debug)]
struct Step {
    get: Getter,
    word: usize,
    shift: u32,
    /// The value runs on into the next word.
    spill: bool,
}

impl PackPlan {
    /// The plan for `keys` (a definition's key list).
    pub fn new(keys: &[Key]) -> PackPlan {
        let blank = Step {
            get: |_| None,
            word: 0,
            shift: 0,
            spill: false,
        };
        let mut plan = PackPlan {
            steps: [blank; MAX_KEYS],
            len: 0,
            words: packed_words(keys),
            simple: keys.len() <= MAX_KEYS && packed_bytes(keys) <= MAX_KEY_BYTES,
        };
        let mut bit = 0;
        for (step, &key) in plan.steps.iter_mut().zip(keys) {
            let width = Kind::of(key).width();
            // A `.N` key packs through the cursor, which picks the level.
            let get = if key.level() == 0 { getter(key) } else { None };
            plan.simple &= width <= 8 && get.is_some();
            let shift = (bit % 64) as u32;
            *step = Step {
                get: get.unwrap_or(blank.get),
                word: bit / 64,
                shift,
                spill: bit % 64 + width * 8 > 64,
            };
            bit += width * 8;
        }
        plan.len = keys.len().min(MAX_KEYS);
        plan
    }
}

/// Reads one key's value from a record.
type Getter = fn(&SampleRecord) -> Option<u64>;

fn v4(ip: Option<IpAddr>) -> Option<u64> {
    match ip {
        Some(IpAddr::V4(a)) => Some(u64::from(u32::from_le_bytes(a.octets()))),
        _ => None,
    }
}

fn mac(m: Option<[u8; 6]>) -> Option<u64> {
    m.map(|m| u64::from_le_bytes([m[0], m[1], m[2], m[3], m[4], m[5], 0, 0]))
}

/// The getter of a key at most 8 bytes wide, laying its value out as [`encode`] does;
/// `None` for wider keys. One small function per key, called through a pointer: a
/// `match` on the key inside the packing loop made the compiler load every field the
/// match could want on every step, which cost more than the keys themselves.
fn getter(key: Key) -> Option<Getter> {
    let get: Getter = match key {
        Key::IpSource => |r| v4(r.keys.ip_source()),
        Key::IpDestination => |r| v4(r.keys.ip_destination()),
        Key::IcmpUnreachablePort => |r| match r.keys.unreachable() {
            Some(Unreachable::Port { protocol, port }) => {
                let proto: u64 = match protocol {
                    L4::Tcp => 6,
                    L4::Udp => 17,
                };
                Some(proto | u64::from(port) << 8)
            }
            _ => None,
        },
        Key::IcmpUnreachableProtocol => |r| match r.keys.unreachable() {
            Some(Unreachable::Protocol(p)) => Some(u64::from(p)),
            _ => None,
        },
        Key::IpProtocol => |r| r.keys.ip_protocol().map(u64::from),
        Key::IpTos => |r| r.keys.ip_tos().map(u64::from),
        Key::IpTtl => |r| r.keys.ip_ttl().map(u64::from),
        Key::IcmpType => |r| r.keys.icmp_type().map(u64::from),
        Key::IcmpCode => |r| r.keys.icmp_code().map(u64::from),
        Key::Vlan => |r| r.keys.vlan().map(u64::from),
        Key::EthernetProtocol => |r| r.keys.ethernet_protocol().map(u64::from),
        Key::TcpSourcePort => |r| r.keys.tcp_source_port().map(u64::from),
        Key::TcpDestinationPort => |r| r.keys.tcp_destination_port().map(u64::from),
        Key::TcpFlags => |r| r.keys.tcp_flags().map(u64::from),
        Key::UdpSourcePort => |r| r.keys.udp_source_port().map(u64::from),
        Key::UdpDestinationPort => |r| r.keys.udp_destination_port().map(u64::from),
        Key::MacSource => |r| mac(r.keys.mac_source()),
        Key::MacDestination => |r| mac(r.keys.mac_destination()),
        Key::InputIfIndex => |r| r.input_ifindex().map(u64::from),
        Key::OutputIfIndex => |r| r.output_ifindex().map(u64::from),
        _ => return None,
    };
    Some(get)
}

impl PackedKey {
    /// [`PackedKey::pack_into`] by `plan` (made from the same `keys`): false when the
    /// record lacks a key.
    #[inline]
    pub fn pack_planned(&mut self, record: &SampleRecord, plan: &PackPlan, keys: &[Key]) -> bool {
        if !plan.simple {
            return self.pack_into(record, keys);
        }
        self.words = [0; MAX_KEY_WORDS];
        self.len = 0;
        for s in &plan.steps[..plan.len.min(MAX_KEYS)] {
            let Some(v) = (s.get)(record) else {
                return false;
            };
            if let Some(w) = self.words.get_mut(s.word) {
                *w |= v << s.shift;
            }
            if s.spill {
                // `spill` implies a shift above 0, so `64 - shift` is below 64.
                if let Some(w) = self.words.get_mut(s.word + 1) {
                    *w |= v >> (64 - s.shift);
                }
            }
        }
        self.len = plan.words;
        true
    }
}

/// Turn packed words back into `(key, value)` pairs, in the definition's order.
/// Returns `None` only if `words` is shorter than `keys` need (a table bug, not input).
pub fn unpack(words: &[u64], keys: &[Key]) -> Option<Box<[(Key, KeyValue)]>> {
    let mut c = Cursor { bit: 0 };
    let mut out = Vec::with_capacity(keys.len());
    for &key in keys {
        out.push((key, decode(Kind::of(key), words, &mut c)?));
    }
    Some(out.into_boxed_slice())
}

fn ip6_halves(a: Ipv6Addr) -> (u64, u64) {
    let o = a.octets();
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    lo.copy_from_slice(&o[..8]);
    hi.copy_from_slice(&o[8..]);
    (u64::from_le_bytes(lo), u64::from_le_bytes(hi))
}

fn ip6_from_halves(lo: u64, hi: u64) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o[..8].copy_from_slice(&lo.to_le_bytes());
    o[8..].copy_from_slice(&hi.to_le_bytes());
    Ipv6Addr::from(o)
}

/// Append `record`'s value of `key`. The common header keys are read straight from
/// their fields: going through a returned [`KeyValue`] (built byte by byte on the stack,
/// then re-read as words) stalled on store forwarding and doubled the cost of a sample.
/// `fast_path_matches_key_values` checks both paths agree on every key.
#[inline(always)]
fn encode_key(
    record: &SampleRecord,
    key: Key,
    w: &mut [u64; MAX_KEY_WORDS],
    c: &mut Cursor,
) -> Option<()> {
    let k = &record.keys;
    let v4 = |ip: Option<IpAddr>| match ip {
        Some(IpAddr::V4(a)) => Some(u64::from(u32::from_le_bytes(a.octets()))),
        _ => None,
    };
    let v6 = |ip: Option<IpAddr>| match ip {
        Some(IpAddr::V6(a)) => Some(ip6_halves(a)),
        _ => None,
    };
    let num = |v: Option<u8>| v.map(u64::from);
    let num16 = |v: Option<u16>| v.map(u64::from);
    match key {
        Key::IpSource => c.put(w, v4(k.ip_source())?, 4),
        Key::IpDestination => c.put(w, v4(k.ip_destination())?, 4),
        Key::Ip6Source | Key::Ip6Destination => {
            let ip = if key == Key::Ip6Source {
                k.ip_source()
            } else {
                k.ip_destination()
            };
            let (lo, hi) = v6(ip)?;
            c.put(w, lo, 8)?;
            c.put(w, hi, 8)
        }
        Key::IpProtocol => c.put(w, num(k.ip_protocol())?, 4),
        Key::TcpSourcePort => c.put(w, num16(k.tcp_source_port())?, 4),
        Key::TcpDestinationPort => c.put(w, num16(k.tcp_destination_port())?, 4),
        Key::UdpSourcePort => c.put(w, num16(k.udp_source_port())?, 4),
        Key::UdpDestinationPort => c.put(w, num16(k.udp_destination_port())?, 4),
        Key::IcmpType => c.put(w, num(k.icmp_type())?, 4),
        Key::IcmpCode => c.put(w, num(k.icmp_code())?, 4),
        Key::IcmpUnreachablePort => match k.unreachable() {
            Some(Unreachable::Port { protocol, port }) => {
                encode(Kind::Port, KeyValue::Port(protocol, port), w, c)
            }
            _ => None,
        },
        Key::IcmpUnreachableProtocol => match k.unreachable() {
            Some(Unreachable::Protocol(p)) => c.put(w, u64::from(p), 4),
            _ => None,
        },
        other => encode_other(record, other, w, c),
    }
}

/// Any key through [`SampleRecord::key`]: the rare keys, and long key lists. Out of line
/// so the common keys' code above stays small.
#[inline(never)]
fn encode_other(
    record: &SampleRecord,
    key: Key,
    w: &mut [u64; MAX_KEY_WORDS],
    c: &mut Cursor,
) -> Option<()> {
    encode(Kind::of(key), record.key(key)?, w, c)
}

/// Append one value, exactly `kind.width()` bytes. `None` when the value does not have
/// the shape its key promises (the decoder never produces that; treated as a missing key).
#[inline]
fn encode(kind: Kind, value: KeyValue, w: &mut [u64; MAX_KEY_WORDS], c: &mut Cursor) -> Option<()> {
    let v4 = |a: Ipv4Addr| u64::from(u32::from_le_bytes(a.octets()));
    match (kind, value) {
        (Kind::Ip4, KeyValue::Ip(IpAddr::V4(a))) => c.put(w, v4(a), 4),
        (Kind::Ip6, KeyValue::Ip(IpAddr::V6(a))) => {
            let (lo, hi) = ip6_halves(a);
            c.put(w, lo, 8)?;
            c.put(w, hi, 8)
        }
        (Kind::Ip, KeyValue::Ip(ip)) => {
            let (family, lo, hi) = match ip {
                IpAddr::V4(a) => (4, v4(a), 0),
                IpAddr::V6(a) => {
                    let (lo, hi) = ip6_halves(a);
                    (6, lo, hi)
                }
            };
            c.put(w, family, 1)?;
            c.put(w, lo, 8)?;
            c.put(w, hi, 8)
        }
        (Kind::Mac, KeyValue::Mac(m)) => {
            let mut b = [0u8; 8];
            b[..6].copy_from_slice(&m);
            c.put(w, u64::from_le_bytes(b), 6)
        }
        (Kind::Number, KeyValue::Number(n)) => c.put(w, u64::from(n), 4),
        (Kind::Port, KeyValue::Port(l4, port)) => {
            let proto: u64 = match l4 {
                L4::Tcp => 6,
                L4::Udp => 17,
            };
            c.put(w, proto | u64::from(port) << 8, 3)
        }
        _ => None,
    }
}

fn decode(kind: Kind, w: &[u64], c: &mut Cursor) -> Option<KeyValue> {
    let v4 = |v: u64| Ipv4Addr::from((v as u32).to_le_bytes());
    Some(match kind {
        Kind::Ip4 => KeyValue::Ip(IpAddr::V4(v4(c.take(w, 4)?))),
        Kind::Ip6 => {
            let lo = c.take(w, 8)?;
            KeyValue::Ip(IpAddr::V6(ip6_from_halves(lo, c.take(w, 8)?)))
        }
        Kind::Ip => {
            let family = c.take(w, 1)?;
            let lo = c.take(w, 8)?;
            let hi = c.take(w, 8)?;
            if family == 4 {
                KeyValue::Ip(IpAddr::V4(v4(lo)))
            } else {
                KeyValue::Ip(IpAddr::V6(ip6_from_halves(lo, hi)))
            }
        }
        Kind::Mac => {
            let b = c.take(w, 6)?.to_le_bytes();
            KeyValue::Mac([b[0], b[1], b[2], b[3], b[4], b[5]])
        }
        Kind::Number => KeyValue::Number(c.take(w, 4)? as u32),
        Kind::Port => {
            let v = c.take(w, 3)?;
            let l4 = if v & 0xFF == 6 { L4::Tcp } else { L4::Udp };
            KeyValue::Port(l4, (v >> 8) as u16)
        }
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{KeyFields, PacketKeys};

    fn record() -> SampleRecord {
        SampleRecord::new("2001:db8::7".parse().unwrap(), 0, 0)
            .with_source(0, 5)
            .with_input(0, 5)
            .with_output(0, 9)
            .with_sampling_rate(100)
            .with_frame_length(70)
            .with_keys(
                KeyFields {
                    ip_source: Some("10.1.2.3".parse().unwrap()),
                    ip_destination: Some("10.9.8.7".parse().unwrap()),
                    mac_source: Some([1, 2, 3, 4, 5, 6]),
                    unreachable: Some(Unreachable::Port {
                        protocol: L4::Tcp,
                        port: 443,
                    }),
                    ..Default::default()
                }
                .into(),
            )
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
    fn fast_path_matches_key_values() {
        let mut records = vec![record()];
        let mut v6 = record();
        v6.keys = KeyFields {
            ip_source: Some("2001:db8::1".parse().unwrap()),
            ip_destination: Some("2001:db8::2".parse().unwrap()),
            ip_protocol: Some(58),
            icmp_type: Some(1),
            icmp_code: Some(4),
            unreachable: Some(Unreachable::Port {
                protocol: L4::Udp,
                port: 161,
            }),
            ..Default::default()
        }
        .into();
        records.push(v6);
        let mut full = record();
        full.keys = KeyFields {
            mac_source: Some([1, 2, 3, 4, 5, 6]),
            mac_destination: Some([6, 5, 4, 3, 2, 1]),
            vlan: Some(100),
            ethernet_protocol: Some(0x0800),
            ip_source: Some("10.0.0.1".parse().unwrap()),
            ip_destination: Some("10.0.0.2".parse().unwrap()),
            ip_protocol: Some(6),
            ip_tos: Some(0x10),
            ip_ttl: Some(64),
            tcp_source_port: Some(40000),
            tcp_destination_port: Some(22),
            tcp_flags: Some(0x12),
            udp_source_port: Some(5353),
            udp_destination_port: Some(53),
            icmp_type: Some(3),
            icmp_code: Some(2),
            unreachable: Some(Unreachable::Protocol(132)),
        }
        .into();
        records.push(full);
        let mut net = record();
        net.keys
            .set_unreachable(Some(Unreachable::Net("10.9.0.0".parse().unwrap())));
        records.push(net);
        let mut host = record();
        host.keys
            .set_unreachable(Some(Unreachable::Host("2001:db8::9".parse().unwrap())));
        records.push(host);
        records.push(
            record()
                .with_keys(PacketKeys::default())
                .with_input(0, 0x3FFF_FFFF),
        );
        for r in &records {
            for &k in Key::ALL {
                let packed = PackedKey::pack(r, &[k]);
                match r.key(k) {
                    None => assert!(packed.is_none(), "{k}"),
                    Some(v) => {
                        let back = unpack(packed.unwrap().as_words(), &[k]).unwrap();
                        assert_eq!(back[0], (k, v), "{k}");
                    }
                }
            }
        }
    }

    #[test]
    fn presence_matches_packing() {
        assert!(Key::ALL.len() <= 32, "a presence mask is a u32");
        let mut records = vec![record(), SampleRecord::default()];
        let mut v6 = record();
        v6.keys.set_ip_source(Some("2001:db8::1".parse().unwrap()));
        v6.keys
            .set_unreachable(Some(Unreachable::Host("2001:db8::9".parse().unwrap())));
        v6.set_output(2, v6.output());
        records.push(v6);
        let mut wide = record();
        wide.keys.set_unreachable(Some(Unreachable::Protocol(17)));
        wide.keys.set_tcp_flags(Some(2));
        wide.keys.set_vlan(Some(3));
        wide.set_input(0, 0xFFFF_FFFF);
        wide.set_output(0, 0x3FFF_FFFF);
        records.push(wide);
        let mut net = record();
        net.keys
            .set_unreachable(Some(Unreachable::Net("10.0.0.0".parse().unwrap())));
        net.keys.set_ip_destination(None);
        records.push(net);
        for r in &records {
            let present = present_keys(r);
            for &k in Key::ALL {
                assert_eq!(
                    present & key_bit(k) != 0,
                    PackedKey::pack(r, &[k]).is_some(),
                    "{k} in {r:?}"
                );
            }
        }
        let uport = [Key::IpSource, Key::IpDestination, Key::IcmpUnreachablePort];
        assert_eq!(required_keys(&uport).count_ones(), 3);
    }

    #[test]
    fn plan_matches_cursor() {
        let mut records = vec![record(), SampleRecord::default()];
        let mut full = record();
        // TCP and UDP ports share their storage in `PacketKeys` (a frame has one
        // transport), so the full record has TCP ports and a copy of it UDP ports.
        full.keys = KeyFields {
            mac_source: Some([1, 2, 3, 4, 5, 6]),
            mac_destination: Some([6, 5, 4, 3, 2, 0xFF]),
            vlan: Some(4095),
            ethernet_protocol: Some(0x86DD),
            ip_source: Some("10.0.0.1".parse().unwrap()),
            ip_destination: Some("255.0.0.2".parse().unwrap()),
            ip_protocol: Some(255),
            ip_tos: Some(0x10),
            ip_ttl: Some(64),
            tcp_source_port: Some(65535),
            tcp_destination_port: Some(22),
            tcp_flags: Some(0x1FF),
            icmp_type: Some(3),
            icmp_code: Some(2),
            unreachable: Some(Unreachable::Protocol(132)),
            ..Default::default()
        }
        .into();
        full.set_input(0, u32::MAX);
        full.set_output(0, 0x4000_0000);
        records.push(full);
        let mut udp = full;
        udp.keys.set_udp_source_port(Some(5353));
        udp.keys.set_udp_destination_port(Some(53));
        records.push(udp);
        let mut port = full;
        port.keys.set_unreachable(Some(Unreachable::Port {
            protocol: L4::Tcp,
            port: 65535,
        }));
        records.push(port);
        let small: Vec<Key> = Key::ALL
            .iter()
            .copied()
            .filter(|&k| Kind::of(k).width() <= 8)
            .collect();
        // Every single key, every pair (so every value meets every offset a word
        // boundary can give it), the built-ins, and long lists.
        let mut lists: Vec<Vec<Key>> = small.iter().map(|&k| vec![k]).collect();
        for &a in &small {
            for &b in &small {
                lists.push(vec![a, b]);
                lists.push(vec![Key::MacSource, a, b]);
                lists.push(vec![Key::IcmpUnreachablePort, Key::MacSource, a, b]);
            }
        }
        lists.push(small[..8].to_vec());
        lists.push(small[small.len() - 8..].to_vec());
        lists.push(vec![Key::Ip6Source, Key::IpProtocol]);
        lists.push(vec![Key::IpSource, Key::Agent]);
        for keys in &lists {
            let plan = PackPlan::new(keys);
            for r in &records {
                let mut planned = PackedKey::EMPTY;
                let ok = planned.pack_planned(r, &plan, keys);
                let cursor = PackedKey::pack(r, keys);
                assert_eq!(ok, cursor.is_some(), "{keys:?}");
                if let Some(c) = cursor {
                    assert_eq!(planned, c, "{keys:?}");
                }
            }
        }
    }

    /// `.N` keys pack to the same words as the plain keys of the level they name, their
    /// presence bits match packing, and a sample without that level lacks them.
    #[test]
    fn tunnel_level_keys_pack_like_plain_ones() {
        let tenant = record().keys;
        let mut r = record();
        r.keys = KeyFields {
            ip_source: Some("192.0.2.1".parse().unwrap()),
            ..Default::default()
        }
        .into();
        r.keys
            .set_tunnel(crate::packet::TunnelKind::Vxlan, Some(10001));
        r.inner.levels_mut()[0] = tenant;
        r.keys.set_depth(1);
        let plain = [Key::IpSource, Key::IpDestination, Key::IcmpUnreachablePort];
        let level1: Vec<Key> = plain.iter().map(|k| k.at_level(1).unwrap()).collect();
        let mut flat = record();
        flat.keys = tenant;
        assert_eq!(
            PackedKey::pack(&r, &level1).unwrap(),
            PackedKey::pack(&flat, &plain).unwrap()
        );
        assert_eq!(packed_words(&level1), 2);
        let plan = PackPlan::new(&level1);
        let mut planned = PackedKey::EMPTY;
        assert!(planned.pack_planned(&r, &plan, &level1));
        assert_eq!(Some(planned), PackedKey::pack(&r, &level1));
        let present = present_keys(&r);
        for k in Key::every() {
            assert_eq!(
                present & key_bit(k) != 0,
                PackedKey::pack(&r, &[k]).is_some(),
                "{k}"
            );
        }
        assert_eq!(
            unpack(
                PackedKey::pack(&r, &[Key::VxlanVni]).unwrap().as_words(),
                &[Key::VxlanVni]
            )
            .unwrap()[0],
            (Key::VxlanVni, KeyValue::Number(10001))
        );
        // Without the level (depth 0), the `.1` keys are absent whatever the storage holds.
        r.keys.set_depth(0);
        assert!(PackedKey::pack(&r, &level1).is_none());
        assert_eq!(present_keys(&r) >> 32, 0);
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
        // Full-width data sources (NX-OS ifIndexes) survive, in both families.
        for agent in ["1.2.3.4", "2001:db8::1"] {
            let agent: IpAddr = agent.parse().unwrap();
            for ds in [0x1A00_0000, u32::MAX, 0] {
                assert_eq!(scope_from_words(scope_words(agent, ds)), (agent, ds));
            }
        }
        assert_ne!(
            scope_words("1.2.3.4".parse().unwrap(), 0x0100_0007),
            v4,
            "index bits above 24 count"
        );
    }
}
