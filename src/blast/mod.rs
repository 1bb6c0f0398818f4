//! The load generator behind `flowsift blast --to ADDR`: synthetic fabric sFlow at high
//! rates, for load tests, the receive benchmark and the receive engine's tests.
//!
//! Each simulated agent (switch) has its own socket, so it is one 4-tuple like a real switch,
//! its own datagram sequence, and per-interface sample sequence numbers, sample pools and
//! counters: a collector's loss accounting sees clean streams, and any loss it reports is
//! real. Flow datagrams all have the same layout (`--samples` flow samples with
//! `--header-bytes`-byte sampled headers, ~1400 bytes by default), so they are pre-encoded
//! once per thread from a pool of frames following the flow mix and only patched per send
//! (sequence numbers, uptime, data source, pool, drops); equal sizes let runs of them go out
//! as one UDP GSO send ([`crate::udp::UdpSender`]), the only way one core offers about a
//! million datagrams per second. Counter samples (generic interface) go out every
//! `--counters-every` seconds per interface in their own datagrams.
//!
//! Files by role: [`BlastArgs`] (the settings, which are also the subcommand's flags),
//! [`blast`] and [`sample_datagrams`] here; `mix` (the sampled frames, following the flow
//! mix); `template` (pre-encoded datagrams and the per-switch numbering patched into
//! them); `send` (a sending thread and its simulated switches' sockets, and the pacing
//! `replay` shares). The subcommand itself (signals, the live rate line, the summary) is
//! [`crate::cli::blast`].

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam::utils::CachePadded;

use crate::rx::Cidr;
use crate::synth::Rng;

mod mix;
mod send;
mod template;

use mix::{mix_frame, SampledFrame};
use send::blast_thread;
pub(crate) use send::pace;
use template::{templates, Stream};

/// Generate synthetic fabric sFlow traffic.
#[derive(Debug, Clone, clap::Args)]
pub struct BlastArgs {
    /// Collector address, e.g. 127.0.0.1:6343.
    #[arg(long)]
    pub to: SocketAddr,
    /// Simulated agents (switches), each with its own socket and sequence numbers.
    #[arg(long, default_value_t = 16)]
    pub agents: u32,
    /// Agent addresses (in the sFlow header) are taken in order from this prefix.
    #[arg(long, default_value = "10.255.0.0/16")]
    pub agent_prefix: Cidr,
    /// Interfaces (data sources) per agent.
    #[arg(long, default_value_t = 48)]
    pub interfaces: u32,
    /// Sampling rate written in every flow sample (1 in N packets): the collector scales
    /// each sample's frames and bytes by it.
    #[arg(long, default_value_t = 10_000)]
    pub sampling_rate: u32,
    /// Flow samples per datagram.
    #[arg(long, default_value_t = 7)]
    pub samples: u32,
    /// Bytes of sampled header per flow sample.
    #[arg(long, default_value_t = 128)]
    pub header_bytes: usize,
    /// Share of UDP flows.
    #[arg(long, default_value_t = 0.25)]
    pub udp: f64,
    /// Share of ICMP echo flows.
    #[arg(long, default_value_t = 0.03)]
    pub icmp: f64,
    /// Share of ICMP destination-unreachable answers to a port scan.
    #[arg(long, default_value_t = 0.02)]
    pub unreachable: f64,
    /// Share of IPv6 flows.
    #[arg(long, default_value_t = 0.2)]
    pub ipv6: f64,
    /// Add an extended switch record (VLANs) to each flow sample.
    #[arg(long)]
    pub switch_records: bool,
    /// Seconds between counter samples of each interface (0: none).
    #[arg(long, default_value_t = 20)]
    pub counters_every: u64,
    /// Datagrams per second over all threads (default: flat out).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Stop after this many seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Stop after this many datagrams (flow and counter datagrams alike).
    #[arg(long)]
    pub count: Option<u64>,
    /// Sending threads (agents are divided among them).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Pin sending thread i to core `pin[i % len]`.
    #[arg(long, value_delimiter = ',')]
    pub pin: Vec<usize>,
    /// Datagrams per GSO send.
    #[arg(long, default_value_t = 40)]
    pub gso_segments: usize,
    /// Send one datagram per message (no UDP GSO).
    #[arg(long)]
    pub no_gso: bool,
    /// Seed of the flow mix.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// No live rate line.
    #[arg(long)]
    pub quiet: bool,
}

