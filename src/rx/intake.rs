//! What a receive thread does with each datagram: allowlist, decode where it landed, loss
//! accounting, routing, and batched hand-off to the worker rings.
//!
//! Both receive loops ([`super::uring`], [`super::mmsg`]) drive an [`Intake`] through the
//! [`Handler`] trait while the datagram's buffer is still held, so the buffer goes back to
//! the kernel as soon as this returns. Nothing here blocks or allocates per datagram: the
//! work-item batches are preallocated, a full ring drops the batch (counted), and the
//! counters are published with `try_lock`.

use std::sync::Arc;

use crossbeam::utils::CachePadded;

use crate::record::{monotonic_nanos, Route, SampleRecord, WorkItem};
use crate::ring::Producer;
use crate::sflow::{
    decode_datagram, CounterSampleMeta, DatagramHeader, DecodeError, DiscardSampleMeta,
    FlowSampleMeta, SampleError, SampleKind, Tag, Visitor,
};

use super::allow::Allowlist;
use super::stats::{AgentKey, ErrorCounts, Limits, SourceKey, ThreadState, PUBLISH_EVERY_NS};
use super::{Handler, IoEvent, Received, Slot};

/// One receive thread's datagram handling.
pub(crate) struct Intake {
    allow: Allowlist,
    router: Box<dyn Route>,
    producers: Vec<Producer<WorkItem>>,
    /// One pending batch per worker, flushed when full and after every receive batch.
    batches: Vec<Vec<WorkItem>>,
    batch: usize,
    limits: Limits,
    state: ThreadState,
    slot: Arc<CachePadded<Slot>>,
    last_publish_ns: u64,
    /// The current datagram's agent and its restart epoch (None when untracked).
    current: Option<(AgentKey, u32)>,
}

impl Intake {
    pub(crate) fn new(
        allow: Allowlist,
        router: Box<dyn Route>,
        producers: Vec<Producer<WorkItem>>,
        batch: usize,
        limits: Limits,
        sockets: usize,
        slot: Arc<CachePadded<Slot>>,
    ) -> Intake {
        let batch = batch.max(1);
        Intake {
            allow,
            router,
            batches: (0..producers.len())
                .map(|_| Vec::with_capacity(batch))
                .collect(),
            producers,
            batch,
            limits,
            state: ThreadState::new(sockets),
            slot,
            last_publish_ns: 0,
            current: None,
        }
    }

    fn flush_all(&mut self) {
        for w in 0..self.batches.len() {
            if !self.batches[w].is_empty() {
                flush(
                    &mut self.producers[w],
                    &mut self.batches[w],
                    &mut self.state,
                );
            }
        }
    }

    /// Copy the counters to the shared slot, unless a reader holds it right now.
    fn publish(&mut self, now: u64) {
        if let Ok(mut shared) = self.slot.state.try_lock() {
            shared.clone_from(&self.state);
            self.last_publish_ns = now;
        }
    }
}

impl Drop for Intake {
    fn drop(&mut self) {
        self.flush_all();
        // The thread is exiting: waiting for a reader here is fine and makes the final
        // counters exact.
        if let Ok(mut shared) = self.slot.state.lock() {
            shared.clone_from(&self.state);
        }
    }
}

/// Push one worker's batch; a full ring loses the whole batch, counted.
fn flush(producer: &mut Producer<WorkItem>, batch: &mut Vec<WorkItem>, state: &mut ThreadState) {
    let n = batch.len() as u64;
    match producer.push_batch(batch) {
        Ok(()) => state.counters.routed += n,
        Err(_) => {
            state.counters.ring_drops += n;
            batch.clear();
        }
    }
}

fn count_error(e: &DecodeError, into: &mut ErrorCounts) {
    match e {
        DecodeError::Truncated { .. } => into.truncated += 1,
        DecodeError::UnsupportedVersion(_) => into.unsupported_version += 1,
        DecodeError::UnknownAddressType(_) => into.unknown_address_type += 1,
        DecodeError::LengthOverrun { .. } => into.length_overrun += 1,
        DecodeError::CountOverrun { .. } => into.count_overrun += 1,
    }
}

