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

use flowsift::synth::{
    header_protocol, DatagramBuilder, FlowSampleHeader, FrameSpec, GenericInterface, RecordSpec,
    Transport,
};
use run_support::{free_udp_port, ip, Collector};

const AGENT: &str = "10.3.0.1";
const GBIT10: u64 = 10_000_000_000;
/// How long the sender runs.
const RUN: Duration = Duration::from_secs(4);
/// Datagrams per second; each carries a share of every flow's samples.
const DATAGRAMS_PER_S: u32 = 40;

/// A 1000-byte UDP (or TCP) frame from 198.51.100.7 to `dst`.
fn frame(dst: &str, udp: bool) -> Vec<u8> {
    let transport = if udp {
        Transport::Udp {
            src_port: 40_000,
            dst_port: 53,
        }
    } else {
        Transport::Tcp {
            src_port: 40_000,
            dst_port: 80,
            flags: 0x10,
        }
    };
    FrameSpec::new(ip("198.51.100.7"), ip(dst), transport).to_ethernet()
}

/// The sender's state: sequence numbers per datagram, per sample and per interface.
struct Agent {
    datagrams: u32,
    samples: u32,
    counters: [u32; 2],
    start: Instant,
}

impl Agent {
    /// Datagram `n` (of `DATAGRAMS_PER_S` a second): `per` samples of each flow, and
    /// every tenth datagram the two interfaces' counters as of now.
    fn datagram(&mut self, n: u32, per: &[(&[u8], u32)]) -> Vec<u8> {
        self.datagrams += 1;
        let uptime = self.start.elapsed().as_millis() as u32 + 1_000_000;
        let mut b = DatagramBuilder::new(ip(AGENT), 0, self.datagrams, uptime);
        for &(f, count) in per {
            for _ in 0..count {
                self.samples += 1;
                b.flow_sample(
                    &FlowSampleHeader {
                        sequence: self.samples,
                        source_type: 0,
                        source_index: 7,
                        sampling_rate: 1000,
                        sample_pool: 1000 * self.samples,
                        drops: 0,
                        input: 7,
                        output: 8,
                        wide_interfaces: None,
                    },
                    &[RecordSpec::SampledHeader {
                        protocol: header_protocol::ETHERNET,
                        frame_length: 1000,
                        stripped: 4,
                        header: f,
                    }],
                );
            }
        }
        if n % 10 == 0 {
            // Octets as of the agent's uptime at 90 % and 10 % of 10 Gbit/s.
            let secs = f64::from(uptime) / 1000.0;
            for (k, (if_index, percent)) in [(3u32, 90.0), (4, 10.0)].into_iter().enumerate() {
                self.counters[k] += 1;
                b.counter_sample(
                    self.counters[k],
                    &GenericInterface {
                        if_index,
                        if_speed: GBIT10,
                        if_status: 3,
                        in_octets: (secs * GBIT10 as f64 / 8.0 * percent / 100.0) as u64,
                        in_ucast: uptime,
                        ..GenericInterface::default()
                    },
                );
            }
        }
        b.finish()
    }
}

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
    let flood = frame("192.0.2.55", true);
    let quiet = frame("192.0.2.66", true);
    let tcp = frame("192.0.2.77", false);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut agent = Agent {
        datagrams: 0,
        samples: 0,
        counters: [0; 2],
        start: Instant::now(),
    };
    // Per datagram, at 40 a second: 5 flood samples (200/s, 200 000 frames/s), 1.25 of
    // the quiet flow's (50/s: one more every fourth datagram), 5 filtered-out TCP.
    let mut lines = Vec::new();
    let read = |lines: &mut Vec<String>| {
        let mut buf = [0u8; 2048];
        while let Ok(n) = syslog.recv(&mut buf) {
            lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    };
    let start = Instant::now();
    let total = RUN.as_millis() as u32 * DATAGRAMS_PER_S / 1000;
    for n in 0..total {
        // Paced on an absolute schedule, so the rate holds whatever a sleep overshoots.
        let due = start + Duration::from_millis(u64::from(n) * 1000 / u64::from(DATAGRAMS_PER_S));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let quiet_n = 1 + u32::from(n % 4 == 0);
        let d = agent.datagram(n, &[(&flood, 5), (&quiet, quiet_n), (&tcp, 5)]);
        sock.send_to(&d, ("127.0.0.1", listen)).unwrap();
    }
    let sent_for = start.elapsed();
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
