//! The receive benchmark's pipeline latency mode (issue 5): the whole collector in process
//! (`Pipeline`: receive threads, flow worker, syslog sender, as `flowsift run` builds it)
//! fed at 1 M flow samples/s with 1% ICMP port unreachable, events to a syslog receiver
//! thread on loopback, and the sender's receipt-to-send histogram read at the end.
//!
//! The generator is this file's own, not `blast`: blast cycles a fixed pool of frames, so
//! after its first pass every unreachable key has been seen and only a few hundred events
//! (a burst at the start) are measured. Here every 100th flow sample is an ICMP port
//! unreachable with a key never seen before (responder address and port from a counter),
//! so each run yields one event per 100 samples, ~10 000 events/s spread evenly over the
//! run, and the percentiles rest on tens of thousands of latency samples. The other 99%
//! are ordinary TCP and UDP frames. As `blast` does, it simulates 16 switches (one socket
//! each, so SO_REUSEPORT spreads them over the receive threads), 7 flow samples with
//! 128-byte headers per ~1.4 KB datagram, sent as UDP GSO runs, paced to the rate. It runs
//! under `SCHED_IDLE` (nice 19 where that is refused): in production the generator is
//! another machine, and here it must not take the collector's cores when the scheduler has
//! a choice.
//!
//! Environment (this mode runs when `FLOWSIFT_BENCH_LATENCY` is set, and nothing else does):
//! - `FLOWSIFT_BENCH_LATENCY`: transports, comma-separated: `udp`, `tcp` (e.g. `udp,tcp`);
//! - `FLOWSIFT_BENCH_RX_THREADS`: receive thread counts to try (default `1,2`; 1 runs on
//!   core 0, 2 on cores 0 and 1);
//! - `FLOWSIFT_BENCH_RUNS`: runs per (transport, threads) (default 3);
//! - `FLOWSIFT_BENCH_SECS`: seconds per run (default 5);
//! - `FLOWSIFT_BENCH_LATENCY_RATE`: datagrams/s (default 143 000, i.e. 1 M samples/s);
//! - `FLOWSIFT_BENCH_FLUSH_MS`: the sink's `flush_ms` (default: the configuration default);
//! - `FLOWSIFT_BENCH_WORKER_CORE`: pin the flow worker to this core (default: unpinned);
//! - `FLOWSIFT_BENCH_SLICE_US`: the `[scheduler] slice_us` to run with (default: the
//!   configuration default; 0 for the kernel's own slice).
//!
//! The last two columns are diagnostics. Run-queue wait: for the receive threads, the flow
//! worker and the sink thread, the mean time a wake-up waited for a CPU during the run
//! (`schedstat`'s run-queue wait over its timeslices), which is what the tail of the
//! histogram is made of once no hand-off waits on a timer. Steal: how long the hypervisor
//! kept this guest's CPUs from running during the run (`/proc/stat`, 10 ms resolution); the
//! host takes them a few ms at a time, and each such stop delays every event in flight.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flowsift::config::Config;
use flowsift::pipeline::Pipeline;
use flowsift::sink::config::{Address, HostName, Transport};
use flowsift::synth::{
    header_protocol, DatagramBuilder, FlowSampleHeader, FrameSpec, Original, RecordSpec, Rng,
    Transport as L4,
};
use flowsift::udp::UdpSender;

const SAMPLES_PER_DATAGRAM: u32 = 7;
const HEADER_BYTES: usize = 128;
const AGENTS: u32 = 16;
const INTERFACES: u32 = 48;
const SAMPLING_RATE: u32 = 10_000;
/// One flow sample in this many is an ICMP port unreachable with a new key.
const UNREACHABLE_EVERY: u64 = 100;
/// Datagrams per GSO send: small runs, so arrivals are closer to many independent switches.
const SEGMENTS: usize = 16;

