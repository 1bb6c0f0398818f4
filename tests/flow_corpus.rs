//! Real datagrams through the whole flow engine: seven corpus captures (1000 datagrams from
//! an HP switch, and others with several agents, UDP, expanded samples and IPv6) are
//! decoded, routed over two receive threads to three workers, and mixed with hand-built
//! ICMP unreachable samples. The expected flows come from `sflowtool -l`'s
//! output for the same capture (an independent decoder), not from flowsift's own decoder.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::IpAddr;

use flowsift::capture::{for_each_datagram, PortFilter};
use flowsift::flow::{
    builtin, Clock, FlowDefinitions, FlowEvent, FlowSpec, ManualClock, Router, WorkerConfig,
    Workers,
};
use flowsift::flow::{Route, WorkItem};
use flowsift::packet::{Unreachable, L4};
use flowsift::record::SampleRecord;
use flowsift::ring::{ring, Consumer, Producer};
use flowsift::sflow::decode_datagram;

mod packet_support;
use packet_support::visit;

const T0: u64 = 1_764_000_000_000;

fn corpus_records(file: &str) -> Vec<SampleRecord> {
    let path = flowsift::testdata::corpus_file(file);
    let mut out = visit::Collected::default();
    if file.ends_with(".pcap") {
        for_each_datagram(File::open(path).unwrap(), PortFilter::Any, |_, datagram| {
            let _ = decode_datagram(datagram, 0, &mut out);
        })
        .unwrap();
    } else {
        let datagram = std::fs::read(path).unwrap();
        let _ = decode_datagram(&datagram, 0, &mut out);
    }
    out.records()
}

/// Captures with varied, well-formed traffic (several agents, TCP and UDP, expanded
/// samples, IPv6 inside): their flow samples all carry a sampled header.
const FILES: [&str; 7] = [
    "overflowd/sflow.pcap",
    "gopacket/SFlowTestPacket1.pcap",
    "telegraf/inputs.sflow-removed/decoder_test_TestIPv4SWRT.bin",
    "telegraf/inputs.sflow-removed/decoder_test_TestIPv4SW.bin",
    "flowparser-sflow/real_data_test_real_large_datagram_eight_samples.bin",
    "telegraf/inputs.sflow-removed/decoder_test_TestIPv6SW.bin",
    "goflow2/sflow_test_TestExpandedSFlowDecode.bin",
];

/// `sflowtool -l` FLOW lines as field vectors.
fn sflowtool_flows(file: &str) -> Vec<Vec<String>> {
    let mut path = flowsift::testdata::corpus_file(file).into_os_string();
    path.push(".sflowtool-l.txt");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("FLOW,"))
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

fn unreachable_port(agent: &str, responder: &str, scanner: &str, port: u16) -> SampleRecord {
    let mut r = corpus_records("overflowd/sflow.pcap")[0];
    r.agent = agent.parse().unwrap();
    r.keys.set_ip_source(Some(responder.parse().unwrap()));
    r.keys.set_ip_destination(Some(scanner.parse().unwrap()));
    r.keys.set_ip_protocol(Some(1));
    r.keys.set_tcp_source_port(None);
    r.keys.set_tcp_destination_port(None);
    r.keys.set_tcp_flags(None);
    r.keys.set_icmp_type(Some(3));
    r.keys.set_icmp_code(Some(3));
    r.keys.set_unreachable(Some(Unreachable::Port {
        protocol: L4::Udp,
        port,
    }));
    r
}

fn spec(text: &str) -> FlowSpec {
    toml::from_str(text).unwrap()
}

