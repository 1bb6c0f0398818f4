//! Thresholds: sFlow-RT's `setThreshold` over flow metrics and interface metrics.
//!
//! A `[[threshold]]` names a metric and a value. Two kinds of metric exist:
//!
//! - **Flow metrics**: a flow definition's name. Each flow of that definition keeps the
//!   rate of its `value` (frames/s or bytes/s, scaled by the sampling rate), smoothed
//!   exponentially with the definition's `t` as sFlow-RT does ([`Smoothing`]). The rate
//!   and the thresholds' states live in the flow's table entry (`flow::table`), so they
//!   are bounded by `maxEntries` and cost nothing for definitions no threshold names.
//! - **Interface metrics** ([`IfMetric`]): per-second rates and utilizations computed
//!   from successive counter samples of one interface ([`interface`]).
//!
//! Each threshold crosses per flow (`byFlow = true`), per definition scope on the largest
//! flow (`byFlow = false`, [`Largest`]), or per interface. A crossing fires once; the
//! threshold re-arms for that flow or interface after `timeout` seconds at or under the
//! value ([`Gate`]), with an `end` event when asked. A metric with fewer than two
//! observations never fires: one sample is no rate ([`Smoothing`]).
//!
//! Events are [`crate::flow::FlowEvent`]s whose `name` is the threshold's name (so a
//! sink's `flows` list selects them) and whose [`Crossing`] says what crossed; the sinks
//! print them in sFlow-RT's threshold event fields.

pub mod interface;
mod largest;

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use interface::{IfMetric, InterfaceMetrics, InterfaceStats};
pub use largest::Largest;

/// sFlow-RT's bounds on `t`, the smoothing time constant in seconds.
pub const T_MIN_S: f64 = 0.2;
pub const T_MAX_S: f64 = 600.0;
/// Most thresholds on one flow definition: each takes a word in every flow entry.
pub const MAX_PER_DEFINITION: usize = 8;

/// One `[[threshold]]` table, in sFlow-RT's attribute names plus flowsift's `end`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdSpec {
    /// The threshold's name (`thresholdID` in events; unique among thresholds, may equal
    /// its flow's); sinks select it by this name.
    pub name: String,
    /// A flow definition's name, or an interface metric (`ifinutilization`, ...).
    pub metric: String,
    /// The value the metric must exceed (per second for rates, percent for utilization).
    pub value: f64,
    /// Flow metrics: each flow crosses on its own (true), or the definition's largest
    /// flow per agent and data source (false, the default, as in sFlow-RT).
    #[serde(default, rename = "byFlow")]
    pub by_flow: bool,
    /// Seconds at or under the value before the threshold re-arms for that flow or
    /// interface (default 60, as `idleTimeout`).
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    /// Also send an event (`status=end`) when the threshold re-arms.
    #[serde(default)]
    pub end: bool,
}

fn default_timeout() -> u64 {
    60
}

/// What a threshold watches.
#[derive(Clone, Debug, PartialEq)]
pub enum Metric {
    /// A flow definition, by name.
    Flow(Arc<str>),
    Interface(IfMetric),
}

/// A validated threshold.
#[derive(Clone, Debug)]
pub struct Threshold {
    pub name: Arc<str>,
    pub metric: Metric,
    /// The metric's name as configured.
    pub metric_name: Arc<str>,
    pub value: f64,
    pub by_flow: bool,
    pub timeout_ms: u64,
    pub end: bool,
    /// The per-scope state of a largest-flow threshold, shared by every worker's table.
    pub largest: Arc<Largest>,
}

impl Threshold {
    /// Validate `spec` against the defined flows; `flows` are (name, maxEntries).
    pub fn from_spec(spec: &ThresholdSpec, flows: &[(&str, usize)]) -> Result<Threshold, String> {
        let name = spec.name.trim();
        if name.is_empty() {
            return Err("threshold without a name".into());
        }
        if !spec.value.is_finite() || spec.value < 0.0 {
            return Err(format!(
                "threshold '{name}': value = {} must be a number >= 0",
                spec.value
            ));
        }
        let metric_name = spec.metric.trim();
        let (metric, bound) = if let Some((f, max)) = flows.iter().find(|(f, _)| *f == metric_name)
        {
            (Metric::Flow((*f).into()), *max)
        } else if let Some(m) = IfMetric::from_name(metric_name) {
            (Metric::Interface(m), 0)
        } else {
            let flows: Vec<&str> = flows.iter().map(|(f, _)| *f).collect();
            let ifs: Vec<&str> = IfMetric::ALL.iter().map(|m| m.name()).collect();
            return Err(format!(
                "threshold '{name}': unknown metric '{metric_name}'; flow definitions: {}; interface metrics: {}",
                if flows.is_empty() { "none".to_string() } else { flows.join(", ") },
                ifs.join(", ")
            ));
        };
        Ok(Threshold {
            name: name.into(),
            metric,
            metric_name: metric_name.into(),
            value: spec.value,
            by_flow: spec.by_flow,
            timeout_ms: spec.timeout.saturating_mul(1000),
            end: spec.end,
            largest: Arc::new(Largest::new(bound.max(1))),
        })
    }

