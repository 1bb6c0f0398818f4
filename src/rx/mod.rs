//! The receive engine: per-core sockets, io_uring or recvmmsg loops, decode where the
//! datagram lands, loss accounting, and the hand-off to the flow workers.
//!
//! ```text
//!   RxConfig ──Receiver::start──▶ one pinned thread per configured core
//!       each thread: one SO_REUSEPORT socket per listen address (sys)
//!                    io_uring multishot RecvMsgMulti + provided buffers (uring)
//!                    or poll + recvmmsg (mmsg)
//!                    └▶ Intake: allowlist → sflow::decode_datagram → loss accounting
//!                              → Route → batched push into one ring per worker
//! ```
//!
//! Design choices:
//! - Sockets, not threads, are the unit of parallelism: the kernel spreads datagrams over
//!   the threads' sockets (hash of the 4-tuple by default, or by CPU with [`Steering`]), so
//!   threads share nothing but their slot of counters.
//! - Decoding happens on the receiving thread right after the copy, while the datagram is in
//!   cache; workers receive compact `WorkItem`s, and the buffer returns to the kernel at once.
//! - A full worker ring never stalls receiving: the batch is dropped and counted.
//! - Loss accounting (per agent and per data source) is per thread. It is exact as long as
//!   one agent's datagrams land on one socket, which both the default hash (same source
//!   address and port) and CPU steering (the NIC's RSS hash) guarantee.
//! - io_uring is probed once; when it is missing anything, or a ring cannot be built, the
//!   thread uses recvmmsg and says so once.
//! - Platform code lives in `sys` (sockets, cmsg, recvmmsg) and `uring` (io_uring): every
//!   `unsafe` of the engine is in those two files.

mod allow;
mod intake;
pub mod interfaces;
mod mmsg;
mod owner;
mod seq;
mod stats;
mod sys;
mod uring;

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam::queue::ArrayQueue;
use crossbeam::utils::CachePadded;
use serde::Deserialize;
use socket2::Socket;

use crate::flow::{Route, WorkItem};
use crate::ring::Producer;

pub use allow::{Allowlist, Cidr, CidrError};
pub use seq::LossCounts;
pub use stats::{
    AgentKey, AgentStats, BadDatagram, BadSenderStats, Counters, ErrorCounts, Report, RxStats,
    SocketStats, SourceKey, SourceStats, ThreadStats, REPORT_LINES,
};

/// Interface counter updates a receive thread may queue between two reads (every 50 ms):
/// 4096 per thread is 80 000 per second, while 100 000 interfaces polled every 20 s send
/// 5000.
pub const INTERFACE_UPDATES_PER_THREAD: usize = 4096;

/// Log notes a receive thread may queue between two reads by the logger (the run loop reads
/// every 50 ms); beyond, notes wait for the sender's next log window.
pub const NOTES_PER_THREAD: usize = 16;

pub(crate) use sys::Received;

/// Which kernel interface the receive threads use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IoMode {
    /// io_uring multishot receive; falls back to recvmmsg (logged once) when io_uring is
    /// unavailable.
    #[default]
    Uring,
    /// poll + recvmmsg.
    Recvmmsg,
}

impl std::str::FromStr for IoMode {
    type Err = String;
    fn from_str(s: &str) -> Result<IoMode, String> {
        match s {
            "uring" | "io_uring" => Ok(IoMode::Uring),
            "recvmmsg" => Ok(IoMode::Recvmmsg),
            _ => Err(format!("unknown I/O mode '{s}' (uring or recvmmsg)")),
        }
    }
}

impl fmt::Display for IoMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoMode::Uring => "uring",
            IoMode::Recvmmsg => "recvmmsg",
        })
    }
}

