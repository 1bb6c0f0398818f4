//! Thresholds end to end, in real time: `flowsift run` fed by a paced sender, its syslog
//! events read from a UDP socket.
//!
//! A UDP flood at 200 000 frames/s (200 samples/s sampled 1 in 1000) crosses a 100 000
//! byFlow threshold once, with a value near its true rate; a flow at 50 000 frames/s and
//! a TCP flow the definition's filter leaves out give no event. Of two interfaces, the
//! one at 90 % of 10 Gbit/s crosses an 80 % utilization threshold once, the one at 10 %
//! never.

mod run_support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use run_support::{flood::flood, free_udp_port, Collector};

/// How long the sender runs.
const RUN: Duration = Duration::from_secs(4);

#[test]
fn flood_and_hot_interface_cross_once_quiet_and_filtered_traffic_never() {
    let dir = tempfile::tempdir().unwrap();
    let syslog = UdpSocket::bind("127.0.0.1:0").unwrap();
    syslog
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let listen = free_udp_port();
    let config = dir.path().join("thresholds.toml");
    std::fs::write(
        &config,
        format!(
            r#"[rx]
listen = ["127.0.0.1:{listen}"]
uring_buffers = 256
rcvbuf_bytes = 1048576
[[flow]]
name = "udpflood"
keys = "ipdestination"
value = "frames"
filter = "ipprotocol=17"
[[threshold]]
name = "flood"
metric = "udpflood"
value = 100000
byFlow = true
[[threshold]]
name = "hotlink"
metric = "ifinutilization"
value = 80
[[sink]]
address = "{}"
hostname = "host"
flows = ["flood", "hotlink"]
"#,
            syslog.local_addr().unwrap()
        ),
    )
    .unwrap();
    let mut c = Collector::start_listening(&config);
    let mut lines = Vec::new();
    let read = |lines: &mut Vec<String>| {
        let mut buf = [0u8; 2048];
        while let Ok(n) = syslog.recv(&mut buf) {
            lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    };
    let sent_for = flood(&[listen], RUN);
    // Let the last events through, reading (bounded) what came.
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline {
        read(&mut lines);
    }
    let status = c.terminate(Duration::from_secs(20));
    read(&mut lines);
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{:#?}", c.lines);
    assert!(
        sent_for < RUN + Duration::from_secs(1),
        "sender too slow: {sent_for:?}"
    );

    let floods: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("thresholdID=flood "))
        .collect();
    assert_eq!(floods.len(), 1, "{lines:#?}\n{:#?}", c.lines);
    let l = floods[0];
    assert!(
        l.contains(" sflow-rt: thresholdID=flood metric=udpflood agent=10.3.0.1 dataSource=7 flowKey=192.0.2.55 value="),
        "{l}"
    );
    assert!(l.ends_with(" threshold=100000"), "{l}");
    let value: f64 = l
        .split(" value=")
        .nth(1)
        .and_then(|v| v.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{l}"));
    assert!(
        (170_000.0..=230_000.0).contains(&value),
        "value {value} far from the true 200 000: {l}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("192.0.2.66") || l.contains("192.0.2.77")),
        "{lines:#?}"
    );

    let hot: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("thresholdID=hotlink "))
        .collect();
    assert_eq!(hot.len(), 1, "{lines:#?}");
    assert!(
        hot[0].contains(
            "thresholdID=hotlink metric=ifinutilization agent=10.3.0.1 dataSource=3 value="
        ) && hot[0].ends_with(" threshold=80"),
        "{}",
        hot[0]
    );
    let util: u64 = hot[0]
        .split(" value=")
        .nth(1)
        .and_then(|v| v.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!((88..=91).contains(&util), "{}", hot[0]);
    assert_eq!(lines.len(), 2, "nothing else: {lines:#?}");
    // The final report counts both.
    assert!(
        c.lines
            .iter()
            .any(|l| l.contains("udpflood:") && l.contains("threshold events 1")),
        "{:#?}",
        c.lines
    );
    assert!(
        c.lines
            .iter()
            .any(|l| l.contains("interface metrics: interfaces 2")
                && l.contains("threshold events 1")),
        "{:#?}",
        c.lines
    );
}
