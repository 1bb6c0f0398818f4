//! The keys' unit tests: names, text forms, the compact form's round trips.

use super::*;

#[test]
fn names_round_trip() {
    for &k in Key::ALL {
        assert_eq!(Key::from_name(k.name()), Some(k));
    }
    assert_eq!(Key::from_name("IPSOURCE"), None);
    // Every header key has `.1` to `.3`; the sample's own keys have none.
    let every: Vec<Key> = Key::every().collect();
    assert_eq!(every.len(), Key::ALL.len() + 3 * (Key::ALL.len() - 3));
    for k in every {
        assert_eq!(Key::from_name(k.name()), Some(k), "{k}");
        assert_eq!(k.plain().at_level(k.level()), Some(k));
    }
    let k = Key::from_name("icmpunreachableport.1").unwrap();
    assert_eq!((k.plain(), k.level()), (Key::IcmpUnreachablePort, 1));
    assert_eq!(k.name(), "icmpunreachableport.1");
    for bad in [
        "agent.1",
        "ipsource.0",
        "ipsource.4",
        "ipsource.",
        "ipsource.1.1",
        ".1",
    ] {
        assert_eq!(Key::from_name(bad), None, "{bad}");
    }
    assert_eq!(Key::from_name("vxlanvni.2").map(Key::level), Some(2));
}

#[test]
fn text_forms_follow_sflow_rt() {
    let mac = KeyValue::Mac([0x00, 0x1c, 0x2e, 0xab, 0x0f, 0x80]);
    assert_eq!(mac.to_string(), "001C2EAB0F80");
    assert_eq!(KeyValue::Port(L4::Udp, 53).to_string(), "udp_53");
    assert_eq!(KeyValue::Port(L4::Tcp, 22).to_string(), "tcp_22");
    assert_eq!(
        KeyValue::Ip("10.0.0.5".parse().unwrap()).to_string(),
        "10.0.0.5"
    );
    assert_eq!(
        KeyValue::Ip("2001:db8::1".parse().unwrap()).to_string(),
        "2001:db8::1"
    );
}

#[test]
fn ipv4_keys_do_not_answer_for_ipv6() {
    let k = PacketKeys::default().with_ip_source("2001:db8::1".parse().unwrap());
    assert_eq!(k.get(Key::IpSource), None);
    assert!(k.get(Key::Ip6Source).is_some());
    assert_eq!(k.present(), Key::Ip6Source.bit());
}

/// Every key survives the round trip through the compact form, setting a key twice or
/// clearing it leaves no trace, and the two transports' shared port storage stays apart.
#[test]
fn compact_form_round_trips() {
    let v4 = KeyFields {
        mac_source: Some([1, 2, 3, 4, 5, 6]),
        mac_destination: Some([6, 5, 4, 3, 2, 1]),
        vlan: Some(4095),
        ethernet_protocol: Some(0x0800),
        ip_source: Some("10.0.0.1".parse().unwrap()),
        ip_destination: Some("192.0.2.255".parse().unwrap()),
        ip_protocol: Some(1),
        ip_tos: Some(0xFF),
        ip_ttl: Some(0),
        tcp_flags: Some(0x1FF),
        icmp_type: Some(3),
        icmp_code: Some(0),
        unreachable: Some(Unreachable::Net("203.0.113.9".parse().unwrap())),
        ..Default::default()
    };
    let udp = KeyFields {
        ip_source: Some("2001:db8::1".parse().unwrap()),
        ip_destination: Some("2001:db8::2".parse().unwrap()),
        udp_source_port: Some(0),
        udp_destination_port: Some(65535),
        unreachable: Some(Unreachable::Port {
            protocol: L4::Tcp,
            port: 0,
        }),
        ..Default::default()
    };
    let tcp = KeyFields {
        tcp_source_port: Some(22),
        tcp_destination_port: Some(40000),
        unreachable: Some(Unreachable::Host("2001:db8::9".parse().unwrap())),
        ..Default::default()
    };
    let proto = KeyFields {
        unreachable: Some(Unreachable::Protocol(132)),
        ..Default::default()
    };
    for fields in [v4, udp, tcp, proto, KeyFields::default()] {
        let k = PacketKeys::from(fields);
        assert_eq!(KeyFields::from(k), fields);
        let mut cleared = k;
        let empty = KeyFields::default();
        cleared.set_unreachable(None);
        cleared.set_ip_source(None);
        cleared.set_ip_destination(None);
        let back = KeyFields {
            unreachable: None,
            ip_source: None,
            ip_destination: None,
            ..fields
        };
        assert_eq!(KeyFields::from(cleared), back);
        assert_eq!(
            cleared,
            PacketKeys::from(back),
            "absent fields do not count"
        );
        assert_eq!(PacketKeys::from(empty), PacketKeys::default());
    }
    let mut k = PacketKeys::default().with_udp_destination_port(53);
    assert_eq!(k.get(Key::UdpDestinationPort), Some(KeyValue::Number(53)));
    k.set_tcp_destination_port(Some(80));
    assert_eq!(k.udp_destination_port(), None);
    assert_eq!(k.tcp_destination_port(), Some(80));
    assert_eq!(k.present(), Key::TcpDestinationPort.bit());
    k.set_udp_destination_port(None);
    assert_eq!(k.tcp_destination_port(), Some(80));
    k.set_tcp_destination_port(None);
    assert_eq!(k, PacketKeys::default());
}