/// How datagrams are spread over the receive threads' sockets.
///
/// With many agents the kernel's default hash of the 4-tuple spreads well. With few agents
/// (each one a single 4-tuple) it can put most of the load on one thread; then steer by CPU:
/// with a multi-queue NIC whose RSS spreads agents over queues, and IRQs of those queues on
/// the receive cores, each datagram is read by the thread on the core that took it in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Steering {
    /// The kernel's reuseport hash of (source, destination) address and port.
    #[default]
    None,
    /// `SO_INCOMING_CPU` on each socket: the kernel prefers the socket whose thread is
    /// pinned to the CPU that processed the datagram, and hashes otherwise.
    IncomingCpu,
    /// A classic BPF reuseport program picking socket `cpu % threads`: works whatever the
    /// number of CPUs handling network interrupts.
    Cpu,
}

fn default_listen() -> Vec<SocketAddr> {
    vec![
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 6343)),
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, 6343)),
    ]
}

/// Receive engine settings (the `[rx]` table of the configuration file).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RxConfig {
    /// Addresses to listen on. An IPv6 wildcard is IPv6-only; when the host has no IPv6 the
    /// default `[::]:6343` is skipped with a log line.
    pub listen: Vec<SocketAddr>,
    /// CPU cores to run one receive thread each on (pinned). Empty: one thread per core.
    pub cores: Vec<usize>,
    pub io: IoMode,
    /// Receive buffer per socket in bytes, asked with `SO_RCVBUFFORCE`, else `SO_RCVBUF`
    /// (capped by `net.core.rmem_max`).
    pub rcvbuf_bytes: usize,
    /// Provided buffers per receive thread (io_uring). A power of two, at most 32768 (the
    /// kernel's limit per buffer ring). One wake-up reaps at most this many datagrams; when
    /// they run out the multishot receive ends (`no_buffers`) and is re-armed, which is
    /// cheap and normal under load: the rest waits in the socket buffer.
    pub uring_buffers: u32,
    /// Bytes per receive buffer. Datagrams longer than `buffer_size - 108` (room for the
    /// io_uring header, sender address and control data) are counted as truncated.
    pub buffer_size: usize,
    /// Datagrams per recvmmsg call.
    pub recvmmsg_batch: usize,
    /// Accept datagrams the kernel coalesced (`UDP_GRO`): consecutive equal-size datagrams
    /// of one agent arrive as one receive and are split here, which divides the kernel's
    /// per-datagram cost (wake-up, skb free, completion) by the number coalesced. A NIC's GRO
    /// merges a flow's equal-size datagrams within one interrupt; on loopback a GSO sender's
    /// batch arrives whole. Each receive buffer then holds up to 64 KiB.
    pub gro: bool,
    /// Provided buffers per receive thread (io_uring) when `gro` is on, each
    /// [`GRO_BUFFER_SIZE`] bytes; replaces `uring_buffers`/`buffer_size` then.
    pub gro_buffers: u32,
    pub steering: Steering,
    /// Sender prefixes allowed to send; empty allows everyone.
    pub allowlist: Vec<Cidr>,
    /// Capacity of each (receive thread, worker) ring, for whoever builds the rings.
    pub ring_capacity: usize,
    /// Work items pushed to a ring at once.
    pub batch: usize,
    /// Agents (agent, sub-agent) tracked for loss accounting per receive thread.
    pub max_agents: usize,
    /// Data sources tracked for loss accounting per receive thread.
    pub max_sources: usize,
}

impl Default for RxConfig {
    fn default() -> RxConfig {
        RxConfig {
            listen: default_listen(),
            cores: Vec::new(),
            io: IoMode::Uring,
            rcvbuf_bytes: 64 << 20,
            // 2 MiB of buffers: a wake-up reaps at most this many datagrams, and they are
            // still in the core's L2 when decoded. Stalls are carried by the socket buffer
            // (64 MiB: ~110 ms at 1 M datagrams/s over two threads), not by this ring; in the
            // receive bench 4096 and 32768 buffers cost 10-20% more CPU per datagram.
            uring_buffers: 1024,
            buffer_size: 2048,
            recvmmsg_batch: 64,
            gro: true,
            // 256 × 66 KiB = 16.5 MiB: up to 256 receives per wake-up, each of up to 64
            // datagrams when coalesced (one datagram each when the traffic is not).
            gro_buffers: 256,
            steering: Steering::None,
            allowlist: Vec::new(),
            // 16384 × 168-byte items = 2.75 MiB: enough for a ~5 ms worker stall at 3.5 M
            // samples/s, small enough to stay in cache (a 65536-slot ring cost ~25% more per
            // datagram in `intake_cost`, by evicting the loss-accounting tables).
            ring_capacity: 16384,
            batch: 64,
            max_agents: 65536,
            max_sources: 1 << 20,
        }
    }
}

