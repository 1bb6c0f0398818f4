//! A [`Snapshot`] in the Prometheus text exposition format 0.0.4: every family with its
//! `# HELP` and `# TYPE`, counters named `_total`, base units (`_seconds`, `_bytes`), and
//! labels with bounded values only (sockets, threads, flow definitions, sinks, agents up
//! to the receive engine's bound on tracked agents).

use std::fmt::Write;

use super::Snapshot;
use crate::rx::ErrorCounts;
use crate::sink::LATENCY_BOUNDS_US;

/// The exposition format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Writes families; each family's samples follow its HELP and TYPE lines.
struct Out {
    text: String,
}

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                self.text.push_str(k);
                self.text.push_str("=\"");
                escape(v, &mut self.text);
                self.text.push('"');
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    /// A family with one unlabelled sample.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// Label value escaping: backslash, double quote and line feed.
fn escape(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn errors(out: &mut Out, stage: &str, e: &ErrorCounts) {
    for (kind, n) in [
        ("truncated", e.truncated),
        ("unsupported_version", e.unsupported_version),
        ("unknown_address_type", e.unknown_address_type),
        ("length_overrun", e.length_overrun),
        ("count_overrun", e.count_overrun),
    ] {
        out.sample(
            "flowsift_decode_errors_total",
            &[("stage", stage), ("kind", kind)],
            n,
        );
    }
}

/// The whole exposition.
pub fn render(s: &Snapshot) -> String {
    let mut out = Out {
        text: String::with_capacity(16 * 1024),
    };
    let rx = &s.stats.rx;

    out.family(
        "flowsift_build_info",
        "gauge",
        "Build of this collector (always 1).",
    );
    out.sample(
        "flowsift_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1,
    );
    out.single(
        "flowsift_start_time_seconds",
        "gauge",
        "Unix time the collector started.",
        format_args!("{:.3}", s.start_time),
    );
    out.family(
        "flowsift_config_reloads_total",
        "counter",
        "Configuration reloads (SIGHUP) by result.",
    );
    out.sample(
        "flowsift_config_reloads_total",
        &[("result", "success")],
        s.reloads_ok,
    );
    out.sample(
        "flowsift_config_reloads_total",
        &[("result", "failure")],
        s.reloads_failed,
    );

    // Receive engine, per receive thread (their sum is the total).
    let threads: Vec<String> = (0..rx.threads.len()).map(|i| i.to_string()).collect();
    let per_thread = |out: &mut Out, name: &str, help: &str, f: &dyn Fn(usize) -> u64| {
        out.family(name, "counter", help);
        for (i, t) in threads.iter().enumerate() {
            out.sample(name, &[("thread", t)], f(i));
        }
    };
    per_thread(
        &mut out,
        "flowsift_datagrams_received_total",
        "sFlow datagrams taken from the sockets, per receive thread.",
        &|i| rx.threads[i].counters.datagrams,
    );
    per_thread(
        &mut out,
        "flowsift_received_bytes_total",
        "Bytes of sFlow datagrams received, per receive thread.",
        &|i| rx.threads[i].counters.bytes,
    );
    per_thread(
        &mut out,
        "flowsift_ring_drops_total",
        "Work items (a sample for one flow definition) dropped because a flow worker's ring was full, per receive thread.",
        &|i| rx.threads[i].counters.ring_drops,
    );
    let t = &rx.totals;
    out.family(
        "flowsift_datagrams_dropped_total",
        "counter",
        "Datagrams dropped undecoded, by reason.",
    );
    out.sample(
        "flowsift_datagrams_dropped_total",
        &[("reason", "truncated")],
        t.truncated,
    );
    out.sample(
        "flowsift_datagrams_dropped_total",
        &[("reason", "denied")],
        t.denied,
    );
    out.family(
        "flowsift_kernel_drops_total",
        "counter",
        "Receives the kernel dropped on a socket (full receive buffer).",
    );
    for sock in &rx.sockets {
        out.sample(
            "flowsift_kernel_drops_total",
            &[
                ("socket", &sock.local.to_string()),
                ("thread", &sock.thread.to_string()),
            ],
            sock.kernel_drops,
        );
    }
    out.family(
        "flowsift_decode_errors_total",
        "counter",
        "Datagram headers and samples that failed to decode, by stage and kind.",
    );
    errors(&mut out, "header", &t.header_errors);
    errors(&mut out, "sample", &t.sample_errors);
    out.family(
        "flowsift_samples_total",
        "counter",
        "sFlow samples decoded, by type.",
    );
    for (kind, n) in [
        ("flow", t.flow_samples),
        ("counter", t.counter_samples),
        ("discard", t.discard_samples),
        ("unknown", t.unknown_samples),
    ] {
        out.sample("flowsift_samples_total", &[("type", kind)], n);
    }
    out.single(
        "flowsift_unknown_records_total",
        "counter",
        "Flow and counter records of unknown formats, skipped.",
        t.unknown_records,
    );
    out.single(
        "flowsift_tunnels_too_deep_total",
        "counter",
        "Flow samples whose tunnels nest deeper than the decoder walks (3 levels).",
        t.tunnels_too_deep,
    );
    out.single(
        "flowsift_samples_routed_total",
        "counter",
        "Samples handed to flow workers.",
        t.routed,
    );
    out.single(
        "flowsift_receive_errors_total",
        "counter",
        "Failed receive calls.",
        t.receive_errors,
    );
    out.single(
        "flowsift_agents_untracked_total",
        "counter",
        "Datagrams from agents beyond the bound on tracked agents.",
        t.agents_untracked,
    );

    // Per agent.
    out.family(
        "flowsift_agent_datagrams_total",
        "counter",
        "Datagrams received per agent and sub-agent.",
    );
    let agent_labels: Vec<(String, String)> = rx
        .agents
        .iter()
        .map(|a| match a.key {
            Some(k) => (k.agent.to_string(), k.sub_agent.to_string()),
            None => ("untracked".into(), String::new()),
        })
        .collect();
    for (a, (agent, sub)) in rx.agents.iter().zip(&agent_labels) {
        out.sample(
            "flowsift_agent_datagrams_total",
            &[("agent", agent), ("sub_agent", sub)],
            a.datagrams.received,
        );
    }
    out.family(
        "flowsift_agent_datagrams_lost_total",
        "counter",
        "Datagrams missing from an agent's sequence numbers.",
    );
    for (a, (agent, sub)) in rx.agents.iter().zip(&agent_labels) {
        out.sample(
            "flowsift_agent_datagrams_lost_total",
            &[("agent", agent), ("sub_agent", sub)],
            a.datagrams.lost,
        );
    }
    out.family(
        "flowsift_agent_restarts_total",
        "counter",
        "Times an agent restarted (sequence numbers went back).",
    );
    for (a, (agent, sub)) in rx.agents.iter().zip(&agent_labels) {
        out.sample(
            "flowsift_agent_restarts_total",
            &[("agent", agent), ("sub_agent", sub)],
            a.restarts,
        );
    }

    // Flow engine, per definition.
    let defs = &s.stats.flow.definitions;
    let per_def = |out: &mut Out,
                   name: &str,
                   kind: &str,
                   help: &str,
                   f: &dyn Fn(&crate::flow::DefinitionStats) -> u64| {
        out.family(name, kind, help);
        for d in defs {
            out.sample(name, &[("flow", &d.name)], f(d));
        }
    };
    per_def(
        &mut out,
        "flowsift_events_total",
        "counter",
        "Records the flow engine emitted (sent or dropped), per flow definition.",
        &|d| d.events_emitted,
    );
    per_def(
        &mut out,
        "flowsift_events_dropped_total",
        "counter",
        "Records dropped because a worker's event ring was full.",
        &|d| d.events_dropped,
    );
    per_def(
        &mut out,
        "flowsift_flow_samples_matched_total",
        "counter",
        "Samples applied to a flow definition's tables.",
        &|d| d.samples_matched,
    );
    per_def(
        &mut out,
        "flowsift_flows_created_total",
        "counter",
        "Flows opened.",
        &|d| d.flows_created,
    );
    per_def(
        &mut out,
        "flowsift_flows_evicted_total",
        "counter",
        "Flows removed early because a table was full.",
        &|d| d.flows_evicted,
    );
    per_def(
        &mut out,
        "flowsift_flows_expired_total",
        "counter",
        "Flows removed after idleTimeout.",
        &|d| d.flows_expired,
    );
    per_def(
        &mut out,
        "flowsift_flows_active",
        "gauge",
        "Flows in the tables now.",
        &|d| d.flows_active,
    );
    per_def(
        &mut out,
        "flowsift_flow_samples_agents_full_total",
        "counter",
        "Samples dropped because a table's IPv6 agent intern was full.",
        &|d| d.samples_agents_full,
    );
    per_def(
        &mut out,
        "flowsift_threshold_events_total",
        "counter",
        "Threshold events (crossings and end events) among a definition's events.",
        &|d| d.threshold_events,
    );
    let i = &s.stats.interfaces;
    out.single(
        "flowsift_interface_metrics_interfaces",
        "gauge",
        "Interfaces whose metrics the interface thresholds track.",
        i.interfaces,
    );
    for (name, help, value) in [
        (
            "flowsift_interface_metrics_refused_total",
            "Counter samples of interfaces beyond the tracked bound.",
            i.refused,
        ),
        (
            "flowsift_interface_metrics_out_of_order_total",
            "Counter samples skipped as duplicated or late.",
            i.out_of_order,
        ),
        (
            "flowsift_interface_metrics_restarts_total",
            "Counter samples that became a new baseline (agent restart, counter reset).",
            i.restarts,
        ),
        (
            "flowsift_interface_metrics_no_speed_total",
            "Utilizations not computed because ifSpeed was 0.",
            i.no_speed,
        ),
        (
            "flowsift_interface_threshold_events_total",
            "Threshold events on interface metrics.",
            i.events,
        ),
        (
            "flowsift_interface_threshold_events_dropped_total",
            "Interface threshold events dropped because their ring to the sink was full.",
            s.stats.interface_events_dropped,
        ),
    ] {
        out.single(name, "counter", help, value);
    }

    // Sinks.
    let sink = &s.stats.sink;
    out.single(
        "flowsift_sink_events_taken_total",
        "counter",
        "Events the syslog sender took from the flow workers.",
        sink.events,
    );
    out.single(
        "flowsift_sink_events_unrouted_total",
        "counter",
        "Events no sink takes (their flow is routed nowhere).",
        sink.unrouted,
    );
    let dests = &sink.destinations;
    let per_sink = |out: &mut Out,
                    name: &str,
                    kind: &str,
                    help: &str,
                    f: &dyn Fn(&crate::sink::DestinationStats) -> u64| {
        out.family(name, kind, help);
        for d in dests {
            out.sample(name, &[("sink", &d.name)], f(d));
        }
    };
    per_sink(
        &mut out,
        "flowsift_sink_events_sent_total",
        "counter",
        "Messages handed to the kernel, per sink.",
        &|d| d.sent,
    );
    per_sink(
        &mut out,
        "flowsift_sink_events_dropped_total",
        "counter",
        "Events given up on (failed datagrams, shutdown deadline), per sink.",
        &|d| d.dropped,
    );
    per_sink(
        &mut out,
        "flowsift_sink_events_overflow_total",
        "counter",
        "Events refused because the sink's queue was full.",
        &|d| d.overflow,
    );
    per_sink(
        &mut out,
        "flowsift_sink_events_queued",
        "gauge",
        "Events accepted and neither sent nor dropped yet.",
        &|d| d.queued,
    );
    per_sink(
        &mut out,
        "flowsift_sink_errors_total",
        "counter",
        "Failed sends and connection attempts.",
        &|d| d.errors,
    );
    per_sink(
        &mut out,
        "flowsift_sink_reconnects_total",
        "counter",
        "Connections made after the first.",
        &|d| d.reconnects,
    );
    per_sink(
        &mut out,
        "flowsift_sink_sends_total",
        "counter",
        "Send calls that handed over at least one message.",
        &|d| d.batches,
    );
    per_sink(
        &mut out,
        "flowsift_sink_connected",
        "gauge",
        "1 while the sink's connection is up.",
        &|d| u64::from(d.connected),
    );
    out.family(
        "flowsift_sink_latency_seconds",
        "histogram",
        "Time from datagram receipt to the send call, per sink.",
    );
    for d in dests {
        let h = &d.latency_buckets;
        for (bound, n) in LATENCY_BOUNDS_US.iter().zip(h.le.iter()) {
            let le = format!("{}", *bound as f64 / 1e6);
            out.sample(
                "flowsift_sink_latency_seconds_bucket",
                &[("sink", &d.name), ("le", &le)],
                n,
            );
        }
        out.sample(
            "flowsift_sink_latency_seconds_bucket",
            &[("sink", &d.name), ("le", "+Inf")],
            h.count,
        );
        out.sample(
            "flowsift_sink_latency_seconds_sum",
            &[("sink", &d.name)],
            format_args!("{}", h.sum_us as f64 / 1e6),
        );
        out.sample(
            "flowsift_sink_latency_seconds_count",
            &[("sink", &d.name)],
            h.count,
        );
    }
    fabric(&mut out, s);
    out.text
}

/// The agents' interface counters, and what the bounds left out of them.
fn fabric(out: &mut Out, s: &Snapshot) {
    out.single(
        "flowsift_fabric_interfaces",
        "gauge",
        "Agent interfaces whose counters are exported as sflow_* series.",
        s.fabric.len(),
    );
    out.family(
        "flowsift_fabric_updates_dropped_total",
        "counter",
        "Interface counter updates not exported: max_series reached, or the receive queue full.",
    );
    out.sample(
        "flowsift_fabric_updates_dropped_total",
        &[("reason", "max_series")],
        s.fabric.untracked,
    );
    out.sample(
        "flowsift_fabric_updates_dropped_total",
        &[("reason", "queue_full")],
        s.stats.rx.totals.interface_updates_dropped,
    );
    s.fabric.render(out);
}

impl super::fabric::Exposition for Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        Out::family(self, name, kind, help);
    }
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        Out::sample(self, name, labels, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_help_and_type_and_labels_are_escaped() {
        let text = render(&Snapshot::default());
        let mut families = 0;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                families += 1;
                let name = rest.split(' ').next().unwrap();
                assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            }
        }
        assert!(families > 20, "{families}");
        assert!(text.contains("flowsift_config_reloads_total{result=\"failure\"} 0"));
        let mut s = String::new();
        escape("a\"b\\c\nd", &mut s);
        assert_eq!(s, "a\\\"b\\\\c\\nd");
    }
}
