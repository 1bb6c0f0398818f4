//! The general walk's unit tests: byte-literal frames of every layer, tunnel kind and
//! unreachable code, their truncations, and random bytes.

use super::*;
use crate::packet::{Key, KeyValue, TunnelKind, Unreachable, L4};
use std::net::{Ipv4Addr, Ipv6Addr};

const ETH_V4: [u8; 14] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0x08, 0x00,
];

/// Ethernet + IPv4 (192.0.2.1 -> 198.51.100.7, TTL 61, TOS 0x28, proto `p`) + `l4`.
fn eth_ipv4(p: u8, l4: &[u8]) -> Vec<u8> {
    let mut b = ETH_V4.to_vec();
    b.extend_from_slice(&[
        0x45, 0x28, 0x00, 0x3C, 0x00, 0x01, 0x40, 0x00, 61, p, 0, 0, 192, 0, 2, 1, 198, 51, 100, 7,
    ]);
    b.extend_from_slice(l4);
    b
}

const TCP_SYN: [u8; 20] = [
    0xC3, 0x50, 0x00, 0x16, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xFA, 0xF0, 0, 0, 0, 0,
];

#[test]
fn ethernet_ipv4_tcp() {
    let b = eth_ipv4(6, &TCP_SYN);
    let d = decode_header(1, &b);
    let k = d.keys;
    assert_eq!(
        k.mac_destination(),
        Some([0x00, 0x11, 0x22, 0x33, 0x44, 0x55])
    );
    assert_eq!(k.mac_source(), Some([0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB]));
    assert_eq!(k.vlan(), None);
    assert_eq!(k.ethernet_protocol(), Some(0x0800));
    assert_eq!(k.ip_source(), Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))));
    assert_eq!(
        k.ip_destination(),
        Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)))
    );
    assert_eq!(k.ip_protocol(), Some(6));
    assert_eq!(k.ip_tos(), Some(0x28));
    assert_eq!(k.ip_ttl(), Some(61));
    assert_eq!(k.tcp_source_port(), Some(50000));
    assert_eq!(k.tcp_destination_port(), Some(22));
    assert_eq!(k.tcp_flags(), Some(0x02));
    assert_eq!(k.udp_source_port(), None);
    assert_eq!(d.network_offset, Some(14));
    assert_eq!(d.transport_offset, Some(34));
}

#[test]
fn every_truncation_is_a_prefix_of_the_keys() {
    let b = eth_ipv4(6, &TCP_SYN);
    for n in 0..=b.len() {
        let k = decode_header(1, &b[..n]).keys;
        assert_eq!(k.mac_source().is_some(), n >= 14, "{n}");
        assert_eq!(k.ip_source().is_some(), n >= 34, "{n}");
        assert_eq!(k.tcp_destination_port().is_some(), n >= 38, "{n}");
        assert_eq!(k.tcp_flags().is_some(), n >= 48, "{n}");
    }
}

#[test]
fn udp_and_raw_ipv4() {
    let udp = [0x00, 0x35, 0xD4, 0x31, 0x00, 0x08, 0, 0];
    let b = eth_ipv4(17, &udp);
    let k = decode_header(1, &b).keys;
    assert_eq!(
        (k.udp_source_port(), k.udp_destination_port()),
        (Some(53), Some(54321))
    );
    assert_eq!(k.tcp_source_port(), None);
    // The same packet as header protocol 11: no link layer, no EtherType.
    let d = decode_header(11, &b[14..]);
    assert_eq!(d.keys.udp_destination_port(), Some(54321));
    assert_eq!(d.keys.mac_source(), None);
    assert_eq!(d.keys.ethernet_protocol(), None);
    assert_eq!(d.network_offset, Some(0));
    // An IPv6 packet under header protocol 11 is not IPv4.
    assert_eq!(decode_header(11, &ipv6_udp()).keys.ip_source(), None);
}

