//! The corpus files in `tests/data/sflow/flowsift-synth/`: datagrams no agent at hand
//! produces (QinQ, raw IPv4 headers, extended router and gateway records, the discarded,
//! local and multiple output interface forms, a VXLAN-encapsulated frame), written with the
//! project's encoder (`flowsift::synth`) and wrapped in classic pcap files.
//!
//! The test checks that the committed files are exactly what this generator makes. To
//! regenerate them after changing it:
//!
//! ```text
//! FLOWSIFT_WRITE_SYNTH=1 cargo test --release --test synth_corpus
//! ```
//!
//! then refresh their tshark expectations (`tests/data/sflow/tshark-fields.sh FILE`) and the
//! README's rows; `tests/decode_corpus.rs` checks flowsift's decoding of them against tshark.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use flowsift::synth::{
    header_protocol, tcp_flags, AsPathSegment, DatagramBuilder, FlowSampleHeader, FrameSpec,
    RecordSpec, Transport,
};

const AGENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
/// Capture time of every packet (2026-01-01T00:00:00Z), so the files never change.
const TIME: u32 = 1_767_225_600;

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().expect("IPv6 literal"))
}

/// A sampled-header record as a switch sends it: at most 128 bytes of the frame, whose
/// length counts the 4-byte FCS the agent stripped.
fn sampled(protocol: u32, frame: &[u8]) -> RecordSpec<'_> {
    RecordSpec::SampledHeader {
        protocol,
        frame_length: frame.len() as u32
            + if protocol == header_protocol::ETHERNET {
                4
            } else {
                0
            },
        stripped: if protocol == header_protocol::ETHERNET {
            4
        } else {
            0
        },
        header: &frame[..frame.len().min(128)],
    }
}

fn sample(sequence: u32, input: u32, output: u32) -> FlowSampleHeader {
    FlowSampleHeader {
        sequence,
        source_type: 0,
        source_index: input & 0x3FFF_FFFF,
        sampling_rate: 1024,
        sample_pool: 1024 * sequence,
        drops: 0,
        input,
        output,
        wide_interfaces: None,
    }
}

/// Extended router (format 1002): next hop, source and destination prefix lengths.
fn router(next_hop: IpAddr, src_mask_len: u32, dst_mask_len: u32) -> RecordSpec<'static> {
    RecordSpec::ExtendedRouter {
        next_hop,
        src_mask_len,
        dst_mask_len,
    }
}

/// AS path segment types (RFC 4271 section 4.3).
const AS_SET: u32 = 1;
const AS_SEQUENCE: u32 = 2;

/// Extended gateway (format 1003): next hop, own AS, source AS, source peer AS, the
/// destination AS path, communities, local preference.
fn gateway<'a>(
    next_hop: IpAddr,
    [as_number, src_as, src_peer_as]: [u32; 3],
    as_path: &'a [AsPathSegment<'a>],
    communities: &'a [u32],
    local_pref: u32,
) -> RecordSpec<'a> {
    RecordSpec::ExtendedGateway {
        next_hop,
        as_number,
        src_as,
        src_peer_as,
        as_path,
        communities,
        local_pref,
    }
}

/// A TCP SYN frame carrying `payload` zero bytes.
fn tcp(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: u16) -> FrameSpec {
    let mut f = FrameSpec::new(
        src,
        dst,
        Transport::Tcp {
            src_port: sport,
            dst_port: dport,
            flags: tcp_flags::SYN,
        },
    );
    f.payload_len = payload;
    f
}

/// 802.1ad service tag 1062 and 802.1Q customer tag 1493 inserted after the MAC addresses.
fn qinq(frame: &[u8]) -> Vec<u8> {
    let mut out = frame[..12].to_vec();
    out.extend_from_slice(&[0x88, 0xA8]);
    out.extend_from_slice(&1062u16.to_be_bytes());
    out.extend_from_slice(&[0x81, 0x00]);
    out.extend_from_slice(&1493u16.to_be_bytes());
    out.extend_from_slice(&frame[12..]);
    out
}

