//! Decoder throughput, in flow samples per second on one core.
//!
//! Two loads: (a) every datagram of the shared corpus replayed from memory, and (b) synthetic
//! 1396-byte datagrams of 7 flow samples with 128-byte Ethernet/IPv4 headers (the shape most
//! switches send). The same bytes go through flowsift and through the `flowparser-sflow` and
//! `sflow-parser` crates, and the ratio is printed. Neither crate decodes the sampled header
//! (they stop at the sFlow structures and copy the header bytes into a `Vec`), so flowsift
//! does strictly more work per sample in this comparison.
//!
//! Plain `Instant` loops rather than criterion: each measurement is a warm-up and then the
//! median of several timed passes of at least `FLOWSIFT_BENCH_MS` milliseconds (default 300).
//! Run with `cargo bench --bench decode`.

#[path = "../tests/packet_support/corpus.rs"]
mod corpus;
#[path = "../tests/packet_support/frames.rs"]
mod frames;

use std::hint::black_box;
use std::time::{Duration, Instant};

use flowsift::packet::decode_header;

/// One timed measurement: the median seconds per pass over `set`.
fn measure(set: &[Vec<u8>], mut pass: impl FnMut(&[u8]) -> usize) -> (f64, usize) {
    let budget = Duration::from_millis(
        std::env::var("FLOWSIFT_BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300),
    );
    let run = |pass: &mut dyn FnMut(&[u8]) -> usize, min: Duration| -> (f64, usize) {
        let start = Instant::now();
        let mut passes = 0usize;
        let mut work = 0usize;
        while start.elapsed() < min || passes == 0 {
            for d in set {
                work = work.wrapping_add(pass(black_box(d)));
            }
            passes += 1;
        }
        (start.elapsed().as_secs_f64() / passes as f64, work)
    };
    // Warm-up: caches, branch predictors, allocator.
    run(&mut pass, budget / 3);
    let mut times = Vec::with_capacity(5);
    let mut work = 0;
    for _ in 0..5 {
        let (t, w) = run(&mut pass, budget);
        times.push(t);
        work = w;
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], work)
}

/// Flow samples (formats 1 and 3) in a set, counted by sflow-parser outside the timing.
fn flow_samples(set: &[Vec<u8>]) -> usize {
    set.iter()
        .filter_map(|d| sflow_parser::parse_datagram(d).ok())
        .map(|d| {
            d.samples
                .iter()
                .filter(|s| {
                    matches!(
                        s.sample_data,
                        sflow_parser::SampleData::FlowSample(_)
                            | sflow_parser::SampleData::FlowSampleExpanded(_)
                    )
                })
                .count()
        })
        .sum()
}

/// The sampled headers of a set, `(header_protocol, bytes)`, extracted by sflow-parser.
fn sampled_headers(set: &[Vec<u8>]) -> Vec<(u32, Vec<u8>)> {
    use sflow_parser::models::{FlowData, FlowRecord};
    let mut out = Vec::new();
    let mut take = |records: &[FlowRecord]| {
        for r in records {
            if let FlowData::SampledHeader(h) = &r.flow_data {
                out.push((h.protocol as u32, h.header.clone()));
            }
        }
    };
    for d in set
        .iter()
        .filter_map(|d| sflow_parser::parse_datagram(d).ok())
    {
        for s in &d.samples {
            match &s.sample_data {
                sflow_parser::SampleData::FlowSample(f) => take(&f.flow_records),
                sflow_parser::SampleData::FlowSampleExpanded(f) => take(&f.flow_records),
                _ => {}
            }
        }
    }
    out
}

fn report(load: &str, set: &[Vec<u8>]) {
    let samples = flow_samples(set);
    let bytes: usize = set.iter().map(Vec::len).sum();
    println!(
        "\n== {load}: {} datagrams, {bytes} bytes, {samples} flow samples per pass",
        set.len()
    );
    let rate = |secs: f64| samples as f64 / secs;

    let fp = flowparser_sflow::SflowParser::default();
    let (t_fp, _) = measure(set, |d| fp.parse_bytes(d).datagrams.len());
    let (t_sp, _) = measure(set, |d| {
        sflow_parser::parse_datagram(d).map_or(0, |d| d.samples.len())
    });

    let headers = sampled_headers(set);
    let header_set: Vec<Vec<u8>> = vec![Vec::new()];
    let (t_hdr, _) = measure(&header_set, |_| {
        let mut n = 0usize;
        for (proto, h) in &headers {
            let d = decode_header(*proto, black_box(h));
            n += usize::from(d.keys.ip_protocol.is_some());
        }
        n
    });

    println!(
        "{:<46} {:>14} {:>12}",
        "decoder", "flow samples/s", "ns/sample"
    );
    let row = |name: &str, secs: f64, n: usize| {
        println!(
            "{:<46} {:>14.0} {:>12.1}",
            name,
            n as f64 / secs,
            secs * 1e9 / n.max(1) as f64
        );
    };
    row(
        "flowsift decode_header (headers pre-extracted)",
        t_hdr,
        headers.len(),
    );
    row("flowparser-sflow 0.3 parse_bytes", t_fp, samples);
    row("sflow-parser 0.7 parse_datagram", t_sp, samples);
    let _ = rate;
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is accepted and ignored.
    let corpus: Vec<Vec<u8>> = corpus::datagrams().into_iter().map(|d| d.bytes).collect();
    let synthetic: Vec<Vec<u8>> = (0..64).map(frames::synthetic_1400).collect();
    assert!(synthetic.iter().all(|d| d.len() == 1396));
    report("(a) corpus replayed in memory", &corpus);
    report(
        "(b) synthetic 1396-byte datagrams, 7 x 128-byte headers",
        &synthetic,
    );
}
