//! The flow metric of a table whose definition a `[[threshold]]` watches: each entry's
//! smoothed rate and its thresholds' states, kept in metric words after the entry
//! ([`super::metric_field`]), and the threshold events they produce.
//!
//! A sample updates the rate ([`crate::threshold::Smoothing`]) and steps every threshold (the update runs
//! out of line, so a table without thresholds pays one predictable branch). Re-arming
//! needs no sample: the sweep that visits every slot once a second decays the rate of a
//! fired flow to now and steps its thresholds again. A flow that leaves the table (idle,
//! evicted, flushed) re-arms its thresholds, with an `end` event when asked.

use super::{compact, metric_field, FlowTable, Probe, TableMetric, MAX_KEY_WORDS};
use crate::flow::definition::{Scope, ValueKind};
use crate::flow::group::unpack_columns;
use crate::flow::key::scope_from_words;
use crate::flow::FlowEvent;
use crate::record::WorkSample;
use crate::threshold::{Gate, Rate, Step, Threshold, Up, MAX_PER_DEFINITION};

/// One flow's gate words, one per threshold of its definition.
type Gates = [u64; MAX_PER_DEFINITION];

/// Fired bits of a compact entry ([`compact`]), one per threshold.
const FIRED_MASK: u64 = (1 << super::COMPACT_MAX_THRESHOLDS) - 1;

/// The rate in a compact entry's rate word: two `f32`, sum low, window high.
#[inline]
fn unpack_rate(w: u64) -> Rate {
    Rate {
        sum: f64::from(f32::from_bits(w as u32)),
        window_s: f64::from(f32::from_bits((w >> 32) as u32)),
    }
}

/// [`unpack_rate`]'s inverse. The window is rounded up, never down: it only grows with
/// the time observed, and a rate exists once it reaches half of `t`
/// ([`crate::threshold::Smoothing::per_second`]); rounded down it could reach that a
/// sample late, rounded up it reaches it on the same sample as in `f64` (the error,
/// about 1e-7 per update, is far under what one millisecond more adds).
#[inline]
fn pack_rate(r: Rate) -> u64 {
    let mut window = r.window_s as f32;
    if f64::from(window) < r.window_s {
        // The next `f32` up: the window is never negative, so one more in its bits.
        window = f32::from_bits(window.to_bits() + 1);
    }
    u64::from((r.sum as f32).to_bits()) | u64::from(window.to_bits()) << 32
}

/// The rate stored in metric words `w` (at least [`metric_field::GATES`] long).
#[inline]
fn read_rate(w: &[u64]) -> Rate {
    Rate {
        sum: f64::from_bits(w[metric_field::SUM]),
        window_s: f64::from_bits(w[metric_field::WINDOW]),
    }
}

/// The value a sample adds to the rate: frames or bytes, a sampling rate of 0 counting
/// as 1 (a sample stands for at least itself).
#[inline]
pub(super) fn metric_value(kind: ValueKind, record: &WorkSample) -> u64 {
    let rate = u64::from(record.sampling_rate().max(1));
    match kind {
        ValueKind::Frames => rate,
        ValueKind::Bytes => u64::from(record.frame_length()) * rate,
    }
}

/// What a threshold event is about: the flow's packed key and scope words.
struct About {
    key: [u64; MAX_KEY_WORDS],
    scope: [u64; 3],
    received_ns: u64,
}