/// Ethernet / IPv4 / UDP to port 4789 / VXLAN (VNI 4242) around `inner`.
fn vxlan(inner: &[u8]) -> Vec<u8> {
    let mut outer = FrameSpec::new(
        v4(192, 0, 2, 50),
        v4(192, 0, 2, 51),
        Transport::Udp {
            src_port: 49_152,
            dst_port: 4789,
        },
    );
    outer.payload_len = (8 + inner.len()) as u16;
    let mut f = outer.to_ethernet();
    // The zero payload becomes the VXLAN header (flags: VNI present) and the inner frame.
    let at = f.len() - outer.payload_len as usize;
    f.truncate(at);
    f.extend_from_slice(&[0x08, 0, 0, 0]);
    f.extend_from_slice(&(4242u32 << 8).to_be_bytes());
    f.extend_from_slice(inner);
    f
}

/// Every generated file: its name under `flowsift-synth/` and its datagrams.
fn generate() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let client = v4(192, 0, 2, 33);
    let server = v4(198, 51, 100, 7);
    let client6 = v6("2001:db8:1::10");
    let server6 = v6("2001:db8:2::20");
    let mut files = Vec::new();

    // QinQ: an expanded flow sample whose frame carries two VLAN tags (802.1ad + 802.1Q).
    let frame = qinq(&tcp(client, server, 55_000, 443, 1400).to_ethernet());
    let mut d = DatagramBuilder::new(AGENT, 1, 1, 60_000);
    d.expanded_flow_sample(
        &sample(1, 1_000, 2_000),
        &[
            sampled(header_protocol::ETHERNET, &frame),
            RecordSpec::ExtendedSwitch {
                src_vlan: 1062,
                src_priority: 0,
                dst_vlan: 1062,
                dst_priority: 0,
            },
        ],
    );
    files.push(("qinq-tcp.pcap", vec![d.finish()]));

    // Header protocol 11: the sampled header is the IPv4 packet, no link layer; two ICMP
    // echo replies, input ifIndex 0 (unknown), output ifIndex 2.
    let mut d = DatagramBuilder::new(AGENT, 1, 2, 61_000);
    for seq in 1..=2 {
        let mut reply = FrameSpec::new(
            server,
            client,
            Transport::Icmp {
                icmp_type: 0,
                code: 0,
            },
        );
        reply.payload_len = 56;
        let mut ip = Vec::new();
        reply.write_ip(&mut ip);
        d.flow_sample(&sample(seq, 0, 2), &[sampled(header_protocol::IPV4, &ip)]);
    }
    files.push(("raw-ipv4-icmp.pcap", vec![d.finish()]));

    // A router's view: TCP over IPv6 and over IPv4, each with extended switch, router and
    // gateway (BGP) records.
    let mut d = DatagramBuilder::new(AGENT, 1, 3, 62_000);
    let frame6 = tcp(client6, server6, 50_022, 22, 200).to_ethernet();
    let router6 = router(v6("2001:db8::1"), 48, 64);
    let gateway6 = gateway(
        v6("2001:db8::1"),
        [65_001, 65_010, 65_020],
        &[AsPathSegment {
            segment_type: AS_SEQUENCE,
            asns: &[65_020, 65_030],
        }],
        &[(65_001 << 16) | 100],
        100,
    );
    d.flow_sample(
        &sample(1, 7, 9),
        &[
            sampled(header_protocol::ETHERNET, &frame6),
            RecordSpec::ExtendedSwitch {
                src_vlan: 10,
                src_priority: 0,
                dst_vlan: 20,
                dst_priority: 0,
            },
            router6,
            gateway6,
        ],
    );
    let frame4 = tcp(client, server, 50_443, 443, 1000).to_ethernet();
    let router4 = router(v4(192, 0, 2, 254), 24, 24);
    let gateway4 = gateway(
        v4(192, 0, 2, 254),
        [65_001, 0, 65_020],
        &[
            AsPathSegment {
                segment_type: AS_SEQUENCE,
                asns: &[65_020],
            },
            AsPathSegment {
                segment_type: AS_SET,
                asns: &[64_512, 64_513],
            },
        ],
        &[],
        200,
    );
    d.flow_sample(
        &sample(2, 7, 9),
        &[
            sampled(header_protocol::ETHERNET, &frame4),
            RecordSpec::ExtendedSwitch {
                src_vlan: 10,
                src_priority: 0,
                dst_vlan: 20,
                dst_priority: 0,
            },
            router4,
            gateway4,
        ],
    );
    files.push(("router-gateway-ipv6-ipv4-tcp.pcap", vec![d.finish()]));

    // The output interface forms (sflow_version_5.txt "interface"): format 1, packet
    // discarded with reason 1; ifIndex 0x3FFFFFFF, the agent itself (local); format 2,
    // multiple interfaces (7). Compact samples, then the same in expanded samples.
    let mut frame = FrameSpec::new(
        client,
        server,
        Transport::Udp {
            src_port: 40_000,
            dst_port: 53,
        },
    );
    frame.payload_len = 40;
    let frame = frame.to_ethernet();
    let mut d = DatagramBuilder::new(AGENT, 1, 4, 63_000);
    let outputs = [0x4000_0001, 0x3FFF_FFFF, 0x8000_0007];
    for (i, output) in outputs.iter().enumerate() {
        d.flow_sample(
            &sample(i as u32 + 1, 3, *output),
            &[sampled(header_protocol::ETHERNET, &frame)],
        );
    }
    for (i, output) in outputs.iter().enumerate() {
        d.expanded_flow_sample(
            &sample(i as u32 + 4, 3, *output),
            &[sampled(header_protocol::ETHERNET, &frame)],
        );
    }
    files.push(("output-interfaces.pcap", vec![d.finish()]));

    // A VXLAN-encapsulated frame: IPv4/UDP 4789 outside, IPv6 ICMPv6 echo request inside.
    let mut inner = FrameSpec::new(
        client6,
        server6,
        Transport::Icmp {
            icmp_type: 128,
            code: 0,
        },
    );
    inner.payload_len = 32;
    let frame = vxlan(&inner.to_ethernet());
    let mut d = DatagramBuilder::new(AGENT, 1, 5, 64_000);
    d.flow_sample(
        &sample(1, 11, 12),
        &[sampled(header_protocol::ETHERNET, &frame)],
    );
    files.push(("vxlan-icmpv6.pcap", vec![d.finish()]));
    files
}

