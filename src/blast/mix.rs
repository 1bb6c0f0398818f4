//! The sampled frames a blast sends: a pool drawn from the flow mix (scan answers, ICMP
//! echo, UDP, TCP; IPv4 or IPv6), each cut to the sampled header length.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::synth::{FrameSpec, Original, Rng, Transport};

use super::BlastArgs;

/// One sampled frame of the mix: the first `header_bytes` and the frame's full length.
pub(super) struct SampledFrame {
    pub(super) header: Vec<u8>,
    pub(super) frame_length: u32,
}

fn v4(rng: &mut Rng, net: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        net,
        rng.below(256) as u8,
        rng.below(256) as u8,
        1 + rng.below(254) as u8,
    ))
}

fn v6(rng: &mut Rng) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(
        0x2001,
        0xdb8,
        rng.below(16) as u16,
        0,
        0,
        0,
        rng.below(65536) as u16,
        1 + rng.below(65535) as u16,
    ))
}

/// A frame following the mix: scan answers, ICMP echo, UDP, TCP; IPv4 or IPv6.
pub(super) fn mix_frame(a: &BlastArgs, rng: &mut Rng) -> SampledFrame {
    let ipv6 = rng.unit() < a.ipv6;
    let addr = |rng: &mut Rng| if ipv6 { v6(rng) } else { v4(rng, 10) };
    let (src, dst) = (addr(rng), addr(rng));
    let r = rng.unit();
    let transport = if r < a.unreachable {
        // A host probed by the scanner answers "port unreachable" to it.
        let scanner: IpAddr = if ipv6 {
            "2001:db8:bad::7"
                .parse()
                .unwrap_or(IpAddr::V6(Ipv6Addr::LOCALHOST))
        } else {
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))
        };
        let frame = FrameSpec::new(
            src,
            scanner,
            Transport::Unreachable {
                code: if ipv6 { 4 } else { 3 },
                original: Original {
                    src: scanner,
                    dst: src,
                    protocol: if rng.below(2) == 0 { 17 } else { 6 },
                    src_port: 40_000 + rng.below(20_000) as u16,
                    dst_port: 1 + rng.below(1024) as u16,
                },
            },
        );
        return sampled(a, frame, rng);
    } else if r < a.unreachable + a.icmp {
        Transport::Icmp {
            icmp_type: if ipv6 { 128 } else { 8 },
            code: 0,
        }
    } else if r < a.unreachable + a.icmp + a.udp {
        Transport::Udp {
            src_port: 1024 + rng.below(60_000) as u16,
            dst_port: [53, 123, 443, 4789, 514][rng.below(5) as usize],
        }
    } else {
        Transport::Tcp {
            src_port: 1024 + rng.below(60_000) as u16,
            dst_port: [443, 80, 22, 8080, 3306, 6379][rng.below(6) as usize],
            flags: [0x10, 0x18, 0x02, 0x11][rng.below(4) as usize],
        }
    };
    sampled(a, FrameSpec::new(src, dst, transport), rng)
}

fn sampled(a: &BlastArgs, mut frame: FrameSpec, rng: &mut Rng) -> SampledFrame {
    frame.vlan = Some(100 + rng.below(8) as u16);
    frame.payload_len = rng.below(1400) as u16;
    let mut bytes = Vec::with_capacity(1600);
    frame.write_ethernet(&mut bytes);
    if bytes.len() < a.header_bytes {
        bytes.resize(a.header_bytes, 0);
    }
    // Plus the 4-byte FCS the agent saw on the wire (sFlow "stripped").
    let frame_length = bytes.len() as u32 + 4;
    bytes.truncate(a.header_bytes);
    SampledFrame {
        header: bytes,
        frame_length,
    }
}