impl FlowTable {
    /// A sample of flow `i`, `since_ms` after its previous one: update the rate and, when
    /// a threshold may change state (the rate is above its value, or it is not armed),
    /// step the thresholds.
    #[inline(never)]
    pub(super) fn observe(
        &mut self,
        i: usize,
        since_ms: u64,
        probe: &Probe,
        record: &WorkSample,
        now_ms: u64,
        emit: &mut dyn FnMut(FlowEvent),
    ) {
        let entry = self.at(i);
        let Some(m) = self.metric.as_deref() else {
            return;
        };
        let at = entry + m.at;
        let value = metric_value(self.value, record);
        let end = at + metric_field::GATES + m.thresholds.len();
        let Some(words) = self.words.get_mut(at..end) else {
            return;
        };
        let r = m.smoothing.add(read_rate(words), since_ms, value);
        words[metric_field::SUM] = r.sum.to_bits();
        words[metric_field::WINDOW] = r.window_s.to_bits();
        let rate = m.smoothing.per_second(r);
        let gates = &words[metric_field::GATES..];
        let quiet = match rate {
            None => gates.iter().all(|&g| g == 0),
            Some(x) => m
                .thresholds
                .iter()
                .zip(gates)
                .all(|(t, &g)| g == 0 && x <= t.value),
        };
        if !quiet {
            self.observe_step(i, rate, probe, record, now_ms, emit);
        }
    }

    /// [`FlowTable::observe`] for a compact entry ([`compact`]): the rate in one word,
    /// whether a threshold is fired in the identity's fired bits, so the common case (no
    /// threshold fired, the rate under every value) touches only the entry's line.
    #[inline(never)]
    pub(super) fn observe_compact(
        &mut self,
        i: usize,
        since_ms: u64,
        probe: &Probe,
        record: &WorkSample,
        now_ms: u64,
        emit: &mut dyn FnMut(FlowEvent),
    ) {
        let Some(m) = self.metric.as_deref() else {
            return;
        };
        let at = self.at(i);
        let value = metric_value(self.value, record);
        let (fired_word, fired_shift) = (self.fired_word, self.fired_shift);
        let Some(e) = self.words.get_mut(at..at + compact::RATE + 1) else {
            return;
        };
        let r = m
            .smoothing
            .add(unpack_rate(e[compact::RATE]), since_ms, value);
        e[compact::RATE] = pack_rate(r);
        let fired = e[fired_word] >> fired_shift & FIRED_MASK;
        let rate = m.smoothing.per_second(r);
        let quiet = fired == 0 && rate.is_none_or(|x| x <= m.min_value);
        if !quiet {
            self.observe_step(i, rate, probe, record, now_ms, emit);
        }
    }

    /// [`FlowTable::observe`]'s threshold steps.
    #[inline(never)]
    fn observe_step(
        &mut self,
        i: usize,
        rate: Option<f64>,
        probe: &Probe,
        record: &WorkSample,
        now_ms: u64,
        emit: &mut dyn FnMut(FlowEvent),
    ) {
        let Some(m) = self.metric.take() else {
            return;
        };
        let at = self.at(i) + m.at;
        let mut key = probe.key.words;
        self.mask_key(&mut key);
        let about = About {
            key,
            scope: probe.scope,
            received_ns: record.received_ns,
        };
        self.step_all(i, at, &m.thresholds, rate, now_ms, &about, emit);
        self.metric = Some(m);
    }

    /// The gate words of flow `i`, whose metric words start at `at`, for `n` thresholds.
    fn gates(&self, i: usize, at: usize, n: usize) -> Gates {
        let mut g = [0; MAX_PER_DEFINITION];
        if self.compact {
            if self.fired_bits(i) != 0 {
                if let Some(stored) = self.fired_gates.get(&self.gate_key(i)) {
                    g = *stored;
                }
            }
        } else if let Some(words) = self
            .words
            .get(at + metric_field::GATES..at + metric_field::GATES + n)
        {
            g[..n].copy_from_slice(words);
        }
        g
    }

    /// Store flow `i`'s gate words (see [`FlowTable::gates`]).
    fn set_gates(&mut self, i: usize, at: usize, n: usize, g: &Gates) {
        if self.compact {
            let fired = g
                .iter()
                .enumerate()
                .fold(0, |f, (k, &w)| f | u64::from(Gate::fired(w)) << k);
            let key = self.gate_key(i);
            let shift = self.fired_shift;
            let word = self.at(i) + self.fired_word;
            let w = &mut self.words[word];
            *w = (*w & !(FIRED_MASK << shift)) | fired << shift;
            if fired == 0 {
                self.fired_gates.remove(&key);
            } else {
                self.fired_gates.insert(key, *g);
            }
        } else if let Some(words) = self
            .words
            .get_mut(at + metric_field::GATES..at + metric_field::GATES + n)
        {
            words.copy_from_slice(&g[..n]);
        }
    }

