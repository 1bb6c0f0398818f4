//! Interface metrics from counter samples, and the thresholds on them.
//!
//! sFlow-RT's interface metrics are per-second rates: `ifinoctets` and `ifoutoctets`
//! (bytes/s), `ifinutilization` and `ifoututilization` (percent of `ifSpeed`),
//! `ifinpkts` and `ifoutpkts` (unicast + multicast + broadcast packets/s), and the
//! errors and discards per second. Each comes from the difference between two successive
//! counter samples of one interface (agent and ifIndex) over the time between them, taken
//! from the agent's own uptime (the counters were read on its clock, so queueing on the
//! way does not bend the rate).
//!
//! Bad input never makes a spike: a sample whose sequence number is not newer than the
//! last one (duplicated, or late) is skipped; a sample whose sequence number and uptime
//! both went back is an agent restart and becomes the new baseline, as does one whose
//! counters went back (a counter reset or wrap): no value that interval. An interface
//! whose `ifSpeed` is 0 has no utilization. Each case is counted ([`InterfaceStats`]).
//! A threshold needs two values of the metric before it fires.
//!
//! Only interfaces are tracked when a threshold names an interface metric, at most
//! [`MAX_INTERFACES`] of them; an interface beyond is counted and left out, and an
//! interface silent for [`FORGET_MS`] is forgotten when room is needed. This runs on the
//! run loop's thread, which drains the receive threads' interface queues
//! ([`crate::rx::interfaces`]); its events go to the sinks through a ring of their own.

use std::net::IpAddr;

use super::{Gate, Metric, Step, Threshold};
use crate::flow::event::event_id;
use crate::flow::FlowEvent;
use crate::hash::KeyedMap;
use crate::rx::interfaces::InterfaceCounters;
use crate::sflow::GenericInterface;

/// Most interfaces whose metrics are kept.
pub const MAX_INTERFACES: usize = 65_536;
/// An interface without a counter sample this long may be forgotten to make room.
pub const FORGET_MS: u64 = 300_000;
/// A sample whose sequence number and uptime are behind the last one's by at most these
/// is late (reordered on the way); further behind, the agent restarted.
const LATE_SAMPLES: u32 = 64;
const LATE_MS: u32 = 600_000;

/// An interface metric, in sFlow-RT's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfMetric {
    InOctets,
    OutOctets,
    InUtilization,
    OutUtilization,
    InPkts,
    OutPkts,
    InErrors,
    OutErrors,
    InDiscards,
    OutDiscards,
}

impl IfMetric {
    pub const ALL: [IfMetric; 10] = [
        IfMetric::InOctets,
        IfMetric::OutOctets,
        IfMetric::InUtilization,
        IfMetric::OutUtilization,
        IfMetric::InPkts,
        IfMetric::OutPkts,
        IfMetric::InErrors,
        IfMetric::OutErrors,
        IfMetric::InDiscards,
        IfMetric::OutDiscards,
    ];

