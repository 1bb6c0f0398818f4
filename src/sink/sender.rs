//! The syslog sender: events from the flow workers' rings to every destination, in batches.
//!
//! Threads and queues:
//!
//! ```text
//! several destinations:
//! worker rings (Consumer<FlowEvent>) --> dispatcher thread --> bounded queue per destination
//!                                                          --> destination thread: format,
//!                                                              batch, send, reconnect
//! one destination:
//! worker rings (Consumer<FlowEvent>) --> destination thread (its queue: a backlog while
//!                                        reconnecting): format, batch, send, reconnect
//! ```
//!
//! The dispatcher only routes (a flow-name check and an `Arc` clone per destination), so a
//! destination that is slow or disconnected fills its own queue and loses its own events,
//! counted as overflow, without delaying the others. Each destination thread formats into
//! recycled buffers (no allocation per event once warm).
//!
//! With a single destination (the seed configuration, and the common one) there is no
//! dispatcher: the destination thread takes events from the worker rings itself, one
//! thread hop and one wake-up less per event; its bounded queue is then where it keeps
//! what it takes from the rings while it cannot send (reconnecting).
//!
//! No hop polls. The dispatcher (or the single destination) parks on a [`Doorbell`]
//! attached to every worker ring, so a worker's commit wakes it; a destination behind a
//! dispatcher blocks on its queue, and the dispatcher's `try_send` wakes it. The flush policy (docs/syslog.md): a destination takes
//! what is queued until the batch holds `batch` messages or the queue is empty, and then
//! sends; with `flush_ms` > 0 it first waits for more, at most until `flush_ms` after the
//! batch's first event. So a lone event leaves at once (default `flush_ms` = 0) or within
//! `flush_ms`, and under load batches form by themselves: what arrives while one batch is
//! being sent is the next batch.
//!
//! Stream destinations reconnect with exponential backoff (bounded by `reconnect_max_ms`);
//! the unsent part of a batch and everything queued behind it wait for the new connection,
//! and a message that was written part-way is sent again whole. Shutdown is bounded: after
//! [`SyslogSink::shutdown`]'s timeout a destination that still cannot deliver counts what it
//! holds as dropped and exits.
//!
//! Latency from datagram receipt (`FlowEvent::received_ns`, `CLOCK_MONOTONIC`) to the send
//! call is recorded per destination in an HDR histogram (microseconds).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, Sender, TrySendError};
use crossbeam::utils::CachePadded;
use hdrhistogram::Histogram;

use super::config::{HostName, SinkConfig, Transport};
use super::format::{frame, FormatOptions, Formatter, WallTime};
use super::transport::{Connection, Connector, SendError};
use crate::flow::FlowEvent;
use crate::record::monotonic_nanos;
use crate::ring::Consumer;
use crate::wake::{Doorbell, IdleSpin};

/// Longest the idle dispatcher parks. Worker commits and shutdown wake it at once; this is
/// only a safety net (a ring whose doorbell was attached elsewhere is still drained), long
/// enough that a lost wake-up would show in the tests.
const DISPATCH_PARK_MAX: Duration = Duration::from_secs(1);
/// Events taken from one ring before looking at the next (fairness between workers).
const DISPATCH_BURST: usize = 1024;
/// How often a destination thread publishes its latency histogram.
const HISTOGRAM_PUBLISH: Duration = Duration::from_millis(100);
/// Minimum time between two log lines about one destination's connection.
const LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Latency histogram range: 1 µs .. 1 h, 3 significant digits.
const LATENCY_MAX_US: u64 = 3_600_000_000;

fn new_histogram() -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts; fall back to auto-resizing otherwise.
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).unwrap_or_else(|_| {
        let mut h = Histogram::new(3).unwrap_or_else(|_| unreachable!("3 sigfig is valid"));
        h.auto(true);
        h
    })
}

/// Counters of one destination, written by its thread and the dispatcher.
struct DestinationCounters {
    /// Events accepted into the queue.
    accepted: AtomicU64,
    /// Messages handed to the kernel.
    sent: AtomicU64,
    /// Send calls that handed over at least one message (`sent / batches`: batch size).
    batches: AtomicU64,
    /// Events refused because the queue was full.
    overflow: AtomicU64,
    /// Events given up on: failed datagrams, and what remained at the shutdown deadline.
    dropped: AtomicU64,
    /// Failed sends and connection attempts.
    errors: AtomicU64,
    /// Connections made after the first.
    reconnects: AtomicU64,
    connected: AtomicBool,
    latency: Mutex<Histogram<u64>>,
}

impl DestinationCounters {
    fn new() -> Self {
        DestinationCounters {
            accepted: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            overflow: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            connected: AtomicBool::new(false),
            latency: Mutex::new(new_histogram()),
        }
    }
}

struct Shared {
    /// Set by shutdown: the dispatcher drains the rings once more and exits.
    stop: AtomicBool,
    /// Set by a reload: whoever takes from the worker rings puts them in `returned` and
    /// stops taking; destinations then finish what they hold, as at shutdown.
    handover: AtomicBool,
    /// The worker rings, given back after `handover` (touched once per reload only).
    returned: Mutex<Option<Vec<Consumer<FlowEvent>>>>,
    /// The dispatcher's doorbell: rung by the worker rings' producers and by shutdown.
    doorbell: Arc<Doorbell>,
    /// Set by the dispatcher once every ring is finished (all producers gone, all drained).
    inputs_finished: AtomicBool,
    /// Monotonic nanoseconds after which destinations give up (0: no deadline yet).
    deadline_ns: AtomicU64,
    /// Events taken from the worker rings.
    events: CachePadded<AtomicU64>,
    /// Events no destination takes (their flow is routed nowhere).
    unrouted: CachePadded<AtomicU64>,
    destinations: Vec<CachePadded<DestinationCounters>>,
}

