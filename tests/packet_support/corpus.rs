//! The shared sFlow corpus (`../shared/testdata/sflow/`) as a list of raw datagrams.
//!
//! Raw files (`.bin`, `.dat`, `.data`) are one datagram each; classic pcap files (the only
//! capture format in the corpus) hold one per packet, as the UDP payload of IPv4 or IPv6,
//! read with the library's own capture reader (`flowsift::sflow::capture`); a malformed
//! capture keeps the datagrams read before the damage.

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

/// UDP payloads of a pcap or pcapng capture, whatever their port, in capture order.
pub fn pcap_udp_payloads(file: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    // A damaged capture ends the walk; what came before it is kept.
    let _ = flowsift::sflow::capture::for_each_datagram(
        file,
        flowsift::sflow::capture::PortFilter::Any,
        |_, payload| out.push(payload.to_vec()),
    );
    out
}
