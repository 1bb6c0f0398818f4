//! Loss accounting, allowlist, full rings, hostile datagrams and kernel-drop reconciliation,
//! over loopback, on both I/O paths.

mod rx_support;

use std::net::{IpAddr, UdpSocket};
use std::time::Duration;

use flowsift::rx::{AgentKey, IoMode, RxConfig};
use flowsift::synth::{
    header_protocol, DatagramBuilder, FlowSampleHeader, FrameSpec, RecordSpec, Transport,
};

use rx_support::*;

const AGENT: &str = "192.0.2.10";

/// Datagram `seq` of the test agent: two flow samples from data source 3, whose sample
/// sequence numbers follow the datagram's (2 per datagram) and whose `drops` field grows
/// by one per datagram.
fn datagram(seq: u32, uptime: u32) -> Vec<u8> {
    let agent: IpAddr = AGENT.parse().unwrap();
    let frame = FrameSpec::new(
        "10.0.0.1".parse().unwrap(),
        "10.0.0.2".parse().unwrap(),
        Transport::Tcp {
            src_port: 1000 + seq as u16,
            dst_port: 443,
            flags: 0x10,
        },
    )
    .to_ethernet();
    let mut b = DatagramBuilder::new(agent, 0, seq, uptime);
    for k in 0..2 {
        let h = FlowSampleHeader {
            sequence: seq * 2 + k,
            source_type: 0,
            source_index: 3,
            sampling_rate: 1000,
            sample_pool: seq * 2000,
            drops: seq,
            input: 3,
            output: 4,
            wide_interfaces: None,
        };
        b.flow_sample(
            &h,
            &[RecordSpec::SampledHeader {
                protocol: header_protocol::ETHERNET,
                frame_length: frame.len() as u32,
                stripped: 0,
                header: &frame,
            }],
        );
    }
    b.finish()
}

fn sequence_accounting(io: IoMode) {
    // 1..=100 with 10 and 20 never sent, 32 before 31, 50 twice; then the agent restarts.
    let mut order: Vec<u32> = (1..=100).filter(|s| *s != 10 && *s != 20).collect();
    let i31 = order.iter().position(|&s| s == 31).unwrap();
    order.swap(i31, i31 + 1);
    let i50 = order.iter().position(|&s| s == 50).unwrap();
    order.insert(i50 + 1, 50);
    let mut datagrams: Vec<Vec<u8>> = order.iter().map(|&s| datagram(s, 100_000 + s)).collect();
    for s in 1..=5 {
        datagrams.push(datagram(s, 10 + s));
    }
    let (h, _) = start(config(io, vec![0]), 2, true);
    send_all("127.0.0.1:0", h.addr, &datagrams);
    let n = datagrams.len() as u64;
    wait_for(&h.rx, Duration::from_secs(10), |s| s.totals.datagrams >= n);
    let (stats, items) = h.finish();
    assert_eq!(stats.totals.datagrams, n);
    assert_eq!(stats.kernel_drops, 0);
    let key = AgentKey {
        agent: AGENT.parse().unwrap(),
        sub_agent: 0,
    };
    let a = stats
        .agents
        .iter()
        .find(|a| a.key == Some(key))
        .expect("agent tracked");
    // 98 distinct datagrams before the restart, 5 after.
    assert_eq!(a.datagrams.received, 98 + 5, "{}", stats.report());
    assert_eq!(a.datagrams.lost, 2);
    assert_eq!(a.datagrams.out_of_order, 1);
    assert_eq!(a.datagrams.duplicates, 1);
    assert_eq!(a.restarts, 1);
    let src = &stats.sources[0];
    assert_eq!(src.samples.lost, 4, "two samples per lost datagram");
    assert_eq!(src.samples.duplicates, 2);
    // drops grows 1 per datagram: 1..=100 then restart at 1..=5 (counted from the new base).
    assert_eq!(src.agent_drops, 99 + 4);
    assert_eq!(items.len() as u64, stats.totals.flow_samples);
    assert_eq!(stats.totals.flow_samples, 2 * n);
}

#[test]
fn sequence_accounting_uring() {
    sequence_accounting(IoMode::Uring);
}

#[test]
fn sequence_accounting_recvmmsg() {
    sequence_accounting(IoMode::Recvmmsg);
}

#[test]
fn allowlist_drops_before_decoding() {
    for io in [IoMode::Uring, IoMode::Recvmmsg] {
        let cfg = RxConfig {
            allowlist: vec!["127.0.0.2/32".parse().unwrap()],
            ..config(io, vec![0])
        };
        let (h, _) = start(cfg, 1, true);
        let datagrams: Vec<Vec<u8>> = (1..=20).map(|s| datagram(s, s)).collect();
        // 127.0.0.1 is outside the list, 127.0.0.2 inside (both loopback on Linux).
        send_all("127.0.0.1:0", h.addr, &datagrams);
        send_all("127.0.0.2:0", h.addr, &datagrams[..5]);
        wait_for(&h.rx, Duration::from_secs(10), |s| s.totals.datagrams >= 25);
        let (stats, items) = h.finish();
        assert_eq!(stats.totals.datagrams, 25);
        assert_eq!(stats.totals.denied, 20, "{io:?}");
        assert_eq!(stats.totals.flow_samples, 10);
        assert_eq!(items.len(), 10);
        assert_eq!(stats.agents.len(), 1, "denied datagrams are not decoded");
    }
}