    /// A compact entry's fired bits.
    pub(super) fn fired_bits(&self, i: usize) -> u64 {
        self.words[self.at(i) + self.fired_word] >> self.fired_shift & FIRED_MASK
    }

    /// Whether a threshold is fired on flow `i` (metric words at `at`, `n` thresholds).
    fn any_fired(&self, i: usize, at: usize, n: usize) -> bool {
        if self.compact {
            return self.fired_bits(i) != 0;
        }
        self.words
            .get(at + metric_field::GATES..at + metric_field::GATES + n)
            .is_some_and(|g| g.iter().any(|&w| Gate::fired(w)))
    }

    /// What tells a compact entry's flow apart in [`FlowTable::fired_gates`]: its identity
    /// words and agent word, as the table compares them (without the fired bits).
    pub(super) fn gate_key(&self, i: usize) -> [u64; 3] {
        let e = self.entry(i);
        [
            e[0] & self.same_mask[0],
            e[1] & self.same_mask[1],
            self.agent_word(e) & self.agent_mask,
        ]
    }

    /// The sweep visits flow `i`: step the thresholds of a fired flow with its rate
    /// decayed to now (an idle flow's rate falls without samples).
    pub(super) fn sweep_metric(&mut self, i: usize, now_ms: u64, emit: &mut dyn FnMut(FlowEvent)) {
        let Some(m) = self.metric.take() else {
            return;
        };
        let at = self.at(i) + m.at;
        if self.any_fired(i, at, m.thresholds.len()) {
            let rate = self.rate_now(i, &m, now_ms);
            let about = self.about_entry(i);
            self.step_all(i, at, &m.thresholds, rate, now_ms, &about, emit);
        }
        self.metric = Some(m);
    }

    /// Flow `i` leaves the table: every threshold fired on it re-arms (an `end` event
    /// when asked), and it stops counting in its largest-flow scopes.
    pub(super) fn retire_metric(&mut self, i: usize, now_ms: u64, emit: &mut dyn FnMut(FlowEvent)) {
        let Some(m) = self.metric.take() else {
            return;
        };
        let at = self.at(i) + m.at;
        let n = m.thresholds.len();
        if self.any_fired(i, at, n) {
            let rate = self.rate_now(i, &m, now_ms).unwrap_or(0.0);
            let about = self.about_entry(i);
            let gates = self.gates(i, at, n);
            self.set_gates(i, at, n, &[0; MAX_PER_DEFINITION]);
            for (t, &gate) in m.thresholds.iter().zip(&gates) {
                if !Gate::fired(gate) {
                    continue;
                }
                if t.by_flow {
                    if t.end {
                        self.emit_crossing(t, &about, rate, now_ms, true, emit);
                    }
                } else {
                    t.largest.down(self.largest_key(about.scope), now_ms, rate);
                }
            }
        }
        self.metric = Some(m);
    }

    /// Re-arm the largest-flow thresholds whose scopes have been under their value for
    /// their timeout (at most once a sweep interval; every worker's table shares the
    /// scopes, and the first to find one due sends its `end` event).
    pub(super) fn rearm_largest(&mut self, now_ms: u64, emit: &mut dyn FnMut(FlowEvent)) {
        let Some(mut m) = self.metric.take() else {
            return;
        };
        if now_ms.saturating_sub(m.last_rearm_ms) >= super::SWEEP_MS {
            m.last_rearm_ms = now_ms;
            for t in m.thresholds.iter().filter(|t| !t.by_flow) {
                t.largest.rearm(now_ms, t.timeout_ms, &mut |mut e, value| {
                    if t.end {
                        e.flow_id = super::next_flow_id();
                        e.value = value;
                        e.start_ms = now_ms;
                        e.end_ms = now_ms;
                        e.event_id ^= 1;
                        e.threshold = Some(t.crossing(true));
                        self.counters.crossings += 1;
                        emit(e);
                    }
                });
            }
        }
        self.metric = Some(m);
    }

