//! `flowsift blast --to ADDR`: synthetic fabric sFlow at high rates, for load tests and the
//! receive benchmark.
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

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::utils::CachePadded;

use crate::rx::Cidr;
use crate::synth::{
    header_protocol, DatagramBuilder, FlowRecord, FlowSampleHeader, Frame, GenericInterface,
    Original, Rng, Transport,
};
use crate::udp::UdpSender;

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

/// One sampled frame of the mix: the first `header_bytes` and the frame's full length.
struct SampledFrame {
    header: Vec<u8>,
    frame_length: u32,
}

fn v4(rng: &mut Rng, net: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        net,
        rng.below(256) as u8,
        rng.below(256) as u8,
        1 + rng.below(254) as u8,
    ))
}

fn v6(rng: &mut Rng) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(
        0x2001,
        0xdb8,
        rng.below(16) as u16,
        0,
        0,
        0,
        rng.below(65536) as u16,
        1 + rng.below(65535) as u16,
    ))
}

/// A frame following the mix: scan answers, ICMP echo, UDP, TCP; IPv4 or IPv6.
fn mix_frame(a: &BlastArgs, rng: &mut Rng) -> SampledFrame {
    let ipv6 = rng.unit() < a.ipv6;
    let addr = |rng: &mut Rng| if ipv6 { v6(rng) } else { v4(rng, 10) };
    let (src, dst) = (addr(rng), addr(rng));
    let r = rng.unit();
    let transport = if r < a.unreachable {
        // A host probed by the scanner answers "port unreachable" to it.
        let scanner: IpAddr = if ipv6 {
            "2001:db8:bad::7"
                .parse()
                .unwrap_or(IpAddr::V6(Ipv6Addr::LOCALHOST))
        } else {
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))
        };
        let frame = Frame::new(
            src,
            scanner,
            Transport::Unreachable {
                code: if ipv6 { 4 } else { 3 },
                original: Original {
                    src: scanner,
                    dst: src,
                    protocol: if rng.below(2) == 0 { 17 } else { 6 },
                    src_port: 40_000 + rng.below(20_000) as u16,
                    dst_port: 1 + rng.below(1024) as u16,
                },
            },
        );
        return sampled(a, frame, rng);
    } else if r < a.unreachable + a.icmp {
        Transport::Icmp {
            icmp_type: if ipv6 { 128 } else { 8 },
            code: 0,
        }
    } else if r < a.unreachable + a.icmp + a.udp {
        Transport::Udp {
            src_port: 1024 + rng.below(60_000) as u16,
            dst_port: [53, 123, 443, 4789, 514][rng.below(5) as usize],
        }
    } else {
        Transport::Tcp {
            src_port: 1024 + rng.below(60_000) as u16,
            dst_port: [443, 80, 22, 8080, 3306, 6379][rng.below(6) as usize],
            flags: [0x10, 0x18, 0x02, 0x11][rng.below(4) as usize],
        }
    };
    sampled(a, Frame::new(src, dst, transport), rng)
}

fn sampled(a: &BlastArgs, mut frame: Frame, rng: &mut Rng) -> SampledFrame {
    frame.vlan = Some(100 + rng.below(8) as u16);
    frame.payload_len = rng.below(1400) as u16;
    let mut bytes = Vec::with_capacity(1600);
    frame.write_ethernet(&mut bytes);
    if bytes.len() < a.header_bytes {
        bytes.resize(a.header_bytes, 0);
    }
    // Plus the 4-byte FCS the agent saw on the wire (sFlow "stripped").
    let frame_length = bytes.len() as u32 + 4;
    bytes.truncate(a.header_bytes);
    SampledFrame {
        header: bytes,
        frame_length,
    }
}

/// Byte offsets inside a pre-encoded flow datagram, for patching.
struct Layout {
    /// Datagram header: sequence and uptime words.
    seq_at: usize,
    uptime_at: usize,
    agent_at: usize,
    agent_len: usize,
    /// Start of sample 0 and the size of each sample.
    first_sample: usize,
    sample_len: usize,
    len: usize,
}

/// Offsets inside a compact flow sample, from its tag (its envelope, then its fixed part).
mod at {
    use crate::sflow::layout::{element, flow_sample};
    pub const SEQUENCE: usize = element::LEN + flow_sample::SEQUENCE;
    pub const SOURCE: usize = element::LEN + flow_sample::SOURCE_ID;
    pub const POOL: usize = element::LEN + flow_sample::SAMPLE_POOL;
    pub const DROPS: usize = element::LEN + flow_sample::DROPS;
    pub const INPUT: usize = element::LEN + flow_sample::INPUT;
    pub const OUTPUT: usize = element::LEN + flow_sample::OUTPUT;
}

