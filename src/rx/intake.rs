//! What a receive thread does with each datagram: allowlist, decode where it landed, loss
//! accounting, routing, and batched hand-off to the worker rings.
//!
//! Both receive loops ([`super::uring`], [`super::mmsg`]) drive an [`Intake`] through the
//! [`Handler`] trait while the datagram's buffer is still held, so the buffer goes back to
//! the kernel as soon as this returns. Nothing here blocks or allocates per datagram: work
//! items are written straight into the worker's ring slot (one copy) and made visible a
//! batch at a time (one index store); an item that finds its ring full is dropped and
//! counted; the counters are published with `try_lock`.

use std::sync::Arc;

use crossbeam::utils::CachePadded;

use crate::clock::monotonic_nanos;
use crate::flow::{Route, WorkItem};
use crate::record::SampleRecord;
use crate::ring::Producer;
use crate::sflow::{
    decode_datagram, CounterSampleMeta, DatagramHeader, DecodeError, DiscardSampleMeta,
    FlowSampleMeta, SampleError, SampleKind, Tag, Visitor,
};

use super::allow::Allowlist;
use super::interfaces::{PendingSample, SampleOrigin};
use super::stats::{
    AgentKey, BadDatagram, ErrorCounts, Limits, SourceSlot, ThreadState, PUBLISH_EVERY_NS,
};
use super::{Handler, IoEvent, Received, Slot};

/// One receive thread's datagram handling.
pub(crate) struct Intake {
    allow: Allowlist,
    router: Box<dyn Route>,
    producers: Vec<Producer<WorkItem>>,
    /// Items written but not yet committed, per worker: committed when `batch` are pending
    /// and after every receive batch.
    pending: Vec<usize>,
    batch: usize,
    limits: Limits,
    state: ThreadState,
    slot: Arc<CachePadded<Slot>>,
    last_publish_ns: u64,
    /// The current datagram's agent slot and its restart epoch (None when untracked).
    current: Option<(u32, u32)>,
    /// The current datagram's sender and receive time, for naming it when it is bad.
    from: Option<std::net::SocketAddr>,
    now: u64,
    /// The current datagram's agent, and the interface records of the counter sample being
    /// walked.
    agent: std::net::IpAddr,
    uptime_ms: u32,
    interface: PendingSample,
    /// Per agent slot (below [`DENSE_AGENTS`]), per ifIndex (below [`DENSE_INDEX`]): the
    /// position of the data source in `state.sources`, plus one (0: not cached yet). Spares
    /// the per-sample hash lookup for the common case; filled when a source first appears,
    /// so it allocates only then, and at most DENSE_AGENTS × DENSE_INDEX × 4 bytes (16 MiB).
    dense: Vec<Vec<u32>>,
}

