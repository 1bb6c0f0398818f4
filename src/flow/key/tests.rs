//! Tests of packed keys: every kind round-trips, the fast paths (the header keys read
//! straight from their fields, the plan) agree with the general one, presence masks agree
//! with packing, tunnel levels' keys pack like plain ones, and scopes keep families apart.

use super::*;
use std::net::IpAddr;

use crate::packet::{Key, KeyFields, KeyValue, PacketKeys, Unreachable, L4};
use crate::record::SampleRecord;

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
