//! Flow workers: pinned threads that each own one shard of every definition's table.
//!
//! A worker drains all of its input rings (one per receive thread) in batches, applies each
//! sample to the tables its work item names, runs the tables' timers, and writes records
//! into its own bounded output ring towards the sinks, published (and the sink's doorbell
//! rung) once per pass over its inputs. Nothing here blocks: a full output ring drops the
//! record and counts it. When idle, a worker spins a few microseconds, then parks on its
//! [`Doorbell`] (attached to all of its input rings, so a receive thread's commit wakes it
//! at once) for at most [`PARK_MAX`], which bounds how late the tables' timers run on an
//! idle collector; an idle collector does not burn a core and a busy one never parks.
//! When every input ring is finished (all producers gone and drained) the worker ends its
//! open flows (`flush`), publishes its counters and exits.
//!
//! Per batch, the worker computes each sample's table probe and prefetches its line(s),
//! and applies the update [`super::shard::PREFETCH_DISTANCE`] probes behind (see
//! [`Shard::apply`]): at a million flows each update is a cache miss, and overlapping
//! them is what sets the throughput.
//!
//! Time comes from a [`Clock`], the system clock in production and a manual one in tests,
//! so timers are tested without sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam::channel::{self, Receiver, Sender};
use crossbeam::utils::CachePadded;

use super::definition::{FlowDefinitions, MAX_DEFINITIONS};
use super::group::GroupKey;
use super::handoff::WorkItem;
use super::shard::Shard;
use super::{FlowEvent, FlowTable};
use crate::ring::{Consumer, Producer};
use crate::wake::{Doorbell, IdleSpin};

/// Samples a worker takes from one ring at a time.
pub const DEFAULT_BATCH: usize = 256;
/// Longest a worker keeps retrying a full output ring while flushing at shutdown.
const FLUSH_PATIENCE: Duration = Duration::from_secs(2);
/// Longest an idle worker parks. Work wakes it at once; this only bounds how late the
/// timers (idle and active timeouts, swept every millisecond while busy) run when no
/// sample arrives, and the wake-up cost of an idle collector (100 per second).
pub const PARK_MAX: Duration = Duration::from_millis(10);

/// Where a worker's time comes from.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// Wall-clock milliseconds since the Unix epoch.
    #[default]
    System,
    /// A time that only moves when told to (tests).
    Manual(ManualClock),
}

impl Clock {
    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            Clock::Manual(m) => m.now_ms(),
        }
    }
}

/// A settable clock shared between a test and the workers.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn new(ms: u64) -> ManualClock {
        ManualClock(Arc::new(AtomicU64::new(ms)))
    }
    pub fn now_ms(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
    pub fn set_ms(&self, ms: u64) {
        self.0.store(ms, Ordering::Release);
    }
    pub fn advance_ms(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::AcqRel);
    }
}

/// How workers run.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Core to pin worker `i` to; `None` or a missing entry leaves it unpinned.
    pub cores: Vec<Option<usize>>,
    /// Source of time for timers and event timestamps.
    pub clock: Clock,
    /// Samples taken from one ring at a time (at least 1).
    pub batch: usize,
    /// Longest an idle worker parks before running its timers ([`PARK_MAX`]).
    pub park_max: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            cores: Vec::new(),
            clock: Clock::System,
            batch: DEFAULT_BATCH,
            park_max: PARK_MAX,
        }
    }
}

/// Why workers could not start.
#[derive(Debug)]
pub enum WorkerError {
    /// Inputs and outputs must both have one entry per worker, and there must be one.
    Shape {
        inputs: usize,
        outputs: usize,
    },
    Spawn(std::io::Error),
}

impl std::fmt::Display for WorkerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerError::Shape { inputs, outputs } => write!(
                f,
                "flow workers need one input set and one output per worker, got {inputs} and {outputs}"
            ),
            WorkerError::Spawn(e) => write!(f, "cannot start a flow worker: {e}"),
        }
    }
}

impl std::error::Error for WorkerError {}

