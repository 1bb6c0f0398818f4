//! The table's tests: records and timers, eviction and growth, both scopes and agent
//! families, the router's identities, every layout, and random churn against the
//! table's invariants.

use std::net::IpAddr;

use super::*;
use crate::flow::definition::{builtin, FlowSpec};
use crate::flow::key::definition_seed;
use crate::packet::{KeyValue, L4};

fn def(toml_text: &str) -> FlowDefinition {
    let spec: FlowSpec = toml::from_str(toml_text).unwrap();
    FlowDefinition::from_spec(&spec).unwrap()
}

fn uport() -> FlowDefinition {
    FlowDefinition::from_spec(&builtin("uport").unwrap()).unwrap()
}

/// An ICMP port unreachable sample: `responder` answered `scanner` about `port`.
fn unreach(agent: &str, responder: u32, scanner: u32, port: u16) -> SampleRecord {
    SampleRecord::port_unreachable(
        agent.parse().unwrap(),
        responder.into(),
        scanner.into(),
        port,
    )
    .with_source(0, 7)
    .with_input(0, 7)
    .with_output(0, 8)
    .with_received_ns(42)
}

struct Run {
    table: FlowTable,
    events: Vec<FlowEvent>,
}

impl Run {
    fn new(def: &FlowDefinition, max: usize) -> Run {
        Run {
            // No pre-sizing: these tables start small, so the tests exercise growth.
            table: FlowTable::with_presize(def, max, definition_seed(0), 0),
            events: Vec::new(),
        }
    }
    fn sample(&mut self, r: &SampleRecord, now: u64) -> usize {
        let before = self.events.len();
        let events = &mut self.events;
        self.table.sample(r, now, &mut |e| events.push(e));
        self.events.len() - before
    }
    fn tick(&mut self, now: u64) -> usize {
        let before = self.events.len();
        let events = &mut self.events;
        self.table.tick(now, &mut |e| events.push(e));
        self.events.len() - before
    }
}

const T0: u64 = 1_700_000_000_000;

#[test]
fn flow_start_emits_once_per_new_key() {
    let mut run = Run::new(&uport(), 1000);
    let r = unreach("192.0.2.1", 0x0a00_0005, 0x0a00_0009, 53);
    assert_eq!(run.sample(&r, T0), 1);
    assert_eq!(run.sample(&r, T0 + 10), 0);
    assert_eq!(run.sample(&r, T0 + 20), 0);
    let e = &run.events[0];
    assert_eq!(&*e.name, "uport");
    assert_eq!(e.flow_keys(), "10.0.0.5,10.0.0.9,udp_53");
    assert_eq!(
        e.keys[2],
        (
            FlowKey::Packet(Key::IcmpUnreachablePort),
            KeyValue::Port(L4::Udp, 53)
        )
    );
    assert_eq!(e.value, 1000.0);
    assert_eq!((e.start_ms, e.end_ms), (T0, T0));
    assert_eq!(e.agent, "192.0.2.1".parse::<IpAddr>().unwrap());
    assert_eq!(e.data_source, 7);
    assert_eq!(e.received_ns, 42);
    assert!(e.flow_id > 0);
    let other = unreach("192.0.2.1", 0x0a00_0005, 0x0a00_0009, 54);
    assert_eq!(run.sample(&other, T0 + 30), 1);
    assert!(run.events[1].flow_id > run.events[0].flow_id);
    let c = run.table.counters();
    assert_eq!((c.samples, c.created, c.events), (4, 2, 2));
}

#[test]
fn value_is_scaled_frames_or_bytes() {
    let r = unreach("192.0.2.1", 1, 2, 3);
    let mut frames = Run::new(
        &def("name=\"f\"\nkeys=\"ipsource\"\nlog=true\nflowStart=true"),
        10,
    );
    frames.sample(&r, T0);
    assert_eq!(frames.events[0].value, 1000.0);
    let mut bytes = Run::new(
        &def("name=\"b\"\nkeys=\"ipsource\"\nvalue=\"bytes\"\nlog=true\nflowStart=true"),
        10,
    );
    bytes.sample(&r, T0);
    assert_eq!(bytes.events[0].value, 70_000.0);
}