    /// The spec this threshold came from, every attribute written out.
    pub fn spec(&self) -> ThresholdSpec {
        ThresholdSpec {
            name: self.name.to_string(),
            metric: self.metric_name.to_string(),
            value: self.value,
            by_flow: self.by_flow,
            timeout: self.timeout_ms / 1000,
            end: self.end,
        }
    }

    /// Whether two thresholds behave the same (a reload keeps the running one).
    pub fn same(&self, other: &Threshold) -> bool {
        self.spec() == other.spec()
    }

    /// What an event of this threshold says beside the flow fields.
    pub fn crossing(&self, end: bool) -> Box<Crossing> {
        Box::new(Crossing {
            metric: self.metric_name.clone(),
            threshold: self.value,
            end,
        })
    }
}

/// What a threshold event carries beside the fields every event has (`name` is the
/// threshold's, `value` the metric's, `keys` the flow's for a flow metric, none for an
/// interface metric).
#[derive(Clone, Debug, PartialEq)]
pub struct Crossing {
    /// The metric's name (`metric` in events).
    pub metric: Arc<str>,
    /// The threshold's value (`threshold` in events).
    pub threshold: f64,
    /// The threshold re-armed (`status=end`), rather than fired.
    pub end: bool,
}

/// Every threshold of a configuration, checked as a set: names unique, at most
/// [`MAX_PER_DEFINITION`] on one flow definition. A threshold may share its flow's name
/// (sFlow-RT's `thresholdID=udpflood metric=udpflood`); a sink's `flows` list naming it
/// then takes both the flow's records and the threshold's events. Returns the index of the offending
/// spec with the message.
pub fn check_all(
    specs: &[ThresholdSpec],
    flows: &[(&str, usize)],
) -> Result<Vec<Threshold>, (usize, String)> {
    let mut out: Vec<Threshold> = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let t = Threshold::from_spec(spec, flows).map_err(|m| (i, m))?;
        if out.iter().any(|o| o.name == t.name) {
            return Err((i, format!("threshold '{}' is defined twice", t.name)));
        }
        if let Metric::Flow(f) = &t.metric {
            let on = out.iter().filter(|o| o.metric == t.metric).count();
            if on >= MAX_PER_DEFINITION {
                return Err((
                    i,
                    format!(
                        "threshold '{}': flow '{f}' has {MAX_PER_DEFINITION} thresholds already, the most one definition takes",
                        t.name
                    ),
                ));
            }
        }
        out.push(t);
    }
    Ok(out)
}

/// sFlow-RT's exponential smoothing of a flow's rate, normalized by the time observed.
///
/// sFlow-RT keeps, per flow, a sum to which each sample adds its value and which decays
/// by `e^(-Δ/t)` over the time `Δ` between samples; the sum divided by `t` is the rate,
/// and for a steady stream of `r` per second it converges to `r`. Divided by `t` from the
/// first sample on, though, a new flow's rate ramps up over several `t` and crosses a
/// threshold at the threshold's value, whatever its true rate. So the sum is divided by
/// the decayed time the flow has been observed, `t (1 - e^(-age/t))`, which is `t` once
/// the flow is older than a few `t` (the same value as sFlow-RT's) and the flow's age
/// before: a new flow's rate is its mean rate since its first sample. The first sample
/// marks the start of the observation (its value stands for the time before it, which
/// was not observed), so one sample is no rate. A rate exists once the flow has been
/// observed for `t/2` ([`Smoothing::MIN_WINDOW`]), so that two samples in one datagram
/// are not taken for a burst. A flow that stops decays to 1/e of its rate in `t`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Smoothing {
    /// `-1 / t`, per millisecond.
    neg_inv_t_ms: f64,
    /// `t` in seconds.
    t_s: f64,
}

/// A flow's smoothed sum and observed time ([`Smoothing`]), stored as two words.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rate {
    /// Sum of the sample values since the first, decayed.
    pub sum: f64,
    /// Time observed since the first sample, decayed, in seconds.
    pub window_s: f64,
}

