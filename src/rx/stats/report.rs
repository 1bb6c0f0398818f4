//! The multi-line receive report printed at shutdown and on SIGUSR1: totals, then the
//! agents with loss or restarts and the senders of bad datagrams, worst first, at most
//! [`REPORT_LINES`] of each unless every line is asked for.

use std::fmt;

use super::{AgentStats, RxStats, REPORT_LINES};

impl RxStats {
    /// The multi-line report printed at shutdown: totals, then at most [`REPORT_LINES`]
    /// agents with loss or restarts and as many senders of bad datagrams (the worst first),
    /// with a count of the rest.
    pub fn report(&self) -> Report<'_> {
        Report {
            stats: self,
            all: false,
        }
    }

    /// [`RxStats::report`] with a line for every agent and every sender of bad datagrams
    /// (`flowsift run --report-agents`, SIGUSR1).
    pub fn report_all(&self) -> Report<'_> {
        Report {
            stats: self,
            all: true,
        }
    }
}

/// See [`RxStats::report`].
pub struct Report<'a> {
    stats: &'a RxStats,
    all: bool,
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.stats;
        let t = &s.totals;
        writeln!(f, "receive engine report")?;
        writeln!(f, "  datagrams received     {}", t.datagrams)?;
        writeln!(f, "  bytes received         {}", t.bytes)?;
        if t.coalesced > 0 {
            writeln!(
                f,
                "  kernel drops           {} (receives; with GRO one may hold up to 64 datagrams: \
                 see agents' lost)",
                s.kernel_drops
            )?;
        } else {
            writeln!(f, "  kernel drops           {}", s.kernel_drops)?;
        }
        writeln!(f, "  denied (allowlist)     {}", t.denied)?;
        writeln!(f, "  truncated              {}", t.truncated)?;
        let h = &t.header_errors;
        writeln!(
            f,
            "  header errors          {} (truncated {}, version {}, address type {}, length {}, count {})",
            h.total(),
            h.truncated,
            h.unsupported_version,
            h.unknown_address_type,
            h.length_overrun,
            h.count_overrun
        )?;
        let e = &t.sample_errors;
        writeln!(
            f,
            "  sample errors          {} (truncated {}, length {}, count {})",
            e.total(),
            e.truncated,
            e.length_overrun,
            e.count_overrun
        )?;
        writeln!(f, "  flow samples           {}", t.flow_samples)?;
        writeln!(f, "  counter samples        {}", t.counter_samples)?;
        writeln!(f, "  discard samples        {}", t.discard_samples)?;
        writeln!(
            f,
            "  tunnels too deep       {} (flow samples with keys stopped at level {})",
            t.tunnels_too_deep,
            crate::packet::MAX_DEPTH
        )?;
        writeln!(
            f,
            "  unknown samples/records {} / {}",
            t.unknown_samples, t.unknown_records
        )?;
        writeln!(f, "  routed to workers      {}", t.routed)?;
        writeln!(f, "  ring drops             {}", t.ring_drops)?;
        writeln!(f, "  route errors           {}", t.route_errors)?;
        writeln!(
            f,
            "  receive errors {} rearms {} (no buffers {}) coalesced receives {}",
            t.receive_errors, t.rearms, t.no_buffers, t.coalesced
        )?;
        for (i, th) in s.threads.iter().enumerate() {
            writeln!(
                f,
                "  thread {i} core {:?} {:?}: {} datagrams, {} samples, {} ring drops",
                th.core,
                th.io,
                th.counters.datagrams,
                th.counters.flow_samples,
                th.counters.ring_drops
            )?;
        }
        for so in &s.sockets {
            writeln!(
                f,
                "  socket {} thread {}: {} kernel drops",
                so.local, so.thread, so.kernel_drops
            )?;
        }
        writeln!(
            f,
            "  agents tracked {} (untracked {}), data sources {} (untracked {})",
            s.agents.len(),
            t.agents_untracked,
            s.sources.len(),
            t.sources_untracked
        )?;
        self.agent_lines(f)?;
        self.bad_sender_lines(f)?;
        let (st, drops) = s.source_totals();
        write!(
            f,
            "  samples: {} received, lost {}, out of order {}, duplicate {}, dropped by agents {}",
            st.received, st.lost, st.out_of_order, st.duplicates, drops
        )
    }
}

impl Report<'_> {
    /// Every agent when asked for all; else the agents with something wrong (loss, late or
    /// repeated datagrams, restarts), the worst first, at most [`REPORT_LINES`].
    fn agent_lines(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.stats;
        let troubled = |a: &&AgentStats| {
            let d = &a.datagrams;
            d.lost + d.out_of_order + d.duplicates + a.restarts > 0
        };
        let mut shown: Vec<&AgentStats> = if self.all {
            s.agents.iter().collect()
        } else {
            s.agents.iter().filter(troubled).collect()
        };
        if !self.all {
            writeln!(
                f,
                "  agents with loss, reordering, duplicates or restarts: {} of {}",
                shown.len(),
                s.agents.len()
            )?;
            shown.sort_by(|a, b| {
                let badness = |x: &AgentStats| {
                    let d = &x.datagrams;
                    (d.lost, d.out_of_order + d.duplicates, x.restarts)
                };
                badness(b).cmp(&badness(a)).then(a.key.cmp(&b.key))
            });
        }
        let limit = if self.all { usize::MAX } else { REPORT_LINES };
        for a in shown.iter().take(limit) {
            if let Some(k) = a.key {
                let d = &a.datagrams;
                writeln!(
                    f,
                    "  agent {} sub {}: {} datagrams, lost {}, out of order {}, duplicate {}, restarts {}",
                    k.agent, k.sub_agent, d.received, d.lost, d.out_of_order, d.duplicates, a.restarts
                )?;
            }
        }
        if shown.len() > limit {
            writeln!(
                f,
                "  ... and {} more (every agent: flowsift run --report-agents, or SIGUSR1)",
                shown.len() - limit
            )?;
        }
        Ok(())
    }

    /// The senders of bad datagrams, most errors first, with the last error of each.
    fn bad_sender_lines(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.stats;
        if s.bad_senders.is_empty() && s.totals.bad_senders_untracked == 0 {
            return Ok(());
        }
        writeln!(
            f,
            "  senders of bad datagrams: {} (untracked errors {})",
            s.bad_senders.len(),
            s.totals.bad_senders_untracked
        )?;
        let limit = if self.all { usize::MAX } else { REPORT_LINES };
        for b in s.bad_senders.iter().take(limit) {
            writeln!(
                f,
                "  sender {}: {} errors, last {}",
                b.sender,
                b.errors,
                b.last.problem()
            )?;
        }
        if s.bad_senders.len() > limit {
            writeln!(
                f,
                "  ... and {} more (every sender: flowsift run --report-agents, or SIGUSR1)",
                s.bad_senders.len() - limit
            )?;
        }
        Ok(())
    }
}