/// A classic pcap (microsecond, Ethernet) with each datagram sent from 192.0.2.1:6343 to
/// 192.0.2.2:6343, one second apart.
fn pcap(datagrams: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    for w in [0u32, 0, 65_535, 1] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    for (i, d) in datagrams.iter().enumerate() {
        let mut frame = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
        let total = (20 + 8 + d.len()) as u16;
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
        let sum = checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&6343u16.to_be_bytes());
        frame.extend_from_slice(&6343u16.to_be_bytes());
        frame.extend_from_slice(&((8 + d.len()) as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(d);
        for w in [TIME + i as u32, 0, frame.len() as u32, frame.len() as u32] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&frame);
    }
    out
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|p| u32::from(u16::from_be_bytes([p[0], *p.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

#[test]
fn committed_synth_captures_are_what_the_generator_makes() {
    let files = generate();
    let write = std::env::var_os("FLOWSIFT_WRITE_SYNTH").is_some();
    let mut datagrams = 0;
    for (name, content) in &files {
        datagrams += content.len();
        let bytes = pcap(content);
        let rel = format!("flowsift-synth/{name}");
        if write {
            let path = flowsift::testdata::corpus_dir().join(&rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, &bytes).expect("write");
            continue;
        }
        let committed = std::fs::read(flowsift::testdata::corpus_file(&rel)).expect("read");
        assert!(
            committed == bytes,
            "{rel} differs from what tests/synth_corpus.rs makes (FLOWSIFT_WRITE_SYNTH=1 rewrites it)"
        );
        let read = flowsift::replay::read_datagrams(&flowsift::testdata::corpus_file(&rel))
            .expect("read back");
        assert_eq!(&read, content, "{rel}: the capture holds the datagrams");
    }
    assert_eq!((files.len(), datagrams), (5, 5), "(files, datagrams)");
}
