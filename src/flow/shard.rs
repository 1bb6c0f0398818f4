//! One worker's shard of every definition: its tables, and the batched update path.
//!
//! For each work item (one sample's flow in one definition) the shard makes the probe
//! from the flow identity the router computed ([`super::FlowId`]: packed key and hash),
//! prefetches the line(s) its
//! flow most likely lies in ([`FlowTable::prefetch`]: one line for `uport`'s 32-byte
//! entries, two for larger ones), and applies the update [`PREFETCH_DISTANCE`] probes behind,
//! in one pass over the batch (two passes, all probes then all updates, read each item
//! twice a whole batch apart: tens of KB of items and probes per 256-item batch, more than
//! L1). At a million flows each update is a cache miss; overlapping
//! a dozen or more of them is what sets the throughput (without the prefetch a
//! million-flow update took twice as long). Kept apart from the thread that runs it so the
//! benchmark measures exactly the worker's code.

use super::definition::FlowDefinitions;
use super::group::GroupKey;
use super::handoff::WorkItem;
use super::key::definition_seed;
use super::table::{FlowTable, Probe};
use super::FlowEvent;

/// How many probes ahead of the update the shard prefetches.
pub const PREFETCH_DISTANCE: usize = 16;

/// A worker's tables, one per definition (index = definition bit).
pub struct Shard {
    tables: Vec<FlowTable>,
    /// Definition bits whose tables are in use. A reload retires a definition by clearing
    /// its bit (its slot keeps a tiny empty table), so items routed before the reload that
    /// still name it are ignored rather than applied to whatever later takes the slot.
    live: u64,
    /// Probes between their prefetch and their update: (item index, definition, probe).
    ring: Box<[(u32, u8, Probe); RING]>,
}

/// Probe slots in the ring: more than [`PREFETCH_DISTANCE`], a power of two.
const RING: usize = 32;
const _: () = assert!(RING > PREFETCH_DISTANCE && RING.is_power_of_two());

