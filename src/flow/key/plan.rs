//! Packing by plan: a definition's keys laid out once, so that packing a sample reads
//! each value through a per-key getter and ORs it in at a fixed place, with no cursor
//! arithmetic or width checks per key. The fast path for the usual short key lists;
//! anything it does not cover packs through the cursor (`codec`).

use std::net::IpAddr;

use super::{packed_bytes, packed_words, Kind, PackedKey, MAX_KEYS, MAX_KEY_BYTES, MAX_KEY_WORDS};
use crate::packet::{Key, Unreachable, L4};
use crate::record::SampleRecord;

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

/// The getter of a key at most 8 bytes wide, laying its value out as `codec::encode` does;
/// `None` for wider keys. One small function per key, called through a pointer: a
/// `match` on the key inside the packing loop makes the compiler load every field the
/// match could want on every step, which costs more than the keys themselves.
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
