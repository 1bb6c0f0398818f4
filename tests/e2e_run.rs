//! End to end: `flowsift run` with a test configuration receives sFlow datagrams holding a
//! known set of ICMP port-unreachable answers (several agents, repeated keys, noise flows)
//! over loopback, and a private rsyslogd ends up with exactly the expected lines in
//! sFlow-RT's format, over UDP and over TCP. Then SIGTERM: exit 0 with a final report.
//!
//! Without rsyslogd the test prints SKIP and passes, unless FLOWSIFT_REQUIRE_INTEROP=1.

mod run_support;
mod syslog_support;

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::time::Duration;

use flowsift::synth::{FrameSpec, Original, Transport};
use run_support::{datagram, ip, unreachable, Collector};
use syslog_support::{free_tcp_port, free_udp_port, Inputs, Rsyslog};

fn expected(responder: &str, scanner: &str, proto: &str, port: u16) -> String {
    format!("ipsource={responder} ipdestination={scanner} icmpunreachableport=\"{proto}_{port}\"")
}

/// Datagrams, and the messages they must produce (as a multiset).
fn scenario() -> (Vec<Vec<u8>>, BTreeMap<String, usize>) {
    let noise = |i: u16| {
        vec![
            FrameSpec::new(
                ip("10.1.0.1"),
                ip("10.1.0.2"),
                Transport::Tcp {
                    src_port: 1000 + i,
                    dst_port: 443,
                    flags: 0x10,
                },
            )
            .to_ethernet(),
            FrameSpec::new(
                ip("10.1.0.3"),
                ip("10.1.0.4"),
                Transport::Udp {
                    src_port: 53,
                    dst_port: 2000 + i,
                },
            )
            .to_ethernet(),
            FrameSpec::new(
                ip("10.1.0.5"),
                ip("10.1.0.6"),
                Transport::Icmp {
                    icmp_type: 8,
                    code: 0,
                },
            )
            .to_ethernet(),
            // Host unreachable (code 1) is another key, not icmpunreachableport.
            FrameSpec::new(
                ip("10.1.0.7"),
                ip("10.1.0.8"),
                Transport::Unreachable {
                    code: 1,
                    original: Original {
                        src: ip("10.1.0.8"),
                        dst: ip("10.9.9.9"),
                        protocol: 17,
                        src_port: 1,
                        dst_port: 2,
                    },
                },
            )
            .to_ethernet(),
            // Port unreachable quoting GRE: no port, so no icmpunreachableport.
            unreachable("10.1.0.9", "10.1.0.10", 47, 0),
        ]
    };
    let mut datagrams = Vec::new();
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    let mut seq = 1;
    // Agent 1 sees a UDP scan of 20 ports on one target, every probe answered twice
    // (repeated keys: logged once per agent and data source).
    for round in 0..2 {
        for chunk in (0..20u16).collect::<Vec<_>>().chunks(5) {
            let mut frames: Vec<Vec<u8>> = chunk
                .iter()
                .map(|p| unreachable("10.0.0.5", "198.51.100.7", 17, 5000 + p))
                .collect();
            frames.extend(noise(seq as u16));
            datagrams.push(datagram("192.0.2.1", seq, 3, &frames));
            seq += 1;
        }
        if round == 0 {
            for p in 0..20u16 {
                *want
                    .entry(expected("10.0.0.5", "198.51.100.7", "udp", 5000 + p))
                    .or_default() += 1;
            }
        }
    }
    // Agent 2: a TCP sweep of port 22 over 10 hosts.
    for h in 0..10u16 {
        let r = format!("10.0.1.{}", h + 1);
        let frames = vec![unreachable(&r, "203.0.113.9", 6, 22), noise(h).remove(0)];
        datagrams.push(datagram("192.0.2.2", h as u32 + 1, 12, &frames));
        *want
            .entry(expected(&r, "203.0.113.9", "tcp", 22))
            .or_default() += 1;
    }
    // Agent 3 sees one of agent 1's answers too: a separate (agent, data source) flow, so
    // sFlow-RT logs it again.
    datagrams.push(datagram(
        "192.0.2.3",
        1,
        5,
        &[
            unreachable("10.0.0.5", "198.51.100.7", 17, 5000),
            noise(99).remove(1),
        ],
    ));
    *want
        .entry(expected("10.0.0.5", "198.51.100.7", "udp", 5000))
        .or_default() += 1;
    // Only noise from agent 3 on another port.
    datagrams.push(datagram("192.0.2.3", 2, 6, &noise(7)));
    (datagrams, want)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `<133>Mmm dd HH:MM:SS HOST sflow-rt: MSG`, checked field by field.
fn assert_sflow_rt_line(raw: &str, host: &str) -> String {
    let rest = raw
        .strip_prefix("<133>")
        .unwrap_or_else(|| panic!("PRI: {raw}"));
    let (stamp, rest) = rest.split_at(15);
    let b = stamp.as_bytes();
    assert!(MONTHS.contains(&&stamp[0..3]), "month: {raw}");
    assert!(
        b[3] == b' ' && (b[4] == b' ' || b[4].is_ascii_digit()) && b[5].is_ascii_digit(),
        "day: {raw}"
    );
    assert!(b[6] == b' ' && b[9] == b':' && b[12] == b':', "time: {raw}");
    let prefix = format!(" {host} sflow-rt: ");
    rest.strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("host and tag: {raw}"))
        .to_string()
}

