//! The decoder bench's synthetic loads beyond [`super::frames::synthetic_1400`], one per
//! record layout real agents send, each a 64-datagram set of about 1400-byte datagrams.
//!
//! Used by `benches/decode.rs` (through `#[path]` to this folder's `mod.rs`) and
//! `tests/decode_walk.rs`, beside `frames.rs` (`super::frames`), so that the bench measures exactly the
//! layouts the differential test checks.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::frames::{
    ethernet, extended_switch, ipv4, ipv6, sampled_header, tcp, udp, Datagram, FlowSample, Record,
};

/// A layout's name and its 64 datagrams.
pub type Load = (&'static str, Vec<Vec<u8>>);

/// Every synthetic layout load: switch record first (Open vSwitch), expanded samples with
/// four records, IPv6 sampled headers from an IPv6 agent, and counter-heavy datagrams.
pub fn all() -> Vec<Load> {
    vec![
        ("switch-first", (0..64).map(switch_first).collect()),
        ("expanded-4", (0..64).map(expanded_four).collect()),
        ("ipv6", (0..64).map(ipv6_headers).collect()),
        ("counters", (0..64).map(counter_heavy).collect()),
    ]
}

/// Sample `i` of datagram `seed`: its fields and an Ethernet/IPv4 (or IPv6) TCP-or-UDP frame
/// cut at 128 bytes, half of them 802.1Q-tagged, the addresses and ports varied.
fn sample(seed: u32, i: u32, v6: bool) -> (FlowSample, Vec<u8>, (u8, u16, u16)) {
    let n = seed.wrapping_mul(7).wrapping_add(i);
    let (proto, l4) = match n % 3 {
        0 => (6, tcp(40_000 + (n % 1000) as u16, 443, 0x10)),
        1 => (17, udp(53, 30_000 + (n % 5000) as u16)),
        _ => (6, tcp(22, 50_000 + (n % 100) as u16, 0x18)),
    };
    let vlan = (n % 2 == 0).then_some(100 + (n % 50) as u16);
    let mut frame = if v6 {
        let src = Ipv6Addr::from(0x2001_0db8_0000_0000_0000_0000_0000_0000u128 | u128::from(n));
        let dst = Ipv6Addr::from(0x2001_0db8_0001_0000_0000_0000_0000_0000u128 | u128::from(n));
        let mut f = ethernet(0x86DD, vlan);
        f.extend_from_slice(&ipv6(src, dst, proto, 64, 1400));
        f
    } else {
        let src = Ipv4Addr::from(0x0A00_0000 | (n.wrapping_mul(2_654_435_761) & 0xFFFF));
        let dst = Ipv4Addr::from(0xC0A8_0000 | (n & 0xFFFF));
        let mut f = ethernet(0x0800, vlan);
        f.extend_from_slice(&ipv4(src, dst, proto, 64, 1400));
        f
    };
    frame.extend_from_slice(&l4);
    frame.resize(1518, 0xA5);
    let s = FlowSample {
        sequence: n,
        source_id: 3 + i,
        input: 3 + i,
        output: 40 + i,
        ..FlowSample::default()
    };
    let ports = (proto, 40_000 + (n % 1000) as u16, 443);
    (s, frame, ports)
}

/// Open vSwitch's order: 6 compact samples, each an extended-switch record before the
/// sampled header (1324 bytes).
pub fn switch_first(seed: u32) -> Vec<u8> {
    let mut d = Datagram::new(Ipv4Addr::new(10, 0, 0, 2), 0, seed, 1000 + seed);
    for i in 0..6 {
        let (s, frame, _) = sample(seed, i, false);
        d.flow_sample(
            s,
            &[
                extended_switch(100, 200),
                sampled_header(1, &frame, 1518, 128),
            ],
        );
    }
    d.finish()
}

/// A sampled Ethernet record (format 2): length, source and destination MAC, EtherType.
fn sampled_ethernet(frame: &[u8]) -> Record {
    let mut body = 1518u32.to_be_bytes().to_vec();
    body.extend_from_slice(&frame[6..12]);
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(&frame[0..6]);
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(&0x0800u32.to_be_bytes());
    Record::Opaque { tag: 2, body }
}

/// A sampled IPv4 record (format 3): length, protocol, addresses, ports, TCP flags, TOS.
fn sampled_ipv4(frame: &[u8], (proto, sport, dport): (u8, u16, u16)) -> Record {
    let ip = if frame[12] == 0x81 { 18 } else { 14 };
    let mut body = Vec::new();
    for w in [1500, u32::from(proto)] {
        body.extend_from_slice(&w.to_be_bytes());
    }
    body.extend_from_slice(&frame[ip + 12..ip + 20]);
    for w in [u32::from(sport), u32::from(dport), 0x10, 0] {
        body.extend_from_slice(&w.to_be_bytes());
    }
    Record::Opaque { tag: 3, body }
}

/// Several vendors' expanded samples: 4 expanded samples (format 3), each with four
/// records: sampled header, sampled Ethernet, extended switch, sampled IPv4 (1260 bytes).
pub fn expanded_four(seed: u32) -> Vec<u8> {
    let mut d = Datagram::new(Ipv4Addr::new(10, 0, 0, 3), 0, seed, 1000 + seed);
    for i in 0..4 {
        let (s, frame, ports) = sample(seed, i, false);
        d.expanded_flow_sample(
            s,
            &[
                sampled_header(1, &frame, 1518, 128),
                sampled_ethernet(&frame),
                extended_switch(100, 200),
                sampled_ipv4(&frame, ports),
            ],
        );
    }
    d.finish()
}

/// An IPv6 agent's flow samples: 6 compact samples of Ethernet/IPv6/TCP-or-UDP headers,
/// each with an extended-switch record after the header (1336 bytes).
pub fn ipv6_headers(seed: u32) -> Vec<u8> {
    let agent = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    let mut d = Datagram::new_v6(agent, 0, seed, 1000 + seed);
    for i in 0..6 {
        let (s, frame, _) = sample(seed, i, true);
        d.flow_sample(
            s,
            &[
                sampled_header(1, &frame, 1518, 128),
                extended_switch(100, 200),
            ],
        );
    }
    d.finish()
}

/// A counter record: generic interface (format 1, 88 bytes) or Ethernet (format 2, 52).
fn counter_record(format: u32, len: usize, seed: u32) -> Record {
    let body = (0..len / 4)
        .flat_map(|w| (seed.wrapping_mul(31).wrapping_add(w as u32)).to_be_bytes())
        .collect();
    Record::Opaque { tag: format, body }
}

/// What an IPv6 agent on a quiet link sends: 2 flow samples and 5 counter samples (generic
/// interface and Ethernet counters) per datagram (1304 bytes).
pub fn counter_heavy(seed: u32) -> Vec<u8> {
    let agent = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
    let mut d = Datagram::new_v6(agent, 0, seed, 1000 + seed);
    for i in 0..7 {
        if i % 4 == 0 {
            let (s, frame, _) = sample(seed, i, true);
            d.flow_sample(s, &[sampled_header(1, &frame, 1518, 128)]);
        } else {
            d.counter_sample(
                seed * 7 + i,
                i,
                &[counter_record(1, 88, i), counter_record(2, 52, i)],
            );
        }
    }
    d.finish()
}