#[test]
fn ipv4_options_and_fragments() {
    let mut b = eth_ipv4(17, &[]);
    b[14] = 0x46; // IHL 6: 4 bytes of options
    b.extend_from_slice(&[0x94, 0x04, 0x00, 0x00]); // router alert
    b.extend_from_slice(&[0x00, 0x35, 0x00, 0x44]);
    let d = decode_header(1, &b);
    assert_eq!(d.keys.udp_destination_port(), Some(68));
    assert_eq!(d.transport_offset, Some(38));
    // Options cut: IP keys, no transport.
    let d = decode_header(1, &b[..36]);
    assert_eq!(d.keys.ip_protocol(), Some(17));
    assert_eq!(d.keys.udp_source_port(), None);
    assert_eq!(d.transport_offset, None);
    // Non-first fragment: no transport keys even though bytes follow.
    b[20] = 0x00;
    b[21] = 0x10;
    let k = decode_header(1, &b).keys;
    assert_eq!(k.ip_protocol(), Some(17));
    assert_eq!(k.udp_destination_port(), None);
}

#[test]
fn vlan_and_qinq() {
    // 802.1Q VID 32, PCP 5.
    let mut b = ETH_V4[..12].to_vec();
    b.extend_from_slice(&[0x81, 0x00, 0xA0, 0x20, 0x08, 0x00]);
    b.extend_from_slice(&eth_ipv4(6, &TCP_SYN)[14..]);
    let d = decode_header(1, &b);
    assert_eq!(d.keys.vlan(), Some(32));
    assert_eq!(d.inner_vlan, Some(32));
    assert_eq!(d.keys.ethernet_protocol(), Some(0x0800));
    assert_eq!(d.keys.tcp_destination_port(), Some(22));
    assert_eq!(d.network_offset, Some(18));

    // 802.1ad S-tag 1062 + C-tag 1493, as in the corpus file flowsift-synth/qinq-tcp.pcap.
    let mut b = ETH_V4[..12].to_vec();
    b.extend_from_slice(&[0x88, 0xA8, 0x44, 0x26, 0x81, 0x00, 0x45, 0xD5, 0x08, 0x00]);
    b.extend_from_slice(&eth_ipv4(6, &TCP_SYN)[14..]);
    let d = decode_header(1, &b);
    assert_eq!(d.keys.vlan(), Some(1062));
    assert_eq!(d.inner_vlan, Some(1493));
    assert_eq!(d.keys.ethernet_protocol(), Some(0x0800));
    assert_eq!(d.keys.tcp_source_port(), Some(50000));
    assert_eq!(d.network_offset, Some(22));
}

fn ipv6_udp() -> Vec<u8> {
    let mut b = vec![0x60, 0x00, 0x00, 0x00, 0x00, 0x08, 17, 255];
    b.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
    b.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).octets());
    b.extend_from_slice(&[0x02, 0x22, 0x02, 0x23, 0x00, 0x08, 0, 0]);
    b
}

#[test]
fn ipv6_udp_and_extension_headers() {
    let mut b = ETH_V4[..12].to_vec();
    b.extend_from_slice(&[0x86, 0xDD]);
    b.extend_from_slice(&ipv6_udp());
    let d = decode_header(1, &b);
    let k = d.keys;
    assert_eq!(k.ethernet_protocol(), Some(0x86DD));
    assert_eq!(k.ip_source(), Some("2001:db8::1".parse().unwrap()));
    assert_eq!(k.ip_destination(), Some("2001:db8::2".parse().unwrap()));
    assert_eq!(k.ip_protocol(), Some(17));
    assert_eq!(k.ip_ttl(), Some(255));
    assert_eq!(k.ip_tos(), Some(0));
    assert_eq!(
        (k.udp_source_port(), k.udp_destination_port()),
        (Some(546), Some(547))
    );
    assert_eq!(d.network_offset, Some(14));
    assert_eq!(d.transport_offset, Some(54));

    // Raw IPv6 with a hop-by-hop header before UDP.
    let mut v = ipv6_udp();
    v[6] = 0;
    let udp = v.split_off(40);
    v.extend_from_slice(&[17, 0, 5, 2, 0, 0, 1, 0]);
    v.extend_from_slice(&udp);
    let d = decode_header(12, &v);
    assert_eq!(d.keys.ip_protocol(), Some(17));
    assert_eq!(d.keys.udp_destination_port(), Some(547));
    assert_eq!(d.transport_offset, Some(48));
    // Truncated inside the hop-by-hop header's first bytes: protocol unknown.
    let d = decode_header(12, &v[..41]);
    assert_eq!(d.keys.ip_source(), Some("2001:db8::1".parse().unwrap()));
    assert_eq!(d.keys.ip_protocol(), None);
    // ESP stops the walk.
    let mut e = ipv6_udp();
    e[6] = 50;
    let k = decode_header(12, &e).keys;
    assert_eq!(k.ip_protocol(), Some(50));
    assert_eq!(k.udp_source_port(), None);
}

