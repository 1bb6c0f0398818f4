//! The layout of a table's entries and the probe over them: where each field sits,
//! how a probe finds a flow's slot, and what an entry says about its flow.
//!
//! Layout. Entries live inline in one `Vec<u64>` (linear probing, at most half or a
//! quarter full), the array aligned to 64 bytes. Every entry holds the flow's identity:
//! the packed key followed by 5 bytes, the data source (all 32 bits) and a marker byte
//! whose bit 0 marks an occupied slot and bit 1 an IPv6 agent; `uport`'s 11 key bytes
//! leave exactly that room in its two words. What else an entry holds depends on the
//! definition:
//!
//! - **Start-only entries** (`flowStart` definitions, the seed's `uport` and its
//!   variants): the identity, an agent word and LAST, nothing else. Such a flow emits
//!   its one record when it opens, built from the opening sample and its probe, and never
//!   again (its idle expiry and eviction are silent), so the entry needs no value, start
//!   or receipt time: only what tells flows apart and when the flow was last seen (idle
//!   re-fire, least-recently-seen eviction). The agent word is an IPv4 agent's address,
//!   or for an IPv6 agent its index in the table's `AgentIntern` (the identity's family
//!   bit says which); fabric-scope tables leave it zero (the agent is not part of their
//!   flows). A `uport` entry is 32 bytes, so two share a cache line, and the slots are
//!   probed by line: a flow's home is the first slot of a line (`FlowTable::home`).
//!   Kept a quarter full ([`super::START_ONLY_LOAD_PERCENT`]), nearly every flow is in
//!   its home line, the one line [`FlowTable::prefetch`] loads: one line per update
//!   instead of two. Wider start-only entries are rounded up to 64 bytes (one line each).
//! - **Full entries** (every other definition): agent (two words), value, start, last,
//!   receipt time, then the identity; a one-key entry is 64 bytes, exactly one line
//!   (with 72-byte entries every entry straddled two lines, so a hit cost two misses);
//!   the table is kept half full ([`super::MAX_LOAD_PERCENT`]) and the home and the
//!   next slot are prefetched together.
//! - **Compact watched entries** (start-only entries of two identity words whose
//!   definition a threshold watches, at most [`super::COMPACT_MAX_THRESHOLDS`] of them):
//!   32 bytes like an unwatched `uport` entry ([`compact`]): the rate as two `f32`, LAST
//!   as 32 bits beside a 32-bit agent word, one fired bit per threshold in the marker
//!   byte, and the gates of fired flows in a map beside the table, so an update loads one
//!   line, as an unwatched one does. Other watched entries add whole metric words after
//!   the entry ([`metric_field`]).
//!
//! Each way a `uport` flow costs 128 bytes of table. A separate index, or an intrusive
//! LRU list (whose unlinking touches two more random entries per sample), would triple
//! the misses at a million flows; they are what decides the throughput there.

use super::{FlowTable, Probe};
use crate::flow::definition::Scope;
use crate::flow::key::{flow_hash, MAX_KEY_WORDS, SCOPE_BITS, SCOPE_V6};

/// Word offsets inside a compact watched entry: a start-only entry of two identity words
/// whose definition a threshold watches, kept in 32 bytes (half a line) like an unwatched
/// one, so that an update loads one line instead of two.
///
/// - words 0-1: the identity, as in every entry, with one bit per threshold in the spare
///   bits of the marker byte: set while that threshold is fired on the flow (the fired
///   gates themselves, rare, live in `FlowTable::fired_gates`);
/// - word 2: the agent word in the low 32 bits (an IPv4 address or an intern index), LAST
///   in the high 32 bits as the low 32 bits of its millisecond, so elapsed times are
///   exact while shorter than 2^31 ms (24 days; such tables have a shorter `idleTimeout`,
///   and the sweep removes a flow that long idle);
/// - word 3: the smoothed rate as two `f32` ([`crate::threshold::Rate`]: the sum in the
///   low half, the observed window in the high half), computed in `f64` and stored
///   rounded (the window upward, see `metric::pack_rate`; 6e-8 relative per update, far
///   under a threshold's own precision).
pub(super) mod compact {
    pub const TIME: usize = 2;
    pub const RATE: usize = 3;
    /// Low 32 bits of word 2: the agent word.
    pub const AGENT_BITS: u64 = 0xFFFF_FFFF;
    /// Longest `idleTimeout` a compact table can time: its 32-bit LAST must not wrap
    /// before the sweep removes an idle flow.
    pub const MAX_IDLE_MS: u64 = 1 << 30;
    /// Bit of the first fired bit in the 40 bits of scope and marker (`EXTRA_BITS`):
    /// the marker byte's bits 2..8.
    pub const FIRED_BIT: usize = 34;
}