/// One definition's counters, summed over workers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DefinitionStats {
    pub name: Arc<str>,
    /// Samples applied to the definition's tables.
    pub samples_matched: u64,
    pub flows_created: u64,
    /// Flows removed early because a table was full.
    pub flows_evicted: u64,
    /// Flows removed after `idleTimeout`.
    pub flows_expired: u64,
    /// Samples (also in `samples_matched`) dropped because they would have opened a flow
    /// for one IPv6 agent more than a table's agent intern holds
    /// ([`super::table::AGENT_INTERN_MAX`]).
    pub samples_agents_full: u64,
    /// Flows in the tables now.
    pub flows_active: u64,
    /// Records produced (delivered or dropped), threshold events included.
    pub events_emitted: u64,
    /// Threshold events (crossings and `end` events) among `events_emitted`.
    pub threshold_events: u64,
    /// Records dropped because the output ring was full.
    pub events_dropped: u64,
}

/// A snapshot of every definition's counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowStats {
    pub definitions: Vec<DefinitionStats>,
}

/// Published counters of one definition in one worker; only that worker writes them.
#[derive(Default)]
struct SharedCounters {
    samples: AtomicU64,
    created: AtomicU64,
    evicted: AtomicU64,
    expired: AtomicU64,
    agents_full: AtomicU64,
    active: AtomicU64,
    events: AtomicU64,
    crossings: AtomicU64,
    dropped: AtomicU64,
}

/// A change of one worker's tables, sent by a reload.
struct Reconfigure {
    /// New tables by slot (a new definition, or a tiny empty one for a retired slot).
    tables: Vec<(usize, FlowTable)>,
    /// The definition bits in use afterwards.
    live: u64,
    /// Kept tables whose group sets changed, with the new sets ([`Shard::regroup`]).
    groups: Vec<(usize, Box<[GroupKey]>)>,
    /// Where the worker acknowledges, handing back the tables it replaced so that they
    /// are freed on the reloading thread, not on the datapath.
    done: Sender<Vec<FlowTable>>,
}

/// How the reloading thread reaches one worker.
struct Control {
    tx: Sender<Reconfigure>,
    doorbell: Arc<Doorbell>,
}

/// Running flow workers.
pub struct Workers {
    threads: Vec<JoinHandle<()>>,
    /// Each slot's definition name; `None` for a slot a reload retired. Read by stats and
    /// written by reloads only, never by the workers.
    names: Mutex<Vec<Option<Arc<str>>>>,
    counters: Arc<[CachePadded<Box<[SharedCounters]>>]>,
    controls: Vec<Control>,
}

impl Workers {
    /// Start one worker per entry of `inputs` (its rings, one per receive thread) and
    /// `outputs` (its event ring). Each worker holds `maxEntries / workers` flows per
    /// definition (rounded up).
    pub fn spawn(
        definitions: &FlowDefinitions,
        config: WorkerConfig,
        inputs: Vec<Vec<Consumer<WorkItem>>>,
        outputs: Vec<Producer<FlowEvent>>,
    ) -> Result<Workers, WorkerError> {
        let n = inputs.len();
        if n == 0 || outputs.len() != n {
            return Err(WorkerError::Shape {
                inputs: n,
                outputs: outputs.len(),
            });
        }
        let defs = definitions.as_slice();
        // Every slot a reload may fill, so that the counters never move.
        let slots = MAX_DEFINITIONS.max(defs.len());
        let counters: Arc<[CachePadded<Box<[SharedCounters]>>]> = (0..n)
            .map(|_| CachePadded::new((0..slots).map(|_| SharedCounters::default()).collect()))
            .collect();
        let mut threads = Vec::with_capacity(n);
        let mut controls = Vec::with_capacity(n);
        for (index, (rings, output)) in inputs.into_iter().zip(outputs).enumerate() {
            let doorbell = Arc::new(Doorbell::new());
            for r in &rings {
                // A ring that already has a doorbell still works: the worker then notices
                // its items within PARK_MAX instead of at once.
                let _ = r.attach(Arc::clone(&doorbell));
            }
            let (tx, control) = channel::unbounded();
            controls.push(Control {
                tx,
                doorbell: Arc::clone(&doorbell),
            });
            let worker = Worker {
                control,
                doorbell,
                park_max: config.park_max,
                index,
                core: config.cores.get(index).copied().flatten(),
                clock: config.clock.clone(),
                batch: config.batch.max(1),
                dropped: vec![0; defs.len()],
                shard: Shard::new(definitions, n),
                rings,
                output,
                counters: Arc::clone(&counters),
            };
            let handle = std::thread::Builder::new()
                .name(format!("flowsift-flow-{index}"))
                .spawn(move || worker.run())
                .map_err(WorkerError::Spawn)?;
            threads.push(handle);
        }
        Ok(Workers {
            threads,
            names: Mutex::new(defs.iter().map(|d| Some(d.name.clone())).collect()),
            counters,
            controls,
        })
    }