/// Pre-encoded datagrams with placeholder numbers, all of one layout.
fn templates(
    a: &BlastArgs,
    agent: IpAddr,
    frames: &[SampledFrame],
    n: usize,
) -> (Vec<Vec<u8>>, Layout) {
    let mut out = Vec::with_capacity(n);
    let mut k = 0usize;
    for _ in 0..n {
        let mut b = DatagramBuilder::new(agent, 0, 0, 0);
        for _ in 0..a.samples {
            let f = &frames[k % frames.len()];
            k += 1;
            let h = FlowSampleHeader {
                sampling_rate: a.sampling_rate,
                ..FlowSampleHeader::default()
            };
            let header = FlowRecord::SampledHeader {
                protocol: header_protocol::ETHERNET,
                frame_length: f.frame_length,
                stripped: 4,
                header: &f.header,
            };
            if a.switch_records {
                let vlan = 100 + (k % 8) as u32;
                b.flow_sample(
                    &h,
                    &[
                        header,
                        FlowRecord::ExtendedSwitch {
                            src_vlan: vlan,
                            src_priority: 0,
                            dst_vlan: vlan,
                            dst_priority: 0,
                        },
                    ],
                );
            } else {
                b.flow_sample(&h, &[header]);
            }
        }
        out.push(b.finish());
    }
    use crate::sflow::layout::datagram as dg;
    let agent_len = if agent.is_ipv4() {
        dg::IPV4_LEN
    } else {
        dg::IPV6_LEN
    };
    let tail_at = dg::ADDRESS + agent_len;
    let header_len = tail_at + dg::TAIL_LEN;
    let len = out.first().map_or(header_len, Vec::len);
    let sample_len = (len - header_len) / a.samples.max(1) as usize;
    let layout = Layout {
        agent_at: dg::ADDRESS,
        agent_len,
        seq_at: tail_at + dg::SEQUENCE,
        uptime_at: tail_at + dg::UPTIME,
        first_sample: header_len,
        sample_len,
        len,
    };
    (out, layout)
}

fn put(buf: &mut [u8], at: usize, v: u32) {
    if let Some(w) = buf.get_mut(at..at + 4) {
        w.copy_from_slice(&v.to_be_bytes());
    }
}

/// The numbering state of one simulated switch.
struct Stream {
    addr: IpAddr,
    sequence: u32,
    /// Per interface: last sample sequence number and sample pool.
    sample_seq: Vec<u32>,
    pool: Vec<u32>,
    counter_seq: Vec<u32>,
    next_interface: u32,
    template: usize,
}

impl Stream {
    fn new(addr: IpAddr, interfaces: u32, template: usize) -> Stream {
        Stream {
            addr,
            sequence: 0,
            sample_seq: vec![0; interfaces as usize],
            pool: vec![0; interfaces as usize],
            counter_seq: vec![0; interfaces as usize],
            next_interface: 0,
            template,
        }
    }

    /// Write this switch's next flow datagram into `d` (exactly `layout.len` bytes).
    fn next_flow_datagram(
        &mut self,
        a: &BlastArgs,
        templates: &[Vec<u8>],
        layout: &Layout,
        uptime: u32,
        d: &mut [u8],
    ) {
        let interfaces = self.sample_seq.len() as u32;
        let tpl = &templates[self.template % templates.len()];
        self.template = self.template.wrapping_add(1);
        d.copy_from_slice(&tpl[..layout.len]);
        self.sequence = self.sequence.wrapping_add(1);
        match self.addr {
            IpAddr::V4(x) if layout.agent_len == 4 => {
                d[layout.agent_at..layout.agent_at + 4].copy_from_slice(&x.octets())
            }
            IpAddr::V6(x) if layout.agent_len == 16 => {
                d[layout.agent_at..layout.agent_at + 16].copy_from_slice(&x.octets())
            }
            _ => {}
        }
        put(d, layout.seq_at, self.sequence);
        put(d, layout.uptime_at, uptime);
        for s in 0..a.samples as usize {
            let i = self.next_interface as usize;
            self.next_interface = (self.next_interface + 1) % interfaces;
            self.sample_seq[i] = self.sample_seq[i].wrapping_add(1);
            self.pool[i] = self.pool[i].wrapping_add(a.sampling_rate);
            let base = layout.first_sample + s * layout.sample_len;
            put(d, base + at::SEQUENCE, self.sample_seq[i]);
            put(d, base + at::SOURCE, i as u32 + 1);
            put(d, base + at::POOL, self.pool[i]);
            put(d, base + at::DROPS, 0);
            put(d, base + at::INPUT, i as u32 + 1);
            put(d, base + at::OUTPUT, ((i as u32 + 1) % interfaces) + 1);
        }
    }
}

