//! The syslog sender against a real rsyslogd: UDP, TCP with octet counting, TCP with LF
//! framing, TLS (gtls), and a TCP receiver restarted mid-stream. Every expected event must
//! arrive exactly once, and rsyslog must parse host, tag and message out of it.
//!
//! Without rsyslogd these tests print SKIP and pass, unless FLOWSIFT_REQUIRE_INTEROP=1.

mod syslog_support;

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowsift::clock::monotonic_nanos;
use flowsift::flow::FlowEvent;
use flowsift::packet::keys::L4;
use flowsift::packet::{Key, KeyValue};
use flowsift::ring::{ring, Producer};
use flowsift::sink::config::{Address, HostName, TlsConfig, Transport};
use flowsift::sink::format::Framing;
use flowsift::sink::{SinkConfig, SyslogSink};
use syslog_support::{free_tcp_port, free_udp_port, Inputs, Parsed, Rsyslog};

const HOST: &str = "flowsift-test";

/// Event `i`: a distinct (responder, scanner, port) triple.
fn event(i: u32) -> FlowEvent {
    FlowEvent {
        flow_id: u64::from(i),
        name: Arc::from("uport"),
        keys: vec![
            (
                Key::IpSource,
                KeyValue::Ip(std::net::Ipv4Addr::from(0x0A00_0000 + i).into()),
            ),
            (Key::IpDestination, KeyValue::Ip([192, 0, 2, 9].into())),
            (
                Key::IcmpUnreachablePort,
                KeyValue::Port(
                    if i % 2 == 0 { L4::Udp } else { L4::Tcp },
                    (i % 60_000) as u16 + 1,
                ),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (flowsift::flow::FlowKey::Packet(k), v))
        .collect(),
        separator: Arc::from(","),
        value: 1000.0,
        start_ms: 0,
        end_ms: 0,
        agent: [192, 0, 2, 1].into(),
        data_source: 7,
        received_ns: monotonic_nanos(),
        event_id: 0,
        threshold: None,
    }
}

fn expected_msg(i: u32) -> String {
    let ip = std::net::Ipv4Addr::from(0x0A00_0000 + i);
    let proto = if i % 2 == 0 { "udp" } else { "tcp" };
    format!(
        "ipsource={ip} ipdestination=192.0.2.9 icmpunreachableport=\"{proto}_{}\"",
        i % 60_000 + 1
    )
}

fn sink_config(transport: Transport, port: u16) -> SinkConfig {
    SinkConfig {
        name: transport.name().into(),
        transport,
        address: Address {
            host: "127.0.0.1".into(),
            port,
        },
        hostname: Some(HostName(HOST.into())),
        reconnect_min_ms: 20,
        reconnect_max_ms: 200,
        ..SinkConfig::default()
    }
}

fn push_range(p: &mut Producer<FlowEvent>, range: std::ops::Range<u32>) {
    for i in range {
        let mut e = event(i);
        // Bounded retry: the sender drains the ring continuously.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match p.push(e) {
                Ok(()) => break,
                Err(back) => {
                    assert!(Instant::now() < deadline, "ring stayed full");
                    e = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
}

/// Every event in `range` exactly once, with host, tag and message parsed by rsyslog.
fn assert_exactly_once(msgs: &[Parsed], range: std::ops::Range<u32>) {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for m in msgs {
        assert_eq!(m.host, HOST, "{m:?}");
        assert_eq!(m.tag, "sflow-rt:", "{m:?}");
        assert_eq!(m.pri, "133", "{m:?}");
        *count.entry(m.msg.as_str()).or_default() += 1;
    }
    let expected: Vec<String> = range.clone().map(expected_msg).collect();
    for e in &expected {
        assert_eq!(
            count.get(e.as_str()),
            Some(&1),
            "event {e} not exactly once"
        );
    }
    assert_eq!(msgs.len(), expected.len(), "unexpected extra messages");
}

fn run_once(transport: Transport, framing: Framing, test: &str) {
    let Some(bin) = syslog_support::rsyslogd_or_skip(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (inputs, port) = match transport {
        Transport::Udp => {
            let p = free_udp_port();
            (
                Inputs {
                    udp: Some(p),
                    tcp: None,
                    tls: None,
                },
                p,
            )
        }
        _ => {
            let p = free_tcp_port();
            (
                Inputs {
                    udp: None,
                    tcp: Some(p),
                    tls: None,
                },
                p,
            )
        }
    };
    let rs = Rsyslog::start(bin, dir.path(), inputs);
    let mut cfg = sink_config(transport, port);
    cfg.framing = framing;
    // Small batches too, so several sends and the flush delay are exercised.
    cfg.batch = NonZeroUsize::new(64).unwrap();
    let (mut p, c) = ring(1024);
    let sink = SyslogSink::start(&[cfg], vec![c]).unwrap();
    const N: u32 = 2000;
    push_range(&mut p, 0..N);
    let msgs = rs.wait_messages(N as usize, Duration::from_secs(20));
    drop(p);
    let stats = sink.shutdown(Duration::from_secs(5));
    assert_exactly_once(&msgs, 0..N);
    let d = &stats.destinations[0];
    assert_eq!(
        (d.sent, d.overflow, d.dropped),
        (u64::from(N), 0, 0),
        "{stats}"
    );
    assert_eq!(d.latency.count, u64::from(N));
}

#[test]
fn udp_events_arrive_exactly_once_and_parse() {
    run_once(
        Transport::Udp,
        Framing::OctetCounting,
        "udp_events_arrive_exactly_once_and_parse",
    );
}

#[test]
fn tcp_octet_counting_events_arrive_exactly_once_and_parse() {
    run_once(
        Transport::Tcp,
        Framing::OctetCounting,
        "tcp_octet_counting_events_arrive_exactly_once_and_parse",
    );
}

#[test]
fn tcp_lf_framing_events_arrive_exactly_once_and_parse() {
    run_once(
        Transport::Tcp,
        Framing::Lf,
        "tcp_lf_framing_events_arrive_exactly_once_and_parse",
    );
}

#[test]
fn tls_to_rsyslog_gtls_with_certificates_made_in_the_test() {
    let test = "tls_to_rsyslog_gtls_with_certificates_made_in_the_test";
    let Some(bin) = syslog_support::rsyslogd_or_skip(test) else {
        return;
    };
    if !syslog_support::gtls_available() {
        if syslog_support::interop_required() {
            panic!("{test}: rsyslog-gnutls (lmnsd_gtls) missing and FLOWSIFT_REQUIRE_INTEROP=1");
        }
        eprintln!("SKIP {test}: rsyslog-gnutls not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let files = syslog_support::make_certs(dir.path(), "server");
    let port = free_tcp_port();
    let rs = Rsyslog::start(
        bin,
        dir.path(),
        Inputs {
            udp: None,
            tcp: None,
            tls: Some((port, files.clone())),
        },
    );
    let mut cfg = sink_config(Transport::Tls, port);
    cfg.tls = Some(TlsConfig {
        ca_file: Some(files.ca.clone()),
        ..TlsConfig::default()
    });
    let (mut p, c) = ring(1024);
    let sink = SyslogSink::start(&[cfg], vec![c]).unwrap();
    const N: u32 = 500;
    push_range(&mut p, 0..N);
    let msgs = rs.wait_messages(N as usize, Duration::from_secs(20));
    drop(p);
    let stats = sink.shutdown(Duration::from_secs(5));
    assert_exactly_once(&msgs, 0..N);
    assert_eq!(stats.destinations[0].sent, u64::from(N), "{stats}");
}

#[test]
fn tcp_receiver_restarted_mid_stream_loses_nothing_that_fit_in_the_queue() {
    let test = "tcp_receiver_restarted_mid_stream_loses_nothing_that_fit_in_the_queue";
    let Some(bin) = syslog_support::rsyslogd_or_skip(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_tcp_port();
    let mut rs = Rsyslog::start(
        bin,
        dir.path(),
        Inputs {
            udp: None,
            tcp: Some(port),
            tls: None,
        },
    );
    let (mut p, c) = ring(1024);
    let sink = SyslogSink::start(&[sink_config(Transport::Tcp, port)], vec![c]).unwrap();
    push_range(&mut p, 0..300);
    assert_eq!(rs.wait_messages(300, Duration::from_secs(20)).len(), 300);

    // The receiver goes down; what arrives meanwhile waits in the queue.
    rs.stop();
    push_range(&mut p, 300..600);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sink.stats().events < 600 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    // Let the sender find the connection gone and fail a reconnect or two.
    std::thread::sleep(Duration::from_millis(300));
    let down = sink.stats();
    assert_eq!(down.destinations[0].sent, 300, "{down}");
    assert!(!down.destinations[0].connected, "{down}");

    rs.restart();
    push_range(&mut p, 600..700);
    let msgs = rs.wait_messages(700, Duration::from_secs(20));
    drop(p);
    let stats = sink.shutdown(Duration::from_secs(5));
    assert_exactly_once(&msgs, 0..700);
    let d = &stats.destinations[0];
    assert_eq!((d.sent, d.overflow, d.dropped), (700, 0, 0), "{stats}");
    assert!(d.reconnects >= 1, "{stats}");
}

/// The other formats through rsyslog's own parsers: RFC 5424 structured data (rsyslog
/// splits APP-NAME, MSGID and STRUCTURED-DATA) and the JSON body.
#[test]
fn rfc5424_and_json_formats_parse_in_rsyslog() {
    let test = "rfc5424_and_json_formats_parse_in_rsyslog";
    let Some(bin) = syslog_support::rsyslogd_or_skip(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_tcp_port();
    let rs = Rsyslog::start(
        bin,
        dir.path(),
        Inputs {
            udp: None,
            tcp: Some(port),
            tls: None,
        },
    );
    let mut rfc = sink_config(Transport::Tcp, port);
    rfc.name = "rfc5424".into();
    rfc.format = flowsift::sink::format::Format::Rfc5424;
    rfc.hostname = Some(HostName("h5424".into()));
    let mut json = sink_config(Transport::Tcp, port);
    json.name = "json".into();
    json.format = flowsift::sink::format::Format::Json;
    json.hostname = Some(HostName("hjson".into()));
    json.fields = ["ipsource", "icmpunreachableport", "flowID", "value"]
        .iter()
        .map(|f| flowsift::sink::config::FieldName::parse(f).unwrap())
        .collect();
    let (mut p, c) = ring(1024);
    let sink = SyslogSink::start(&[rfc, json], vec![c]).unwrap();
    const N: u32 = 200;
    push_range(&mut p, 0..N);
    let msgs = rs.wait_messages(2 * N as usize, Duration::from_secs(20));
    drop(p);
    let stats = sink.shutdown(Duration::from_secs(5));
    assert_eq!(msgs.len(), 2 * N as usize, "{stats}");

    let mut seen = std::collections::BTreeSet::new();
    for m in msgs.iter().filter(|m| m.host == "h5424") {
        assert_eq!(m.app_name, "sflow-rt", "{m:?}");
        assert_eq!(m.msgid, "uport", "{m:?}");
        assert_eq!(m.pri, "133", "{m:?}");
        assert!(
            m.structured_data.starts_with("[sflow-rt@4300 ipsource=\""),
            "{m:?}"
        );
        seen.insert(m.structured_data.clone());
    }
    let want: std::collections::BTreeSet<String> = (0..N)
        .map(|i| {
            let ip = std::net::Ipv4Addr::from(0x0A00_0000 + i);
            let proto = if i % 2 == 0 { "udp" } else { "tcp" };
            format!(
                "[sflow-rt@4300 ipsource=\"{ip}\" ipdestination=\"192.0.2.9\" icmpunreachableport=\"{proto}_{}\" event_id=\"0000000000000000\"]",
                i % 60_000 + 1
            )
        })
        .collect();
    assert_eq!(seen, want);

    let mut ids = std::collections::BTreeSet::new();
    for m in msgs.iter().filter(|m| m.host == "hjson") {
        assert_eq!(m.tag, "sflow-rt:", "{m:?}");
        let v: serde_json::Value =
            serde_json::from_str(&m.msg).unwrap_or_else(|e| panic!("{e}: {m:?}"));
        let i = v["flowID"].as_u64().unwrap() as u32;
        assert_eq!(
            v["ipsource"],
            std::net::Ipv4Addr::from(0x0A00_0000 + i).to_string()
        );
        assert_eq!(v["value"], 1000);
        assert!(v["icmpunreachableport"]
            .as_str()
            .unwrap()
            .ends_with(&format!("_{}", i % 60_000 + 1)));
        ids.insert(i);
    }
    assert_eq!(ids, (0..N).collect());
}
