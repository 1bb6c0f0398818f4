//! One worker's shard of one definition's flows: a bounded open-addressing table.
//!
//! A bounded open-addressing table of entries inline in one array (layout in `entry.rs`),
//! with a flow's rate and thresholds in its entry when a threshold watches the
//! definition (`metric.rs`). The files, by role:
//!
//! - this one: the table, its constructor, the probe and the update a worker's batch
//!   loop inlines (the common case: a flow in the table, no timer due);
//! - `entry.rs`: where each field sits in an entry, and finding a flow's slot;
//! - `slots.rs`: opening, evicting, removing and growing, and the allocation;
//! - `timers.rs`: idle expiry, active reports, the sweep, records;
//! - `agents.rs`: the IPv6 agents of start-only tables, one word per entry;
//! - `metric.rs`: flow metrics and the threshold events on them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::definition::{FlowDefinition, Scope, ValueKind};
use super::group::{pack_groups, FlowKey, GroupKey};
use super::key::{
    flow_hash, packed_bytes, scope_words, PackPlan, PackedKey, MAX_KEY_WORDS, SCOPE_BITS, SCOPE_V6,
};
use super::FlowEvent;
use crate::packet::Key;
use crate::record::{SampleRecord, WorkSample};

use super::handoff::FlowId;
use crate::threshold::{Smoothing, Threshold, MAX_PER_DEFINITION};

mod agents;
mod entry;
mod metric;
mod slots;
#[cfg(test)]
mod tests;
mod timers;

use agents::AgentIntern;
pub use agents::AGENT_INTERN_MAX;
use entry::{
    compact, elapsed32, field, metric_field, prefetch, put_bits, start_field, EXTRA_BITS,
    MAX_IDENT, UNRESOLVED,
};
use slots::allocate;
pub use timers::opening_word;

/// Most slots in use, in percent, in a table of full entries: the table grows (or, at
/// its bound, evicts) beyond it. Half full, a flow lies in its home slot or the next
/// (both prefetched) nine times in ten; at 3/4, 37 % of flows lie past their home slot
/// and 22 % past the next one (linear probing, simulated), and each further line is a
/// DRAM miss no prefetch covers (docs/perf/flow.md: 1 M keys, 6-9 M updates/s at 75 %,
/// 11-14 M at 50 %). The price is memory: 128 bytes per flow of 64-byte entries.
pub const MAX_LOAD_PERCENT: usize = 50;
/// [`MAX_LOAD_PERCENT`] for tables of 32-byte start-only entries, whose homes start a line:
/// a quarter full, 96.6 % of flows lie in their home line (two slots; linear probing over
/// two-slot lines, simulated; 88 % at half full), so one prefetched line per update finds
/// nearly every flow. Measured at 1 M keys (docs/perf/flow.md, "start-only entries, one
/// line per update") this beats half full with two prefetched lines by a quarter: the
/// worker is limited by the lines it has in flight, not by instructions. The price is the
/// same memory per flow as a half-full table of 64-byte entries, 128 bytes.
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

/// Most thresholds on a definition whose watched entries are compact (`entry::compact`): one
/// fired bit each in the spare bits of the identity's marker byte.
pub const COMPACT_MAX_THRESHOLDS: usize = 6;

/// Process-wide flow record identifiers (sFlow-RT `flowID`), increasing from 1.
static NEXT_FLOW_ID: AtomicU64 = AtomicU64::new(1);

/// The next `flowID` (flow records and threshold events share the sequence).
pub fn next_flow_id() -> u64 {
    NEXT_FLOW_ID.fetch_add(1, Ordering::Relaxed)
}

