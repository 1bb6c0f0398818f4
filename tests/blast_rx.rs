//! `blast` against the receive engine over loopback: the counters of both ends reconcile,
//! and the generator's streams show no sequence loss unless the kernel dropped datagrams.

mod rx_support;

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use flowsift::cli::blast::{blast, BlastArgs, BlastCounters};
use flowsift::rx::IoMode;

use rx_support::*;

fn blast_into(io: IoMode) {
    let (h, _) = start(config(io, vec![0, 1]), 2, true);
    let mut a = BlastArgs::to(h.addr);
    a.agents = 8;
    a.count = Some(20_000);
    a.rate = Some(100_000.0);
    a.quiet = true;
    let sent = blast(&a, &AtomicBool::new(false), &BlastCounters::default()).unwrap();
    assert_eq!(sent.datagrams, 20_000);
    wait_for(&h.rx, Duration::from_secs(10), |s| {
        s.totals.datagrams + s.kernel_drops >= sent.datagrams
    });
    let (stats, items) = h.finish();
    let t = &stats.totals;
    assert_eq!(
        t.datagrams + stats.kernel_drops,
        sent.datagrams,
        "{}",
        stats.report()
    );
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
}

#[test]
fn blast_reconciles_uring() {
    blast_into(IoMode::Uring);
}

#[test]
fn blast_reconciles_recvmmsg() {
    blast_into(IoMode::Recvmmsg);
}
