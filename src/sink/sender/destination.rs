//! A destination thread: takes events from its [`Input`], formats and frames each into a
//! batch (recycled buffers: no allocation per event once warm), sends the batch when the
//! input is idle or the batch is full (or `flush_ms` after its first event), records the
//! receipt-to-send latency, and at the shutdown deadline counts what it still holds as
//! dropped.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::input::{Input, Taken};
use super::link::Link;
use super::stats::{new_histogram, DestinationCounters};
use super::Shared;
use crate::clock::monotonic_nanos;
use crate::flow::FlowEvent;
use crate::sink::config::{SinkConfig, Transport};
use crate::sink::format::{frame, Formatter, WallTime};
use crate::sink::transport::{Connector, SendError};

/// How often a destination thread publishes its latency histogram.
const HISTOGRAM_PUBLISH: Duration = Duration::from_millis(100);

/// One destination's thread state.
pub(super) struct Destination {
    pub(super) cfg: SinkConfig,
    pub(super) index: usize,
    pub(super) connector: Connector,
    pub(super) formatter: Formatter,
    pub(super) shared: Arc<Shared>,
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

    pub(super) fn run(mut self, mut input: Input) {
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
