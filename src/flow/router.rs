//! Routing samples from a receive thread to the flow workers that own their flows.
//!
//! Each receive thread owns a [`Router`]. For every sample it first computes which keys
//! the sample has (one presence mask) and drops the definitions whose keys it lacks (such a
//! sample does not match them: nothing is delivered for that definition). For each
//! remaining definition it packs the keys, evaluates the definition's filter, hashes
//! (definition, key values, and the agent and data source in `agent` scope) and delivers
//! the flow's identity ([`FlowId`]) to the worker the hash's high 32 bits choose. The
//! worker's table then uses the low 32 bits of the same hash for its slot, so the shard
//! still spreads over all its slots.
//!
//! The filter runs here, in the router, rather than in the worker: the record is already
//! hot in the receive thread's cache right after decoding, and a sample that no definition
//! wants never costs a ring slot, a cross-core cache line, or a worker wake-up. In the scan
//! detection use case almost every sample is rejected (it is not an ICMP unreachable
//! message), so this keeps the rings and workers for the samples that matter. The key
//! check runs before the filter because it is the cheaper rejection. Each router holds its
//! own clone of the compiled filters, so regex scratch space is never shared between threads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::record::SampleRecord;

use super::definition::{FlowDefinitions, Scope};
use super::filter::Filter;
use super::group::pack_groups;
use super::handoff::{FlowId, Route};
use super::key::{
    definition_seed, flow_hash, packed_bytes, present_keys, scope_words, PackPlan, PackedKey,
};

/// The worker that owns hash `hash` among `workers` (its high 32 bits, scaled).
#[inline]
pub fn worker_of(hash: u64, workers: usize) -> usize {
    (((hash >> 32) * workers as u64) >> 32) as usize
}

/// One receive thread's router.
pub struct Router {
    defs: FlowDefinitions,
    filters: Box<[Option<Filter>]>,
    seeds: Box<[u64]>,
    /// Each definition's packing plan.
    plans: Box<[PackPlan]>,
    /// Each definition's keys as a presence mask ([`required_keys`](super::key::required_keys)).
    required: Box<[u128]>,
    /// Workers routed to (at least one).
    workers: usize,
    /// Definition bits in use: a reload retires a definition by clearing its bit.
    live: u64,
}

impl Router {
    /// A router over `defs` towards `workers` workers (at least one).
    pub fn new(defs: &FlowDefinitions, workers: usize) -> Router {
        let n = defs.len();
        Router::with_live(
            defs,
            workers,
            if n >= 64 { u64::MAX } else { (1u64 << n) - 1 },
        )
    }

    /// A router over the definitions of `defs` whose bits are in `live` (the others are
    /// slots a reload retired: nothing is routed to them).
    pub fn with_live(defs: &FlowDefinitions, workers: usize, live: u64) -> Router {
        let n = defs.len();
        Router {
            live,
            defs: defs.clone(),
            filters: defs.as_slice().iter().map(|d| d.filter.clone()).collect(),
            seeds: (0..n).map(definition_seed).collect(),
            plans: defs
                .as_slice()
                .iter()
                .map(|d| PackPlan::new(&d.keys))
                .collect(),
            required: defs.as_slice().iter().map(|d| d.required_keys()).collect(),
            workers: workers.max(1),
        }
    }

    /// Number of workers routed to.
    pub fn workers(&self) -> usize {
        self.workers
    }
}