impl RxConfig {
    /// The cores the threads will run on: `cores`, or every core of the machine.
    pub fn thread_cores(&self) -> Vec<Option<usize>> {
        if !self.cores.is_empty() {
            return self.cores.iter().map(|&c| Some(c)).collect();
        }
        match core_affinity::get_core_ids() {
            Some(ids) if !ids.is_empty() => ids.into_iter().map(|c| Some(c.id)).collect(),
            _ => vec![None],
        }
    }

    /// Datagram bytes a receive buffer holds (the rest is kernel metadata).
    pub fn max_datagram(&self) -> usize {
        self.buffer_size.saturating_sub(BUFFER_OVERHEAD)
    }

    /// Provided-buffer count and size for the io_uring loop, and payload bytes per
    /// recvmmsg buffer, with GRO on or off.
    fn buffers(&self, gro: bool) -> (u32, usize, usize) {
        if gro {
            (
                self.gro_buffers,
                GRO_BUFFER_SIZE,
                GRO_BUFFER_SIZE - BUFFER_OVERHEAD,
            )
        } else {
            (
                self.uring_buffers,
                self.buffer_size,
                self.max_datagram().max(64),
            )
        }
    }
}

/// io_uring_recvmsg_out (16) + sockaddr_in6 (28) + control (64).
const BUFFER_OVERHEAD: usize = 16 + 28 + sys::CONTROL_LEN;

/// A receive buffer with GRO: the largest UDP payload (65 527 bytes over IPv6) plus the
/// metadata, rounded up to 1 KiB, so a coalesced receive is never truncated.
pub const GRO_BUFFER_SIZE: usize = 66 * 1024;

/// Why the receive engine could not start.
#[derive(Debug)]
pub enum RxError {
    /// `routers` or `producers` do not have one entry per receive thread.
    Shape {
        threads: usize,
        routers: usize,
        producers: usize,
    },
    /// A listen address could not be bound.
    Bind { addr: SocketAddr, source: io::Error },
    /// Another socket (another collector, most likely) already holds a listen address.
    InUse {
        addr: SocketAddr,
        /// The processes holding it, as `name (pid N)`, where `/proc` tells.
        holders: Vec<String>,
    },
    /// No listen address could be bound at all.
    NoListener,
    /// A receive thread could not be spawned.
    Spawn(io::Error),
}

impl fmt::Display for RxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RxError::Shape {
                threads,
                routers,
                producers,
            } => write!(
                f,
                "{threads} receive threads need as many routers ({routers} given) and producer sets ({producers} given)"
            ),
            RxError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            RxError::InUse { addr, holders } => {
                write!(f, "cannot listen on {addr}: the address is already in use")?;
                if !holders.is_empty() {
                    write!(f, " by {}", holders.join(", "))?;
                }
                f.write_str(
                    "; a second collector on the same address would split the switches' datagrams \
                     with the first: stop it or listen elsewhere",
                )
            }
            RxError::NoListener => f.write_str("no listen address could be bound"),
            RxError::Spawn(e) => write!(f, "cannot start a receive thread: {e}"),
        }
    }
}

impl std::error::Error for RxError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RxError::Bind { source, .. } => Some(source),
            RxError::Spawn(e) => Some(e),
            _ => None,
        }
    }
}

/// What a receive loop reports besides datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IoEvent {
    /// A multishot receive ended for lack of provided buffers.
    NoBuffers,
    /// A multishot receive was re-armed.
    Rearm,
    /// A receive call failed.
    ReceiveError,
}

