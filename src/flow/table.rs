//! One worker's shard of one definition's flows: a bounded open-addressing table.
//!
//! Layout. Entries live inline in one `Vec<u64>` (linear probing, at most half or a
//! quarter full), the array aligned to 64 bytes. Every entry holds the flow's identity:
//! the packed key followed by 5 bytes, the data source (all 32 bits) and a marker byte
//! whose bit 0 marks an occupied slot and bit 1 an IPv6 agent; `uport`'s 11 key bytes
//! leave exactly that room in its two words. What else an entry holds depends on the
//! definition:
//!
//! - **Start-only entries** (`flowStart` definitions, the seed's `uport` and its
//!   variants): the identity, an agent word and LAST, nothing else. Such a flow emits
//!   its one record when it opens, built from the opening sample and its probe, and never
//!   again (its idle expiry and eviction are silent), so the entry needs no value, start
//!   or receipt time: only what tells flows apart and when the flow was last seen (idle
//!   re-fire, least-recently-seen eviction). The agent word is an IPv4 agent's address,
//!   or for an IPv6 agent its index in the table's `AgentIntern` (the identity's family
//!   bit says which); fabric-scope tables leave it zero (the agent is not part of their
//!   flows). A `uport` entry is 32 bytes, so two share a cache line, and the slots are
//!   probed by line: a flow's home is the first slot of a line (`FlowTable::home`).
//!   Kept a quarter full ([`START_ONLY_LOAD_PERCENT`]), nearly every flow is in its home
//!   line, the one line [`FlowTable::prefetch`] loads: one line per update instead of
//!   two. Wider start-only entries are rounded up to 64 bytes (one line each).
//! - **Full entries** (every other definition): agent (two words), value, start, last,
//!   receipt time, then the identity; a one-key entry is 64 bytes, exactly one line
//!   (with 72-byte entries every entry straddled two lines, so a hit cost two misses);
//!   the table is kept half full ([`MAX_LOAD_PERCENT`]) and the home and the next slot
//!   are prefetched together.
//!
//! Either way a flow costs 128 bytes of table (`uport`). A separate index, or an
//! intrusive LRU list (whose unlinking touches two more random entries per sample), would
//! triple the misses at a million flows; they are what decides the throughput there.
//!
//! Bounds. A table is allocated at the size that holds its share of `maxEntries` when
//! that fits in [`PRESIZE_BYTES`] (the default bound does), so it never grows and never
//! stalls its worker to re-place entries; a larger one starts there and grows by doubling
//! (allocation only while warming up), never beyond its bound. When full, inserting
//! a new flow first evicts the least recently seen of the next [`EVICT_SAMPLE`] entries
//! after a rotating hand (sampled LRU, as Redis does: it needs no list, and the idle sweep
//! keeps the table short of full in normal operation). Evictions are counted. The
//! agent intern holds at most [`AGENT_INTERN_MAX`] IPv6 agents with open flows; a sample
//! that would open a flow for one more is dropped and counted
//! ([`TableCounters::agents_full`]), never stored under a wrong identity.
//!
//! Timers. `tick` sweeps the slots incrementally, a full pass every [`SWEEP_MS`]: an entry
//! idle for `idleTimeout` is removed (its end record emitted when `flowStart` is false) and
//! a long flow's record is emitted every `activeTimeout`; a flow that keeps receiving
//! samples also reports its active timeout on the sample that crosses it. So timers fire
//! at most one sweep late, with no thread or timer object per flow. Deletion is a
//! backward shift, so the table never fills with tombstones.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::definition::{FlowDefinition, Scope, ValueKind};
use super::group::{pack_groups, unpack_columns, FlowKey, GroupKey};
use super::key::{
    flow_hash, packed_bytes, scope_from_words, scope_words, PackPlan, PackedKey, MAX_KEY_WORDS,
    SCOPE_BITS, SCOPE_V6,
};
use super::FlowEvent;
use crate::packet::Key;
use crate::record::{SampleRecord, WorkSample};

use super::handoff::FlowId;
use crate::threshold::{Smoothing, Threshold};

mod metric;

/// Most slots in use, in percent, in a table of full entries: the table grows (or, at
/// its bound, evicts) beyond it. Half full, a flow lies in its home slot or the next
/// (both prefetched) nine times in ten; at 3/4, 37 % of flows lie past their home slot
/// and 22 % past the next one (linear probing, simulated), and each further line is a
/// DRAM miss no prefetch covers (docs/perf/flow.md: 1 M keys, 6-9 M updates/s at 75 %,
/// 11-14 M at 50 %). The price is memory: 128 bytes per flow of 64-byte entries.
pub const MAX_LOAD_PERCENT: usize = 50;
/// [`MAX_LOAD_PERCENT`] for tables of 32-byte start-only entries, whose homes start a
/// line: a quarter full, 96.6 % of flows lie in their home line (two slots; linear
/// probing over two-slot lines, simulated; 88 % at half full), so one prefetched line
/// per update finds nearly every flow. Measured at 1 M keys (docs/perf/flow.md round 5)
/// this beats half full with two prefetched lines by a quarter: the worker is limited
/// by the lines it has in flight, not by instructions. The price is the same memory
/// per flow as a half-full table of 64-byte entries, 128 bytes.
pub const START_ONLY_LOAD_PERCENT: usize = 25;

/// Interval in which `tick` sweeps every slot once.
pub const SWEEP_MS: u64 = 1000;
/// Entries compared when choosing an eviction victim.
pub const EVICT_SAMPLE: usize = 16;
/// Slots a table starts with when it cannot be allocated at its full size up front.
const INITIAL_SLOTS: usize = 1024;
/// A table whose full size (its bound at half load) fits in this many bytes is allocated
/// at that size when created, so it never grows. Growing re-places every entry while the
/// worker's rings wait: at 64 K flows that stall is milliseconds, and every event queued
/// behind it is late (the receipt-to-send tail of docs/perf/sink.md). The memory is
/// allocated untouched (zeroed pages arrive as flows land on them) and the idle sweep's
/// cost follows the slot count, about 13 µs per ms for the default `maxEntries` of 100 000.
/// Larger tables start at this size and grow by doubling, once per doubling of the flows.
pub const PRESIZE_BYTES: usize = 64 << 20;
/// Most IPv6 agents with open flows one start-only, agent-scope table tells apart
/// (`AgentIntern`): ~300 KB at most per table, allocated as agents appear. A network has
/// one agent per switch or router exporting sFlow, far fewer than this; more in one shard
/// of one definition means forged datagrams, whose new flows are then dropped and counted
/// rather than growing memory without bound or being stored under another's identity.
pub const AGENT_INTERN_MAX: usize = 4096;

/// Word offsets inside a full entry.
mod field {
    /// The opening sample's agent address, two words.
    pub const AGENT: usize = 0;
    /// Scaled value accumulated since the flow (or its active interval) started.
    pub const VALUE: usize = 2;
    /// Start of the flow or of its current active interval, ms since the epoch.
    pub const START: usize = 3;
    /// Last sample, ms since the epoch.
    pub const LAST: usize = 4;
    /// Monotonic receipt time of the last sample's datagram.
    pub const RECEIVED: usize = 5;
    /// Identity words follow: packed key, then at bit `key bits` the data source (32 bits)
    /// and the marker byte (bit 0 occupied, bit 1 IPv6 agent). All zero in an empty slot.
    pub const IDENT: usize = 6;
}

/// Word offsets inside a start-only entry: the identity words first (as in a full
/// entry), then the agent word at `ident words` and LAST right after it.
mod start_field {
    pub const IDENT: usize = 0;
}

/// Most identity words: the widest packed key plus the 5 bytes of scope and marker.
const MAX_IDENT: usize = MAX_KEY_WORDS + 1;
/// Scope word and marker byte as they sit in the identity at bit `key bits`.
const EXTRA_BITS: usize = 40;
/// A probe's agent word when its IPv6 agent's intern index is not known yet (looked up
/// when the update runs, since an earlier update of the batch may intern it).
const UNRESOLVED: u64 = u64::MAX;

/// Process-wide flow record identifiers (sFlow-RT `flowID`), increasing from 1.
static NEXT_FLOW_ID: AtomicU64 = AtomicU64::new(1);

/// The next `flowID` (flow records and threshold events share the sequence).
pub fn next_flow_id() -> u64 {
    NEXT_FLOW_ID.fetch_add(1, Ordering::Relaxed)
}

/// Word offsets inside the metric words that follow an entry of a definition a
/// threshold watches (`FlowTable::metric`).
mod metric_field {
    /// The smoothed sum and observed time ([`crate::threshold::Rate`], f64 bits), as of
    /// LAST.
    pub const SUM: usize = 0;
    pub const WINDOW: usize = 1;
    /// One word per threshold: a [`crate::threshold::Gate`] (`byFlow`), or bit 63 while
    /// the flow is counted above in its scope's [`crate::threshold::Largest`].
    pub const GATES: usize = 2;
}

/// The rate and thresholds of a table whose definition a threshold watches.
struct TableMetric {
    thresholds: Arc<[Threshold]>,
    smoothing: Smoothing,
    /// Entry word of [`metric_field::SUM`].
    at: usize,
    /// When the largest-flow thresholds were last checked for a re-arm.
    last_rearm_ms: u64,
}

/// Counters of one table, plain integers: only the owning worker writes them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableCounters {
    /// Samples applied to the table.
    pub samples: u64,
    /// Flows that entered the table.
    pub created: u64,
    /// Flows removed early because the table was full.
    pub evicted: u64,
    /// Flows removed after `idleTimeout` without samples.
    pub expired: u64,
    /// Records handed to the output (whether the queue then took them or not).
    pub events: u64,
    /// Threshold events handed to the output (crossings and `end` events).
    pub crossings: u64,
    /// Samples (also in `samples`) that would have opened a flow for an IPv6 agent when
    /// the agent intern was full ([`AGENT_INTERN_MAX`]): dropped, no flow, no record.
    pub agents_full: u64,
}