impl Route for Router {
    fn route(&mut self, record: &SampleRecord, deliver: &mut dyn FnMut(usize, &FlowId)) {
        // One presence mask for all definitions: a sample that lacks a key of every
        // definition (almost all traffic, for the unreachable built-ins) costs this and
        // one AND per definition, nothing is packed or hashed.
        let present = present_keys(record);
        let mut candidates = 0u64;
        for (i, &need) in self.required.iter().enumerate().take(64) {
            candidates |= u64::from(need & !present == 0) << i;
        }
        candidates &= self.live;
        if candidates == 0 {
            return;
        }
        let defs = self.defs.as_slice();
        let scope = scope_words(record.agent, record.data_source());
        let mut key = PackedKey::EMPTY;
        while candidates != 0 {
            let i = candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            let (Some(def), Some(plan)) = (defs.get(i), self.plans.get(i)) else {
                break;
            };
            if !key.pack_planned(record, plan, &def.keys) {
                continue;
            }
            // Group keys (computed from the definition's group sets) follow the packet
            // keys; a definition without them pays this one test.
            if !def.groups.is_empty()
                && !pack_groups(&mut key, packed_bytes(&def.keys), record, &def.groups)
            {
                continue;
            }
            if let Some(Some(f)) = self.filters.get(i) {
                if !f.matches(record) {
                    continue;
                }
            }
            let seed = self.seeds.get(i).copied().unwrap_or(0);
            let hash = flow_hash(
                seed,
                (def.scope == Scope::Agent).then_some(&scope),
                key.as_words(),
            );
            let flow = FlowId {
                hash,
                key: key.words,
                words: key.len as u8,
                definition: i as u8,
            };
            deliver(worker_of(hash, self.workers), &flow);
        }
    }
}

/// New routers for the receive threads, published by a reload.
///
/// The reload thread stores one router per receive thread, then bumps `generation`. Each
/// [`ReloadableRouter`] compares the generation (one relaxed load per sample) and, when it
/// moved, takes its new router with `try_lock`: the lock is only ever held for a store or
/// a take, and a receive thread that finds it held routes with its current router and
/// tries again on the next sample, so it never waits.
pub struct RouterUpdates {
    generation: AtomicU64,
    pending: Box<[Mutex<Option<Router>>]>,
}

impl RouterUpdates {
    /// Room for `threads` receive threads' routers.
    pub fn new(threads: usize) -> Arc<RouterUpdates> {
        Arc::new(RouterUpdates {
            generation: AtomicU64::new(0),
            pending: (0..threads).map(|_| Mutex::new(None)).collect(),
        })
    }

    /// Hand `routers` (one per receive thread, in thread order) to the receive threads.
    pub fn publish(&self, routers: Vec<Router>) {
        for (slot, r) in self.pending.iter().zip(routers) {
            let mut p = slot.lock().unwrap_or_else(|e| e.into_inner());
            *p = Some(r);
        }
        self.generation.fetch_add(1, Ordering::Release);
    }
}

/// A receive thread's router that adopts the routers a reload publishes.
pub struct ReloadableRouter {
    inner: Router,
    seen: u64,
    index: usize,
    updates: Arc<RouterUpdates>,
}

impl ReloadableRouter {
    /// Receive thread `index`'s router, starting with `inner`.
    pub fn new(inner: Router, index: usize, updates: Arc<RouterUpdates>) -> ReloadableRouter {
        ReloadableRouter {
            inner,
            seen: updates.generation.load(Ordering::Acquire),
            index,
            updates,
        }
    }

    #[inline]
    fn refresh(&mut self) {
        let g = self.updates.generation.load(Ordering::Relaxed);
        if g != self.seen {
            self.adopt(g);
        }
    }

    #[cold]
    fn adopt(&mut self, generation: u64) {
        std::sync::atomic::fence(Ordering::Acquire);
        let Some(slot) = self.updates.pending.get(self.index) else {
            self.seen = generation;
            return;
        };
        if let Ok(mut p) = slot.try_lock() {
            if let Some(r) = p.take() {
                self.inner = r;
            }
            self.seen = generation;
        }
    }
}