/// The receive loops' view of what handles datagrams.
pub(crate) trait Handler {
    /// One datagram, while its buffer is held.
    fn datagram(&mut self, r: &Received<'_>);
    /// After each batch of datagrams, and at least every 100 ms when idle.
    fn batch_done(&mut self);
    fn io_event(&mut self, e: IoEvent);
}

/// One receive thread's published counters, on its own cache lines.
pub(crate) struct Slot {
    state: Mutex<stats::ThreadState>,
    /// Bad datagrams worth a log line, for whoever logs (the run loop): bounded, pushed
    /// without waiting; a note that finds it full is left out (the counts still have it).
    notes: ArrayQueue<stats::BadDatagram>,
    /// Interface counters from counter samples, for the metrics side (bounded; a full queue
    /// drops the update and counts it).
    interfaces: ArrayQueue<interfaces::InterfaceCounters>,
    /// The I/O mode the thread actually runs (0 uring, 1 recvmmsg).
    io: AtomicU8,
}

impl Slot {
    fn new(sockets: usize, io: IoMode) -> Slot {
        Slot {
            state: Mutex::new(stats::ThreadState::new(sockets)),
            notes: ArrayQueue::new(NOTES_PER_THREAD),
            interfaces: ArrayQueue::new(INTERFACE_UPDATES_PER_THREAD),
            io: AtomicU8::new(io_code(io)),
        }
    }
}

struct ThreadHandle {
    core: Option<usize>,
    slot: Arc<CachePadded<Slot>>,
    join: Option<JoinHandle<()>>,
}

/// The running receive engine. Dropping it stops it.
pub struct Receiver {
    stop: Arc<AtomicBool>,
    threads: Vec<ThreadHandle>,
    /// Every socket with its local address and thread, for drop counters.
    sockets: Vec<(SocketAddr, usize, Arc<Socket>)>,
    /// The steering in effect: the configured one, or `None` where the kernel refused it.
    steering: Steering,
}

impl Receiver {
    /// Bind the sockets and start one receive thread per core. `routers[i]` and
    /// `producers[i]` go to thread `i`; `producers[i][w]` is its ring to worker `w`.
    pub fn start(
        config: RxConfig,
        routers: Vec<Box<dyn Route>>,
        producers: Vec<Vec<Producer<WorkItem>>>,
    ) -> Result<Receiver, RxError> {
        let cores = config.thread_cores();
        let n = cores.len();
        if routers.len() != n || producers.len() != n {
            return Err(RxError::Shape {
                threads: n,
                routers: routers.len(),
                producers: producers.len(),
            });
        }
        let cpus: Vec<usize> = cores.iter().map(|c| c.unwrap_or(0)).collect();
        let mut per_thread: Vec<Vec<Arc<Socket>>> = (0..n).map(|_| Vec::new()).collect();
        let mut sockets = Vec::new();
        let mut buffer_note = None;
        let mut steering_ok = true;
        let mut gro = config.gro;
        for &addr in &config.listen {
            if let Err(e) = owner::check_free(addr) {
                if e.kind() == io::ErrorKind::AddrInUse {
                    return Err(RxError::InUse {
                        addr,
                        holders: owner::holders(addr.port()),
                    });
                }
            }
            match sys::bind_group(
                addr,
                &cpus,
                config.rcvbuf_bytes,
                config.steering,
                config.gro,
            ) {
                Ok((group, outcome)) => {
                    buffer_note = Some(outcome);
                    steering_ok &= outcome.steered;
                    gro &= outcome.gro;
                    for (t, sock) in group.into_iter().enumerate() {
                        let local = sock
                            .local_addr()
                            .ok()
                            .and_then(|a| a.as_socket())
                            .unwrap_or(addr);
                        let sock = Arc::new(sock);
                        sockets.push((local, t, Arc::clone(&sock)));
                        per_thread[t].push(sock);
                    }
                }
                Err(e) if addr.is_ipv6() && config.listen.len() > 1 && no_ipv6(&e) => {
                    eprintln!("flowsift: rx: skipping {addr}: {e} (no IPv6 on this host)");
                }
                Err(source) => return Err(RxError::Bind { addr, source }),
            }
        }
        if sockets.is_empty() {
            return Err(RxError::NoListener);
        }
        if let Some(o) = buffer_note {
            // The kernel reports twice the usable size it granted.
            if o.granted < config.rcvbuf_bytes {
                eprintln!(
                    "flowsift: rx: receive buffer {} bytes per socket, asked {}; raise the cap with \
                     `sysctl -w net.core.rmem_max={}` or run with CAP_NET_ADMIN",
                    o.granted, config.rcvbuf_bytes, config.rcvbuf_bytes
                );
            } else {
                eprintln!(
                    "flowsift: rx: receive buffer {} bytes per socket{}",
                    o.granted,
                    if o.capped { " (SO_RCVBUF)" } else { "" }
                );
            }
        }
        if !steering_ok {
            eprintln!(
                "flowsift: rx: {:?} steering unavailable on this kernel; using the reuseport hash",
                config.steering
            );
        }
        if config.gro && !gro {
            eprintln!("flowsift: rx: UDP GRO unavailable on this kernel; one datagram per receive");
        }
        let mut io = config.io;
        if io == IoMode::Uring {
            if let Err(why) = uring::probe() {
                eprintln!("flowsift: rx: {why}; using recvmmsg");
                io = IoMode::Recvmmsg;
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let allow = Allowlist::new(&config.allowlist);
        let limits = stats::Limits {
            agents: config.max_agents.max(1),
            sources: config.max_sources.max(1),
        };
        let mut threads = Vec::with_capacity(n);
        let mut receiver = Receiver {
            stop: Arc::clone(&stop),
            threads: Vec::new(),
            sockets,
            steering: if steering_ok {
                config.steering
            } else {
                Steering::None
            },
        };
        for (t, ((router, producers), socks)) in routers
            .into_iter()
            .zip(producers)
            .zip(per_thread)
            .enumerate()
        {
            let core = cores[t];
            let slot = Arc::new(CachePadded::new(Slot::new(socks.len(), io)));
            let intake_slot = Arc::clone(&slot);
            let stop = Arc::clone(&stop);
            let allow = allow.clone();
            let cfg = config.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("flowsift-rx{t}"))
                .spawn(move || {
                    if let Some(id) = core {
                        core_affinity::set_for_current(core_affinity::CoreId { id });
                    }
                    let mut intake = intake::Intake::new(
                        allow,
                        router,
                        producers,
                        cfg.batch,
                        limits,
                        socks.len(),
                        Arc::clone(&intake_slot),
                    );
                    receive_thread(&cfg, io, gro, &socks, &stop, &mut intake, &intake_slot);
                })
                .map_err(RxError::Spawn);
            match spawned {
                Ok(join) => threads.push(ThreadHandle {
                    core,
                    slot,
                    join: Some(join),
                }),
                Err(e) => {
                    receiver.threads = threads;
                    receiver.shutdown();
                    return Err(e);
                }
            }
        }
        receiver.threads = threads;
        Ok(receiver)
    }

    /// The steering in effect: the configured one, or [`Steering::None`] when the kernel
    /// refused it (said once in the log at start).
    pub fn steering(&self) -> Steering {
        self.steering
    }

    /// The addresses actually bound (useful with port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        let mut v: Vec<SocketAddr> = self.sockets.iter().map(|s| s.0).collect();
        v.dedup();
        v
    }