/// What one run measured.
struct Run {
    secs: f64,
    offered_samples: u64,
    samples: u64,
    kernel_drops: u64,
    ring_drops: u64,
    events: u64,
    events_dropped: u64,
    sent: u64,
    batches: u64,
    received: u64,
    latency: flowsift::sink::LatencySummary,
    /// Per thread class: (time waiting for a CPU after being runnable, ns; times scheduled).
    waits: Vec<(&'static str, u64, u64)>,
    /// Time the hypervisor ran something else instead of this guest's CPUs, ms (all CPUs).
    steal_ms: u64,
}

/// Steal time of all CPUs so far, in ms (`/proc/stat`, USER_HZ = 100 ticks per second):
/// on a VM the host may stop the guest's CPUs for a few ms at a time, and every event in
/// flight then is late by that much, whatever the collector does.
fn steal_ms() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    stat.lines()
        .find(|l| l.starts_with("cpu "))
        .and_then(|l| l.split_whitespace().nth(8))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |ticks| ticks * 10)
}

/// The collector's thread classes, by thread name prefix.
const CLASSES: [(&str, &str); 3] = [
    ("flowsift-rx", "rx"),
    ("flowsift-flow", "worker"),
    ("sink-", "sink"),
];

/// Run-queue wait (ns) and timeslices per thread class, summed over the live threads, from
/// `/proc/self/task/*/schedstat` (CPU time, run-queue wait, timeslices).
fn sched_waits() -> Vec<(&'static str, u64, u64)> {
    let mut out: Vec<(&'static str, u64, u64)> = CLASSES.iter().map(|c| (c.1, 0, 0)).collect();
    let Ok(rd) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for e in rd.flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        let Some(k) = CLASSES.iter().position(|c| comm.starts_with(c.0)) else {
            continue;
        };
        let st = std::fs::read_to_string(e.path().join("schedstat")).unwrap_or_default();
        let f: Vec<u64> = st
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if let (Some(w), Some(n)) = (f.get(1), f.get(2)) {
            out[k].1 += w;
            out[k].2 += n;
        }
    }
    out
}

/// A syslog receiver thread on loopback that drains and counts what arrives.
struct SyslogReceiver {
    addr: SocketAddr,
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
}

