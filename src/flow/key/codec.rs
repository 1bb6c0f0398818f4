//! Packing through a bit cursor, and unpacking: the path every key list can take (any
//! number of keys up to [`MAX_KEYS`], any widths, tunnel levels' keys) and the only way
//! back from words to values. Each kind of value has one layout, written by [`encode`]
//! and read by [`decode`]; the common header keys skip the [`KeyValue`] on the way in.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Kind, PackedKey, MAX_KEYS, MAX_KEY_WORDS};
use crate::packet::{Key, KeyValue, Unreachable, L4};
use crate::record::SampleRecord;

/// Little-endian bit cursor over a [`PackedKey`]'s words: byte `i` of the packed key is
/// bits `8i..8i+8`. Values are shifted straight into the words, in registers: writing
/// bytes to a buffer and re-reading it as words stalls on store forwarding.
pub(super) struct Cursor {
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
/// then re-read as words) stalls on store forwarding and doubles the cost of a sample.
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