#[test]
fn full_ring_is_counted_not_blocking() {
    for io in [IoMode::Uring, IoMode::Recvmmsg] {
        let cfg = RxConfig {
            ring_capacity: 8,
            // One datagram's samples per push, so the ring fills to exactly 8.
            batch: 2,
            ..config(io, vec![0])
        };
        // Consumers held, never drained.
        let (h, held) = start(cfg, 1, false);
        let datagrams: Vec<Vec<u8>> = (1..=200).map(|s| datagram(s, s)).collect();
        send_all("127.0.0.1:0", h.addr, &datagrams);
        let s = wait_for(&h.rx, Duration::from_secs(10), |s| {
            s.totals.datagrams >= 200
        });
        assert_eq!(
            s.totals.datagrams, 200,
            "receiving went on with a full ring"
        );
        let (stats, _) = h.finish();
        let t = &stats.totals;
        assert_eq!(t.flow_samples, 400);
        assert_eq!(t.routed, 8, "the ring took what fitted");
        assert_eq!(t.routed + t.ring_drops, t.flow_samples);
        assert_eq!(held[0].len(), 8);
    }
}

#[test]
fn hostile_datagrams_never_stop_the_threads() {
    for io in [IoMode::Uring, IoMode::Recvmmsg] {
        // Without GRO, so the 1024-byte buffers apply (GRO buffers hold 64 KiB).
        let cfg = RxConfig {
            buffer_size: 1024,
            gro: false,
            ..config(io, vec![0])
        };
        let (h, _) = start(cfg, 1, true);
        let good = datagram(1, 1);
        let mut hostile: Vec<Vec<u8>> = vec![
            vec![],
            vec![0; 3],
            vec![0, 0, 0, 5],
            vec![0xFF; 900],
            vec![0, 0, 0, 5, 0, 0, 0, 9, 1, 2, 3, 4],
        ];
        // Every truncation of a real datagram, and each byte flipped.
        for cut in 0..good.len() {
            hostile.push(good[..cut].to_vec());
        }
        for i in 0..good.len() {
            let mut d = good.clone();
            d[i] ^= 0xFF;
            hostile.push(d);
        }
        // Sample count and lengths at their maximum.
        let mut d = good.clone();
        d[24..28].copy_from_slice(&[0xFF; 4]);
        d[32..36].copy_from_slice(&[0x7F, 0xFF, 0xFF, 0xFF]);
        hostile.push(d);
        // Longer than a receive buffer: truncated, counted, not decoded.
        hostile.push(vec![0; 2000]);
        let n = hostile.len() as u64;
        send_all("127.0.0.1:0", h.addr, &hostile);
        send_all("127.0.0.1:0", h.addr, &[datagram(2, 2)]);
        let s = wait_for(&h.rx, Duration::from_secs(10), |s| s.totals.datagrams > n);
        assert_eq!(s.totals.datagrams, n + 1, "{io:?}: the thread is alive");
        let (stats, _) = h.finish();
        assert_eq!(stats.totals.truncated, 1);
        assert!(stats.totals.decode_errors() > 0);
        assert!(
            stats.totals.flow_samples >= 2,
            "the good datagram after them decoded"
        );
    }
}

#[test]
fn kernel_drops_reconcile() {
    for io in [IoMode::Uring, IoMode::Recvmmsg] {
        // A tiny receive buffer, and a burst far bigger than it, while the thread is busy
        // is likely to drop; whatever happens, sent = received + kernel drops.
        let cfg = RxConfig {
            rcvbuf_bytes: 4096,
            uring_buffers: 16,
            recvmmsg_batch: 4,
            ..config(io, vec![0])
        };
        let (h, _) = start(cfg, 1, true);
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let d = datagram(1, 1);
        let sent = 3000u64;
        for _ in 0..sent {
            tx.send_to(&d, h.addr).unwrap();
        }
        let s = wait_for(&h.rx, Duration::from_secs(10), |s| {
            s.totals.datagrams + s.kernel_drops >= sent
        });
        let (stats, _) = h.finish();
        eprintln!(
            "{io:?}: {} received, {} kernel drops",
            stats.totals.datagrams, stats.kernel_drops
        );
        assert_eq!(
            stats.totals.datagrams + stats.kernel_drops,
            sent,
            "{io:?}: {}",
            stats.report()
        );
        assert_eq!(s.totals.datagrams + s.kernel_drops, sent);
        assert_eq!(
            stats.sockets.iter().map(|s| s.kernel_drops).sum::<u64>(),
            stats.kernel_drops
        );
    }
}
