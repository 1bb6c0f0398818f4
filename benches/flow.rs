//! Flow engine throughput: updates per second on one worker core, and bytes per entry.
//!
//! Runs the worker's own update path ([`flowsift::flow::Shard::apply`]: probe, prefetch,
//! update) for the seed's `uport` definition on one shard sized to hold the key count,
//! after inserting every key once; then the same with a `byFlow` threshold on `uport`
//! (each update also smooths the flow's rate and compares it with the threshold's value,
//! set out of reach so that the timed updates measure the steady cost, not events), its
//! clock advancing a millisecond per chunk so that every update decays the rate. Keys are visited in a pseudo-random order, so at a
//! million keys and more nearly every update misses the cache, as in production. Batches
//! of work items are built outside the timed region. Time is the thread's CPU time (the
//! machine is shared); wall time is printed beside it.
//!
//! `cargo bench --bench flow` (all sizes) or `cargo bench --bench flow -- 1000 1000000`;
//! `FLOW_BENCH_UPDATES=n` sets the timed updates (e.g. small, under callgrind);
//! `FLOW_BENCH_CHUNK=n` the work items prepared per timed stretch (default 65 536, which
//! stream from memory; 4096 is about what a busy worker's rings hold);
//! `FLOW_BENCH_THRESHOLD=0` or `=only` runs the plain or the threshold case alone.
//! Also reports the router's cost per sample (filter, key packing, hashing).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use flowsift::flow::{builtin, FlowDefinitions, Router, Shard};
use flowsift::flow::{Route, WorkItem};
use flowsift::record::SampleRecord;
use flowsift::threshold::{Threshold, ThresholdSpec};

use flowsift::clock::thread_cpu_time as cpu_time;

const BATCH: usize = 256;

/// Work items prepared (untimed) before each timed stretch, unless `FLOW_BENCH_CHUNK`
/// says otherwise: 64 K items (11 MB, streamed from memory) by default; a ring-sized
/// chunk (e.g. 4096, what a worker's ring holds) stays in cache as production's items do.
const CHUNK: usize = 1 << 16;

fn chunk() -> usize {
    env_or("FLOW_BENCH_CHUNK", CHUNK).max(BATCH)
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn record(key: u64) -> SampleRecord {
    // Key k: responder 10.x.y.z from the low 24 bits, scanner from the next bits, a port.
    let responder = Ipv4Addr::from(0x0a00_0000 | (key as u32 & 0x00FF_FFFF));
    let scanner = Ipv4Addr::from(0xc0a8_0000 | ((key >> 24) as u32 & 0xFFFF));
    SampleRecord::port_unreachable(
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        responder,
        scanner,
        1 + (key >> 40) as u16,
    )
    .with_sampling_rate(10_000)
    .with_received_ns(1)
}

/// The `i`-th key of a pseudo-random walk over `n` keys (an odd multiplier is a bijection
/// modulo a power of two; indices past `n` are skipped by the caller).
fn walk(i: u64, n: u64, pow2: u64) -> Option<u64> {
    let k = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) & (pow2 - 1);
    (k < n).then_some(k)
}

/// The next chunk of work items, routed as a receive thread routes them (the router
/// packs and hashes the key; the worker finds the entry).
fn fill(items: &mut Vec<WorkItem>, next: &mut u64, n: u64, pow2: u64, router: &mut Router) {
    let chunk = chunk();
    items.clear();
    while items.len() < chunk {
        if let Some(k) = walk(*next, n, pow2) {
            let record = record(k);
            router.route(&record, &mut |_, flow| {
                items.push(WorkItem::new(&record, flow))
            });
        }
        *next += 1;
    }
}