/// A sample's identity in one table, computed once and used to prefetch then update.
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    hash: u64,
    scope: [u64; 3],
    /// The identity words an entry for this sample holds (see [`field::IDENT`]): the
    /// packed key's words with scope and marker OR-ed in, then `tail` (packed in place
    /// rather than copied into one array: the copy cost a tenth of an update).
    key: PackedKey,
    tail: u64,
    /// A start-only entry's agent word for this sample: the IPv4 agent's address, 0 in
    /// fabric scope, [`UNRESOLVED`] for an IPv6 agent.
    agent: u64,
}

impl Probe {
    /// A blank probe to fill with [`FlowTable::probe_into`].
    pub const EMPTY: Probe = Probe {
        hash: 0,
        scope: [0; 3],
        key: PackedKey::EMPTY,
        tail: 0,
        agent: 0,
    };

    /// Identity word `k`.
    #[inline]
    fn ident(&self, k: usize) -> u64 {
        self.key.words.get(k).copied().unwrap_or(self.tail)
    }
}

/// The IPv6 agents of a start-only, agent-scope table's open flows, each stored once so
/// that an entry names its agent in one word (an index here) instead of 16 bytes. Every
/// index counts the flows naming it and is freed with the last of them, so it holds at
/// most the agents of open flows, never more than [`AGENT_INTERN_MAX`].
struct AgentIntern {
    /// Most agents held: [`AGENT_INTERN_MAX`] (tests lower it).
    max: usize,
    index: HashMap<[u64; 2], u32>,
    /// Address (the first two scope words) of each index.
    addrs: Vec<[u64; 2]>,
    /// Open flows naming each index; 0 = free.
    flows: Vec<u32>,
    free: Vec<u32>,
}

impl AgentIntern {
    fn new() -> AgentIntern {
        AgentIntern {
            max: AGENT_INTERN_MAX,
            index: HashMap::new(),
            addrs: Vec::new(),
            flows: Vec::new(),
            free: Vec::new(),
        }
    }

    /// The agent word of the agent in `scope`, or [`UNRESOLVED`] when it has no flow.
    #[inline(never)]
    fn lookup(&self, scope: &[u64; 3]) -> u64 {
        self.index
            .get(&[scope[0], scope[1]])
            .map_or(UNRESOLVED, |&i| u64::from(i))
    }

    /// One more flow for the agent in `scope`, whose word is `known` (from
    /// [`AgentIntern::lookup`]); `None` when it is new and the intern is full.
    fn acquire(&mut self, scope: &[u64; 3], known: u64) -> Option<u64> {
        if let Some(n) = usize::try_from(known)
            .ok()
            .and_then(|i| self.flows.get_mut(i))
        {
            *n += 1;
            return Some(known);
        }
        let addr = [scope[0], scope[1]];
        let i = match self.free.pop() {
            Some(i) => i as usize,
            None if self.addrs.len() < self.max => {
                self.addrs.push(addr);
                self.flows.push(0);
                self.addrs.len() - 1
            }
            None => return None,
        };
        self.addrs[i] = addr;
        self.flows[i] = 1;
        // `i` < `max` <= AGENT_INTERN_MAX, so it fits in u32.
        self.index.insert(addr, i as u32);
        Some(i as u64)
    }

    /// A flow naming agent word `word` is gone.
    fn release(&mut self, word: u64) {
        let Ok(i) = usize::try_from(word) else {
            return;
        };
        if let Some(n) = self.flows.get_mut(i) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.index.remove(&self.addrs[i]);
                self.free.push(i as u32);
            }
        }
    }

    /// The address words of agent word `word`.
    fn addr(&self, word: u64) -> [u64; 2] {
        usize::try_from(word)
            .ok()
            .and_then(|i| self.addrs.get(i))
            .copied()
            .unwrap_or([0; 2])
    }

    /// Agents with open flows.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.index.len()
    }

    fn clear(&mut self) {
        self.index.clear();
        self.addrs.clear();
        self.flows.clear();
        self.free.clear();
    }
}

/// A bounded flow table: one worker's shard of one definition.
pub struct FlowTable {
    name: Arc<str>,
    separator: Arc<str>,
    keys: Box<[Key]>,
    plan: PackPlan,
    /// The definition's group keys, packed after `keys` (usually none).
    groups: Box<[GroupKey]>,
    /// Bytes of the packet keys: where the group keys start.
    packet_bytes: usize,
    columns: Box<[FlowKey]>,
    value: ValueKind,
    scope: Scope,
    log: bool,
    /// Also selects the layout: `flowStart` tables have start-only entries.
    flow_start: bool,
    active_ms: u64,
    idle_ms: u64,
    seed: u64,
    stride: usize,
    key_words: usize,
    /// Bits of the packed key; the scope word and marker follow at this bit.
    key_bits: usize,
    ident_words: usize,
    /// Entry words of the identity, the agent word (start-only entries) and LAST.
    ident_at: usize,
    agent_at: usize,
    last_at: usize,
    /// log2 of the slots per 64-byte line that homes are aligned to: 1 for 32-byte
    /// entries (a flow's home is the first slot of a line), else 0.
    line_shift: u32,
    /// Most slots in use, in percent ([`MAX_LOAD_PERCENT`], [`START_ONLY_LOAD_PERCENT`]).
    load_percent: usize,
    /// Entry word holding the occupied marker, and the marker's bit in it.
    occupied_word: usize,
    occupied_bit: u64,
    /// Identity bits two entries must share to be the same flow: all of them in agent
    /// scope; all but the scope word in fabric scope (the scope is not part of the flow).
    same_mask: [u64; MAX_IDENT],
    words: Vec<u64>,
    /// Index of slot 0's first word in `words` (the first 64-byte-aligned one).
    base: usize,
    slots: usize,
    len: usize,
    max_entries: usize,
    max_slots: usize,
    sweep_hand: usize,
    last_sweep_ms: Option<u64>,
    evict_hand: usize,
    agents: AgentIntern,
    counters: TableCounters,
    /// Rate and threshold state when a threshold watches the definition; `None` (the
    /// entries have no metric words) otherwise.
    metric: Option<Box<TableMetric>>,
}

impl FlowTable {
    /// A table for `def` holding at most `max_entries` flows (this shard's share), hashing
    /// with `seed` (the definition's [`super::key::definition_seed`], as the router does).
    pub fn new(def: &FlowDefinition, max_entries: usize, seed: u64) -> FlowTable {
        FlowTable::with_presize(def, max_entries, seed, PRESIZE_BYTES)
    }

    /// [`FlowTable::new`] allocating at most `presize_bytes` up front (at least
    /// `INITIAL_SLOTS` slots, at most the bound): what is beyond comes by growth.
    pub fn with_presize(
        def: &FlowDefinition,
        max_entries: usize,
        seed: u64,
        presize_bytes: usize,
    ) -> FlowTable {
        let max_entries = max_entries.max(1);
        let key_bits = def.packed_bytes() * 8;
        let ident_words = (key_bits + EXTRA_BITS).div_ceil(64);
        let metric_words = if def.thresholds.is_empty() {
            0
        } else {
            metric_field::GATES + def.thresholds.len()
        };
        let (stride, ident_at, agent_at, last_at) = if def.flow_start {
            // Half or whole lines, so that no entry straddles two.
            let words = ident_words + 2 + metric_words;
            let stride = match words {
                ..=4 => 4,
                5..=8 => 8,
                _ => words,
            };
            let ident_at = start_field::IDENT;
            (
                stride,
                ident_at,
                ident_at + ident_words,
                ident_at + ident_words + 1,
            )
        } else {
            (
                field::IDENT + ident_words + metric_words,
                field::IDENT,
                field::AGENT,
                field::LAST,
            )
        };
        // The metric words follow the identity (and a start-only entry's agent word and
        // LAST).
        let metric_at = if def.flow_start {
            ident_at + ident_words + 2
        } else {
            field::IDENT + ident_words
        };
        let metric = (metric_words > 0).then(|| {
            Box::new(TableMetric {
                thresholds: def.thresholds.clone(),
                smoothing: Smoothing::new(def.t),
                at: metric_at,
                last_rearm_ms: 0,
            })
        });
        let line_shift = u32::from(stride == 4);
        let per_line = 1usize << line_shift;
        let load_percent = if line_shift == 1 {
            START_ONLY_LOAD_PERCENT
        } else {
            MAX_LOAD_PERCENT
        };
        let max_slots = max_entries
            .saturating_mul(100)
            .div_ceil(load_percent)
            .max(2)
            .next_multiple_of(per_line);
        let slots = (presize_bytes / (stride * 8) / per_line * per_line)
            .max(INITIAL_SLOTS)
            .min(max_slots);
        let marker = key_bits + 32;
        let mut same_mask = [u64::MAX; MAX_IDENT];
        if def.scope == Scope::Fabric {
            let mut clear = [0; MAX_IDENT];
            put_bits(&mut clear, key_bits, SCOPE_BITS);
            for (m, c) in same_mask.iter_mut().zip(clear) {
                *m &= !c;
            }
        }
        let (words, base) = allocate(slots * stride);
        FlowTable {
            name: def.name.clone(),
            separator: def.separator.clone(),
            keys: def.keys.clone(),
            plan: PackPlan::new(&def.keys),
            groups: def.groups.clone(),
            packet_bytes: packed_bytes(&def.keys),
            columns: def.columns.clone(),
            value: def.value,
            scope: def.scope,
            log: def.log,
            flow_start: def.flow_start,
            active_ms: def.active_timeout_ms,
            idle_ms: def.idle_timeout_ms,
            seed,
            stride,
            key_words: def.key_words,
            key_bits,
            ident_words,
            ident_at,
            agent_at,
            last_at,
            line_shift,
            load_percent,
            occupied_word: ident_at + marker / 64,
            occupied_bit: 1 << (marker % 64),
            same_mask,
            words,
            base,
            slots,
            len: 0,
            max_entries,
            max_slots,
            sweep_hand: 0,
            last_sweep_ms: None,
            evict_hand: 0,
            agents: AgentIntern::new(),
            counters: TableCounters::default(),
            metric,
        }
    }

    /// Flows in the table.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most flows the table holds.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Bytes of one entry.
    pub fn entry_bytes(&self) -> usize {
        self.stride * 8
    }