#[test]
fn run_sends_exactly_the_expected_sflow_rt_lines_to_rsyslog() {
    let test = "run_sends_exactly_the_expected_sflow_rt_lines_to_rsyslog";
    let Some(bin) = syslog_support::rsyslogd_or_skip(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (udp_port, tcp_port) = (free_udp_port(), free_tcp_port());
    let rs = Rsyslog::start(
        bin,
        dir.path(),
        Inputs {
            udp: Some(udp_port),
            tcp: Some(tcp_port),
            tls: None,
        },
    );
    let listen = free_udp_port();
    let config = dir.path().join("flowsift.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[rx]
listen = ["127.0.0.1:{listen}"]
rcvbuf_bytes = 4194304
uring_buffers = 1024
[workers]
count = 2
[stats]
interval_s = 1
[[flow]]
name = "uport"
[[sink]]
name = "udp"
transport = "udp"
address = "127.0.0.1:{udp_port}"
hostname = "e2e-udp"
[[sink]]
name = "tcp"
transport = "tcp"
address = "127.0.0.1:{tcp_port}"
hostname = "e2e-tcp"
"#
        ),
    )
    .unwrap();
    let mut collector = Collector::start(&config);
    assert!(
        collector.wait_for("listening on", Duration::from_secs(20)),
        "flowsift did not start: {:?}",
        collector.lines
    );

    let (datagrams, want) = scenario();
    let total: usize = want.values().sum();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for d in &datagrams {
        sock.send_to(d, ("127.0.0.1", listen)).unwrap();
        // Pace a little: a real agent does not burst, and loopback UDP can drop.
        std::thread::sleep(Duration::from_millis(2));
    }
    let msgs = rs.wait_messages(2 * total, Duration::from_secs(20));
    let status = collector.terminate(Duration::from_secs(20));
    assert_eq!(
        status.map(|s| s.code()),
        Some(Some(0)),
        "{:#?}",
        collector.lines
    );
    assert!(
        collector.lines.iter().any(|l| l.contains("final report")),
        "{:#?}",
        collector.lines
    );

    for host in ["e2e-udp", "e2e-tcp"] {
        let mut got: BTreeMap<String, usize> = BTreeMap::new();
        for m in msgs.iter().filter(|m| m.host == host) {
            assert_eq!(m.tag, "sflow-rt:", "{m:?}");
            assert_eq!(m.pri, "133", "{m:?}");
            let body = assert_sflow_rt_line(&m.raw, host);
            assert_eq!(body, m.msg, "rsyslog's MSG is the pairs");
            *got.entry(body).or_default() += 1;
        }
        assert_eq!(got, want, "lines received by rsyslog from sink {host}");
    }
    assert_eq!(msgs.len(), 2 * total, "no message from anywhere else");
    let sender = collector
        .lines
        .iter()
        .find(|l| l.contains("tcp tcp://") && l.contains("sent "))
        .cloned()
        .unwrap_or_default();
    assert!(
        sender.contains(&format!("sent {total},")),
        "{:#?}",
        collector.lines
    );
}