    /// Flow `i`'s rate decayed to `now_ms` (`None`: not observed long enough).
    fn rate_now(&self, i: usize, m: &TableMetric, now_ms: u64) -> Option<f64> {
        let at = self.at(i) + m.at;
        let r = if self.compact {
            unpack_rate(self.words[at])
        } else {
            self.words
                .get(at..at + metric_field::GATES)
                .map(read_rate)
                .unwrap_or_default()
        };
        let idle = self.idle_for(self.at(i), now_ms);
        m.smoothing.per_second(m.smoothing.decay(r, idle))
    }

    /// Step every threshold of flow `i`, whose metric words start at `at` and whose rate
    /// is `rate` (`None`: none yet, so nothing crosses).
    #[allow(clippy::too_many_arguments)]
    fn step_all(
        &mut self,
        i: usize,
        at: usize,
        thresholds: &[Threshold],
        rate: Option<f64>,
        now_ms: u64,
        about: &About,
        emit: &mut dyn FnMut(FlowEvent),
    ) {
        let counts = rate.is_some();
        let rate = rate.unwrap_or(0.0);
        let n = thresholds.len();
        let mut gates = self.gates(i, at, n);
        let before = gates;
        for (t, gate) in thresholds.iter().zip(gates.iter_mut()) {
            let above = rate > t.value;
            if t.by_flow {
                match Gate::step(gate, above, counts, now_ms, t.timeout_ms) {
                    Step::Fire => self.emit_crossing(t, about, rate, now_ms, false, emit),
                    Step::Rearm if t.end => self.emit_crossing(t, about, rate, now_ms, true, emit),
                    _ => {}
                }
                continue;
            }
            let counted = Gate::fired(*gate);
            if above && counts && !counted {
                *gate = Gate::FIRED;
                let scope = self.largest_key(about.scope);
                match t
                    .largest
                    .up(scope, || self.crossing_event(t, about, rate, now_ms, false))
                {
                    Up::Fire(e) => {
                        self.counters.crossings += 1;
                        emit(e);
                    }
                    Up::Counted => {}
                    Up::Refused => self.counters.scopes_refused += 1,
                }
            } else if !above && counted {
                *gate = 0;
                t.largest.down(self.largest_key(about.scope), now_ms, rate);
            }
        }
        if gates != before {
            self.set_gates(i, at, n, &gates);
        }
    }

    /// The scope a largest-flow threshold crosses in: the flow's agent and data source
    /// in `agent` scope, the whole fabric (all zero) in `fabric` scope.
    fn largest_key(&self, scope: [u64; 3]) -> [u64; 3] {
        match self.scope {
            Scope::Agent => scope,
            Scope::Fabric => [0; 3],
        }
    }

    /// What a threshold event about entry `i` says: its key and scope (a start-only
    /// fabric-scope entry keeps no agent: 0.0.0.0 then).
    fn about_entry(&self, i: usize) -> About {
        let e = self.entry(i);
        let received_ns = if self.flow_start {
            0
        } else {
            e[super::field::RECEIVED]
        };
        About {
            key: self.entry_key(e),
            scope: self.entry_scope(e),
            received_ns,
        }
    }

    fn emit_crossing(
        &mut self,
        t: &Threshold,
        about: &About,
        rate: f64,
        now_ms: u64,
        end: bool,
        emit: &mut dyn FnMut(FlowEvent),
    ) {
        self.counters.crossings += 1;
        emit(self.crossing_event(t, about, rate, now_ms, end));
    }