impl SyslogReceiver {
    fn start(transport: Transport) -> SyslogReceiver {
        let count = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (Arc::clone(&count), Arc::clone(&stop));
        let (addr, join) = match transport {
            Transport::Udp => {
                let sock = UdpSocket::bind("127.0.0.1:0").expect("bind syslog receiver");
                let _ = socket2::SockRef::from(&sock).set_recv_buffer_size(8 << 20);
                sock.set_read_timeout(Some(Duration::from_millis(50)))
                    .expect("timeout");
                let addr = sock.local_addr().expect("addr");
                let join = std::thread::spawn(move || {
                    let mut buf = [0u8; 2048];
                    // Ends when told to stop; each recv waits at most 50 ms.
                    while !s.load(Ordering::Relaxed) {
                        if sock.recv(&mut buf).is_ok() {
                            c.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
                (addr, join)
            }
            _ => {
                let l = TcpListener::bind("127.0.0.1:0").expect("bind syslog receiver");
                l.set_nonblocking(true).expect("nonblocking");
                let addr = l.local_addr().expect("addr");
                let join = std::thread::spawn(move || {
                    let mut buf = vec![0u8; 1 << 16];
                    let mut conns: Vec<std::net::TcpStream> = Vec::new();
                    // Ends when told to stop; every wait is bounded (1 ms sleep or 50 ms read).
                    while !s.load(Ordering::Relaxed) {
                        if let Ok((conn, _)) = l.accept() {
                            let _ = conn.set_nonblocking(false);
                            let _ = conn.set_read_timeout(Some(Duration::from_millis(50)));
                            conns.push(conn);
                        }
                        let Some(conn) = conns.last_mut() else {
                            std::thread::sleep(Duration::from_millis(1));
                            continue;
                        };
                        // Bytes, not messages: the sender's `sent` counts messages, and
                        // this only has to drain the stream.
                        if let Ok(n) = conn.read(&mut buf) {
                            c.fetch_add(n as u64, Ordering::Relaxed);
                        }
                    }
                });
                (addr, join)
            }
        };
        SyslogReceiver {
            addr,
            count,
            stop,
            join: Some(join),
        }
    }

    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
        self.count.load(Ordering::Relaxed)
    }
}

fn set_nice(v: i32) {
    // SAFETY: setpriority on this thread's id has no memory preconditions.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, v) };
}

/// Run this thread under `SCHED_IDLE` (else at nice 19): any collector thread that wakes
/// takes the core from it at once, where a nice-19 thread can keep it for the rest of its
/// slice and put milliseconds into the collector's tail.
fn generator_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param; pid 0 is this thread.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } != 0 {
        set_nice(19);
    }
}

/// A sampled frame's first `HEADER_BYTES` (zero-padded) and its full length.
fn sampled(frame: &FrameSpec, out: &mut Vec<u8>) -> u32 {
    out.clear();
    frame.write_ethernet(out);
    if out.len() < HEADER_BYTES {
        out.resize(HEADER_BYTES, 0);
    }
    let length = out.len() as u32 + 4;
    out.truncate(HEADER_BYTES);
    length
}

/// The 99%: ordinary TCP and UDP frames from a fixed pool.
fn ordinary_pool(rng: &mut Rng) -> Vec<(Vec<u8>, u32)> {
    (0..64)
        .map(|_| {
            let a = |rng: &mut Rng| {
                IpAddr::V4(Ipv4Addr::new(
                    10,
                    rng.below(256) as u8,
                    rng.below(256) as u8,
                    1 + rng.below(254) as u8,
                ))
            };
            let (src, dst) = (a(rng), a(rng));
            let t = if rng.below(4) == 0 {
                L4::Udp {
                    src_port: 1024 + rng.below(60_000) as u16,
                    dst_port: 53,
                }
            } else {
                L4::Tcp {
                    src_port: 1024 + rng.below(60_000) as u16,
                    dst_port: 443,
                    flags: 0x10,
                }
            };
            let mut f = FrameSpec::new(src, dst, t);
            f.vlan = Some(100);
            f.payload_len = rng.below(1400) as u16;
            let mut h = Vec::with_capacity(1600);
            let len = sampled(&f, &mut h);
            (h, len)
        })
        .collect()
}

/// The 1%: "port unreachable" from a responder never seen before to the scanner.
fn unreachable_frame(n: u64, out: &mut Vec<u8>) -> u32 {
    let responder = IpAddr::V4(Ipv4Addr::new(
        172,
        16 + ((n >> 16) & 0x0F) as u8,
        (n >> 8) as u8,
        n as u8,
    ));
    let scanner = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    let mut f = FrameSpec::new(
        responder,
        scanner,
        L4::Unreachable {
            code: 3,
            original: Original {
                src: scanner,
                dst: responder,
                protocol: 17,
                src_port: 40_000,
                dst_port: 1 + (n % 1024) as u16,
            },
        },
    );
    f.vlan = Some(100);
    sampled(&f, out)
}

/// Send `rate` datagrams/s to `to` until `stop` or `secs`; returns the flow samples sent.
fn generate(to: SocketAddr, rate: f64, secs: f64, seed: u64, stop: &AtomicBool) -> u64 {
    generator_priority();
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let pool = ordinary_pool(&mut rng);
    let mut senders: Vec<UdpSender> = (0..AGENTS)
        .map(|_| {
            UdpSender::connect((Ipv4Addr::UNSPECIFIED, 0).into(), to, 4 << 20).expect("socket")
        })
        .collect();
    let mut seq = vec![0u32; AGENTS as usize];
    let mut sample_seq = vec![0u32; (AGENTS * INTERFACES) as usize];
    let mut builder = DatagramBuilder::new(Ipv4Addr::LOCALHOST.into(), 0, 0, 0);
    let mut unreach = Vec::with_capacity(256);
    let mut buf: Vec<u8> = Vec::with_capacity(SEGMENTS * 1500);
    // Keys start from a seed-dependent point so runs in one process never repeat a key.
    let mut next_key = seed << 20;
    let mut sample = 0u64;
    let mut datagrams = 0u64;
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let mut turn = 0usize;
    // Bounded by `secs` (and `stop`).
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        let a = turn % AGENTS as usize;
        turn += 1;
        buf.clear();
        let mut segment = 0;
        for _ in 0..SEGMENTS {
            seq[a] = seq[a].wrapping_add(1);
            let agent = IpAddr::V4(Ipv4Addr::new(10, 255, 0, a as u8 + 1));
            builder.reset(agent, 0, seq[a], start.elapsed().as_millis() as u32);
            for s in 0..SAMPLES_PER_DATAGRAM {
                let iface = (seq[a].wrapping_mul(SAMPLES_PER_DATAGRAM) + s) % INTERFACES;
                let slot = (a as u32 * INTERFACES + iface) as usize;
                sample_seq[slot] = sample_seq[slot].wrapping_add(1);
                let (header, length): (&[u8], u32) = if sample % UNREACHABLE_EVERY == 0 {
                    next_key += 1;
                    let len = unreachable_frame(next_key, &mut unreach);
                    (&unreach, len)
                } else {
                    let (h, l) = &pool[(sample % pool.len() as u64) as usize];
                    (h, *l)
                };
                sample += 1;
                builder.flow_sample(
                    &FlowSampleHeader {
                        sequence: sample_seq[slot],
                        source_index: iface + 1,
                        sampling_rate: SAMPLING_RATE,
                        sample_pool: sample_seq[slot].wrapping_mul(SAMPLING_RATE),
                        input: iface + 1,
                        output: (iface + 1) % INTERFACES + 1,
                        ..FlowSampleHeader::default()
                    },
                    &[RecordSpec::SampledHeader {
                        protocol: header_protocol::ETHERNET,
                        frame_length: length,
                        stripped: 4,
                        header,
                    }],
                );
            }
            segment = builder.len();
            buf.extend_from_slice(builder.as_bytes());
        }
        datagrams += senders[a]
            .send_segments(&buf, segment)
            .expect("send to the collector") as u64;
        let due = Duration::from_secs_f64(datagrams as f64 / rate);
        let now = start.elapsed();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
    senders.clear();
    datagrams * u64::from(SAMPLES_PER_DATAGRAM)
}

fn one_run(transport: Transport, threads: usize, rate: f64, secs: f64, seed: u64) -> Run {
    let receiver = SyslogReceiver::start(transport);
    let mut cfg = Config::default();
    cfg.rx.listen = vec!["127.0.0.1:0".parse().expect("addr")];
    cfg.rx.cores = (0..threads).collect();
    if let Some(core) = std::env::var("FLOWSIFT_BENCH_WORKER_CORE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cfg.workers.cores = vec![core];
    }
    cfg.stats.interval_s = 0;
    if let Some(us) = std::env::var("FLOWSIFT_BENCH_SLICE_US")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cfg.scheduler.slice_us = us;
    }
    let sink = &mut cfg.sinks[0];
    sink.transport = transport;
    sink.address = Address::parse(&receiver.addr.to_string()).expect("address");
    sink.hostname = Some(HostName("bench".into()));
    if let Some(ms) = std::env::var("FLOWSIFT_BENCH_FLUSH_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        sink.flush_ms = ms;
    }
    let pipeline = Pipeline::start(&cfg).expect("pipeline");
    let to = pipeline.local_addrs()[0];
    let stop = AtomicBool::new(false);
    let waits_before = sched_waits();
    let steal_before = steal_ms();
    let started = Instant::now();
    let offered = std::thread::scope(|s| {
        s.spawn(|| generate(to, rate, secs, seed, &stop))
            .join()
            .unwrap_or(0)
    });
    let elapsed = started.elapsed().as_secs_f64();
    let steal = steal_ms().saturating_sub(steal_before);
    let waits: Vec<(&'static str, u64, u64)> = sched_waits()
        .into_iter()
        .zip(&waits_before)
        .map(|(a, b)| (a.0, a.1.saturating_sub(b.1), a.2.saturating_sub(b.2)))
        .collect();
    // Let what is in flight arrive (bounded), then stop in the collector's own order.
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let st = pipeline.stats();
        if st.rx.totals.flow_samples + st.rx.kernel_drops * u64::from(SAMPLES_PER_DATAGRAM)
            >= offered
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(50));
    let report = pipeline.shutdown();
    std::thread::sleep(Duration::from_millis(50));
    let received = receiver.stop();
    let s = &report.stats;
    let d = &s.sink.destinations[0];
    Run {
        secs: elapsed,
        offered_samples: offered,
        samples: s.rx.totals.flow_samples,
        kernel_drops: s.rx.kernel_drops,
        ring_drops: s.rx.totals.ring_drops,
        events: s.flow.definitions.iter().map(|d| d.events_emitted).sum(),
        events_dropped: s.flow.definitions.iter().map(|d| d.events_dropped).sum(),
        sent: d.sent,
        batches: d.batches,
        received,
        latency: d.latency,
        waits,
        steal_ms: steal,
    }
}

