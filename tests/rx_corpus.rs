//! Every corpus datagram sent over loopback arrives, is decoded and counted exactly once,
//! and every flow sample reaches exactly one worker: on both I/O paths.

mod packet_support;
mod rx_support;
use packet_support::{corpus, visit};

use std::time::Duration;

use flowsift::record::SampleRecord;
use flowsift::rx::IoMode;
use flowsift::sflow::decode_datagram;

use rx_support::*;

fn sorted(mut v: Vec<SampleRecord>) -> Vec<String> {
    let mut s: Vec<String> = v
        .iter_mut()
        .map(|r| {
            r.received_ns = 0;
            format!("{r:?}")
        })
        .collect();
    s.sort();
    s
}

fn corpus_once(io: IoMode, cores: Vec<usize>) {
    let datagrams: Vec<Vec<u8>> = corpus::datagrams().into_iter().map(|d| d.bytes).collect();
    assert_eq!(datagrams.len(), 1067, "corpus datagrams");
    // What decoding the corpus in-process yields, to compare with what the receiver counted.
    let (mut expect, mut header_errors) = (visit::Collected::default(), 0);
    for d in &datagrams {
        if decode_datagram(d, 0, &mut expect).is_err() {
            header_errors += 1;
        }
    }
    let expect_flows: Vec<SampleRecord> = expect
        .records()
        .into_iter()
        .map(|r| r.with_received_ns(0))
        .collect();
    let (h, _) = start(config(io, cores), 3, true);
    let bytes: u64 = datagrams.iter().map(|d| d.len() as u64).sum();
    send_all("127.0.0.1:0", h.addr, &datagrams);
    let n = datagrams.len() as u64;
    wait_for(&h.rx, Duration::from_secs(10), |s| {
        s.totals.datagrams + s.kernel_drops >= n
    });
    let (stats, items, got) = h.finish_with_records();
    let t = &stats.totals;
    assert_eq!(stats.kernel_drops, 0, "{}", stats.report());
    assert_eq!(t.datagrams, n, "every datagram counted once");
    assert_eq!(t.bytes, bytes);
    assert_eq!(t.flow_samples, expect_flows.len() as u64);
    assert_eq!(t.counter_samples, expect.counters.len() as u64);
    assert_eq!(t.discard_samples, expect.discards.len() as u64);
    assert_eq!(t.sample_errors.total(), expect.errors.len() as u64);
    assert_eq!(t.header_errors.total(), header_errors);
    assert_eq!(t.ring_drops, 0);
    assert_eq!(t.routed, expect_flows.len() as u64);
    assert!(stats.threads.iter().all(|th| th.io == io), "{stats:?}");
    assert_eq!(items.len(), got.len());
    assert_eq!(sorted(got), sorted(expect_flows), "same samples, each once");
    assert_eq!(
        (t.flow_samples, t.counter_samples, t.discard_samples),
        (6009, 553, 6),
        "(flow, counter, discard) samples of the corpus"
    );
}

#[test]
fn corpus_over_uring() {
    corpus_once(IoMode::Uring, vec![0]);
}

#[test]
fn corpus_over_recvmmsg() {
    corpus_once(IoMode::Recvmmsg, vec![0]);
}

#[test]
fn corpus_over_two_threads() {
    corpus_once(IoMode::Uring, vec![0, 1]);
}
