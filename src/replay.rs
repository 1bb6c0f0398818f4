//! Replaying captures: the sFlow datagrams of capture files sent to a collector (what
//! `flowsift replay FILE... --to ADDR` runs).
//!
//! Reads classic pcap, pcapng (Ethernet, 802.1Q, Linux cooked v1/v2, raw IP and BSD
//! loopback link types; UDP over IPv4 or IPv6) and raw files (one datagram per file). From a
//! capture it takes every UDP payload that starts like an sFlow v5 datagram, whatever the
//! port, so captures of non-standard ports replay as they are.
//!
//! `--rewrite-agent PREFIX --agents N` makes one capture impersonate many switches: each
//! datagram is sent once per impersonated agent (host addresses `.1`, `.2`, ... of the prefix),
//! with sequence numbers renumbered per (agent, sub-agent) so that loss accounting at the
//! collector sees clean streams. Without it the bytes go out untouched (so a second loop
//! looks like duplicates or an agent restart to the collector).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::blast::pace;
use crate::capture::{for_each_datagram, CaptureError, PortFilter};
use crate::rx::Cidr;
use crate::sflow::layout::datagram as dg;
use crate::sflow::Datagram;
use crate::udp::UdpSender;

/// Send the sFlow datagrams of capture files to a collector.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// pcap, pcapng or raw files (a raw file is one datagram); `-` reads stdin.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Collector address, e.g. 127.0.0.1:6343.
    #[arg(long)]
    pub to: SocketAddr,
    /// Datagrams per second (default: as fast as possible).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Passes over the files (0: until interrupted).
    #[arg(long, default_value_t = 1)]
    pub loops: u64,
    /// Rewrite the agent address into this prefix (e.g. 10.1.0.0/16), one capture then
    /// impersonating `--agents` switches.
    #[arg(long)]
    pub rewrite_agent: Option<Cidr>,
    /// How many agents to impersonate with --rewrite-agent.
    #[arg(long, default_value_t = 1)]
    pub agents: u64,
}

/// Why an input file gave no datagrams.
#[derive(Debug)]
pub enum InputError {
    Io(PathBuf, io::Error),
    Capture(PathBuf, CaptureError),
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            InputError::Capture(p, e) => write!(f, "{}: {e}", p.display()),
        }
    }
}

impl std::error::Error for InputError {}

/// Every sFlow datagram in a file: the UDP payloads of a pcap/pcapng capture that start with
/// version 5, or the whole file when it is not a capture.
/// `-` reads standard input (`tcpdump -w - | flowsift replay -`).
pub fn read_datagrams(path: &Path) -> Result<Vec<Vec<u8>>, InputError> {
    let bytes = if path == Path::new("-") {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut b).map(|_| b)
    } else {
        std::fs::read(path)
    }
    .map_err(|e| InputError::Io(path.to_path_buf(), e))?;
    datagrams_in(&bytes).map_err(|e| InputError::Capture(path.to_path_buf(), e))
}

/// As [`read_datagrams`], from bytes in memory. The capture formats are those of the decoder
/// ([`for_each_datagram`]); only the choice of datagrams is replay's: any port, so captures
/// of non-standard ports replay as they are, but only payloads that start like sFlow v5.
pub fn datagrams_in(bytes: &[u8]) -> Result<Vec<Vec<u8>>, CaptureError> {
    let mut out = Vec::new();
    match for_each_datagram(bytes, PortFilter::Any, |_, payload| {
        if payload.starts_with(&[0, 0, 0, 5]) {
            out.push(payload.to_vec());
        }
    }) {
        Ok(_) => Ok(out),
        Err(CaptureError::NotACapture) => Ok(vec![bytes.to_vec()]),
        Err(e) => Err(e),
    }
}

/// Rewrite a datagram's agent address and sequence number into `out`. `None` when the
/// header is too short or the agent address type is unknown.
pub fn rewrite_agent(
    datagram: &[u8],
    agent: IpAddr,
    sequence: u32,
    out: &mut Vec<u8>,
) -> Option<()> {
    let header_len = Datagram::new_checked(datagram).ok()?.header_len();
    // After the agent address: sub-agent, sequence number, uptime, samples.
    let tail = datagram.get(header_len.checked_sub(dg::TAIL_LEN)?..)?;
    out.clear();
    out.extend_from_slice(&dg::VERSION_5.to_be_bytes());
    match agent {
        IpAddr::V4(a) => {
            out.extend_from_slice(&dg::IPV4.to_be_bytes());
            out.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            out.extend_from_slice(&dg::IPV6.to_be_bytes());
            out.extend_from_slice(&a.octets());
        }
    }
    out.extend_from_slice(tail.get(dg::SUB_AGENT..dg::SEQUENCE)?);
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(tail.get(dg::UPTIME..)?);
    Some(())
}

