//! The flow engine end to end: routers on (simulated) receive threads, rings, pinned
//! workers with a manual clock, and the records that reach the output rings.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use flowsift::flow::{
    builtin, Clock, FlowDefinitions, FlowEvent, FlowSpec, FlowStats, ManualClock, Router, Scope,
    WorkerConfig, Workers,
};
use flowsift::flow::{Route, WorkItem};
use flowsift::packet::{KeyFields, Unreachable, L4};
use flowsift::record::SampleRecord;
use flowsift::ring::{ring, Consumer, Producer};

const T0: u64 = 1_764_000_000_000;

/// Receive threads feeding workers through per-(receive thread, worker) rings.
struct Engine {
    routers: Vec<Router>,
    rings: Vec<Vec<Producer<WorkItem>>>,
    workers: Workers,
    outputs: Vec<Consumer<FlowEvent>>,
    clock: ManualClock,
    sent: u64,
}

impl Engine {
    fn start(specs: &[FlowSpec], receivers: usize, workers: usize, out_cap: usize) -> Engine {
        let defs = FlowDefinitions::from_specs(specs).unwrap();
        let mut rings: Vec<Vec<Producer<WorkItem>>> = (0..receivers).map(|_| Vec::new()).collect();
        let mut inputs: Vec<Vec<Consumer<WorkItem>>> = (0..workers).map(|_| Vec::new()).collect();
        for rx in rings.iter_mut() {
            for input in inputs.iter_mut() {
                let (p, c) = ring(4096);
                rx.push(p);
                input.push(c);
            }
        }
        let (producers, outputs): (Vec<_>, Vec<_>) = (0..workers).map(|_| ring(out_cap)).unzip();
        let clock = ManualClock::new(T0);
        let config = WorkerConfig {
            cores: vec![None; workers],
            clock: Clock::Manual(clock.clone()),
            ..WorkerConfig::default()
        };
        let running = Workers::spawn(&defs, config, inputs, producers).unwrap();
        Engine {
            routers: (0..receivers)
                .map(|_| Router::new(&defs, workers))
                .collect(),
            rings,
            workers: running,
            outputs,
            clock,
            sent: 0,
        }
    }

    /// Route and push one sample from receive thread `rx`; returns the deliveries
    /// (one per definition that wants it).
    fn send(&mut self, rx: usize, record: SampleRecord) -> u64 {
        let rings = &mut self.rings[rx];
        let mut n = 0;
        self.routers[rx].route(&record, &mut |w, flow| {
            assert!(rings[w].push(WorkItem::new(&record, flow)).is_ok());
            n += 1;
        });
        self.sent += n;
        n
    }

