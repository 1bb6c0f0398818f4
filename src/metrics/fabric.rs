//! The fabric's own counters for the endpoint: the generic interface counters of every
//! agent's interfaces, as the agents last sent them in counter samples.
//!
//! Names follow sFlow-RT's metric names (`ifinoctets`, `ifouterrors`, ...) under an `sflow_`
//! prefix, with Prometheus's `_total` on the counters (Prometheus computes rates itself, so
//! the raw counters are exported, not sFlow-RT's per-second values). Labels: `agent`,
//! `ifindex`, and `ifname` when the agent sends a port-name record. The table is bounded by
//! `[metrics] max_series`: an interface that would take more series is counted, not kept.

use std::net::IpAddr;

use crate::hash::KeyedMap;
use crate::rx::interfaces::InterfaceCounters;

/// Series one interface takes: the counters and gauges below.
pub const SERIES_PER_INTERFACE: usize = COUNTERS.len() + GAUGES.len();

type Read = fn(&crate::sflow::GenericInterface) -> u64;

/// (sFlow-RT name, help, value) of each exported counter.
const COUNTERS: [(&str, &str, Read); 13] = [
    ("ifinoctets", "Octets received (ifInOctets).", |g| {
        g.if_in_octets
    }),
    ("ifinucastpkts", "Unicast packets received.", |g| {
        u64::from(g.if_in_ucast_pkts)
    }),
    ("ifinmulticastpkts", "Multicast packets received.", |g| {
        u64::from(g.if_in_multicast_pkts)
    }),
    ("ifinbroadcastpkts", "Broadcast packets received.", |g| {
        u64::from(g.if_in_broadcast_pkts)
    }),
    ("ifindiscards", "Inbound packets discarded.", |g| {
        u64::from(g.if_in_discards)
    }),
    ("ifinerrors", "Inbound packets with errors.", |g| {
        u64::from(g.if_in_errors)
    }),
    (
        "ifinunknownprotos",
        "Inbound packets of unknown protocols.",
        |g| u64::from(g.if_in_unknown_protos),
    ),
    ("ifoutoctets", "Octets sent (ifOutOctets).", |g| {
        g.if_out_octets
    }),
    ("ifoutucastpkts", "Unicast packets sent.", |g| {
        u64::from(g.if_out_ucast_pkts)
    }),
    ("ifoutmulticastpkts", "Multicast packets sent.", |g| {
        u64::from(g.if_out_multicast_pkts)
    }),
    ("ifoutbroadcastpkts", "Broadcast packets sent.", |g| {
        u64::from(g.if_out_broadcast_pkts)
    }),
    ("ifoutdiscards", "Outbound packets discarded.", |g| {
        u64::from(g.if_out_discards)
    }),
    ("ifouterrors", "Outbound packets with errors.", |g| {
        u64::from(g.if_out_errors)
    }),
];

/// (sFlow-RT name, help, value) of each exported gauge.
const GAUGES: [(&str, &str, Read); 3] = [
    (
        "ifspeed",
        "Interface speed in bits per second (ifSpeed).",
        |g| g.if_speed,
    ),
    (
        "ifadminstatus",
        "1 when the interface is administratively up.",
        |g| u64::from(g.if_status & 1),
    ),
    (
        "ifoperstatus",
        "1 when the interface is operationally up.",
        |g| u64::from((g.if_status >> 1) & 1),
    ),
];

/// Where [`FabricTable::render`] writes: the exposition text (or a test's collector).
pub trait Exposition {
    /// `# HELP` and `# TYPE` of family `name`.
    fn family(&mut self, name: &str, kind: &str, help: &str);
    /// One sample of family `name`.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64);
}

/// The latest counters of every interface seen, bounded.
#[derive(Clone, Debug, Default)]
pub struct FabricTable {
    max_interfaces: usize,
    interfaces: KeyedMap<(IpAddr, u32), InterfaceCounters>,
    /// Updates for interfaces the bound left out.
    pub untracked: u64,
}

impl FabricTable {
    /// A table of at most `max_series` series ([`SERIES_PER_INTERFACE`] per interface).
    pub fn new(max_series: usize) -> FabricTable {
        FabricTable {
            max_interfaces: max_series / SERIES_PER_INTERFACE,
            ..FabricTable::default()
        }
    }

