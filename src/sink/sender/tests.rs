//! The sender end to end on loopback: every event of a destination's flows arrives, a TCP
//! receiver that goes away and comes back loses nothing queued, one that never comes back
//! means counted drops and a bounded shutdown, and the flush policy (lone events at once,
//! `flush_ms` company, full batches under load).

use super::*;
use crate::packet::keys::L4;
use crate::packet::{Key, KeyValue};
use crate::ring::ring;
use crate::sink::config::{Address, Transport};
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};

fn event(i: u16, name: &str) -> FlowEvent {
    FlowEvent {
        flow_id: u64::from(i),
        name: name.into(),
        keys: vec![
            (Key::IpSource, KeyValue::Ip("10.0.0.5".parse().unwrap())),
            (Key::IcmpUnreachablePort, KeyValue::Port(L4::Udp, i)),
        ]
        .into_iter()
        .map(|(k, v)| (crate::flow::FlowKey::Packet(k), v))
        .collect(),
        separator: ",".into(),
        value: 1.0,
        start_ms: 0,
        end_ms: 0,
        agent: "192.0.2.1".parse().unwrap(),
        data_source: 1,
        received_ns: monotonic_nanos(),
        event_id: 0,
        threshold: None,
    }
}

/// Poll `done` every 2 ms for at most 5 s (a test must not hang); whether it held.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    done()
}

/// A loopback receiver whose buffer holds a few full batches (the default ~200 KiB
/// drops part of a 256-datagram `sendmmsg` that arrives before the test reads).
fn udp_receiver() -> UdpSocket {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let _ = socket2::SockRef::from(&rx).set_recv_buffer_size(4 << 20);
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    rx
}

#[test]
fn udp_destination_gets_every_event_of_its_flows() {
    let rx = udp_receiver();
    let cfg = SinkConfig {
        address: Address::parse(&rx.local_addr().unwrap().to_string()).unwrap(),
        flows: vec!["uport".into()],
        hostname: Some(HostName("h".into())),
        ..SinkConfig::default()
    };
    let (mut p, c) = ring(1024);
    let sink = SyslogSink::start(&[cfg], vec![c]).unwrap();
    for i in 0..300 {
        p.push(event(i, "uport")).unwrap();
        p.push(event(i, "other")).unwrap();
    }
    let mut buf = [0u8; 2048];
    for i in 0..300 {
        let n = rx
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("event {i}: {e}; {}", sink.stats()));
        let s = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(
            s.ends_with(&format!("icmpunreachableport=\"udp_{i}\"")),
            "{s}"
        );
    }
    assert!(!sink.inputs_finished());
    drop(p);
    // The sink notices the producer is gone on its next idle pass.
    assert!(eventually(|| sink.inputs_finished()));
    let stats = sink.shutdown(Duration::from_secs(5));
    assert_eq!(stats.events, 600);
    assert_eq!(stats.unrouted, 300);
    let d = &stats.destinations[0];
    assert_eq!((d.sent, d.overflow, d.dropped, d.queued), (300, 0, 0, 0));
    assert_eq!(d.latency.count, 300);
}

#[test]
fn tcp_reconnects_and_loses_nothing_that_was_queued() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let cfg = SinkConfig {
        transport: Transport::Tcp,
        framing: crate::sink::format::Framing::Lf,
        address: Address::parse(&addr.to_string()).unwrap(),
        reconnect_min_ms: 10,
        reconnect_max_ms: 50,
        hostname: Some(HostName("h".into())),
        ..SinkConfig::default()
    };
    let (mut p, c) = ring(4096);
    let sink = SyslogSink::start(&[cfg], vec![c]).unwrap();
    let read_lines = |l: &TcpListener, n: usize| -> (Vec<String>, std::net::TcpStream) {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut lines = Vec::new();
        for _ in 0..n {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            lines.push(line);
        }
        (lines, s)
    };
    for i in 0..100 {
        p.push(event(i, "uport")).unwrap();
    }
    let (first, s) = read_lines(&l, 100);
    // The receiver goes away; events sent meanwhile wait for the next connection.
    drop(s);
    std::thread::sleep(Duration::from_millis(50));
    for i in 100..200 {
        p.push(event(i, "uport")).unwrap();
    }
    let (second, _s) = read_lines(&l, 100);
    for (i, line) in first.iter().chain(&second).enumerate() {
        assert!(line.ends_with(&format!("udp_{i}\"\n")), "{i}: {line}");
    }
    drop(p);
    let stats = sink.shutdown(Duration::from_secs(5));
    let d = &stats.destinations[0];
    assert_eq!((d.sent, d.dropped, d.overflow), (200, 0, 0));
    assert!(d.reconnects >= 1);
    // A message retried after the reconnect is in the histogram once.
    assert_eq!(d.latency.count, 200);
}