    /// Wait (bounded) until the workers have applied every sample sent so far.
    fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let done: u64 = self
                .workers
                .stats()
                .definitions
                .iter()
                .map(|d| d.samples_matched)
                .sum();
            if done == self.sent {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "workers did not settle: {done} of {}",
                self.sent
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Records currently in the output rings.
    fn drain(&mut self) -> Vec<FlowEvent> {
        let mut out = Vec::new();
        for o in self.outputs.iter_mut() {
            while let Some(e) = o.pop() {
                out.push(e);
            }
        }
        out
    }

    /// Move the clock, wait (bounded) for `want` records, and a little more so that any
    /// record beyond `want` (a bug) shows up too.
    fn advance_and_collect(&mut self, ms: u64, want: usize) -> Vec<FlowEvent> {
        self.clock.advance_ms(ms);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut got = Vec::new();
        while got.len() < want && Instant::now() < deadline {
            got.extend(self.drain());
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(30));
        got.extend(self.drain());
        got
    }

    /// Close the rings, let the workers flush and exit, and return what is left.
    fn finish(mut self) -> (Vec<FlowEvent>, FlowStats) {
        self.rings.clear();
        let joined = self.workers.join();
        assert_eq!(joined.panicked, 0, "a worker panicked");
        let mut out = Vec::new();
        for o in self.outputs.iter_mut() {
            while let Some(e) = o.pop() {
                out.push(e);
            }
        }
        (out, joined.stats)
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// An ICMP (or ICMPv6) destination-unreachable sample as the decoder reports it:
/// `responder` answered `scanner`; `u` is what the embedded header revealed.
fn unreachable(agent: &str, responder: &str, scanner: &str, u: Unreachable) -> SampleRecord {
    let v6 = ip(responder).is_ipv6();
    let code = match (u, v6) {
        (Unreachable::Net(_), _) => 0,
        (Unreachable::Host(_), false) => 1,
        (Unreachable::Host(_), true) => 3,
        (Unreachable::Protocol(_), _) => 2,
        (Unreachable::Port { .. }, false) => 3,
        (Unreachable::Port { .. }, true) => 4,
    };
    SampleRecord::new(ip(agent), 0, 5)
        .with_source(0, 12)
        .with_input(0, 12)
        .with_output(0, 30)
        .with_sampling_rate(4096)
        .with_frame_length(110)
        .with_keys(
            KeyFields {
                ethernet_protocol: Some(if v6 { 0x86DD } else { 0x0800 }),
                ip_source: Some(ip(responder)),
                ip_destination: Some(ip(scanner)),
                ip_protocol: Some(if v6 { 58 } else { 1 }),
                icmp_type: Some(if v6 { 1 } else { 3 }),
                icmp_code: Some(code),
                unreachable: Some(u),
                ..Default::default()
            }
            .into(),
        )
}

fn port(protocol: L4, port: u16) -> Unreachable {
    Unreachable::Port { protocol, port }
}

/// (name, flowKeys, agent, value) of each record.
fn summary(events: &[FlowEvent]) -> BTreeSet<(String, String, IpAddr, u64)> {
    events
        .iter()
        .map(|e| (e.name.to_string(), e.flow_keys(), e.agent, e.value as u64))
        .collect()
}

fn all_builtins() -> Vec<FlowSpec> {
    ["uport", "unet", "uhost", "uproto", "uport6"]
        .iter()
        .map(|n| builtin(n).unwrap())
        .collect()
}

#[test]
fn icmp_unreachable_every_code_both_families_several_agents() {
    let mut engine = Engine::start(&all_builtins(), 2, 2, 1024);
    let samples = [
        // IPv4, codes 0 to 3, from three agents; 10.0.0.66 is the scanner.
        (
            "192.0.2.1",
            "10.0.1.1",
            "10.0.0.66",
            Unreachable::Net(ip("10.9.0.0")),
        ),
        (
            "192.0.2.1",
            "10.0.1.2",
            "10.0.0.66",
            Unreachable::Host(ip("10.0.1.20")),
        ),
        (
            "192.0.2.2",
            "10.0.1.3",
            "10.0.0.66",
            Unreachable::Protocol(132),
        ),
        ("192.0.2.2", "10.0.1.4", "10.0.0.66", port(L4::Udp, 53)),
        ("192.0.2.3", "10.0.1.4", "10.0.0.66", port(L4::Tcp, 22)),
        // IPv6 port and address unreachable, from an IPv6 agent.
        (
            "2001:db8::a",
            "2001:db8:1::4",
            "2001:db8:f::66",
            port(L4::Udp, 161),
        ),
        (
            "2001:db8::a",
            "2001:db8:1::5",
            "2001:db8:f::66",
            Unreachable::Host(ip("2001:db8:1::50")),
        ),
    ];
    for (i, (agent, responder, scanner, u)) in samples.iter().enumerate() {
        let r = unreachable(agent, responder, scanner, *u);
        engine.send(i % 2, r);
        // The same key from the same agent again, through the other receive thread.
        engine.send((i + 1) % 2, r);
    }
    // The same port answer seen by another agent is another flow in agent scope.
    engine.send(
        0,
        unreachable("192.0.2.1", "10.0.1.4", "10.0.0.66", port(L4::Udp, 53)),
    );
    // A sample that is not an unreachable message matches nothing.
    let mut plain = unreachable("192.0.2.1", "10.0.1.4", "10.0.0.66", port(L4::Udp, 53));
    plain.keys.set_unreachable(None);
    assert_eq!(engine.send(0, plain), 0);
    engine.settle();
    let (events, stats) = engine.finish();

    let want: BTreeSet<_> = [
        ("unet", "10.0.1.1,10.0.0.66,10.9.0.0", "192.0.2.1"),
        ("uhost", "10.0.1.2,10.0.0.66,10.0.1.20", "192.0.2.1"),
        ("uproto", "10.0.1.3,10.0.0.66,132", "192.0.2.2"),
        ("uport", "10.0.1.4,10.0.0.66,udp_53", "192.0.2.2"),
        ("uport", "10.0.1.4,10.0.0.66,tcp_22", "192.0.2.3"),
        ("uport", "10.0.1.4,10.0.0.66,udp_53", "192.0.2.1"),
        (
            "uport6",
            "2001:db8:1::4,2001:db8:f::66,udp_161",
            "2001:db8::a",
        ),
    ]
    .iter()
    .map(|(n, k, a)| (n.to_string(), k.to_string(), ip(a), 4096))
    .collect();
    assert_eq!(summary(&events), want);
    assert_eq!(events.len(), want.len(), "no duplicates");
    for e in &events {
        assert_eq!(e.data_source, 12);
        assert_eq!((e.start_ms, e.end_ms), (T0, T0));
        assert_eq!(e.received_ns, 5);
    }
    let ids: BTreeSet<u64> = events.iter().map(|e| e.flow_id).collect();
    assert_eq!(ids.len(), events.len(), "flow ids are unique");
    let uport = stats
        .definitions
        .iter()
        .find(|d| &*d.name == "uport")
        .unwrap();
    assert_eq!(uport.samples_matched, 5);
    assert_eq!(uport.flows_created, 3);
    assert_eq!(uport.events_emitted, 3);
    assert_eq!(uport.events_dropped, 0);
}

#[test]
fn fabric_scope_reports_a_scan_once_across_agents() {
    let mut spec = builtin("uport").unwrap();
    spec.scope = Some(Scope::Fabric);
    let mut engine = Engine::start(&[spec], 2, 2, 64);
    for a in 1..=10 {
        let r = unreachable(
            &format!("192.0.2.{a}"),
            "10.0.1.4",
            "10.0.0.66",
            port(L4::Udp, 53),
        );
        engine.send(a % 2, r);
    }
    engine.settle();
    let (events, _) = engine.finish();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].flow_keys(), "10.0.1.4,10.0.0.66,udp_53");
}

#[test]
fn end_of_flow_and_active_timeout_through_workers() {
    let spec: FlowSpec = toml::from_str(
        r#"name = "talkers"
           keys = "ipsource,ipdestination"
           value = "bytes"
           log = true
           activeTimeout = 10
           idleTimeout = 5
           fs = "->""#,
    )
    .unwrap();
    let mut engine = Engine::start(&[spec], 1, 2, 64);
    let r = unreachable(
        "192.0.2.1",
        "10.0.1.4",
        "10.0.0.66",
        Unreachable::Protocol(6),
    );
    // Samples at 0, 4 and 8 s: no record yet.
    for step in 0..3 {
        engine.send(0, r);
        engine.settle();
        if step < 2 {
            assert!(engine.advance_and_collect(4000, 0).is_empty());
        }
    }
    // At 12 s the active timeout (10 s) reports the three samples.
    let active = engine.advance_and_collect(4000, 1);
    assert_eq!(active.len(), 1, "{active:?}");
    assert_eq!(active[0].flow_keys(), "10.0.1.4->10.0.0.66");
    assert_eq!(active[0].value, 3.0 * 4096.0 * 110.0);
    assert_eq!((active[0].start_ms, active[0].end_ms), (T0, T0 + 8000));
    // One more sample, then silence: the end record carries only it.
    engine.send(0, r);
    engine.settle();
    let end = engine.advance_and_collect(7000, 1);
    assert_eq!(end.len(), 1, "{end:?}");
    assert_eq!(end[0].value, 4096.0 * 110.0);
    assert_eq!(end[0].end_ms, T0 + 12_000);
    let (rest, stats) = engine.finish();
    assert!(rest.is_empty());
    assert_eq!(stats.definitions[0].flows_expired, 1);
    assert_eq!(stats.definitions[0].flows_active, 0);
}

#[test]
fn flush_at_shutdown_ends_open_flows() {
    let spec: FlowSpec = toml::from_str("name = \"t\"\nkeys = \"ipsource\"\nlog = true").unwrap();
    let mut engine = Engine::start(&[spec], 1, 2, 64);
    for h in 1..=4 {
        engine.send(
            0,
            unreachable(
                "192.0.2.1",
                &format!("10.0.1.{h}"),
                "10.0.0.66",
                Unreachable::Protocol(6),
            ),
        );
    }
    engine.settle();
    let (events, _) = engine.finish();
    assert_eq!(events.len(), 4);
}

#[test]
fn idle_flow_start_key_fires_again_through_workers() {
    let mut engine = Engine::start(&[builtin("uport").unwrap()], 1, 1, 64);
    let r = unreachable("192.0.2.1", "10.0.1.4", "10.0.0.66", port(L4::Udp, 53));
    engine.send(0, r);
    engine.settle();
    assert_eq!(engine.advance_and_collect(0, 1).len(), 1);
    engine.send(0, r);
    engine.settle();
    assert!(engine.advance_and_collect(30_000, 0).is_empty());
    engine.send(0, r);
    engine.settle();
    assert!(
        engine.advance_and_collect(0, 0).is_empty(),
        "seen again within idleTimeout"
    );
    // 61 s after the last sample (default idleTimeout 60 s) the key is new again.
    assert!(engine.advance_and_collect(61_000, 0).is_empty());
    engine.send(0, r);
    engine.settle();
    let again = engine.advance_and_collect(0, 1);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].start_ms, T0 + 91_000);
    engine.finish();
}

