//! Differential test of the receive walk (`decode_datagram`) against its oracle, the
//! general walk `decode_datagram_general` (views for the datagram header, a fresh record per
//! sample, every sampled header through the general layer walk).
//!
//! Both must tell a visitor exactly the same things in the same order (`same_events`), over
//! every corpus datagram, every truncation of each, seeded mutations (which mostly hit the
//! bytes the walk reads), frames of every shape near the straight-line frame decoder's edges
//! in four record layouts, and every synthetic layout the decoder bench measures (the usual
//! one, switch record first, expanded samples with four records, IPv6 headers from an IPv6
//! agent, counter-heavy datagrams, VXLAN). Every flow sample delivered must also match the
//! view API (`Datagram` -> `FlowSample` -> first `SampledHeader` -> `decode_header`).

mod packet_support;
use packet_support::events::Events;
use packet_support::{corpus, frames, layouts, visit};

use std::net::{Ipv4Addr, Ipv6Addr};

use flowsift::packet::{decode_header, PacketKeys};
use flowsift::record::interface_format;
use flowsift::sflow::{decode_datagram, decode_datagram_general, Datagram, FlowRecord, FlowSample};
use flowsift::synth::Rng;

/// What the general walk says a flow sample's record holds: (expanded, sampling rate, input
/// and output as (format, value), frame length, keys), when its first sampled header is
/// decodable; `None` when the sample has no sampled header (the keys then come from other
/// records: not this test's subject) or cannot be read.
type Expected = (bool, u32, (u8, u32), (u8, u32), u32, PacketKeys);

fn expected(datagram: &[u8], index: u32) -> Option<Expected> {
    let d = Datagram::new_checked(datagram).ok()?;
    let sample = d
        .samples()
        .find_map(|s| s.ok().filter(|s| s.index == index))?;
    let expanded = match sample.tag.0 {
        1 => false,
        3 => true,
        _ => return None,
    };
    let fs = FlowSample::new_checked(sample.data, expanded).ok()?;
    for record in fs.records() {
        let record = record.ok()?;
        if let Ok(FlowRecord::SampledHeader(h)) = FlowRecord::parse(record.tag, record.data) {
            let keys = decode_header(h.header_protocol(), h.header()).keys;
            return Some((
                expanded,
                fs.sampling_rate(),
                (interface_format(fs.input().format()), fs.input().value()),
                (interface_format(fs.output().format()), fs.output().value()),
                h.frame_length(),
                keys,
            ));
        }
    }
    None
}

/// `decode_datagram` (the receive walk) and `decode_datagram_general` (the oracle) tell a
/// visitor exactly the same things, in the same order, and return the same. Returns the
/// number of events, so that a caller can require that something was compared.
fn same_events(datagram: &[u8], what: &str) -> usize {
    let (mut walk, mut oracle) = (Events::default(), Events::default());
    let a = decode_datagram(datagram, 7, &mut walk);
    let b = decode_datagram_general(datagram, 7, &mut oracle);
    assert_eq!(a, b, "{what}: results differ");
    assert_eq!(walk, oracle, "{what}: events differ");
    walk.0.len()
}

/// Decode `datagram` both ways and compare every delivered flow sample; returns how many
/// samples were compared.
fn compare(datagram: &[u8], what: &str) -> usize {
    same_events(datagram, what);
    let mut got = visit::Collected::default();
    let _ = decode_datagram(datagram, 0, &mut got);
    let mut compared = 0;
    for (meta, record) in &got.flows {
        let Some((expanded, rate, input, output, frame_length, keys)) =
            expected(datagram, meta.index)
        else {
            continue;
        };
        assert_eq!(meta.expanded, expanded, "{what}: sample {}", meta.index);
        assert_eq!(
            (
                record.sampling_rate(),
                (record.input_format(), record.input()),
                (record.output_format(), record.output())
            ),
            (rate, input, output),
            "{what}: sample {}",
            meta.index
        );
        assert_eq!(
            record.frame_length(),
            frame_length,
            "{what}: sample {}",
            meta.index
        );
        assert_eq!(
            record.keys, keys,
            "{what}: sample {} keys differ from the general walk",
            meta.index
        );
        compared += 1;
    }
    compared
}

