//! Full-width data sources and interfaces, from the wire to the flow record.
//!
//! Expanded flow samples (format 3) exist because real agents use data-source indexes of
//! 2^24 and more (Cisco NX-OS ifIndexes such as 436207616 = 0x1A000000) and interface
//! values of 2^30 and more, which the compact form cannot carry. These tests build such
//! datagrams with `synth` (its expanded samples' interface words at full width) and follow
//! them through the receive fast path (`decode_datagram`), the router and a worker's shard
//! to the records: `dataSource`,
//! `inputifindex` and `outputifindex` must come out exactly as sent, and two data sources
//! that differ only above bit 24 must stay two flows.

use std::net::{IpAddr, Ipv4Addr};

use flowsift::flow::{builtin, FlowDefinitions, FlowEvent, FlowSpec, Router, Shard};
use flowsift::flow::{Route, WorkItem};
use flowsift::packet::{Key, KeyValue};
use flowsift::record::SampleRecord;
use flowsift::sflow::decode_datagram;
use flowsift::synth::{
    header_protocol, DatagramBuilder, FlowSampleHeader, FrameSpec, Original, RecordSpec, Transport,
    WideInterfaces,
};

mod packet_support;
use packet_support::visit;

const AGENT: Ipv4Addr = Ipv4Addr::new(10, 20, 30, 40);
const RESPONDER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const SCANNER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 66);
const NXOS_IFINDEX: u32 = 0x1A00_0000;
const T0: u64 = 1_764_000_000_000;

/// One expanded flow sample, every field spelled out: data source (type, index), input
/// and output interfaces as (format, value) pairs, and one sampled-header record holding
/// an ICMP port unreachable for UDP port `port`.
struct Expanded {
    source: (u8, u32),
    input: (u32, u32),
    output: (u32, u32),
    port: u16,
}

/// A datagram from [`AGENT`] holding `samples`, each an expanded flow sample.
fn datagram(samples: &[Expanded]) -> Vec<u8> {
    let mut b = DatagramBuilder::new(IpAddr::V4(AGENT), 0, 77, 123_456);
    for s in samples {
        let frame = FrameSpec::new(
            IpAddr::V4(RESPONDER),
            IpAddr::V4(SCANNER),
            Transport::Unreachable {
                code: 3,
                original: Original {
                    src: IpAddr::V4(SCANNER),
                    dst: IpAddr::V4(RESPONDER),
                    protocol: 17,
                    src_port: 40000,
                    dst_port: s.port,
                },
            },
        )
        .to_ethernet();
        let h = FlowSampleHeader {
            sequence: 9,
            source_type: s.source.0,
            source_index: s.source.1,
            sampling_rate: 2048,
            sample_pool: 100_000,
            wide_interfaces: Some(WideInterfaces {
                input_format: s.input.0,
                input_value: s.input.1,
                output_format: s.output.0,
                output_value: s.output.1,
            }),
            ..FlowSampleHeader::default()
        };
        b.expanded_flow_sample(
            &h,
            &[RecordSpec::SampledHeader {
                protocol: header_protocol::ETHERNET,
                frame_length: frame.len() as u32 + 4,
                stripped: 4,
                header: &frame[..frame.len().min(128)],
            }],
        );
    }
    b.finish()
}

fn expanded_sample(
    source: (u8, u32),
    input: (u32, u32),
    output: (u32, u32),
    port: u16,
) -> Expanded {
    Expanded {
        source,
        input,
        output,
        port,
    }
}

fn decode(bytes: &[u8]) -> Vec<SampleRecord> {
    let mut out = visit::Collected::default();
    decode_datagram(bytes, 1, &mut out).expect("valid datagram");
    out.records()
}