/// `uport` in agent scope with many IPv6 agents, whose 32-byte entries name the agent by
/// an index into each table's agent intern: one record per (agent, key), each carrying
/// its own agent; an IPv4 agent and its IPv4-mapped IPv6 form stay two flows; nothing is
/// dropped; after the idle timeout (the sweep empties the tables and their interns)
/// every key fires again, still with the right agent.
#[test]
fn many_ipv6_agents_through_workers() {
    let mut engine = Engine::start(&[builtin("uport").unwrap()], 2, 2, 4096);
    let mut samples = Vec::new();
    for a in 0..40u32 {
        for k in 0..25u16 {
            let agent = format!("2001:db8:{a:x}::1");
            samples.push(unreachable(
                &agent,
                "10.0.1.4",
                "10.0.0.66",
                port(L4::Udp, k),
            ));
        }
    }
    for agent in ["192.0.2.1", "::ffff:192.0.2.1"] {
        samples.push(unreachable(
            agent,
            "10.0.1.4",
            "10.0.0.66",
            port(L4::Udp, 7),
        ));
    }
    let want: BTreeSet<_> = samples
        .iter()
        .map(|r| {
            let k = r.keys.unreachable();
            let Some(Unreachable::Port { port, .. }) = k else {
                unreachable!("{k:?}")
            };
            (
                "uport".to_string(),
                format!("10.0.1.4,10.0.0.66,udp_{port}"),
                r.agent,
                4096,
            )
        })
        .collect();
    assert_eq!(want.len(), 1002);
    for r in &samples {
        engine.send(0, *r);
        engine.send(1, *r);
    }
    engine.settle();
    let first = engine.advance_and_collect(0, 1002);
    assert_eq!(first.len(), 1002, "one record per agent and key");
    assert_eq!(summary(&first), want);
    assert!(engine.advance_and_collect(61_000, 0).is_empty());
    for r in &samples {
        engine.send(0, *r);
    }
    engine.settle();
    let again = engine.advance_and_collect(0, 1002);
    assert_eq!(again.len(), 1002, "every key fires again after idleTimeout");
    assert_eq!(summary(&again), want);
    let (rest, stats) = engine.finish();
    assert!(rest.is_empty());
    let d = &stats.definitions[0];
    assert_eq!((d.flows_created, d.flows_expired), (2004, 1002));
    assert_eq!(d.samples_agents_full, 0);
    assert_eq!(d.events_dropped, 0);
}

