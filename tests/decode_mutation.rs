//! Deterministic mutation test: every corpus datagram cut at every length, and thousands of
//! seeded mutations of each, through the receive fast path (`decode_datagram`), the
//! `sflowtool -l` line formatter and the JSON Lines formatter. None may panic, and each must
//! stay within bounds that depend only on the input size (no work or output proportional to
//! a length or count field).
//!
//! The generator is `flowsift::synth::Rng` (xorshift64*, seeded per datagram and mutation),
//! so the run is the same everywhere; a failure names the file, datagram, seed and mutation
//! so it can be replayed.

mod packet_support;
use packet_support::corpus;

use std::panic::{catch_unwind, AssertUnwindSafe};

use flowsift::decode_tool::{json, line};
use flowsift::record::SampleRecord;
use flowsift::sflow::{
    decode_datagram, CounterSampleMeta, Datagram, DiscardSampleMeta, FlowSampleMeta, SampleError,
    SampleKind, Tag, Visitor,
};
use flowsift::synth::Rng;

/// Counts every report, so the test can bound them.
#[derive(Default)]
struct Count {
    reports: usize,
}

impl Visitor for Count {
    fn flow_sample(&mut self, _: &FlowSampleMeta, record: &SampleRecord) {
        self.reports += 1;
        // Keys come from inside the datagram: a decoded port or address is data, but the
        // record must be a plain value the worker can copy.
        std::hint::black_box(record);
    }
    fn counter_sample(&mut self, _: &CounterSampleMeta) {
        self.reports += 1;
    }
    fn discard_sample(&mut self, _: &DiscardSampleMeta) {
        self.reports += 1;
    }
    fn unknown_sample(&mut self, _: u32, _: Tag) {
        self.reports += 1;
    }
    fn unknown_record(&mut self, _: SampleKind, _: Tag) {
        self.reports += 1;
    }
    fn sample_error(&mut self, _: &SampleError) {
        self.reports += 1;
    }
}

/// Run all three decoders over `bytes`; `Err` describes a broken bound.
fn exercise(bytes: &[u8], with_json: bool) -> Result<(), String> {
    // Every sample and record takes at least 8 bytes (tag + length), so no decoder can
    // honestly report more than one item per 8 bytes, plus one final error.
    let max_reports = bytes.len() / 8 + 1;
    let mut count = Count::default();
    let _ = decode_datagram(bytes, 0, &mut count);
    if count.reports > max_reports {
        return Err(format!(
            "fast path reported {} items for {} bytes",
            count.reports,
            bytes.len()
        ));
    }

    if let Ok(d) = Datagram::new_checked(bytes) {
        let agent = d.header().agent;
        let mut out = String::new();
        let mut lines = 0usize;
        for element in d.samples() {
            lines += 1;
            if lines > max_reports {
                return Err(format!("{lines} samples walked in {} bytes", bytes.len()));
            }
            match element {
                Ok(sample) => {
                    let _ = line::sample_line(agent, &sample, &mut out);
                }
                Err(_) => break,
            }
        }
        // A FLOW or CNTR line is at most a few hundred characters.
        if out.len() > 512 * lines.max(1) {
            return Err(format!("{} line bytes for {lines} samples", out.len()));
        }
    }

    if !with_json {
        return Ok(());
    }
    let mut out = String::new();
    let origin = json::Origin {
        file: "mutation",
        packet: 1,
    };
    if let Ok(errors) = json::datagram_lines(origin, bytes, &mut out) {
        if errors.len() > max_reports {
            return Err(format!(
                "{} JSON errors for {} bytes",
                errors.len(),
                bytes.len()
            ));
        }
    }
    // Every byte of input can at most turn into a bounded amount of JSON (a hex dump of
    // opaque data is the worst: a few characters per byte), plus fixed fields per line.
    if out.len() > 16 * bytes.len() + 4096 * (bytes.len() / 8 + 1) {
        return Err(format!(
            "{} JSON bytes for {} input bytes",
            out.len(),
            bytes.len()
        ));
    }
    Ok(())
}

/// An index below `n` from the shared generator.
fn below(rng: &mut Rng, n: usize) -> usize {
    rng.below(n as u64) as usize
}

/// Values that stress length and count fields.
const INTERESTING: [u32; 10] = [
    0,
    1,
    3,
    4,
    0x7F,
    0xFFFF,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFC,
    0xFFFF_FFFF,
];