#[test]
fn corpus_and_unreachable_samples_give_the_exact_flows() {
    let records: Vec<SampleRecord> = FILES.iter().flat_map(|f| corpus_records(f)).collect();
    let tool: Vec<Vec<String>> = FILES.iter().flat_map(|f| sflowtool_flows(f)).collect();
    assert_eq!(
        records.len(),
        tool.len(),
        "one record per sflowtool FLOW line"
    );
    assert_eq!(records.len(), 5882, "flow samples of the seven captures");

    let specs = vec![
        builtin("uport").unwrap(),
        spec(
            "name = \"pairs\"\nkeys = \"ipsource,ipdestination\"\nlog = true\n\
             flowStart = true\nscope = \"fabric\"",
        ),
        spec(
            // Fabric scope: `agent` is a key already, and in agent scope the same keys
            // seen under two data sources (egress sampling) would be two flows, which
            // sflowtool's lines cannot tell apart.
            "name = \"volume\"\nkeys = \"agent,inputifindex,ipprotocol\"\nvalue = \"bytes\"\n\
             log = true\nscope = \"fabric\"",
        ),
        spec(
            "name = \"web\"\nkeys = \"tcpdestinationport\"\nlog = true\nflowStart = true\n\
             filter = \"ipprotocol=6&tcpdestinationport=80,443|tcpsourceport=80,443\"\nscope = \"fabric\"",
        ),
    ];
    let defs = FlowDefinitions::from_specs(&specs).unwrap();
    let (receivers, workers) = (2, 3);
    let mut rings: Vec<Vec<Producer<WorkItem>>> = (0..receivers).map(|_| Vec::new()).collect();
    let mut inputs: Vec<Vec<Consumer<WorkItem>>> = (0..workers).map(|_| Vec::new()).collect();
    for rx in rings.iter_mut() {
        for input in inputs.iter_mut() {
            let (p, c) = ring(16_384);
            rx.push(p);
            input.push(c);
        }
    }
    let (outputs, mut events_in): (Vec<_>, Vec<_>) = (0..workers).map(|_| ring(16_384)).unzip();
    let config = WorkerConfig {
        cores: vec![None; workers],
        clock: Clock::Manual(ManualClock::new(T0)),
        ..WorkerConfig::default()
    };
    let running = Workers::spawn(&defs, config, inputs, outputs).unwrap();
    let mut routers: Vec<Router> = (0..receivers)
        .map(|_| Router::new(&defs, workers))
        .collect();

    // The scan: two responders answer one scanner, seen by two switches; plus a repeat.
    let scan = [
        unreachable_port("192.0.2.1", "10.1.0.1", "10.9.9.9", 53),
        unreachable_port("192.0.2.1", "10.1.0.2", "10.9.9.9", 53),
        unreachable_port("192.0.2.2", "10.1.0.1", "10.9.9.9", 53),
        unreachable_port("192.0.2.1", "10.1.0.1", "10.9.9.9", 53),
    ];
    let mut all = records.clone();
    for (i, s) in scan.iter().enumerate() {
        all.insert(1000 * (i + 1), *s);
    }
    for (n, r) in all.iter().enumerate() {
        let rx = n % receivers;
        let producers = &mut rings[rx];
        routers[rx].route(r, &mut |w, flow| {
            let item = WorkItem::new(r, flow);
            // Bounded: the workers drain while we push; give up after a while.
            let mut item = Some(item);
            for _ in 0..1_000_000 {
                match producers[w].push(item.take().unwrap()) {
                    Ok(()) => break,
                    Err(back) => {
                        item = Some(back);
                        std::thread::yield_now();
                    }
                }
            }
            assert!(item.is_none(), "ring stayed full");
        });
    }
    drop(rings);
    let joined = running.join();
    assert_eq!(joined.panicked, 0);
    let mut events: Vec<FlowEvent> = Vec::new();
    for c in events_in.iter_mut() {
        while let Some(e) = c.pop() {
            events.push(e);
        }
    }
    let by =
        |name: &str| -> Vec<&FlowEvent> { events.iter().filter(|e| &*e.name == name).collect() };

    // uport: exactly the scan's three (responder, scanner, port, agent) flows.
    let uport: BTreeSet<(String, IpAddr)> = by("uport")
        .iter()
        .map(|e| (e.flow_keys(), e.agent))
        .collect();
    let want: BTreeSet<(String, IpAddr)> = [
        ("10.1.0.1,10.9.9.9,udp_53", "192.0.2.1"),
        ("10.1.0.2,10.9.9.9,udp_53", "192.0.2.1"),
        ("10.1.0.1,10.9.9.9,udp_53", "192.0.2.2"),
    ]
    .iter()
    .map(|(k, a)| (k.to_string(), a.parse().unwrap()))
    .collect();
    assert_eq!(uport, want);
    assert_eq!(by("uport").len(), 3);

    // pairs (fabric scope, flowStart): one record per distinct IPv4 pair sflowtool saw,
    // plus the scan's two pairs.
    let mut want_pairs: BTreeSet<String> = tool
        .iter()
        .filter(|f| f[9].parse::<std::net::Ipv4Addr>().is_ok())
        .map(|f| format!("{},{}", f[9], f[10]))
        .collect();
    want_pairs.insert("10.1.0.1,10.9.9.9".into());
    want_pairs.insert("10.1.0.2,10.9.9.9".into());
    assert!(want_pairs.len() > 20, "{}", want_pairs.len());
    let pairs: Vec<String> = by("pairs").iter().map(|e| e.flow_keys()).collect();
    assert_eq!(
        pairs.len(),
        want_pairs.len(),
        "no duplicates across workers"
    );
    assert_eq!(pairs.into_iter().collect::<BTreeSet<_>>(), want_pairs);

    // volume (end of flow, flushed at shutdown): bytes = frame length × sampling rate,
    // summed per (agent, input ifIndex, protocol), as sflowtool's fields give them.
    let mut want_volume: BTreeMap<String, f64> = BTreeMap::new();
    for f in &tool {
        let input: u32 = f[2].parse().unwrap();
        let bytes: f64 = f[17].parse::<f64>().unwrap() * f[19].parse::<f64>().unwrap();
        *want_volume
            .entry(format!("{},{},{}", f[1], input, f[11]))
            .or_default() += bytes;
    }
    let frame = records[0].frame_length() as f64;
    let rate = records[0].sampling_rate() as f64;
    for s in &scan {
        *want_volume
            .entry(format!("{},{},1", s.agent, s.input() & 0x3FFF_FFFF))
            .or_default() += frame * rate;
    }
    let volume: BTreeMap<String, f64> = by("volume")
        .iter()
        .map(|e| (e.flow_keys(), e.value))
        .collect();
    assert_eq!(by("volume").len(), volume.len());
    assert!(want_volume.len() > 10, "{}", want_volume.len());
    assert_eq!(volume, want_volume);

    // web: the filter keeps TCP samples to or from ports 80/443; one record per
    // destination port among them.
    let want_web: BTreeSet<String> = tool
        .iter()
        .filter(|f| {
            // The filter reads (tcp & dport in {80,443}) | sport in {80,443}; the
            // tcp*port keys exist only for TCP samples, so this is tcp & (either port).
            let tcp = f[11] == "6";
            let web = |p: &String| p == "80" || p == "443";
            tcp && (web(&f[15]) || web(&f[14]))
        })
        .map(|f| f[15].clone())
        .collect();
    assert!(
        want_web.len() >= 2,
        "the capture has web traffic: {want_web:?}"
    );
    let web: BTreeSet<String> = by("web").iter().map(|e| e.flow_keys()).collect();
    assert_eq!(web, want_web);
    assert_eq!(by("web").len(), want_web.len());

    let stats = joined.stats;
    let total: u64 = stats.definitions.iter().map(|d| d.events_dropped).sum();
    assert_eq!(total, 0);
    let uport_stats = &stats.definitions[0];
    assert_eq!(uport_stats.samples_matched, 4);
}