#[test]
fn icmp_echo_and_protocol_confinement() {
    let b = eth_ipv4(1, &[8, 0, 0xF7, 0xFF, 0, 1, 0, 1]);
    let k = decode_header(1, &b).keys;
    assert_eq!((k.icmp_type(), k.icmp_code()), (Some(8), Some(0)));
    assert_eq!(k.unreachable(), None);
    // Protocol 58 inside IPv4 is not ICMPv6.
    let b = eth_ipv4(58, &[1, 4, 0, 0, 0, 0, 0, 0]);
    assert_eq!(decode_header(1, &b).keys.icmp_type(), None);
}

/// ICMPv4 destination unreachable with code `code`, quoting an IPv4 packet
/// 198.51.100.7 -> 203.0.113.9 of protocol `p` whose first transport bytes are `l4`.
fn unreachable_v4(code: u8, p: u8, l4: &[u8]) -> Vec<u8> {
    let mut icmp = vec![3, code, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&[
        0x45, 0x00, 0x00, 0x1C, 0xAB, 0xCD, 0x00, 0x00, 64, p, 0, 0, 198, 51, 100, 7, 203, 0, 113,
        9,
    ]);
    icmp.extend_from_slice(l4);
    eth_ipv4(1, &icmp)
}

#[test]
fn icmpv4_unreachable_codes() {
    let dst = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
    let udp = [0xD4, 0x31, 0x00, 0x35, 0x00, 0x08, 0, 0];
    let cases = [
        (0, 17, Some(Unreachable::Net(dst))),
        (1, 17, Some(Unreachable::Host(dst))),
        (2, 132, Some(Unreachable::Protocol(132))),
        (
            3,
            17,
            Some(Unreachable::Port {
                protocol: L4::Udp,
                port: 53,
            }),
        ),
        (
            3,
            6,
            Some(Unreachable::Port {
                protocol: L4::Tcp,
                port: 53,
            }),
        ),
        (3, 132, None),
        (4, 17, None),
        (13, 17, None),
    ];
    for (code, p, want) in cases {
        let k = decode_header(1, &unreachable_v4(code, p, &udp)).keys;
        assert_eq!(k.icmp_type(), Some(3));
        assert_eq!(k.icmp_code(), Some(code));
        assert_eq!(k.unreachable(), want, "code {code} proto {p}");
    }
    // Truncated before the quoted port, or inside the quoted header.
    let b = unreachable_v4(3, 17, &udp);
    assert_eq!(decode_header(1, &b[..b.len() - 5]).keys.unreachable(), None);
    assert!(decode_header(1, &b[..b.len() - 4])
        .keys
        .unreachable()
        .is_some());
    let b = unreachable_v4(1, 17, &[]);
    assert_eq!(decode_header(1, &b[..b.len() - 1]).keys.unreachable(), None);
}

#[test]
fn icmpv6_unreachable_codes() {
    let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
    let quoted = {
        let mut q = ipv6_udp();
        q[6] = 6;
        q.truncate(40);
        q.extend_from_slice(&[0xC3, 0x50, 0x01, 0xBB, 0, 0, 0, 0]);
        q
    };
    for (code, want) in [
        (0, Some(Unreachable::Net(IpAddr::V6(dst)))),
        (1, None),
        (3, Some(Unreachable::Host(IpAddr::V6(dst)))),
        (
            4,
            Some(Unreachable::Port {
                protocol: L4::Tcp,
                port: 443,
            }),
        ),
        (5, None),
    ] {
        let mut b = vec![0x60, 0, 0, 0, 0, 0, 58, 64];
        b.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xfe).octets());
        b.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
        b.extend_from_slice(&[1, code, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&quoted);
        let k = decode_header(12, &b).keys;
        assert_eq!((k.icmp_type(), k.icmp_code()), (Some(1), Some(code)));
        assert_eq!(k.unreachable(), want, "code {code}");
    }
}

