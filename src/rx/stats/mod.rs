//! Receive counters: what each receive thread saw, merged into one snapshot on demand.
//!
//! Each receive thread counts into plain integers it owns (no atomics, no locks on the hot
//! path) and, every [`PUBLISH_EVERY_NS`] and when it exits, copies them into its own
//! cache-padded slot with `try_lock`: a reader holding the slot makes the thread skip one
//! publication, never wait. [`RxStats`] is the merge of every slot plus the sockets' kernel
//! drop counters, so it is readable while running and exact after `stop`.
//!
//! Per-agent, per-data-source and per-bad-sender tables are bounded ([`Limits`]); keys beyond
//! the bound are counted, not tracked. Their keys are what senders choose, so they hash with
//! a per-process key ([`crate::hash`]): no sender can aim its keys at one bucket.
//!
//! This file is the counting side (what a receive thread owns and updates per datagram);
//! `snapshot` merges the published states into [`RxStats`] and its one-line summary, and
//! `report` renders the multi-line shutdown report ([`Report`]).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::hash::KeyedMap;
use crate::sflow::{DecodeError, Tag};

use super::seq::{AgentSeq, LossCounts, SourceSeq};

mod report;
mod snapshot;

pub use self::report::Report;
pub use self::snapshot::{AgentStats, RxStats, SocketStats, SourceStats, ThreadStats};

/// How often a receive thread publishes its counters.
pub(crate) const PUBLISH_EVERY_NS: u64 = 50_000_000;

/// At most one log line per sender of bad datagrams in this long: a broken agent sending
/// thousands of them a second is named, not allowed to flood the log.
pub(crate) const LOG_BAD_EVERY_NS: u64 = 10_000_000_000;

/// Lines of agents (and of senders of bad datagrams) the shutdown report prints at most,
/// unless asked for all of them: a fabric of thousands of agents must not bury the totals.
pub const REPORT_LINES: usize = 20;

/// Decode failures by kind (see [`crate::sflow::DecodeError`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    pub truncated: u64,
    pub unsupported_version: u64,
    pub unknown_address_type: u64,
    pub length_overrun: u64,
    pub count_overrun: u64,
}

impl ErrorCounts {
    pub fn total(&self) -> u64 {
        self.truncated
            + self.unsupported_version
            + self.unknown_address_type
            + self.length_overrun
            + self.count_overrun
    }

    fn add(&mut self, o: &ErrorCounts) {
        self.truncated += o.truncated;
        self.unsupported_version += o.unsupported_version;
        self.unknown_address_type += o.unknown_address_type;
        self.length_overrun += o.length_overrun;
        self.count_overrun += o.count_overrun;
    }
}

/// Scalar counters of one receive thread, or of all of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Datagrams taken from the sockets (including those then denied or failing to decode).
    pub datagrams: u64,
    pub bytes: u64,
    /// Datagrams longer than a receive buffer; dropped undecoded.
    pub truncated: u64,
    /// Datagrams from a source outside the allowlist; dropped undecoded.
    pub denied: u64,
    /// Datagrams whose header could not be decoded (nothing in them was used).
    pub header_errors: ErrorCounts,
    /// Samples that could not be decoded (the rest of their datagram was).
    pub sample_errors: ErrorCounts,
    pub flow_samples: u64,
    pub counter_samples: u64,
    pub discard_samples: u64,
    /// Samples and records of a type the decoder does not know, skipped by length.
    pub unknown_samples: u64,
    pub unknown_records: u64,
    /// Work items handed to worker rings.
    pub routed: u64,
    /// Work items dropped because a worker's ring was full.
    pub ring_drops: u64,
    /// Routing decisions naming a worker that does not exist (a router bug); dropped.
    pub route_errors: u64,
    /// Receive calls that failed (other than "nothing to read").
    pub receive_errors: u64,
    /// io_uring multishot receives re-armed, and how many of those ends were for lack of
    /// buffers.
    pub rearms: u64,
    pub no_buffers: u64,
    /// Receives that carried several datagrams coalesced by the kernel (UDP GRO).
    pub coalesced: u64,
    /// Agents and data sources seen after their table was full: not loss-tracked.
    pub agents_untracked: u64,
    pub sources_untracked: u64,
    /// Bad datagrams from senders seen after the table of bad senders was full: counted in
    /// the error totals, not per sender.
    pub bad_senders_untracked: u64,
    /// Interface counter updates (a counter sample's generic interface record) dropped
    /// because the queue to the metrics side was full.
    pub interface_updates_dropped: u64,
    /// Flow samples whose sampled header nests tunnels deeper than the decoder walks
    /// ([`crate::packet::MAX_DEPTH`]): their keys stop at the deepest level walked.
    pub tunnels_too_deep: u64,
}

