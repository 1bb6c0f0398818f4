//! Receive benchmark: drive the receive engine with `blast` at rising rates over loopback and
//! compare it with a bare recvmmsg sink that only counts (the machine's ceiling).
//!
//! `cargo bench --bench receive` prints one Markdown table row per (path, rate): offered
//! and received datagrams/s, flow samples/s, kernel drops, ring drops, and CPU per thread
//! (from `/proc/self/task/*/stat`).
//!
//! Core split on the 2-core machine: core 0 runs the generator (one `blast` thread with UDP
//! GSO, 10 nice levels below the rest) and the worker that drains the rings; core 1 runs the
//! one receive thread (or the bare sink). The generator and the receiver never share a
//! core, so the receive side is measured on a core of its own, as in production. The
//! worker runs SCHED_FIFO when permitted (it sleeps when its ring is empty), so it never
//! waits for the generator's time slice.
//!
//! Environment: `FLOWSIFT_BENCH_SECS` (seconds per step, default 2), `FLOWSIFT_BENCH_RATES`
//! (comma-separated datagrams/s; `max` for flat out; default
//! `100000,250000,400000,550000,700000,850000,1000000,max`; empty: no rate steps),
//! `FLOWSIFT_BENCH_RING=0` to skip the ring comparison printed first,
//! `FLOWSIFT_BENCH_URING_BUFFERS` to override `uring_buffers`, `FLOWSIFT_BENCH_GRO=on|off`
//! to run the engine only with UDP GRO on or off (default both; the bare sink never uses
//! it: it is the plain one-datagram-per-receive ceiling).
//!
//! `FLOWSIFT_BENCH_LATENCY=udp,tcp` runs the whole-pipeline latency mode instead (issue 5:
//! receipt-to-send percentiles at 1 M flow samples/s with 1% ICMP port unreachable); see
//! `receive/latency.rs` for what it does and its knobs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flowsift::blast::{blast, BlastArgs, BlastCounters, BlastSummary};
use flowsift::flow::{FlowId, Route, WorkItem};
use flowsift::record::SampleRecord;
use flowsift::ring::ring;
use flowsift::rx::{IoMode, Receiver, RxConfig};

#[path = "receive/latency.rs"]
mod latency;

const GEN_CORE: usize = 0;

/// Spreads samples over workers by data source (the flow engine shards similarly).
struct BySource {
    workers: usize,
}

impl Route for BySource {
    fn route(&mut self, r: &SampleRecord, deliver: &mut dyn FnMut(usize, &FlowId)) {
        let flow = FlowId {
            hash: u64::from(r.source_index()),
            key: [0; flowsift::flow::key::MAX_KEY_WORDS],
            words: 1,
            definition: 0,
        };
        deliver((r.source_index() as usize) % self.workers, &flow);
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Path {
    Bare,
    /// The receive engine with this I/O path, UDP GRO on or off.
    Rx(IoMode, bool),
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Bare => f.write_str("bare recvmmsg sink"),
            Path::Rx(io, gro) => {
                write!(
                    f,
                    "flowsift rx --io {io} gro {}",
                    if *gro { "on" } else { "off" }
                )
            }
        }
    }
}

/// utime + stime of a `stat` line (fields 14 and 15 of proc(5)).
fn stat_ticks(stat: &str) -> u64 {
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

/// CPU ticks per thread class: the receive thread (or bare sink), the worker, and the rest
/// of the process (the generator, whose threads have exited by the time this is read, so
/// it is the process total minus the other two).
fn cpu_ticks() -> HashMap<&'static str, u64> {
    let mut m = HashMap::new();
    let total = stat_ticks(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default());
    let Ok(rd) = std::fs::read_dir("/proc/self/task") else {
        return m;
    };
    for e in rd.flatten() {
        let dir = e.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let ticks = stat_ticks(&std::fs::read_to_string(dir.join("stat")).unwrap_or_default());
        let class = if comm.starts_with("flowsift-rx") || comm.starts_with("bench-sink") {
            "rx"
        } else if comm.starts_with("bench-worker") {
            "worker"
        } else {
            continue;
        };
        *m.entry(class).or_insert(0) += ticks;
    }
    let others = m.values().sum::<u64>();
    m.insert("blast", total.saturating_sub(others));
    m
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// The socket's kernel drop count (SO_MEMINFO, index SK_MEMINFO_DROPS).
fn socket_drops(fd: i32) -> u64 {
    let mut info = [0u32; 9];
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: `info` is writable for `len` bytes; SO_MEMINFO is 55 in asm-generic/socket.h.
    let rc =
        unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, 55, info.as_mut_ptr().cast(), &mut len) };
    if rc == 0 {
        u64::from(info[8])
    } else {
        0
    }
}