#[test]
fn decode_into_existing_keys() {
    let b = eth_ipv4(6, &TCP_SYN);
    let whole = decode_header(1, &b);
    let mut keys = PacketKeys::default();
    let layout = decode_header_keys(1, &b, &mut keys, &mut InnerKeys::default());
    assert_eq!(keys, whole.keys);
    assert_eq!(layout.network_offset, whole.network_offset);
    assert_eq!(layout.transport_offset, whole.transport_offset);
    assert_eq!(layout.inner_vlan, whole.inner_vlan);
    // Only the keys the header carries are written (TCP and UDP ports share storage, so
    // the untouched key is another one).
    let mut keys = PacketKeys::default().with_icmp_type(7);
    decode_header_keys(1, &b, &mut keys, &mut InnerKeys::default());
    assert_eq!(keys.icmp_type(), Some(7));
    assert_eq!(keys.tcp_destination_port(), Some(22));
}

/// A tenant's answer to a scan: 10.0.201.2 tells 10.0.201.1 that UDP port 20014 is
/// closed (Ethernet 02:00:00:00:0a:0b -> 02:00:00:00:0a:0a, IPv4, ICMP 3/3 quoting the
/// probe's IPv4 and UDP headers).
const TENANT: [u8; 70] = [
    0x02, 0, 0, 0, 0x0A, 0x0A, 0x02, 0, 0, 0, 0x0A, 0x0B, 0x08, 0x00, // Ethernet
    0x45, 0x00, 0x00, 0x38, 0x00, 0x07, 0x00, 0x00, 64, 1, 0, 0, 10, 0, 201, 2, 10, 0, 201,
    1, // IPv4, ICMP
    3, 3, 0, 0, 0, 0, 0, 0, // port unreachable
    0x45, 0x00, 0x00, 0x24, 0x00, 0x01, 0x00, 0x00, 63, 17, 0, 0, 10, 0, 201, 1, 10, 0, 201,
    2, // quoted IPv4, UDP
    0xC0, 0x00, 0x4E, 0x2E, 0x00, 0x10, 0, 0, // quoted UDP to 20014
];

/// The outer headers: Ethernet (tagged VID 7 when `vlan`), IPv4 192.0.2.1 -> 192.0.2.2
/// or IPv6 2001:db8::1 -> 2001:db8::2 of protocol `p`, then `inner`.
fn outer(v6: bool, vlan: bool, p: u8, inner: &[u8]) -> Vec<u8> {
    let mut b = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01];
    if vlan {
        b.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
    }
    let len = inner.len() as u16;
    if v6 {
        b.extend_from_slice(&[0x86, 0xDD, 0x60, 0, 0, 0]);
        b.extend_from_slice(&len.to_be_bytes());
        b.extend_from_slice(&[p, 62]);
        b.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
        b.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).octets());
    } else {
        b.extend_from_slice(&[0x08, 0x00, 0x45, 0x00]);
        b.extend_from_slice(&(len + 20).to_be_bytes());
        b.extend_from_slice(&[0, 0, 0x40, 0, 62, p, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
    }
    b.extend_from_slice(inner);
    b
}

/// UDP from 49152 to `port`, then `payload`.
fn udp(port: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0xC0, 0x00];
    b.extend_from_slice(&port.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(payload);
    b
}

fn cat(a: &[u8], b: &[u8]) -> Vec<u8> {
    [a, b].concat()
}

/// The outer keys every frame of [`outer`] has.
fn check_outer(k: &PacketKeys, v6: bool, vlan: bool, p: u8) {
    assert_eq!(k.mac_source(), Some([0x02, 0, 0, 0, 0, 0x01]));
    assert_eq!(k.vlan(), vlan.then_some(7));
    assert_eq!(
        k.ethernet_protocol(),
        Some(if v6 { 0x86DD } else { 0x0800 })
    );
    let (src, dst): (IpAddr, IpAddr) = if v6 {
        (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        )
    } else {
        ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap())
    };
    assert_eq!((k.ip_source(), k.ip_destination()), (Some(src), Some(dst)));
    assert_eq!((k.ip_protocol(), k.ip_ttl()), (Some(p), Some(62)));
}