/// Word offsets inside a full entry.
pub(super) mod field {
    /// The opening sample's agent address, two words.
    pub const AGENT: usize = 0;
    /// Scaled value accumulated since the flow (or its active interval) started.
    pub const VALUE: usize = 2;
    /// Start of the flow or of its current active interval, ms since the epoch.
    pub const START: usize = 3;
    /// Last sample, ms since the epoch.
    pub const LAST: usize = 4;
    /// Monotonic receipt time of the last sample's datagram.
    pub const RECEIVED: usize = 5;
    /// Identity words follow: packed key, then at bit `key bits` the data source (32 bits)
    /// and the marker byte (bit 0 occupied, bit 1 IPv6 agent). All zero in an empty slot.
    pub const IDENT: usize = 6;
}

/// Word offsets inside a start-only entry: the identity words first (as in a full
/// entry), then the agent word at `ident words` and LAST right after it.
pub(super) mod start_field {
    pub const IDENT: usize = 0;
}

/// Most identity words: the widest packed key plus the 5 bytes of scope and marker.
pub(super) const MAX_IDENT: usize = MAX_KEY_WORDS + 1;
/// Scope word and marker byte as they sit in the identity at bit `key bits`.
pub(super) const EXTRA_BITS: usize = 40;
/// A probe's agent word when its IPv6 agent's intern index is not known yet (looked up
/// when the update runs, since an earlier update of the batch may intern it).
pub(super) const UNRESOLVED: u64 = u64::MAX;

/// Word offsets inside the metric words that follow an entry of a definition a
/// threshold watches (`FlowTable::metric`).
pub(super) mod metric_field {
    /// The smoothed sum and observed time ([`crate::threshold::Rate`], f64 bits), as of
    /// LAST.
    pub const SUM: usize = 0;
    pub const WINDOW: usize = 1;
    /// One word per threshold: a [`crate::threshold::Gate`] (`byFlow`), or bit 63 while
    /// the flow is counted above in its scope's [`crate::threshold::Largest`].
    pub const GATES: usize = 2;
}

impl FlowTable {
    /// [`FlowTable::find`] for start-only entries of 32 bytes with two identity words
    /// (`uport` and every definition whose key packs in 11 bytes or less): the offsets
    /// are constants (identity 0-1, agent word 2) and the compare is three masked words,
    /// a third fewer instructions per update than the general loop. `STRIDE` is the
    /// entry's words: 4, or 8 when metric words follow.
    #[inline(always)]
    pub(super) fn find_half_line<const STRIDE: usize>(
        &self,
        probe: &Probe,
        agent: u64,
    ) -> Result<usize, usize> {
        let want = [probe.key.words[0], probe.key.words[1], agent];
        let mask = [self.same_mask[0], self.same_mask[1], self.agent_mask];
        let (occupied_word, occupied_bit) = (self.occupied_word, self.occupied_bit);
        let mut i = self.home(probe.hash);
        // At most half the slots are used, so an empty one ends every probe.
        loop {
            let at = self.base + i * STRIDE;
            let Some(e) = self.words.get(at..at + STRIDE) else {
                // Slot `i` < `slots` always lies inside `words`.
                return Err(i);
            };
            if e[occupied_word & 3] & occupied_bit == 0 {
                return Err(i);
            }
            let diff = ((e[0] ^ want[0]) & mask[0])
                | ((e[1] ^ want[1]) & mask[1])
                | ((e[2] ^ want[2]) & mask[2]);
            if diff == 0 {
                return Ok(i);
            }
            i = self.next(i);
        }
    }

