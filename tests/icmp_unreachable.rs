//! ICMP destination-unreachable keys end to end: hand-built frames for every code, IPv4 and
//! IPv6, cut at every length, checked through the public decoder and the sFlow-RT text forms
//! (`icmpunreachableport` = `udp_53`, ...); then the same messages wrapped in whole sFlow v5
//! datagrams and taken through the receive fast path (`decode_datagram`) to `SampleRecord`s.
//! The rules are in `src/packet/header/unreachable.rs`'s module docs and REFERENCE.md section 2.

mod packet_support;
use packet_support::{frames, visit};

use std::net::{Ipv4Addr, Ipv6Addr};

use flowsift::packet::{decode_header, Key, PacketKeys, Unreachable, L4};
use flowsift::record::SampleRecord;
use flowsift::sflow::decode_datagram;
use frames::*;

const RESPONDER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const SCANNER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 66);

fn text(keys: &PacketKeys, key: Key) -> Option<String> {
    keys.get(key).map(|v| v.to_string())
}

/// The four sFlow-RT unreachable keys as text, in the order net, host, protocol, port.
fn unreachable_texts(keys: &PacketKeys) -> [Option<String>; 4] {
    [
        text(keys, Key::IcmpUnreachableNet),
        text(keys, Key::IcmpUnreachableHost),
        text(keys, Key::IcmpUnreachableProtocol),
        text(keys, Key::IcmpUnreachablePort),
    ]
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[test]
fn ipv4_every_code() {
    let udp_probe = quoted_v4(SCANNER, RESPONDER, 17, &udp(41_000, 53));
    let tcp_probe = quoted_v4(SCANNER, RESPONDER, 6, &tcp(41_000, 8443, 0x02));
    let sctp_probe = quoted_v4(
        SCANNER,
        RESPONDER,
        132,
        &[0x9C, 0x40, 0x0B, 0x59, 0, 0, 0, 0],
    );
    for code in 0..=15u8 {
        for (probe, name) in [
            (&udp_probe, "udp"),
            (&tcp_probe, "tcp"),
            (&sctp_probe, "sctp"),
        ] {
            let frame = unreachable_v4_frame(RESPONDER, SCANNER, code, probe);
            let keys = decode_header(1, &frame).keys;
            // Direction: the responder is the source, the scanner the destination.
            assert_eq!(text(&keys, Key::IpSource), s("192.0.2.10"));
            assert_eq!(text(&keys, Key::IpDestination), s("198.51.100.66"));
            assert_eq!(text(&keys, Key::IpProtocol), s("1"));
            assert_eq!(text(&keys, Key::IcmpType), s("3"));
            assert_eq!(text(&keys, Key::IcmpCode), Some(code.to_string()));
            let want: [Option<String>; 4] = match (code, name) {
                (0, _) => [s("192.0.2.10"), None, None, None],
                (1, _) => [None, s("192.0.2.10"), None, None],
                (2, "udp") => [None, None, s("17"), None],
                (2, "tcp") => [None, None, s("6"), None],
                (2, _) => [None, None, s("132"), None],
                (3, "udp") => [None, None, None, s("udp_53")],
                (3, "tcp") => [None, None, None, s("tcp_8443")],
                _ => [None, None, None, None],
            };
            assert_eq!(unreachable_texts(&keys), want, "code {code} {name}");
        }
    }
}

#[test]
fn ipv4_every_truncation() {
    // Offsets: Ethernet 14 + IPv4 20 + ICMP 8 = 42 where the quoted header starts; its
    // destination address ends at 62, its protocol at 52, the quoted destination port at 66.
    let probe = quoted_v4(SCANNER, RESPONDER, 17, &udp(41_000, 53));
    for (code, needed) in [(0u8, 62usize), (1, 62), (2, 62), (3, 66)] {
        let frame = unreachable_v4_frame(RESPONDER, SCANNER, code, &probe);
        for n in 0..=frame.len() {
            let keys = decode_header(1, &frame[..n]).keys;
            assert_eq!(keys.icmp_type().is_some(), n >= 36, "code {code} len {n}");
            assert_eq!(
                keys.unreachable().is_some(),
                n >= needed,
                "code {code} len {n}: {:?}",
                keys.unreachable()
            );
        }
    }
}

#[test]
fn ipv4_quoted_header_with_options_and_fragments() {
    // Quoted header with 4 bytes of options: the port moves 4 bytes further.
    let mut probe = quoted_v4(SCANNER, RESPONDER, 17, &[]);
    probe[0] = 0x46;
    probe.extend_from_slice(&[0x94, 0x04, 0x00, 0x00]);
    probe.extend_from_slice(&udp(41_000, 161));
    let frame = unreachable_v4_frame(RESPONDER, SCANNER, 3, &probe);
    let keys = decode_header(1, &frame).keys;
    assert_eq!(
        keys.unreachable(),
        Some(Unreachable::Port {
            protocol: L4::Udp,
            port: 161
        })
    );
    assert_eq!(decode_header(1, &frame[..69]).keys.unreachable(), None);
    assert!(decode_header(1, &frame[..70]).keys.unreachable().is_some());

    // A quoted non-first fragment carries no port.
    let mut probe = quoted_v4(SCANNER, RESPONDER, 17, &udp(41_000, 53));
    probe[7] = 0x20;
    let frame = unreachable_v4_frame(RESPONDER, SCANNER, 3, &probe);
    assert_eq!(decode_header(1, &frame).keys.unreachable(), None);

    // A quoted packet that is not IPv4 sets nothing.
    let mut probe = quoted_v4(SCANNER, RESPONDER, 17, &udp(41_000, 53));
    probe[0] = 0x65;
    let frame = unreachable_v4_frame(RESPONDER, SCANNER, 1, &probe);
    let keys = decode_header(1, &frame).keys;
    assert_eq!(keys.icmp_code(), Some(1));
    assert_eq!(keys.unreachable(), None);
}

#[test]
fn raw_ipv4_header_protocol() {
    let probe = quoted_v4(SCANNER, RESPONDER, 17, &udp(41_000, 514));
    let frame = unreachable_v4_frame(RESPONDER, SCANNER, 3, &probe);
    let keys = decode_header(11, &frame[14..]).keys;
    assert_eq!(text(&keys, Key::IcmpUnreachablePort), s("udp_514"));
    assert_eq!(keys.mac_source(), None);
}

const RESPONDER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10);
const SCANNER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x66);