/// Flip a few bytes of `d`, chosen at random past the datagram header (and mostly inside
/// the sampled headers, where the fast path reads), `n` times.
fn mutations(d: &[u8], seed: u64, n: usize, mut each: impl FnMut(&[u8])) {
    let mut rng = Rng(seed | 1);
    let mut m = d.to_vec();
    for _ in 0..n {
        m.copy_from_slice(d);
        for _ in 0..1 + rng.below(3) {
            let at = 28 + rng.below(m.len().saturating_sub(28).max(1) as u64) as usize;
            if let Some(b) = m.get_mut(at) {
                *b = match rng.below(4) {
                    0 => 0,
                    1 => 0xFF,
                    2 => *b ^ (1 << rng.below(8)),
                    _ => rng.next_u64() as u8,
                };
            }
        }
        each(&m);
    }
}

#[test]
fn every_corpus_datagram_cut_at_every_length_agrees() {
    let datagrams = corpus::datagrams();
    assert_eq!(datagrams.len(), 1067, "corpus datagrams");
    let mut events = 0;
    for d in &datagrams {
        for len in 0..=d.bytes.len() {
            events += same_events(
                &d.bytes[..len],
                &format!("{} #{} cut at {len}", d.file, d.index),
            );
        }
    }
    assert!(events > 1_000_000, "{events} events compared");
}

#[test]
fn every_synthetic_layout_agrees() {
    let mut loads = layouts::all();
    loads.push(("usual", (0..64).map(frames::synthetic_1400).collect()));
    loads.push(("vxlan", (0..64).map(frames::synthetic_vxlan_1400).collect()));
    for (name, set) in &loads {
        let mut compared = 0;
        for (seed, d) in set.iter().enumerate() {
            let what = format!("{name} {seed}");
            compared += compare(d, &what);
            for len in (0..d.len()).step_by(3) {
                same_events(&d[..len], &format!("{what} cut at {len}"));
            }
            mutations(d, seed as u64, 300, |m| {
                compare(m, &format!("{what} mutated"));
            });
        }
        assert!(
            compared >= 64 * 2,
            "{name}: {compared} flow samples compared"
        );
    }
}

#[test]
fn corpus_and_its_mutations_agree() {
    let datagrams = corpus::datagrams();
    assert_eq!(datagrams.len(), 1067, "corpus datagrams");
    let mut compared = 0;
    for (i, d) in datagrams.iter().enumerate() {
        let what = format!("{} #{}", d.file, d.index);
        compared += compare(&d.bytes, &what);
        mutations(&d.bytes, i as u64, 40, |m| {
            compare(m, &what);
        });
    }
    // Every flow sample of the corpus carries a sampled header but one.
    assert_eq!(compared, 5990, "flow samples compared");
}

/// One flow sample whose sampled header is the first `snap` bytes of `frame` (header
/// protocol `proto`), in one of four record layouts: followed by an extended-switch record
/// (the usual), after one, followed by one and a second sampled header (not used), or
/// followed by a vendor record unknown to the decoder and one. From an IPv6 agent when `v6`
/// (its datagrams take a copy of the walk of their own).
fn one_sample(proto: u32, frame: &[u8], snap: usize, layout: usize, v6: bool) -> Vec<u8> {
    let mut d = if v6 {
        frames::Datagram::new_v6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 0, 1, 1)
    } else {
        frames::Datagram::new(Ipv4Addr::new(192, 0, 2, 1), 0, 1, 1)
    };
    let header = frames::sampled_header(proto, frame, 1518, snap);
    let switch = frames::extended_switch(1, 2);
    let records = match layout {
        0 => vec![header, switch],
        1 => vec![switch, header],
        2 => vec![
            header,
            switch,
            frames::sampled_header(1, &[0xEE; 64], 64, 64),
        ],
        _ => {
            let vendor = frames::Record::Opaque {
                tag: (4413 << 12) | 9,
                body: vec![0; 8],
            };
            vec![header, vendor, switch]
        }
    };
    d.flow_sample(frames::FlowSample::default(), &records);
    d.finish()
}

