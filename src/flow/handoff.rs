//! What a receive thread hands a flow worker: one [`WorkItem`] per sample and flow
//! definition it matches, and the [`Route`] trait by which a receive thread learns them.
//!
//! The router on the receive thread does all the per-key work: it checks which keys the
//! sample has, evaluates filters, packs each matching definition's key and hashes it, while
//! the decoded record is still hot in that core's cache. The worker gets the finished flow
//! identity ([`FlowId`]) and the few sample fields it needs ([`WorkSample`]), never the
//! header keys. That keeps the ring item small whatever the decoder keeps per sample (the
//! keys of up to three tunnel levels stay on the receive thread), and the worker's compute
//! per update down to finding the entry: at a million flows that competes with its memory
//! misses, and packing plus hashing there would be over a third of it (docs/perf/flow.md,
//! "The router's hint").

use crate::record::{SampleRecord, WorkSample};

use super::key::MAX_KEY_WORDS;

/// One sample's flow in one definition, as a ring carries it to the worker owning it.
#[derive(Clone, Copy, Debug)]
pub struct WorkItem {
    pub sample: WorkSample,
    pub flow: FlowId,
}

/// A sample's flow in one definition: the definition's slot, the packed key
/// (`flow::key::PackedKey`'s words) and the flow hash.
///
/// Only meaningful between a router and the workers built from the same flow definitions
/// in the same process (the hash is keyed per process, the slot is the definition's index
/// and hash seed); a worker handed an identity from elsewhere would misplace flows, never
/// misbehave otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowId {
    /// The flow hash (definition seed, scope, packed key): its high half picks the worker,
    /// its low half the slot in the worker's table.
    pub hash: u64,
    /// The packed key; words past `words` are zero.
    pub key: [u64; MAX_KEY_WORDS],
    /// Meaningful words in `key`.
    pub words: u8,
    /// The definition's slot (its bit in the routers' and workers' live sets).
    pub definition: u8,
}

impl FlowId {
    /// The meaningful words of the packed key.
    #[inline]
    pub fn key_words(&self) -> &[u64] {
        self.key.get(..usize::from(self.words)).unwrap_or(&self.key)
    }
}

/// Chooses which workers must see a sample, and with which flow identity. The flow
/// engine implements it; each receive thread owns one and calls it for every flow sample,
/// so it must not block or allocate.
pub trait Route: Send {
    /// Call `deliver(worker, flow)` once for every definition `record` matches, with the
    /// worker that owns the flow. Not calling it means the sample matches no definition.
    fn route(&mut self, record: &SampleRecord, deliver: &mut dyn FnMut(usize, &FlowId));
}

impl WorkItem {
    /// The item for `record`'s flow `flow`.
    #[inline(always)]
    pub fn new(record: &SampleRecord, flow: &FlowId) -> WorkItem {
        WorkItem {
            sample: WorkSample::from(record),
            flow: *flow,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_stays_small() {
        // One crosses a ring per sample and matching definition: a sample's header keys
        // (about 100 bytes per tunnel level) must never ride along.
        assert!(std::mem::size_of::<WorkItem>() <= 144);
    }
}