/// One simulated switch and its socket.
struct Agent {
    stream: Stream,
    sender: UdpSender,
    next_counters: Instant,
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

fn blast_thread(
    a: &BlastArgs,
    t: usize,
    threads: usize,
    quota: Option<u64>,
    start: Instant,
    stop: &AtomicBool,
    counters: &BlastCounters,
) -> io::Result<bool> {
    let mut rng = Rng(a.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (t as u64 + 1) | 1);
    let frames: Vec<SampledFrame> = (0..256).map(|_| mix_frame(a, &mut rng)).collect();
    let from: SocketAddr = if a.to.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let interfaces = a.interfaces.max(1);
    let mut agents = Vec::new();
    for i in (t..a.agents.max(1) as usize).step_by(threads) {
        let mut sender = UdpSender::connect(from, a.to, 4 << 20)?;
        if a.no_gso {
            sender.disable_gso();
        }
        agents.push(Agent {
            // Host addresses from .1 on: the prefix's own address is not a switch.
            stream: Stream::new(a.agent_prefix.nth(i as u64 + 1), interfaces, i),
            sender,
            next_counters: start,
        });
    }
    if agents.is_empty() {
        return Ok(true);
    }
    let family_agent = agents[0].stream.addr;
    let (templates, layout) = templates(a, family_agent, &frames, 64);
    let segments = a.gso_segments.clamp(1, 64);
    let mut buf = vec![0u8; segments * layout.len];
    let rate = a.rate.filter(|r| *r > 0.0).map(|r| r / threads as f64);
    let deadline = a.duration.map(|d| start + Duration::from_secs_f64(d));
    let mut sent: u64 = 0;
    let mut turn = 0usize;
    let mut counter_buf = Vec::with_capacity(1500);
    let mut gso = !a.no_gso;
    // Bounded by the stop flag, the deadline or the quota.
    loop {
        if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let left = quota.map_or(u64::MAX, |q| q - sent);
        if left == 0 {
            break;
        }
        let n_agents = agents.len();
        let agent = &mut agents[turn % n_agents];
        turn += 1;
        let uptime = start.elapsed().as_millis() as u32;
        // Counter datagrams first, when due (they count against the quota too).
        if a.counters_every > 0 && Instant::now() >= agent.next_counters {
            agent.next_counters += Duration::from_secs(a.counters_every);
            let n = send_counters(agent, uptime, left, &mut counter_buf, counters)?;
            sent += n;
            continue;
        }
        let n = (segments as u64).min(left) as usize;
        for k in 0..n {
            let d = &mut buf[k * layout.len..(k + 1) * layout.len];
            agent
                .stream
                .next_flow_datagram(a, &templates, &layout, uptime, d);
        }
        let done = agent
            .sender
            .send_segments(&buf[..n * layout.len], layout.len)? as u64;
        gso &= agent.sender.gso();
        sent += done;
        counters.datagrams.fetch_add(done, Ordering::Relaxed);
        counters
            .flow_samples
            .fetch_add(done * u64::from(a.samples), Ordering::Relaxed);
        counters
            .bytes
            .fetch_add(done * layout.len as u64, Ordering::Relaxed);
        if let Some(r) = rate {
            super::replay::pace(start, sent, r);
        }
    }
    Ok(gso)
}

/// Send one generic-interface counter sample per interface of `agent`, packed into
/// datagrams of at most ~1400 bytes. Returns the datagrams sent (at most `left`).
fn send_counters(
    agent: &mut Agent,
    uptime: u32,
    left: u64,
    buf: &mut Vec<u8>,
    counters: &BlastCounters,
) -> io::Result<u64> {
    let per_datagram = 11usize;
    let st = &mut agent.stream;
    let interfaces = st.counter_seq.len();
    let mut sent = 0;
    let mut i = 0;
    while i < interfaces && sent < left {
        st.sequence = st.sequence.wrapping_add(1);
        let mut b =
            DatagramBuilder::with_buffer(std::mem::take(buf), st.addr, 0, st.sequence, uptime);
        let mut samples = 0;
        while i < interfaces && samples < per_datagram {
            st.counter_seq[i] = st.counter_seq[i].wrapping_add(1);
            let frames = u64::from(st.pool[i]);
            let c = GenericInterface {
                if_index: i as u32 + 1,
                if_type: 6,
                if_speed: 100_000_000_000,
                if_direction: 1,
                if_status: 3,
                in_octets: frames * 800,
                in_ucast: frames as u32,
                out_octets: frames * 800,
                out_ucast: frames as u32,
                ..GenericInterface::default()
            };
            b.counter_sample(st.counter_seq[i], &c);
            samples += 1;
            i += 1;
        }
        let d = b.finish();
        agent.sender.send_each(&[&d])?;
        sent += 1;
        counters.datagrams.fetch_add(1, Ordering::Relaxed);
        counters
            .counter_samples
            .fetch_add(samples as u64, Ordering::Relaxed);
        counters.bytes.fetch_add(d.len() as u64, Ordering::Relaxed);
        *buf = d;
    }
    Ok(sent)
}

pub fn run(args: BlastArgs) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, Arc::clone(&stop));
    }
    let counters = Arc::new(BlastCounters::default());
    let done = Arc::new(AtomicBool::new(false));
    let ticker = (!args.quiet).then(|| {
        let counters = Arc::clone(&counters);
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut last = (Instant::now(), 0u64, 0u64, 0u64);
            // Ends when the blast is done.
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let el = last.0.elapsed();
                if el < Duration::from_secs(1) {
                    continue;
                }
                let d = counters.datagrams.load(Ordering::Relaxed);
                let s = counters.flow_samples.load(Ordering::Relaxed);
                let b = counters.bytes.load(Ordering::Relaxed);
                let secs = el.as_secs_f64();
                eprintln!(
                    "blast: {:.0} datagrams/s, {:.0} flow samples/s, {:.2} Gbit/s",
                    (d - last.1) as f64 / secs,
                    (s - last.2) as f64 / secs,
                    (b - last.3) as f64 * 8.0 / secs / 1e9
                );
                last = (Instant::now(), d, s, b);
            }
        })
    });
    let result = blast(&args, &stop, &counters);
    done.store(true, Ordering::Relaxed);
    if let Some(t) = ticker {
        let _ = t.join();
    }
    match result {
        Ok(s) => {
            eprintln!(
                "blast: sent {} datagrams ({} flow samples, {} counter samples, {} bytes) to {} in {:.3} s: {:.0} datagrams/s, GSO {}",
                s.datagrams,
                s.flow_samples,
                s.counter_samples,
                s.bytes,
                args.to,
                s.elapsed.as_secs_f64(),
                s.rate(),
                if s.gso { "on" } else { "off" }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("flowsift blast: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sflow::{decode_datagram, FlowSampleMeta, Visitor};

    #[derive(Default)]
    struct Count {
        flows: u64,
        unreachable: u64,
        bad: u64,
    }
    impl Visitor for Count {
        fn flow_sample(&mut self, _m: &FlowSampleMeta, r: &crate::record::SampleRecord) {
            self.flows += 1;
            if r.keys.unreachable().is_some() {
                self.unreachable += 1;
            }
        }
        fn sample_error(&mut self, _e: &crate::sflow::SampleError) {
            self.bad += 1;
        }
    }

    #[test]
    fn templates_decode_with_the_mix() {
        let mut a = BlastArgs::to("127.0.0.1:6343".parse().unwrap());
        a.unreachable = 0.5;
        let mut rng = Rng(7);
        let frames: Vec<SampledFrame> = (0..64).map(|_| mix_frame(&a, &mut rng)).collect();
        let (t, layout) = templates(&a, "10.0.0.1".parse().unwrap(), &frames, 8);
        assert!(t.iter().all(|d| d.len() == layout.len));
        assert_eq!(layout.len, 28 + 7 * (8 + 32 + 8 + 16 + 128));
        let mut c = Count::default();
        for d in &t {
            decode_datagram(d, 0, &mut c).unwrap();
        }
        assert_eq!(c.flows, 56);
        assert_eq!(c.bad, 0);
        assert!(c.unreachable > 5, "{} unreachable answers", c.unreachable);
    }

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
