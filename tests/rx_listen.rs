//! Listening on IPv4 and IPv6 at once, and every steering mode, over loopback.

mod rx_support;

use std::time::Duration;

use flowsift::rx::{IoMode, RxConfig, Steering};
use flowsift::synth::DatagramBuilder;

use rx_support::*;

fn datagrams(n: u32) -> Vec<Vec<u8>> {
    (1..=n)
        .map(|s| DatagramBuilder::new("192.0.2.1".parse().unwrap(), 0, s, s).finish())
        .collect()
}

#[test]
fn ipv4_and_ipv6_sockets_side_by_side() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipping");
        return;
    }
    for io in [IoMode::Uring, IoMode::Recvmmsg] {
        let cfg = RxConfig {
            listen: vec!["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()],
            ..config(io, vec![0, 1])
        };
        let (h, _) = start(cfg, 1, true);
        let addrs = h.rx.local_addrs();
        assert_eq!(addrs.len(), 2, "{addrs:?}");
        let v6 = addrs.iter().find(|a| a.is_ipv6()).copied().unwrap();
        send_all("127.0.0.1:0", h.addr, &datagrams(30));
        send_all("[::1]:0", v6, &datagrams(20));
        let s = wait_for(&h.rx, Duration::from_secs(10), |s| s.totals.datagrams >= 50);
        assert_eq!(s.totals.datagrams, 50, "{io:?}");
        assert_eq!(s.sockets.len(), 4, "two threads × two addresses");
        let (stats, _) = h.finish();
        assert_eq!(stats.totals.datagrams, 50);
        assert_eq!(stats.totals.decode_errors(), 0);
    }
}

#[test]
fn every_steering_mode_receives() {
    for steering in [Steering::None, Steering::IncomingCpu, Steering::Cpu] {
        let cfg = RxConfig {
            steering,
            ..config(IoMode::Uring, vec![0, 1])
        };
        let (h, _) = start(cfg, 1, true);
        // The steering asked for is the one in place: a silent fallback to the hash would
        // still receive everything, and so would pass the rest of this test.
        assert_eq!(h.rx.steering(), steering);
        // Several senders (4-tuples), so hashing has something to spread.
        for _ in 0..4 {
            send_all("127.0.0.1:0", h.addr, &datagrams(25));
        }
        let s = wait_for(&h.rx, Duration::from_secs(10), |s| {
            s.totals.datagrams >= 100
        });
        let (stats, _) = h.finish();
        assert_eq!(s.totals.datagrams, 100, "{steering:?}");
        assert_eq!(stats.totals.datagrams, 100);
        assert_eq!(stats.threads.len(), 2);
    }
}