/// The tenant's keys, with its Ethernet header or (`ip_only`) from its IPv4 header on.
fn check_tenant(k: &PacketKeys, ip_only: bool) {
    let mac = (!ip_only).then_some([0x02, 0, 0, 0, 0x0A, 0x0B]);
    assert_eq!(k.mac_source(), mac);
    assert_eq!(k.ethernet_protocol(), (!ip_only).then_some(0x0800), "{k:?}");
    assert_eq!(k.vlan(), None);
    assert_eq!(k.ip_source(), Some("10.0.201.2".parse().unwrap()));
    assert_eq!(k.ip_destination(), Some("10.0.201.1".parse().unwrap()));
    assert_eq!((k.ip_protocol(), k.ip_ttl()), (Some(1), Some(64)));
    assert_eq!((k.icmp_type(), k.icmp_code()), (Some(3), Some(3)));
    assert_eq!(
        k.unreachable(),
        Some(Unreachable::Port {
            protocol: L4::Udp,
            port: 20014
        })
    );
    assert_eq!(k.udp_destination_port(), None);
}

/// Every tunnel kind, over IPv4 and IPv6, with and without a VLAN tag: the outer keys,
/// the tunnel's own, and the tenant's at level 1, key by key.
#[test]
fn every_tunnel_kind_both_underlays_tagged_and_not() {
    let tenant_ip = &TENANT[14..];
    // (protocol, the tunnel's bytes after the outer IP header, kind, VNI or key,
    // whether the tenant's Ethernet header is inside)
    let vxlan = udp(4789, &cat(&[0x08, 0, 0, 0, 0x00, 0x27, 0x11, 0], &TENANT));
    let geneve = udp(
        6081,
        &cat(
            &[
                2, 0, 0x65, 0x58, 0x01, 0x00, 0x02, 0, 0x01, 0x02, 0x80, 1, 9, 9, 9, 9,
            ],
            &TENANT,
        ),
    );
    let geneve_ip = udp(
        6081,
        &cat(&[0, 0, 0x08, 0x00, 0x00, 0x00, 0x05, 0], tenant_ip),
    );
    let gre_ip = cat(
        &[
            0xB0, 0x00, 0x08, 0x00, 0xAB, 0xCD, 0, 0, 0, 0, 0x30, 0x39, 0, 0, 0, 1,
        ],
        tenant_ip,
    );
    let nvgre = cat(&[0x20, 0x00, 0x65, 0x58, 0x00, 0x01, 0x00, 0x2A], &TENANT);
    type Case = (u8, Vec<u8>, TunnelKind, Option<(Key, u32)>, bool);
    let cases: Vec<Case> = vec![
        (
            17,
            vxlan,
            TunnelKind::Vxlan,
            Some((Key::VxlanVni, 10001)),
            false,
        ),
        (
            17,
            geneve,
            TunnelKind::Geneve,
            Some((Key::GeneveVni, 65538)),
            false,
        ),
        (
            17,
            geneve_ip,
            TunnelKind::Geneve,
            Some((Key::GeneveVni, 5)),
            true,
        ),
        (
            47,
            gre_ip,
            TunnelKind::Gre,
            Some((Key::GreKey, 12345)),
            true,
        ),
        (
            47,
            nvgre,
            TunnelKind::Nvgre,
            Some((Key::GreKey, 0x1002A)),
            false,
        ),
        (4, tenant_ip.to_vec(), TunnelKind::IpInIp, None, true),
    ];
    for v6 in [false, true] {
        for vlan in [false, true] {
            for (p, inner, kind, id, ip_only) in &cases {
                let b = outer(v6, vlan, *p, inner);
                let d = decode_header(1, &b);
                let what = format!("{kind:?} v6={v6} vlan={vlan}");
                check_outer(&d.keys, v6, vlan, *p);
                assert_eq!(d.keys.tunnel(), Some(*kind), "{what}");
                assert_eq!(d.keys.depth(), 1, "{what}");
                assert!(!d.keys.too_deep());
                for key in [Key::VxlanVni, Key::GeneveVni, Key::GreKey] {
                    let want = id
                        .filter(|(k, _)| *k == key)
                        .map(|(_, v)| KeyValue::Number(v));
                    assert_eq!(d.keys.get(key), want, "{what} {key}");
                }
                check_tenant(d.level_keys(1).unwrap(), *ip_only);
                assert_eq!(d.level_keys(2), None);
                // The outer layout is the outer header's (what sflowtool reports).
                let ip_at = if vlan { 18 } else { 14 };
                assert_eq!(d.network_offset, Some(ip_at), "{what}");
            }
        }
    }
    // IPv6 inside IPv4 and IPv6 (protocol 41): the tenant over IPv6.
    let mut t6 = vec![0x60, 0, 0, 0, 0, 8, 17, 61];
    t6.extend_from_slice(&Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1).octets());
    t6.extend_from_slice(&Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2).octets());
    t6.extend_from_slice(&[0x12, 0x34, 0x00, 0x35, 0, 8, 0, 0]);
    for v6 in [false, true] {
        let d = decode_header(1, &outer(v6, false, 41, &t6));
        assert_eq!(d.keys.tunnel(), Some(TunnelKind::Ipv6InIp));
        let k = d.level_keys(1).unwrap();
        assert_eq!(k.ip_source(), Some("fd00::1".parse().unwrap()));
        assert_eq!(k.ip_destination(), Some("fd00::2".parse().unwrap()));
        assert_eq!((k.ip_protocol(), k.ip_ttl()), (Some(17), Some(61)));
        assert_eq!(k.udp_destination_port(), Some(53));
        assert_eq!(k.ethernet_protocol(), None);
    }
}