impl Counters {
    pub fn decode_errors(&self) -> u64 {
        self.header_errors.total() + self.sample_errors.total()
    }

    fn add(&mut self, o: &Counters) {
        self.datagrams += o.datagrams;
        self.bytes += o.bytes;
        self.truncated += o.truncated;
        self.denied += o.denied;
        self.header_errors.add(&o.header_errors);
        self.sample_errors.add(&o.sample_errors);
        self.flow_samples += o.flow_samples;
        self.counter_samples += o.counter_samples;
        self.discard_samples += o.discard_samples;
        self.unknown_samples += o.unknown_samples;
        self.unknown_records += o.unknown_records;
        self.routed += o.routed;
        self.ring_drops += o.ring_drops;
        self.route_errors += o.route_errors;
        self.receive_errors += o.receive_errors;
        self.rearms += o.rearms;
        self.no_buffers += o.no_buffers;
        self.coalesced += o.coalesced;
        self.agents_untracked += o.agents_untracked;
        self.sources_untracked += o.sources_untracked;
        self.bad_senders_untracked += o.bad_senders_untracked;
        self.interface_updates_dropped += o.interface_updates_dropped;
        self.tunnels_too_deep += o.tunnels_too_deep;
    }
}

/// Bounds on the loss-accounting tables of each receive thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub agents: usize,
    pub sources: usize,
}

/// One datagram (or sample) that could not be decoded, with who sent it: what a log line
/// and a report line about a misbehaving sender say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadDatagram {
    /// The sender's address (None only where the receive path could not tell it).
    pub from: Option<SocketAddr>,
    /// `None`: the datagram's header was unusable, so nothing in it was. `Some((i, tag))`:
    /// sample `i` (its tag when the envelope was readable); the rest of the datagram was used.
    pub sample: Option<(u32, Option<Tag>)>,
    pub error: DecodeError,
    /// Errors from this sender so far, as the receive thread that saw this one counted them.
    pub errors: u64,
}

impl BadDatagram {
    /// What was wrong, without the sender: `header: ...` or `sample I (TAG): ...`.
    pub fn problem(&self) -> String {
        match self.sample {
            None => format!("header: {}", self.error),
            Some((i, Some(tag))) => format!("sample {i} ({tag}): {}", self.error),
            Some((i, None)) => format!("sample {i}: {}", self.error),
        }
    }
}

impl fmt::Display for BadDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.from {
            Some(from) => write!(f, "bad datagram from {from}: ")?,
            None => f.write_str("bad datagram from an unknown sender: ")?,
        }
        write!(
            f,
            "{} ({} from this sender so far; at most one line per sender every {} s)",
            self.problem(),
            self.errors,
            LOG_BAD_EVERY_NS / 1_000_000_000
        )
    }
}

/// A sender of bad datagrams, as one receive thread tracks it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BadSenderEntry {
    pub errors: u64,
    pub last: BadDatagram,
    /// When this sender's last log line was queued (monotonic ns; 0: never).
    pub logged_ns: u64,
}

/// Decode errors of one sender, over every receive thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadSenderStats {
    pub sender: IpAddr,
    /// Datagrams with an unusable header plus samples that failed.
    pub errors: u64,
    /// The most recent one.
    pub last: BadDatagram,
}