#[test]
fn end_of_flow_record_when_idle() {
    let d = def("name=\"e\"\nkeys=\"ipsource\"\nlog=true\nidleTimeout=5\nvalue=\"bytes\"");
    let mut run = Run::new(&d, 10);
    let r = unreach("192.0.2.1", 1, 2, 3);
    run.tick(T0);
    assert_eq!(run.sample(&r, T0), 0);
    assert_eq!(run.sample(&r, T0 + 1000), 0);
    assert_eq!(run.sample(&r, T0 + 2000), 0);
    assert_eq!(run.tick(T0 + 6999), 0, "idle for 4.999 s");
    assert_eq!(run.tick(T0 + 7000 + SWEEP_MS), 1, "swept within a pass");
    let e = &run.events[0];
    assert_eq!(e.value, 3.0 * 70_000.0);
    assert_eq!((e.start_ms, e.end_ms), (T0, T0 + 2000));
    assert_eq!(run.table.len(), 0);
    assert_eq!(run.table.counters().expired, 1);
    assert_eq!(run.tick(T0 + 20_000), 0);
}

#[test]
fn active_timeout_reports_long_flows() {
    let d = def("name=\"a\"\nkeys=\"ipsource\"\nlog=true\nactiveTimeout=10\nidleTimeout=5");
    let mut run = Run::new(&d, 10);
    let r = unreach("192.0.2.1", 1, 2, 3);
    run.tick(T0);
    // One sample a second for 25 s.
    for s in 0..25u64 {
        let now = T0 + s * 1000;
        run.tick(now);
        run.sample(&r, now);
    }
    // Reports at 10 s and 20 s, each covering ten samples.
    assert_eq!(run.events.len(), 2, "{:?}", run.events);
    assert_eq!(run.events[0].value, 10_000.0);
    assert_eq!(
        (run.events[0].start_ms, run.events[0].end_ms),
        (T0, T0 + 9000)
    );
    assert_eq!(run.events[1].start_ms, T0 + 10_000);
    // Then idle: the rest (samples 20..24) comes at the end.
    assert_eq!(run.tick(T0 + 30_000), 1);
    assert_eq!(run.events[2].value, 5000.0);
    assert_eq!(run.events[2].end_ms, T0 + 24_000);
}

#[test]
fn active_timeout_fires_from_the_sweep_without_samples() {
    let d = def("name=\"a\"\nkeys=\"ipsource\"\nlog=true\nactiveTimeout=10\nidleTimeout=60");
    let mut run = Run::new(&d, 10);
    run.tick(T0);
    run.sample(&unreach("192.0.2.1", 1, 2, 3), T0);
    run.sample(&unreach("192.0.2.1", 1, 2, 3), T0 + 5000);
    assert_eq!(run.tick(T0 + 9000), 0);
    assert_eq!(run.tick(T0 + 10_000), 1);
    assert_eq!(run.events[0].value, 2000.0);
}

#[test]
fn flow_start_key_fires_again_after_idle_timeout() {
    let d = def("name=\"u\"\nkeys=\"ipsource\"\nlog=true\nflowStart=true\nidleTimeout=60");
    let mut run = Run::new(&d, 10);
    let r = unreach("192.0.2.1", 1, 2, 3);
    run.tick(T0);
    assert_eq!(run.sample(&r, T0), 1);
    assert_eq!(run.tick(T0 + 59_000), 0);
    assert_eq!(run.sample(&r, T0 + 59_000), 0, "still fresh");
    assert_eq!(run.tick(T0 + 118_999), 0, "idle 59.999 s: kept");
    assert_eq!(run.sample(&r, T0 + 119_000), 1, "idle 60 s: fires again");
    assert_eq!(run.sample(&r, T0 + 119_001), 0);
    assert_eq!(
        run.tick(T0 + 180_000),
        0,
        "expiry of a flowStart flow is silent"
    );
    assert_eq!(run.table.len(), 0);
    assert_eq!(run.table.counters().expired, 2);
    assert_eq!(
        run.sample(&r, T0 + 180_500),
        1,
        "fires again after the sweep too"
    );
}