    /// The slot holding the probe's flow (whose start-only agent word is `agent`), or
    /// the empty slot where it would go.
    #[inline]
    pub(super) fn find(&self, probe: &Probe, agent: u64) -> Result<usize, usize> {
        let mut i = self.home(probe.hash);
        // At most half the slots are used, so an empty one ends every probe.
        loop {
            let at = self.at(i);
            let e = &self.words[at..at + self.stride];
            if e[self.occupied_word] & self.occupied_bit == 0 {
                return Err(i);
            }
            if self.holds(e, probe, agent) {
                return Ok(i);
            }
            i = self.next(i);
        }
    }

    /// Whether the occupied entry `e` is the probe's flow.
    #[inline(always)]
    pub(super) fn holds(&self, e: &[u64], probe: &Probe, agent: u64) -> bool {
        let mask = &self.same_mask[..self.ident_words];
        // Differences OR-ed together, no early exit: the identity is two or three
        // words in one line, and branching per word costs more than comparing them.
        // Two words (`uport` and most definitions) get a straight-line compare.
        let ident = &e[self.ident_at..];
        let mut diff = if let ([a0, a1, ..], [m0, m1]) = (ident, mask) {
            ((a0 ^ probe.key.words[0]) & m0) | ((a1 ^ probe.key.words[1]) & m1)
        } else {
            let mut d = 0;
            for (k, (a, m)) in ident.iter().zip(mask).enumerate() {
                d |= (a ^ probe.ident(k)) & m;
            }
            d
        };
        if self.scope == Scope::Agent {
            diff |= if self.flow_start {
                (e[self.agent_at] ^ agent) & self.agent_bits
            } else {
                (e[field::AGENT] ^ probe.scope[0]) | (e[field::AGENT + 1] ^ probe.scope[1])
            };
        }
        diff == 0
    }

    pub(super) fn empty_slot(&self, hash: u64) -> usize {
        let mut i = self.home(hash);
        while self.occupied(self.at(i)) {
            i = self.next(i);
        }
        i
    }

    /// First word of slot `i`.
    #[inline]
    pub(super) fn at(&self, i: usize) -> usize {
        self.base + i * self.stride
    }

    /// The agent word of start-only entry `e` (without a compact entry's LAST).
    #[inline]
    pub(super) fn agent_word(&self, e: &[u64]) -> u64 {
        e[self.agent_at] & self.agent_bits
    }

    /// Milliseconds since the last sample of the entry at word `at`, 0 when the clock
    /// went back.
    #[inline]
    pub(super) fn idle_for(&self, at: usize, now_ms: u64) -> u64 {
        if self.compact {
            elapsed32(now_ms, self.words[at + compact::TIME])
        } else {
            now_ms.saturating_sub(self.words[at + self.last_at])
        }
    }

    /// The millisecond of the last sample of the entry at word `at` (a compact entry's
    /// from its elapsed time).
    #[inline]
    pub(super) fn last_ms(&self, at: usize, now_ms: u64) -> u64 {
        if self.compact {
            now_ms.saturating_sub(self.idle_for(at, now_ms))
        } else {
            self.words[at + self.last_at]
        }
    }

    /// Set LAST of the entry at word `at`.
    #[inline]
    pub(super) fn set_last(&mut self, at: usize, now_ms: u64) {
        if self.compact {
            let w = &mut self.words[at + compact::TIME];
            *w = (*w & compact::AGENT_BITS) | u64::from(now_ms as u32) << 32;
        } else {
            self.words[at + self.last_at] = now_ms;
        }
    }

    /// Whether the entry at word `at` holds a flow.
    #[inline]
    pub(super) fn occupied(&self, at: usize) -> bool {
        self.words[at + self.occupied_word] & self.occupied_bit != 0
    }