impl Shared {
    /// Give the rings back if a reload asked for them; true when it did.
    fn hand_back(&self, rings: &mut Vec<Consumer<FlowEvent>>) -> bool {
        if !self.handover.load(Ordering::Acquire) {
            return false;
        }
        if !rings.is_empty() {
            let mut r = self.returned.lock().unwrap_or_else(|e| e.into_inner());
            *r = Some(std::mem::take(rings));
        }
        true
    }

    fn past_deadline(&self) -> bool {
        let d = self.deadline_ns.load(Ordering::Acquire);
        d != 0 && monotonic_nanos() >= d
    }
}

/// Latency percentiles in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl LatencySummary {
    fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }
}

impl fmt::Display for LatencySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "latency_us p50={} p90={} p99={} p99.9={} max={} (n={})",
            self.p50_us, self.p90_us, self.p99_us, self.p999_us, self.max_us, self.count
        )
    }
}

/// Upper bounds (µs) of the latency histogram's buckets, as exported to Prometheus
/// (`flowsift_sink_latency_seconds`): 50 µs to 10 s.
pub const LATENCY_BOUNDS_US: [u64; 16] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 10_000_000,
];

/// Latency as cumulative bucket counts (Prometheus histogram semantics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencyBuckets {
    /// Events sent within each bound of [`LATENCY_BOUNDS_US`] (cumulative).
    pub le: [u64; LATENCY_BOUNDS_US.len()],
    pub count: u64,
    /// Sum of the latencies, in microseconds.
    pub sum_us: u64,
}

impl LatencyBuckets {
    fn of(h: &Histogram<u64>) -> Self {
        let mut out = LatencyBuckets {
            count: h.len(),
            ..Default::default()
        };
        let mut sum: u128 = 0;
        for v in h.iter_recorded() {
            let value = v.value_iterated_to();
            let n = v.count_at_value();
            sum += u128::from(h.median_equivalent(value)) * u128::from(n);
            for (b, &bound) in out.le.iter_mut().zip(LATENCY_BOUNDS_US.iter()) {
                if value <= bound {
                    *b += n;
                }
            }
        }
        out.sum_us = sum.min(u128::from(u64::MAX)) as u64;
        out
    }

    /// Add another destination's (or an earlier sender's) counts.
    pub fn add(&mut self, o: &LatencyBuckets) {
        for (a, b) in self.le.iter_mut().zip(o.le.iter()) {
            *a += b;
        }
        self.count += o.count;
        self.sum_us += o.sum_us;
    }
}

/// A snapshot of one destination's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestinationStats {
    pub name: String,
    pub transport: Transport,
    pub address: String,
    pub accepted: u64,
    pub sent: u64,
    /// Send calls that handed over at least one message.
    pub batches: u64,
    /// Accepted and neither sent nor dropped yet.
    pub queued: u64,
    pub overflow: u64,
    pub dropped: u64,
    pub errors: u64,
    pub reconnects: u64,
    pub connected: bool,
    pub latency: LatencySummary,
    pub latency_buckets: LatencyBuckets,
}

impl DestinationStats {
    /// `up` (connected), `idle` (not needed yet: a sink connects on its first event, and a
    /// UDP sink has nothing to connect until then) or `down` (it tried and failed).
    pub fn state(&self) -> &'static str {
        if self.connected {
            "up"
        } else if self.accepted == 0 && self.errors == 0 && self.reconnects == 0 {
            "idle"
        } else {
            "down"
        }
    }
}

/// A snapshot of the sender.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkStats {
    pub events: u64,
    pub unrouted: u64,
    pub destinations: Vec<DestinationStats>,
}

impl SinkStats {
    /// Events lost for any reason, over all destinations.
    pub fn lost(&self) -> u64 {
        self.destinations
            .iter()
            .map(|d| d.overflow + d.dropped)
            .sum()
    }
}

impl fmt::Display for SinkStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sink events={} unrouted={}", self.events, self.unrouted)?;
        for d in &self.destinations {
            write!(
                f,
                "; {} {}://{} sent={} sends={} queued={} overflow={} dropped={} errors={} reconnects={} {} {}",
                d.name,
                d.transport.name(),
                d.address,
                d.sent,
                d.batches,
                d.queued,
                d.overflow,
                d.dropped,
                d.errors,
                d.reconnects,
                d.state(),
                d.latency
            )?;
        }
        Ok(())
    }
}

/// The running sender. Dropping it without [`SyslogSink::shutdown`] stops it with a zero
/// timeout.
pub struct SyslogSink {
    shared: Arc<Shared>,
    configs: Vec<SinkConfig>,
    dispatcher: Option<JoinHandle<()>>,
    senders: Vec<JoinHandle<()>>,
}

/// One destination as the dispatcher sees it.
struct Route {
    flows: Vec<String>,
    queue: Sender<Arc<FlowEvent>>,
}

impl SyslogSink {
    /// Start the dispatcher over `rings` and one thread per destination. Fails (before any
    /// thread starts) on a destination whose TLS files cannot be loaded.
    pub fn start(
        configs: &[SinkConfig],
        rings: Vec<Consumer<FlowEvent>>,
    ) -> Result<SyslogSink, String> {
        SyslogSink::start_with(configs, rings, Arc::new(Doorbell::new()))
    }

    /// Check what [`SyslogSink::start`] would refuse (TLS files, certificates), without
    /// starting anything.
    pub fn check(configs: &[SinkConfig]) -> Result<(), String> {
        for c in configs {
            Connector::new(c).map_err(|e| format!("sink '{}': {e}", c.name))?;
        }
        Ok(())
    }

