//! One worker's shard of every definition: its tables, and the batched update path.
//!
//! Per batch the shard first computes every sample's probe (packed key and hash) for each
//! definition its work item names, taking both from the router's hint (`WorkItem::hint`,
//! computed to pick the worker) for the first of them when there is one. Then it updates
//! the tables in order while prefetching the home slot, and the one after it, of the probe
//! [`PREFETCH_DISTANCE`] ahead. At a million flows each update is a cache miss; overlapping
//! a dozen or more of them is what sets the throughput (without the prefetch a
//! million-flow update took twice as long). Kept apart from the thread that runs it so the
//! benchmark measures exactly the worker's code.

use super::definition::FlowDefinitions;
use super::key::definition_seed;
use super::table::{FlowTable, Probe};
use super::FlowEvent;
use crate::record::WorkItem;

/// How many probes ahead of the update the shard prefetches.
pub const PREFETCH_DISTANCE: usize = 16;

/// A worker's tables, one per definition (index = definition bit).
pub struct Shard {
    tables: Vec<FlowTable>,
    probes: Vec<(u32, u8, Probe)>,
}

impl Shard {
    /// Tables for `defs`, each holding this shard's share (`maxEntries / workers`,
    /// rounded up) of its definition's flows.
    pub fn new(defs: &FlowDefinitions, workers: usize) -> Shard {
        let workers = workers.max(1);
        Shard {
            tables: defs
                .as_slice()
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    FlowTable::new(d, d.max_entries.div_ceil(workers), definition_seed(i))
                })
                .collect(),
            probes: Vec::new(),
        }
    }

    pub fn tables(&self) -> &[FlowTable] {
        &self.tables
    }

    /// Apply a batch of work items at time `now_ms`; records go to `emit` with the index
    /// of their definition. Bits of definitions this shard does not have are ignored.
    pub fn apply(
        &mut self,
        items: &[WorkItem],
        now_ms: u64,
        emit: &mut dyn FnMut(usize, FlowEvent),
    ) {
        // Probe slots are reused from batch to batch (filled in place, never zeroed
        // first); `n` counts the ones this batch filled.
        let mut n = 0;
        let valid = if self.tables.len() >= 64 {
            u64::MAX
        } else {
            (1u64 << self.tables.len()) - 1
        };
        for (i, item) in items.iter().enumerate() {
            let mut mask = item.definitions & valid;
            // The router's hint is for the lowest definition: the first one visited.
            let mut hinted = item.hint.is_some();
            while mask != 0 {
                let d = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                if n == self.probes.len() {
                    self.probes.push((0, 0, Probe::EMPTY));
                }
                let slot = &mut self.probes[n];
                let table = &self.tables[d];
                let probed = if hinted {
                    table.probe_hinted(&item.record, &item.hint, &mut slot.2)
                } else {
                    table.probe_into(&item.record, &mut slot.2)
                };
                hinted = false;
                if probed {
                    slot.0 = i as u32;
                    slot.1 = d as u8;
                    n += 1;
                }
            }
        }
        let (tables, probes) = (&mut self.tables, &self.probes[..n]);
        for (_, d, p) in probes.iter().take(PREFETCH_DISTANCE) {
            tables[usize::from(*d)].prefetch(p);
        }
        for k in 0..n {
            if let Some((_, d, p)) = probes.get(k + PREFETCH_DISTANCE) {
                tables[usize::from(*d)].prefetch(p);
            }
            let (i, d, p) = &probes[k];
            let d = usize::from(*d);
            tables[d].update(p, &items[*i as usize].record, now_ms, &mut |e| emit(d, e));
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
