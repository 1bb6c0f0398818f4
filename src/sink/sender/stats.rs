//! What the sender counts and how it reports it: the per-destination counters its threads
//! write (cache-padded atomics and a latency histogram), and the snapshots the run loop
//! reads from them ([`SinkStats`], its stats line, and the Prometheus latency buckets).
//!
//! Counting is the only thing the send path does here; a snapshot takes the histogram's
//! lock briefly, and only a destination thread's publish (every 100 ms) contends for it.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use hdrhistogram::Histogram;

use crate::sink::config::{SinkConfig, Transport};

/// Latency histogram range: 1 µs .. 1 h, 3 significant digits.
const LATENCY_MAX_US: u64 = 3_600_000_000;

pub(super) fn new_histogram() -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts; fall back to auto-resizing otherwise.
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).unwrap_or_else(|_| {
        let mut h = Histogram::new(3).unwrap_or_else(|_| unreachable!("3 sigfig is valid"));
        h.auto(true);
        h
    })
}

/// Counters of one destination, written by its thread and the dispatcher.
pub(super) struct DestinationCounters {
    /// Events accepted into the queue.
    pub(super) accepted: AtomicU64,
    /// Messages handed to the kernel.
    pub(super) sent: AtomicU64,
    /// Send calls that handed over at least one message (`sent / batches`: batch size).
    pub(super) batches: AtomicU64,
    /// Events refused because the queue was full.
    pub(super) overflow: AtomicU64,
    /// Events given up on: failed datagrams, and what remained at the shutdown deadline.
    pub(super) dropped: AtomicU64,
    /// Failed sends and connection attempts.
    pub(super) errors: AtomicU64,
    /// Connections made after the first.
    pub(super) reconnects: AtomicU64,
    pub(super) connected: AtomicBool,
    pub(super) latency: Mutex<Histogram<u64>>,
}

impl DestinationCounters {
    pub(super) fn new() -> Self {
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

    /// A snapshot of these counters, for the destination `cfg` describes.
    pub(super) fn snapshot(&self, cfg: &SinkConfig) -> DestinationStats {
        let accepted = self.accepted.load(Ordering::Relaxed);
        let sent = self.sent.load(Ordering::Relaxed);
        let dropped = self.dropped.load(Ordering::Relaxed);
        let (latency, latency_buckets) = {
            let h = self.latency.lock().unwrap_or_else(|p| p.into_inner());
            (LatencySummary::of(&h), LatencyBuckets::of(&h))
        };
        DestinationStats {
            name: cfg.name.clone(),
            transport: cfg.transport,
            address: cfg.address.to_string(),
            accepted,
            sent,
            batches: self.batches.load(Ordering::Relaxed),
            queued: accepted.saturating_sub(sent + dropped),
            overflow: self.overflow.load(Ordering::Relaxed),
            dropped,
            errors: self.errors.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            connected: self.connected.load(Ordering::Relaxed),
            latency,
            latency_buckets,
        }
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
    pub(super) fn of(h: &Histogram<u64>) -> Self {
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
    pub(super) fn of(h: &Histogram<u64>) -> Self {
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