#[test]
fn full_table_evicts_least_recently_seen() {
    let d = def("name=\"u\"\nkeys=\"ipsource\"\nlog=true\nflowStart=true");
    let mut run = Run::new(&d, 4);
    for k in 0..4u32 {
        assert_eq!(
            run.sample(&unreach("192.0.2.1", k, 9, 1), T0 + u64::from(k)),
            1
        );
    }
    // Key 0 is seen again, so key 1 is now the least recently seen.
    assert_eq!(run.sample(&unreach("192.0.2.1", 0, 9, 1), T0 + 10), 0);
    assert_eq!(run.sample(&unreach("192.0.2.1", 4, 9, 1), T0 + 11), 1);
    assert_eq!(run.table.len(), 4);
    assert_eq!(run.table.counters().evicted, 1);
    assert_eq!(run.sample(&unreach("192.0.2.1", 0, 9, 1), T0 + 12), 0);
    assert_eq!(run.sample(&unreach("192.0.2.1", 4, 9, 1), T0 + 12), 0);
    // Key 1 was evicted: it is new again (and evicts key 2, now the oldest).
    assert_eq!(run.sample(&unreach("192.0.2.1", 1, 9, 1), T0 + 13), 1);
    assert_eq!(run.sample(&unreach("192.0.2.1", 2, 9, 1), T0 + 14), 1);
    assert_eq!(run.table.counters().evicted, 3);
}

#[test]
fn evicting_an_open_flow_reports_it() {
    let d = def("name=\"e\"\nkeys=\"ipsource\"\nlog=true");
    let mut run = Run::new(&d, 1);
    assert_eq!(run.sample(&unreach("192.0.2.1", 1, 9, 1), T0), 0);
    assert_eq!(run.sample(&unreach("192.0.2.1", 2, 9, 1), T0 + 1), 1);
    assert_eq!(run.events[0].flow_keys(), "0.0.0.1");
}

#[test]
fn scopes() {
    let a = unreach("192.0.2.1", 1, 2, 3);
    let mut b = unreach("192.0.2.2", 1, 2, 3);
    let mut agent = Run::new(&uport(), 100);
    assert_eq!(agent.sample(&a, T0), 1);
    assert_eq!(agent.sample(&b, T0), 1, "another agent is another flow");
    b.set_source(0, 8);
    assert_eq!(agent.sample(&b, T0), 1, "another data source too");
    let mut v6 = a;
    v6.agent = "::ffff:192.0.2.1".parse().unwrap();
    assert_eq!(
        agent.sample(&v6, T0),
        1,
        "IPv4-mapped agent is not the IPv4 one"
    );
    assert_eq!(agent.sample(&a, T0), 0);

    let fabric_def = FlowDefinition::from_spec(&FlowSpec {
        name: "uport".into(),
        scope: Some(Scope::Fabric),
        ..Default::default()
    })
    .unwrap();
    let mut fabric = Run::new(&fabric_def, 100);
    assert_eq!(fabric.sample(&a, T0), 1);
    assert_eq!(fabric.sample(&b, T0), 0, "one flow across the fabric");
    assert_eq!(fabric.events[0].agent, a.agent, "the first agent opens it");
}

#[test]
fn sample_missing_a_key_does_not_match() {
    let mut run = Run::new(&uport(), 100);
    let mut r = unreach("192.0.2.1", 1, 2, 3);
    r.keys.set_unreachable(None);
    assert_eq!(run.sample(&r, T0), 0);
    assert_eq!(run.table.counters().samples, 0);
    assert!(run.table.is_empty());
}

#[test]
fn log_false_tracks_without_records() {
    let d = def("name=\"q\"\nkeys=\"ipsource\"\nflowStart=true");
    let mut run = Run::new(&d, 10);
    assert_eq!(run.sample(&unreach("192.0.2.1", 1, 2, 3), T0), 0);
    assert_eq!(run.table.counters().created, 1);
    assert_eq!(run.table.counters().events, 0);
}

#[test]
fn growth_and_deletion_keep_every_flow_findable() {
    let d = def(
        "name=\"u\"\nkeys=\"ipsource,ipdestination\"\nlog=true\nflowStart=true\nidleTimeout=10",
    );
    let mut run = Run::new(&d, 20_000);
    run.tick(T0);
    // 8000 keys: even ones seen at T0, odd ones 5 s later.
    for k in 0..8000u32 {
        let now = T0 + if k % 2 == 0 { 0 } else { 5000 };
        assert_eq!(run.sample(&unreach("192.0.2.1", k, 7, 1), now), 1);
    }
    assert_eq!(run.table.len(), 8000);
    assert!(run.table.allocated_bytes() >= 8000 * run.table.entry_bytes());
    // At T0 + 10 s the even half expires (deletions shift runs back).
    run.tick(T0 + 10_000);
    assert_eq!(run.table.len(), 4000);
    assert_eq!(run.table.counters().expired, 4000);
    for k in 0..8000u32 {
        let fired = run.sample(&unreach("192.0.2.1", k, 7, 1), T0 + 10_001);
        assert_eq!(fired, (k % 2 == 0) as usize, "key {k}");
    }
    assert_eq!(run.table.len(), 8000);
}