    /// Change every worker's tables: `tables[w]` goes to worker `w` (see
    /// [`Shard::reconfigure`]), every worker's tables in the slots `groups` lists take
    /// those group sets ([`Shard::regroup`]), `live` becomes the set of definition bits in
    /// use and `names` each slot's name. Returns once every worker has switched (each does
    /// at its next pass; a parked one is woken), within `patience`.
    pub fn reconfigure(
        &self,
        tables: Vec<Vec<(usize, FlowTable)>>,
        groups: Vec<(usize, Box<[GroupKey]>)>,
        live: u64,
        names: Vec<Option<Arc<str>>>,
        patience: Duration,
    ) -> Result<(), String> {
        let (done_tx, done_rx) = channel::unbounded();
        let mut sent = 0;
        for (control, tables) in self.controls.iter().zip(tables) {
            let msg = Reconfigure {
                tables,
                live,
                groups: groups.clone(),
                done: done_tx.clone(),
            };
            if control.tx.send(msg).is_ok() {
                sent += 1;
            }
            control.doorbell.wake();
        }
        drop(done_tx);
        let deadline = Instant::now() + patience;
        let mut acked = 0;
        while acked < sent {
            let left = deadline.saturating_duration_since(Instant::now());
            match done_rx.recv_timeout(left) {
                // Freed here, on the reloading thread.
                Ok(old) => {
                    drop(old);
                    acked += 1;
                }
                Err(_) => break,
            }
        }
        let mut n = self.names.lock().unwrap_or_else(|e| e.into_inner());
        *n = names;
        if acked < self.controls.len() {
            return Err(format!(
                "{} of {} flow workers did not take the new definitions",
                self.controls.len() - acked,
                self.controls.len()
            ));
        }
        Ok(())
    }

    /// Number of workers.
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }

    /// Counters summed over workers (each worker publishes after every batch and tick).
    pub fn stats(&self) -> FlowStats {
        let names = self.names.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut out: Vec<(usize, DefinitionStats)> = names
            .iter()
            .enumerate()
            .filter_map(|(slot, n)| {
                n.as_ref().map(|n| {
                    (
                        slot,
                        DefinitionStats {
                            name: n.clone(),
                            ..Default::default()
                        },
                    )
                })
            })
            .collect();
        for worker in self.counters.iter() {
            for (slot, s) in out.iter_mut() {
                let Some(c) = worker.get(*slot) else { continue };
                let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
                s.samples_matched += get(&c.samples);
                s.flows_created += get(&c.created);
                s.flows_evicted += get(&c.evicted);
                s.flows_expired += get(&c.expired);
                s.samples_agents_full += get(&c.agents_full);
                s.flows_active += get(&c.active);
                s.events_emitted += get(&c.events);
                s.threshold_events += get(&c.crossings);
                s.events_dropped += get(&c.dropped);
            }
        }
        FlowStats {
            definitions: out.into_iter().map(|(_, s)| s).collect(),
        }
    }

    /// Wait for every worker to exit (they do once all their input rings are finished),
    /// and return the final counters.
    pub fn join(self) -> Joined {
        let stats_source = Workers {
            threads: Vec::new(),
            names: self.names,
            counters: self.counters,
            controls: Vec::new(),
        };
        let panicked = self
            .threads
            .into_iter()
            .map(JoinHandle::join)
            .filter(Result::is_err)
            .count();
        Joined {
            stats: stats_source.stats(),
            panicked,
        }
    }
}