/// One mutation of `bytes` in place; returns a short description for failure reports.
fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) -> String {
    let len = bytes.len();
    if len == 0 {
        return "empty".into();
    }
    match below(rng, 5) {
        0 => {
            let at = below(rng, len);
            let bit = below(rng, 8);
            bytes[at] ^= 1 << bit;
            format!("flip bit {bit} of byte {at}")
        }
        1 => {
            let n = 1 + below(rng, 4);
            for _ in 0..n {
                let at = below(rng, len);
                bytes[at] = rng.next_u64() as u8;
            }
            format!("{n} random bytes")
        }
        2 | 3 => {
            // XDR fields are aligned words: hit a word with a hostile value.
            let at = below(rng, len.div_ceil(4)) * 4;
            let v = INTERESTING[below(rng, INTERESTING.len())].to_be_bytes();
            for (i, b) in v.iter().enumerate() {
                if let Some(slot) = bytes.get_mut(at + i) {
                    *slot = *b;
                }
            }
            format!("word at {at} = {:#x}", u32::from_be_bytes(v))
        }
        _ => {
            // Cut and re-grow with garbage: lengths that point past a shorter end.
            let keep = below(rng, len);
            bytes.truncate(keep);
            let extra = below(rng, 64);
            for _ in 0..extra {
                bytes.push(rng.next_u64() as u8);
            }
            format!("cut at {keep} + {extra} random bytes")
        }
    }
}

fn run_guarded(
    what: impl Fn() -> String,
    bytes: &[u8],
    with_json: bool,
    failures: &mut Vec<String>,
) {
    match catch_unwind(AssertUnwindSafe(|| exercise(bytes, with_json))) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => failures.push(format!("{}: {e}", what())),
        Err(_) => failures.push(format!("{}: PANIC", what())),
    }
}

fn check(failures: Vec<String>, runs: usize) {
    assert!(
        failures.is_empty(),
        "{} of {runs} runs failed; first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn every_truncation_of_every_datagram() {
    let corpus = corpus::datagrams();
    assert_eq!(corpus.len(), 1067, "corpus datagrams");
    let mut failures = Vec::new();
    let mut runs = 0;
    for d in &corpus {
        // The JSON formatter builds a document per sample and costs tens of times the fast path: the
        // 1000 look-alike overflowd datagrams (1.29 M of the 1.3 M cuts) give it every 32nd
        // length; every other file gives it every length.
        let json_every = if d.file.starts_with("overflowd") {
            32
        } else {
            1
        };
        for n in 0..=d.bytes.len() {
            runs += 1;
            run_guarded(
                || format!("{}#{} cut at {n}", d.file, d.index),
                &d.bytes[..n],
                n % json_every == 0,
                &mut failures,
            );
        }
    }
    eprintln!("{runs} truncations decoded");
    check(failures, runs);
}

#[test]
fn seeded_mutations_of_every_datagram() {
    let corpus = corpus::datagrams();
    assert_eq!(corpus.len(), 1067, "corpus datagrams");
    // The 1000 datagrams of overflowd/sflow.pcap come from one switch and look alike: give
    // them fewer mutations each so the run stays well under 30 s in release.
    let per_datagram = |file: &str| {
        if file.starts_with("overflowd") {
            50
        } else {
            2000
        }
    };
    let mut failures = Vec::new();
    let mut runs = 0;
    let mut scratch = Vec::with_capacity(2048);
    for (i, d) in corpus.iter().enumerate() {
        for m in 0..per_datagram(&d.file) {
            let seed = ((i as u64) << 32 | m as u64) ^ 0x9E37_79B9_7F4A_7C15;
            let mut rng = Rng(seed | 1);
            scratch.clear();
            scratch.extend_from_slice(&d.bytes);
            // One to three stacked mutations.
            let mut how = Vec::new();
            for _ in 0..1 + below(&mut rng, 3) {
                how.push(mutate(&mut rng, &mut scratch));
            }
            runs += 1;
            run_guarded(
                || format!("{}#{} seed {seed:#x}: {}", d.file, d.index, how.join(", ")),
                &scratch,
                true,
                &mut failures,
            );
        }
    }
    eprintln!("{runs} mutations decoded");
    check(failures, runs);
}
