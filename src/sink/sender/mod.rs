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
//! The dispatcher only selects and queues (a flow-name check and an `Arc` clone per
//! destination), so a destination that is slow or disconnected fills its own queue and
//! loses its own events, counted as overflow, without delaying the others. Each
//! destination thread formats into recycled buffers (no allocation per event once warm).
//!
//! With a single destination (the seed configuration, and the common one) there is no
//! dispatcher: the destination thread takes events from the worker rings itself, one
//! thread hop and one wake-up less per event; its bounded queue is then where it keeps
//! what it takes from the rings while it cannot send (reconnecting).
//!
//! No hop polls. The dispatcher (or the single destination) parks on a [`Doorbell`]
//! attached to every worker ring, so a worker's commit wakes it; a destination behind a
//! dispatcher blocks on its queue, and the dispatcher's `try_send` wakes it.
//!
//! The flush policy (docs/syslog.md): a destination takes what is queued until the batch
//! holds `batch` messages or the queue is empty, and then sends; with `flush_ms` > 0 it first waits for more, at most until `flush_ms` after the
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
//! Laid out by role: [`SyslogSink`] (start, stats, hand-over, shutdown) and the state its
//! threads share here; `dispatch` (the dispatcher thread), `input` (where a destination
//! takes events from), `destination` (a destination thread: format, batch, send), `link`
//! (connection and reconnect schedule), `stats` (counters and their snapshots).
//!
//! Latency from datagram receipt (`FlowEvent::received_ns`, `CLOCK_MONOTONIC`) to the send
//! call is recorded per destination in an HDR histogram (microseconds).

mod destination;
mod dispatch;
mod input;
mod link;
mod stats;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel;
use crossbeam::utils::CachePadded;

pub use self::stats::{
    DestinationStats, LatencyBuckets, LatencySummary, SinkStats, LATENCY_BOUNDS_US,
};

use self::destination::Destination;
use self::dispatch::{dispatch, DestinationQueue};
use self::input::{DirectInput, Input};
use self::stats::DestinationCounters;
use super::config::{HostName, SinkConfig};
use super::format::{FormatOptions, Formatter};
use super::transport::Connector;
use crate::clock::monotonic_nanos;
use crate::flow::FlowEvent;
use crate::ring::Consumer;
use crate::wake::{Doorbell, IdleSpin};

/// What the sender's threads share: the stop and hand-over requests, the rings handed back,
/// the doorbell the worker rings ring, and every counter.
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

/// The running sender. Dropping it without [`SyslogSink::shutdown`] stops it with a zero
/// timeout.
pub struct SyslogSink {
    shared: Arc<Shared>,
    configs: Vec<SinkConfig>,
    dispatcher: Option<JoinHandle<()>>,
    senders: Vec<JoinHandle<()>>,
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
        let mut queues = Vec::with_capacity(configs.len());
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
                    backlog: VecDeque::new(),
                    capacity: cfg.queue.get(),
                    next: 0,
                    idle: IdleSpin::default(),
                })),
                None => {
                    let (tx, rx) = channel::bounded(cfg.queue.get());
                    queues.push(DestinationQueue {
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
                .spawn(move || dispatch(rings, queues, &dispatch_shared))
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
                .map(|(cfg, c)| c.snapshot(cfg))
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
