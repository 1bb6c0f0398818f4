//! Loss, reordering and duplication from sFlow sequence numbers.
//!
//! Every agent numbers its datagrams per sub-agent, and every data source numbers its flow
//! samples. A gap means datagrams (or samples) were lost on the way, or inside the agent; a
//! number below the highest seen is either a late arrival that fills an earlier gap (out of
//! order, and no longer lost) or a duplicate. A 64-entry window of the numbers below the
//! highest tells the two apart; an arrival older than the window is counted out of order
//! and left out of the loss figure (it cannot be told from a duplicate).
//!
//! An agent restart resets its sequence numbers. It is recognised by the datagram sequence
//! going back while the agent's uptime also goes back by more than reordering could explain,
//! and is counted as a restart, not as loss; the agent's data sources start over with it.

/// What one sequence number meant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// The first number of a stream (or after a reset).
    First,
    /// Exactly one above the highest so far.
    Next,
    /// Above the highest, skipping this many numbers (tentatively lost).
    Gap(u32),
    /// Below the highest, filling a gap inside the window (one fewer lost).
    Late,
    /// Seen before (inside the window, or equal to the highest).
    Duplicate,
    /// Below the window: late or duplicate, cannot tell.
    TooOld,
}

/// Width of the window of recent numbers below the highest.
const WINDOW: u32 = 64;

/// One stream of sequence numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SeqTracker {
    highest: u32,
    /// Bit k set: `highest - k` has been seen (bit 0 is `highest` itself).
    window: u64,
    started: bool,
}

impl SeqTracker {
    pub(crate) fn observe(&mut self, seq: u32) -> Seen {
        if !self.started {
            *self = SeqTracker {
                highest: seq,
                window: 1,
                started: true,
            };
            return Seen::First;
        }
        // Serial-number arithmetic (RFC 1982 style): numbers wrap at 2^32.
        let ahead = seq.wrapping_sub(self.highest);
        if ahead == 0 {
            return Seen::Duplicate;
        }
        if ahead < 1 << 31 {
            self.window = if ahead >= WINDOW {
                1
            } else {
                (self.window << ahead) | 1
            };
            self.highest = seq;
            return if ahead == 1 {
                Seen::Next
            } else {
                Seen::Gap(ahead - 1)
            };
        }
        let behind = self.highest.wrapping_sub(seq);
        if behind >= WINDOW {
            return Seen::TooOld;
        }
        let bit = 1u64 << behind;
        if self.window & bit != 0 {
            Seen::Duplicate
        } else {
            self.window |= bit;
            Seen::Late
        }
    }

    pub(crate) fn highest(&self) -> Option<u32> {
        self.started.then_some(self.highest)
    }

    /// True when `seq` is below the highest number seen.
    pub(crate) fn is_behind(&self, seq: u32) -> bool {
        self.started && seq.wrapping_sub(self.highest) >= 1 << 31
    }

    /// How far below the highest `seq` is (0 when not below).
    pub(crate) fn behind_by(&self, seq: u32) -> u32 {
        if self.is_behind(seq) {
            self.highest.wrapping_sub(seq)
        } else {
            0
        }
    }
}

/// Loss figures of one stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LossCounts {
    /// Numbers received.
    pub received: u64,
    /// Numbers skipped and not (yet) filled by a late arrival.
    pub lost: u64,
    pub out_of_order: u64,
    pub duplicates: u64,
}

impl LossCounts {
    pub(crate) fn count(&mut self, seen: Seen) {
        self.received += 1;
        match seen {
            Seen::First | Seen::Next => {}
            Seen::Gap(n) => self.lost += u64::from(n),
            Seen::Late => {
                self.out_of_order += 1;
                self.lost = self.lost.saturating_sub(1);
            }
            Seen::TooOld => self.out_of_order += 1,
            Seen::Duplicate => {
                // A duplicate is not a new datagram.
                self.received -= 1;
                self.duplicates += 1;
            }
        }
    }

    pub(crate) fn add(&mut self, o: &LossCounts) {
        self.received += o.received;
        self.lost += o.lost;
        self.out_of_order += o.out_of_order;
        self.duplicates += o.duplicates;
    }
}

/// Uptime may go back this much between two datagrams before it means a restart (reordered
/// datagrams of one agent are normally milliseconds apart).
const RESTART_UPTIME_SLACK_MS: u32 = 1000;

/// The datagram stream of one (agent, sub-agent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AgentSeq {
    pub tracker: SeqTracker,
    pub last_uptime: u32,
    /// Bumped on each restart, so data sources know to start over.
    pub epoch: u32,
}

