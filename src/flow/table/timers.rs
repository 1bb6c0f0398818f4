//! The table's timers and the records they send: idle expiry, active reports, the
//! sweep, and the flush at shutdown.
//!
//! Timers. `tick` sweeps the slots incrementally, a full pass every [`SWEEP_MS`]: an entry
//! idle for `idleTimeout` is removed (its end record emitted when `flowStart` is false) and
//! a long flow's record is emitted every `activeTimeout`; a flow that keeps receiving
//! samples also reports its active timeout on the sample that crosses it. So timers fire
//! at most one sweep late, with no thread or timer object per flow. Deletion is a
//! backward shift, so the table never fills with tombstones.

use std::net::IpAddr;

use super::{field, next_flow_id, FlowTable, Probe, SWEEP_MS};
use crate::flow::group::unpack_columns;
use crate::flow::key::{scope_from_words, MAX_KEY_WORDS};
use crate::flow::FlowEvent;
use crate::record::WorkSample;

impl FlowTable {
    /// A sample for flow `i` (agent word `agent`) whose idle or active timeout has passed.
    #[inline(never)]
    pub(super) fn update_due(
        &mut self,
        i: usize,
        probe: &Probe,
        agent: u64,
        record: &WorkSample,
        now_ms: u64,
        emit: &mut dyn FnMut(FlowEvent),
    ) {
        let at = self.at(i);
        if self.idle_for(at, now_ms) >= self.idle_ms {
            // Idle past its timeout but not swept yet: the old flow ends and this
            // sample opens a new one in its slot (same identity, same agent word, so the
            // agent intern's count is unchanged), exactly as if the sweep had been on time.
            self.end(i, now_ms, emit);
            self.counters.expired += 1;
            self.open(i, probe, agent, record, now_ms, emit);
            return;
        }
        if self.flow_start {
            self.set_last(at, now_ms);
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
                if self.idle_for(at, now_ms) >= self.idle_ms {
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
        self.fired_gates.clear();
    }

    /// A flow ends: its last record when `flowStart` is false; its thresholds re-arm.
    pub(super) fn end(&mut self, i: usize, now_ms: u64, emit: &mut dyn FnMut(FlowEvent)) {
        if !self.flow_start {
            self.report(i, now_ms, emit);
        }
        self.retire_metric(i, now_ms, emit);
    }

    /// Emit the record of full entry `i`'s current interval and start a new one at
    /// `now_ms` (never called for start-only entries, which keep no value).
    pub(super) fn report(&mut self, i: usize, now_ms: u64, emit: &mut dyn FnMut(FlowEvent)) {
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
    pub(super) fn emit_record(
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
            event_id: crate::flow::event::event_id(&self.name, agent, data_source, opening),
            threshold: None,
        });
    }
}

/// The opening sample's identity in a `flowStart` record's `event_id`: its sub-agent and
/// sample sequence number (the agent and data source are hashed in beside).
#[inline]
pub fn opening_word(record: &WorkSample) -> u64 {
    (u64::from(record.sub_agent) << 32) | u64::from(record.sequence())
}
