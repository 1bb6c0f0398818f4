//! Tunnelled sampled headers, cut at every length and mutated by seeded byte flips, through
//! the receive fast path (`decode_datagram`), the general walk it must agree with
//! (`decode_datagram_general`), the `sflowtool -l` line formatter and the JSON formatter:
//! no panic, the same records on both paths (tunnel levels included), and the keys of the
//! levels inside a tunnel agreeing with `decode_header` on the sampled bytes.
//!
//! The frames: VXLAN, Geneve (Ethernet and IPv4 inside, with options), GRE with checksum,
//! key and sequence (IPv4 inside), NVGRE, IP-in-IP and IPv6-in-IP, over IPv4 and IPv6, tagged
//! and untagged, VXLAN nested three and four deep; the tenant frame an ICMP port unreachable.

mod packet_support;
mod run_support;
use packet_support::{frames, visit};

use std::net::{Ipv4Addr, Ipv6Addr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use flowsift::decode_tool::{json, line};
use flowsift::packet::decode_header;
use flowsift::sflow::{decode_datagram, decode_datagram_general, Datagram};
use flowsift::synth::Rng;
use frames::*;
use visit::Collected;

/// Every tunnelled frame of the test, with its name.
fn tunnel_frames() -> Vec<(String, Vec<u8>)> {
    let tenant = run_support::unreachable("10.0.201.2", "10.0.201.1", 17, 20014);
    let tenant_ip = tenant[14..].to_vec();
    let mut t6 = ipv6(
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2),
        6,
        64,
        20,
    );
    t6.extend_from_slice(&tcp(40000, 22, 0x02));
    let cat = |a: &[u8], b: &[u8]| [a, b].concat();
    let inner: Vec<(&str, u8, Vec<u8>)> = vec![
        ("vxlan", 17, udp_to(4789, &cat(&vxlan(10001), &tenant))),
        (
            "geneve",
            17,
            udp_to(6081, &cat(&geneve(77, 0x6558, 8), &tenant)),
        ),
        (
            "geneve-ip",
            17,
            udp_to(6081, &cat(&geneve(78, 0x0800, 0), &tenant_ip)),
        ),
        (
            "gre",
            47,
            cat(&gre(0x0800, true, Some(12345), Some(7)), &tenant_ip),
        ),
        (
            "nvgre",
            47,
            cat(&gre(0x6558, false, Some(0x2A00), None), &tenant),
        ),
        ("ipip", 4, tenant_ip.clone()),
        ("ip6ip", 41, t6.clone()),
    ];
    let mut out = Vec::new();
    for (name, proto, payload) in &inner {
        for vlan in [None, Some(42)] {
            out.push((
                format!("{name}/ipv4/{vlan:?}"),
                over_ipv4(
                    Ipv4Addr::new(192, 0, 2, 1),
                    Ipv4Addr::new(192, 0, 2, 2),
                    *proto,
                    vlan,
                    payload,
                ),
            ));
            out.push((
                format!("{name}/ipv6/{vlan:?}"),
                over_ipv6(
                    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
                    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
                    *proto,
                    vlan,
                    payload,
                ),
            ));
        }
    }
    let mut nested = tenant.clone();
    for depth in 1..=4 {
        nested = vxlan_frame(depth, &nested);
        out.push((format!("vxlan x{depth}"), nested.clone()));
    }
    out
}

/// One sampled header through every decoder, checked.
fn exercise(frame: &[u8]) -> Result<(), String> {
    let d = run_support::datagram("192.0.2.10", 1, 3, &[frame.to_vec(), frame.to_vec()]);
    let mut fast = Collected::default();
    let _ = decode_datagram(&d, 0, &mut fast);
    let mut general = Collected::default();
    let _ = decode_datagram_general(&d, 0, &mut general);
    let (fast, general) = (fast.records(), general.records());
    if fast != general {
        return Err(format!("paths disagree: {fast:?} vs {general:?}"));
    }
    let want = decode_header(1, frame);
    for r in &fast {
        if r.keys.depth() != want.keys.depth() {
            return Err(format!("depth {} vs {}", r.keys.depth(), want.keys.depth()));
        }
        for level in 0..=want.keys.depth() {
            if r.level_keys(level) != want.level_keys(level) {
                return Err(format!("level {level} differs"));
            }
        }
    }
    if let Ok(dg) = Datagram::new_checked(&d) {
        let mut out = String::new();
        for s in dg.samples().flatten() {
            let _ = line::sample_line(dg.header().agent, &s, &mut out);
        }
    }
    let mut out = String::new();
    let _ = json::datagram_lines(
        json::Origin {
            file: "tunnels",
            packet: 1,
        },
        &d,
        &mut out,
    );
    Ok(())
}

fn run(what: String, frame: &[u8], failures: &mut Vec<String>) {
    match catch_unwind(AssertUnwindSafe(|| exercise(frame))) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => failures.push(format!("{what}: {e}")),
        Err(_) => failures.push(format!("{what}: panicked")),
    }
}

#[test]
fn every_truncation_of_every_tunnel_frame() {
    let mut failures = Vec::new();
    let mut runs = 0;
    for (name, frame) in tunnel_frames() {
        for n in 0..=frame.len().min(160) {
            runs += 1;
            run(format!("{name} cut at {n}"), &frame[..n], &mut failures);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {runs}: {:#?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
}

#[test]
fn seeded_flips_of_every_tunnel_frame() {
    let mut failures = Vec::new();
    let mut runs = 0;
    for (i, (name, frame)) in tunnel_frames().into_iter().enumerate() {
        let frame = &frame[..frame.len().min(128)];
        for m in 0..1500u64 {
            let seed = ((i as u64) << 32 | m) ^ 0x9E37_79B9_7F4A_7C15;
            let mut rng = Rng(seed | 1);
            let mut b = frame.to_vec();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(b.len() as u64) as usize;
                b[at] ^= 1 << rng.below(8);
            }
            let cut = b.len() - rng.below(24) as usize;
            runs += 1;
            run(format!("{name} seed {seed:#x}"), &b[..cut], &mut failures);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {runs}: {:#?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
}