/// One (agent, sub-agent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentKey {
    pub agent: IpAddr,
    pub sub_agent: u32,
}

/// One data source of one agent: the source-id type and the full index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceKey {
    pub agent: IpAddr,
    pub sub_agent: u32,
    pub source_type: u32,
    pub source_index: u32,
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct AgentEntry {
    /// This agent's index in [`ThreadState::agent_keys`]: data sources are keyed by it, so
    /// the per-sample lookup hashes three integers, not an address.
    pub slot: u32,
    pub seq: AgentSeq,
    pub counts: LossCounts,
    pub restarts: u64,
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SourceEntry {
    pub seq: SourceSeq,
    pub counts: LossCounts,
    pub agent_drops: u64,
}

/// A data source of the agent in slot `agent` (see [`AgentEntry::slot`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SourceSlot {
    pub agent: u32,
    pub source_type: u32,
    pub source_index: u32,
}

/// Everything one receive thread counts.
#[derive(Clone, Debug, Default)]
pub(crate) struct ThreadState {
    pub counters: Counters,
    pub agents: KeyedMap<AgentKey, AgentEntry>,
    /// Slot → agent, for turning source keys back into addresses at merge time.
    pub agent_keys: Vec<AgentKey>,
    /// Data sources in order of appearance (positions are stable, so the receive thread can
    /// cache them), and their positions by key.
    pub sources: Vec<(SourceSlot, SourceEntry)>,
    pub source_ids: KeyedMap<SourceSlot, u32>,
    /// Latest `SO_RXQ_OVFL` value per socket of the thread.
    pub socket_drops: Vec<u32>,
    /// Senders of bad datagrams, bounded like the agents.
    pub bad_senders: KeyedMap<IpAddr, BadSenderEntry>,
}

impl ThreadState {
    pub(crate) fn new(sockets: usize) -> ThreadState {
        ThreadState {
            socket_drops: vec![0; sockets],
            ..ThreadState::default()
        }
    }

    /// The agent's entry, created if the table has room.
    pub(crate) fn agent(&mut self, key: AgentKey, limits: &Limits) -> Option<&mut AgentEntry> {
        let full = self.agents.len() >= limits.agents;
        if full && !self.agents.contains_key(&key) {
            self.counters.agents_untracked += 1;
            return None;
        }
        let next_slot = self.agent_keys.len() as u32;
        let entry = self.agents.entry(key).or_insert_with(|| AgentEntry {
            slot: next_slot,
            ..AgentEntry::default()
        });
        if entry.slot == next_slot {
            self.agent_keys.push(key);
        }
        Some(entry)
    }

    /// Count a bad datagram (or sample) from `bad.from`; the note to log when this sender's
    /// log window is open (the first error, then at most once per [`LOG_BAD_EVERY_NS`]).
    pub(crate) fn bad_datagram(
        &mut self,
        mut bad: BadDatagram,
        now_ns: u64,
        limits: &Limits,
    ) -> Option<BadDatagram> {
        let sender = bad.from.map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
        let full = self.bad_senders.len() >= limits.agents;
        if full && !self.bad_senders.contains_key(&sender) {
            self.counters.bad_senders_untracked += 1;
            return None;
        }
        let entry = self.bad_senders.entry(sender).or_insert(BadSenderEntry {
            errors: 0,
            last: bad,
            logged_ns: 0,
        });
        entry.errors += 1;
        bad.errors = entry.errors;
        entry.last = bad;
        if entry.logged_ns == 0 || now_ns.saturating_sub(entry.logged_ns) >= LOG_BAD_EVERY_NS {
            entry.logged_ns = now_ns.max(1);
            return Some(bad);
        }
        None
    }