    /// Bytes the table allocates once grown to hold `max_entries`, per entry.
    pub fn bytes_per_entry_when_full(&self) -> f64 {
        (self.max_slots * self.stride * 8) as f64 / self.max_entries as f64
    }

    /// Bytes allocated now.
    pub fn allocated_bytes(&self) -> usize {
        self.words.capacity() * 8
    }

    pub fn counters(&self) -> TableCounters {
        self.counters
    }

    /// Use `groups` (the same key functions over sets of new content, from a reload) for
    /// the group keys: flows keep their identity, since a group's packed value is its
    /// process-wide name number. Group keys of another shape are ignored.
    pub fn set_groups(&mut self, groups: Box<[GroupKey]>) {
        let same_shape = groups.len() == self.groups.len()
            && groups
                .iter()
                .zip(self.groups.iter())
                .all(|(a, b)| a.text == b.text);
        if same_shape {
            self.groups = groups;
        }
    }

    /// The sample's identity in this table, or `None` when it lacks one of the keys.
    pub fn probe(&self, record: &SampleRecord) -> Option<Probe> {
        let mut p = Probe::EMPTY;
        self.probe_into(record, &mut p).then_some(p)
    }

    /// [`FlowTable::probe`] in place (the worker fills its batch's probes where they
    /// stay); false when the record lacks one of the keys.
    #[inline]
    pub fn probe_into(&self, record: &SampleRecord, p: &mut Probe) -> bool {
        if !p.key.pack_planned(record, &self.plan, &self.keys) {
            return false;
        }
        if !self.groups.is_empty()
            && !pack_groups(&mut p.key, self.packet_bytes, record, &self.groups)
        {
            return false;
        }
        p.scope = scope_words(record.agent, record.data_source());
        p.hash = flow_hash(
            self.seed,
            (self.scope == Scope::Agent).then_some(&p.scope),
            p.key.as_words(),
        );
        self.seal(p);
        true
    }

    /// The probe of a flow whose identity the router computed ([`FlowId`], for this
    /// table's definition): no packing, no hashing, only the scope words (the entry stores
    /// them). False for an identity of another key width than this table's, which a router
    /// over the same definitions never makes (`router_identity_equals_the_tables_own_probe`).
    #[inline]
    pub fn probe_flow(&self, flow: &FlowId, record: &WorkSample, p: &mut Probe) -> bool {
        if usize::from(flow.words) != self.key_words {
            debug_assert!(
                false,
                "identity of {} words for a {}-word key",
                flow.words, self.key_words
            );
            return false;
        }
        p.key.words = flow.key;
        p.key.len = self.key_words;
        p.scope = scope_words(record.agent, record.data_source());
        p.hash = flow.hash;
        self.seal(p);
        true
    }

    /// Put the scope word and the occupied marker after the key bits (after hashing: the
    /// hash is the router's, over the key and the scope words), and set the agent word.
    #[inline(always)]
    fn seal(&self, p: &mut Probe) {
        let (w, off) = (self.key_bits / 64, self.key_bits % 64);
        let extra = p.scope[2] | 1 << 32;
        p.tail = 0;
        match p.key.words.get_mut(w) {
            Some(word) => *word |= extra << off,
            None => p.tail = extra,
        }
        if off > 64 - EXTRA_BITS {
            match p.key.words.get_mut(w + 1) {
                Some(word) => *word |= extra >> (64 - off),
                None => p.tail = extra >> (64 - off),
            }
        }
        p.agent = if self.scope == Scope::Fabric {
            0
        } else if p.scope[2] & SCOPE_V6 == 0 {
            p.scope[0]
        } else {
            UNRESOLVED
        };
    }

    /// Ask the CPU to start loading the line(s) where the probe's flow most likely is,
    /// so that a later [`FlowTable::update`] finds them in cache. 32-byte start-only
    /// entries: the home line only, which holds the home and the next slot and 96.6 % of
    /// the flows at [`START_ONLY_LOAD_PERCENT`]. 64-byte and wider entries: the home
    /// slot's line and the next slot's (89 % at [`MAX_LOAD_PERCENT`]). Every further
    /// line is a full memory latency no prefetch covers; but every prefetched line holds
    /// one of the core's few line fill buffers until it arrives, and at a million flows
    /// those are what limits the updates (docs/perf/flow.md round 5). Loading the second
    /// line unconditionally costs no instructions that depend on the first (chasing the
    /// run slot by slot, a few updates ahead, was measured too: its compare and
    /// mispredicted branch cost more than the line it saved).
    #[inline]
    pub fn prefetch(&self, probe: &Probe) {
        let i = self.home(probe.hash);
        self.prefetch_slot(i);
        if self.line_shift == 0 {
            self.prefetch_slot(self.next(i));
        }
    }

    #[inline]
    fn prefetch_slot(&self, i: usize) {
        let at = self.at(i);
        if let Some(slot) = self.words.get(at..at + self.stride) {
            prefetch(slot.as_ptr());
            // 4- and 8-word entries lie within one aligned line; others may straddle two.
            if self.stride != 8 && self.stride != 4 {
                if let Some(last) = slot.last() {
                    prefetch(last);
                }
            }
        }
    }

    /// Apply one sample: `probe` must come from [`FlowTable::probe`] on this table and
    /// `record`. Records go to `emit`.
    pub fn sample(&mut self, record: &SampleRecord, now_ms: u64, emit: &mut dyn FnMut(FlowEvent)) {
        if let Some(p) = self.probe(record) {
            self.update(&p, &WorkSample::from(record), now_ms, emit);
        }
    }

    /// Apply one sample whose identity is `probe`. Inlined into the worker's batch loop:
    /// the common case (a flow already in the table, no timer due) is a probe and one
    /// store (start-only entries: LAST) or three; everything else (opening, expiry,
    /// active reports, eviction, growth) is out of line, so the hot loop stays small.
    #[inline(always)]
    pub fn update(
        &mut self,
        probe: &Probe,
        record: &WorkSample,
        now_ms: u64,
        emit: &mut dyn FnMut(FlowEvent),
    ) {
        self.counters.samples += 1;
        if self.flow_start {
            let agent = if probe.agent == UNRESOLVED {
                self.agents.lookup(&probe.scope)
            } else {
                probe.agent
            };
            let found = if self.stride == 4 && self.ident_words == 2 {
                self.find_half_line::<4>(probe, agent)
            } else if self.stride == 8 && self.ident_words == 2 {
                // The same entries with metric words (a watched definition).
                self.find_half_line::<8>(probe, agent)
            } else {
                self.find(probe, agent)
            };
            match found {
                Ok(i) => {
                    let at = self.at(i) + self.last_at;
                    if let Some(last) = self.words.get_mut(at) {
                        let since = now_ms.saturating_sub(*last);
                        if since < self.idle_ms {
                            *last = now_ms;
                            if self.metric.is_some() {
                                self.observe(i, since, probe, record, now_ms, emit);
                            }
                            return;
                        }
                    }
                    self.update_due(i, probe, agent, record, now_ms, emit);
                }
                Err(empty) => self.insert(empty, probe, agent, record, now_ms, emit),
            }
            return;
        }
        let value = self.value_of(record);
        match self.find(probe, 0) {
            Ok(i) => {
                let (at, stride) = (self.at(i), self.stride);
                if let Some(e) = self.words.get_mut(at..at + stride) {
                    let since = now_ms.saturating_sub(e[field::LAST]);
                    let idle = since >= self.idle_ms;
                    let active = now_ms.saturating_sub(e[field::START]) >= self.active_ms;
                    if !(idle || active) {
                        e[field::VALUE] = e[field::VALUE].saturating_add(value);
                        e[field::LAST] = now_ms;
                        e[field::RECEIVED] = record.received_ns;
                        if self.metric.is_some() {
                            self.observe(i, since, probe, record, now_ms, emit);
                        }
                        return;
                    }
                }
                self.update_due(i, probe, 0, record, now_ms, emit);
            }
            Err(empty) => self.insert(empty, probe, 0, record, now_ms, emit),
        }
    }

    /// The scaled value one sample adds.
    #[inline(always)]
    fn value_of(&self, record: &WorkSample) -> u64 {
        match self.value {
            ValueKind::Frames => record.frames(),
            ValueKind::Bytes => record.bytes(),
        }
    }

    /// A sample for flow `i` (agent word `agent`) whose idle or active timeout has passed.
    #[inline(never)]
    fn update_due(
        &mut self,
        i: usize,
        probe: &Probe,
        agent: u64,
        record: &WorkSample,
        now_ms: u64,
        emit: &mut dyn FnMut(FlowEvent),
    ) {
        let at = self.at(i);
        if now_ms.saturating_sub(self.words[at + self.last_at]) >= self.idle_ms {
            // Idle past its timeout but not swept yet: the old flow ends and this
            // sample opens a new one in its slot (same identity, same agent word, so the
            // agent intern's count is unchanged), exactly as if the sweep had been on time.
            self.end(i, now_ms, emit);
            self.counters.expired += 1;
            self.open(i, probe, agent, record, now_ms, emit);
            return;
        }
        if self.flow_start {
            self.words[at + self.last_at] = now_ms;
            return;
        }
        if now_ms.saturating_sub(self.words[at + field::START]) >= self.active_ms {
            self.report(i, now_ms, emit);
        }
        let value = self.value_of(record);
        let e = &mut self.words[at..at + self.stride];
        let since = now_ms.saturating_sub(e[field::LAST]);
        e[field::VALUE] = e[field::VALUE].saturating_add(value);
        e[field::LAST] = now_ms;
        e[field::RECEIVED] = record.received_ns;
        if self.metric.is_some() {
            self.observe(i, since, probe, record, now_ms, emit);
        }
    }