    /// [`SyslogSink::start`] with the rings' doorbell: the one a previous sender used,
    /// after [`SyslogSink::hand_over`] (a ring keeps the doorbell it was first given).
    pub fn start_with(
        configs: &[SinkConfig],
        rings: Vec<Consumer<FlowEvent>>,
        doorbell: Arc<Doorbell>,
    ) -> Result<SyslogSink, String> {
        let mut connectors = Vec::with_capacity(configs.len());
        for c in configs {
            connectors.push(Connector::new(c)?);
        }
        for r in &rings {
            // A ring that already has a doorbell is still drained, within DISPATCH_PARK_MAX.
            let _ = r.attach(Arc::clone(&doorbell));
        }
        let shared = Arc::new(Shared {
            handover: AtomicBool::new(false),
            returned: Mutex::new(None),
            stop: AtomicBool::new(false),
            doorbell,
            inputs_finished: AtomicBool::new(false),
            deadline_ns: AtomicU64::new(0),
            events: CachePadded::new(AtomicU64::new(0)),
            unrouted: CachePadded::new(AtomicU64::new(0)),
            destinations: configs
                .iter()
                .map(|_| CachePadded::new(DestinationCounters::new()))
                .collect(),
        });
        let system_host = HostName::system();
        let mut routes = Vec::with_capacity(configs.len());
        let mut senders = Vec::with_capacity(configs.len());
        // One destination takes the rings itself; several share a dispatcher.
        let single = configs.len() == 1;
        let (mut direct, rings) = if single {
            (Some(rings), Vec::new())
        } else {
            (None, rings)
        };
        for (index, (cfg, connector)) in configs.iter().zip(connectors).enumerate() {
            let input = match direct.take() {
                Some(r) => Input::Rings(Box::new(DirectInput {
                    rings: r,
                    flows: cfg.flows.clone(),
                    backlog: std::collections::VecDeque::new(),
                    capacity: cfg.queue.get(),
                    next: 0,
                    idle: IdleSpin::default(),
                })),
                None => {
                    let (tx, rx) = channel::bounded(cfg.queue.get());
                    routes.push(Route {
                        flows: cfg.flows.clone(),
                        queue: tx,
                    });
                    Input::Queue(rx)
                }
            };
            let formatter = Formatter::new(FormatOptions {
                format: cfg.format,
                facility: cfg.facility.0,
                severity: cfg.severity.0,
                hostname: cfg.hostname.as_ref().unwrap_or(&system_host).0.clone(),
                sd_id: cfg.sd_id.0.clone(),
                fields: cfg.format_fields(),
            });
            let worker = Destination {
                cfg: cfg.clone(),
                index,
                connector,
                formatter,
                shared: Arc::clone(&shared),
            };
            let handle = std::thread::Builder::new()
                .name(format!("sink-{}", cfg.name))
                .spawn(move || worker.run(input))
                .map_err(|e| format!("cannot start sink thread: {e}"))?;
            senders.push(handle);
        }
        let dispatcher = if single {
            None
        } else {
            let dispatch_shared = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name("sink-dispatch".into())
                .spawn(move || dispatch(rings, routes, &dispatch_shared))
                .map_err(|e| format!("cannot start sink dispatcher: {e}"))?;
            Some(handle)
        };
        Ok(SyslogSink {
            shared,
            configs: configs.to_vec(),
            dispatcher,
            senders,
        })
    }

    /// True once every input ring's producer is gone and the ring is drained: the flow
    /// workers have exited and everything they emitted is in the destination queues. (With
    /// a single destination, noticed when that destination next looks at the rings.)
    pub fn inputs_finished(&self) -> bool {
        self.shared.inputs_finished.load(Ordering::Acquire)
    }

    /// Current counters and latency percentiles.
    pub fn stats(&self) -> SinkStats {
        SinkStats {
            events: self.shared.events.load(Ordering::Relaxed),
            unrouted: self.shared.unrouted.load(Ordering::Relaxed),
            destinations: self
                .configs
                .iter()
                .zip(&self.shared.destinations)
                .map(|(cfg, c)| {
                    let accepted = c.accepted.load(Ordering::Relaxed);
                    let sent = c.sent.load(Ordering::Relaxed);
                    let dropped = c.dropped.load(Ordering::Relaxed);
                    let (latency, latency_buckets) = {
                        let h = c.latency.lock().unwrap_or_else(|p| p.into_inner());
                        (LatencySummary::of(&h), LatencyBuckets::of(&h))
                    };
                    DestinationStats {
                        name: cfg.name.clone(),
                        transport: cfg.transport,
                        address: cfg.address.to_string(),
                        accepted,
                        sent,
                        batches: c.batches.load(Ordering::Relaxed),
                        queued: accepted.saturating_sub(sent + dropped),
                        overflow: c.overflow.load(Ordering::Relaxed),
                        dropped,
                        errors: c.errors.load(Ordering::Relaxed),
                        reconnects: c.reconnects.load(Ordering::Relaxed),
                        connected: c.connected.load(Ordering::Relaxed),
                        latency,
                        latency_buckets,
                    }
                })
                .collect(),
        }
    }