    /// A snapshot of every counter; cheap enough to call every second.
    pub fn stats(&self) -> RxStats {
        let states: Vec<_> = self
            .threads
            .iter()
            .map(|t| {
                let st = t.slot.state.lock().map(|s| s.clone()).unwrap_or_default();
                (t.core, io_mode(t.slot.io.load(Ordering::Relaxed)), st)
            })
            .collect();
        let sockets: Vec<_> = self
            .sockets
            .iter()
            .map(|(a, t, s)| (*a, *t, sys::socket_drops(s.as_raw_fd())))
            .collect();
        RxStats::merge(&states, &sockets)
    }

    /// The bad datagrams that should be logged since the last call: at most one per sender
    /// every 10 s (`stats::LOG_BAD_EVERY_NS`), and at most [`NOTES_PER_THREAD`] per thread
    /// between two calls.
    pub fn take_bad_datagrams(&self) -> Vec<BadDatagram> {
        let mut out = Vec::new();
        for t in &self.threads {
            while let Some(n) = t.slot.notes.pop() {
                out.push(n);
            }
        }
        out
    }

    /// Hand every queued interface counter update to `each`, oldest first per thread.
    pub fn take_interface_counters(&self, mut each: impl FnMut(interfaces::InterfaceCounters)) {
        for t in &self.threads {
            while let Some(ic) = t.slot.interfaces.pop() {
                each(ic);
            }
        }
    }

