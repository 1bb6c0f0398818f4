//! The decoder bench's synthetic loads beyond [`super::frames::synthetic_1400`], one per
//! record layout real agents send, each a 64-datagram set of about 1400-byte datagrams.
//!
//! Used by `benches/decode.rs` (through `#[path]` to this folder's `mod.rs`) and
//! `tests/decode_walk.rs`, beside `frames.rs` (`super::frames`), so that the bench measures exactly the
//! layouts the differential test checks.

use std::net::{Ipv4Addr, Ipv6Addr};

use flowsift::synth::{EthernetCounters, GenericInterface, RecordSpec};

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

/// A sampled Ethernet record (format 2) of `frame`: its length, source and destination
/// MAC, EtherType.
fn sampled_ethernet(frame: &[u8]) -> Record {
    let mac = |at: usize| -> [u8; 6] { frame[at..at + 6].try_into().expect("6 bytes") };
    Record::Spec(RecordSpec::SampledEthernet {
        length: 1518,
        src_mac: mac(6),
        dst_mac: mac(0),
        eth_type: 0x0800,
    })
}

/// A sampled IPv4 record (format 3) of `frame`'s addresses and these ports: length 1500,
/// TCP flags 0x10 (ACK), TOS 0.
fn sampled_ipv4(frame: &[u8], (proto, sport, dport): (u8, u16, u16)) -> Record {
    let ip = if frame[12] == 0x81 { 18 } else { 14 };
    let address = |at: usize| -> Ipv4Addr {
        <[u8; 4]>::try_from(&frame[ip + at..ip + at + 4])
            .expect("4 bytes")
            .into()
    };
    Record::Spec(RecordSpec::SampledIpv4 {
        length: 1500,
        protocol: u32::from(proto),
        src: address(12),
        dst: address(16),
        src_port: u32::from(sport),
        dst_port: u32::from(dport),
        tcp_flags: 0x10,
        tos: 0,
    })
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

/// Word `k` of counter record `seed`'s fields, in their wire order: every word differs.
fn counter_word(seed: u32, k: u32) -> u32 {
    seed.wrapping_mul(31).wrapping_add(k)
}

/// Generic interface counters (format 1, 88 bytes) whose words are [`counter_word`]s.
fn generic_interface(seed: u32) -> Record {
    let w = |k| counter_word(seed, k);
    let w64 = |k| (u64::from(w(k)) << 32) | u64::from(w(k + 1));
    Record::Spec(RecordSpec::GenericInterface(GenericInterface {
        if_index: w(0),
        if_type: w(1),
        if_speed: w64(2),
        if_direction: w(4),
        if_status: w(5),
        in_octets: w64(6),
        in_ucast: w(8),
        in_multicast: w(9),
        in_broadcast: w(10),
        in_discards: w(11),
        in_errors: w(12),
        in_unknown_protos: w(13),
        out_octets: w64(14),
        out_ucast: w(16),
        out_multicast: w(17),
        out_broadcast: w(18),
        out_discards: w(19),
        out_errors: w(20),
        promiscuous: w(21),
    }))
}

/// Ethernet interface counters (format 2, 52 bytes) whose words are [`counter_word`]s.
fn ethernet_counters(seed: u32) -> Record {
    let w = |k| counter_word(seed, k);
    Record::Spec(RecordSpec::EthernetCounters(EthernetCounters {
        alignment_errors: w(0),
        fcs_errors: w(1),
        single_collision_frames: w(2),
        multiple_collision_frames: w(3),
        sqe_test_errors: w(4),
        deferred_transmissions: w(5),
        late_collisions: w(6),
        excessive_collisions: w(7),
        internal_mac_transmit_errors: w(8),
        carrier_sense_errors: w(9),
        frame_too_longs: w(10),
        internal_mac_receive_errors: w(11),
        symbol_errors: w(12),
    }))
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
                &[generic_interface(i), ethernet_counters(i)],
            );
        }
    }
    d.finish()
}
