//! The `decode` output formats on damaged input: every truncation and a few thousand seeded
//! byte flips of corpus datagrams go through the line and JSON formatters (the code
//! `flowsift decode` runs), which must never panic and must agree with the receive path on
//! which samples decode.
//!
//! The receive path's own mutation test and fuzz target belong to the decoder benchmark and
//! robustness work (`tests/` of helper "packet"); this one covers what only the tool adds:
//! the typed record parsers behind the two formats.

mod packet_support;
use packet_support::{corpus, frames, visit};
use std::net::Ipv4Addr;

use flowsift::decode_tool::json::{datagram_lines, Origin};
use flowsift::decode_tool::line::sample_line;
use flowsift::sflow::{decode_datagram, Datagram, SampleError};

use flowsift::synth::Rng;

/// Datagrams to mutate: every corpus file once (the big capture contributes its first few).
fn inputs() -> Vec<Vec<u8>> {
    let mut seen_big = 0;
    corpus::datagrams()
        .into_iter()
        .filter(|d| {
            if d.file.contains("overflowd") {
                seen_big += 1;
                seen_big <= 3
            } else {
                true
            }
        })
        .map(|d| d.bytes)
        .collect()
}

/// Run the line formatter (and the JSON one when `json`); return the sample indexes the line
/// formatter printed a FLOW line for.
fn format_both(bytes: &[u8], json: bool) -> Vec<u32> {
    if json {
        let mut text = String::new();
        let _ = datagram_lines(
            Origin {
                file: "mutated",
                packet: 1,
            },
            bytes,
            &mut text,
        );
    }
    let mut printed = Vec::new();
    if let Ok(d) = Datagram::new_checked(bytes) {
        let agent = d.agent_address();
        for sample in d.samples().flatten() {
            let mut line = String::new();
            if sample_line(agent, &sample, &mut line).is_ok() && line.starts_with("FLOW,") {
                printed.push(sample.index);
            }
        }
    }
    printed
}

/// Samples the receive path delivers are a superset of those the line format prints: the
/// tool parses every record, the receive path only those it needs.
fn check(bytes: &[u8], json: bool) {
    let printed = format_both(bytes, json);
    let mut delivered = visit::Collected::default();
    let _ = decode_datagram(bytes, 0, &mut delivered);
    for i in &printed {
        let found = delivered.flows.iter().any(|(meta, _)| meta.index == *i);
        assert!(found, "sample {i} printed but not delivered");
    }
}

#[test]
fn every_truncation() {
    let inputs = inputs();
    assert_eq!(inputs.len(), 70, "datagrams");
    let mut cuts = 0;
    for d in inputs {
        cuts += d.len() + 1;
        for len in 0..=d.len() {
            // JSON building is the slow part; XDR fields end on 4-byte boundaries, so every
            // other cut exercises the same reads.
            check(&d[..len], len % 4 == 0 || len % 4 == 3);
        }
    }
    assert_eq!(cuts, 43068, "truncations formatted");
}

#[test]
fn seeded_byte_flips() {
    let mut rng = Rng(0x5EED_F10F_5EED_F10F);
    let mut flipped = 0;
    for d in inputs() {
        if d.is_empty() {
            continue;
        }
        flipped += 1;
        for _ in 0..200 {
            let mut m = d.clone();
            for _ in 0..=(rng.next_u64() % 4) {
                let at = (rng.next_u64() % m.len() as u64) as usize;
                m[at] ^= 1 << (rng.next_u64() % 8);
            }
            check(&m, true);
        }
    }
    assert_eq!(flipped, 70, "datagrams given 200 byte-flip runs each");
}

#[test]
fn json_errors_name_the_sample() {
    // A flow sample whose only record overruns it: reported as sample 0, nothing printed.
    let d = frames::overrunning_record(Ipv4Addr::new(10, 0, 0, 1), false);
    let mut text = String::new();
    let errors: Vec<SampleError> = datagram_lines(
        Origin {
            file: "x",
            packet: 7,
        },
        &d,
        &mut text,
    )
    .expect("header is fine");
    assert!(text.is_empty());
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].index, 0);
    assert!(errors[0]
        .to_string()
        .starts_with("sample 0 (0:1): record length 64"));
}
