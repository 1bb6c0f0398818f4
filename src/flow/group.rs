//! The key function `group:KEY:SET[:SET...]`: the address group of an address key.
//!
//! sFlow-RT's key functions take the form `<function>:<arg>:...`; `group:ipsource:site`
//! is the name of the most specific group of set `site` holding the sample's
//! `ipsource`, and with several sets (`group:ipsource:tenants:site`) they are tried in
//! order until one holds the address. An address in no group gives no value, and a
//! sample lacking a key does not match the definition (sFlow-RT's rule for missing
//! keys): a flow keyed or filtered on a group counts only addresses some group holds.
//! KEY is any address key, tunnel levels included (`group:ipdestination.1:tenants`).
//!
//! Packing. A group key is a computed key: it is evaluated where the packet keys are
//! packed (the router on the receive thread, or the flow table when the worker packs)
//! from the sets the definition holds (`Arc`, read-only), and packed after all the packet
//! keys as the group name's process-wide number ([`crate::groups::intern`], 4 bytes), so
//! a definition without group keys packs exactly as before. Its record prints the name.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::key::{unpack, Kind, PackedKey, MAX_KEY_WORDS};
use crate::groups::{intern, GroupSet, Groups};
use crate::packet::{Key, KeyValue};
use crate::record::SampleRecord;

/// Bytes a group key takes packed: the group name's number.
pub const GROUP_BYTES: usize = 4;

/// One key of a flow definition, in the definition's order: a key the sample carries,
/// or a group key function (its text, e.g. `group:ipdestination:feeds`, interned).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowKey {
    Packet(Key),
    Group(&'static str),
}

impl FlowKey {
    /// The key's name as written in `keys` (and in records that name keys).
    pub fn name(self) -> &'static str {
        match self {
            FlowKey::Packet(k) => k.name(),
            FlowKey::Group(text) => text,
        }
    }
}

impl fmt::Display for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A parsed `group:KEY:SET[:SET...]`, holding the sets it reads.
#[derive(Clone, Debug)]
pub struct GroupKey {
    /// The text, interned (`FlowKey::Group`).
    pub text: &'static str,
    /// The address key looked up.
    pub address: Key,
    /// The sets, tried in order.
    pub sets: Box<[Arc<GroupSet>]>,
}

impl PartialEq for GroupKey {
    /// The same text over sets of the same content.
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
            && self.sets.len() == other.sets.len()
            && self
                .sets
                .iter()
                .zip(other.sets.iter())
                .all(|(a, b)| Arc::ptr_eq(a, b) || a == b)
    }
}

/// Whether `name` is a key function call rather than a key name.
pub fn is_function(name: &str) -> bool {
    name.contains(':')
}

impl GroupKey {
    /// Parse `group:KEY:SET[:SET...]` against the sets in force.
    pub fn parse(text: &str, groups: &Groups) -> Result<GroupKey, String> {
        let mut parts = text.split(':');
        match parts.next() {
            Some("group") => {}
            Some(f) => {
                return Err(format!(
                    "'{text}': unknown key function '{f}' (the one supported is group:KEY:SET)"
                ))
            }
            None => return Err("empty key".into()),
        }
        let key_name = parts.next().unwrap_or("");
        let address = Key::from_name(key_name)
            .ok_or_else(|| format!("'{text}': '{key_name}' is not a key"))?;
        if !matches!(Kind::of(address), Kind::Ip4 | Kind::Ip6 | Kind::Ip) {
            return Err(format!(
                "'{text}': '{key_name}' is not an address key (group:KEY:SET takes ipsource, ipdestination, ip6source, ip6destination, agent, icmpunreachablenet or icmpunreachablehost, or their .N forms)"
            ));
        }
        let mut sets = Vec::new();
        for name in parts {
            let set = groups.get(name).ok_or_else(|| {
                let defined = groups.names();
                if defined.is_empty() {
                    format!("'{text}': unknown group set '{name}' (no [[group]] is defined)")
                } else {
                    format!(
                        "'{text}': unknown group set '{name}' (defined: {})",
                        defined.join(", ")
                    )
                }
            })?;
            sets.push(Arc::clone(set));
        }
        if sets.is_empty() {
            return Err(format!(
                "'{text}': name a group set, as in group:{key_name}:SET"
            ));
        }
        let text = intern::intern(text)
            .and_then(intern::name)
            .ok_or_else(|| format!("'{text}': too many group names in this process"))?;
        Ok(GroupKey {
            text,
            address,
            sets: sets.into_boxed_slice(),
        })
    }

    /// The number of the group holding the sample's address (the first set that has
    /// one), or `None` when the sample lacks the address or no group holds it.
    #[inline]
    pub fn lookup(&self, record: &SampleRecord) -> Option<u32> {
        let ip: IpAddr = match record.key(self.address)? {
            KeyValue::Ip(ip) => ip,
            _ => return None,
        };
        self.sets.iter().find_map(|s| s.lookup(ip))
    }
}