    /// A sample of a flow not in the table: open it in `slot` (the empty slot ending its
    /// probe), after evicting or growing when the table is at its load or size bound.
    /// A start-only table's IPv6 agent is interned first: when the intern is full the
    /// sample is dropped and counted.
    #[inline(never)]
    fn insert(
        &mut self,
        slot: usize,
        probe: &Probe,
        agent: u64,
        record: &WorkSample,
        now_ms: u64,
        emit: &mut dyn FnMut(FlowEvent),
    ) {
        let agent = if self.interns(&probe.scope) {
            match self.agents.acquire(&probe.scope, agent) {
                Some(word) => word,
                None => {
                    self.counters.agents_full += 1;
                    return;
                }
            }
        } else {
            agent
        };
        let slot = if self.len >= self.max_entries {
            self.evict_one(now_ms, emit);
            self.empty_slot(probe.hash)
        } else if (self.len + 1) * 100 > self.slots * self.load_percent
            && self.slots < self.max_slots
        {
            self.grow();
            self.empty_slot(probe.hash)
        } else {
            slot
        };
        self.len += 1;
        self.open(slot, probe, agent, record, now_ms, emit);
    }

    /// Whether a flow of scope `scope` names its agent by an intern index: IPv6 agents
    /// in start-only, agent-scope tables.
    #[inline]
    fn interns(&self, scope: &[u64; 3]) -> bool {
        self.flow_start && self.scope == Scope::Agent && scope[2] & SCOPE_V6 != 0
    }

    /// Start a flow in slot `i`. A `flowStart` record is built from the opening sample
    /// and its probe (identity, agent, data source, value, receipt time), not read back
    /// from the entry, which does not keep all of them.
    fn open(
        &mut self,
        i: usize,
        probe: &Probe,
        agent: u64,
        record: &WorkSample,
        now_ms: u64,
        emit: &mut dyn FnMut(FlowEvent),
    ) {
        let value = self.value_of(record);
        let at = self.at(i);
        let e = &mut self.words[at..at + self.stride];
        for (k, word) in e[self.ident_at..self.ident_at + self.ident_words]
            .iter_mut()
            .enumerate()
        {
            *word = probe.ident(k);
        }
        if self.flow_start {
            e[self.agent_at] = agent;
            e[self.last_at] = now_ms;
        } else {
            e[field::AGENT] = probe.scope[0];
            e[field::AGENT + 1] = probe.scope[1];
            e[field::VALUE] = value;
            e[field::START] = now_ms;
            e[field::LAST] = now_ms;
            e[field::RECEIVED] = record.received_ns;
        }
        if let Some(m) = &self.metric {
            // The opening sample starts the observation: sum and window 0.
            if let Some(words) = e.get_mut(m.at..) {
                words.fill(0);
            }
        }
        self.counters.created += 1;
        if self.flow_start {
            let mut key = probe.key.words;
            self.mask_key(&mut key);
            self.emit_record(
                &key,
                probe.scope,
                value,
                (now_ms, now_ms),
                record.received_ns,
                opening_word(record),
                emit,
            );
        }
    }

    /// [`FlowTable::find`] for start-only entries of 32 bytes with two identity words
    /// (`uport` and every definition whose key packs in 11 bytes or less): the offsets
    /// are constants (identity 0-1, agent word 2) and the compare is three masked words,
    /// a third fewer instructions per update than the general loop. `STRIDE` is the
    /// entry's words: 4, or 8 when metric words follow.
    #[inline(always)]
    fn find_half_line<const STRIDE: usize>(
        &self,
        probe: &Probe,
        agent: u64,
    ) -> Result<usize, usize> {
        let agent_mask = if self.scope == Scope::Agent {
            u64::MAX
        } else {
            0
        };
        let want = [probe.key.words[0], probe.key.words[1], agent];
        let mask = [self.same_mask[0], self.same_mask[1], agent_mask];
        let (occupied_word, occupied_bit) = (self.occupied_word, self.occupied_bit);
        let mut i = self.home(probe.hash);
        // At most half the slots are used, so an empty one ends every probe.
        loop {
            let at = self.base + i * STRIDE;
            let Some(e) = self.words.get(at..at + STRIDE) else {
                // Slot `i` < `slots` always lies inside `words`.
                return Err(i);
            };
            if e[occupied_word & 3] & occupied_bit == 0 {
                return Err(i);
            }
            let diff = ((e[0] ^ want[0]) & mask[0])
                | ((e[1] ^ want[1]) & mask[1])
                | ((e[2] ^ want[2]) & mask[2]);
            if diff == 0 {
                return Ok(i);
            }
            i = self.next(i);
        }
    }

    /// The slot holding the probe's flow (whose start-only agent word is `agent`), or
    /// the empty slot where it would go.
    #[inline]
    fn find(&self, probe: &Probe, agent: u64) -> Result<usize, usize> {
        let mut i = self.home(probe.hash);
        // At most half the slots are used, so an empty one ends every probe.
        loop {
            let at = self.at(i);
            let e = &self.words[at..at + self.stride];
            if e[self.occupied_word] & self.occupied_bit == 0 {
                return Err(i);
            }
            if self.holds(e, probe, agent) {
                return Ok(i);
            }
            i = self.next(i);
        }
    }

    /// Whether the occupied entry `e` is the probe's flow.
    #[inline(always)]
    fn holds(&self, e: &[u64], probe: &Probe, agent: u64) -> bool {
        let mask = &self.same_mask[..self.ident_words];
        // Differences OR-ed together, no early exit: the identity is two or three
        // words in one line, and branching per word costs more than comparing them.
        // Two words (`uport` and most definitions) get a straight-line compare.
        let ident = &e[self.ident_at..];
        let mut diff = if let ([a0, a1, ..], [m0, m1]) = (ident, mask) {
            ((a0 ^ probe.key.words[0]) & m0) | ((a1 ^ probe.key.words[1]) & m1)
        } else {
            let mut d = 0;
            for (k, (a, m)) in ident.iter().zip(mask).enumerate() {
                d |= (a ^ probe.ident(k)) & m;
            }
            d
        };
        if self.scope == Scope::Agent {
            diff |= if self.flow_start {
                e[self.agent_at] ^ agent
            } else {
                (e[field::AGENT] ^ probe.scope[0]) | (e[field::AGENT + 1] ^ probe.scope[1])
            };
        }
        diff == 0
    }

    fn empty_slot(&self, hash: u64) -> usize {
        let mut i = self.home(hash);
        while self.occupied(self.at(i)) {
            i = self.next(i);
        }
        i
    }

    /// First word of slot `i`.
    #[inline]
    fn at(&self, i: usize) -> usize {
        self.base + i * self.stride
    }

    /// Whether the entry at word `at` holds a flow.
    #[inline]
    fn occupied(&self, at: usize) -> bool {
        self.words[at + self.occupied_word] & self.occupied_bit != 0
    }

    /// Clear the scope and marker bits from packed key words.
    fn mask_key(&self, key: &mut [u64; MAX_KEY_WORDS]) {
        let kw = self.key_words;
        if self.key_bits % 64 != 0 {
            key[kw - 1] &= (1u64 << (self.key_bits % 64)) - 1;
        }
        key[kw..].fill(0);
    }

    /// The packed key of entry `e`, without the scope and marker bits.
    fn entry_key(&self, e: &[u64]) -> [u64; MAX_KEY_WORDS] {
        let mut key = [0; MAX_KEY_WORDS];
        let kw = self.key_words;
        key[..kw].copy_from_slice(&e[self.ident_at..self.ident_at + kw]);
        self.mask_key(&mut key);
        key
    }

    /// The scope words (agent, data source and family) of entry `e`. A start-only
    /// fabric-scope entry keeps no agent: its agent words are zero (its hash does not
    /// cover them, and its record was built when it opened).
    fn entry_scope(&self, e: &[u64]) -> [u64; 3] {
        let ident = &e[self.ident_at..];
        let (w, off) = (self.key_bits / 64, self.key_bits % 64);
        let mut extra = ident[w] >> off;
        if off > 64 - EXTRA_BITS {
            extra |= ident[w + 1] << (64 - off);
        }
        let extra = extra & SCOPE_BITS;
        let [a0, a1] = if !self.flow_start {
            [e[field::AGENT], e[field::AGENT + 1]]
        } else if self.scope == Scope::Fabric {
            [0; 2]
        } else if extra & SCOPE_V6 != 0 {
            self.agents.addr(e[self.agent_at])
        } else {
            [e[self.agent_at], 0]
        };
        [a0, a1, extra]
    }

    /// The hash entry `e` was stored under, recomputed from its words.
    fn hash_of(&self, e: &[u64]) -> u64 {
        let scope = self.entry_scope(e);
        let key = self.entry_key(e);
        flow_hash(
            self.seed,
            (self.scope == Scope::Agent).then_some(&scope),
            &key[..self.key_words],
        )
    }

    /// The words of slot `i`.
    fn entry(&self, i: usize) -> &[u64] {
        let at = self.at(i);
        &self.words[at..at + self.stride]
    }

    /// Double the slots (warm-up only) and re-place every entry.
    fn grow(&mut self) {
        let old_slots = self.slots;
        self.slots = (self.slots * 2).min(self.max_slots);
        let (words, base) = allocate(self.slots * self.stride);
        let old = std::mem::replace(&mut self.words, words);
        let old_base = std::mem::replace(&mut self.base, base);
        self.sweep_hand = 0;
        self.evict_hand = 0;
        let stride = self.stride;
        for i in 0..old_slots {
            let from = old_base + i * stride;
            let e = &old[from..from + stride];
            if e[self.occupied_word] & self.occupied_bit == 0 {
                continue;
            }
            let to = self.at(self.empty_slot(self.hash_of(e)));
            self.words[to..to + stride].copy_from_slice(e);
        }
    }

    /// Remove the least recently seen of the next [`EVICT_SAMPLE`] entries after the hand.
    fn evict_one(&mut self, now_ms: u64, emit: &mut dyn FnMut(FlowEvent)) {
        let mut victim = None;
        let mut oldest = u64::MAX;
        let mut seen = 0;
        let mut i = self.evict_hand % self.slots;
        for _ in 0..self.slots {
            let at = self.at(i);
            if self.occupied(at) {
                let last = self.words[at + self.last_at];
                if last < oldest {
                    oldest = last;
                    victim = Some(i);
                }
                seen += 1;
                if seen == EVICT_SAMPLE {
                    break;
                }
            }
            i = self.next(i);
        }
        self.evict_hand = self.next(i);
        if let Some(v) = victim {
            if !self.flow_start {
                self.report(v, now_ms, emit);
            }
            self.retire_metric(v, now_ms, emit);
            self.remove(v);
            self.counters.evicted += 1;
        }
    }