impl Smoothing {
    /// The part of `t` a flow must have been observed for (`1 - e^(-1/2)`: half of `t`)
    /// before it has a rate.
    pub const MIN_WINDOW: f64 = 0.393_469_340_287_366_6;

    /// Smoothing with time constant `t_s` seconds, clamped to [`T_MIN_S`]..=[`T_MAX_S`]
    /// (a non-number takes sFlow-RT's default, 2 s).
    pub fn new(t_s: f64) -> Smoothing {
        let t = if t_s.is_nan() {
            2.0
        } else {
            t_s.clamp(T_MIN_S, T_MAX_S)
        };
        Smoothing {
            neg_inv_t_ms: -1.0 / (t * 1000.0),
            t_s: t,
        }
    }

    /// `r` after `elapsed_ms` without samples.
    #[inline]
    pub fn decay(&self, r: Rate, elapsed_ms: u64) -> Rate {
        if elapsed_ms == 0 {
            return r;
        }
        let d = (elapsed_ms as f64 * self.neg_inv_t_ms).exp();
        Rate {
            sum: r.sum * d,
            window_s: self.t_s - (self.t_s - r.window_s) * d,
        }
    }

    /// `r` after `elapsed_ms`, then a sample of `value`.
    #[inline]
    pub fn add(&self, r: Rate, elapsed_ms: u64, value: u64) -> Rate {
        let mut r = self.decay(r, elapsed_ms);
        r.sum += value as f64;
        r
    }

    /// The rate per second, once the flow has been observed long enough.
    #[inline]
    pub fn per_second(&self, r: Rate) -> Option<f64> {
        // (1 - 1e-9: a window of exactly t/2 counts despite rounding.)
        (r.window_s >= self.t_s * Smoothing::MIN_WINDOW * (1.0 - 1e-9)).then(|| r.sum / r.window_s)
    }
}

/// What a [`Gate`] step asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Nothing,
    /// The metric crossed the value: send the event.
    Fire,
    /// The metric stayed at or under the value for the timeout: re-armed (an `end` event
    /// when asked).
    Rearm,
}

/// One threshold's state for one flow or interface, in one word (it lives in flow
/// entries): bit 63 is set from the crossing until the re-arm; while set, the low bits
/// hold the millisecond (at least 1) since which the metric has been at or under the
/// value, 0 while it is above. An armed threshold's word is 0.
pub struct Gate;

impl Gate {
    pub const FIRED: u64 = 1 << 63;

    /// Whether the word is in the fired state.
    #[inline]
    pub fn fired(word: u64) -> bool {
        word & Gate::FIRED != 0
    }

    /// One observation: `above` whether the metric exceeds the value, `counts` whether it
    /// has enough observations to fire (two).
    #[inline]
    pub fn step(word: &mut u64, above: bool, counts: bool, now_ms: u64, timeout_ms: u64) -> Step {
        if above {
            if Gate::fired(*word) {
                *word = Gate::FIRED;
                return Step::Nothing;
            }
            if counts {
                *word = Gate::FIRED;
                return Step::Fire;
            }
            return Step::Nothing;
        }
        if !Gate::fired(*word) {
            return Step::Nothing;
        }
        let mut since = *word & !Gate::FIRED;
        if since == 0 {
            since = now_ms.clamp(1, !Gate::FIRED);
            *word = Gate::FIRED | since;
        }
        if now_ms.saturating_sub(since) >= timeout_ms {
            *word = 0;
            return Step::Rearm;
        }
        Step::Nothing
    }
}