/// What [`Workers::join`] reports.
#[derive(Clone, Debug, PartialEq)]
pub struct Joined {
    /// Counters after every worker flushed and exited.
    pub stats: FlowStats,
    /// Workers that panicked (0 unless there is a bug).
    pub panicked: usize,
}

struct Worker {
    /// Reloads: new tables, taken at the start of a pass.
    control: Receiver<Reconfigure>,
    /// Rung by the input rings' producers; the worker parks on it when idle.
    doorbell: Arc<Doorbell>,
    park_max: Duration,
    index: usize,
    core: Option<usize>,
    clock: Clock,
    batch: usize,
    shard: Shard,
    dropped: Vec<u64>,
    rings: Vec<Consumer<WorkItem>>,
    output: Producer<FlowEvent>,
    counters: Arc<[CachePadded<Box<[SharedCounters]>>]>,
}

impl Worker {
    fn run(mut self) {
        crate::sched::apply_wake_slice();
        if let Some(id) = self.core {
            if !core_affinity::set_for_current(core_affinity::CoreId { id }) {
                eprintln!(
                    "flowsift: flow worker {} could not be pinned to core {id}; running unpinned",
                    self.index
                );
            }
        }
        let mut items: Vec<WorkItem> = Vec::with_capacity(self.batch);
        let mut idle = IdleSpin::default();
        let mut last_tick = None;
        loop {
            if let Ok(msg) = self.control.try_recv() {
                self.reconfigure(msg);
            }
            let mut got = 0;
            for r in 0..self.rings.len() {
                items.clear();
                let n = self.rings[r].pop_into(&mut items, self.batch);
                if n > 0 {
                    got += n;
                    let now = self.clock.now_ms();
                    let output = &mut self.output;
                    let dropped = &mut self.dropped;
                    self.shard.apply(&items, now, &mut |d, e| {
                        if output.push_deferred(e).is_err() {
                            dropped[d] += 1;
                        }
                    });
                }
            }
            let now = self.clock.now_ms();
            if last_tick != Some(now) {
                last_tick = Some(now);
                let output = &mut self.output;
                let dropped = &mut self.dropped;
                self.shard.tick(now, &mut |d, e| {
                    if output.push_deferred(e).is_err() {
                        dropped[d] += 1;
                    }
                });
            }
            // One publishing store (and doorbell ring) per pass, not per event.
            if self.output.uncommitted() > 0 {
                self.output.commit();
            }
            if got > 0 {
                self.publish();
                idle.reset();
                continue;
            }
            if self.rings.iter().all(Consumer::is_finished) {
                self.flush(self.clock.now_ms());
                self.publish();
                return;
            }
            if idle.spin() {
                continue;
            }
            self.publish();
            let rings = &self.rings;
            // Re-checked after the doorbell's flag is up: an item committed (or a producer
            // dropped) from here on either shows up in this check or unparks us.
            self.doorbell.park_timeout(self.park_max, || {
                rings.iter().all(Consumer::is_empty) && !rings.iter().all(Consumer::is_finished)
            });
        }
    }

    fn reconfigure(&mut self, msg: Reconfigure) {
        let replaced: Vec<usize> = msg.tables.iter().map(|(slot, _)| *slot).collect();
        self.shard.regroup(msg.groups);
        let old = self.shard.reconfigure(msg.tables, msg.live);
        let slots = self.shard.tables().len();
        self.dropped.resize(slots, 0);
        for slot in replaced {
            if let Some(d) = self.dropped.get_mut(slot) {
                *d = 0;
            }
        }
        // Counters of the new tables before the reload reports them.
        self.publish();
        let _ = msg.done.send(old);
    }