/// The probe an ICMPv6 error quotes: IPv6 header, a destination-options header, then `l4`.
fn quoted_v6(protocol: u8, l4: &[u8]) -> Vec<u8> {
    let mut b = ipv6(SCANNER6, RESPONDER6, 60, 57, 8 + l4.len() as u16);
    b.extend_from_slice(&[protocol, 0, 1, 4, 0, 0, 0, 0]);
    b.extend_from_slice(l4);
    b
}

#[test]
fn ipv6_every_code() {
    let udp_probe = quoted_v6(17, &udp(41_000, 53));
    let tcp_probe = quoted_v6(6, &tcp(41_000, 22, 0x02));
    let esp_probe = quoted_v6(50, &[0, 0, 0, 1, 0, 0, 0, 1]);
    for code in 0..=7u8 {
        for (probe, name) in [
            (&udp_probe, "udp"),
            (&tcp_probe, "tcp"),
            (&esp_probe, "esp"),
        ] {
            let frame = unreachable_v6_frame(RESPONDER6, SCANNER6, code, probe);
            let keys = decode_header(1, &frame).keys;
            assert_eq!(text(&keys, Key::Ip6Source), s("2001:db8:1::10"));
            assert_eq!(text(&keys, Key::Ip6Destination), s("2001:db8:2::66"));
            assert_eq!(text(&keys, Key::IpSource), None);
            assert_eq!(text(&keys, Key::IpProtocol), s("58"));
            assert_eq!(text(&keys, Key::IcmpType), s("1"));
            assert_eq!(text(&keys, Key::IcmpCode), Some(code.to_string()));
            let want: [Option<String>; 4] = match (code, name) {
                (0, _) => [s("2001:db8:1::10"), None, None, None],
                (3, _) => [None, s("2001:db8:1::10"), None, None],
                (4, "udp") => [None, None, None, s("udp_53")],
                (4, "tcp") => [None, None, None, s("tcp_22")],
                _ => [None, None, None, None],
            };
            assert_eq!(unreachable_texts(&keys), want, "code {code} {name}");
        }
    }
}