    /// Keep `ic` as its interface's latest counters.
    pub fn update(&mut self, ic: InterfaceCounters) {
        let key = (ic.agent, ic.counters.if_index);
        let full = self.interfaces.len() >= self.max_interfaces;
        if full && !self.interfaces.contains_key(&key) {
            self.untracked += 1;
            return;
        }
        self.interfaces.insert(key, ic);
    }

    /// Interfaces held.
    pub fn len(&self) -> usize {
        self.interfaces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.interfaces.is_empty()
    }

    /// Every family in the exposition format: `family(name, kind, help)` once, then
    /// `sample(name, labels, value)` per interface (agent and ifIndex order, so scrapes
    /// compare line by line).
    pub fn render(&self, out: &mut dyn Exposition) {
        let mut rows: Vec<&InterfaceCounters> = self.interfaces.values().collect();
        rows.sort_by_key(|ic| (ic.agent, ic.counters.if_index));
        let labels: Vec<(String, String, Option<&str>)> = rows
            .iter()
            .map(|ic| {
                (
                    ic.agent.to_string(),
                    ic.counters.if_index.to_string(),
                    ic.name
                        .as_ref()
                        .map(|n| n.as_str())
                        .filter(|n| !n.is_empty()),
                )
            })
            .collect();
        let kinds = COUNTERS
            .iter()
            .map(|c| (c, "counter", "_total"))
            .chain(GAUGES.iter().map(|g| (g, "gauge", "")));
        for ((base, help, read), kind, suffix) in kinds {
            let name = format!("sflow_{base}{suffix}");
            out.family(&name, kind, help);
            for (ic, (agent, ifindex, ifname)) in rows.iter().zip(&labels) {
                let value = read(&ic.counters);
                match ifname {
                    Some(n) => out.sample(
                        &name,
                        &[("agent", agent), ("ifindex", ifindex), ("ifname", n)],
                        value,
                    ),
                    None => out.sample(&name, &[("agent", agent), ("ifindex", ifindex)], value),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rx::interfaces::PortName;
    use crate::sflow::GenericInterface;

    fn ic(agent: &str, if_index: u32, octets: u64) -> InterfaceCounters {
        InterfaceCounters {
            agent: agent.parse().unwrap(),
            counters: GenericInterface {
                if_index,
                if_in_octets: octets,
                if_speed: 10_000_000_000,
                if_status: 3,
                ..GenericInterface::default()
            },
            name: (if_index == 1).then(|| PortName::new(b"eth1")),
            sequence: 1,
            uptime_ms: 1000,
            received_ns: 0,
        }
    }

    #[test]
    fn bounded_latest_per_interface() {
        let mut t = FabricTable::new(2 * SERIES_PER_INTERFACE);
        t.update(ic("192.0.2.1", 1, 10));
        t.update(ic("192.0.2.1", 2, 20));
        t.update(ic("192.0.2.1", 1, 15));
        t.update(ic("192.0.2.2", 1, 99));
        assert_eq!((t.len(), t.untracked), (2, 1));
        struct Text(String);
        impl Exposition for Text {
            fn family(&mut self, name: &str, kind: &str, _help: &str) {
                self.0.push_str(&format!("# TYPE {name} {kind}\n"));
            }
            fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: u64) {
                let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                self.0.push_str(&format!("{name} {} {v}\n", l.join(",")));
            }
        }
        let mut out = Text(String::new());
        t.render(&mut out);
        let text = out.0;
        assert!(
            text.contains("# TYPE sflow_ifinoctets_total counter"),
            "{text}"
        );
        assert!(
            text.contains("sflow_ifinoctets_total agent=192.0.2.1,ifindex=1,ifname=eth1 15"),
            "{text}"
        );
        assert!(text.contains("sflow_ifinoctets_total agent=192.0.2.1,ifindex=2 20"));
        assert!(text.contains("sflow_ifoperstatus agent=192.0.2.1,ifindex=2 1"));
        assert!(!text.contains("192.0.2.2"));
    }
}