/// The rate and thresholds of a table whose definition a threshold watches.
struct TableMetric {
    thresholds: Arc<[Threshold]>,
    smoothing: Smoothing,
    /// Entry word of [`metric_field::SUM`].
    at: usize,
    /// When the largest-flow thresholds were last checked for a re-arm.
    last_rearm_ms: u64,
    /// The lowest threshold value: a rate at or under it, with nothing fired, changes
    /// no threshold's state.
    min_value: f64,
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
    /// Flows above a largest-flow threshold's value (`byFlow = false`) whose scope was
    /// not tracked: the threshold already holds as many scopes as the definition's
    /// `maxEntries` ([`crate::threshold::Largest`]), so such a scope cannot fire.
    pub scopes_refused: u64,
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
    /// Entries are compact watched entries ([`compact`]).
    compact: bool,
    /// Bits of the agent word that name the agent: all of them, or [`compact::AGENT_BITS`]
    /// when LAST shares the word.
    agent_bits: u64,
    /// Bits of the agent word two entries of one flow share: `agent_bits` in agent scope,
    /// none in fabric scope.
    agent_mask: u64,
    /// Compact entries: the identity word holding the fired bits, and the first one's bit.
    fired_word: usize,
    fired_shift: u32,
    /// Compact entries: the gate words of the flows with a fired threshold, by identity
    /// ([`FlowTable::gate_key`]); only fired flows are here, so at most `maxEntries` and
    /// usually a handful. The map's hasher is keyed (flow keys come from the network).
    fired_gates: HashMap<[u64; 3], [u64; MAX_PER_DEFINITION]>,
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
        let compact = def.flow_start
            && ident_words == 2
            && (1..=COMPACT_MAX_THRESHOLDS).contains(&def.thresholds.len())
            && def.idle_timeout_ms <= compact::MAX_IDLE_MS;
        let metric_words = if def.thresholds.is_empty() {
            0
        } else {
            metric_field::GATES + def.thresholds.len()
        };
        let (stride, ident_at, agent_at, last_at) = if compact {
            (4, start_field::IDENT, compact::TIME, compact::TIME)
        } else if def.flow_start {
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
        let metric_at = if compact {
            compact::RATE
        } else if def.flow_start {
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
                min_value: def
                    .thresholds
                    .iter()
                    .map(|t| t.value)
                    .fold(f64::INFINITY, f64::min),
            })
        });
        let agent_bits = if compact {
            compact::AGENT_BITS
        } else {
            u64::MAX
        };
        let fired_bit = key_bits + compact::FIRED_BIT;
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
        if compact {
            // The fired bits are state, not identity.
            let mut fired = [0; MAX_IDENT];
            put_bits(&mut fired, fired_bit, 0x3F);
            for (m, f) in same_mask.iter_mut().zip(fired) {
                *m &= !f;
            }
        }
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
            compact,
            agent_bits,
            agent_mask: if def.scope == Scope::Agent {
                agent_bits
            } else {
                0
            },
            fired_word: fired_bit / 64,
            fired_shift: (fired_bit % 64) as u32,
            fired_gates: HashMap::new(),
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
    /// the flows at [`START_ONLY_LOAD_PERCENT`]. 64-byte and wider entries: the home slot's
    /// line and the next slot's (89 % at [`MAX_LOAD_PERCENT`]). Every further line is a
    /// full memory latency no prefetch covers; but every prefetched line holds one of the
    /// core's few line fill buffers until it arrives, and at a million flows those are what
    /// limits the updates (docs/perf/flow.md, "start-only entries, one line per update").
    /// Loading the second line unconditionally costs no instructions that depend on the
    /// first (chasing the run slot by slot, a few updates ahead, would skip that line, but
    /// its compare and mispredicted branch cost more than the line: docs/perf/flow.md).
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
                Ok(i) if self.compact => {
                    let at = self.at(i) + compact::TIME;
                    if let Some(w) = self.words.get_mut(at) {
                        let since = elapsed32(now_ms, *w);
                        if since < self.idle_ms {
                            *w = (*w & compact::AGENT_BITS) | u64::from(now_ms as u32) << 32;
                            self.observe_compact(i, since, probe, record, now_ms, emit);
                            return;
                        }
                    }
                    self.update_due(i, probe, agent, record, now_ms, emit);
                }
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
}