#[test]
fn ipv6_every_truncation() {
    // Ethernet 14 + IPv6 40 + ICMPv6 8 = 62 where the quoted header starts; its destination
    // ends at 102; its destination-options header spans 102..110; the port ends at 114.
    let probe = quoted_v6(17, &udp(41_000, 53));
    for (code, needed) in [(0u8, 102usize), (3, 102), (4, 114)] {
        let frame = unreachable_v6_frame(RESPONDER6, SCANNER6, code, &probe);
        for n in 0..=frame.len() {
            let keys = decode_header(1, &frame[..n]).keys;
            assert_eq!(keys.icmp_type().is_some(), n >= 56, "code {code} len {n}");
            assert_eq!(
                keys.unreachable().is_some(),
                n >= needed,
                "code {code} len {n}"
            );
        }
    }
}

#[test]
fn icmpv6_type_1_inside_ipv4_is_not_unreachable() {
    // ICMPv4 type 1 is unassigned; ICMPv6 codes must not leak into IPv4.
    let probe = quoted_v4(SCANNER, RESPONDER, 17, &udp(41_000, 53));
    let msg = icmp(1, 4, &probe);
    let mut frame = ethernet(0x0800, None);
    frame.extend_from_slice(&ipv4(RESPONDER, SCANNER, 1, 64, msg.len() as u16));
    frame.extend_from_slice(&msg);
    let keys = decode_header(1, &frame).keys;
    assert_eq!(keys.icmp_type(), Some(1));
    assert_eq!(keys.unreachable(), None);
    // And ICMPv4 type 3 inside IPv6 (next header 1) is not decoded as ICMP at all.
    let msg = icmp(3, 3, &probe);
    let mut frame = ethernet(0x86DD, None);
    frame.extend_from_slice(&ipv6(RESPONDER6, SCANNER6, 1, 64, msg.len() as u16));
    frame.extend_from_slice(&msg);
    let keys = decode_header(1, &frame).keys;
    assert_eq!(keys.icmp_type(), None);
    assert_eq!(keys.unreachable(), None);
}

// ---- The same messages inside whole sFlow datagrams, through the receive fast path. ----

const AGENT: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 3);

/// One datagram whose flow samples carry `headers` `(header_protocol, frame, snap length)`.
fn datagram(headers: &[(u32, Vec<u8>, usize)]) -> Vec<SampleRecord> {
    let mut d = Datagram::new(AGENT, 7, 42, 123_456);
    for (i, (protocol, frame, snap)) in headers.iter().enumerate() {
        let sample = FlowSample {
            sequence: i as u32 + 1,
            source_id: 12,
            sampling_rate: 4096,
            input: 12,
            output: 0x3FFF_FFFF,
            ..FlowSample::default()
        };
        d.flow_sample(
            sample,
            &[
                extended_switch(30, 30),
                sampled_header(*protocol, frame, frame.len() as u32 + 4, *snap),
            ],
        );
    }
    let bytes = d.finish();
    let mut out = visit::Collected::default();
    let header = decode_datagram(&bytes, 0, &mut out).expect("valid datagram");
    assert_eq!(header.sample_count as usize, headers.len());
    assert_eq!(
        out.flows.len(),
        headers.len(),
        "every flow sample delivered"
    );
    out.records()
}

fn rec_text(r: &SampleRecord, key: Key) -> Option<String> {
    r.key(key).map(|v| v.to_string())
}

