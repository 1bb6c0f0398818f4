//! The record a flow definition emits, as sFlow-RT hands it to `setFlowHandler`.
//!
//! Events are rare next to samples (one per new key with `flowStart`, one per flow end
//! otherwise, one per threshold crossing), so an event may own a small allocation;
//! samples never do.

use std::net::IpAddr;
use std::sync::Arc;

use super::FlowKey;
use crate::packet::KeyValue;

/// One flow record leaving a worker towards the sinks.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowEvent {
    /// Increasing identifier (sFlow-RT `flowID`), unique within this process.
    pub flow_id: u64,
    /// The flow definition's name (sFlow-RT `name`).
    pub name: Arc<str>,
    /// The definition's keys with this flow's values, in the definition's key order.
    pub keys: Box<[(FlowKey, KeyValue)]>,
    /// The separator joining the values into `flowKeys` (sFlow-RT `fs`, default `,`).
    pub separator: Arc<str>,
    /// Frames or bytes, scaled by the sampling rate (sFlow-RT `value`).
    pub value: f64,
    /// First and last time the flow was seen, milliseconds since the Unix epoch.
    pub start_ms: u64,
    pub end_ms: u64,
    /// Agent address and data source (ifIndex) of the sample that opened the flow.
    pub agent: IpAddr,
    pub data_source: u32,
    /// Monotonic receipt time of the datagram that triggered the event (latency tracking).
    pub received_ns: u64,
    /// Stable identifier ([`event_id`]): two collectors fed by the same agent give the same
    /// event the same id, so a SIEM can drop the second copy.
    pub event_id: u64,
    /// Set on a threshold event: `name` is then the threshold's, `value` the metric's,
    /// and `keys` the crossing flow's (none for an interface metric).
    pub threshold: Option<Box<crate::threshold::Crossing>>,
}

/// The `event_id` of a record: a fixed (unseeded, so equal across processes and hosts)
/// 64-bit hash of the definition's name, the agent and data source of the sample that
/// opened the flow, and `opening`: for a `flowStart` record that sample's sub-agent and
/// sequence number ([`super::table::opening_word`]), so two collectors fed by the same
/// agent agree; for end and interval records the flow's keys and interval start (unique
/// within one collector only).
pub fn event_id(definition: &str, agent: IpAddr, data_source: u32, opening: u64) -> u64 {
    use crate::hash::fmix64;
    // FNV-1a over the name, then every field mixed in.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in definition.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let agent_words: [u64; 2] = match agent {
        IpAddr::V4(a) => [u64::from(u32::from(a)), 4],
        IpAddr::V6(a) => {
            let x = u128::from(a);
            [(x >> 64) as u64, x as u64 ^ 6]
        }
    };
    for w in [
        agent_words[0],
        agent_words[1],
        u64::from(data_source),
        opening,
    ] {
        h = fmix64(h ^ w).wrapping_add(0x9E37_79B9_7F4A_7C15);
    }
    h
}

impl FlowEvent {
    /// sFlow-RT's `flowKeys`: the values joined by the separator.
    pub fn flow_keys(&self) -> String {
        let mut out = String::new();
        for (i, (_, v)) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push_str(&self.separator);
            }
            use std::fmt::Write;
            let _ = write!(out, "{v}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::keys::L4;
    use crate::packet::Key;

    #[test]
    fn flow_keys_joins_in_order() {
        let e = FlowEvent {
            flow_id: 1,
            name: "uport".into(),
            keys: vec![
                (Key::IpSource, KeyValue::Ip("10.0.0.5".parse().unwrap())),
                (
                    Key::IpDestination,
                    KeyValue::Ip("10.0.0.9".parse().unwrap()),
                ),
                (Key::IcmpUnreachablePort, KeyValue::Port(L4::Udp, 53)),
            ]
            .into_iter()
            .map(|(k, v)| (FlowKey::Packet(k), v))
            .collect(),
            separator: ",".into(),
            value: 1000.0,
            start_ms: 0,
            end_ms: 0,
            agent: "192.0.2.1".parse().unwrap(),
            data_source: 3,
            received_ns: 0,
            event_id: 0,
            threshold: None,
        };
        assert_eq!(e.flow_keys(), "10.0.0.5,10.0.0.9,udp_53");
    }

    #[test]
    fn event_id_is_fixed_and_tells_samples_apart() {
        let agent: IpAddr = "192.0.2.1".parse().unwrap();
        let a = event_id("uport", agent, 3, 77);
        // Fixed across builds and hosts: a changed value breaks deduplication in a SIEM.
        assert_eq!(a, event_id("uport", agent, 3, 77));
        assert_ne!(a, event_id("uport", agent, 3, 78));
        assert_ne!(a, event_id("uport", agent, 4, 77));
        assert_ne!(a, event_id("unet", agent, 3, 77));
        assert_ne!(a, event_id("uport", "192.0.2.2".parse().unwrap(), 3, 77));
    }
}