#[test]
fn flush_ends_open_flows() {
    let d = def("name=\"e\"\nkeys=\"ipsource\"\nlog=true");
    let mut run = Run::new(&d, 10);
    run.sample(&unreach("192.0.2.1", 1, 2, 3), T0);
    run.sample(&unreach("192.0.2.1", 2, 2, 3), T0);
    let events = &mut run.events;
    run.table.flush(T0 + 1, &mut |e| events.push(e));
    assert_eq!(run.events.len(), 2);
    assert!(run.table.is_empty());
}

impl FlowTable {
    /// Every stored flow is found from its home slot (no probe run is broken) and
    /// `len` counts the occupied slots.
    fn check_invariants(&self) {
        let mut occupied = 0;
        for i in 0..self.slots {
            if !self.occupied(self.at(i)) {
                continue;
            }
            occupied += 1;
            let e = self.entry(i);
            let mut key = PackedKey::EMPTY;
            let mut tail = 0;
            let ident = &e[self.ident_at..self.ident_at + self.ident_words];
            for (k, &word) in ident.iter().enumerate() {
                match key.words.get_mut(k) {
                    Some(w) => *w = word,
                    None => tail = word,
                }
            }
            let agent = if self.flow_start {
                self.agent_word(e)
            } else {
                0
            };
            let probe = Probe {
                hash: self.hash_of(e),
                scope: self.entry_scope(e),
                key,
                tail,
                agent,
            };
            assert_eq!(self.find(&probe, agent), Ok(i), "slot {i} unreachable");
        }
        assert_eq!(occupied, self.len);
        // Compact entries: a flow has stored gates exactly while a fired bit is set.
        if self.compact {
            let fired: Vec<usize> = (0..self.slots)
                .filter(|&i| self.occupied(self.at(i)) && self.fired_bits(i) != 0)
                .collect();
            assert_eq!(fired.len(), self.fired_gates.len());
            for i in fired {
                assert!(self.fired_gates.contains_key(&self.gate_key(i)), "slot {i}");
            }
        }
        // Every interned agent is named by as many entries as it counts, and no more
        // agents are interned than have flows.
        if self.flow_start && self.scope == Scope::Agent {
            let mut named = vec![0u32; self.agents.flows.len()];
            for i in 0..self.slots {
                if self.occupied(self.at(i)) {
                    let e = self.entry(i);
                    if self.interns(&self.entry_scope(e)) {
                        named[self.agent_word(e) as usize] += 1;
                    }
                }
            }
            assert_eq!(named, self.agents.flows);
            assert_eq!(self.agents.len(), named.iter().filter(|&&n| n > 0).count());
        }
    }
}

/// 20 000 samples at random intervals (0-39 ms), each from one of `agents` about one of
/// `keys` responders, in the order a xorshift from `seed` picks; ticks every 13
/// samples, the table's invariants checked every 101 and at the end, and `each` after
/// every sample.
fn churn(run: &mut Run, seed: u64, keys: u32, agents: &[&str], each: impl Fn(&Run)) {
    let mut x = seed;
    let mut now = T0;
    run.tick(now);
    for step in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        now += x % 40;
        let agent = agents[(x % agents.len() as u64) as usize];
        run.sample(&unreach(agent, (x >> 8) as u32 % keys, 1, 7), now);
        if step % 13 == 0 {
            run.tick(now);
        }
        if step % 101 == 0 {
            run.table.check_invariants();
        }
        each(run);
    }
    run.table.check_invariants();
}

#[test]
fn random_churn_keeps_the_table_consistent() {
    // A small table (eviction), short idle timeout (expiry and backward shifts,
    // including runs that wrap around the end), several agents (agent scope).
    let d = def("name=\"r\"\nkeys=\"ipsource,icmpunreachableport\"\nlog=true\nidleTimeout=2");
    let mut run = Run::new(&d, 48);
    // About 80 keys revisited every ~1.6 s against a 2 s idle timeout and room for
    // 48: both evictions and expiries happen.
    churn(
        &mut run,
        0x2545_F491_4F6C_DD1D,
        40,
        &["192.0.2.0", "192.0.2.1"],
        |run| assert!(run.table.len() <= 48),
    );
    let c = run.table.counters();
    assert!(c.evicted > 0 && c.expired > 0, "{c:?}");
    assert_eq!(c.created - c.evicted - c.expired, run.table.len() as u64);
}