#[test]
fn datagram_with_every_ipv4_code() {
    let udp_probe = quoted_v4(SCANNER, RESPONDER, 17, &udp(41_000, 161));
    let tcp_probe = quoted_v4(SCANNER, RESPONDER, 6, &tcp(41_000, 3389, 0x02));
    let headers: Vec<(u32, Vec<u8>, usize)> = vec![
        (
            1,
            unreachable_v4_frame(RESPONDER, SCANNER, 0, &udp_probe),
            128,
        ),
        (
            1,
            unreachable_v4_frame(RESPONDER, SCANNER, 1, &udp_probe),
            128,
        ),
        (
            1,
            unreachable_v4_frame(RESPONDER, SCANNER, 2, &tcp_probe),
            128,
        ),
        (
            1,
            unreachable_v4_frame(RESPONDER, SCANNER, 3, &udp_probe),
            128,
        ),
        (
            1,
            unreachable_v4_frame(RESPONDER, SCANNER, 3, &tcp_probe),
            128,
        ),
        (
            1,
            unreachable_v4_frame(RESPONDER, SCANNER, 13, &udp_probe),
            128,
        ),
        // Cut by the agent 1 byte before the end of the quoted destination port.
        (
            1,
            unreachable_v4_frame(RESPONDER, SCANNER, 3, &udp_probe),
            65,
        ),
        // Raw IPv4 (header protocol 11), as hsflowd sends it.
        (
            11,
            unreachable_v4_frame(RESPONDER, SCANNER, 3, &udp_probe)[14..].to_vec(),
            128,
        ),
    ];
    let records = datagram(&headers);
    let want: [[Option<&str>; 4]; 8] = [
        [Some("192.0.2.10"), None, None, None],
        [None, Some("192.0.2.10"), None, None],
        [None, None, Some("6"), None],
        [None, None, None, Some("udp_161")],
        [None, None, None, Some("tcp_3389")],
        [None, None, None, None],
        [None, None, None, None],
        [None, None, None, Some("udp_161")],
    ];
    for (i, (r, want)) in records.iter().zip(want).enumerate() {
        assert_eq!(r.agent, std::net::IpAddr::V4(AGENT));
        assert_eq!(r.sampling_rate(), 4096);
        assert_eq!(r.data_source(), 12);
        assert_eq!(rec_text(r, Key::InputIfIndex), s("12"));
        assert_eq!(rec_text(r, Key::OutputIfIndex), None, "internal interface");
        assert_eq!(rec_text(r, Key::IpSource), s("192.0.2.10"), "sample {i}");
        assert_eq!(rec_text(r, Key::IpDestination), s("198.51.100.66"));
        assert_eq!(rec_text(r, Key::IcmpType), s("3"));
        let got = [
            rec_text(r, Key::IcmpUnreachableNet),
            rec_text(r, Key::IcmpUnreachableHost),
            rec_text(r, Key::IcmpUnreachableProtocol),
            rec_text(r, Key::IcmpUnreachablePort),
        ];
        let want = want.map(|w| w.map(str::to_string));
        assert_eq!(got, want, "sample {i}");
    }
    // The raw-IPv4 sample has no link layer.
    assert_eq!(rec_text(&records[7], Key::MacSource), None);
    assert!(rec_text(&records[0], Key::MacSource).is_some());
}

#[test]
fn datagram_with_every_ipv6_code() {
    let udp_probe = quoted_v6(17, &udp(41_000, 53));
    let tcp_probe = quoted_v6(6, &tcp(41_000, 443, 0x02));
    let frame = |code, probe: &[u8]| unreachable_v6_frame(RESPONDER6, SCANNER6, code, probe);
    let headers: Vec<(u32, Vec<u8>, usize)> = vec![
        (1, frame(0, &udp_probe), 128),
        (1, frame(1, &udp_probe), 128),
        (1, frame(3, &udp_probe), 128),
        (1, frame(4, &udp_probe), 128),
        (1, frame(4, &tcp_probe), 128),
        // Cut inside the quoted destination-options header: the port is unknown.
        (1, frame(4, &udp_probe), 108),
        // Raw IPv6 (header protocol 12).
        (12, frame(4, &tcp_probe)[14..].to_vec(), 128),
    ];
    let records = datagram(&headers);
    let want: [[Option<&str>; 4]; 7] = [
        [Some("2001:db8:1::10"), None, None, None],
        [None, None, None, None],
        [None, Some("2001:db8:1::10"), None, None],
        [None, None, None, Some("udp_53")],
        [None, None, None, Some("tcp_443")],
        [None, None, None, None],
        [None, None, None, Some("tcp_443")],
    ];
    for (i, (r, want)) in records.iter().zip(want).enumerate() {
        assert_eq!(
            rec_text(r, Key::Ip6Source),
            s("2001:db8:1::10"),
            "sample {i}"
        );
        assert_eq!(rec_text(r, Key::Ip6Destination), s("2001:db8:2::66"));
        assert_eq!(rec_text(r, Key::IcmpType), s("1"));
        let got = [
            rec_text(r, Key::IcmpUnreachableNet),
            rec_text(r, Key::IcmpUnreachableHost),
            rec_text(r, Key::IcmpUnreachableProtocol),
            rec_text(r, Key::IcmpUnreachablePort),
        ];
        let want = want.map(|w| w.map(str::to_string));
        assert_eq!(got, want, "sample {i}");
    }
}