    /// Delete slot `i`, shifting later entries of its probe run back so that no probe
    /// sequence is broken.
    fn remove(&mut self, i: usize) {
        let scope = self.entry_scope(self.entry(i));
        if self.interns(&scope) {
            let word = self.words[self.at(i) + self.agent_at];
            self.agents.release(word);
        }
        let mut hole = i;
        let mut j = self.next(i);
        while self.occupied(self.at(j)) {
            let home = self.home(self.hash_of(self.entry(j)));
            // Move j into the hole unless its home lies cyclically in (hole, j].
            if self.distance(home, j) >= self.distance(hole, j) {
                let (from, to) = (self.at(j), self.at(hole));
                self.words.copy_within(from..from + self.stride, to);
                hole = j;
            }
            j = self.next(j);
        }
        let at = self.at(hole);
        self.words[at..at + self.stride].fill(0);
        self.len -= 1;
    }

    /// Run the timers: sweep the share of slots due since the last tick.
    pub fn tick(&mut self, now_ms: u64, emit: &mut dyn FnMut(FlowEvent)) {
        if self.metric.is_some() {
            self.rearm_largest(now_ms, emit);
        }
        let Some(last) = self.last_sweep_ms else {
            self.last_sweep_ms = Some(now_ms);
            return;
        };
        let elapsed = now_ms.saturating_sub(last);
        if elapsed == 0 {
            return;
        }
        self.last_sweep_ms = Some(now_ms);
        if self.len == 0 {
            return;
        }
        let due = (self.slots as u64)
            .saturating_mul(elapsed)
            .div_ceil(SWEEP_MS)
            .min(self.slots as u64) as usize;
        let mut i = self.sweep_hand % self.slots;
        let mut examined = 0;
        // Removals do not advance the hand (a later entry may shift into the slot), but
        // each one shrinks the table, so the loop is bounded by `due + len`.
        while examined < due && self.len > 0 {
            let at = self.at(i);
            if self.occupied(at) {
                let last = self.words[at + self.last_at];
                if now_ms.saturating_sub(last) >= self.idle_ms {
                    self.end(i, now_ms, emit);
                    self.remove(i);
                    self.counters.expired += 1;
                    continue;
                }
                if !self.flow_start
                    && now_ms.saturating_sub(self.words[at + field::START]) >= self.active_ms
                {
                    self.report(i, now_ms, emit);
                }
                if self.metric.is_some() {
                    self.sweep_metric(i, now_ms, emit);
                }
            }
            i = self.next(i);
            examined += 1;
        }
        self.sweep_hand = i;
    }

    /// End every flow (shutdown): end records when `flowStart` is false, then empty.
    pub fn flush(&mut self, now_ms: u64, emit: &mut dyn FnMut(FlowEvent)) {
        for i in 0..self.slots {
            if self.occupied(self.at(i)) {
                self.end(i, now_ms, emit);
            }
        }
        self.words.fill(0);
        self.len = 0;
        self.agents.clear();
    }

    /// A flow ends: its last record when `flowStart` is false; its thresholds re-arm.
    fn end(&mut self, i: usize, now_ms: u64, emit: &mut dyn FnMut(FlowEvent)) {
        if !self.flow_start {
            self.report(i, now_ms, emit);
        }
        self.retire_metric(i, now_ms, emit);
    }

    /// Slot where a probe for `hash` starts: the low 32 bits scaled to the lines, the
    /// first slot of that line (the router uses the high 32 bits to pick the worker).
    #[inline]
    fn home(&self, hash: u64) -> usize {
        let lines = (self.slots >> self.line_shift) as u64;
        ((((hash & 0xFFFF_FFFF) * lines) >> 32) as usize) << self.line_shift
    }

    #[inline]
    fn next(&self, i: usize) -> usize {
        if i + 1 >= self.slots {
            0
        } else {
            i + 1
        }
    }

    /// Steps from slot `from` forward to slot `to`, wrapping.
    fn distance(&self, from: usize, to: usize) -> usize {
        if to >= from {
            to - from
        } else {
            to + self.slots - from
        }
    }

    /// Emit the record of full entry `i`'s current interval and start a new one at
    /// `now_ms` (never called for start-only entries, which keep no value).
    fn report(&mut self, i: usize, now_ms: u64, emit: &mut dyn FnMut(FlowEvent)) {
        let at = self.at(i);
        let value = self.words[at + field::VALUE];
        let start = self.words[at + field::START];
        let last = self.words[at + field::LAST];
        if value > 0 {
            let e = self.entry(i);
            let (key, scope, received_ns) =
                (self.entry_key(e), self.entry_scope(e), e[field::RECEIVED]);
            // A full entry does not keep its opening sample (a word more would make its
            // 64-byte entries straddle lines): its records' ids come from the flow's keys
            // and this interval's start, unique here but not shared between collectors,
            // whose intervals differ anyway.
            let mut opening = 1u64 << 63 | start;
            for w in &key[..self.key_words] {
                opening = crate::hash::fmix64(opening ^ w);
            }
            self.emit_record(
                &key,
                scope,
                value,
                (start, last),
                received_ns,
                opening,
                emit,
            );
        }
        self.words[at + field::VALUE] = 0;
        self.words[at + field::START] = now_ms;
    }

    /// Emit one record of the flow whose packed key is `key` (scope and marker bits
    /// cleared) and scope words `scope`.
    #[allow(clippy::too_many_arguments)]
    fn emit_record(
        &mut self,
        key: &[u64; MAX_KEY_WORDS],
        scope: [u64; 3],
        value: u64,
        (start_ms, end_ms): (u64, u64),
        received_ns: u64,
        opening: u64,
        emit: &mut dyn FnMut(FlowEvent),
    ) {
        if !self.log {
            return;
        }
        let Some(keys) = unpack_columns(&key[..self.key_words], &self.keys, &self.columns) else {
            return;
        };
        let (agent, data_source): (IpAddr, u32) = scope_from_words(scope);
        self.counters.events += 1;
        emit(FlowEvent {
            flow_id: next_flow_id(),
            name: self.name.clone(),
            keys,
            separator: self.separator.clone(),
            value: value as f64,
            start_ms,
            end_ms,
            agent,
            data_source,
            received_ns,
            event_id: super::event::event_id(&self.name, agent, data_source, opening),
            threshold: None,
        });
    }
}

/// The opening sample's identity in a `flowStart` record's `event_id`: its sub-agent and
/// sample sequence number (the agent and data source are hashed in beside).
#[inline]
pub fn opening_word(record: &WorkSample) -> u64 {
    (u64::from(record.sub_agent) << 32) | u64::from(record.sequence)
}

/// Allocate `words` zeroed words for a table, starting at a 64-byte boundary: returns the
/// vector and the index of its first aligned word (7 spare words make room to align, and
/// the vector is never resized, so the index stays valid). Large tables ask the kernel for
/// transparent huge pages: at a million flows every update touches a random entry, and with 4 KiB pages
/// each would also miss the TLB. The zeroed allocation is fresh, untouched memory, so the
/// advice applies when the pages are first written. Advice only: refused, it changes nothing.
fn allocate(words: usize) -> (Vec<u64>, usize) {
    let v = vec![0u64; words + 7];
    let base = (v.as_ptr() as usize).next_multiple_of(64) - v.as_ptr() as usize;
    let base = base / 8;
    crate::mem::advise_huge_pages(&v);
    (v, base)
}

/// OR the low [`EXTRA_BITS`] bits of `v` into `words` at bit `bit`.
#[inline]
fn put_bits(words: &mut [u64; MAX_IDENT], bit: usize, v: u64) {
    let (w, off) = (bit / 64, bit % 64);
    words[w] |= v << off;
    if off > 64 - EXTRA_BITS {
        words[w + 1] |= v >> (64 - off);
    }
}

