//! Address group lookups: lookups per second on one core, and bytes per prefix.
//!
//! Builds a group set of N random prefixes shaped like a threat feed (mostly /24 and
//! /32, some /16 to /23, nested and overlapping; a fifth of them IPv6 /32 to /128 when
//! the family is `v6`), then times [`GroupSet::lookup`] over a pseudo-random stream of
//! addresses, half inside listed prefixes and half anywhere, so at a million prefixes the
//! lookups miss the cache as a collector's would. Lookups are independent (the results
//! are summed), as a receive thread's samples are. Time is the thread's CPU time (the
//! machine is shared); wall time is printed beside it.
//!
//! `cargo bench --bench groups` (1 K, 100 K, 1 M prefixes, IPv4 and IPv6) or
//! `cargo bench --bench groups -- 1000000`; `GROUPS_BENCH_LOOKUPS=n` sets the timed
//! lookups per run (default 20 M).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use flowsift::groups::{Cidr, GroupSet, Origin};

use flowsift::clock::thread_cpu_time as cpu_time;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Feed-like prefix lengths: 60 % /32, 30 % /24, 10 % /16 to /23.
fn v4_len(r: &mut Rng) -> u8 {
    match r.next() % 10 {
        0..=5 => 32,
        6..=8 => 24,
        _ => 16 + (r.next() % 8) as u8,
    }
}

fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn run(prefixes: usize, v6: bool, lookups: usize) {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15 ^ prefixes as u64);
    let mut entries = Vec::with_capacity(prefixes);
    let mut probes: Vec<IpAddr> = Vec::with_capacity(1 << 20);
    let groups = ["blocklist", "tor", "scanners", "c2"];
    for i in 0..prefixes {
        let group = groups[i % groups.len()].to_string();
        let cidr = if v6 && i % 5 == 0 {
            let a = (0x2000u128 << 112) | (u128::from(r.next()) << 48) | u128::from(r.next());
            let len = [32u8, 48, 56, 64, 128][(r.next() % 5) as usize];
            Cidr(IpAddr::V6(Ipv6Addr::from(a)), len)
        } else {
            Cidr(IpAddr::V4(Ipv4Addr::from(r.next() as u32)), v4_len(&mut r))
        };
        entries.push((cidr, group, Origin::Line(i + 1)));
    }
    // The same prefix in two groups is refused; keep the first of each.
    for (c, _, _) in entries.iter_mut() {
        *c = c.network();
    }
    entries.sort_by_key(|(Cidr(a, l), _, _)| (*a, *l));
    entries.dedup_by_key(|(Cidr(a, l), _, _)| (*a, *l));
    for i in 0..1 << 19 {
        let Cidr(a, len) = &entries[i % entries.len()].0;
        let host = r.next();
        probes.push(match a {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shr(u32::from(*len)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(*a) | (host as u32 & mask)))
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shr(u32::from(*len)).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(*a) | (u128::from(host) & mask)))
            }
        });
    }
    while probes.len() < 1 << 20 {
        probes.push(if v6 && probes.len() % 5 == 0 {
            IpAddr::V6(Ipv6Addr::from(
                (0x2000u128 << 112) | (u128::from(r.next()) << 48) | u128::from(r.next()),
            ))
        } else {
            IpAddr::V4(Ipv4Addr::from(r.next() as u32))
        });
    }
    // Shuffle so consecutive probes land far apart.
    for i in (1..probes.len()).rev() {
        probes.swap(i, (r.next() % (i as u64 + 1)) as usize);
    }
    let listed = entries.len();
    let before = rss_bytes();
    let built = Instant::now();
    let set = match GroupSet::from_entries("bench", entries) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot build the set: {e}");
            return;
        }
    };
    let build = built.elapsed();
    let after = rss_bytes();
    let heap = set.heap_bytes();

    let mut hits = 0u64;
    let (cpu0, wall0) = (cpu_time(), Instant::now());
    let mut done = 0;
    while done < lookups {
        for &a in &probes {
            hits += u64::from(black_box(&set).lookup(black_box(a)).is_some());
        }
        done += probes.len();
    }
    let (cpu, wall) = (cpu_time() - cpu0, wall0.elapsed());
    black_box(hits);
    let per_s = done as f64 / cpu.as_secs_f64();
    println!(
        "{:>9} prefixes {}: {:6.1} ns/lookup, {:6.1} M lookups/s per core (wall {:.1} M/s); \
         {:.1} bytes/prefix ({} B of tables, rss +{} B); built in {:.0} ms; {:.0}% hits",
        listed,
        if v6 { "v4+v6" } else { "v4   " },
        cpu.as_nanos() as f64 / done as f64,
        per_s / 1e6,
        done as f64 / wall.as_secs_f64() / 1e6,
        heap as f64 / listed.max(1) as f64,
        heap,
        after.saturating_sub(before),
        build.as_secs_f64() * 1e3,
        100.0 * hits as f64 / done as f64,
    );
}

fn main() {
    let lookups: usize = std::env::var("GROUPS_BENCH_LOOKUPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000_000);
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 100_000, 1_000_000]
    } else {
        sizes
    };
    for &n in &sizes {
        run(n, false, lookups);
        run(n, true, lookups);
    }
}