fn list<T: std::str::FromStr>(var: &str, default: &str) -> Vec<T> {
    std::env::var(var)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect()
}

/// Run the mode if `FLOWSIFT_BENCH_LATENCY` asks for it; true when it ran.
pub fn main() -> bool {
    let Ok(transports) = std::env::var("FLOWSIFT_BENCH_LATENCY") else {
        return false;
    };
    let transports: Vec<Transport> = transports
        .split(',')
        .filter_map(|t| match t.trim() {
            "udp" => Some(Transport::Udp),
            "tcp" => Some(Transport::Tcp),
            _ => None,
        })
        .collect();
    let threads: Vec<usize> = list("FLOWSIFT_BENCH_RX_THREADS", "1,2");
    let runs: u64 = list("FLOWSIFT_BENCH_RUNS", "3")
        .first()
        .copied()
        .unwrap_or(3);
    let secs: f64 = list("FLOWSIFT_BENCH_SECS", "5")
        .first()
        .copied()
        .unwrap_or(5.0);
    let rate: f64 = list("FLOWSIFT_BENCH_LATENCY_RATE", "143000")
        .first()
        .copied()
        .unwrap_or(143_000.0);
    eprintln!(
        "pipeline latency: {rate} datagrams/s of {SAMPLES_PER_DATAGRAM} samples, \
         1 in {UNREACHABLE_EVERY} a new ICMP port unreachable, {secs} s per run"
    );
    println!(
        "| transport | rx threads | run | samples offered | samples received | kernel drops \
         | ring drops | events | events dropped | events/s | sent | received | send calls \
         | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs \
         | run-queue wait µs per wake-up (rx / worker / sink) | steal ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut seed = 1u64;
    for &transport in &transports {
        for &t in &threads {
            for run in 1..=runs {
                let r = one_run(transport, t.max(1), rate, secs, seed);
                seed += 1;
                let l = &r.latency;
                println!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    transport.name(),
                    t,
                    run,
                    r.offered_samples,
                    r.samples,
                    r.kernel_drops,
                    r.ring_drops,
                    r.events,
                    r.events_dropped,
                    r.events as f64 / r.secs.max(1e-9),
                    r.sent,
                    if transport == Transport::Udp {
                        r.received.to_string()
                    } else {
                        format!("{} B", r.received)
                    },
                    r.batches,
                    l.p50_us,
                    l.p90_us,
                    l.p99_us,
                    l.p999_us,
                    l.max_us,
                    r.waits
                        .iter()
                        .map(|(_, w, n)| format!("{:.1}", *w as f64 / 1000.0 / (*n).max(1) as f64))
                        .collect::<Vec<_>>()
                        .join(" / "),
                    r.steal_ms
                );
            }
        }
    }
    true
}