/// Pack the group keys after the `at_bytes` bytes of packet keys already in `key`; false
/// when one has no value (the sample does not match the definition).
#[inline(never)]
pub fn pack_groups(
    key: &mut PackedKey,
    at_bytes: usize,
    record: &SampleRecord,
    groups: &[GroupKey],
) -> bool {
    let mut bit = at_bytes * 8;
    for g in groups {
        let Some(v) = g.lookup(record) else {
            return false;
        };
        let (w, off) = (bit / 64, bit % 64);
        let Some(word) = key.words.get_mut(w) else {
            return false;
        };
        *word |= u64::from(v) << off;
        if off > 64 - GROUP_BYTES * 8 {
            if let Some(next) = key.words.get_mut(w + 1) {
                *next |= u64::from(v) >> (64 - off);
            }
        }
        bit += GROUP_BYTES * 8;
    }
    key.len = bit.div_ceil(64).min(MAX_KEY_WORDS);
    true
}

/// The `(key, value)` pairs of packed `words` in `columns` order: the packet `keys`
/// first in the words, then one group number per group column. `None` only when `words`
/// is shorter than the keys need (a table bug, not input).
pub fn unpack_columns(
    words: &[u64],
    keys: &[Key],
    columns: &[FlowKey],
) -> Option<Box<[(FlowKey, KeyValue)]>> {
    let packet = unpack(words, keys)?;
    if packet.len() == columns.len() {
        return Some(
            packet
                .iter()
                .map(|&(k, v)| (FlowKey::Packet(k), v))
                .collect(),
        );
    }
    let mut bit = super::key::packed_bytes(keys) * 8;
    let mut packet = packet.iter();
    let mut out = Vec::with_capacity(columns.len());
    for &c in columns {
        match c {
            FlowKey::Packet(_) => {
                let &(k, v) = packet.next()?;
                out.push((FlowKey::Packet(k), v));
            }
            FlowKey::Group(_) => {
                let (w, off) = (bit / 64, bit % 64);
                let mut v = *words.get(w)? >> off;
                if off > 64 - GROUP_BYTES * 8 {
                    v |= *words.get(w + 1)? << (64 - off);
                }
                out.push((c, KeyValue::Group(intern::name(v as u32)?)));
                bit += GROUP_BYTES * 8;
            }
        }
    }
    Some(out.into_boxed_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::groups::GroupSet;
    use crate::packet::KeyFields;

    fn groups() -> Groups {
        let mut g = Groups::new();
        g.insert(
            GroupSet::from_map(
                "site",
                &[
                    ("private", vec!["10.0.0.0/8"]),
                    ("v6", vec!["2001:db8::/32"]),
                ],
            )
            .unwrap(),
        );
        g.insert(GroupSet::from_map("feeds", &[("blocklist", vec!["10.9.0.0/16"])]).unwrap());
        g
    }

    fn rec(src: &str, dst: &str) -> SampleRecord {
        SampleRecord::default().with_keys(
            KeyFields {
                ip_source: Some(src.parse().unwrap()),
                ip_destination: Some(dst.parse().unwrap()),
                ..Default::default()
            }
            .into(),
        )
    }

    #[test]
    fn parse_checks_key_and_sets() {
        let g = groups();
        let k = GroupKey::parse("group:ipdestination:feeds:site", &g).unwrap();
        assert_eq!(k.address, Key::IpDestination);
        assert_eq!(k.sets.len(), 2);
        assert_eq!(k.text, "group:ipdestination:feeds:site");
        assert!(GroupKey::parse("group:ipsource.1:site", &g).is_ok());
        for (text, part) in [
            (
                "group:ipdestination:nope",
                "unknown group set 'nope' (defined: site, feeds)",
            ),
            ("group:ipprotocol:site", "not an address key"),
            ("group:nokey:site", "'nokey' is not a key"),
            ("group:ipsource", "name a group set"),
            ("country:ipsource", "unknown key function 'country'"),
        ] {
            let e = GroupKey::parse(text, &g).unwrap_err();
            assert!(e.contains(part), "{text}: {e}");
        }
        let e = GroupKey::parse("group:ipsource:x", &Groups::new()).unwrap_err();
        assert!(e.contains("no [[group]] is defined"), "{e}");
    }

    #[test]
    fn sets_are_tried_in_order() {
        let g = groups();
        let k = GroupKey::parse("group:ipdestination:feeds:site", &g).unwrap();
        let name = |r: &SampleRecord| k.lookup(r).and_then(intern::name);
        assert_eq!(name(&rec("1.1.1.1", "10.9.1.1")), Some("blocklist"));
        assert_eq!(name(&rec("1.1.1.1", "10.8.1.1")), Some("private"));
        assert_eq!(name(&rec("1.1.1.1", "11.0.0.1")), None);
        // `ipdestination` is IPv4 only; `ip6destination` reads IPv6.
        assert_eq!(name(&rec("2001:db8::1", "2001:db8::2")), None);
        let k6 = GroupKey::parse("group:ip6destination:site", &g).unwrap();
        assert_eq!(
            k6.lookup(&rec("2001:db8::1", "2001:db8::2"))
                .and_then(intern::name),
            Some("v6")
        );
    }

    #[test]
    fn packs_after_packet_keys_and_unpacks_in_column_order() {
        let g = groups();
        let gk = GroupKey::parse("group:ipdestination:site", &g).unwrap();
        let keys = [Key::IpSource, Key::IcmpUnreachablePort, Key::MacSource];
        let columns = [
            FlowKey::Group(gk.text),
            FlowKey::Packet(Key::IpSource),
            FlowKey::Packet(Key::IcmpUnreachablePort),
            FlowKey::Packet(Key::MacSource),
        ];
        let mut r = rec("10.1.2.3", "10.200.0.1");
        r.keys.set_mac_source(Some([1, 2, 3, 4, 5, 6]));
        r.keys
            .set_unreachable(Some(crate::packet::Unreachable::Port {
                protocol: crate::packet::L4::Udp,
                port: 53,
            }));
        let mut p = PackedKey::pack(&r, &keys).unwrap();
        // 13 bytes of packet keys: the group number straddles the first two words.
        assert!(pack_groups(&mut p, 13, &r, std::slice::from_ref(&gk)));
        assert_eq!(p.len, 3);
        let back = unpack_columns(p.as_words(), &keys, &columns).unwrap();
        assert_eq!(back[0], (columns[0], KeyValue::Group("private")));
        assert_eq!(back[1].1, KeyValue::Ip("10.1.2.3".parse().unwrap()));
        assert_eq!(back[3].1, KeyValue::Mac([1, 2, 3, 4, 5, 6]));
        let mut outside = PackedKey::pack(&rec("10.1.2.3", "8.8.8.8"), &[Key::IpSource]).unwrap();
        assert!(!pack_groups(
            &mut outside,
            4,
            &rec("10.1.2.3", "8.8.8.8"),
            std::slice::from_ref(&gk)
        ));
    }

    /// The router's packing and the table's own give the same flows, and a table that
    /// takes new sets keeps its open flows.
    #[test]
    fn router_and_table_agree_and_new_sets_keep_flows() {
        use crate::flow::key::definition_seed;
        use crate::flow::{FlowDefinitions, FlowSpec, FlowTable, Route, Router, Shard, WorkItem};
        let specs: Vec<FlowSpec> = vec![
            toml::from_str("name=\"src\"\nkeys=\"ipsource\"\nlog=true\nflowStart=true").unwrap(),
            toml::from_str(
                "name=\"g\"\nkeys=\"ipsource,group:ipdestination:feeds:site\"\nlog=true\nflowStart=true",
            )
            .unwrap(),
        ];
        let route = |defs: &FlowDefinitions, recs: &[SampleRecord]| {
            let mut router = Router::new(defs, 1);
            let mut items = Vec::new();
            for r in recs {
                router.route(r, &mut |_, f| items.push(WorkItem::new(r, f)));
            }
            items
        };
        let now = 1_700_000_000_000;
        let run = |shard: &mut Shard, items: &[WorkItem]| {
            let mut got = Vec::new();
            shard.apply(items, now, &mut |d, e| {
                if d == 1 {
                    got.push(e.flow_keys());
                }
            });
            got.sort();
            got
        };
        let defs = FlowDefinitions::from_specs_in(&specs, &groups()).unwrap();
        let recs = [
            rec("1.1.1.1", "10.9.1.1"),
            rec("1.1.1.1", "10.8.1.1"),
            rec("1.1.1.2", "11.0.0.1"),
        ];
        let items = route(&defs, &recs);
        let slots: Vec<u8> = items.iter().map(|i| i.flow.definition).collect();
        assert_eq!(slots, vec![0, 1, 0, 1, 0], "no group for 11.0.0.1");
        let want = vec![
            "1.1.1.1,blocklist".to_string(),
            "1.1.1.1,private".to_string(),
        ];
        assert_eq!(run(&mut Shard::new(&defs, 1), &items), want);
        let mut table = FlowTable::new(&defs.as_slice()[1], 100, definition_seed(1));
        let mut own = Vec::new();
        for r in &recs {
            table.sample(r, now, &mut |e| own.push(e.flow_keys()));
        }
        own.sort();
        assert_eq!(own, want, "the table packs the group itself the same way");

        // New content for `feeds`: 10.8/16 is the blocklist now.
        let mut newer = Groups::new();
        newer.insert(GroupSet::from_map("site", &[("private", vec!["10.0.0.0/8"])]).unwrap());
        newer.insert(GroupSet::from_map("feeds", &[("blocklist", vec!["10.8.0.0/16"])]).unwrap());
        let mut shard = Shard::new(&defs, 1);
        run(&mut shard, &items);
        let new_defs = FlowDefinitions::from_specs_in(&specs, &newer).unwrap();
        shard.regroup(vec![(1, new_defs.as_slice()[1].groups.clone())]);
        let again = [
            rec("1.1.1.1", "10.9.1.1"),
            rec("1.1.1.1", "10.8.1.1"),
            rec("1.1.1.3", "10.8.1.1"),
        ];
        // Both open flows stay open (now private and blocklist by the new sets); only
        // the new source opens one.
        assert_eq!(
            run(&mut shard, &route(&new_defs, &again)),
            vec!["1.1.1.3,blocklist".to_string()]
        );
    }
}