    /// End every open flow. Only here may the worker wait for room in its output ring,
    /// and only for a bounded time: nothing else is left for it to do.
    fn flush(&mut self, now: u64) {
        let deadline = Instant::now() + FLUSH_PATIENCE;
        let output = &mut self.output;
        let dropped = &mut self.dropped;
        self.shard.flush(now, &mut |d, mut e| loop {
            match output.push(e) {
                Ok(()) => return,
                Err(back) if Instant::now() < deadline => {
                    e = back;
                    std::thread::sleep(Duration::from_micros(100));
                }
                Err(_) => {
                    dropped[d] += 1;
                    return;
                }
            }
        });
    }

    fn publish(&self) {
        let Some(mine) = self.counters.get(self.index) else {
            return;
        };
        let tables = self.shard.tables();
        for ((table, c), dropped) in tables.iter().zip(mine.iter()).zip(&self.dropped) {
            let t = table.counters();
            c.samples.store(t.samples, Ordering::Relaxed);
            c.created.store(t.created, Ordering::Relaxed);
            c.evicted.store(t.evicted, Ordering::Relaxed);
            c.expired.store(t.expired, Ordering::Relaxed);
            c.agents_full.store(t.agents_full, Ordering::Relaxed);
            c.active.store(table.len() as u64, Ordering::Relaxed);
            c.events.store(t.events + t.crossings, Ordering::Relaxed);
            c.crossings.store(t.crossings, Ordering::Relaxed);
            c.dropped.store(*dropped, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{builtin, Route, Router};
    use crate::ring::ring;
    use crate::{clock::monotonic_nanos, record::SampleRecord};

    fn unreachable_port(port: u16) -> SampleRecord {
        SampleRecord::port_unreachable(
            "192.0.2.1".parse().unwrap(),
            "10.0.0.5".parse().unwrap(),
            "198.51.100.7".parse().unwrap(),
            port,
        )
        .with_frame_length(110)
        .with_received_ns(monotonic_nanos())
    }

    /// A worker parked with a long bound must still turn each lone sample into its event
    /// at once: the receive side's commit rings the doorbell. A lost wake-up would cost
    /// the whole 5 s park.
    #[test]
    fn parked_worker_wakes_for_each_lone_sample() {
        const PARK: Duration = Duration::from_secs(5);
        let defs = FlowDefinitions::from_specs(&[builtin("uport").unwrap()]).unwrap();
        let (mut input, c) = ring::<WorkItem>(64);
        let (out, mut events) = ring::<FlowEvent>(64);
        let config = WorkerConfig {
            park_max: PARK,
            ..WorkerConfig::default()
        };
        let workers = Workers::spawn(&defs, config, vec![vec![c]], vec![out]).unwrap();
        let mut router = Router::new(&defs, 1);
        let mut worst = Duration::ZERO;
        for i in 0..40u16 {
            // Pauses of 0..19 ms: long enough for the worker to spend its spin budget and
            // park, varied so some samples land just as it is about to.
            std::thread::sleep(Duration::from_millis(u64::from(i * 7 % 20)));
            let record = unreachable_port(1 + i);
            router.route(&record, &mut |_, flow| {
                assert!(input.push_deferred(WorkItem::new(&record, flow)).is_ok());
            });
            input.commit();
            let deadline = Instant::now() + 2 * PARK;
            let event = loop {
                if let Some(e) = events.pop() {
                    break e;
                }
                assert!(Instant::now() < deadline, "sample {i} produced no event");
                std::thread::yield_now();
            };
            assert!(event.flow_keys().ends_with(&format!("udp_{}", 1 + i)));
            worst = worst.max(Duration::from_nanos(
                monotonic_nanos().saturating_sub(event.received_ns),
            ));
        }
        assert!(worst < PARK / 5, "a sample waited {worst:?}");
        drop(input);
        // Dropping the producer wakes the worker too: it flushes and exits promptly.
        let started = Instant::now();
        let joined = workers.join();
        assert_eq!(joined.panicked, 0);
        assert!(started.elapsed() < PARK / 5, "{:?}", started.elapsed());
        assert_eq!(joined.stats.definitions[0].events_emitted, 40);
    }
}