#[test]
fn mpls_labels_are_walked_to_the_packet_below() {
    let mut b = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x88, 0x47];
    b.extend_from_slice(&[0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40]); // 16, 32 (bottom)
    b.extend_from_slice(&TENANT[14..]);
    let d = decode_header(1, &b);
    assert_eq!(d.keys.ethernet_protocol(), Some(0x8847));
    let mut k = d.keys;
    k.set_mac_source(Some([0x02, 0, 0, 0, 0x0A, 0x0B]));
    k.set_ethernet_protocol(Some(0x0800));
    check_tenant(&k, false);
    assert_eq!(d.keys.depth(), 0);
    assert_eq!(
        d.network_offset, None,
        "sflowtool does not look under labels"
    );
    // A stack without a bottom label within the bytes: no IP keys.
    let d = decode_header(1, &b[..22]);
    assert_eq!(d.keys.ip_source(), None);
}

#[test]
fn nesting_stops_after_three_levels() {
    let mut frame = TENANT.to_vec();
    for vni in [4, 3, 2, 1] {
        let mut v = vec![0x08, 0, 0, 0, 0, 0, vni, 0];
        v.extend_from_slice(&frame);
        frame = outer(false, false, 17, &udp(4789, &v));
    }
    let d = decode_header(1, &frame);
    assert_eq!(d.keys.depth(), 3);
    assert!(d.keys.too_deep());
    assert_eq!(d.keys.get(Key::VxlanVni), Some(KeyValue::Number(1)));
    for level in 1..=3 {
        let k = d.level_keys(level).unwrap();
        assert_eq!(k.udp_destination_port(), Some(4789), "{level}");
        assert_eq!(
            k.get(Key::VxlanVni),
            Some(KeyValue::Number(level as u32 + 1))
        );
    }
    assert_eq!(d.level_keys(4), None);
}