impl BlastArgs {
    /// Defaults with the given destination (what `flowsift blast --to ADDR` does).
    pub fn to(to: SocketAddr) -> BlastArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            args: BlastArgs,
        }
        let to = to.to_string();
        match Wrap::try_parse_from(["blast", "--to", to.as_str()]) {
            Ok(w) => w.args,
            Err(e) => unreachable!("built-in defaults parse: {e}"),
        }
    }
}

/// Running totals, readable while blasting.
#[derive(Debug, Default)]
pub struct BlastCounters {
    pub datagrams: CachePadded<AtomicU64>,
    pub flow_samples: CachePadded<AtomicU64>,
    pub counter_samples: CachePadded<AtomicU64>,
    pub bytes: CachePadded<AtomicU64>,
}

/// What a blast did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlastSummary {
    pub datagrams: u64,
    pub flow_samples: u64,
    pub counter_samples: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    pub gso: bool,
}

impl BlastSummary {
    pub fn rate(&self) -> f64 {
        self.datagrams as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// `n` flow datagrams exactly as `blast` would send them (agents in turn), for benches and
/// tests that need the traffic without the sockets.
pub fn sample_datagrams(a: &BlastArgs, n: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(a.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let frames: Vec<SampledFrame> = (0..256).map(|_| mix_frame(a, &mut rng)).collect();
    let interfaces = a.interfaces.max(1);
    let mut streams: Vec<Stream> = (0..u64::from(a.agents.max(1)))
        .map(|i| Stream::new(a.agent_prefix.nth(i + 1), interfaces, i as usize))
        .collect();
    let (templates, layout) = templates(a, streams[0].addr, &frames, 64);
    let count = streams.len();
    (0..n)
        .map(|k| {
            let mut d = vec![0u8; layout.len];
            streams[k % count].next_flow_datagram(a, &templates, &layout, k as u32, &mut d);
            d
        })
        .collect()
}

/// Blast until `stop`, the duration or the count. `counters` are updated as it goes.
pub fn blast(
    a: &BlastArgs,
    stop: &AtomicBool,
    counters: &BlastCounters,
) -> io::Result<BlastSummary> {
    let threads = a.threads.max(1);
    let start = Instant::now();
    let per_thread_count = a.count.map(|c| (c / threads as u64, c % threads as u64));
    let gso = std::sync::Mutex::new(true);
    let result: io::Result<()> = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for t in 0..threads {
            let quota = per_thread_count.map(|(q, r)| q + u64::from((t as u64) < r));
            let gso = &gso;
            handles.push(scope.spawn(move || -> io::Result<()> {
                if !a.pin.is_empty() {
                    core_affinity::set_for_current(core_affinity::CoreId {
                        id: a.pin[t % a.pin.len()],
                    });
                }
                let used_gso = blast_thread(a, t, threads, quota, start, stop, counters)?;
                if !used_gso {
                    if let Ok(mut g) = gso.lock() {
                        *g = false;
                    }
                }
                Ok(())
            }));
        }
        let mut r = Ok(());
        for h in handles {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => r = Err(e),
                Err(_) => r = Err(io::Error::other("a blast thread panicked")),
            }
        }
        r
    });
    result?;
    Ok(BlastSummary {
        datagrams: counters.datagrams.load(Ordering::Relaxed),
        flow_samples: counters.flow_samples.load(Ordering::Relaxed),
        counter_samples: counters.counter_samples.load(Ordering::Relaxed),
        bytes: counters.bytes.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
        gso: gso.lock().map(|g| *g).unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_bounds_the_blast() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut a = BlastArgs::to(rx.local_addr().unwrap());
        a.count = Some(123);
        a.agents = 3;
        a.threads = 2;
        a.quiet = true;
        let counters = BlastCounters::default();
        let s = blast(&a, &AtomicBool::new(false), &counters).unwrap();
        assert_eq!(s.datagrams, 123);
        // 3 agents × 48 interfaces of counters (11 per datagram: 5 datagrams each) first.
        assert_eq!(s.counter_samples, 3 * 48);
        assert_eq!(s.flow_samples, (123 - 15) * 7);
    }
}