/// Frames at and around the fast path's edges.
fn edge_frames() -> Vec<Vec<u8>> {
    let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(198, 51, 100, 7));
    let quoted = frames::quoted_v4(b, Ipv4Addr::new(203, 0, 113, 9), 17, &frames::udp(5000, 53));
    let mut out = Vec::new();
    for vlan in [None, Some(100)] {
        for (proto, l4) in [
            (6, frames::tcp(40000, 443, 0x12)),
            (17, frames::udp(53, 30000)),
            (1, frames::icmp(3, 3, &quoted)),
            (1, frames::icmp(3, 1, &quoted)),
            (1, frames::icmp(8, 0, &[0; 8])),
            (47, vec![0; 20]),
        ] {
            let mut f = frames::ethernet(0x0800, vlan);
            f.extend_from_slice(&frames::ipv4(a, b, proto, 64, 1400));
            f.extend_from_slice(&l4);
            f.resize(160, 0xA5);
            out.push(f.clone());
            let ip = if vlan.is_some() { 18 } else { 14 };
            // A non-first fragment, a first fragment with MF set, options (IHL 6), version 6.
            for (at, byte) in [(ip + 7, 0xB9), (ip + 6, 0x20), (ip, 0x46), (ip, 0x65)] {
                let mut g = f.clone();
                g[at] = byte;
                out.push(g);
            }
        }
    }
    // QinQ and an IPv6 frame: the general walk's.
    let mut qinq = frames::ethernet(0x8100, Some(7));
    qinq[16..18].copy_from_slice(&[0x81, 0x00]);
    qinq.extend_from_slice(&[0x00, 0x08, 0x08, 0x00]);
    qinq.extend_from_slice(&frames::ipv4(a, b, 6, 64, 100));
    qinq.extend_from_slice(&frames::tcp(1, 2, 2));
    out.push(qinq);
    // IPv6: the straight line's next headers and the ones it leaves to the general walk
    // (tunnel ports, extension headers, GRE), and the same with the version or the next
    // header changed.
    let (a6, b6) = (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10),
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x20),
    );
    let mut quoted6 = frames::ipv6(b6, a6, 17, 57, 8);
    quoted6.extend_from_slice(&frames::udp(5000, 53));
    for vlan in [None, Some(100)] {
        for (next, l4) in [
            (6, frames::tcp(40000, 443, 0x12)),
            (17, frames::udp(53, 30000)),
            (17, frames::udp(53, 4789)),
            (17, frames::udp(53, 6081)),
            (58, frames::icmp(1, 4, &quoted6)),
            (58, frames::icmp(1, 3, &quoted6)),
            (58, frames::icmp(128, 0, &[0; 8])),
            (0, vec![6, 0, 1, 4, 0, 0, 0, 0]),
            (47, vec![0; 20]),
        ] {
            let mut f = frames::ethernet(0x86DD, vlan);
            f.extend_from_slice(&frames::ipv6(a6, b6, next, 64, 1400));
            f.extend_from_slice(&l4);
            f.resize(160, 0xA5);
            out.push(f.clone());
            let ip = if vlan.is_some() { 18 } else { 14 };
            // Version 4, traffic class bits, next header UDP, TCP, ICMPv6.
            for (at, byte) in [
                (ip, 0x40),
                (ip + 1, 0xF0),
                (ip + 6, 17),
                (ip + 6, 6),
                (ip + 6, 58),
            ] {
                let mut g = f.clone();
                g[at] = byte;
                out.push(g);
            }
        }
    }
    out
}

#[test]
fn edge_frames_at_every_length_agree() {
    let mut compared = 0;
    for (i, frame) in edge_frames().iter().enumerate() {
        for snap in 0..=frame.len() {
            for proto in [1, 11] {
                for (layout, v6) in (0..4).flat_map(|l| [(l, false), (l, true)]) {
                    let d = one_sample(proto, frame, snap, layout, v6);
                    let what = format!("frame {i} snap {snap} protocol {proto} v6 agent {v6}");
                    compared += compare(&d, &what);
                    if snap % 16 == 0 {
                        mutations(&d, (i * 1000 + snap) as u64, 50, |m| {
                            compare(m, &what);
                        });
                    }
                }
            }
        }
    }
    assert!(compared > 10_000, "{compared}");
}

#[test]
fn synthetic_load_agrees() {
    for seed in 0..64 {
        let d = frames::synthetic_1400(seed);
        assert_eq!(compare(&d, &format!("synthetic {seed}")), 7);
        mutations(&d, u64::from(seed), 500, |m| {
            compare(m, &format!("synthetic {seed} mutated"));
        });
    }
}
