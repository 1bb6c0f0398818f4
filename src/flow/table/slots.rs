//! Slots taken and given back: opening a flow, evicting, removing (a backward shift),
//! growing, and the allocation behind them.
//!
//!
//! Bounds. A table is allocated at the size that holds its share of `maxEntries` when
//! that fits in [`super::PRESIZE_BYTES`] (the default bound does), so it never grows and never
//! stalls its worker to re-place entries; a larger one starts there and grows by doubling
//! (allocation only while warming up), never beyond its bound. When full, inserting
//! a new flow first evicts the least recently seen of the next [`EVICT_SAMPLE`] entries
//! after a rotating hand (sampled LRU, as Redis does: it needs no list, and the idle sweep
//! keeps the table short of full in normal operation). Evictions are counted. The
//! agent intern holds at most [`super::AGENT_INTERN_MAX`] IPv6 agents with open flows; a sample
//! that would open a flow for one more is dropped and counted
//! ([`super::TableCounters::agents_full`]), never stored under a wrong identity.

use super::{compact, field, opening_word, FlowTable, Probe, EVICT_SAMPLE};
use crate::flow::definition::Scope;
use crate::flow::key::SCOPE_V6;
use crate::flow::FlowEvent;
use crate::record::WorkSample;

impl FlowTable {
    /// A sample of a flow not in the table: open it in `slot` (the empty slot ending its
    /// probe), after evicting or growing when the table is at its load or size bound.
    /// A start-only table's IPv6 agent is interned first: when the intern is full the
    /// sample is dropped and counted.
    #[inline(never)]
    pub(super) fn insert(
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
    pub(super) fn interns(&self, scope: &[u64; 3]) -> bool {
        self.flow_start && self.scope == Scope::Agent && scope[2] & SCOPE_V6 != 0
    }

    /// Start a flow in slot `i`. A `flowStart` record is built from the opening sample
    /// and its probe (identity, agent, data source, value, receipt time), not read back
    /// from the entry, which does not keep all of them.
    pub(super) fn open(
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
        if self.compact {
            e[compact::TIME] = (agent & compact::AGENT_BITS) | u64::from(now_ms as u32) << 32;
        } else if self.flow_start {
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

    /// Double the slots (warm-up only) and re-place every entry.
    pub(super) fn grow(&mut self) {
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
    pub(super) fn evict_one(&mut self, now_ms: u64, emit: &mut dyn FnMut(FlowEvent)) {
        let mut victim = None;
        let mut oldest = u64::MAX;
        let mut seen = 0;
        let mut i = self.evict_hand % self.slots;
        for _ in 0..self.slots {
            let at = self.at(i);
            if self.occupied(at) {
                let last = self.last_ms(at, now_ms);
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
    pub(super) fn remove(&mut self, i: usize) {
        let scope = self.entry_scope(self.entry(i));
        if self.interns(&scope) {
            let word = self.agent_word(self.entry(i));
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
}

/// Allocate `words` zeroed words for a table, starting at a 64-byte boundary: returns the
/// vector and the index of its first aligned word (7 spare words make room to align, and
/// the vector is never resized, so the index stays valid). Large tables ask the kernel for
/// transparent huge pages: at a million flows every update touches a random entry, and with 4 KiB pages
/// each would also miss the TLB. The zeroed allocation is fresh, untouched memory, so the
/// advice applies when the pages are first written. Advice only: refused, it changes nothing.
pub(super) fn allocate(words: usize) -> (Vec<u64>, usize) {
    let v = vec![0u64; words + 7];
    let base = (v.as_ptr() as usize).next_multiple_of(64) - v.as_ptr() as usize;
    let base = base / 8;
    crate::mem::advise_huge_pages(&v);
    (v, base)
}