fn bench_table(n: u64, with_threshold: bool) {
    let mut spec = builtin("uport").unwrap();
    spec.max_entries = Some(n as usize);
    let thresholds: Vec<Threshold> = if with_threshold {
        let t = ThresholdSpec {
            name: "uportrate".into(),
            metric: "uport".into(),
            value: 1e15,
            by_flow: true,
            timeout: 60,
            end: false,
        };
        vec![Threshold::from_spec(&t, &[("uport", n as usize)]).unwrap()]
    } else {
        Vec::new()
    };
    let defs = FlowDefinitions::with_thresholds(&[spec], &thresholds).unwrap();
    let mut shard = Shard::new(&defs, 1);
    let pow2 = n.next_power_of_two();
    let mut items = Vec::with_capacity(chunk());
    let mut router = Router::new(&defs, 1);
    let mut events = 0u64;
    let mut now = 1_764_000_000_000;

    // Insert every key once (growth happens here); reported as the warm-up time.
    let mut next = 0u64;
    let t = Instant::now();
    while (shard.tables()[0].len() as u64) < n {
        fill(&mut items, &mut next, n, pow2, &mut router);
        for batch in items.chunks(BATCH) {
            shard.apply(batch, now, &mut |_, e| {
                events += 1;
                black_box(e);
            });
        }
    }
    let insert = t.elapsed();

    // Steady state: updates of existing keys.
    let updates = std::env::var("FLOW_BENCH_UPDATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or((20 * n).clamp(20_000_000, 40_000_000));
    let mut timed = Duration::ZERO;
    let mut wall = Duration::ZERO;
    let mut done = 0u64;
    while done < updates {
        fill(&mut items, &mut next, n, pow2, &mut router);
        if with_threshold {
            now += 1;
        }
        let w = Instant::now();
        let t = cpu_time();
        for batch in items.chunks(BATCH) {
            shard.apply(batch, now, &mut |_, e| {
                events += 1;
                black_box(e);
            });
        }
        timed += cpu_time().saturating_sub(t);
        wall += w.elapsed();
        done += items.len() as u64;
    }
    let table = &shard.tables()[0];
    assert_eq!(table.len() as u64, n);
    assert_eq!(events, n, "one flowStart record per key, none on updates");
    println!(
        "{:<9} keys {:>10}  updates/s/core {:>5.1} M  ({:>5.1} ns/update; wall {:>5.1} ns)  warm-up {:>5.2} s  entry {} B  allocated {:.1} B/flow",
        if with_threshold { "threshold" } else { "uport" },
        n,
        done as f64 / timed.as_secs_f64() / 1e6,
        timed.as_nanos() as f64 / done as f64,
        wall.as_nanos() as f64 / done as f64,
        insert.as_secs_f64(),
        table.entry_bytes(),
        table.allocated_bytes() as f64 / n as f64,
    );
}

fn bench_router() {
    let specs: Vec<_> = ["uport", "unet", "uhost", "uproto"]
        .iter()
        .map(|n| builtin(n).unwrap())
        .collect();
    let defs = FlowDefinitions::from_specs(&specs).unwrap();
    let mut router = Router::new(&defs, 2);
    let records: Vec<SampleRecord> = (0..4096).map(record).collect();
    let mut plain = records.clone();
    for r in plain.iter_mut() {
        r.keys.set_unreachable(None);
    }
    for (label, set) in [("unreachable", &records), ("other traffic", &plain)] {
        let rounds: usize = std::env::var("FLOW_BENCH_ROUTER_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000);
        let mut delivered = 0u64;
        let t = cpu_time();
        for _ in 0..rounds {
            for r in set.iter() {
                router.route(r, &mut |w, f| {
                    delivered += w as u64 + u64::from(f.definition)
                });
            }
        }
        let el = cpu_time().saturating_sub(t);
        black_box(delivered);
        let n = (rounds * set.len()) as f64;
        println!(
            "router, 4 definitions, {label:<13}: {:>5.1} ns/sample",
            el.as_nanos() as f64 / n
        );
    }
}

fn main() {
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 1_000_000, 10_000_000]
    } else {
        sizes
    };
    let cases: &[bool] = match std::env::var("FLOW_BENCH_THRESHOLD").as_deref() {
        Ok("0") => &[false],
        Ok("only") => &[true],
        _ => &[false, true],
    };
    for n in sizes {
        for &with_threshold in cases {
            bench_table(n, with_threshold);
        }
    }
    bench_router();
}