/// The router's flow identity must give exactly the probe the table computes itself,
/// for one-, two- and wide-word keys, in both scopes, for each agent family, and for
/// every definition a sample matches.
#[test]
fn router_identity_equals_the_tables_own_probe() {
    use crate::flow::definition::FlowDefinitions;
    use crate::flow::{Route, Router};
    let specs: Vec<FlowSpec> = [
        "name=\"one\"\nkeys=\"ipsource\"",
        "name=\"two\"\nkeys=\"ipsource,ipdestination,icmpunreachableport\"",
        "name=\"fab\"\nkeys=\"ipdestination,icmpunreachableport\"\nscope=\"fabric\"",
        "name=\"wide\"\nkeys=\"ipsource,agent\"",
    ]
    .iter()
    .map(|t| toml::from_str(t).unwrap())
    .collect();
    let mut records = Vec::new();
    for agent in ["192.0.2.1", "2001:db8::7", "::ffff:192.0.2.1"] {
        for k in 0..50u32 {
            let mut r = unreach(agent, k * 7919, k, 1 + k as u16);
            r.set_source(0, k.wrapping_mul(0x0101_0101));
            records.push(r);
        }
    }
    let defs = FlowDefinitions::from_specs(&specs).unwrap();
    let tables: Vec<FlowTable> = defs
        .as_slice()
        .iter()
        .enumerate()
        .map(|(i, d)| FlowTable::new(d, 100, definition_seed(i)))
        .collect();
    assert!(
        tables.iter().any(|t| t.key_words > 2),
        "a wide key among them"
    );
    let mut router = Router::new(&defs, 3);
    let mut checked = 0;
    for r in &records {
        let mut got = Vec::new();
        router.route(r, &mut |w, f| got.push((w, *f)));
        assert_eq!(got.len(), specs.len(), "every definition matches");
        for (w, flow) in got {
            assert_eq!(w, crate::flow::router::worker_of(flow.hash, 3));
            let table = &tables[usize::from(flow.definition)];
            let own = table.probe(r).unwrap();
            let mut p = Probe::EMPTY;
            assert!(table.probe_flow(&flow, &WorkSample::from(r), &mut p));
            assert_eq!(
                (p.hash, p.key, p.tail, p.scope, p.agent),
                (own.hash, own.key, own.tail, own.scope, own.agent)
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 4 * 150);
}

#[test]
fn tables_within_the_presize_never_grow() {
    let d = uport();
    let mut t = FlowTable::new(&d, 10_000, 1);
    let full = t.allocated_bytes();
    assert!(
        full >= 20_000 * t.entry_bytes(),
        "allocated at its bound: {full}"
    );
    let mut events = 0;
    for k in 0..10_000u32 {
        t.sample(&unreach("192.0.2.1", k, 7, 1), T0, &mut |_| events += 1);
    }
    assert_eq!((t.len(), events), (10_000, 10_000));
    assert_eq!(
        t.allocated_bytes(),
        full,
        "no growth on the way to the bound"
    );
    // A bound beyond the presize starts at the presize and grows towards the bound.
    let mut big = FlowTable::with_presize(&d, 10_000, 1, 64 * 1024);
    let start = big.allocated_bytes();
    assert!(start < full / 4, "{start}");
    for k in 0..10_000u32 {
        big.sample(&unreach("192.0.2.1", k, 7, 1), T0, &mut |_| {});
    }
    assert_eq!(big.len(), 10_000);
    assert!(big.allocated_bytes() >= full - 64, "grew to the bound");
}

#[test]
fn entry_size() {
    // Start-only entries: `uport` in half a line, four slots per flow.
    let t = FlowTable::new(&uport(), 100_000, 1);
    assert_eq!(t.entry_bytes(), 32);
    assert!((t.bytes_per_entry_when_full() - 128.0).abs() < 0.01);
    // Wider start-only entries take a whole line, never straddling two.
    for name in ["unet", "uhost", "uproto", "uport6"] {
        let d = FlowDefinition::from_spec(&builtin(name).unwrap()).unwrap();
        assert_eq!(FlowTable::new(&d, 1000, 1).entry_bytes(), 64, "{name}");
    }
    // The `.1` keys pack as the plain ones: `tenantuport` is laid out as `uport`.
    let d = FlowDefinition::from_spec(&builtin("tenantuport").unwrap()).unwrap();
    assert_eq!(FlowTable::new(&d, 100_000, 1).entry_bytes(), 32);
    // Full entries (end-of-flow records) keep value, start and receipt time.
    let d = def("name=\"e\"\nkeys=\"ipsource,ipdestination,icmpunreachableport\"");
    let t = FlowTable::new(&d, 100_000, 1);
    assert_eq!(t.entry_bytes(), 64);
    assert!((t.bytes_per_entry_when_full() - 128.0).abs() < 0.01);
}

/// Start-only entries keep no value, start or receipt time: every field of the
/// record a `flowStart` flow emits comes from its opening sample, for both agent
/// families and both scopes.
#[test]
fn start_only_records_come_from_the_opening_sample() {
    for (scope, agent) in [
        (Scope::Agent, "2001:db8::1"),
        (Scope::Agent, "192.0.2.9"),
        (Scope::Fabric, "2001:db8::1"),
        (Scope::Fabric, "192.0.2.9"),
    ] {
        let d = FlowDefinition::from_spec(&FlowSpec {
            scope: Some(scope),
            value: Some(ValueKind::Bytes),
            ..builtin("uport").unwrap()
        })
        .unwrap();
        let mut run = Run::new(&d, 100);
        let r = unreach(agent, 0x0a00_0005, 0x0a00_0009, 53)
            .with_source(0, 0x1A00_0000)
            .with_received_ns(987_654_321);
        assert_eq!(run.table.entry_bytes(), 32);
        assert_eq!(run.sample(&r, T0), 1);
        assert_eq!(run.sample(&r, T0 + 5), 0);
        let e = &run.events[0];
        assert_eq!(e.flow_keys(), "10.0.0.5,10.0.0.9,udp_53");
        assert_eq!(e.agent, agent.parse::<IpAddr>().unwrap(), "{scope:?}");
        assert_eq!(e.data_source, 0x1A00_0000);
        assert_eq!(e.received_ns, 987_654_321);
        assert_eq!(e.value, 70_000.0);
        assert_eq!((e.start_ms, e.end_ms), (T0, T0));
        run.table.check_invariants();
    }
}

#[test]
fn homes_start_a_line_in_start_only_tables() {
    let t = FlowTable::with_presize(&uport(), 1000, 1, 0);
    assert_eq!((t.line_shift, t.slots % 2), (1, 0));
    let mut x = 1u64;
    for _ in 0..1000 {
        x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(7);
        let home = t.home(x);
        assert!(home % 2 == 0 && home < t.slots, "{home}");
    }
    assert_eq!(t.home(u64::MAX), t.slots - 2);
    // Full entries: any slot.
    let full = FlowTable::new(&def("name=\"e\"\nkeys=\"ipsource\""), 1000, 1);
    assert_eq!(full.line_shift, 0);
    assert_eq!(full.home(u64::MAX), full.slots - 1);
}

/// IPv6 agents in a start-only agent-scope table: distinct agents are distinct
/// flows, each agent is interned once while it has flows and released with the last.
#[test]
fn ipv6_agents_are_interned_while_they_have_flows() {
    let d = def("name=\"u\"\nkeys=\"ipsource\"\nlog=true\nflowStart=true\nidleTimeout=10");
    let mut run = Run::new(&d, 100);
    run.tick(T0);
    for k in 0..10u32 {
        assert_eq!(run.sample(&unreach("2001:db8::1", k, 1, 1), T0), 1);
        assert_eq!(run.sample(&unreach("2001:db8::2", k, 1, 1), T0), 1);
        assert_eq!(run.sample(&unreach("192.0.2.1", k, 1, 1), T0), 1);
        assert_eq!(run.sample(&unreach("::ffff:192.0.2.1", k, 1, 1), T0), 1);
    }
    assert_eq!(run.table.len(), 40);
    assert_eq!(run.table.agents.len(), 3, "two IPv6 agents and one mapped");
    // Seen again from every agent: no new flow.
    for k in 0..10u32 {
        for a in [
            "2001:db8::1",
            "2001:db8::2",
            "192.0.2.1",
            "::ffff:192.0.2.1",
        ] {
            assert_eq!(run.sample(&unreach(a, k, 1, 1), T0 + 5000), 0, "{a} {k}");
        }
    }
    run.table.check_invariants();
    // Idle re-fire of an IPv6 agent's flow keeps its agent.
    assert_eq!(run.sample(&unreach("2001:db8::2", 3, 1, 1), T0 + 15_000), 1);
    let e = run.events.last().unwrap();
    assert_eq!(e.agent, "2001:db8::2".parse::<IpAddr>().unwrap());
    assert_eq!(run.table.agents.len(), 3);
    run.table.check_invariants();
    // Every other flow expires: only 2001:db8::2 keeps an index.
    run.tick(T0 + 15_000 + SWEEP_MS);
    assert_eq!(run.table.len(), 1);
    assert_eq!(run.table.agents.len(), 1);
    run.table.check_invariants();
    run.tick(T0 + 30_000);
    assert!(run.table.is_empty());
    assert_eq!(run.table.agents.len(), 0);
    assert_eq!(run.table.counters().agents_full, 0);
}

/// A full intern drops (and counts) the samples that would open a flow for one more
/// IPv6 agent; existing agents and IPv4 agents go on; a freed index is reused.
#[test]
fn full_agent_intern_drops_and_counts() {
    let d = def("name=\"u\"\nkeys=\"ipsource\"\nlog=true\nflowStart=true\nidleTimeout=10");
    let mut run = Run::new(&d, 100);
    run.table.agents.max = 2;
    run.tick(T0);
    assert_eq!(run.sample(&unreach("2001:db8::1", 1, 1, 1), T0), 1);
    assert_eq!(run.sample(&unreach("2001:db8::2", 1, 1, 1), T0 + 6000), 1);
    assert_eq!(run.sample(&unreach("2001:db8::3", 1, 1, 1), T0 + 6000), 0);
    assert_eq!(run.sample(&unreach("2001:db8::3", 2, 1, 1), T0 + 6000), 0);
    let c = run.table.counters();
    assert_eq!((c.agents_full, c.created, c.samples), (2, 2, 4));
    assert_eq!(run.sample(&unreach("2001:db8::1", 2, 1, 1), T0 + 6000), 1);
    assert_eq!(run.sample(&unreach("192.0.2.1", 1, 1, 1), T0 + 6000), 1);
    assert_eq!(run.table.len(), 4);
    run.table.check_invariants();
    // 2001:db8::1's first flow expires, its second keeps the index; then both go.
    run.tick(T0 + 10_000 + SWEEP_MS);
    assert_eq!(run.sample(&unreach("2001:db8::3", 1, 1, 1), T0 + 11_000), 0);
    run.tick(T0 + 16_000 + SWEEP_MS);
    assert!(run.table.is_empty());
    assert_eq!(run.sample(&unreach("2001:db8::3", 1, 1, 1), T0 + 17_100), 1);
    assert_eq!(run.table.counters().agents_full, 3);
    run.table.check_invariants();
    // Eviction releases an index too.
    let mut small = Run::new(&d, 1);
    small.table.agents.max = 1;
    assert_eq!(small.sample(&unreach("2001:db8::1", 1, 1, 1), T0), 1);
    assert_eq!(small.sample(&unreach("2001:db8::1", 2, 1, 1), T0 + 1), 1);
    assert_eq!(small.sample(&unreach("2001:db8::2", 1, 1, 1), T0 + 2), 0);
    assert_eq!(small.table.counters().agents_full, 1);
    assert_eq!(small.sample(&unreach("192.0.2.1", 1, 1, 1), T0 + 3), 1);
    assert_eq!(small.sample(&unreach("2001:db8::2", 1, 1, 1), T0 + 4), 1);
    assert_eq!(small.table.counters().evicted, 3);
    small.table.check_invariants();
}

/// Fabric scope: the agent is not part of a start-only flow, so nothing is interned
/// and IPv6 agents never hit the intern's bound.
#[test]
fn fabric_start_only_tables_intern_nothing() {
    let d = def("name=\"u\"\nkeys=\"ipsource\"\nlog=true\nflowStart=true\nscope=\"fabric\"");
    let mut run = Run::new(&d, 100);
    run.table.agents.max = 0;
    assert_eq!(run.sample(&unreach("2001:db8::1", 1, 1, 1), T0), 1);
    assert_eq!(run.sample(&unreach("2001:db8::2", 1, 1, 1), T0), 0);
    assert_eq!(run.sample(&unreach("192.0.2.1", 1, 1, 1), T0), 0);
    assert_eq!(run.sample(&unreach("192.0.2.1", 2, 1, 1), T0), 1);
    assert_eq!(run.table.agents.len(), 0);
    assert_eq!(run.table.counters().agents_full, 0);
    run.table.check_invariants();
}

/// Growth re-places start-only entries of both agent families (the hash of an
/// IPv6 agent's entry comes back through the intern).
#[test]
fn start_only_growth_with_both_agent_families() {
    let d = def("name=\"u\"\nkeys=\"ipsource,ipdestination\"\nlog=true\nflowStart=true");
    let mut run = Run::new(&d, 20_000);
    let agents = [
        "192.0.2.1",
        "2001:db8::1",
        "2001:db8::2",
        "::ffff:192.0.2.1",
    ];
    // 6000 flows, 1500 per agent; each sample opens one (1 record) or finds it (0).
    let every_flow = |run: &mut Run, now: u64, records: usize| {
        for k in 0..6000u32 {
            let a = agents[k as usize % 4];
            assert_eq!(
                run.sample(&unreach(a, k / 4, 7, 1), now),
                records,
                "{a} {k}"
            );
        }
    };
    every_flow(&mut run, T0, 1);
    assert!(run.table.slots > INITIAL_SLOTS, "grew");
    run.table.check_invariants();
    every_flow(&mut run, T0 + 1, 0);
    assert_eq!(run.table.len(), 6000);
    assert_eq!(run.table.agents.len(), 3);
}

/// Random churn through a small start-only table with agents of both families:
/// eviction, idle expiry, re-fire, backward shifts across line boundaries and the
/// intern's counts stay consistent; every flow fires exactly when it is new.
#[test]
fn start_only_random_churn_keeps_the_table_consistent() {
    let d = def("name=\"s\"\nkeys=\"ipsource,icmpunreachableport\"\nlog=true\nflowStart=true\nidleTimeout=2");
    let agents = [
        "192.0.2.1",
        "192.0.2.2",
        "2001:db8::1",
        "2001:db8::2",
        "2001:db8::3",
    ];
    let mut run = Run::new(&d, 48);
    run.table.agents.max = 2;
    churn(&mut run, 0x9E37_79B9_7F4A_7C15, 30, &agents, |run| {
        assert!(run.table.len() <= 48);
        assert!(run.table.agents.len() <= 2);
    });
    let c = run.table.counters();
    assert!(c.evicted > 0 && c.expired > 0 && c.agents_full > 0, "{c:?}");
    assert_eq!(c.created - c.evicted - c.expired, run.table.len() as u64);
    assert_eq!(c.events, c.created);
}

/// Compact watched entries ([`compact`]) under churn, thresholds firing and re-arming
/// on many flows: identities hold with the fired bits set, and the stored gates follow
/// the fired bits through eviction, expiry, backward shifts and growth.
#[test]
fn compact_watched_churn_keeps_the_table_consistent() {
    use crate::threshold::ThresholdSpec;
    let d = def("name=\"s\"\nkeys=\"ipsource,icmpunreachableport\"\nlog=true\nflowStart=true\nidleTimeout=2\nt=0.5");
    let ts: Vec<Threshold> = [
        "name='f'\nmetric='s'\nvalue=1\nbyFlow=true\ntimeout=1\nend=true",
        "name='l'\nmetric='s'\nvalue=2\ntimeout=1\nend=true",
    ]
    .iter()
    .map(|t| {
        let spec: ThresholdSpec = toml::from_str(t).unwrap();
        Threshold::from_spec(&spec, &[("s", 48)]).unwrap()
    })
    .collect();
    let d = d.with_thresholds(&ts);
    let mut run = Run::new(&d, 48);
    assert!(run.table.compact && run.table.entry_bytes() == 32);
    let agents = ["192.0.2.1", "2001:db8::1"];
    churn(&mut run, 0x2545_F491_4F6C_DD1D, 30, &agents, |_| {});
    let c = run.table.counters();
    assert!(c.evicted > 0 && c.expired > 0 && c.crossings > 10, "{c:?}");
    assert_eq!(c.created - c.evicted - c.expired, run.table.len() as u64);
    let ends = run
        .events
        .iter()
        .filter(|e| e.threshold.as_ref().is_some_and(|t| t.end));
    assert!(ends.count() > 0);
}
