//! `blast` against the receive engine over loopback: the counters of both ends reconcile,
//! and the generator's streams show no sequence loss unless the kernel dropped datagrams.

mod rx_support;

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use flowsift::blast::{blast, BlastArgs, BlastCounters};
use flowsift::rx::IoMode;

use rx_support::*;

fn blast_into(io: IoMode, gro: bool) {
    let mut cfg = config(io, vec![0, 1]);
    cfg.gro = gro;
    let (h, _) = start(cfg, 2, true);
    let mut a = BlastArgs::to(h.addr);
    a.agents = 8;
    a.count = Some(20_000);
    a.rate = Some(100_000.0);
    a.quiet = true;
    let sent = blast(&a, &AtomicBool::new(false), &BlastCounters::default()).unwrap();
    assert_eq!(sent.datagrams, 20_000);
    wait_for(&h.rx, Duration::from_secs(10), |s| {
        s.totals.datagrams + s.kernel_drops * if gro { 64 } else { 1 } >= sent.datagrams
    });
    let (stats, items) = h.finish();
    let t = &stats.totals;
    if gro {
        // The kernel counts a dropped coalesced receive once, whatever it held (at most
        // 64 datagrams): drops bound the loss from both sides.
        assert!(
            t.datagrams + stats.kernel_drops <= sent.datagrams
                && sent.datagrams <= t.datagrams + 64 * stats.kernel_drops,
            "{}",
            stats.report()
        );
    } else {
        assert_eq!(
            t.datagrams + stats.kernel_drops,
            sent.datagrams,
            "{}",
            stats.report()
        );
    }
    assert_eq!(t.decode_errors(), 0);
    assert_eq!(stats.agents.len(), 8);
    let loss = stats.agent_totals();
    assert_eq!(loss.received, t.datagrams);
    // Sequence numbers reveal every kernel drop except those at the very end of a stream.
    assert!(loss.lost <= stats.kernel_drops, "{}", stats.report());
    assert_eq!(loss.out_of_order + loss.duplicates, 0);
    if stats.kernel_drops == 0 {
        assert_eq!(loss.lost, 0);
        assert_eq!(t.flow_samples, sent.flow_samples);
        assert_eq!(t.counter_samples, sent.counter_samples);
        let (samples, agent_drops) = stats.source_totals();
        assert_eq!(samples.lost, 0);
        assert_eq!(agent_drops, 0);
    }
    assert_eq!(items.len() as u64, t.routed);
    assert_eq!(t.routed + t.ring_drops, t.flow_samples);
    // blast sends with UDP GSO: a GRO socket takes each send as one coalesced receive
    // (split and counted per datagram above), a plain socket one datagram at a time.
    if gro {
        assert!(t.coalesced > 0, "{}", stats.report());
    } else {
        assert_eq!(t.coalesced, 0);
    }
}

#[test]
fn blast_reconciles_uring() {
    blast_into(IoMode::Uring, true);
}

#[test]
fn blast_reconciles_recvmmsg() {
    blast_into(IoMode::Recvmmsg, true);
}

#[test]
fn blast_reconciles_uring_without_gro() {
    blast_into(IoMode::Uring, false);
}

#[test]
fn blast_reconciles_recvmmsg_without_gro() {
    blast_into(IoMode::Recvmmsg, false);
}