/// A pinned thread that only counts datagrams with recvmmsg: the ceiling.
struct BareSink {
    addr: SocketAddr,
    fd: i32,
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
    _sock: Arc<socket2::Socket>,
}

impl BareSink {
    fn start(core: usize, rcvbuf: usize) -> BareSink {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
            .expect("socket");
        let want = rcvbuf as libc::c_int;
        // SAFETY: a c_int option value with its size; SO_RCVBUFFORCE is 33.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                33,
                (&want as *const libc::c_int).cast(),
                4,
            )
        };
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        sock.bind(&"127.0.0.1:0".parse::<SocketAddr>().expect("addr").into())
            .expect("bind");
        let addr = sock.local_addr().expect("local").as_socket().expect("inet");
        let sock = Arc::new(sock);
        let fd = sock.as_raw_fd();
        let count = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (Arc::clone(&count), Arc::clone(&stop));
        let join = std::thread::Builder::new()
            .name("bench-sink".into())
            .spawn(move || {
                core_affinity::set_for_current(core_affinity::CoreId { id: core });
                const N: usize = 64;
                let mut bufs = vec![[0u8; 2048]; N];
                let mut iov: Vec<libc::iovec> = bufs
                    .iter_mut()
                    .map(|b| libc::iovec {
                        iov_base: b.as_mut_ptr().cast(),
                        iov_len: b.len(),
                    })
                    .collect();
                // SAFETY: all-zero mmsghdr is valid; each then points at its own iovec.
                let mut hdrs: Vec<libc::mmsghdr> =
                    (0..N).map(|_| unsafe { std::mem::zeroed() }).collect();
                for (h, v) in hdrs.iter_mut().zip(iov.iter_mut()) {
                    h.msg_hdr.msg_iov = v;
                    h.msg_hdr.msg_iovlen = 1;
                }
                while !s.load(Ordering::Relaxed) {
                    // SAFETY: headers point at live buffers owned by this thread.
                    let n = unsafe {
                        libc::recvmmsg(
                            fd,
                            hdrs.as_mut_ptr(),
                            N as u32,
                            libc::MSG_WAITFORONE,
                            std::ptr::null_mut(),
                        )
                    };
                    if n > 0 {
                        c.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
            })
            .expect("spawn");
        BareSink {
            addr,
            fd,
            count,
            stop,
            join: Some(join),
            _sock: sock,
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

struct Row {
    path: Path,
    offered: f64,
    received: f64,
    samples: f64,
    kernel_drops: u64,
    ring_drops: u64,
    cpu: HashMap<&'static str, f64>,
}

/// This thread's nice value (threads it creates inherit it).
fn nice() -> i32 {
    // SAFETY: getpriority/gettid have no preconditions.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
}

fn set_nice(v: i32) {
    // SAFETY: as above; failure (no CAP_SYS_NICE to go back down) is harmless here.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, v) };
}

fn blast_step(to: SocketAddr, rate: Option<f64>, secs: f64) -> BlastSummary {
    // The generator shares core 0 with the worker: run it 10 nice levels below, so a
    // starved worker never shows up as ring drops of the receive engine.
    let old = nice();
    set_nice(old + 10);
    let summary = blast_inner(to, rate, secs);
    set_nice(old);
    summary
}

fn blast_inner(to: SocketAddr, rate: Option<f64>, secs: f64) -> BlastSummary {
    let mut a = BlastArgs::to(to);
    a.rate = rate;
    a.duration = Some(secs);
    a.threads = 1;
    a.pin = vec![GEN_CORE];
    a.quiet = true;
    a.counters_every = 0;
    blast(&a, &AtomicBool::new(false), &BlastCounters::default()).expect("blast")
}

fn step(path: Path, rate: Option<f64>, secs: f64, rx_core: usize) -> Row {
    let tck = clk_tck();
    match path {
        Path::Bare => {
            let sink = BareSink::start(rx_core, 64 << 20);
            let before = cpu_ticks();
            let sent = blast_step(sink.addr, rate, secs);
            let after = cpu_ticks();
            // Let the sink drain its buffer (bounded).
            let end = Instant::now() + Duration::from_secs(2);
            while sink.count.load(Ordering::Relaxed) + socket_drops(sink.fd) < sent.datagrams
                && Instant::now() < end
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            let got = sink.count.load(Ordering::Relaxed);
            let drops = socket_drops(sink.fd);
            sink.stop();
            let el = sent.elapsed.as_secs_f64();
            Row {
                path,
                offered: sent.rate(),
                received: got as f64 / el,
                samples: 0.0,
                kernel_drops: drops,
                ring_drops: 0,
                cpu: cpu_delta(&before, &after, tck, el),
            }
        }
        Path::Rx(io, gro) => {
            let cfg = RxConfig {
                listen: vec!["127.0.0.1:0".parse().expect("addr")],
                cores: vec![rx_core],
                io,
                gro,
                uring_buffers: std::env::var("FLOWSIFT_BENCH_URING_BUFFERS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(RxConfig::default().uring_buffers),
                ..RxConfig::default()
            };
            let workers = 1;
            let (p, mut c) = ring::<WorkItem>(cfg.ring_capacity);
            let routers: Vec<Box<dyn Route>> = vec![Box::new(BySource { workers })];
            let rx = Receiver::start(cfg, routers, vec![vec![p]]).expect("receiver");
            let addr = rx.local_addrs()[0];
            let worker = std::thread::Builder::new()
                .name("bench-worker".into())
                .spawn(move || {
                    core_affinity::set_for_current(core_affinity::CoreId { id: GEN_CORE });
                    // Real-time priority (when allowed): the worker preempts the generator
                    // the moment it wakes, so ring drops measure the receive engine, not a
                    // worker waiting for the generator's time slice. It sleeps when idle.
                    let param = libc::sched_param { sched_priority: 10 };
                    // SAFETY: `param` is a valid sched_param; pid 0 is this thread.
                    unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
                    let mut buf = Vec::with_capacity(4096);
                    let mut n = 0u64;
                    // Ends when the receiver stops (producer dropped) and the ring is empty.
                    while !c.is_finished() {
                        let got = c.pop_into(&mut buf, 4096);
                        n += got as u64;
                        buf.clear();
                        if got == 0 {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                    }
                    n
                })
                .expect("worker");
            let before = cpu_ticks();
            let sent = blast_step(addr, rate, secs);
            let after = cpu_ticks();
            let end = Instant::now() + Duration::from_secs(2);
            loop {
                let s = rx.stats();
                if s.totals.datagrams + s.kernel_drops >= sent.datagrams || Instant::now() > end {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let stats = rx.stop();
            let _ = worker.join();
            let el = sent.elapsed.as_secs_f64();
            Row {
                path,
                offered: sent.rate(),
                received: stats.totals.datagrams as f64 / el,
                samples: stats.totals.flow_samples as f64 / el,
                kernel_drops: stats.kernel_drops,
                ring_drops: stats.totals.ring_drops,
                cpu: cpu_delta(&before, &after, tck, el),
            }
        }
    }
}

fn cpu_delta(
    before: &HashMap<&'static str, u64>,
    after: &HashMap<&'static str, u64>,
    tck: f64,
    secs: f64,
) -> HashMap<&'static str, f64> {
    after
        .iter()
        .map(|(k, v)| {
            let b = before.get(k).copied().unwrap_or(0);
            (
                *k,
                (v.saturating_sub(b)) as f64 / tck / secs.max(1e-9) * 100.0,
            )
        })
        .collect()
}

/// CPU time of the calling thread, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    flowsift::clock::thread_cpu_time().as_nanos() as u64
}

/// Producer CPU nanoseconds per item (counting successful batch pushes only, so it is the
/// receive thread's cost, whatever the consumer and the other load on the machine do) from a producer pushing batches of `batch` to a consumer
/// draining with `pop_into`, on two cores: `flowsift::ring` against crossbeam's
/// `ArrayQueue` (the MPMC queue the ring started as), with the same `WorkItem`.
fn ring_bench(items: u64, batch: usize, rx_core: usize) -> (f64, f64) {
    let record = SampleRecord::new(std::net::Ipv4Addr::LOCALHOST.into(), 0, 0)
        .with_source(0, 1)
        .with_input(0, 1)
        .with_output(0, 2)
        .with_sampling_rate(1)
        .with_frame_length(64);
    let item = WorkItem::new(
        &record,
        &FlowId {
            hash: 1,
            key: [0; flowsift::flow::key::MAX_KEY_WORDS],
            words: 1,
            definition: 0,
        },
    );
    let spsc = {
        let (mut p, mut c) = ring::<WorkItem>(65536);
        let start = Instant::now();
        let prod = std::thread::spawn(move || {
            core_affinity::set_for_current(core_affinity::CoreId { id: rx_core });
            let mut sent = 0;
            let mut cpu = 0;
            let mut b = Vec::with_capacity(batch);
            while sent < items {
                b.resize(batch, item);
                let t = thread_cpu_ns();
                if p.push_batch(&mut b).is_ok() {
                    cpu += thread_cpu_ns() - t;
                    sent += batch as u64;
                } else {
                    std::hint::spin_loop();
                }
            }
            cpu as f64 / sent as f64
        });
        core_affinity::set_for_current(core_affinity::CoreId { id: GEN_CORE });
        let mut got = 0;
        let mut out = Vec::with_capacity(4096);
        while got < items {
            out.clear();
            got += c.pop_into(&mut out, 4096) as u64;
        }
        let _ = start;
        prod.join().unwrap_or(f64::NAN)
    };
    let mpmc = {
        let q = Arc::new(crossbeam::queue::ArrayQueue::<WorkItem>::new(65536));
        let start = Instant::now();
        let qp = Arc::clone(&q);
        let prod = std::thread::spawn(move || {
            core_affinity::set_for_current(core_affinity::CoreId { id: rx_core });
            let mut sent = 0;
            let mut cpu = 0;
            let mut b: Vec<WorkItem> = Vec::with_capacity(batch);
            while sent < items {
                b.resize(batch, item);
                let t = thread_cpu_ns();
                // A batch push over an MPMC queue: check room, then one push per item.
                if qp.capacity() - qp.len() >= batch {
                    for i in b.drain(..) {
                        let _ = qp.push(i);
                    }
                    cpu += thread_cpu_ns() - t;
                    sent += batch as u64;
                } else {
                    std::hint::spin_loop();
                }
            }
            cpu as f64 / sent as f64
        });
        core_affinity::set_for_current(core_affinity::CoreId { id: GEN_CORE });
        let mut got = 0u64;
        let mut out = Vec::with_capacity(4096);
        while got < items {
            out.clear();
            while out.len() < 4096 {
                match q.pop() {
                    Some(i) => out.push(i),
                    None => break,
                }
            }
            got += out.len() as u64;
        }
        let _ = start;
        prod.join().unwrap_or(f64::NAN)
    };
    (spsc, mpmc)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    if latency::main() {
        return;
    }
    let secs: f64 = std::env::var("FLOWSIFT_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2.0);
    let rates: Vec<Option<f64>> = std::env::var("FLOWSIFT_BENCH_RATES")
        .unwrap_or_else(|_| "100000,250000,400000,550000,700000,850000,1000000,max".into())
        .split(',')
        .filter(|r| !r.trim().is_empty())
        .map(|r| r.trim().parse::<f64>().ok())
        .collect();
    let cores = core_affinity::get_core_ids().map_or(1, |c| c.len());
    let rx_core = if cores > 1 { 1 } else { 0 };
    eprintln!(
        "receive bench: {secs} s per step, generator + worker on core {GEN_CORE}, receiver on core {rx_core}; WorkItem is {} bytes",
        std::mem::size_of::<WorkItem>()
    );
    if std::env::var("FLOWSIFT_BENCH_RING").map_or(true, |v| v != "0") {
        let (spsc, mpmc) = ring_bench(20_000_000, 64, rx_core);
        println!(
            "ring, {}-byte WorkItems in batches of 64 across two cores, producer CPU per item: \
             flowsift::ring {:.1} ns, crossbeam ArrayQueue {:.1} ns\n",
            std::mem::size_of::<WorkItem>(),
            spsc,
            mpmc
        );
    }
    if rates.is_empty() {
        return;
    }
    println!(
        "| path | target/s | offered dgram/s | received dgram/s | flow samples/s | kernel drops \
         | ring drops | CPU rx % | CPU worker % | CPU blast % |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let gro = std::env::var("FLOWSIFT_BENCH_GRO").unwrap_or_else(|_| "both".into());
    let gro: &[bool] = match gro.as_str() {
        "on" => &[true],
        "off" => &[false],
        _ => &[true, false],
    };
    let mut paths = vec![Path::Bare];
    for io in [IoMode::Uring, IoMode::Recvmmsg] {
        paths.extend(gro.iter().map(|&g| Path::Rx(io, g)));
    }
    for path in paths {
        for &rate in &rates {
            let r = step(path, rate, secs, rx_core);
            println!(
                "| {} | {} | {:.0} | {:.0} | {:.0} | {} | {} | {:.0} | {:.0} | {:.0} |",
                r.path,
                rate.map_or("max".to_string(), |v| format!("{v:.0}")),
                r.offered,
                r.received,
                r.samples,
                r.kernel_drops,
                r.ring_drops,
                r.cpu.get("rx").copied().unwrap_or(0.0),
                r.cpu.get("worker").copied().unwrap_or(0.0),
                r.cpu.get("blast").copied().unwrap_or(0.0),
            );
        }
    }
}