    /// Stop every receive thread, join them (dropping the ring producers, so workers see
    /// their rings finish), and return the final counters.
    pub fn stop(mut self) -> RxStats {
        self.shutdown();
        self.stats()
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in &mut self.threads {
            if let Some(j) = t.join.take() {
                let _ = j.join();
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn io_code(io: IoMode) -> u8 {
    match io {
        IoMode::Uring => 0,
        IoMode::Recvmmsg => 1,
    }
}

fn io_mode(code: u8) -> IoMode {
    if code == 0 {
        IoMode::Uring
    } else {
        IoMode::Recvmmsg
    }
}

fn no_ipv6(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT) | Some(libc::EADDRNOTAVAIL) | Some(libc::EPROTONOSUPPORT)
    )
}

/// Body of one receive thread: io_uring when asked and possible, else recvmmsg.
fn receive_thread(
    cfg: &RxConfig,
    io: IoMode,
    gro: bool,
    socks: &[Arc<Socket>],
    stop: &AtomicBool,
    intake: &mut intake::Intake,
    slot: &Slot,
) {
    let fds: Vec<libc::c_int> = socks.iter().map(|s| s.as_raw_fd()).collect();
    let (count, size, payload) = cfg.buffers(gro);
    if io == IoMode::Uring {
        match uring::UringRx::new(&fds, count, size) {
            Ok(mut rx) => match rx.run(stop, intake) {
                Ok(()) => return,
                Err(e) => eprintln!("flowsift: rx: io_uring receive failed ({e}); using recvmmsg"),
            },
            Err(e) => eprintln!("flowsift: rx: io_uring set-up failed ({e}); using recvmmsg"),
        }
        slot.io.store(io_code(IoMode::Recvmmsg), Ordering::Relaxed);
    }
    if let Err(e) = mmsg::run(&fds, cfg.recvmmsg_batch, payload, stop, intake) {
        eprintln!("flowsift: rx: receive loop failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_from_toml_with_defaults() {
        let c: RxConfig = toml::from_str(
            r#"
            listen = ["127.0.0.1:6343"]
            cores = [1]
            io = "recvmmsg"
            steering = "incoming-cpu"
            allowlist = ["10.0.0.0/8", "2001:db8::/32"]
            "#,
        )
        .unwrap();
        assert_eq!(c.io, IoMode::Recvmmsg);
        assert_eq!(c.steering, Steering::IncomingCpu);
        assert_eq!(c.allowlist.len(), 2);
        assert_eq!(c.batch, RxConfig::default().batch);
        assert_eq!(c.thread_cores(), vec![Some(1)]);
        let d: RxConfig = toml::from_str("").unwrap();
        assert_eq!(d, RxConfig::default());
        assert_eq!(d.listen.len(), 2);
    }

    #[test]
    fn config_rejects_unknown_and_bad_values() {
        assert!(toml::from_str::<RxConfig>("colour = 1").is_err());
        assert!(toml::from_str::<RxConfig>("io = \"epoll\"").is_err());
        assert!(toml::from_str::<RxConfig>("allowlist = [\"10.0.0.0/40\"]").is_err());
        assert_eq!("uring".parse::<IoMode>(), Ok(IoMode::Uring));
        assert!("x".parse::<IoMode>().is_err());
    }

    #[test]
    fn start_checks_shape() {
        let cfg = RxConfig {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            cores: vec![0, 0],
            ..RxConfig::default()
        };
        match Receiver::start(cfg, Vec::new(), Vec::new()) {
            Err(RxError::Shape { threads: 2, .. }) => {}
            other => panic!("{:?}", other.err()),
        }
    }
}