#[test]
fn lookalikes_are_not_decapsulated() {
    // UDP 4789 without the I flag, or with another flag.
    for flags in [0x00, 0x0C, 0x48] {
        let v = cat(&[flags, 0, 0, 0, 0, 0, 1, 0], &TENANT);
        let d = decode_header(1, &outer(false, false, 17, &udp(4789, &v)));
        assert_eq!(d.keys.tunnel(), None, "{flags:#x}");
        assert_eq!(d.keys.depth(), 0);
        assert_eq!(d.keys.udp_destination_port(), Some(4789));
        assert_eq!(d.keys.get(Key::VxlanVni), None);
    }
    // The G flag (group policy) is VXLAN.
    let v = cat(&[0x88, 0, 0x12, 0x34, 0, 0, 1, 0], &TENANT);
    let d = decode_header(1, &outer(false, false, 17, &udp(4789, &v)));
    assert_eq!(d.keys.depth(), 1);
    // GRE version 1 (PPTP), reserved bits, routing: not walked.
    for flags in [0x0001u16, 0x4000, 0x0080, 0x0800] {
        let mut g = flags.to_be_bytes().to_vec();
        g.extend_from_slice(&[0x08, 0x00]);
        g.extend_from_slice(&TENANT[14..]);
        let d = decode_header(1, &outer(false, false, 47, &g));
        assert_eq!(d.keys.tunnel(), None, "{flags:#x}");
        assert_eq!(d.keys.ip_protocol(), Some(47));
    }
    // Geneve version 1, an unknown protocol type.
    for h in [
        [0x40, 0, 0x65, 0x58, 0, 0, 1, 0],
        [0, 0, 0x88, 0x47, 0, 0, 1, 0],
    ] {
        let d = decode_header(1, &outer(false, false, 17, &udp(6081, &cat(&h, &TENANT))));
        assert_eq!(d.keys.tunnel(), None);
    }
    // A non-first fragment of IP-in-IP is no tunnel.
    let mut b = outer(false, false, 4, &TENANT[14..]);
    b[20] = 0x00;
    b[21] = 0x10;
    assert_eq!(decode_header(1, &b).keys.tunnel(), None);
}

/// Cut anywhere, a tunnelled header gives each key once its bytes are all there.
#[test]
fn every_truncation_inside_a_tunnel() {
    let v = cat(&[0x08, 0, 0, 0, 0, 0, 9, 0], &TENANT);
    for v6 in [false, true] {
        let b = outer(v6, true, 17, &udp(4789, &v));
        let ip_len = if v6 { 40 } else { 20 };
        let vxlan_end = 18 + ip_len + 8 + 8;
        for n in 0..=b.len() {
            let d = decode_header(1, &b[..n]);
            let has =
                |level: usize, key: Key| d.level_keys(level).is_some_and(|k| k.get(key).is_some());
            assert_eq!(has(0, Key::VxlanVni), n >= vxlan_end, "{n}");
            assert_eq!(d.keys.depth(), usize::from(n >= vxlan_end), "{n}");
            assert_eq!(has(1, Key::MacSource), n >= vxlan_end + 14, "{n}");
            assert_eq!(has(1, Key::IpSource), n >= vxlan_end + 34, "{n}");
            assert_eq!(has(1, Key::IcmpType), n >= vxlan_end + 36, "{n}");
            // The quoted UDP header's destination port ends 4 bytes before the frame.
            assert_eq!(has(1, Key::IcmpUnreachablePort), n >= b.len() - 4, "{n}");
        }
    }
}

#[test]
fn unknown_protocols_and_garbage_never_panic() {
    assert_eq!(decode_header(2, &ETH_V4), DecodedHeader::default());
    assert_eq!(decode_header(1, &[]), DecodedHeader::default());
    assert_eq!(decode_header(11, &[0x45]), DecodedHeader::default());
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut buf = [0u8; 160];
    for i in 0..20_000 {
        for byte in buf.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = state as u8;
        }
        // Steer towards the interesting paths.
        buf[12] = 0x08;
        buf[13] = if i % 2 == 0 { 0x00 } else { 0xDD };
        if i % 2 == 1 {
            buf[12] = 0x86;
        }
        buf[14] = if i % 2 == 0 { 0x45 } else { 0x60 };
        for proto in [1, 11, 12] {
            let _ = decode_header(proto, &buf[..(i % 161)]);
        }
    }
}