/// The sub-agent id of a datagram, if its header is readable.
fn sub_agent(datagram: &[u8]) -> Option<u32> {
    Some(Datagram::new_checked(datagram).ok()?.header().sub_agent)
}

/// What a replay did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    pub datagrams: u64,
    pub bytes: u64,
    /// Datagrams left out because their header could not be rewritten.
    pub skipped: u64,
    pub elapsed: Duration,
}

/// Replay options as a library call (the CLI and the tests use it).
#[derive(Clone, Debug)]
pub struct Replay {
    pub to: SocketAddr,
    pub rate: Option<f64>,
    pub loops: u64,
    pub rewrite_agent: Option<Cidr>,
    pub agents: u64,
}

impl Replay {
    /// Send `datagrams` as configured; stops early when `stop` returns true.
    pub fn run(&self, datagrams: &[Vec<u8>], stop: &dyn Fn() -> bool) -> io::Result<ReplaySummary> {
        let from: SocketAddr = if self.to.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let mut sender = UdpSender::connect(from, self.to, 4 << 20)?;
        let start = Instant::now();
        let mut s = ReplaySummary::default();
        let mut seqs: HashMap<(IpAddr, u32), u32> = HashMap::new();
        let mut buf = Vec::with_capacity(2048);
        let agents = self.agents.max(1);
        let mut pass = 0u64;
        'outer: while self.loops == 0 || pass < self.loops {
            for d in datagrams {
                for a in 0..if self.rewrite_agent.is_some() {
                    agents
                } else {
                    1
                } {
                    if stop() {
                        break 'outer;
                    }
                    let bytes: &[u8] = match self.rewrite_agent {
                        Some(prefix) => {
                            // Host addresses from .1 on (a /32 stays itself).
                            let agent = prefix.nth(a + 1);
                            let sub = sub_agent(d).unwrap_or(0);
                            // Bounded: at most `agents` × sub-agents in the capture entries.
                            let seq = seqs.entry((agent, sub)).or_insert(0);
                            *seq = seq.wrapping_add(1);
                            if rewrite_agent(d, agent, *seq, &mut buf).is_none() {
                                s.skipped += 1;
                                continue;
                            }
                            &buf
                        }
                        None => d,
                    };
                    sender.send_each(&[bytes])?;
                    s.datagrams += 1;
                    s.bytes += bytes.len() as u64;
                    if let Some(rate) = self.rate.filter(|r| *r > 0.0) {
                        pace(start, s.datagrams, rate);
                    }
                }
            }
            pass += 1;
        }
        s.elapsed = start.elapsed();
        Ok(s)
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    use crate::testdata::corpus_file;

    #[test]
    fn reads_pcap_and_raw() {
        let p = corpus_file("overflowd/sflow.pcap");
        assert_eq!(read_datagrams(&p).unwrap().len(), 1000);
        // gopacket's frame as a one-packet capture, and its UDP payload as a raw file.
        let raw = corpus_file("gopacket/SFlowTestPacket1.payload.bin");
        let pcap = corpus_file("gopacket/SFlowTestPacket1.pcap");
        let datagrams = read_datagrams(&raw).unwrap();
        assert_eq!(datagrams.len(), 1);
        assert_eq!(datagrams, read_datagrams(&pcap).unwrap());
        let ovs = corpus_file("openvswitch/ovs-netdev-icmp-udp-tcp.pcap");
        assert_eq!(read_datagrams(&ovs).unwrap().len(), 16);
    }

    #[test]
    fn rewrite_changes_agent_family_and_sequence() {
        let d =
            crate::synth::DatagramBuilder::new("192.0.2.1".parse().unwrap(), 3, 77, 1000).finish();
        let mut out = Vec::new();
        rewrite_agent(&d, "2001:db8::9".parse().unwrap(), 5, &mut out).unwrap();
        assert_eq!(out.len(), d.len() + 12);
        assert_eq!(&out[4..8], &[0, 0, 0, 2]);
        assert_eq!(sub_agent(&out), Some(3));
        assert_eq!(&out[28..32], &[0, 0, 0, 5], "sequence");
        assert_eq!(&out[32..36], &d[20..24], "uptime kept");
        assert!(rewrite_agent(&d[..10], "10.0.0.1".parse().unwrap(), 1, &mut out).is_none());
    }
}