impl fmt::Display for Crossing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "metric={} threshold={}", self.metric, self.threshold)?;
        if self.end {
            f.write_str(" status=end")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothed_rate_of_a_steady_stream_converges_to_the_true_rate() {
        // 200 samples/s of 1000 frames (a 200 000 frames/s flood sampled 1 in 1000), with
        // an injected clock (5 ms between samples).
        for t in [0.2, 2.0, 5.0, 600.0] {
            let s = Smoothing::new(t);
            let mut r = Rate::default();
            let mut now = 0u64;
            // No rate before t/2 of observation.
            while (now as f64) < t * 500.0 - 5.0 {
                assert_eq!(s.per_second(r), None, "t {t} at {now} ms");
                now += 5;
                r = s.add(r, 5, 1000);
            }
            // From then on, within 1 % of the truth (the sum runs up to 5 ms / t above
            // just after a sample, once the window is t), at every sample up to 10 t.
            let end = (t * 10_000.0).min(60_000.0) as u64;
            while now < end {
                now += 5;
                r = s.add(r, 5, 1000);
                let rate = s.per_second(r).unwrap();
                assert!(
                    (rate - 200_000.0).abs() <= 200_000.0 * (0.01 + 0.005 / t),
                    "t {t}: {rate} at {now} ms"
                );
            }
        }
        // A stream that stops decays to 1/e of its rate in t (once observed for long).
        let s = Smoothing::new(2.0);
        let long = Rate {
            sum: 2000.0,
            window_s: 2.0,
        };
        let later = s.per_second(s.decay(long, 2000)).unwrap();
        assert!(
            (later - 1000.0 / std::f64::consts::E).abs() < 1e-6,
            "{later}"
        );
    }

    #[test]
    fn t_is_clamped_as_sflow_rt_does() {
        assert_eq!(Smoothing::new(0.0), Smoothing::new(T_MIN_S));
        assert_eq!(Smoothing::new(1e9), Smoothing::new(T_MAX_S));
        assert_eq!(Smoothing::new(f64::NAN), Smoothing::new(2.0));
    }

    #[test]
    fn gate_fires_once_and_rearms_after_the_timeout() {
        let mut w = 0;
        assert_eq!(Gate::step(&mut w, true, false, 10, 1000), Step::Nothing);
        assert_eq!(Gate::step(&mut w, true, true, 20, 1000), Step::Fire);
        assert_eq!(Gate::step(&mut w, true, true, 30, 1000), Step::Nothing);
        assert_eq!(Gate::step(&mut w, false, true, 40, 1000), Step::Nothing);
        assert_eq!(Gate::step(&mut w, false, true, 1039, 1000), Step::Nothing);
        // Above again: the time under the value starts over.
        assert_eq!(Gate::step(&mut w, true, true, 1040, 1000), Step::Nothing);
        assert_eq!(Gate::step(&mut w, false, true, 1050, 1000), Step::Nothing);
        assert_eq!(Gate::step(&mut w, false, true, 2050, 1000), Step::Rearm);
        assert_eq!(w, 0);
        assert_eq!(Gate::step(&mut w, false, true, 2060, 1000), Step::Nothing);
        assert_eq!(Gate::step(&mut w, true, true, 2070, 1000), Step::Fire);
        // A zero timeout re-arms at the first observation under the value.
        assert_eq!(Gate::step(&mut w, false, true, 0, 0), Step::Rearm);
    }

    #[test]
    fn specs_are_checked() {
        let flows = [("udpflood", 100), ("uport", 100)];
        let spec = |t: &str| -> ThresholdSpec { toml::from_str(t).unwrap() };
        let ok = spec("name='x'\nmetric='udpflood'\nvalue=1e5\nbyFlow=true");
        let t = Threshold::from_spec(&ok, &flows).unwrap();
        assert_eq!(t.metric, Metric::Flow("udpflood".into()));
        assert_eq!((t.timeout_ms, t.end, t.by_flow), (60_000, false, true));
        let t = Threshold::from_spec(
            &spec("name='h'\nmetric='ifinutilization'\nvalue=80"),
            &flows,
        )
        .unwrap();
        assert_eq!(t.metric, Metric::Interface(IfMetric::InUtilization));
        let e =
            Threshold::from_spec(&spec("name='h'\nmetric='nope'\nvalue=80"), &flows).unwrap_err();
        assert!(e.contains("unknown metric 'nope'"), "{e}");
        assert!(
            e.contains("udpflood, uport") && e.contains("ifoututilization"),
            "{e}"
        );
        assert!(Threshold::from_spec(&spec("name='h'\nmetric='uport'\nvalue=-1"), &flows).is_err());
        let twice = [ok.clone(), ok.clone()];
        assert_eq!(check_all(&twice, &flows).unwrap_err().0, 1);
        let named_like_its_flow = spec("name='uport'\nmetric='uport'\nvalue=1");
        assert!(check_all(&[named_like_its_flow], &flows).is_ok());
        let many: Vec<ThresholdSpec> = (0..9)
            .map(|i| spec(&format!("name='t{i}'\nmetric='uport'\nvalue=1")))
            .collect();
        assert_eq!(check_all(&many, &flows).unwrap_err().0, 8);
        let unknown: Result<ThresholdSpec, _> =
            toml::from_str("name='x'\nmetric='uport'\nvalue=1\nbyflow=true");
        assert!(unknown.is_err(), "unknown keys are refused");
    }
}
