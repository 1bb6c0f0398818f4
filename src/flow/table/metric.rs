//! The flow metric of a table whose definition a `[[threshold]]` watches: each entry's
//! smoothed rate and its thresholds' states, kept in metric words after the entry
//! ([`super::metric_field`]), and the threshold events they produce.
//!
//! A sample updates the rate ([`crate::threshold::Smoothing`]) and steps every threshold (the update runs
//! out of line, so a table without thresholds pays one predictable branch). Re-arming
//! needs no sample: the sweep that visits every slot once a second decays the rate of a
//! fired flow to now and steps its thresholds again. A flow that leaves the table (idle,
//! evicted, flushed) re-arms its thresholds, with an `end` event when asked.

use super::{metric_field, FlowTable, Probe, TableMetric, MAX_KEY_WORDS};
use crate::flow::definition::{Scope, ValueKind};
use crate::flow::group::unpack_columns;
use crate::flow::key::scope_from_words;
use crate::flow::FlowEvent;
use crate::record::WorkSample;
use crate::threshold::{Gate, Rate, Step, Threshold};

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
        self.step_all(at, &m.thresholds, rate, now_ms, &about, emit);
        self.metric = Some(m);
    }

    /// The sweep visits flow `i`: step the thresholds of a fired flow with its rate
    /// decayed to now (an idle flow's rate falls without samples).
    pub(super) fn sweep_metric(&mut self, i: usize, now_ms: u64, emit: &mut dyn FnMut(FlowEvent)) {
        let Some(m) = self.metric.take() else {
            return;
        };
        let at = self.at(i) + m.at;
        let n = m.thresholds.len();
        let fired = self
            .words
            .get(at + metric_field::GATES..at + metric_field::GATES + n)
            .is_some_and(|g| g.iter().any(|&w| Gate::fired(w)));
        if fired {
            let rate = self.rate_now(i, &m, now_ms);
            let about = self.about_entry(i);
            self.step_all(at, &m.thresholds, rate, now_ms, &about, emit);
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
        let any =
            (0..m.thresholds.len()).any(|k| Gate::fired(self.words[at + metric_field::GATES + k]));
        if any {
            let rate = self.rate_now(i, &m, now_ms).unwrap_or(0.0);
            let about = self.about_entry(i);
            for (k, t) in m.thresholds.iter().enumerate() {
                let gate = &mut self.words[at + metric_field::GATES + k];
                if !Gate::fired(*gate) {
                    continue;
                }
                *gate = 0;
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
        let last = self.words[self.at(i) + self.last_at];
        let r = self
            .words
            .get(at..at + metric_field::GATES)
            .map(read_rate)
            .unwrap_or_default();
        m.smoothing
            .per_second(m.smoothing.decay(r, now_ms.saturating_sub(last)))
    }

    /// Step every threshold of the flow whose metric words start at `at`, whose rate
    /// is `rate` (`None`: none yet, so nothing crosses).
    fn step_all(
        &mut self,
        at: usize,
        thresholds: &[Threshold],
        rate: Option<f64>,
        now_ms: u64,
        about: &About,
        emit: &mut dyn FnMut(FlowEvent),
    ) {
        let counts = rate.is_some();
        let rate = rate.unwrap_or(0.0);
        for (k, t) in thresholds.iter().enumerate() {
            let above = rate > t.value;
            let Some(gate) = self.words.get_mut(at + metric_field::GATES + k) else {
                continue;
            };
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
                let event = t
                    .largest
                    .up(scope, || self.crossing_event(t, about, rate, now_ms, false));
                if let Some(e) = event {
                    self.counters.crossings += 1;
                    emit(e);
                }
            } else if !above && counted {
                *gate = 0;
                t.largest.down(self.largest_key(about.scope), now_ms, rate);
            }
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

    #[test]
    fn metric_words_only_for_watched_definitions() {
        let uport = "name='uport'\nkeys='ipsource,ipdestination,icmpunreachableport'\nflowStart=true\nlog=true";
        assert_eq!(table(uport, &[]).entry_bytes(), 32);
        let watched = table(uport, &["name='x'\nmetric='uport'\nvalue=1\nbyFlow=true"]);
        assert_eq!(
            watched.entry_bytes(),
            64,
            "rate, count and one gate: one line"
        );
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