impl Route for ReloadableRouter {
    fn route(&mut self, record: &SampleRecord, deliver: &mut dyn FnMut(usize, &FlowId)) {
        self.refresh();
        self.inner.route(record, deliver);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::definition::{builtin, FlowDefinition, FlowSpec};
    use crate::packet::{KeyFields, Unreachable, L4};
    use std::net::IpAddr;

    fn rec(agent: &str, responder: u32, port: u16) -> SampleRecord {
        SampleRecord::new(agent.parse().unwrap(), 0, 0)
            .with_source(0, 1)
            .with_input(0, 1)
            .with_output(0, 2)
            .with_sampling_rate(10)
            .with_frame_length(70)
            .with_keys(
                KeyFields {
                    ip_source: Some(IpAddr::V4(responder.into())),
                    ip_destination: Some("10.9.9.9".parse().unwrap()),
                    ip_protocol: Some(1),
                    unreachable: Some(Unreachable::Port {
                        protocol: L4::Udp,
                        port,
                    }),
                    ..Default::default()
                }
                .into(),
            )
    }

    fn defs(specs: &[FlowSpec]) -> FlowDefinitions {
        FlowDefinitions::from_specs(specs).unwrap()
    }

    /// Per worker delivered to, the definitions (bit per slot) it got the sample for.
    fn routes(r: &mut Router, s: &SampleRecord) -> Vec<(usize, u64)> {
        let mut out: Vec<(usize, u64)> = Vec::new();
        r.route(s, &mut |w, f| {
            let bit = 1u64 << f.definition;
            match out.iter_mut().find(|(x, _)| *x == w) {
                Some((_, m)) => *m |= bit,
                None => out.push((w, bit)),
            }
        });
        out
    }

    #[test]
    fn same_flow_same_worker_and_spread_over_workers() {
        let d = defs(&[builtin("uport").unwrap()]);
        let mut r = Router::new(&d, 4);
        let mut per_worker = [0usize; 4];
        for k in 0..4000u32 {
            let s = rec("192.0.2.1", k, 53);
            let a = routes(&mut r, &s);
            assert_eq!(a.len(), 1);
            assert_eq!(a[0].1, 1);
            assert_eq!(routes(&mut r, &s), a, "deterministic");
            per_worker[a[0].0] += 1;
        }
        for n in per_worker {
            assert!((800..1200).contains(&n), "{per_worker:?}");
        }
    }

    #[test]
    fn missing_key_and_filter_reject() {
        let mut filtered = builtin("uport").unwrap();
        filtered.name = "only53".into();
        filtered.filter = Some("icmpunreachableport=udp_53".into());
        let d = defs(&[builtin("uport").unwrap(), filtered]);
        let mut r = Router::new(&d, 1);
        assert_eq!(routes(&mut r, &rec("192.0.2.1", 1, 53)), vec![(0, 0b11)]);
        assert_eq!(routes(&mut r, &rec("192.0.2.1", 1, 54)), vec![(0, 0b01)]);
        let mut no_port = rec("192.0.2.1", 1, 53);
        no_port.keys.set_unreachable(None);
        assert!(routes(&mut r, &no_port).is_empty());
    }

    #[test]
    fn fabric_scope_ignores_the_agent() {
        let mk = |scope| {
            let spec = FlowSpec {
                name: "uport".into(),
                scope: Some(scope),
                ..Default::default()
            };
            FlowDefinitions::new(vec![FlowDefinition::from_spec(&spec).unwrap()]).unwrap()
        };
        let mut fabric = Router::new(&mk(Scope::Fabric), 64);
        let mut agent = Router::new(&mk(Scope::Agent), 64);
        let mut fabric_workers = std::collections::HashSet::new();
        let mut agent_workers = std::collections::HashSet::new();
        for a in 0..32 {
            let s = rec(&format!("192.0.2.{a}"), 7, 53);
            fabric_workers.insert(routes(&mut fabric, &s)[0].0);
            agent_workers.insert(routes(&mut agent, &s)[0].0);
        }
        assert_eq!(fabric_workers.len(), 1);
        assert!(agent_workers.len() > 1);
    }

    #[test]
    fn worker_choice_is_in_range() {
        for w in 1..10 {
            assert!(worker_of(u64::MAX, w) < w);
            assert_eq!(worker_of(0, w), 0);
        }
    }
}