impl Shard {
    /// Tables for `defs`, each holding this shard's share (`maxEntries / workers`,
    /// rounded up) of its definition's flows.
    pub fn new(defs: &FlowDefinitions, workers: usize) -> Shard {
        let workers = workers.max(1);
        let n = defs.len();
        Shard {
            live: if n >= 64 { u64::MAX } else { (1u64 << n) - 1 },
            tables: defs
                .as_slice()
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    FlowTable::new(d, d.max_entries.div_ceil(workers), definition_seed(i))
                })
                .collect(),
            ring: Box::new([(0, 0, Probe::EMPTY); RING]),
        }
    }

    pub fn tables(&self) -> &[FlowTable] {
        &self.tables
    }

    /// The definition bits in use.
    pub fn live(&self) -> u64 {
        self.live
    }

    /// Install `tables` in their slots (a slot one past the end appends) and use `live` as
    /// the set of definitions in use; returns the tables replaced, for the caller to free
    /// away from this thread. Slots beyond the end that are not next are ignored.
    pub fn reconfigure(&mut self, tables: Vec<(usize, FlowTable)>, live: u64) -> Vec<FlowTable> {
        let mut old = Vec::new();
        for (slot, table) in tables {
            match slot.cmp(&self.tables.len()) {
                std::cmp::Ordering::Less => {
                    old.push(std::mem::replace(&mut self.tables[slot], table));
                }
                std::cmp::Ordering::Equal => self.tables.push(table),
                std::cmp::Ordering::Greater => {}
            }
        }
        let present = if self.tables.len() >= 64 {
            u64::MAX
        } else {
            (1u64 << self.tables.len()) - 1
        };
        self.live = live & present;
        old
    }

    /// Give the tables in the listed slots new group sets ([`FlowTable::set_groups`]).
    pub fn regroup(&mut self, groups: Vec<(usize, Box<[GroupKey]>)>) {
        for (slot, g) in groups {
            if let Some(t) = self.tables.get_mut(slot) {
                t.set_groups(g);
            }
        }
    }

    /// Apply a batch of work items at time `now_ms`; records go to `emit` with the index
    /// of their definition. Bits of definitions this shard does not have are ignored.
    pub fn apply(
        &mut self,
        items: &[WorkItem],
        now_ms: u64,
        emit: &mut dyn FnMut(usize, FlowEvent),
    ) {
        let valid = self.live;
        // One pass: each probe is computed and its lines prefetched, and the update
        // [`PREFETCH_DISTANCE`] probes behind it is applied, so the probes in flight sit
        // in a small ring and an item is read twice within a few hundred nanoseconds
        // (both times from L1) instead of once per pass over the whole batch.
        let (tables, ring) = (&mut self.tables, &mut self.ring);
        let (mut produced, mut consumed) = (0usize, 0usize);
        for (i, item) in items.iter().enumerate() {
            let d = usize::from(item.flow.definition);
            // A definition retired by a reload since the item was routed: ignored.
            if d >= 64 || valid & (1 << d) == 0 {
                continue;
            }
            if produced - consumed == PREFETCH_DISTANCE {
                let (i, d, p) = &ring[consumed % RING];
                let d = usize::from(*d);
                tables[d].update(p, &items[*i as usize].sample, now_ms, &mut |e| emit(d, e));
                consumed += 1;
            }
            let slot = &mut ring[produced % RING];
            let Some(table) = tables.get(d) else {
                continue;
            };
            if table.probe_flow(&item.flow, &item.sample, &mut slot.2) {
                table.prefetch(&slot.2);
                slot.0 = i as u32;
                slot.1 = d as u8;
                produced += 1;
            }
        }
        while consumed < produced {
            let (i, d, p) = &ring[consumed % RING];
            let d = usize::from(*d);
            tables[d].update(p, &items[*i as usize].sample, now_ms, &mut |e| emit(d, e));
            consumed += 1;
        }
    }

    /// Run every table's timers.
    pub fn tick(&mut self, now_ms: u64, emit: &mut dyn FnMut(usize, FlowEvent)) {
        for (d, table) in self.tables.iter_mut().enumerate() {
            table.tick(now_ms, &mut |e| emit(d, e));
        }
    }

    /// End every open flow (shutdown).
    pub fn flush(&mut self, now_ms: u64, emit: &mut dyn FnMut(usize, FlowEvent)) {
        for (d, table) in self.tables.iter_mut().enumerate() {
            table.flush(now_ms, &mut |e| emit(d, e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::definition::{builtin, FlowSpec};
    use crate::flow::{Route, Router};
    use crate::record::SampleRecord;

    /// The one-pass pipeline applies exactly what updating each table sample by sample
    /// does, in the same order: batches longer than the ring, two definitions per sample
    /// (and some samples routed to the second only), repeated keys.
    #[test]
    fn batch_equals_sample_by_sample() {
        let specs: Vec<FlowSpec> = vec![
            builtin("uport").unwrap(),
            toml::from_str("name=\"src\"\nkeys=\"ipsource\"\nlog=true\nflowStart=true").unwrap(),
        ];
        let defs = FlowDefinitions::from_specs(&specs).unwrap();
        let mut router = Router::new(&defs, 1);
        let (mut items, mut records) = (Vec::new(), Vec::new());
        for k in 0..300u32 {
            let r = SampleRecord::port_unreachable(
                "192.0.2.1".parse().unwrap(),
                (k % 70).into(),
                (k % 11).into(),
                (k % 13) as u16,
            );
            router.route(&r, &mut |_, f| {
                if k % 50 != 3 || f.definition != 0 {
                    items.push(WorkItem::new(&r, f));
                    records.push(r);
                }
            });
        }
        let now = 1_700_000_000_000;
        let mut shard = Shard::new(&defs, 1);
        let mut got = Vec::new();
        for batch in items.chunks(100) {
            shard.apply(batch, now, &mut |d, e| got.push((d, e)));
        }
        let mut tables: Vec<FlowTable> = defs
            .as_slice()
            .iter()
            .enumerate()
            .map(|(i, d)| FlowTable::new(d, d.max_entries, definition_seed(i)))
            .collect();
        let mut want = Vec::new();
        for (item, r) in items.iter().zip(&records) {
            let d = usize::from(item.flow.definition);
            tables[d].sample(r, now, &mut |e| want.push((d, e)));
        }
        let summary = |v: &[(usize, FlowEvent)]| -> Vec<(usize, String, u64)> {
            v.iter()
                .map(|(d, e)| (*d, e.flow_keys(), e.value as u64))
                .collect()
        };
        // 294 uport flows (every item but the six naming only `src`), 70 sources.
        assert_eq!(want.len(), 294 + 70);
        assert_eq!(summary(&got), summary(&want));
        for (s, t) in shard.tables().iter().zip(&tables) {
            assert_eq!(s.counters().samples, t.counters().samples);
        }
    }
}