    pub fn name(self) -> &'static str {
        match self {
            IfMetric::InOctets => "ifinoctets",
            IfMetric::OutOctets => "ifoutoctets",
            IfMetric::InUtilization => "ifinutilization",
            IfMetric::OutUtilization => "ifoututilization",
            IfMetric::InPkts => "ifinpkts",
            IfMetric::OutPkts => "ifoutpkts",
            IfMetric::InErrors => "ifinerrors",
            IfMetric::OutErrors => "ifouterrors",
            IfMetric::InDiscards => "ifindiscards",
            IfMetric::OutDiscards => "ifoutdiscards",
        }
    }

    pub fn from_name(name: &str) -> Option<IfMetric> {
        IfMetric::ALL.into_iter().find(|m| m.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What the interface metrics counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterfaceStats {
    /// Interfaces tracked now.
    pub interfaces: u64,
    /// Counter samples of interfaces left out by [`MAX_INTERFACES`].
    pub refused: u64,
    /// Samples skipped as duplicated or late (sequence number not newer).
    pub out_of_order: u64,
    /// Samples that became a new baseline: the agent restarted or a counter went back.
    pub restarts: u64,
    /// Utilizations not computed because `ifSpeed` was 0.
    pub no_speed: u64,
    /// Threshold events produced (delivered or dropped).
    pub events: u64,
}

/// One interface's last sample and its thresholds' states.
struct State {
    sequence: u32,
    uptime_ms: u32,
    counters: GenericInterface,
    /// Values computed per metric (saturating), for "two observations".
    observed: [u8; 10],
    /// One gate per interface threshold, in [`InterfaceMetrics::thresholds`] order.
    gates: Box<[u64]>,
    seen_ms: u64,
}

/// Interface metrics and their thresholds.
pub struct InterfaceMetrics {
    thresholds: Vec<Threshold>,
    states: KeyedMap<(IpAddr, u32), State>,
    stats: InterfaceStats,
    last_forget_ms: u64,
}

impl InterfaceMetrics {
    /// Metrics for the interface thresholds among `thresholds` (the others are ignored).
    pub fn new(thresholds: &[Threshold]) -> InterfaceMetrics {
        InterfaceMetrics {
            thresholds: interface_only(thresholds),
            states: KeyedMap::default(),
            stats: InterfaceStats::default(),
            last_forget_ms: 0,
        }
    }

    /// Use `thresholds` from now on (a reload): a threshold that is unchanged keeps its
    /// state on every interface; a new or changed one starts armed.
    pub fn set_thresholds(&mut self, thresholds: &[Threshold]) {
        let new = interface_only(thresholds);
        let map: Vec<Option<usize>> = new
            .iter()
            .map(|t| self.thresholds.iter().position(|o| o.same(t)))
            .collect();
        for s in self.states.values_mut() {
            let gates = map
                .iter()
                .map(|old| old.and_then(|i| s.gates.get(i).copied()).unwrap_or(0))
                .collect();
            s.gates = gates;
        }
        if new.is_empty() {
            self.states.clear();
        }
        self.thresholds = new;
    }

    /// Whether any threshold watches interfaces (else samples are not even looked at).
    pub fn active(&self) -> bool {
        !self.thresholds.is_empty()
    }

    pub fn stats(&self) -> InterfaceStats {
        InterfaceStats {
            interfaces: self.states.len() as u64,
            ..self.stats
        }
    }

    /// One counter sample, at wall-clock `now_ms`; threshold events go to `emit`.
    pub fn update(&mut self, ic: &InterfaceCounters, now_ms: u64, emit: &mut dyn FnMut(FlowEvent)) {
        if self.thresholds.is_empty() {
            return;
        }
        let key = (ic.agent, ic.counters.if_index);
        if !self.states.contains_key(&key) {
            if self.states.len() >= MAX_INTERFACES {
                self.forget(now_ms);
            }
            if self.states.len() >= MAX_INTERFACES {
                self.stats.refused += 1;
                return;
            }
            self.states.insert(
                key,
                State {
                    sequence: ic.sequence,
                    uptime_ms: ic.uptime_ms,
                    counters: ic.counters,
                    observed: [0; 10],
                    gates: vec![0; self.thresholds.len()].into(),
                    seen_ms: now_ms,
                },
            );
            return;
        }
        let Some(s) = self.states.get_mut(&key) else {
            return;
        };
        s.seen_ms = now_ms;
        let newer_seq = ic.sequence > s.sequence;
        let newer_time = ic.uptime_ms > s.uptime_ms;
        if !newer_seq && !newer_time {
            let late =
                s.sequence - ic.sequence <= LATE_SAMPLES && s.uptime_ms - ic.uptime_ms <= LATE_MS;
            if ic.sequence == s.sequence || late {
                self.stats.out_of_order += 1;
                return;
            }
            // Both went back further than a late sample would: the agent restarted. A
            // new baseline, no value.
            self.stats.restarts += 1;
            rebase(s, ic);
            return;
        }
        if !newer_seq || !newer_time {
            self.stats.out_of_order += 1;
            return;
        }
        let elapsed_s = f64::from(ic.uptime_ms - s.uptime_ms) / 1000.0;
        let Some(values) = rates(&s.counters, &ic.counters, elapsed_s) else {
            self.stats.restarts += 1;
            rebase(s, ic);
            return;
        };
        rebase(s, ic);
        for (k, t) in self.thresholds.iter().enumerate() {
            let Metric::Interface(m) = t.metric else {
                continue;
            };
            let Some(value) = values[m.index()] else {
                self.stats.no_speed += 1;
                continue;
            };
            let observed = &mut s.observed[m.index()];
            *observed = observed.saturating_add(1);
            let Some(gate) = s.gates.get_mut(k) else {
                continue;
            };
            let step = Gate::step(gate, value > t.value, *observed >= 2, now_ms, t.timeout_ms);
            let end = match step {
                Step::Nothing => continue,
                Step::Fire => false,
                Step::Rearm if t.end => true,
                Step::Rearm => continue,
            };
            self.stats.events += 1;
            emit(FlowEvent {
                flow_id: crate::flow::table::next_flow_id(),
                name: t.name.clone(),
                keys: Box::new([]),
                separator: ",".into(),
                value,
                start_ms: now_ms,
                end_ms: now_ms,
                agent: ic.agent,
                data_source: ic.counters.if_index,
                received_ns: ic.received_ns,
                event_id: event_id(
                    &t.name,
                    ic.agent,
                    ic.counters.if_index,
                    u64::from(ic.sequence) | u64::from(end) << 32,
                ),
                threshold: Some(t.crossing(end)),
            });
        }
    }

    /// Forget interfaces silent for [`FORGET_MS`] (at most once every 10 s).
    fn forget(&mut self, now_ms: u64) {
        if now_ms.saturating_sub(self.last_forget_ms) < 10_000 {
            return;
        }
        self.last_forget_ms = now_ms;
        self.states
            .retain(|_, s| now_ms.saturating_sub(s.seen_ms) < FORGET_MS);
    }
}

fn interface_only(thresholds: &[Threshold]) -> Vec<Threshold> {
    thresholds
        .iter()
        .filter(|t| matches!(t.metric, Metric::Interface(_)))
        .cloned()
        .collect()
}

fn rebase(s: &mut State, ic: &InterfaceCounters) {
    s.sequence = ic.sequence;
    s.uptime_ms = ic.uptime_ms;
    s.counters = ic.counters;
}

/// Every metric (by [`IfMetric`] index) between two samples `elapsed_s` apart; `None`
/// when a counter went back. A utilization is `None` when `ifSpeed` is 0.
fn rates(a: &GenericInterface, b: &GenericInterface, elapsed_s: f64) -> Option<[Option<f64>; 10]> {
    let d64 = |x: u64, y: u64| y.checked_sub(x);
    let d32 = |x: u32, y: u32| y.checked_sub(x).map(u64::from);
    let in_octets = d64(a.if_in_octets, b.if_in_octets)?;
    let out_octets = d64(a.if_out_octets, b.if_out_octets)?;
    let in_pkts = d32(a.if_in_ucast_pkts, b.if_in_ucast_pkts)?
        + d32(a.if_in_multicast_pkts, b.if_in_multicast_pkts)?
        + d32(a.if_in_broadcast_pkts, b.if_in_broadcast_pkts)?;
    let out_pkts = d32(a.if_out_ucast_pkts, b.if_out_ucast_pkts)?
        + d32(a.if_out_multicast_pkts, b.if_out_multicast_pkts)?
        + d32(a.if_out_broadcast_pkts, b.if_out_broadcast_pkts)?;
    let in_errors = d32(a.if_in_errors, b.if_in_errors)?;
    let out_errors = d32(a.if_out_errors, b.if_out_errors)?;
    let in_discards = d32(a.if_in_discards, b.if_in_discards)?;
    let out_discards = d32(a.if_out_discards, b.if_out_discards)?;
    let per_s = |d: u64| d as f64 / elapsed_s;
    let speed = b.if_speed;
    let util = |octets: u64| (speed > 0).then(|| per_s(octets) * 8.0 * 100.0 / speed as f64);
    Some([
        Some(per_s(in_octets)),
        Some(per_s(out_octets)),
        util(in_octets),
        util(out_octets),
        Some(per_s(in_pkts)),
        Some(per_s(out_pkts)),
        Some(per_s(in_errors)),
        Some(per_s(out_errors)),
        Some(per_s(in_discards)),
        Some(per_s(out_discards)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threshold::ThresholdSpec;

    const GBIT10: u64 = 10_000_000_000;

    fn threshold(metric: &str, value: f64, end: bool) -> Threshold {
        let spec = ThresholdSpec {
            name: "hot".into(),
            metric: metric.into(),
            value,
            by_flow: false,
            timeout: 5,
            end,
        };
        Threshold::from_spec(&spec, &[]).unwrap()
    }

    fn sample(seq: u32, uptime_ms: u32, in_octets: u64) -> InterfaceCounters {
        InterfaceCounters {
            agent: "10.3.0.1".parse().unwrap(),
            counters: GenericInterface {
                if_index: 3,
                if_speed: GBIT10,
                if_in_octets: in_octets,
                if_in_ucast_pkts: seq.wrapping_mul(10),
                ..GenericInterface::default()
            },
            name: None,
            sequence: seq,
            uptime_ms,
            received_ns: 0,
        }
    }

    /// Octets per second of `percent` of 10 Gbit/s.
    fn octets_per_s(percent: u64) -> u64 {
        GBIT10 / 8 * percent / 100
    }

    fn run(m: &mut InterfaceMetrics, samples: &[InterfaceCounters]) -> Vec<FlowEvent> {
        let mut out = Vec::new();
        for (i, s) in samples.iter().enumerate() {
            m.update(s, 1_000_000 + i as u64 * 1000, &mut |e| out.push(e));
        }
        out
    }

    /// `n` samples a second apart at `percent` utilization, from sequence `seq0`.
    fn steady(seq0: u32, n: u32, percent: u64) -> Vec<InterfaceCounters> {
        (0..n)
            .map(|i| {
                sample(
                    seq0 + i,
                    1000 * (seq0 + i),
                    u64::from(seq0 + i) * octets_per_s(percent),
                )
            })
            .collect()
    }

    #[test]
    fn utilization_crosses_once_after_two_values_and_rearms() {
        let mut m = InterfaceMetrics::new(&[threshold("ifinutilization", 80.0, true)]);
        let events = run(&mut m, &steady(1, 10, 90));
        assert_eq!(events.len(), 1, "{events:?}");
        let e = &events[0];
        assert!((e.value - 90.0).abs() < 0.01, "{}", e.value);
        assert_eq!((e.data_source, &*e.name), (3, "hot"));
        assert!(!e.threshold.as_ref().unwrap().end);
        // The third sample is the second value: the first value never fires.
        let mut m = InterfaceMetrics::new(&[threshold("ifinutilization", 80.0, true)]);
        assert!(run(&mut m, &steady(1, 2, 90)).is_empty());
        // Down to 10 %: re-armed after 5 s under the value, with an end event.
        let mut m = InterfaceMetrics::new(&[threshold("ifinutilization", 80.0, true)]);
        let mut samples = steady(1, 4, 90);
        let base = 4 * octets_per_s(90);
        samples.extend((1..=8u32).map(|i| {
            sample(
                4 + i,
                1000 * (4 + i),
                base + u64::from(i) * octets_per_s(10),
            )
        }));
        let events = run(&mut m, &samples);
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(events[1].threshold.as_ref().unwrap().end);
        assert!((events[1].value - 10.0).abs() < 0.01);
    }

    #[test]
    fn ten_percent_never_crosses() {
        let mut m = InterfaceMetrics::new(&[threshold("ifinutilization", 80.0, false)]);
        assert!(run(&mut m, &steady(1, 20, 10)).is_empty());
    }

    #[test]
    fn out_of_order_duplicates_and_restarts_make_no_spike() {
        let mut m = InterfaceMetrics::new(&[threshold(
            "ifinoctets",
            2.0 * octets_per_s(10) as f64,
            false,
        )]);
        let mut s = steady(100, 3, 10);
        // A duplicate, a late sample, an agent restart (sequence and uptime back, counters
        // near zero), and a counter that went back: none may give a value.
        s.push(s[2]);
        s.push(s[1]);
        s.push(sample(1, 500, 5));
        s.extend(steady(2, 3, 10).into_iter().map(|mut x| {
            x.counters.if_in_octets += 5;
            x
        }));
        let mut back = sample(5, 5000, 1);
        back.counters.if_in_ucast_pkts = 0;
        s.push(back);
        s.extend(
            (1..=3u32).map(|i| sample(5 + i, 1000 * (5 + i), 1 + u64::from(i) * octets_per_s(10))),
        );
        let events = run(&mut m, &s);
        assert!(events.is_empty(), "{events:?}");
        let st = m.stats();
        assert_eq!(st.out_of_order, 2, "{st:?}");
        assert_eq!(st.restarts, 2, "{st:?}");
    }

    #[test]
    fn zero_speed_gives_no_utilization() {
        let mut m = InterfaceMetrics::new(&[threshold("ifinutilization", 1.0, false)]);
        let s: Vec<_> = steady(1, 4, 50)
            .into_iter()
            .map(|mut x| {
                x.counters.if_speed = 0;
                x
            })
            .collect();
        assert!(run(&mut m, &s).is_empty());
        assert_eq!(m.stats().no_speed, 3);
    }

    #[test]
    fn bounded_and_inactive_without_thresholds() {
        let mut m = InterfaceMetrics::new(&[]);
        assert!(run(&mut m, &steady(1, 3, 90)).is_empty());
        assert_eq!(m.stats().interfaces, 0);
        let mut m = InterfaceMetrics::new(&[threshold("ifinpkts", 1.0, false)]);
        for i in 0..(MAX_INTERFACES as u32 + 5) {
            let mut s = sample(1, 1000, 0);
            s.counters.if_index = i;
            m.update(&s, 1, &mut |_| {});
        }
        assert_eq!(m.stats().interfaces, MAX_INTERFACES as u64);
        assert_eq!(m.stats().refused, 5);
    }
}
