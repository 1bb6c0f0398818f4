//! The shared sFlow corpus (`../shared/testdata/sflow/`) as a list of raw datagrams.
//!
//! Raw files (`.bin`, `.dat`, `.data`) are one datagram each; classic pcap files (the only
//! capture format in the corpus, all Ethernet link type) hold one per packet, as the UDP
//! payload of IPv4 or IPv6. This tiny reader exists so the mutation test and the bench do not
//! depend on the CLI's reader; every read is bounds-checked, and a malformed capture just
//! ends early.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/testdata/sflow");

/// One datagram and where it came from.
pub struct Datagram {
    pub file: String,
    pub index: usize,
    pub bytes: Vec<u8>,
}

/// Every datagram of the corpus, files in sorted order.
pub fn datagrams() -> Vec<Datagram> {
    let mut files = Vec::new();
    walk(Path::new(CORPUS), &mut files);
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let name = path
            .strip_prefix(CORPUS)
            .unwrap_or(&path)
            .display()
            .to_string();
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        match path.extension().and_then(|e| e.to_str()) {
            Some("pcap") => {
                for (index, payload) in pcap_udp_payloads(&bytes).into_iter().enumerate() {
                    out.push(Datagram {
                        file: name.clone(),
                        index,
                        bytes: payload,
                    });
                }
            }
            Some("bin" | "dat" | "data") => out.push(Datagram {
                file: name,
                index: 0,
                bytes,
            }),
            _ => {}
        }
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, files);
        } else {
            files.push(p);
        }
    }
}

fn u16be(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// UDP payloads of a little- or big-endian classic pcap with Ethernet frames.
pub fn pcap_udp_payloads(file: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let Some(magic) = file.get(0..4) else {
        return out;
    };
    let le = match magic {
        [0xD4, 0xC3, 0xB2, 0xA1] | [0x4D, 0x3C, 0xB2, 0xA1] => true,
        [0xA1, 0xB2, 0xC3, 0xD4] | [0xA1, 0xB2, 0x3C, 0x4D] => false,
        _ => return out,
    };
    let u32at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = file.get(at..at + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let mut at = 24;
    while let Some(caplen) = u32at(at + 8) {
        let start = at + 16;
        let Some(frame) = file.get(start..start + caplen as usize) else {
            break;
        };
        if let Some(p) = udp_payload(frame) {
            out.push(p.to_vec());
        }
        at = start + caplen as usize;
    }
    out
}

fn udp_payload(frame: &[u8]) -> Option<&[u8]> {
    let mut at = 12;
    let mut ty = u16be(frame, at)?;
    while ty == 0x8100 || ty == 0x88A8 {
        at += 4;
        ty = u16be(frame, at)?;
    }
    at += 2;
    let (proto, l4) = match ty {
        0x0800 => {
            let ihl = usize::from(frame.get(at)? & 0x0F) * 4;
            (*frame.get(at + 9)?, at + ihl)
        }
        0x86DD => (*frame.get(at + 6)?, at + 40),
        _ => return None,
    };
    if proto != 17 {
        return None;
    }
    let len = usize::from(u16be(frame, l4 + 4)?);
    frame.get(l4 + 8..l4 + len.max(8))
}