impl Handler for Intake {
    fn datagram(&mut self, r: &Received<'_>) {
        let c = &mut self.state.counters;
        c.datagrams += 1;
        c.bytes += r.payload.len() as u64;
        if let Some(d) = r.drops {
            if let Some(slot) = self.state.socket_drops.get_mut(r.socket) {
                *slot = d;
            }
        }
        if r.truncated {
            c.truncated += 1;
            return;
        }
        let allowed = match r.from {
            Some(from) => self.allow.allows(from.ip()),
            None => self.allow.allows(std::net::Ipv4Addr::UNSPECIFIED.into()),
        };
        if !allowed {
            c.denied += 1;
            return;
        }
        self.current = None;
        if let Err(e) = decode_datagram(r.payload, monotonic_nanos(), self) {
            count_error(&e, &mut self.state.counters.header_errors);
        }
    }

    fn batch_done(&mut self) {
        self.flush_all();
        let now = monotonic_nanos();
        if now.saturating_sub(self.last_publish_ns) >= PUBLISH_EVERY_NS {
            self.publish(now);
        }
    }

    fn io_event(&mut self, e: IoEvent) {
        let c = &mut self.state.counters;
        match e {
            IoEvent::NoBuffers => c.no_buffers += 1,
            IoEvent::Rearm => c.rearms += 1,
            IoEvent::ReceiveError => c.receive_errors += 1,
        }
    }
}

impl Visitor for Intake {
    fn datagram(&mut self, h: &DatagramHeader) {
        let key = AgentKey {
            agent: h.agent,
            sub_agent: h.sub_agent,
        };
        self.current = match self.state.agent(key, &self.limits) {
            Some(entry) => {
                let (seen, restarted) = entry.seq.observe(h.sequence, h.uptime_ms);
                entry.counts.count(seen);
                if restarted {
                    entry.restarts += 1;
                }
                Some((key, entry.seq.epoch))
            }
            None => None,
        };
    }

    fn flow_sample(&mut self, meta: &FlowSampleMeta, record: &SampleRecord) {
        self.state.counters.flow_samples += 1;
        if let Some((agent, epoch)) = self.current {
            let key = SourceKey {
                agent: agent.agent,
                sub_agent: agent.sub_agent,
                source_type: meta.source_id_type,
                source_index: meta.source_id_index,
            };
            if let Some(entry) = self.state.source(key, &self.limits) {
                let (seen, new_drops) = entry.seq.observe(epoch, meta.sequence, meta.drops);
                entry.counts.count(seen);
                entry.agent_drops += new_drops;
            }
        }
        let Intake {
            router,
            producers,
            batches,
            state,
            batch,
            ..
        } = self;
        let batch = *batch;
        router.route(record, &mut |worker, definitions| {
            let (Some(pending), Some(producer)) =
                (batches.get_mut(worker), producers.get_mut(worker))
            else {
                state.counters.route_errors += 1;
                return;
            };
            pending.push(WorkItem {
                record: *record,
                definitions,
            });
            if pending.len() >= batch {
                flush(producer, pending, state);
            }
        });
    }

    fn counter_sample(&mut self, _meta: &CounterSampleMeta) {
        self.state.counters.counter_samples += 1;
    }

    fn discard_sample(&mut self, _meta: &DiscardSampleMeta) {
        self.state.counters.discard_samples += 1;
    }

    fn unknown_sample(&mut self, _index: u32, _tag: Tag) {
        self.state.counters.unknown_samples += 1;
    }

    fn unknown_record(&mut self, _sample: SampleKind, _tag: Tag) {
        self.state.counters.unknown_records += 1;
    }

    fn sample_error(&mut self, error: &SampleError) {
        count_error(&error.error, &mut self.state.counters.sample_errors);
    }
}