impl AgentSeq {
    /// Observe one datagram header. Returns what the sequence number meant and whether it
    /// marks a restart (in which case it was `First` of the new run).
    pub(crate) fn observe(&mut self, seq: u32, uptime_ms: u32) -> (Seen, bool) {
        let mut restarted = false;
        if let Some(_highest) = self.tracker.highest() {
            let went_back = uptime_ms < self.last_uptime
                && self.last_uptime - uptime_ms > RESTART_UPTIME_SLACK_MS;
            let seq_back_far = self.tracker.behind_by(seq) >= WINDOW;
            let seq_back = self.tracker.is_behind(seq) || seq == self.tracker.highest;
            if (went_back && seq_back) || (seq_back_far && uptime_ms < self.last_uptime) {
                self.tracker = SeqTracker::default();
                self.epoch = self.epoch.wrapping_add(1);
                restarted = true;
            }
        }
        let seen = self.tracker.observe(seq);
        if !matches!(seen, Seen::Late | Seen::Duplicate | Seen::TooOld) {
            self.last_uptime = uptime_ms;
        }
        (seen, restarted)
    }
}

/// The flow-sample stream of one data source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SourceSeq {
    pub tracker: SeqTracker,
    /// The agent epoch this state belongs to.
    pub epoch: u32,
    /// Last `drops` field (samples the agent itself dropped, cumulative).
    pub last_drops: Option<u32>,
}

impl SourceSeq {
    /// Observe one flow sample. Returns what its number meant and how many samples the
    /// agent newly reports having dropped.
    pub(crate) fn observe(&mut self, agent_epoch: u32, seq: u32, drops: u32) -> (Seen, u64) {
        if self.epoch != agent_epoch {
            *self = SourceSeq {
                epoch: agent_epoch,
                ..SourceSeq::default()
            };
        }
        let seen = self.tracker.observe(seq);
        let mut new_drops = 0;
        if !matches!(seen, Seen::Late | Seen::Duplicate | Seen::TooOld) {
            if let Some(last) = self.last_drops {
                // A counter that goes back was reset (agent restart the datagram header
                // did not reveal): start counting from the new value.
                if drops >= last {
                    new_drops = u64::from(drops - last);
                }
            }
            self.last_drops = Some(drops);
        }
        (seen, new_drops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seqs: &[u32]) -> LossCounts {
        let mut t = SeqTracker::default();
        let mut c = LossCounts::default();
        for &s in seqs {
            c.count(t.observe(s));
        }
        c
    }

    #[test]
    fn in_order_stream_has_no_loss() {
        let c = run(&[5, 6, 7, 8]);
        assert_eq!(
            c,
            LossCounts {
                received: 4,
                ..Default::default()
            }
        );
    }

    #[test]
    fn gaps_reorder_and_duplicates() {
        // 3 and 4 skipped; 4 arrives late; 6 duplicated.
        let c = run(&[1, 2, 5, 6, 4, 6, 7]);
        assert_eq!(c.received, 6);
        assert_eq!(c.lost, 1);
        assert_eq!(c.out_of_order, 1);
        assert_eq!(c.duplicates, 1);
    }

    #[test]
    fn duplicate_of_late_arrival_is_duplicate() {
        let c = run(&[1, 3, 2, 2]);
        assert_eq!(
            (c.received, c.lost, c.out_of_order, c.duplicates),
            (3, 0, 1, 1)
        );
    }

    #[test]
    fn wraps_at_u32() {
        let c = run(&[u32::MAX - 1, u32::MAX, 0, 2]);
        assert_eq!((c.received, c.lost), (4, 1));
    }

    #[test]
    fn far_behind_is_too_old() {
        let mut t = SeqTracker::default();
        t.observe(1000);
        assert_eq!(t.observe(100), Seen::TooOld);
        assert_eq!(t.observe(1000 - 63), Seen::Late);
        assert_eq!(t.observe(1200), Seen::Gap(199));
    }

    #[test]
    fn restart_is_not_loss() {
        let mut a = AgentSeq::default();
        let mut c = LossCounts::default();
        for (s, up) in [(100, 50_000), (101, 51_000), (1, 200), (2, 1_200)] {
            let (seen, _) = a.observe(s, up);
            c.count(seen);
        }
        assert_eq!(a.epoch, 1);
        assert_eq!(
            (c.received, c.lost, c.out_of_order, c.duplicates),
            (4, 0, 0, 0)
        );
    }

    #[test]
    fn reordering_is_not_restart() {
        let mut a = AgentSeq::default();
        let mut c = LossCounts::default();
        for (s, up) in [(10, 5_000), (12, 5_010), (11, 5_005), (13, 5_020)] {
            let (seen, restarted) = a.observe(s, up);
            assert!(!restarted);
            c.count(seen);
        }
        assert_eq!((c.received, c.lost, c.out_of_order), (4, 0, 1));
    }

    #[test]
    fn source_drops_and_restart() {
        let mut s = SourceSeq::default();
        assert_eq!(s.observe(0, 1, 10), (Seen::First, 0));
        assert_eq!(s.observe(0, 2, 15), (Seen::Next, 5));
        assert_eq!(s.observe(0, 5, 15), (Seen::Gap(2), 0));
        // Agent restarted: new epoch, counters start over.
        assert_eq!(s.observe(1, 1, 0), (Seen::First, 0));
        assert_eq!(s.observe(1, 2, 3), (Seen::Next, 3));
    }
}