    /// Clear the scope and marker bits from packed key words.
    pub(super) fn mask_key(&self, key: &mut [u64; MAX_KEY_WORDS]) {
        let kw = self.key_words;
        if self.key_bits % 64 != 0 {
            key[kw - 1] &= (1u64 << (self.key_bits % 64)) - 1;
        }
        key[kw..].fill(0);
    }

    /// The packed key of entry `e`, without the scope and marker bits.
    pub(super) fn entry_key(&self, e: &[u64]) -> [u64; MAX_KEY_WORDS] {
        let mut key = [0; MAX_KEY_WORDS];
        let kw = self.key_words;
        key[..kw].copy_from_slice(&e[self.ident_at..self.ident_at + kw]);
        self.mask_key(&mut key);
        key
    }

    /// The scope words (agent, data source and family) of entry `e`. A start-only
    /// fabric-scope entry keeps no agent: its agent words are zero (its hash does not
    /// cover them, and its record was built when it opened).
    pub(super) fn entry_scope(&self, e: &[u64]) -> [u64; 3] {
        let ident = &e[self.ident_at..];
        let (w, off) = (self.key_bits / 64, self.key_bits % 64);
        let mut extra = ident[w] >> off;
        if off > 64 - EXTRA_BITS {
            extra |= ident[w + 1] << (64 - off);
        }
        let extra = extra & SCOPE_BITS;
        let [a0, a1] = if !self.flow_start {
            [e[field::AGENT], e[field::AGENT + 1]]
        } else if self.scope == Scope::Fabric {
            [0; 2]
        } else if extra & SCOPE_V6 != 0 {
            self.agents.addr(self.agent_word(e))
        } else {
            [self.agent_word(e), 0]
        };
        [a0, a1, extra]
    }

    /// The hash entry `e` was stored under, recomputed from its words.
    pub(super) fn hash_of(&self, e: &[u64]) -> u64 {
        let scope = self.entry_scope(e);
        let key = self.entry_key(e);
        flow_hash(
            self.seed,
            (self.scope == Scope::Agent).then_some(&scope),
            &key[..self.key_words],
        )
    }

    /// The words of slot `i`.
    pub(super) fn entry(&self, i: usize) -> &[u64] {
        let at = self.at(i);
        &self.words[at..at + self.stride]
    }

    /// Slot where a probe for `hash` starts: the low 32 bits scaled to the lines, the
    /// first slot of that line (the router uses the high 32 bits to pick the worker).
    #[inline]
    pub(super) fn home(&self, hash: u64) -> usize {
        let lines = (self.slots >> self.line_shift) as u64;
        ((((hash & 0xFFFF_FFFF) * lines) >> 32) as usize) << self.line_shift
    }

    #[inline]
    pub(super) fn next(&self, i: usize) -> usize {
        if i + 1 >= self.slots {
            0
        } else {
            i + 1
        }
    }

    /// Steps from slot `from` forward to slot `to`, wrapping.
    pub(super) fn distance(&self, from: usize, to: usize) -> usize {
        if to >= from {
            to - from
        } else {
            to + self.slots - from
        }
    }
}

/// Milliseconds from a compact entry's LAST (the high half of `word`, the low 32 bits of
/// its millisecond) to `now_ms`; 0 when the clock went back (within 2^31 ms), as the
/// saturating difference of full times is.
#[inline(always)]
pub(super) fn elapsed32(now_ms: u64, word: u64) -> u64 {
    let d = (now_ms as u32).wrapping_sub((word >> 32) as u32);
    // Top bit set (the clock went back): mask 0; else all ones.
    u64::from(d) & u64::from(d >> 31).wrapping_sub(1)
}

/// OR the low [`EXTRA_BITS`] bits of `v` into `words` at bit `bit`.
#[inline]
pub(super) fn put_bits(words: &mut [u64; MAX_IDENT], bit: usize, v: u64) {
    let (w, off) = (bit / 64, bit % 64);
    words[w] |= v << off;
    if off > 64 - EXTRA_BITS {
        words[w + 1] |= v >> (64 - off);
    }
}

#[inline]
pub(super) fn prefetch(p: *const u64) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults or reads into the program, and
    // `p` points into a live allocation anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
