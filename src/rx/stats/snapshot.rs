//! The merged view: [`RxStats`], built from every receive thread's published state and the
//! sockets' kernel drop counters, with the sums the stats line and the metrics read and
//! the one-line summary.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::{AgentKey, BadSenderStats, Counters, SourceKey, ThreadState};
use crate::hash::KeyedMap;
use crate::rx::{IoMode, LossCounts};

/// Loss accounting of one (agent, sub-agent), from datagram sequence numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgentStats {
    pub key: Option<AgentKey>,
    pub datagrams: LossCounts,
    /// Times the agent restarted (sequence and uptime went back); not counted as loss.
    pub restarts: u64,
}

/// Loss accounting of one data source, from flow-sample sequence numbers and the samples
/// the agent reports having dropped itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceStats {
    pub key: Option<SourceKey>,
    pub samples: LossCounts,
    /// Increase of the samples' `drops` field: samples the agent could not send.
    pub agent_drops: u64,
}

/// One receive socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketStats {
    pub local: SocketAddr,
    pub thread: usize,
    /// Receives the kernel dropped on this socket (full receive buffer), from
    /// `SO_RXQ_OVFL` and `SO_MEMINFO`: datagrams, except that with UDP GRO a dropped
    /// coalesced receive (up to 64 datagrams) counts once. The per-agent sequence
    /// accounting counts every lost datagram either way.
    pub kernel_drops: u64,
}

/// One receive thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadStats {
    pub core: Option<usize>,
    pub io: IoMode,
    pub counters: Counters,
}

/// A snapshot of the receive engine's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RxStats {
    pub totals: Counters,
    /// Sum of the sockets' kernel drops.
    pub kernel_drops: u64,
    pub threads: Vec<ThreadStats>,
    pub sockets: Vec<SocketStats>,
    /// Sorted by key.
    pub agents: Vec<AgentStats>,
    /// Sorted by key.
    pub sources: Vec<SourceStats>,
    /// Senders of bad datagrams, most errors first.
    pub bad_senders: Vec<BadSenderStats>,
}

impl RxStats {
    /// Merge the published per-thread states. `sockets` lists every socket with its thread
    /// and its current `SO_MEMINFO` drop count, in the threads' socket order.
    pub(crate) fn merge(
        states: &[(Option<usize>, IoMode, ThreadState)],
        sockets: &[(SocketAddr, usize, Option<u32>)],
    ) -> RxStats {
        let mut s = RxStats::default();
        let mut agents: KeyedMap<AgentKey, AgentStats> = KeyedMap::default();
        let mut sources: KeyedMap<SourceKey, SourceStats> = KeyedMap::default();
        let mut bad: KeyedMap<IpAddr, BadSenderStats> = KeyedMap::default();
        for (core, io, st) in states {
            s.totals.add(&st.counters);
            s.threads.push(ThreadStats {
                core: *core,
                io: *io,
                counters: st.counters,
            });
            for (k, e) in &st.agents {
                let a = agents.entry(*k).or_default();
                a.key = Some(*k);
                a.datagrams.add(&e.counts);
                a.restarts += e.restarts;
            }
            for (sender, e) in &st.bad_senders {
                let b = bad.entry(*sender).or_insert(BadSenderStats {
                    sender: *sender,
                    errors: 0,
                    last: e.last,
                });
                b.errors += e.errors;
            }
            for (k, e) in st.sources.iter() {
                let Some(agent) = st.agent_keys.get(k.agent as usize) else {
                    continue;
                };
                let k = SourceKey {
                    agent: agent.agent,
                    sub_agent: agent.sub_agent,
                    source_type: k.source_type,
                    source_index: k.source_index,
                };
                let src = sources.entry(k).or_default();
                src.key = Some(k);
                src.samples.add(&e.counts);
                src.agent_drops += e.agent_drops;
            }
        }
        let mut per_thread_index = vec![0usize; states.len()];
        for &(local, thread, meminfo) in sockets {
            let i = per_thread_index.get(thread).copied().unwrap_or(0);
            if let Some(n) = per_thread_index.get_mut(thread) {
                *n += 1;
            }
            let ovfl = states
                .get(thread)
                .and_then(|(_, _, st)| st.socket_drops.get(i).copied())
                .unwrap_or(0);
            let drops = u64::from(meminfo.unwrap_or(0).max(ovfl));
            s.kernel_drops += drops;
            s.sockets.push(SocketStats {
                local,
                thread,
                kernel_drops: drops,
            });
        }
        s.agents = agents.into_values().collect();
        s.agents.sort_by_key(|a| a.key);
        s.sources = sources.into_values().collect();
        s.sources.sort_by_key(|a| a.key);
        s.bad_senders = bad.into_values().collect();
        s.bad_senders
            .sort_by(|a, b| b.errors.cmp(&a.errors).then(a.sender.cmp(&b.sender)));
        s
    }

    /// Datagram loss summed over agents.
    pub fn agent_totals(&self) -> LossCounts {
        let mut t = LossCounts::default();
        for a in &self.agents {
            t.add(&a.datagrams);
        }
        t
    }

    /// Sample loss summed over data sources, and the agents' own drops.
    pub fn source_totals(&self) -> (LossCounts, u64) {
        let mut t = LossCounts::default();
        let mut drops = 0;
        for s in &self.sources {
            t.add(&s.samples);
            drops += s.agent_drops;
        }
        (t, drops)
    }
}

/// The one-line summary (totals since start).
impl fmt::Display for RxStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.totals;
        let a = self.agent_totals();
        let (s, agent_drops) = self.source_totals();
        write!(
            f,
            "rx: {} datagrams {} bytes, {} flow samples, {} counter samples; drops: kernel {} ring {} \
             denied {} truncated {} decode-errors {}; agents {}: datagrams lost {} out-of-order {} \
             duplicate {}; samples lost {} agent-dropped {}",
            t.datagrams,
            t.bytes,
            t.flow_samples,
            t.counter_samples,
            self.kernel_drops,
            t.ring_drops,
            t.denied,
            t.truncated,
            t.decode_errors(),
            self.agents.len(),
            a.lost,
            a.out_of_order,
            a.duplicates,
            s.lost,
            agent_drops,
        )
    }
}
