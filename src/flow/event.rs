//! The record a flow definition emits, as sFlow-RT hands it to `setFlowHandler`.
//!
//! Events are rare next to samples (one per new key with `flowStart`, one per flow end
//! otherwise), so an event may own a small allocation; samples never do.

use std::net::IpAddr;
use std::sync::Arc;

use crate::packet::{Key, KeyValue};

/// One flow record leaving a worker towards the sinks.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowEvent {
    /// Increasing identifier (sFlow-RT `flowID`), unique within this process.
    pub flow_id: u64,
    /// The flow definition's name (sFlow-RT `name`).
    pub name: Arc<str>,
    /// The definition's keys with this flow's values, in the definition's key order.
    pub keys: Box<[(Key, KeyValue)]>,
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
            .into(),
            separator: ",".into(),
            value: 1000.0,
            start_ms: 0,
            end_ms: 0,
            agent: "192.0.2.1".parse().unwrap(),
            data_source: 3,
            received_ns: 0,
        };
        assert_eq!(e.flow_keys(), "10.0.0.5,10.0.0.9,udp_53");
    }
}