const DENSE_AGENTS: u32 = 4096;
const DENSE_INDEX: u32 = 1024;

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
            pending: vec![0; producers.len()],
            producers,
            batch,
            limits,
            state: ThreadState::new(sockets),
            slot,
            last_publish_ns: 0,
            current: None,
            from: None,
            now: 0,
            agent: std::net::Ipv4Addr::UNSPECIFIED.into(),
            uptime_ms: 0,
            interface: PendingSample::default(),
            dense: Vec::new(),
        }
    }

    fn flush_all(&mut self) {
        for (p, pending) in self.producers.iter_mut().zip(self.pending.iter_mut()) {
            if *pending > 0 {
                p.commit();
                *pending = 0;
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

impl Intake {
    /// One datagram from the wire (a whole receive, or one segment of a coalesced one).
    fn one_datagram(&mut self, payload: &[u8], allowed: bool, now: u64) {
        let c = &mut self.state.counters;
        c.datagrams += 1;
        c.bytes += payload.len() as u64;
        if !allowed {
            c.denied += 1;
            return;
        }
        self.current = None;
        self.now = now;
        if let Err(e) = decode_datagram(payload, now, self) {
            count_error(&e, &mut self.state.counters.header_errors);
            self.bad_datagram(None, e);
        }
    }

    /// Count a bad datagram or sample against its sender, and queue a log line when the
    /// sender's log window is open. Rare by nature, so it may hash and format.
    #[cold]
    fn bad_datagram(&mut self, sample: Option<(u32, Option<Tag>)>, error: DecodeError) {
        let bad = BadDatagram {
            from: self.from,
            sample,
            error,
            errors: 0,
        };
        if let Some(note) = self.state.bad_datagram(bad, self.now, &self.limits) {
            let _ = self.slot.notes.push(note);
        }
    }

    /// The position of a data source's entry: from the dense cache for ifIndex sources of
    /// the first agents, else from the thread's table (then cached).
    fn source_id(&mut self, key: SourceSlot) -> Option<u32> {
        let dense =
            key.source_type == 0 && key.agent < DENSE_AGENTS && key.source_index < DENSE_INDEX;
        if dense {
            if let Some(&n) = self
                .dense
                .get(key.agent as usize)
                .and_then(|row| row.get(key.source_index as usize))
            {
                if n > 0 {
                    return Some(n - 1);
                }
            }
        }
        let id = self.state.source_id(key, &self.limits)?;
        if dense {
            let a = key.agent as usize;
            if self.dense.len() <= a {
                self.dense.resize_with(a + 1, Vec::new);
            }
            let row = &mut self.dense[a];
            let i = key.source_index as usize;
            if row.len() <= i {
                row.resize(i + 1, 0);
            }
            row[i] = id + 1;
        }
        Some(id)
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
        if let Some(d) = r.drops {
            if let Some(slot) = self.state.socket_drops.get_mut(r.socket) {
                *slot = d;
            }
        }
        if r.truncated {
            c.datagrams += 1;
            c.bytes += r.payload.len() as u64;
            c.truncated += 1;
            return;
        }
        self.from = r.from;
        let allowed = match r.from {
            Some(from) => self.allow.allows(from.ip()),
            None => self.allow.allows(std::net::Ipv4Addr::UNSPECIFIED.into()),
        };
        // One clock read per receive: a coalesced receive's datagrams arrived together.
        let now = monotonic_nanos();
        match r.segment.map(usize::from) {
            Some(size) if r.payload.len() > size => {
                c.coalesced += 1;
                for one in r.payload.chunks(size) {
                    self.one_datagram(one, allowed, now);
                }
            }
            _ => self.one_datagram(r.payload, allowed, now),
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
        self.agent = h.agent;
        self.uptime_ms = h.uptime_ms;
        self.interface.clear();
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
                Some((entry.slot, entry.seq.epoch))
            }
            None => None,
        };
    }

    fn flow_sample(&mut self, meta: &FlowSampleMeta, record: &SampleRecord) {
        self.state.counters.flow_samples += 1;
        if record.keys.too_deep() {
            self.state.counters.tunnels_too_deep += 1;
        }
        if let Some((agent, epoch)) = self.current {
            let key = SourceSlot {
                agent,
                source_type: meta.source_id_type,
                source_index: meta.source_id_index,
            };
            if let Some(id) = self.source_id(key) {
                if let Some((_, entry)) = self.state.sources.get_mut(id as usize) {
                    let (seen, new_drops) = entry.seq.observe(epoch, meta.sequence, meta.drops);
                    entry.counts.count(seen);
                    entry.agent_drops += new_drops;
                }
            }
        }
        let Intake {
            router,
            producers,
            pending,
            state,
            batch,
            ..
        } = self;
        let batch = *batch;
        router.route(record, &mut |worker, flow| {
            let (Some(pending), Some(producer)) =
                (pending.get_mut(worker), producers.get_mut(worker))
            else {
                state.counters.route_errors += 1;
                return;
            };
            let item = WorkItem::new(record, flow);
            if producer.push_deferred(item).is_err() {
                state.counters.ring_drops += 1;
                return;
            }
            state.counters.routed += 1;
            *pending += 1;
            if *pending >= batch {
                producer.commit();
                *pending = 0;
            }
        });
    }

    fn counter_sample(&mut self, meta: &CounterSampleMeta) {
        self.state.counters.counter_samples += 1;
        let origin = SampleOrigin {
            agent: Some(self.agent),
            sequence: meta.sequence,
            uptime_ms: self.uptime_ms,
            received_ns: self.now,
        };
        if let Some(ic) = self.interface.finish(origin) {
            if self.slot.interfaces.push(ic).is_err() {
                self.state.counters.interface_updates_dropped += 1;
            }
        }
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

    fn counter_record(&mut self, tag: Tag, data: &[u8]) {
        self.interface.record(tag, data);
    }

    fn sample_error(&mut self, error: &SampleError) {
        self.interface.clear();
        count_error(&error.error, &mut self.state.counters.sample_errors);
        self.bad_datagram(Some((error.index, error.tag)), error.error);
    }
}

#[cfg(test)]
mod tests_support {
    use super::*;
    use crate::flow::FlowId;
    use crate::ring::ring;

    /// Delivers every sample to one worker, as definition 3 with the UDP destination
    /// port as its key.
    pub(super) struct ToWorker(pub usize);
    impl Route for ToWorker {
        fn route(&mut self, r: &SampleRecord, deliver: &mut dyn FnMut(usize, &FlowId)) {
            let port = r.keys.udp_destination_port().map_or(0, u64::from);
            let mut key = [0; crate::flow::key::MAX_KEY_WORDS];
            key[0] = port;
            let flow = FlowId {
                hash: port,
                key,
                words: 1,
                definition: 3,
            };
            deliver(self.0, &flow);
        }
    }

    pub(super) fn intake_with(
        worker: usize,
        cap: usize,
        batch: usize,
        limits: Limits,
    ) -> (
        Intake,
        crate::ring::Consumer<WorkItem>,
        Arc<CachePadded<Slot>>,
    ) {
        let (p, c) = ring(cap);
        let slot = Arc::new(CachePadded::new(Slot::new(1, crate::rx::IoMode::Uring)));
        let i = Intake::new(
            Allowlist::default(),
            Box::new(ToWorker(worker)),
            vec![p],
            batch,
            limits,
            1,
            Arc::clone(&slot),
        );
        (i, c, slot)
    }

    pub(super) fn feed(i: &mut Intake, bytes: &[u8]) {
        feed_from(i, bytes, std::net::SocketAddr::from(([127, 0, 0, 1], 9)));
    }

    pub(super) fn feed_from(i: &mut Intake, bytes: &[u8], from: std::net::SocketAddr) {
        Handler::datagram(
            i,
            &Received {
                socket: 0,
                payload: bytes,
                from: Some(from),
                truncated: false,
                drops: None,
                segment: None,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;
    use super::*;
    use crate::synth::{
        header_protocol, DatagramBuilder, FlowSampleHeader, FrameSpec, RecordSpec, Transport,
    };

    fn intake(
        worker: usize,
        cap: usize,
    ) -> (
        Intake,
        crate::ring::Consumer<WorkItem>,
        Arc<CachePadded<Slot>>,
    ) {
        intake_with(
            worker,
            cap,
            4,
            Limits {
                agents: 16,
                sources: 64,
            },
        )
    }

    /// A DNS query frame, 10.0.0.1 to 10.0.0.2.
    fn dns_query() -> Vec<u8> {
        FrameSpec::new(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            Transport::Udp {
                src_port: 1,
                dst_port: 53,
            },
        )
        .to_ethernet()
    }

    fn good(seq: u32) -> Vec<u8> {
        let frame = dns_query();
        let mut b = DatagramBuilder::new("192.0.2.1".parse().unwrap(), 0, seq, seq);
        for k in 0..3 {
            b.flow_sample(
                &FlowSampleHeader {
                    sequence: seq * 3 + k,
                    source_index: 1,
                    sampling_rate: 10,
                    ..Default::default()
                },
                &[RecordSpec::SampledHeader {
                    protocol: header_protocol::ETHERNET,
                    frame_length: 64,
                    stripped: 0,
                    header: &frame,
                }],
            );
        }
        b.finish()
    }

    #[test]
    fn batches_flush_at_size_and_at_batch_end() {
        let (mut i, mut c, _) = intake(0, 64);
        feed(&mut i, &good(1));
        // 3 samples, batch of 4: nothing pushed until the receive batch ends.
        assert_eq!(c.len(), 0);
        i.batch_done();
        assert_eq!(c.len(), 3);
        feed(&mut i, &good(2));
        feed(&mut i, &good(3));
        assert_eq!(c.len(), 3 + 4, "a full batch goes at once");
        let w = c.pop().unwrap();
        assert_eq!((w.flow.definition, w.flow.key_words()), (3, &[53][..]));
    }

    /// `inner` behind Ethernet / IPv4 / UDP 4789 / VXLAN `vni`.
    fn in_vxlan(inner: &[u8], vni: u8) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
        let total = (20 + 8 + 8 + inner.len()) as u16;
        f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0, 0, 64, 17]);
        f.extend_from_slice(&[0, 0, 192, 0, 2, 10, 192, 0, 2, 11]);
        let udp = (8 + 8 + inner.len()) as u16;
        f.extend_from_slice(&[0xC0, 0x00, 0x12, 0xB5, (udp >> 8) as u8, udp as u8, 0, 0]);
        f.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, vni, 0]);
        f.extend_from_slice(inner);
        f
    }

    #[test]
    fn tunnels_deeper_than_the_decoder_walks_are_counted() {
        let (mut i, _c, slot) = intake(0, 64);
        let tenant = dns_query();
        let mut three = tenant.clone();
        for vni in [3, 2, 1] {
            three = in_vxlan(&three, vni);
        }
        let four = in_vxlan(&three, 9);
        let mut b = DatagramBuilder::new("192.0.2.1".parse().unwrap(), 0, 1, 1);
        for (k, frame) in [&three, &four].into_iter().enumerate() {
            b.flow_sample(
                &FlowSampleHeader {
                    sequence: k as u32 + 1,
                    source_index: 1,
                    sampling_rate: 10,
                    ..Default::default()
                },
                &[RecordSpec::SampledHeader {
                    protocol: header_protocol::ETHERNET,
                    frame_length: frame.len() as u32,
                    stripped: 0,
                    header: frame,
                }],
            );
        }
        feed(&mut i, &b.finish());
        drop(i);
        let c = slot.state.lock().unwrap().counters;
        assert_eq!((c.flow_samples, c.tunnels_too_deep), (2, 1));
    }

    #[test]
    fn bad_datagrams_name_their_sender_at_most_once_per_window() {
        let (mut i, _c, slot) = intake(0, 64);
        let noisy: std::net::SocketAddr = "192.0.2.9:4000".parse().unwrap();
        let other: std::net::SocketAddr = "[2001:db8::9]:4000".parse().unwrap();
        let mut broken = good(1);
        broken.truncate(40); // the sample envelope runs past the datagram
        for _ in 0..100 {
            feed_from(&mut i, &broken, noisy);
        }
        feed_from(&mut i, &[0, 0, 0, 4], other); // version 4: a header error
        i.batch_done();
        let notes: Vec<BadDatagram> = std::iter::from_fn(|| slot.notes.pop()).collect();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert_eq!(notes[0].from, Some(noisy));
        assert_eq!(notes[0].errors, 1);
        assert!(notes[0].sample.is_some(), "{}", notes[0]);
        assert!(notes[0]
            .to_string()
            .starts_with("bad datagram from 192.0.2.9:4000: sample 0"));
        assert_eq!((notes[1].from, notes[1].sample), (Some(other), None));
        drop(i);
        let st = slot.state.lock().unwrap().clone();
        let merged = crate::rx::RxStats::merge(&[(None, crate::rx::IoMode::Uring, st)], &[]);
        let senders: Vec<(String, u64)> = merged
            .bad_senders
            .iter()
            .map(|b| (b.sender.to_string(), b.errors))
            .collect();
        assert_eq!(
            senders,
            vec![
                ("192.0.2.9".to_string(), 100),
                ("2001:db8::9".to_string(), 1)
            ]
        );
        let report = merged.report().to_string();
        assert!(
            report.contains("sender 192.0.2.9: 100 errors, last sample 0"),
            "{report}"
        );
    }

    #[test]
    fn bad_senders_are_bounded() {
        let (mut i, _c, slot) = intake_with(
            0,
            64,
            4,
            Limits {
                agents: 4,
                sources: 64,
            },
        );
        for n in 0..10u8 {
            feed_from(&mut i, &[0, 0, 0, 4], ([192, 0, 2, n], 1).into());
        }
        drop(i);
        let st = slot.state.lock().unwrap().clone();
        assert_eq!(st.bad_senders.len(), 4);
        assert_eq!(st.counters.bad_senders_untracked, 6);
        assert_eq!(st.counters.header_errors.total(), 10);
        assert_eq!(slot.notes.len(), 4);
    }

    #[test]
    fn bad_worker_index_is_counted() {
        let (mut i, _c, slot) = intake(5, 64);
        feed(&mut i, &good(1));
        drop(i);
        let st = slot.state.lock().unwrap();
        assert_eq!(st.counters.route_errors, 3);
        assert_eq!(st.counters.routed, 0);
    }

    #[test]
    fn random_and_mutated_datagrams_never_panic() {
        let (mut i, mut c, slot) = intake(0, 1 << 12);
        let base = good(7);
        let mut x: u64 = 0x1234_5678_9ABC_DEF1;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let n = 20_000u64;
        for round in 0..n {
            let mut d = if round % 2 == 0 {
                base.clone()
            } else {
                (0..(next() % 200) as usize).map(|_| next() as u8).collect()
            };
            if !d.is_empty() {
                for _ in 0..(next() % 6) {
                    let at = (next() as usize) % d.len();
                    d[at] = next() as u8;
                }
                let cut = (next() as usize) % (d.len() + 1);
                if round % 3 == 0 {
                    d.truncate(cut);
                }
            }
            feed(&mut i, &d);
            if round % 64 == 0 {
                i.batch_done();
                let mut sink = Vec::new();
                c.pop_into(&mut sink, usize::MAX);
            }
        }
        drop(i);
        let st = slot.state.lock().unwrap();
        assert_eq!(st.counters.datagrams, n);
        assert!(
            st.agents.len() <= 16 && st.sources.len() <= 64,
            "tables stay bounded"
        );
        assert_eq!(
            st.counters.routed + st.counters.ring_drops,
            st.counters.flow_samples
        );
    }
}

/// Cost of handling one datagram with caches warm: `cargo test --release --lib
/// intake_cost -- --ignored --nocapture`. Not a pass/fail test (speed lives in benches).
#[cfg(test)]
mod cost {
    use super::tests_support::*;
    use super::*;

    #[test]
    #[ignore]
    fn intake_cost() {
        let a = crate::blast::BlastArgs::to("127.0.0.1:9".parse().unwrap());
        let datagrams = crate::blast::sample_datagrams(&a, 256);
        let (mut i, mut c, _) = intake_with(
            0,
            4096,
            64,
            Limits {
                agents: 1024,
                sources: 1 << 16,
            },
        );
        let mut sink = Vec::new();
        let cpu = || crate::clock::thread_cpu_time().as_nanos() as u64;
        let start = cpu();
        let rounds = 2000;
        for _ in 0..rounds {
            for d in &datagrams {
                feed(&mut i, d);
            }
            i.batch_done();
            sink.clear();
            c.pop_into(&mut sink, usize::MAX);
        }
        let n = (rounds * datagrams.len()) as f64;
        eprintln!("{:.0} ns CPU per datagram", (cpu() - start) as f64 / n);
    }
}
