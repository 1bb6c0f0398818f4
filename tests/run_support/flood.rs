//! A paced agent for threshold tests: flows of 1000-byte frames sampled 1 in 1000 at
//! rates set by how many samples each datagram carries, and two interfaces' counters
//! (3 at 90 % and 4 at 10 % of 10 Gbit/s), sent on an absolute schedule so the rates a
//! collector measures hold whatever a sleep overshoots.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use flowsift::synth::{
    header_protocol, DatagramBuilder, FlowSampleHeader, FrameSpec, GenericInterface, RecordSpec,
    Transport,
};

use super::ip;

pub const AGENT: &str = "10.3.0.1";
const GBIT10: u64 = 10_000_000_000;
/// Datagrams per second; each carries a share of every flow's samples.
pub const DATAGRAMS_PER_S: u32 = 40;

/// A 1000-byte UDP (or TCP) frame from 198.51.100.7 to `dst`.
pub fn frame(dst: &str, udp: bool) -> Vec<u8> {
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
pub struct Agent {
    datagrams: u32,
    samples: u32,
    counters: [u32; 2],
    start: Instant,
}

impl Default for Agent {
    fn default() -> Self {
        Agent {
            datagrams: 0,
            samples: 0,
            counters: [0; 2],
            start: Instant::now(),
        }
    }
}

impl Agent {
    /// Datagram `n` (of `DATAGRAMS_PER_S` a second): `per` samples of each flow (data
    /// source 7), and every tenth datagram the two interfaces' counters as of now.
    pub fn datagram(&mut self, n: u32, per: &[(&[u8], u32)]) -> Vec<u8> {
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

/// The threshold tests' traffic for `run`, each datagram sent to every port of `to`: per
/// datagram 5 samples of a UDP flood to 192.0.2.55 (200 000 frames/s), 1.25 of a UDP
/// flow to 192.0.2.66 (50 000 frames/s), 5 of a TCP flow to 192.0.2.77. Returns how long
/// the sending took.
pub fn flood(to: &[u16], run: Duration) -> Duration {
    let flood = frame("192.0.2.55", true);
    let quiet = frame("192.0.2.66", true);
    let tcp = frame("192.0.2.77", false);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut agent = Agent::default();
    let start = Instant::now();
    let total = run.as_millis() as u32 * DATAGRAMS_PER_S / 1000;
    for n in 0..total {
        let due = start + Duration::from_millis(u64::from(n) * 1000 / u64::from(DATAGRAMS_PER_S));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let quiet_n = 1 + u32::from(n % 4 == 0);
        let d = agent.datagram(n, &[(&flood, 5), (&quiet, quiet_n), (&tcp, 5)]);
        for &port in to {
            sock.send_to(&d, ("127.0.0.1", port)).unwrap();
        }
    }
    start.elapsed()
}