#[test]
fn full_output_ring_drops_and_counts() {
    let mut engine = Engine::start(&[builtin("uport").unwrap()], 1, 1, 1);
    for k in 0..5u16 {
        engine.send(
            0,
            unreachable("192.0.2.1", "10.0.1.4", "10.0.0.66", port(L4::Udp, k)),
        );
    }
    engine.settle();
    let (events, stats) = engine.finish();
    assert_eq!(events.len(), 1);
    let d = &stats.definitions[0];
    assert_eq!((d.events_emitted, d.events_dropped), (5, 4));
}

#[test]
fn bounded_table_evicts_and_counts() {
    let mut spec = builtin("uport").unwrap();
    spec.max_entries = Some(100);
    let mut engine = Engine::start(&[spec], 1, 1, 4096);
    for k in 0..300u16 {
        engine.send(
            0,
            unreachable("192.0.2.1", "10.0.1.4", "10.0.0.66", port(L4::Tcp, k)),
        );
    }
    engine.settle();
    assert_eq!(engine.workers.stats().definitions[0].flows_active, 100);
    let (events, stats) = engine.finish();
    assert_eq!(events.len(), 300);
    let d = &stats.definitions[0];
    assert_eq!(d.flows_created, 300);
    assert_eq!(d.flows_evicted, 200);
    assert_eq!(d.flows_active, 0, "flushed at shutdown");
}

#[test]
fn spawn_rejects_mismatched_shapes() {
    let defs = FlowDefinitions::from_specs(&[builtin("uport").unwrap()]).unwrap();
    let (p, _c) = ring::<FlowEvent>(4);
    let err = Workers::spawn(&defs, WorkerConfig::default(), Vec::new(), vec![p]);
    assert!(err.is_err());
}