#[test]
fn receiver_that_never_comes_back_means_counted_drops_and_bounded_shutdown() {
    // Bind and close to get a port nobody listens on.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cfg = SinkConfig {
        transport: Transport::Tcp,
        address: Address::parse(&addr.to_string()).unwrap(),
        queue: std::num::NonZeroUsize::new(50).unwrap(),
        batch: std::num::NonZeroUsize::new(10).unwrap(),
        reconnect_min_ms: 10,
        reconnect_max_ms: 20,
        ..SinkConfig::default()
    };
    let (mut p, c) = ring(1024);
    let sink = SyslogSink::start(&[cfg], vec![c]).unwrap();
    for i in 0..200 {
        p.push(event(i, "uport")).unwrap();
    }
    // Until the sink has taken everything.
    assert!(
        eventually(|| sink.stats().events == 200),
        "{}",
        sink.stats()
    );
    drop(p);
    let started = Instant::now();
    let stats = sink.shutdown(Duration::from_millis(200));
    assert!(started.elapsed() < Duration::from_secs(5));
    let d = &stats.destinations[0];
    assert_eq!(d.sent, 0);
    assert!(d.overflow > 0);
    assert_eq!(d.overflow + d.dropped, 200, "{d:?}");
    assert_eq!(d.queued, 0);
    assert!(d.errors > 0 && !d.connected);
}

/// Events pushed one at a time, each only after the previous one arrived, with pauses
/// that let every thread park: each goes out alone and at once. A lost wake-up in the
/// dispatcher would hold an event for its whole park (1 s).
#[test]
fn lone_events_leave_at_once_in_their_own_send() {
    // One destination reads the rings itself; two go through the dispatcher.
    for destinations in [1, 2] {
        let receivers: Vec<UdpSocket> = (0..destinations).map(|_| udp_receiver()).collect();
        let cfgs: Vec<SinkConfig> = receivers
            .iter()
            .enumerate()
            .map(|(k, rx)| SinkConfig {
                name: format!("s{k}"),
                address: Address::parse(&rx.local_addr().unwrap().to_string()).unwrap(),
                hostname: Some(HostName("h".into())),
                ..SinkConfig::default()
            })
            .collect();
        assert_eq!(
            cfgs[0].flush_ms, 0,
            "the default sends as soon as the queue is empty"
        );
        let (mut p, c) = ring(64);
        let sink = SyslogSink::start(&cfgs, vec![c]).unwrap();
        let mut buf = [0u8; 2048];
        for i in 0..30u16 {
            std::thread::sleep(Duration::from_millis(u64::from(2 + i * 7 % 15)));
            p.push(event(i, "uport")).unwrap();
            for rx in &receivers {
                let n = rx
                    .recv(&mut buf)
                    .unwrap_or_else(|e| panic!("event {i}: {e}; {}", sink.stats()));
                let s = std::str::from_utf8(&buf[..n]).unwrap();
                assert!(s.ends_with(&format!("\"udp_{i}\"")), "{s}");
            }
        }
        drop(p);
        let stats = sink.shutdown(Duration::from_secs(5));
        for d in &stats.destinations {
            assert_eq!((d.sent, d.batches), (30, 30), "{d:?}");
            // The histogram's maximum: event creation (`received_ns`) to the send call.
            let worst = Duration::from_micros(d.latency.max_us);
            assert!(
                worst < Duration::from_millis(500),
                "{destinations} destinations: an event waited {worst:?}"
            );
        }
    }
}

/// With `flush_ms` > 0 a batch that is not full waits for company until `flush_ms`
/// after its first event, then goes, so nothing is stranded.
#[test]
fn flush_ms_gathers_company_then_sends() {
    let rx = udp_receiver();
    let cfg = SinkConfig {
        address: Address::parse(&rx.local_addr().unwrap().to_string()).unwrap(),
        hostname: Some(HostName("h".into())),
        flush_ms: 300,
        ..SinkConfig::default()
    };
    let (mut p, c) = ring(64);
    let sink = SyslogSink::start(&[cfg], vec![c]).unwrap();
    let pushed = Instant::now();
    p.push(event(0, "uport")).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    p.push(event(1, "uport")).unwrap();
    p.push(event(2, "uport")).unwrap();
    let mut buf = [0u8; 2048];
    for i in 0..3 {
        let n = rx
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("event {i}: {e}"));
        let s = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(s.ends_with(&format!("\"udp_{i}\"")), "{s}");
    }
    // Not before the delay (a sleep is never early), and all three in one send.
    assert!(pushed.elapsed() >= Duration::from_millis(300));
    drop(p);
    let stats = sink.shutdown(Duration::from_secs(5));
    let d = &stats.destinations[0];
    assert_eq!((d.sent, d.batches), (3, 1), "{d:?}");
}

/// Under load the queue does not empty, so batches fill to `batch` by themselves: 1000
/// events queued behind a receiver that is not there yet go out in at most 1 + 4
/// sends of up to 256 (the first batch holds what was queued when it was started).
#[test]
fn batches_fill_under_load() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cfg = SinkConfig {
        transport: Transport::Tcp,
        framing: crate::sink::format::Framing::Lf,
        address: Address::parse(&addr.to_string()).unwrap(),
        reconnect_min_ms: 10,
        reconnect_max_ms: 20,
        hostname: Some(HostName("h".into())),
        ..SinkConfig::default()
    };
    let (mut p, c) = ring(2048);
    let sink = SyslogSink::start(&[cfg], vec![c]).unwrap();
    for i in 0..1000 {
        p.push(event(i, "uport")).unwrap();
    }
    assert!(
        eventually(|| sink.stats().events == 1000),
        "{}",
        sink.stats()
    );
    let l = TcpListener::bind(addr).unwrap();
    let (s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s);
    for i in 0..1000 {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(line.ends_with(&format!("udp_{i}\"\n")), "{i}: {line}");
    }
    drop(p);
    let stats = sink.shutdown(Duration::from_secs(5));
    let d = &stats.destinations[0];
    assert_eq!(d.sent, 1000);
    assert!(d.batches <= 5, "{d:?}");
}