    /// Stop taking from the worker rings and give them back (with their doorbell) for a
    /// new sender, within `patience`; the destinations keep sending what they already
    /// hold until [`SyslogSink::shutdown`]. On failure (a destination stuck past
    /// `patience`, which its write timeout should prevent) the sender goes on as before.
    pub fn hand_over(
        &mut self,
        patience: Duration,
    ) -> Result<(Vec<Consumer<FlowEvent>>, Arc<Doorbell>), String> {
        self.shared.handover.store(true, Ordering::Release);
        self.shared.doorbell.wake();
        let deadline = Instant::now() + patience;
        loop {
            let taken = self
                .shared
                .returned
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(rings) = taken {
                return Ok((rings, Arc::clone(&self.shared.doorbell)));
            }
            if self
                .dispatcher
                .as_ref()
                .is_some_and(JoinHandle::is_finished)
                || (self.dispatcher.is_none() && self.senders.iter().all(JoinHandle::is_finished))
            {
                return Err("the sender stopped before handing its input over".into());
            }
            if Instant::now() >= deadline {
                return Err("the sender did not hand its input over in time".into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Take what is left in the rings, deliver what can be delivered within `timeout`,
    /// count the rest as dropped, and stop. Call it after the flow workers have stopped,
    /// so the rings hold everything they will ever hold.
    pub fn shutdown(mut self, timeout: Duration) -> SinkStats {
        self.stop(timeout);
        self.stats()
    }

    fn stop(&mut self, timeout: Duration) {
        let deadline = monotonic_nanos().saturating_add(timeout.as_nanos() as u64);
        self.shared
            .deadline_ns
            .store(deadline.max(1), Ordering::Release);
        self.shared.stop.store(true, Ordering::Release);
        self.shared.doorbell.wake();
        if let Some(d) = self.dispatcher.take() {
            let _ = d.join();
        }
        for s in self.senders.drain(..) {
            let _ = s.join();
        }
    }
}

impl Drop for SyslogSink {
    fn drop(&mut self) {
        if self.dispatcher.is_some() || !self.senders.is_empty() {
            self.stop(Duration::ZERO);
        }
    }
}

/// Route events from the worker rings to the destination queues until the rings are
/// finished (every producer gone and drained) or shutdown asks for a last pass.
fn dispatch(mut rings: Vec<Consumer<FlowEvent>>, routes: Vec<Route>, shared: &Shared) {
    crate::sched::apply_wake_slice();
    let mut idle = IdleSpin::default();
    loop {
        // Read `stop` before the pass: a pass that starts after it was set sees everything
        // the (already stopped) workers pushed.
        let stopping = shared.stop.load(Ordering::Acquire);
        if shared.hand_back(&mut rings) {
            break;
        }
        let mut moved = 0usize;
        for ring in rings.iter_mut() {
            for _ in 0..DISPATCH_BURST {
                let Some(event) = ring.pop() else { break };
                moved += 1;
                route(Arc::new(event), &routes, shared);
            }
        }
        if moved > 0 {
            shared.events.fetch_add(moved as u64, Ordering::Relaxed);
            idle.reset();
            continue;
        }
        if !rings.is_empty() && rings.iter().all(Consumer::is_finished) {
            shared.inputs_finished.store(true, Ordering::Release);
            break;
        }
        if stopping {
            break;
        }
        if idle.spin() {
            continue;
        }
        let rings = &rings;
        // Re-checked after the doorbell's flag is up (see `crate::wake`): a commit, a
        // dropped producer or `stop` from here on shows up in this check or unparks us.
        shared.doorbell.park_timeout(DISPATCH_PARK_MAX, || {
            !shared.stop.load(Ordering::Acquire)
                && !shared.handover.load(Ordering::Acquire)
                && rings.iter().all(Consumer::is_empty)
                && (rings.is_empty() || !rings.iter().all(Consumer::is_finished))
        });
    }
    // Dropping `routes` closes the queues: destinations finish what they hold and exit.
}

fn route(event: Arc<FlowEvent>, routes: &[Route], shared: &Shared) {
    let mut taken = false;
    for (i, r) in routes.iter().enumerate() {
        if !r.flows.is_empty() && !r.flows.iter().any(|f| **f == *event.name) {
            continue;
        }
        taken = true;
        let c = &shared.destinations[i];
        match r.queue.try_send(Arc::clone(&event)) {
            Ok(()) => {
                c.accepted.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                c.overflow.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    if !taken {
        shared.unrouted.fetch_add(1, Ordering::Relaxed);
    }
}

/// One destination's thread state.
struct Destination {
    cfg: SinkConfig,
    index: usize,
    connector: Connector,
    formatter: Formatter,
    shared: Arc<Shared>,
}

/// Where a destination takes its events from.
enum Input {
    /// Its bounded queue, filled by the dispatcher thread (two or more destinations).
    Queue(Receiver<Arc<FlowEvent>>),
    /// The worker rings themselves: with a single destination there is no dispatcher
    /// thread, so an event costs one hop and one wake-up less.
    Rings(Box<DirectInput>),
}

/// The worker rings as a single destination's input, and its bounded queue.
struct DirectInput {
    rings: Vec<Consumer<FlowEvent>>,
    /// Flow names the destination takes (empty: all).
    flows: Vec<String>,
    /// The destination's queue: events taken from the rings while it could not send
    /// (reconnecting), at most `capacity`; more are overflow, as with a dispatcher.
    backlog: std::collections::VecDeque<FlowEvent>,
    capacity: usize,
    /// Ring to look at first (fairness between workers).
    next: usize,
    idle: IdleSpin,
}

/// What [`Input::take`] found.
enum Taken {
    Event,
    /// Nothing within the wait.
    Empty,
    /// Nothing, and nothing more will come.
    Closed,
}

impl Input {
    /// True when an event can be taken without waiting (a cheap check; may say false).
    fn is_ready(&self) -> bool {
        match self {
            Input::Queue(q) => !q.is_empty(),
            Input::Rings(d) => !d.backlog.is_empty() || d.rings.iter().any(|r| !r.is_empty()),
        }
    }

    /// Hand the next event to `f`, waiting at most `wait` for one.
    fn take(
        &mut self,
        wait: Duration,
        shared: &Shared,
        index: usize,
        f: &mut dyn FnMut(&FlowEvent),
    ) -> Taken {
        match self {
            Input::Queue(q) => {
                let got = if wait.is_zero() {
                    q.try_recv().map_err(|e| e.is_disconnected())
                } else {
                    q.recv_timeout(wait).map_err(|e| e.is_disconnected())
                };
                match got {
                    Ok(ev) => {
                        f(&ev);
                        Taken::Event
                    }
                    Err(true) => Taken::Closed,
                    Err(false) => Taken::Empty,
                }
            }
            Input::Rings(d) => d.take(wait, shared, index, f),
        }
    }

    /// While the destination cannot send: move what the rings hold into its queue.
    fn absorb(&mut self, shared: &Shared, index: usize) {
        if let Input::Rings(d) = self {
            d.absorb(shared, index);
        }
    }

    /// Shutdown deadline passed: empty the input, returning how many events it held (each
    /// counted as accepted, so the caller's `dropped` balances them).
    fn drain(&mut self, shared: &Shared, index: usize) -> u64 {
        let mut n = 0;
        match self {
            Input::Queue(q) => {
                while q.try_recv().is_ok() {
                    n += 1;
                }
            }
            Input::Rings(d) => {
                n += d.backlog.drain(..).count() as u64;
                while d.pop(shared).is_some() {
                    shared.destinations[index]
                        .accepted
                        .fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
            }
        }
        n
    }
}

impl DirectInput {
    /// The next event this destination takes, round-robin over the rings; events of
    /// flows it does not take are counted as unrouted and skipped.
    fn pop(&mut self, shared: &Shared) -> Option<FlowEvent> {
        let n = self.rings.len();
        let mut empty = 0;
        // Bounded: each turn either returns, skips one event (finite, the rings are
        // bounded and only this thread pops), or counts an empty ring.
        while empty < n {
            let i = self.next % n;
            let Some(e) = self.rings[i].pop() else {
                empty += 1;
                self.next = i + 1;
                continue;
            };
            empty = 0;
            shared.events.fetch_add(1, Ordering::Relaxed);
            if !self.flows.is_empty() && !self.flows.iter().any(|f| **f == *e.name) {
                shared.unrouted.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            return Some(e);
        }
        None
    }

    fn absorb(&mut self, shared: &Shared, index: usize) {
        shared.hand_back(&mut self.rings);
        let c = &shared.destinations[index];
        while let Some(e) = self.pop(shared) {
            if self.backlog.len() < self.capacity {
                c.accepted.fetch_add(1, Ordering::Relaxed);
                self.backlog.push_back(e);
            } else {
                c.overflow.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn take(
        &mut self,
        wait: Duration,
        shared: &Shared,
        index: usize,
        f: &mut dyn FnMut(&FlowEvent),
    ) -> Taken {
        let mut deadline = None;
        // Bounded by `wait`: each turn takes an event, spends idle budget, or parks
        // until the deadline at the latest.
        loop {
            let handed = shared.hand_back(&mut self.rings);
            if let Some(e) = self.backlog.pop_front() {
                f(&e);
                return Taken::Event;
            }
            if handed {
                // The rings went to a new sender: what was taken is sent, then this ends.
                return Taken::Closed;
            }
            if let Some(e) = self.pop(shared) {
                shared.destinations[index]
                    .accepted
                    .fetch_add(1, Ordering::Relaxed);
                self.idle.reset();
                f(&e);
                return Taken::Event;
            }
            let rings = &self.rings;
            if !rings.is_empty() && rings.iter().all(Consumer::is_finished) {
                shared.inputs_finished.store(true, Ordering::Release);
                return Taken::Closed;
            }
            if shared.stop.load(Ordering::Acquire) {
                // Shutdown and nothing in the rings: what the workers pushed is taken.
                return Taken::Closed;
            }
            let now = Instant::now();
            let until = *deadline.get_or_insert(now + wait);
            if now >= until {
                return Taken::Empty;
            }
            if self.idle.spin() {
                continue;
            }
            // See `dispatch` for the re-check; `stop` also wakes the doorbell.
            shared
                .doorbell
                .park_timeout((until - now).min(DISPATCH_PARK_MAX), || {
                    !shared.stop.load(Ordering::Acquire)
                        && !shared.handover.load(Ordering::Acquire)
                        && rings.iter().all(Consumer::is_empty)
                        && (rings.is_empty() || !rings.iter().all(Consumer::is_finished))
                });
        }
    }
}

/// Messages formatted and framed, waiting for the connection.
struct Batch {
    msgs: Vec<Vec<u8>>,
    received_ns: Vec<u64>,
    /// Emptied buffers for reuse, so a warm sender does not allocate.
    pool: Vec<Vec<u8>>,
    body: Vec<u8>,
}

impl Batch {
    /// Drop the first `n` messages, keeping their buffers.
    fn consume(&mut self, n: usize) {
        for mut m in self.msgs.drain(..n) {
            m.clear();
            self.pool.push(m);
        }
        self.received_ns.drain(..n);
    }
}

impl Destination {
    fn counters(&self) -> &DestinationCounters {
        &self.shared.destinations[self.index]
    }

    fn push(&mut self, batch: &mut Batch, event: &FlowEvent) {
        batch.body.clear();
        self.formatter
            .format(event, WallTime::now(), &mut batch.body);
        let framing = match self.cfg.transport {
            Transport::Udp => None,
            Transport::Tcp | Transport::Tls => Some(self.cfg.framing),
        };
        let mut msg = batch.pool.pop().unwrap_or_else(|| Vec::with_capacity(256));
        frame(framing, &batch.body, &mut msg);
        batch.msgs.push(msg);
        batch.received_ns.push(event.received_ns);
    }

    fn run(mut self, mut input: Input) {
        crate::sched::apply_wake_slice();
        let shared = Arc::clone(&self.shared);
        let index = self.index;
        let batch_max = self.cfg.batch.get();
        let flush = Duration::from_millis(self.cfg.flush_ms);
        let mut batch = Batch {
            msgs: Vec::with_capacity(batch_max),
            received_ns: Vec::with_capacity(batch_max),
            pool: Vec::with_capacity(batch_max),
            body: Vec::with_capacity(1100),
        };
        let mut link = Link::new(&self.cfg);
        let mut latency = new_histogram();
        let mut published = Instant::now();
        let mut closed = false;
        // When the batch's first event was taken (None: the batch is empty).
        let mut first: Option<Instant> = None;
        loop {
            if published.elapsed() >= HISTOGRAM_PUBLISH {
                self.publish(&mut latency);
                published = Instant::now();
            }
            // Fill: block for the first event (the dispatcher's send wakes us), then take
            // what is queued until the batch is full or the queue is empty.
            if batch.msgs.is_empty() {
                if closed {
                    break;
                }
                match input.take(HISTOGRAM_PUBLISH, &shared, index, &mut |e| {
                    self.push(&mut batch, e)
                }) {
                    Taken::Event => {}
                    Taken::Empty => continue,
                    Taken::Closed => {
                        closed = true;
                        continue;
                    }
                }
            }
            // An empty queue means the input is idle: send now, or with `flush` > 0 wait
            // for company until `flush` after the batch's first event. A batch left over
            // from a failed send keeps its first event's time.
            let started = *first.get_or_insert_with(Instant::now);
            let send_at = started.checked_add(flush).unwrap_or(started);
            while batch.msgs.len() < batch_max && !closed {
                // Zero wait first: only an empty queue may be waited on, and only until
                // `send_at`.
                let wait = if input.is_ready() {
                    Duration::ZERO
                } else {
                    send_at.saturating_duration_since(Instant::now())
                };
                match input.take(wait, &shared, index, &mut |e| self.push(&mut batch, e)) {
                    Taken::Event => {}
                    Taken::Empty => break,
                    Taken::Closed => closed = true,
                }
            }
            let delivered = self.deliver(&mut batch, &mut link, &mut latency, &mut input);
            first = None;
            if !delivered {
                // Shutdown deadline passed: count everything still held as dropped.
                let left = batch.msgs.len() as u64 + input.drain(&shared, index);
                self.counters().dropped.fetch_add(left, Ordering::Relaxed);
                batch.consume(batch.msgs.len());
                if left > 0 {
                    eprintln!(
                        "flowsift: sink '{}': shutdown deadline passed, {left} events dropped",
                        self.cfg.name
                    );
                }
                break;
            }
        }
        self.publish(&mut latency);
        self.counters().connected.store(false, Ordering::Relaxed);
    }

    fn publish(&self, latency: &mut Histogram<u64>) {
        if latency.is_empty() {
            return;
        }
        let mut h = match self.counters().latency.lock() {
            Ok(h) => h,
            Err(p) => p.into_inner(),
        };
        let _ = h.add(&*latency);
        latency.reset();
    }

    /// Send the whole batch, reconnecting as needed. False when the shutdown deadline
    /// passed first.
    fn deliver(
        &mut self,
        batch: &mut Batch,
        link: &mut Link,
        latency: &mut Histogram<u64>,
        input: &mut Input,
    ) -> bool {
        // Bounded by the deadline once shutdown starts; before that, retries forever while
        // the queue in front absorbs (and counts) what does not fit.
        while !batch.msgs.is_empty() {
            if self.shared.past_deadline() {
                return false;
            }
            let Some(conn) = link.ready(&self.connector, self.counters(), &self.cfg.name) else {
                // Waiting to reconnect: keep the worker rings moving into the bounded queue
                // (what does not fit is overflow), as the dispatcher would.
                input.absorb(&self.shared, self.index);
                continue;
            };
            // Taken at the send call; recorded only for messages that went out, so a
            // message retried after a reconnect counts once, with its full wait.
            let now = monotonic_nanos();
            let result = conn.send(&batch.msgs);
            let went = match &result {
                Ok(()) => batch.msgs.len(),
                Err(e) => e.sent,
            };
            for &r in &batch.received_ns[..went] {
                if r != 0 && r <= now {
                    latency.saturating_record(((now - r) / 1000).max(1));
                }
            }
            match result {
                Ok(()) => {
                    let n = batch.msgs.len();
                    self.counters().sent.fetch_add(n as u64, Ordering::Relaxed);
                    self.counters().batches.fetch_add(1, Ordering::Relaxed);
                    batch.consume(n);
                }
                Err(SendError { sent, error }) => {
                    let c = self.counters();
                    c.sent.fetch_add(sent as u64, Ordering::Relaxed);
                    if sent > 0 {
                        c.batches.fetch_add(1, Ordering::Relaxed);
                    }
                    c.errors.fetch_add(1, Ordering::Relaxed);
                    batch.consume(sent);
                    if conn.is_datagram() {
                        // A datagram that cannot go now is lost, as with any UDP sender;
                        // count it and go on with the next.
                        c.dropped.fetch_add(1, Ordering::Relaxed);
                        batch.consume(1.min(batch.msgs.len()));
                        link.log(&self.cfg.name, &format!("send failed: {error}"));
                    } else {
                        link.broken(&self.cfg.name, &error);
                        c.connected.store(false, Ordering::Relaxed);
                    }
                }
            }
        }
        true
    }
}

/// A destination's connection and its reconnect schedule.
struct Link {
    conn: Option<Connection>,
    ever_connected: bool,
    backoff: Duration,
    min: Duration,
    max: Duration,
    next_attempt: Instant,
    last_log: Option<Instant>,
}

impl Link {
    fn new(cfg: &SinkConfig) -> Link {
        let min = Duration::from_millis(cfg.reconnect_min_ms.max(1));
        Link {
            conn: None,
            ever_connected: false,
            backoff: min,
            min,
            max: Duration::from_millis(cfg.reconnect_max_ms.max(cfg.reconnect_min_ms).max(1)),
            next_attempt: Instant::now(),
            last_log: None,
        }
    }

    fn log(&mut self, name: &str, what: &str) {
        let due = self.last_log.is_none_or(|t| t.elapsed() >= LOG_INTERVAL);
        if due {
            eprintln!("flowsift: sink '{name}': {what}");
            self.last_log = Some(Instant::now());
        }
    }

    fn broken(&mut self, name: &str, error: &std::io::Error) {
        self.conn = None;
        self.log(name, &format!("connection lost: {error}; reconnecting"));
    }

    /// The open connection, or None after waiting (at most 50 ms) for the next attempt.
    fn ready(
        &mut self,
        connector: &Connector,
        c: &DestinationCounters,
        name: &str,
    ) -> Option<&mut Connection> {
        if let Some(conn) = &mut self.conn {
            if conn.peer_closed() {
                self.conn = None;
                c.connected.store(false, Ordering::Relaxed);
                c.errors.fetch_add(1, Ordering::Relaxed);
                self.log(name, "receiver closed the connection; reconnecting");
            }
        }
        if self.conn.is_none() {
            let now = Instant::now();
            if now < self.next_attempt {
                // Short sleeps so the shutdown deadline is noticed promptly.
                std::thread::sleep((self.next_attempt - now).min(Duration::from_millis(50)));
                return None;
            }
            match connector.connect() {
                Ok(conn) => {
                    if self.ever_connected {
                        c.reconnects.fetch_add(1, Ordering::Relaxed);
                        self.log(name, "reconnected");
                    }
                    self.ever_connected = true;
                    self.backoff = self.min;
                    c.connected.store(true, Ordering::Relaxed);
                    self.conn = Some(conn);
                }
                Err(e) => {
                    c.errors.fetch_add(1, Ordering::Relaxed);
                    self.log(
                        name,
                        &format!("cannot connect: {e}; retrying in {:?}", self.backoff),
                    );
                    self.next_attempt = Instant::now() + self.backoff;
                    self.backoff = (self.backoff * 2).min(self.max);
                    return None;
                }
            }
        }
        self.conn.as_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::keys::L4;
    use crate::packet::{Key, KeyValue};
    use crate::ring::ring;
    use crate::sink::config::Address;
    use std::io::{BufRead, BufReader};
    use std::net::{TcpListener, UdpSocket};

    fn event(i: u16, name: &str) -> FlowEvent {
        FlowEvent {
            flow_id: u64::from(i),
            name: name.into(),
            keys: vec![
                (Key::IpSource, KeyValue::Ip("10.0.0.5".parse().unwrap())),
                (Key::IcmpUnreachablePort, KeyValue::Port(L4::Udp, i)),
            ]
            .into_iter()
            .map(|(k, v)| (crate::flow::FlowKey::Packet(k), v))
            .collect(),
            separator: ",".into(),
            value: 1.0,
            start_ms: 0,
            end_ms: 0,
            agent: "192.0.2.1".parse().unwrap(),
            data_source: 1,
            received_ns: monotonic_nanos(),
            event_id: 0,
            threshold: None,
        }
    }

    /// Poll `done` every 2 ms for at most 5 s (a test must not hang); whether it held.
    fn eventually(mut done: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        done()
    }

    /// A loopback receiver whose buffer holds a few full batches (the default ~200 KiB
    /// drops part of a 256-datagram `sendmmsg` that arrives before the test reads).
    fn udp_receiver() -> UdpSocket {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let _ = socket2::SockRef::from(&rx).set_recv_buffer_size(4 << 20);
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        rx
    }

    #[test]
    fn udp_destination_gets_every_event_of_its_flows() {
        let rx = udp_receiver();
        let cfg = SinkConfig {
            address: Address::parse(&rx.local_addr().unwrap().to_string()).unwrap(),
            flows: vec!["uport".into()],
            hostname: Some(HostName("h".into())),
            ..SinkConfig::default()
        };
        let (mut p, c) = ring(1024);
        let sink = SyslogSink::start(&[cfg], vec![c]).unwrap();
        for i in 0..300 {
            p.push(event(i, "uport")).unwrap();
            p.push(event(i, "other")).unwrap();
        }
        let mut buf = [0u8; 2048];
        for i in 0..300 {
            let n = rx
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("event {i}: {e}; {}", sink.stats()));
            let s = std::str::from_utf8(&buf[..n]).unwrap();
            assert!(
                s.ends_with(&format!("icmpunreachableport=\"udp_{i}\"")),
                "{s}"
            );
        }
        assert!(!sink.inputs_finished());
        drop(p);
        // The sink notices the producer is gone on its next idle pass.
        assert!(eventually(|| sink.inputs_finished()));
        let stats = sink.shutdown(Duration::from_secs(5));
        assert_eq!(stats.events, 600);
        assert_eq!(stats.unrouted, 300);
        let d = &stats.destinations[0];
        assert_eq!((d.sent, d.overflow, d.dropped, d.queued), (300, 0, 0, 0));
        assert_eq!(d.latency.count, 300);
    }

    #[test]
    fn tcp_reconnects_and_loses_nothing_that_was_queued() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let cfg = SinkConfig {
            transport: Transport::Tcp,
            framing: crate::sink::format::Framing::Lf,
            address: Address::parse(&addr.to_string()).unwrap(),
            reconnect_min_ms: 10,
            reconnect_max_ms: 50,
            hostname: Some(HostName("h".into())),
            ..SinkConfig::default()
        };
        let (mut p, c) = ring(4096);
        let sink = SyslogSink::start(&[cfg], vec![c]).unwrap();
        let read_lines = |l: &TcpListener, n: usize| -> (Vec<String>, std::net::TcpStream) {
            let (s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut lines = Vec::new();
            for _ in 0..n {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                lines.push(line);
            }
            (lines, s)
        };
        for i in 0..100 {
            p.push(event(i, "uport")).unwrap();
        }
        let (first, s) = read_lines(&l, 100);
        // The receiver goes away; events sent meanwhile wait for the next connection.
        drop(s);
        std::thread::sleep(Duration::from_millis(50));
        for i in 100..200 {
            p.push(event(i, "uport")).unwrap();
        }
        let (second, _s) = read_lines(&l, 100);
        for (i, line) in first.iter().chain(&second).enumerate() {
            assert!(line.ends_with(&format!("udp_{i}\"\n")), "{i}: {line}");
        }
        drop(p);
        let stats = sink.shutdown(Duration::from_secs(5));
        let d = &stats.destinations[0];
        assert_eq!((d.sent, d.dropped, d.overflow), (200, 0, 0));
        assert!(d.reconnects >= 1);
        // A message retried after the reconnect is in the histogram once.
        assert_eq!(d.latency.count, 200);
    }

    #[test]
    fn receiver_that_never_comes_back_means_counted_drops_and_bounded_shutdown() {
        // Bind and close to get a port nobody listens on.
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let cfg = SinkConfig {
            transport: Transport::Tcp,
            address: Address::parse(&addr.to_string()).unwrap(),
            queue: std::num::NonZeroUsize::new(50).unwrap(),
            batch: std::num::NonZeroUsize::new(10).unwrap(),
            reconnect_min_ms: 10,
            reconnect_max_ms: 20,
            ..SinkConfig::default()
        };
        let (mut p, c) = ring(1024);
        let sink = SyslogSink::start(&[cfg], vec![c]).unwrap();
        for i in 0..200 {
            p.push(event(i, "uport")).unwrap();
        }
        // Until the sink has taken everything.
        assert!(
            eventually(|| sink.stats().events == 200),
            "{}",
            sink.stats()
        );
        drop(p);
        let started = Instant::now();
        let stats = sink.shutdown(Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_secs(5));
        let d = &stats.destinations[0];
        assert_eq!(d.sent, 0);
        assert!(d.overflow > 0);
        assert_eq!(d.overflow + d.dropped, 200, "{d:?}");
        assert_eq!(d.queued, 0);
        assert!(d.errors > 0 && !d.connected);
    }

    /// Events pushed one at a time, each only after the previous one arrived, with pauses
    /// that let every thread park: each goes out alone and at once. A lost wake-up in the
    /// dispatcher would hold an event for its whole park (1 s).
    #[test]
    fn lone_events_leave_at_once_in_their_own_send() {
        // One destination reads the rings itself; two go through the dispatcher.
        for destinations in [1, 2] {
            let receivers: Vec<UdpSocket> = (0..destinations).map(|_| udp_receiver()).collect();
            let cfgs: Vec<SinkConfig> = receivers
                .iter()
                .enumerate()
                .map(|(k, rx)| SinkConfig {
                    name: format!("s{k}"),
                    address: Address::parse(&rx.local_addr().unwrap().to_string()).unwrap(),
                    hostname: Some(HostName("h".into())),
                    ..SinkConfig::default()
                })
                .collect();
            assert_eq!(
                cfgs[0].flush_ms, 0,
                "the default sends as soon as the queue is empty"
            );
            let (mut p, c) = ring(64);
            let sink = SyslogSink::start(&cfgs, vec![c]).unwrap();
            let mut buf = [0u8; 2048];
            for i in 0..30u16 {
                std::thread::sleep(Duration::from_millis(u64::from(2 + i * 7 % 15)));
                p.push(event(i, "uport")).unwrap();
                for rx in &receivers {
                    let n = rx
                        .recv(&mut buf)
                        .unwrap_or_else(|e| panic!("event {i}: {e}; {}", sink.stats()));
                    let s = std::str::from_utf8(&buf[..n]).unwrap();
                    assert!(s.ends_with(&format!("\"udp_{i}\"")), "{s}");
                }
            }
            drop(p);
            let stats = sink.shutdown(Duration::from_secs(5));
            for d in &stats.destinations {
                assert_eq!((d.sent, d.batches), (30, 30), "{d:?}");
                // The histogram's maximum: event creation (`received_ns`) to the send call.
                let worst = Duration::from_micros(d.latency.max_us);
                assert!(
                    worst < Duration::from_millis(500),
                    "{destinations} destinations: an event waited {worst:?}"
                );
            }
        }
    }

    /// With `flush_ms` > 0 a batch that is not full waits for company until `flush_ms`
    /// after its first event, then goes, so nothing is stranded.
    #[test]
    fn flush_ms_gathers_company_then_sends() {
        let rx = udp_receiver();
        let cfg = SinkConfig {
            address: Address::parse(&rx.local_addr().unwrap().to_string()).unwrap(),
            hostname: Some(HostName("h".into())),
            flush_ms: 300,
            ..SinkConfig::default()
        };
        let (mut p, c) = ring(64);
        let sink = SyslogSink::start(&[cfg], vec![c]).unwrap();
        let pushed = Instant::now();
        p.push(event(0, "uport")).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        p.push(event(1, "uport")).unwrap();
        p.push(event(2, "uport")).unwrap();
        let mut buf = [0u8; 2048];
        for i in 0..3 {
            let n = rx
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("event {i}: {e}"));
            let s = std::str::from_utf8(&buf[..n]).unwrap();
            assert!(s.ends_with(&format!("\"udp_{i}\"")), "{s}");
        }
        // Not before the delay (a sleep is never early), and all three in one send.
        assert!(pushed.elapsed() >= Duration::from_millis(300));
        drop(p);
        let stats = sink.shutdown(Duration::from_secs(5));
        let d = &stats.destinations[0];
        assert_eq!((d.sent, d.batches), (3, 1), "{d:?}");
    }

    /// Under load the queue does not empty, so batches fill to `batch` by themselves: 1000
    /// events queued behind a receiver that is not there yet go out in at most 1 + 4
    /// sends of up to 256 (the first batch holds what was queued when it was started).
    #[test]
    fn batches_fill_under_load() {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let cfg = SinkConfig {
            transport: Transport::Tcp,
            framing: crate::sink::format::Framing::Lf,
            address: Address::parse(&addr.to_string()).unwrap(),
            reconnect_min_ms: 10,
            reconnect_max_ms: 20,
            hostname: Some(HostName("h".into())),
            ..SinkConfig::default()
        };
        let (mut p, c) = ring(2048);
        let sink = SyslogSink::start(&[cfg], vec![c]).unwrap();
        for i in 0..1000 {
            p.push(event(i, "uport")).unwrap();
        }
        assert!(
            eventually(|| sink.stats().events == 1000),
            "{}",
            sink.stats()
        );
        let l = TcpListener::bind(addr).unwrap();
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut r = BufReader::new(s);
        for i in 0..1000 {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            assert!(line.ends_with(&format!("udp_{i}\"\n")), "{i}: {line}");
        }
        drop(p);
        let stats = sink.shutdown(Duration::from_secs(5));
        let d = &stats.destinations[0];
        assert_eq!(d.sent, 1000);
        assert!(d.batches <= 5, "{d:?}");
    }
}