/// Route every record and apply it on the owning worker's shard; the records emitted.
fn run(specs: &[FlowSpec], records: &[SampleRecord]) -> Vec<FlowEvent> {
    const WORKERS: usize = 2;
    let defs = FlowDefinitions::from_specs(specs).unwrap();
    let mut router = Router::new(&defs, WORKERS);
    let mut shards: Vec<Shard> = (0..WORKERS).map(|_| Shard::new(&defs, WORKERS)).collect();
    let mut events = Vec::new();
    for r in records {
        let mut items: Vec<(usize, WorkItem)> = Vec::new();
        router.route(r, &mut |w, flow| items.push((w, WorkItem::new(r, flow))));
        for (w, item) in items {
            shards[w].apply(&[item], T0, &mut |_, e| events.push(e));
        }
    }
    events
}

fn by_interfaces() -> FlowSpec {
    toml::from_str(
        "name = \"ifs\"\nkeys = \"inputifindex,outputifindex,ipsource\"\nlog = true\nflowStart = true",
    )
    .unwrap()
}

#[test]
fn expanded_sample_keeps_every_bit_of_source_and_interfaces() {
    let bytes = datagram(&[expanded_sample(
        (0, NXOS_IFINDEX),
        (0, 0x4000_0005),
        (0, 0xFFFF_FFF0),
        53,
    )]);
    let records = decode(&bytes);
    assert_eq!(records.len(), 1);
    let r = records[0];
    assert_eq!((r.source_type(), r.source_index()), (0, NXOS_IFINDEX));
    assert_eq!(r.data_source(), NXOS_IFINDEX);
    assert_eq!(
        r.key(Key::InputIfIndex),
        Some(KeyValue::Number(0x4000_0005))
    );
    assert_eq!(
        r.key(Key::OutputIfIndex),
        Some(KeyValue::Number(0xFFFF_FFF0))
    );

    let events = run(&[builtin("uport").unwrap(), by_interfaces()], &records);
    assert_eq!(events.len(), 2, "{events:?}");
    for e in &events {
        assert_eq!(e.data_source, NXOS_IFINDEX, "{}", e.name);
        assert_eq!(e.agent, IpAddr::V4(AGENT));
    }
    let ifs = events.iter().find(|e| &*e.name == "ifs").unwrap();
    assert_eq!(ifs.flow_keys(), "1073741829,4294967280,192.0.2.10");
    let uport = events.iter().find(|e| &*e.name == "uport").unwrap();
    assert_eq!(uport.flow_keys(), "192.0.2.10,198.51.100.66,udp_53");
}

#[test]
fn data_sources_differing_above_bit_24_are_separate_flows() {
    // Same agent, same key; data sources 0x1A000000 and 0x1B000000 share their low 24 bits.
    let bytes = datagram(&[
        expanded_sample((0, NXOS_IFINDEX), (0, 1), (0, 2), 161),
        expanded_sample((0, 0x1B00_0000), (0, 1), (0, 2), 161),
        expanded_sample((0, NXOS_IFINDEX), (0, 1), (0, 2), 161),
    ]);
    let events = run(&[builtin("uport").unwrap()], &decode(&bytes));
    let sources: Vec<u32> = events.iter().map(|e| e.data_source).collect();
    assert_eq!(
        sources,
        vec![NXOS_IFINDEX, 0x1B00_0000],
        "one flowStart per data source"
    );
}

#[test]
fn non_index_interface_formats_lack_the_ifindex_keys() {
    // Input: discarded (format 1, reason 0x4000_0000); output: internal (0, 0x3FFFFFFF);
    // then an output of "multiple" (format 2) and one with a format no spec defines.
    for (input, output) in [
        ((1, 0x4000_0000), (0, 0x3FFF_FFFF)),
        ((0, 7), (2, 4)),
        ((0, 7), (0x1_0000, 7)),
    ] {
        let records = decode(&datagram(&[expanded_sample(
            (0, NXOS_IFINDEX),
            input,
            output,
            53,
        )]));
        let r = records[0];
        assert_eq!(
            r.key(Key::InputIfIndex),
            (input.0 == 0).then_some(KeyValue::Number(input.1))
        );
        assert_eq!(r.key(Key::OutputIfIndex), None, "{output:?}");
        let events = run(&[by_interfaces()], &records);
        assert!(events.is_empty(), "a sample lacking a key does not match");
    }
}