#[inline]
fn prefetch(p: *const u64) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults or reads into the program, and
    // `p` points into a live allocation anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::definition::{builtin, FlowSpec};
    use crate::flow::key::definition_seed;
    use crate::packet::{KeyValue, L4};

    fn def(toml_text: &str) -> FlowDefinition {
        let spec: FlowSpec = toml::from_str(toml_text).unwrap();
        FlowDefinition::from_spec(&spec).unwrap()
    }

    fn uport() -> FlowDefinition {
        FlowDefinition::from_spec(&builtin("uport").unwrap()).unwrap()
    }

    /// An ICMP port unreachable sample: `responder` answered `scanner` about `port`.
    fn unreach(agent: &str, responder: u32, scanner: u32, port: u16) -> SampleRecord {
        SampleRecord::port_unreachable(
            agent.parse().unwrap(),
            responder.into(),
            scanner.into(),
            port,
        )
        .with_source(0, 7)
        .with_input(0, 7)
        .with_output(0, 8)
        .with_received_ns(42)
    }

    struct Run {
        table: FlowTable,
        events: Vec<FlowEvent>,
    }

    impl Run {
        fn new(def: &FlowDefinition, max: usize) -> Run {
            Run {
                // No pre-sizing: these tables start small, so the tests exercise growth.
                table: FlowTable::with_presize(def, max, definition_seed(0), 0),
                events: Vec::new(),
            }
        }
        fn sample(&mut self, r: &SampleRecord, now: u64) -> usize {
            let before = self.events.len();
            let events = &mut self.events;
            self.table.sample(r, now, &mut |e| events.push(e));
            self.events.len() - before
        }
        fn tick(&mut self, now: u64) -> usize {
            let before = self.events.len();
            let events = &mut self.events;
            self.table.tick(now, &mut |e| events.push(e));
            self.events.len() - before
        }
    }

    const T0: u64 = 1_700_000_000_000;

    #[test]
    fn flow_start_emits_once_per_new_key() {
        let mut run = Run::new(&uport(), 1000);
        let r = unreach("192.0.2.1", 0x0a00_0005, 0x0a00_0009, 53);
        assert_eq!(run.sample(&r, T0), 1);
        assert_eq!(run.sample(&r, T0 + 10), 0);
        assert_eq!(run.sample(&r, T0 + 20), 0);
        let e = &run.events[0];
        assert_eq!(&*e.name, "uport");
        assert_eq!(e.flow_keys(), "10.0.0.5,10.0.0.9,udp_53");
        assert_eq!(
            e.keys[2],
            (
                FlowKey::Packet(Key::IcmpUnreachablePort),
                KeyValue::Port(L4::Udp, 53)
            )
        );
        assert_eq!(e.value, 1000.0);
        assert_eq!((e.start_ms, e.end_ms), (T0, T0));
        assert_eq!(e.agent, "192.0.2.1".parse::<IpAddr>().unwrap());
        assert_eq!(e.data_source, 7);
        assert_eq!(e.received_ns, 42);
        assert!(e.flow_id > 0);
        let other = unreach("192.0.2.1", 0x0a00_0005, 0x0a00_0009, 54);
        assert_eq!(run.sample(&other, T0 + 30), 1);
        assert!(run.events[1].flow_id > run.events[0].flow_id);
        let c = run.table.counters();
        assert_eq!((c.samples, c.created, c.events), (4, 2, 2));
    }

    #[test]
    fn value_is_scaled_frames_or_bytes() {
        let r = unreach("192.0.2.1", 1, 2, 3);
        let mut frames = Run::new(
            &def("name=\"f\"\nkeys=\"ipsource\"\nlog=true\nflowStart=true"),
            10,
        );
        frames.sample(&r, T0);
        assert_eq!(frames.events[0].value, 1000.0);
        let mut bytes = Run::new(
            &def("name=\"b\"\nkeys=\"ipsource\"\nvalue=\"bytes\"\nlog=true\nflowStart=true"),
            10,
        );
        bytes.sample(&r, T0);
        assert_eq!(bytes.events[0].value, 70_000.0);
    }

    #[test]
    fn end_of_flow_record_when_idle() {
        let d = def("name=\"e\"\nkeys=\"ipsource\"\nlog=true\nidleTimeout=5\nvalue=\"bytes\"");
        let mut run = Run::new(&d, 10);
        let r = unreach("192.0.2.1", 1, 2, 3);
        run.tick(T0);
        assert_eq!(run.sample(&r, T0), 0);
        assert_eq!(run.sample(&r, T0 + 1000), 0);
        assert_eq!(run.sample(&r, T0 + 2000), 0);
        assert_eq!(run.tick(T0 + 6999), 0, "idle for 4.999 s");
        assert_eq!(run.tick(T0 + 7000 + SWEEP_MS), 1, "swept within a pass");
        let e = &run.events[0];
        assert_eq!(e.value, 3.0 * 70_000.0);
        assert_eq!((e.start_ms, e.end_ms), (T0, T0 + 2000));
        assert_eq!(run.table.len(), 0);
        assert_eq!(run.table.counters().expired, 1);
        assert_eq!(run.tick(T0 + 20_000), 0);
    }

    #[test]
    fn active_timeout_reports_long_flows() {
        let d = def("name=\"a\"\nkeys=\"ipsource\"\nlog=true\nactiveTimeout=10\nidleTimeout=5");
        let mut run = Run::new(&d, 10);
        let r = unreach("192.0.2.1", 1, 2, 3);
        run.tick(T0);
        // One sample a second for 25 s.
        for s in 0..25u64 {
            let now = T0 + s * 1000;
            run.tick(now);
            run.sample(&r, now);
        }
        // Reports at 10 s and 20 s, each covering ten samples.
        assert_eq!(run.events.len(), 2, "{:?}", run.events);
        assert_eq!(run.events[0].value, 10_000.0);
        assert_eq!(
            (run.events[0].start_ms, run.events[0].end_ms),
            (T0, T0 + 9000)
        );
        assert_eq!(run.events[1].start_ms, T0 + 10_000);
        // Then idle: the rest (samples 20..24) comes at the end.
        assert_eq!(run.tick(T0 + 30_000), 1);
        assert_eq!(run.events[2].value, 5000.0);
        assert_eq!(run.events[2].end_ms, T0 + 24_000);
    }

    #[test]
    fn active_timeout_fires_from_the_sweep_without_samples() {
        let d = def("name=\"a\"\nkeys=\"ipsource\"\nlog=true\nactiveTimeout=10\nidleTimeout=60");
        let mut run = Run::new(&d, 10);
        run.tick(T0);
        run.sample(&unreach("192.0.2.1", 1, 2, 3), T0);
        run.sample(&unreach("192.0.2.1", 1, 2, 3), T0 + 5000);
        assert_eq!(run.tick(T0 + 9000), 0);
        assert_eq!(run.tick(T0 + 10_000), 1);
        assert_eq!(run.events[0].value, 2000.0);
    }

    #[test]
    fn flow_start_key_fires_again_after_idle_timeout() {
        let d = def("name=\"u\"\nkeys=\"ipsource\"\nlog=true\nflowStart=true\nidleTimeout=60");
        let mut run = Run::new(&d, 10);
        let r = unreach("192.0.2.1", 1, 2, 3);
        run.tick(T0);
        assert_eq!(run.sample(&r, T0), 1);
        assert_eq!(run.tick(T0 + 59_000), 0);
        assert_eq!(run.sample(&r, T0 + 59_000), 0, "still fresh");
        assert_eq!(run.tick(T0 + 118_999), 0, "idle 59.999 s: kept");
        assert_eq!(run.sample(&r, T0 + 119_000), 1, "idle 60 s: fires again");
        assert_eq!(run.sample(&r, T0 + 119_001), 0);
        assert_eq!(
            run.tick(T0 + 180_000),
            0,
            "expiry of a flowStart flow is silent"
        );
        assert_eq!(run.table.len(), 0);
        assert_eq!(run.table.counters().expired, 2);
        assert_eq!(
            run.sample(&r, T0 + 180_500),
            1,
            "fires again after the sweep too"
        );
    }

    #[test]
    fn full_table_evicts_least_recently_seen() {
        let d = def("name=\"u\"\nkeys=\"ipsource\"\nlog=true\nflowStart=true");
        let mut run = Run::new(&d, 4);
        for k in 0..4u32 {
            assert_eq!(
                run.sample(&unreach("192.0.2.1", k, 9, 1), T0 + u64::from(k)),
                1
            );
        }
        // Key 0 is seen again, so key 1 is now the least recently seen.
        assert_eq!(run.sample(&unreach("192.0.2.1", 0, 9, 1), T0 + 10), 0);
        assert_eq!(run.sample(&unreach("192.0.2.1", 4, 9, 1), T0 + 11), 1);
        assert_eq!(run.table.len(), 4);
        assert_eq!(run.table.counters().evicted, 1);
        assert_eq!(run.sample(&unreach("192.0.2.1", 0, 9, 1), T0 + 12), 0);
        assert_eq!(run.sample(&unreach("192.0.2.1", 4, 9, 1), T0 + 12), 0);
        // Key 1 was evicted: it is new again (and evicts key 2, now the oldest).
        assert_eq!(run.sample(&unreach("192.0.2.1", 1, 9, 1), T0 + 13), 1);
        assert_eq!(run.sample(&unreach("192.0.2.1", 2, 9, 1), T0 + 14), 1);
        assert_eq!(run.table.counters().evicted, 3);
    }

    #[test]
    fn evicting_an_open_flow_reports_it() {
        let d = def("name=\"e\"\nkeys=\"ipsource\"\nlog=true");
        let mut run = Run::new(&d, 1);
        assert_eq!(run.sample(&unreach("192.0.2.1", 1, 9, 1), T0), 0);
        assert_eq!(run.sample(&unreach("192.0.2.1", 2, 9, 1), T0 + 1), 1);
        assert_eq!(run.events[0].flow_keys(), "0.0.0.1");
    }

    #[test]
    fn scopes() {
        let a = unreach("192.0.2.1", 1, 2, 3);
        let mut b = unreach("192.0.2.2", 1, 2, 3);
        let mut agent = Run::new(&uport(), 100);
        assert_eq!(agent.sample(&a, T0), 1);
        assert_eq!(agent.sample(&b, T0), 1, "another agent is another flow");
        b.set_source(0, 8);
        assert_eq!(agent.sample(&b, T0), 1, "another data source too");
        let mut v6 = a;
        v6.agent = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(
            agent.sample(&v6, T0),
            1,
            "IPv4-mapped agent is not the IPv4 one"
        );
        assert_eq!(agent.sample(&a, T0), 0);

        let fabric_def = FlowDefinition::from_spec(&FlowSpec {
            name: "uport".into(),
            scope: Some(Scope::Fabric),
            ..Default::default()
        })
        .unwrap();
        let mut fabric = Run::new(&fabric_def, 100);
        assert_eq!(fabric.sample(&a, T0), 1);
        assert_eq!(fabric.sample(&b, T0), 0, "one flow across the fabric");
        assert_eq!(fabric.events[0].agent, a.agent, "the first agent opens it");
    }

    #[test]
    fn sample_missing_a_key_does_not_match() {
        let mut run = Run::new(&uport(), 100);
        let mut r = unreach("192.0.2.1", 1, 2, 3);
        r.keys.set_unreachable(None);
        assert_eq!(run.sample(&r, T0), 0);
        assert_eq!(run.table.counters().samples, 0);
        assert!(run.table.is_empty());
    }

    #[test]
    fn log_false_tracks_without_records() {
        let d = def("name=\"q\"\nkeys=\"ipsource\"\nflowStart=true");
        let mut run = Run::new(&d, 10);
        assert_eq!(run.sample(&unreach("192.0.2.1", 1, 2, 3), T0), 0);
        assert_eq!(run.table.counters().created, 1);
        assert_eq!(run.table.counters().events, 0);
    }

    #[test]
    fn growth_and_deletion_keep_every_flow_findable() {
        let d = def(
            "name=\"u\"\nkeys=\"ipsource,ipdestination\"\nlog=true\nflowStart=true\nidleTimeout=10",
        );
        let mut run = Run::new(&d, 20_000);
        run.tick(T0);
        // 8000 keys: even ones seen at T0, odd ones 5 s later.
        for k in 0..8000u32 {
            let now = T0 + if k % 2 == 0 { 0 } else { 5000 };
            assert_eq!(run.sample(&unreach("192.0.2.1", k, 7, 1), now), 1);
        }
        assert_eq!(run.table.len(), 8000);
        assert!(run.table.allocated_bytes() >= 8000 * run.table.entry_bytes());
        // At T0 + 10 s the even half expires (deletions shift runs back).
        run.tick(T0 + 10_000);
        assert_eq!(run.table.len(), 4000);
        assert_eq!(run.table.counters().expired, 4000);
        for k in 0..8000u32 {
            let fired = run.sample(&unreach("192.0.2.1", k, 7, 1), T0 + 10_001);
            assert_eq!(fired, (k % 2 == 0) as usize, "key {k}");
        }
        assert_eq!(run.table.len(), 8000);
    }

    #[test]
    fn flush_ends_open_flows() {
        let d = def("name=\"e\"\nkeys=\"ipsource\"\nlog=true");
        let mut run = Run::new(&d, 10);
        run.sample(&unreach("192.0.2.1", 1, 2, 3), T0);
        run.sample(&unreach("192.0.2.1", 2, 2, 3), T0);
        let events = &mut run.events;
        run.table.flush(T0 + 1, &mut |e| events.push(e));
        assert_eq!(run.events.len(), 2);
        assert!(run.table.is_empty());
    }

    impl FlowTable {
        /// Every stored flow is found from its home slot (no probe run is broken) and
        /// `len` counts the occupied slots.
        fn check_invariants(&self) {
            let mut occupied = 0;
            for i in 0..self.slots {
                if !self.occupied(self.at(i)) {
                    continue;
                }
                occupied += 1;
                let e = self.entry(i);
                let mut key = PackedKey::EMPTY;
                let mut tail = 0;
                let ident = &e[self.ident_at..self.ident_at + self.ident_words];
                for (k, &word) in ident.iter().enumerate() {
                    match key.words.get_mut(k) {
                        Some(w) => *w = word,
                        None => tail = word,
                    }
                }
                let agent = if self.flow_start { e[self.agent_at] } else { 0 };
                let probe = Probe {
                    hash: self.hash_of(e),
                    scope: self.entry_scope(e),
                    key,
                    tail,
                    agent,
                };
                assert_eq!(self.find(&probe, agent), Ok(i), "slot {i} unreachable");
            }
            assert_eq!(occupied, self.len);
            // Every interned agent is named by as many entries as it counts, and no more
            // agents are interned than have flows.
            if self.flow_start && self.scope == Scope::Agent {
                let mut named = vec![0u32; self.agents.flows.len()];
                for i in 0..self.slots {
                    if self.occupied(self.at(i)) {
                        let e = self.entry(i);
                        if self.interns(&self.entry_scope(e)) {
                            named[e[self.agent_at] as usize] += 1;
                        }
                    }
                }
                assert_eq!(named, self.agents.flows);
                assert_eq!(self.agents.len(), named.iter().filter(|&&n| n > 0).count());
            }
        }
    }

    /// 20 000 samples at random intervals (0-39 ms), each from one of `agents` about one of
    /// `keys` responders, in the order a xorshift from `seed` picks; ticks every 13
    /// samples, the table's invariants checked every 101 and at the end, and `each` after
    /// every sample.
    fn churn(run: &mut Run, seed: u64, keys: u32, agents: &[&str], each: impl Fn(&Run)) {
        let mut x = seed;
        let mut now = T0;
        run.tick(now);
        for step in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            now += x % 40;
            let agent = agents[(x % agents.len() as u64) as usize];
            run.sample(&unreach(agent, (x >> 8) as u32 % keys, 1, 7), now);
            if step % 13 == 0 {
                run.tick(now);
            }
            if step % 101 == 0 {
                run.table.check_invariants();
            }
            each(run);
        }
        run.table.check_invariants();
    }

    #[test]
    fn random_churn_keeps_the_table_consistent() {
        // A small table (eviction), short idle timeout (expiry and backward shifts,
        // including runs that wrap around the end), several agents (agent scope).
        let d = def("name=\"r\"\nkeys=\"ipsource,icmpunreachableport\"\nlog=true\nidleTimeout=2");
        let mut run = Run::new(&d, 48);
        // About 80 keys revisited every ~1.6 s against a 2 s idle timeout and room for
        // 48: both evictions and expiries happen.
        churn(
            &mut run,
            0x2545_F491_4F6C_DD1D,
            40,
            &["192.0.2.0", "192.0.2.1"],
            |run| assert!(run.table.len() <= 48),
        );
        let c = run.table.counters();
        assert!(c.evicted > 0 && c.expired > 0, "{c:?}");
        assert_eq!(c.created - c.evicted - c.expired, run.table.len() as u64);
    }

    /// The router's flow identity must give exactly the probe the table computes itself,
    /// for one-, two- and wide-word keys, in both scopes, for each agent family, and for
    /// every definition a sample matches.
    #[test]
    fn router_identity_equals_the_tables_own_probe() {
        use crate::flow::definition::FlowDefinitions;
        use crate::flow::{Route, Router};
        let specs: Vec<FlowSpec> = [
            "name=\"one\"\nkeys=\"ipsource\"",
            "name=\"two\"\nkeys=\"ipsource,ipdestination,icmpunreachableport\"",
            "name=\"fab\"\nkeys=\"ipdestination,icmpunreachableport\"\nscope=\"fabric\"",
            "name=\"wide\"\nkeys=\"ipsource,agent\"",
        ]
        .iter()
        .map(|t| toml::from_str(t).unwrap())
        .collect();
        let mut records = Vec::new();
        for agent in ["192.0.2.1", "2001:db8::7", "::ffff:192.0.2.1"] {
            for k in 0..50u32 {
                let mut r = unreach(agent, k * 7919, k, 1 + k as u16);
                r.set_source(0, k.wrapping_mul(0x0101_0101));
                records.push(r);
            }
        }
        let defs = FlowDefinitions::from_specs(&specs).unwrap();
        let tables: Vec<FlowTable> = defs
            .as_slice()
            .iter()
            .enumerate()
            .map(|(i, d)| FlowTable::new(d, 100, definition_seed(i)))
            .collect();
        assert!(
            tables.iter().any(|t| t.key_words > 2),
            "a wide key among them"
        );
        let mut router = Router::new(&defs, 3);
        let mut checked = 0;
        for r in &records {
            let mut got = Vec::new();
            router.route(r, &mut |w, f| got.push((w, *f)));
            assert_eq!(got.len(), specs.len(), "every definition matches");
            for (w, flow) in got {
                assert_eq!(w, crate::flow::router::worker_of(flow.hash, 3));
                let table = &tables[usize::from(flow.definition)];
                let own = table.probe(r).unwrap();
                let mut p = Probe::EMPTY;
                assert!(table.probe_flow(&flow, &WorkSample::from(r), &mut p));
                assert_eq!(
                    (p.hash, p.key, p.tail, p.scope, p.agent),
                    (own.hash, own.key, own.tail, own.scope, own.agent)
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 4 * 150);
    }

    #[test]
    fn tables_within_the_presize_never_grow() {
        let d = uport();
        let mut t = FlowTable::new(&d, 10_000, 1);
        let full = t.allocated_bytes();
        assert!(
            full >= 20_000 * t.entry_bytes(),
            "allocated at its bound: {full}"
        );
        let mut events = 0;
        for k in 0..10_000u32 {
            t.sample(&unreach("192.0.2.1", k, 7, 1), T0, &mut |_| events += 1);
        }
        assert_eq!((t.len(), events), (10_000, 10_000));
        assert_eq!(
            t.allocated_bytes(),
            full,
            "no growth on the way to the bound"
        );
        // A bound beyond the presize starts at the presize and grows towards the bound.
        let mut big = FlowTable::with_presize(&d, 10_000, 1, 64 * 1024);
        let start = big.allocated_bytes();
        assert!(start < full / 4, "{start}");
        for k in 0..10_000u32 {
            big.sample(&unreach("192.0.2.1", k, 7, 1), T0, &mut |_| {});
        }
        assert_eq!(big.len(), 10_000);
        assert!(big.allocated_bytes() >= full - 64, "grew to the bound");
    }

    #[test]
    fn entry_size() {
        // Start-only entries: `uport` in half a line, four slots per flow.
        let t = FlowTable::new(&uport(), 100_000, 1);
        assert_eq!(t.entry_bytes(), 32);
        assert!((t.bytes_per_entry_when_full() - 128.0).abs() < 0.01);
        // Wider start-only entries take a whole line, never straddling two.
        for name in ["unet", "uhost", "uproto", "uport6"] {
            let d = FlowDefinition::from_spec(&builtin(name).unwrap()).unwrap();
            assert_eq!(FlowTable::new(&d, 1000, 1).entry_bytes(), 64, "{name}");
        }
        // The `.1` keys pack as the plain ones: `tenantuport` is laid out as `uport`.
        let d = FlowDefinition::from_spec(&builtin("tenantuport").unwrap()).unwrap();
        assert_eq!(FlowTable::new(&d, 100_000, 1).entry_bytes(), 32);
        // Full entries (end-of-flow records) keep value, start and receipt time.
        let d = def("name=\"e\"\nkeys=\"ipsource,ipdestination,icmpunreachableport\"");
        let t = FlowTable::new(&d, 100_000, 1);
        assert_eq!(t.entry_bytes(), 64);
        assert!((t.bytes_per_entry_when_full() - 128.0).abs() < 0.01);
    }

    /// Start-only entries keep no value, start or receipt time: every field of the
    /// record a `flowStart` flow emits comes from its opening sample, for both agent
    /// families and both scopes.
    #[test]
    fn start_only_records_come_from_the_opening_sample() {
        for (scope, agent) in [
            (Scope::Agent, "2001:db8::1"),
            (Scope::Agent, "192.0.2.9"),
            (Scope::Fabric, "2001:db8::1"),
            (Scope::Fabric, "192.0.2.9"),
        ] {
            let d = FlowDefinition::from_spec(&FlowSpec {
                scope: Some(scope),
                value: Some(ValueKind::Bytes),
                ..builtin("uport").unwrap()
            })
            .unwrap();
            let mut run = Run::new(&d, 100);
            let r = unreach(agent, 0x0a00_0005, 0x0a00_0009, 53)
                .with_source(0, 0x1A00_0000)
                .with_received_ns(987_654_321);
            assert_eq!(run.table.entry_bytes(), 32);
            assert_eq!(run.sample(&r, T0), 1);
            assert_eq!(run.sample(&r, T0 + 5), 0);
            let e = &run.events[0];
            assert_eq!(e.flow_keys(), "10.0.0.5,10.0.0.9,udp_53");
            assert_eq!(e.agent, agent.parse::<IpAddr>().unwrap(), "{scope:?}");
            assert_eq!(e.data_source, 0x1A00_0000);
            assert_eq!(e.received_ns, 987_654_321);
            assert_eq!(e.value, 70_000.0);
            assert_eq!((e.start_ms, e.end_ms), (T0, T0));
            run.table.check_invariants();
        }
    }

    #[test]
    fn homes_start_a_line_in_start_only_tables() {
        let t = FlowTable::with_presize(&uport(), 1000, 1, 0);
        assert_eq!((t.line_shift, t.slots % 2), (1, 0));
        let mut x = 1u64;
        for _ in 0..1000 {
            x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(7);
            let home = t.home(x);
            assert!(home % 2 == 0 && home < t.slots, "{home}");
        }
        assert_eq!(t.home(u64::MAX), t.slots - 2);
        // Full entries: any slot.
        let full = FlowTable::new(&def("name=\"e\"\nkeys=\"ipsource\""), 1000, 1);
        assert_eq!(full.line_shift, 0);
        assert_eq!(full.home(u64::MAX), full.slots - 1);
    }

    /// IPv6 agents in a start-only agent-scope table: distinct agents are distinct
    /// flows, each agent is interned once while it has flows and released with the last.
    #[test]
    fn ipv6_agents_are_interned_while_they_have_flows() {
        let d = def("name=\"u\"\nkeys=\"ipsource\"\nlog=true\nflowStart=true\nidleTimeout=10");
        let mut run = Run::new(&d, 100);
        run.tick(T0);
        for k in 0..10u32 {
            assert_eq!(run.sample(&unreach("2001:db8::1", k, 1, 1), T0), 1);
            assert_eq!(run.sample(&unreach("2001:db8::2", k, 1, 1), T0), 1);
            assert_eq!(run.sample(&unreach("192.0.2.1", k, 1, 1), T0), 1);
            assert_eq!(run.sample(&unreach("::ffff:192.0.2.1", k, 1, 1), T0), 1);
        }
        assert_eq!(run.table.len(), 40);
        assert_eq!(run.table.agents.len(), 3, "two IPv6 agents and one mapped");
        // Seen again from every agent: no new flow.
        for k in 0..10u32 {
            for a in [
                "2001:db8::1",
                "2001:db8::2",
                "192.0.2.1",
                "::ffff:192.0.2.1",
            ] {
                assert_eq!(run.sample(&unreach(a, k, 1, 1), T0 + 5000), 0, "{a} {k}");
            }
        }
        run.table.check_invariants();
        // Idle re-fire of an IPv6 agent's flow keeps its agent.
        assert_eq!(run.sample(&unreach("2001:db8::2", 3, 1, 1), T0 + 15_000), 1);
        let e = run.events.last().unwrap();
        assert_eq!(e.agent, "2001:db8::2".parse::<IpAddr>().unwrap());
        assert_eq!(run.table.agents.len(), 3);
        run.table.check_invariants();
        // Every other flow expires: only 2001:db8::2 keeps an index.
        run.tick(T0 + 15_000 + SWEEP_MS);
        assert_eq!(run.table.len(), 1);
        assert_eq!(run.table.agents.len(), 1);
        run.table.check_invariants();
        run.tick(T0 + 30_000);
        assert!(run.table.is_empty());
        assert_eq!(run.table.agents.len(), 0);
        assert_eq!(run.table.counters().agents_full, 0);
    }

    /// A full intern drops (and counts) the samples that would open a flow for one more
    /// IPv6 agent; existing agents and IPv4 agents go on; a freed index is reused.
    #[test]
    fn full_agent_intern_drops_and_counts() {
        let d = def("name=\"u\"\nkeys=\"ipsource\"\nlog=true\nflowStart=true\nidleTimeout=10");
        let mut run = Run::new(&d, 100);
        run.table.agents.max = 2;
        run.tick(T0);
        assert_eq!(run.sample(&unreach("2001:db8::1", 1, 1, 1), T0), 1);
        assert_eq!(run.sample(&unreach("2001:db8::2", 1, 1, 1), T0 + 6000), 1);
        assert_eq!(run.sample(&unreach("2001:db8::3", 1, 1, 1), T0 + 6000), 0);
        assert_eq!(run.sample(&unreach("2001:db8::3", 2, 1, 1), T0 + 6000), 0);
        let c = run.table.counters();
        assert_eq!((c.agents_full, c.created, c.samples), (2, 2, 4));
        assert_eq!(run.sample(&unreach("2001:db8::1", 2, 1, 1), T0 + 6000), 1);
        assert_eq!(run.sample(&unreach("192.0.2.1", 1, 1, 1), T0 + 6000), 1);
        assert_eq!(run.table.len(), 4);
        run.table.check_invariants();
        // 2001:db8::1's first flow expires, its second keeps the index; then both go.
        run.tick(T0 + 10_000 + SWEEP_MS);
        assert_eq!(run.sample(&unreach("2001:db8::3", 1, 1, 1), T0 + 11_000), 0);
        run.tick(T0 + 16_000 + SWEEP_MS);
        assert!(run.table.is_empty());
        assert_eq!(run.sample(&unreach("2001:db8::3", 1, 1, 1), T0 + 17_100), 1);
        assert_eq!(run.table.counters().agents_full, 3);
        run.table.check_invariants();
        // Eviction releases an index too.
        let mut small = Run::new(&d, 1);
        small.table.agents.max = 1;
        assert_eq!(small.sample(&unreach("2001:db8::1", 1, 1, 1), T0), 1);
        assert_eq!(small.sample(&unreach("2001:db8::1", 2, 1, 1), T0 + 1), 1);
        assert_eq!(small.sample(&unreach("2001:db8::2", 1, 1, 1), T0 + 2), 0);
        assert_eq!(small.table.counters().agents_full, 1);
        assert_eq!(small.sample(&unreach("192.0.2.1", 1, 1, 1), T0 + 3), 1);
        assert_eq!(small.sample(&unreach("2001:db8::2", 1, 1, 1), T0 + 4), 1);
        assert_eq!(small.table.counters().evicted, 3);
        small.table.check_invariants();
    }

    /// Fabric scope: the agent is not part of a start-only flow, so nothing is interned
    /// and IPv6 agents never hit the intern's bound.
    #[test]
    fn fabric_start_only_tables_intern_nothing() {
        let d = def("name=\"u\"\nkeys=\"ipsource\"\nlog=true\nflowStart=true\nscope=\"fabric\"");
        let mut run = Run::new(&d, 100);
        run.table.agents.max = 0;
        assert_eq!(run.sample(&unreach("2001:db8::1", 1, 1, 1), T0), 1);
        assert_eq!(run.sample(&unreach("2001:db8::2", 1, 1, 1), T0), 0);
        assert_eq!(run.sample(&unreach("192.0.2.1", 1, 1, 1), T0), 0);
        assert_eq!(run.sample(&unreach("192.0.2.1", 2, 1, 1), T0), 1);
        assert_eq!(run.table.agents.len(), 0);
        assert_eq!(run.table.counters().agents_full, 0);
        run.table.check_invariants();
    }

    /// Growth re-places start-only entries of both agent families (the hash of an
    /// IPv6 agent's entry comes back through the intern).
    #[test]
    fn start_only_growth_with_both_agent_families() {
        let d = def("name=\"u\"\nkeys=\"ipsource,ipdestination\"\nlog=true\nflowStart=true");
        let mut run = Run::new(&d, 20_000);
        let agents = [
            "192.0.2.1",
            "2001:db8::1",
            "2001:db8::2",
            "::ffff:192.0.2.1",
        ];
        // 6000 flows, 1500 per agent; each sample opens one (1 record) or finds it (0).
        let every_flow = |run: &mut Run, now: u64, records: usize| {
            for k in 0..6000u32 {
                let a = agents[k as usize % 4];
                assert_eq!(
                    run.sample(&unreach(a, k / 4, 7, 1), now),
                    records,
                    "{a} {k}"
                );
            }
        };
        every_flow(&mut run, T0, 1);
        assert!(run.table.slots > INITIAL_SLOTS, "grew");
        run.table.check_invariants();
        every_flow(&mut run, T0 + 1, 0);
        assert_eq!(run.table.len(), 6000);
        assert_eq!(run.table.agents.len(), 3);
    }

    /// Random churn through a small start-only table with agents of both families:
    /// eviction, idle expiry, re-fire, backward shifts across line boundaries and the
    /// intern's counts stay consistent; every flow fires exactly when it is new.
    #[test]
    fn start_only_random_churn_keeps_the_table_consistent() {
        let d = def("name=\"s\"\nkeys=\"ipsource,icmpunreachableport\"\nlog=true\nflowStart=true\nidleTimeout=2");
        let agents = [
            "192.0.2.1",
            "192.0.2.2",
            "2001:db8::1",
            "2001:db8::2",
            "2001:db8::3",
        ];
        let mut run = Run::new(&d, 48);
        run.table.agents.max = 2;
        churn(&mut run, 0x9E37_79B9_7F4A_7C15, 30, &agents, |run| {
            assert!(run.table.len() <= 48);
            assert!(run.table.agents.len() <= 2);
        });
        let c = run.table.counters();
        assert!(c.evicted > 0 && c.expired > 0 && c.agents_full > 0, "{c:?}");
        assert_eq!(c.created - c.evicted - c.expired, run.table.len() as u64);
        assert_eq!(c.events, c.created);
    }
}