    /// The event of threshold `t` crossing (or re-arming, `end`) on a flow.
    fn crossing_event(
        &self,
        t: &Threshold,
        about: &About,
        rate: f64,
        now_ms: u64,
        end: bool,
    ) -> FlowEvent {
        let keys = unpack_columns(&about.key[..self.key_words], &self.keys, &self.columns)
            .unwrap_or_default();
        let (agent, data_source) = scope_from_words(about.scope);
        // Unique per flow, crossing time and direction; equal at two collectors only
        // when their clocks agree to the millisecond.
        let mut opening = now_ms << 1 | u64::from(end);
        for w in &about.key[..self.key_words] {
            opening = crate::hash::fmix64(opening ^ w);
        }
        FlowEvent {
            flow_id: super::next_flow_id(),
            name: t.name.clone(),
            keys,
            separator: self.separator.clone(),
            value: rate,
            start_ms: now_ms,
            end_ms: now_ms,
            agent,
            data_source,
            received_ns: about.received_ns,
            event_id: crate::flow::event::event_id(&t.name, agent, data_source, opening),
            threshold: Some(t.crossing(end)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::flow::definition::{FlowDefinition, FlowSpec};
    use crate::record::SampleRecord;
    use crate::threshold::ThresholdSpec;

    const T0: u64 = 1_764_000_000_000;

    /// A definition (TOML) with the thresholds (TOML each) on it.
    fn table(def: &str, thresholds: &[&str]) -> FlowTable {
        let spec: FlowSpec = toml::from_str(def).unwrap();
        let d = FlowDefinition::from_spec(&spec).unwrap();
        let ts: Vec<Threshold> = thresholds
            .iter()
            .map(|t| {
                let spec: ThresholdSpec = toml::from_str(t).unwrap();
                Threshold::from_spec(&spec, &[(&d.name, d.max_entries)]).unwrap()
            })
            .collect();
        let d = d.with_thresholds(&ts);
        FlowTable::new(&d, d.max_entries, 7)
    }

    /// A sample of the flow to `target` (`ipsource` of an unreachable fixture) from
    /// `agent`, sampled 1 in 1000.
    fn sample(agent: &str, target: u32) -> SampleRecord {
        SampleRecord::port_unreachable(
            agent.parse().unwrap(),
            Ipv4Addr::from(target),
            Ipv4Addr::new(198, 51, 100, 7),
            53,
        )
        .with_sampling_rate(1000)
    }

    /// Feed `per_s` samples a second of `record` for `ms` from `*now` (tick every ms).
    fn stream(
        t: &mut FlowTable,
        record: &SampleRecord,
        per_s: u64,
        ms: u64,
        now: &mut u64,
        out: &mut Vec<FlowEvent>,
    ) {
        let step = 1000 / per_s;
        let end = *now + ms;
        while *now < end {
            *now += step;
            t.sample(record, *now, &mut |e| out.push(e));
            t.tick(*now, &mut |e| out.push(e));
        }
    }

    fn idle(t: &mut FlowTable, ms: u64, now: &mut u64, out: &mut Vec<FlowEvent>) {
        let end = *now + ms;
        while *now < end {
            *now += 10;
            t.tick(*now, &mut |e| out.push(e));
        }
    }

    fn crossings(events: &[FlowEvent]) -> Vec<(&str, bool, u64)> {
        events
            .iter()
            .filter_map(|e| {
                let c = e.threshold.as_ref()?;
                Some((&*e.name, c.end, e.value as u64))
            })
            .collect()
    }

    const FLOOD: &str = "name='flood'\nkeys='ipsource'\nvalue='frames'\nidleTimeout=600";

    #[test]
    fn burst_fires_once_rearms_after_the_timeout_and_ends_when_asked() {
        let mut t = table(
            FLOOD,
            &["name='udpflood'\nmetric='flood'\nvalue=100000\nbyFlow=true\ntimeout=5\nend=true"],
        );
        let r = sample("10.3.0.1", 0xC000_0237);
        let (mut now, mut out) = (T0, Vec::new());
        // 50 samples/s x 1000 = 50 000 frames/s: under the value.
        stream(&mut t, &r, 50, 10_000, &mut now, &mut out);
        assert!(crossings(&out).is_empty(), "{out:?}");
        // A burst at 200 000 frames/s: one event, none more while it lasts.
        stream(&mut t, &r, 200, 10_000, &mut now, &mut out);
        let c = crossings(&out);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!((c[0].0, c[0].1), ("udpflood", false));
        assert!((100_000..=120_000).contains(&c[0].2), "{c:?}");
        let e = &out[0];
        assert_eq!(e.flow_keys(), "192.0.2.55");
        assert_eq!((e.agent.to_string(), e.data_source), ("10.3.0.1".into(), 3));
        // Back to 50 000/s: the rate falls under the value within a few t; after the
        // 5 s timeout the threshold re-arms with an end event, and nothing else.
        stream(&mut t, &r, 50, 4_000, &mut now, &mut out);
        assert_eq!(crossings(&out).len(), 1, "not before the timeout");
        stream(&mut t, &r, 50, 6_000, &mut now, &mut out);
        let c = crossings(&out);
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(c[1].1 && c[1].2 < 100_000, "{c:?}");
        // Re-armed: the next burst fires again.
        stream(&mut t, &r, 200, 5_000, &mut now, &mut out);
        assert_eq!(crossings(&out).len(), 3);
        assert_eq!(t.counters().crossings, 3);
        // A flow that stops re-arms from the sweep alone (its rate decays without samples).
        idle(&mut t, 8_000, &mut now, &mut out);
        let c = crossings(&out);
        assert_eq!(c.len(), 4, "{c:?}");
        assert!(c[3].1);
    }

    #[test]
    fn without_end_the_rearm_is_silent_and_one_sample_never_fires() {
        let mut t = table(
            FLOOD,
            &["name='udpflood'\nmetric='flood'\nvalue=100000\nbyFlow=true\ntimeout=1"],
        );
        // One sample standing for 10^9 frames is one observation: no rate, no event.
        let huge = sample("10.3.0.1", 1).with_sampling_rate(1_000_000_000);
        let mut out = Vec::new();
        t.sample(&huge, T0, &mut |e| out.push(e));
        idle(&mut t, 3_000, &mut T0.clone(), &mut out);
        assert!(out.is_empty(), "{out:?}");
        let r = sample("10.3.0.1", 2);
        let (mut now, mut out) = (T0, Vec::new());
        stream(&mut t, &r, 200, 5_000, &mut now, &mut out);
        idle(&mut t, 10_000, &mut now, &mut out);
        stream(&mut t, &r, 200, 5_000, &mut now, &mut out);
        let c = crossings(&out);
        assert_eq!(c.iter().filter(|c| c.1).count(), 0, "{c:?}");
        assert_eq!(c.len(), 2, "fired, re-armed silently, fired again: {c:?}");
    }

    #[test]
    fn sampling_rate_zero_counts_as_one() {
        let mut t = table(FLOOD, &["name='x'\nmetric='flood'\nvalue=150\nbyFlow=true"]);
        let r = sample("10.3.0.1", 1).with_sampling_rate(0);
        let (mut now, mut out) = (T0, Vec::new());
        // 200 samples/s standing for one frame each: 200 frames/s, above 150.
        stream(&mut t, &r, 200, 10_000, &mut now, &mut out);
        let c = crossings(&out);
        assert_eq!(c.len(), 1, "{c:?}");
        assert!((190..=210).contains(&c[0].2), "{c:?}");
    }

    #[test]
    fn largest_flow_crosses_once_per_scope() {
        let mut t = table(
            FLOOD,
            &["name='top'\nmetric='flood'\nvalue=100000\ntimeout=2\nend=true"],
        );
        let (a, b) = (sample("10.3.0.1", 1), sample("10.3.0.1", 2));
        let other_agent = sample("10.3.0.2", 1);
        let (mut now, mut out) = (T0, Vec::new());
        for _ in 0..2000 {
            now += 5;
            for r in [&a, &b, &other_agent] {
                t.sample(r, now, &mut |e| out.push(e));
            }
            t.tick(now, &mut |e| out.push(e));
        }
        let c = crossings(&out);
        assert_eq!(c.len(), 2, "one per agent: {c:?}");
        idle(&mut t, 10_000, &mut now, &mut out);
        let c = crossings(&out);
        assert_eq!(c.iter().filter(|c| c.1).count(), 2, "{c:?}");
    }

    /// The same samples through a compact table ([`compact`]: two thresholds) and a
    /// full-width one (the same two plus five out of reach, too many for the fired bits)
    /// give the same crossings at the same times; only the values differ, by the
    /// compact rate's `f32` rounding.
    #[test]
    fn compact_entries_cross_as_full_width_ones() {
        let def = "name='u'\nkeys='ipsource'\nflowStart=true\nidleTimeout=5";
        let watch = [
            "name='a'\nmetric='u'\nvalue=90000\nbyFlow=true\ntimeout=2\nend=true",
            "name='b'\nmetric='u'\nvalue=130000\ntimeout=2\nend=true",
        ];
        let never: Vec<String> = (0..5)
            .map(|k| format!("name='n{k}'\nmetric='u'\nvalue=1e18\nbyFlow=true\nend=true"))
            .collect();
        let wide: Vec<&str> = watch
            .iter()
            .copied()
            .chain(never.iter().map(|t| t.as_str()))
            .collect();
        let mut tables = [table(def, &watch), table(def, &wide)];
        assert!(tables[0].compact && !tables[1].compact);
        let mut out = [Vec::new(), Vec::new()];
        let mut now = T0;
        // Flow f (of 8) gets a sample every f+1 ticks of 5 ms, 1000 frames each:
        // 200 000, 100 000, 66 667, ... frames/s. From 10 s on, the even flows stop
        // (their rates decay, thresholds re-arm, the flows expire); from 20 s, all
        // flows run again.
        for tick in 0..6000u64 {
            now += 5;
            for f in 0..8u64 {
                let stopped = (2000..4000).contains(&tick) && f % 2 == 0;
                if tick % (f + 1) == 0 && !stopped {
                    let r = sample("10.3.0.1", 0xC000_0200 + f as u32);
                    for (t, o) in tables.iter_mut().zip(out.iter_mut()) {
                        t.sample(&r, now, &mut |e| o.push(e));
                    }
                }
            }
            if tick % 2 == 0 {
                for (t, o) in tables.iter_mut().zip(out.iter_mut()) {
                    t.tick(now, &mut |e| o.push(e));
                }
            }
        }
        let summary = |events: &[FlowEvent]| -> Vec<(String, bool, String, u64, f64)> {
            events
                .iter()
                .filter_map(|e| {
                    let c = e.threshold.as_ref()?;
                    Some((
                        e.name.to_string(),
                        c.end,
                        e.flow_keys(),
                        e.start_ms,
                        e.value,
                    ))
                })
                .collect()
        };
        let (c, w) = (summary(&out[0]), summary(&out[1]));
        assert!(c.len() >= 6 && c.iter().any(|e| e.1), "{c:?}");
        assert_eq!(c.len(), w.len(), "{c:?}\n{w:?}");
        for (a, b) in c.iter().zip(&w) {
            assert_eq!(
                (&a.0, a.1, &a.2, a.3),
                (&b.0, b.1, &b.2, b.3),
                "{c:?}\n{w:?}"
            );
            assert!((a.4 - b.4).abs() <= 1e-4 * b.4.max(1.0), "{a:?} {b:?}");
        }
        assert!(tables[0].fired_gates.len() <= tables[0].len());
    }

    /// A compact entry's LAST is the low 32 bits of its millisecond: elapsed times stay
    /// exact across the wrap, and a clock that goes back is no idle time.
    #[test]
    fn compact_last_seen_across_the_32_bit_wrap() {
        let uport = "name='u'\nkeys='ipsource,ipdestination,icmpunreachableport'\nflowStart=true\nlog=true\nidleTimeout=5";
        let mut t = table(uport, &["name='x'\nmetric='u'\nvalue=1e12\nbyFlow=true"]);
        assert!(t.compact);
        let wrap = ((T0 >> 32) + 1) << 32;
        let r = sample("10.3.0.1", 1);
        let mut out = Vec::new();
        let mut at = |t: &mut FlowTable, now: u64| {
            let before = out.len();
            t.sample(&r, now, &mut |e| out.push(e));
            t.tick(now, &mut |e| out.push(e));
            out.len() - before
        };
        assert_eq!(at(&mut t, wrap - 1000), 1, "opens");
        assert_eq!(
            at(&mut t, wrap + 3000),
            0,
            "4 s later, across the wrap: not idle"
        );
        assert_eq!(at(&mut t, wrap + 1000), 0, "the clock went back: not idle");
        assert_eq!(
            at(&mut t, wrap + 9000),
            1,
            "6 s idle: expired and opened again"
        );
        assert_eq!(t.counters().expired, 1);
    }

    /// A largest-flow threshold tracks at most `maxEntries` scopes (fired ones stay until
    /// they re-arm, after their flows are gone); a flow above its value in one scope more
    /// is counted as refused and never fires, in both layouts.
    #[test]
    fn scopes_beyond_the_bound_are_counted() {
        for def in [
            "name='f'\nkeys='ipsource'\nmaxEntries=2\nidleTimeout=600",
            "name='f'\nkeys='ipsource'\nmaxEntries=2\nflowStart=true\nidleTimeout=600",
        ] {
            let mut t = table(def, &["name='top'\nmetric='f'\nvalue=1000"]);
            let (mut now, mut out) = (T0, Vec::new());
            // Two agents' flows fire their scopes; then a third agent's flow, which
            // evicts one of theirs, is above in a third scope while both wait to re-arm.
            for agents in [&["10.3.0.1", "10.3.0.2"][..], &["10.3.0.3"]] {
                let records: Vec<SampleRecord> = agents.iter().map(|a| sample(a, 1)).collect();
                for _ in 0..300 {
                    now += 10;
                    for r in &records {
                        t.sample(r, now, &mut |e| out.push(e));
                    }
                }
            }
            assert_eq!(crossings(&out).len(), 2, "{def}: {out:?}");
            assert_eq!(t.counters().scopes_refused, 1, "{def}");
        }
    }

    #[test]
    fn metric_words_only_for_watched_definitions() {
        let uport = "name='uport'\nkeys='ipsource,ipdestination,icmpunreachableport'\nflowStart=true\nlog=true";
        assert_eq!(table(uport, &[]).entry_bytes(), 32);
        let watched = table(uport, &["name='x'\nmetric='uport'\nvalue=1\nbyFlow=true"]);
        assert_eq!(
            watched.entry_bytes(),
            32,
            "compact: agent and LAST in one word, the rate in one, a fired bit"
        );
        // Seven thresholds do not fit the fired bits, an idle timeout past 2^30 ms not
        // the 32-bit LAST: rate, window and a gate per threshold in whole words.
        let seven: Vec<String> = (0..7)
            .map(|k| format!("name='x{k}'\nmetric='uport'\nvalue=1\nbyFlow=true"))
            .collect();
        let seven: Vec<&str> = seven.iter().map(|t| t.as_str()).collect();
        assert_eq!(table(uport, &seven).entry_bytes(), 13 * 8);
        let long = format!("{uport}\nidleTimeout=2000000");
        let watched_long = table(&long, &["name='x'\nmetric='uport'\nvalue=1\nbyFlow=true"]);
        assert_eq!(watched_long.entry_bytes(), 64);
        assert_eq!(table(FLOOD, &[]).entry_bytes(), 64);
        // flowStart still reports each key once, thresholds or not.
        let mut t = table(uport, &["name='x'\nmetric='uport'\nvalue=1\nbyFlow=true"]);
        let mut out = Vec::new();
        let r = sample("10.3.0.1", 1);
        for i in 0..300 {
            t.sample(&r, T0 + i * 10, &mut |e| out.push(e));
        }
        assert_eq!(out.iter().filter(|e| e.threshold.is_none()).count(), 1);
        assert_eq!(crossings(&out).len(), 1);
    }
}