    /// The position of the source's entry in `sources`, created if the table has room.
    pub(crate) fn source_id(&mut self, key: SourceSlot, limits: &Limits) -> Option<u32> {
        if let Some(&id) = self.source_ids.get(&key) {
            return Some(id);
        }
        if self.sources.len() >= limits.sources {
            self.counters.sources_untracked += 1;
            return None;
        }
        let id = self.sources.len() as u32;
        self.sources.push((key, SourceEntry::default()));
        self.source_ids.insert(key, id);
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rx::IoMode;

    #[test]
    fn tables_are_bounded() {
        let limits = Limits {
            agents: 2,
            sources: 1,
        };
        let mut st = ThreadState::new(1);
        for i in 0..5u8 {
            let key = AgentKey {
                agent: IpAddr::from([10, 0, 0, i]),
                sub_agent: 0,
            };
            let _ = st.agent(key, &limits);
        }
        assert_eq!(st.agents.len(), 2);
        assert_eq!(st.counters.agents_untracked, 3);
        let known = AgentKey {
            agent: IpAddr::from([10, 0, 0, 0]),
            sub_agent: 0,
        };
        assert!(
            st.agent(known, &limits).is_some(),
            "known keys still update"
        );
    }

    #[test]
    fn merge_sums_threads_and_sockets() {
        let key = AgentKey {
            agent: IpAddr::from([10, 0, 0, 1]),
            sub_agent: 0,
        };
        let mut a = ThreadState::new(1);
        a.counters.datagrams = 3;
        a.agents.entry(key).or_default().counts.received = 3;
        a.socket_drops[0] = 5;
        let mut b = ThreadState::new(1);
        b.counters.datagrams = 4;
        b.counters.ring_drops = 2;
        b.agents.entry(key).or_default().counts.lost = 1;
        let addr: SocketAddr = "127.0.0.1:6343".parse().unwrap();
        let s = RxStats::merge(
            &[(Some(0), IoMode::Uring, a), (Some(1), IoMode::Recvmmsg, b)],
            &[(addr, 0, Some(4)), (addr, 1, Some(7))],
        );
        assert_eq!(s.totals.datagrams, 7);
        assert_eq!(s.totals.ring_drops, 2);
        assert_eq!(s.kernel_drops, 5 + 7);
        assert_eq!(s.agents.len(), 1);
        assert_eq!(s.agents[0].datagrams.received, 3);
        assert_eq!(s.agents[0].datagrams.lost, 1);
        let line = s.to_string();
        assert!(line.contains("7 datagrams"), "{line}");
        assert!(s.report().to_string().contains("agent 10.0.0.1 sub 0"));
    }

    #[test]
    fn reports_at_fabric_scale_stay_short() {
        // 5000 agents, every 7th with loss, one with a restart.
        let mut st = ThreadState::new(1);
        let limits = Limits {
            agents: 10_000,
            sources: 1,
        };
        for i in 0..5000u32 {
            let key = AgentKey {
                agent: IpAddr::from((0x0A00_0000 + i).to_be_bytes()),
                sub_agent: 0,
            };
            let e = st.agent(key, &limits).unwrap();
            e.counts.received = 100;
            if i % 7 == 0 {
                e.counts.lost = u64::from(i % 50) + 1;
            }
            if i == 4999 {
                e.restarts = 1;
            }
        }
        let s = RxStats::merge(&[(None, IoMode::Uring, st)], &[]);
        let troubled = 5000 / 7 + 1 + 1;
        let short = s.report().to_string();
        let agent_lines = short.lines().filter(|l| l.starts_with("  agent ")).count();
        assert_eq!(agent_lines, REPORT_LINES, "{short}");
        assert!(
            short.contains(&format!(
                "agents with loss, reordering, duplicates or restarts: {troubled} of 5000"
            )),
            "{short}"
        );
        assert!(
            short.contains(&format!("... and {} more", troubled - REPORT_LINES)),
            "{short}"
        );
        // The worst first: 50 datagrams lost is the most any agent lost.
        let first = short.lines().find(|l| l.starts_with("  agent ")).unwrap();
        assert!(first.contains("lost 50,"), "{first}");
        assert!(short.len() < 4000, "{} bytes", short.len());
        // Asked for all, every agent has its line.
        let all = s.report_all().to_string();
        assert_eq!(
            all.lines().filter(|l| l.starts_with("  agent ")).count(),
            5000
        );
    }
}
