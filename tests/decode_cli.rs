//! `flowsift decode` as a program on captures that hold no datagram it would decode: it must
//! say why on stderr and exit 1, never print nothing and succeed.

mod run_support;

use std::path::Path;
use std::process::Command;

use run_support::{datagram, unreachable};

/// A classic pcap (Ethernet link type) of UDP/IPv4 frames from 192.0.2.1 to 192.0.2.2.
fn pcap_of(payloads: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, (port, payload)) in payloads.iter().enumerate() {
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        let total = (20 + 8 + payload.len()) as u16;
        frame.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0,
            0,
            64,
            17,
            0,
            0,
        ]);
        frame.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]);
        let udp_len = (8 + payload.len()) as u16;
        frame.extend_from_slice(&40000u16.to_be_bytes());
        frame.extend_from_slice(&port.to_be_bytes());
        frame.extend_from_slice(&udp_len.to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(payload);
        out.extend_from_slice(&(i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    out
}

fn decode(args: &[&str], file: &Path) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_flowsift"))
        .arg("decode")
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_capture_on_another_port_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("other-port.pcap");
    let sflow = datagram(
        "192.0.2.1",
        1,
        3,
        &[unreachable("10.0.0.5", "198.51.100.7", 17, 53)],
    );
    let payloads: Vec<(u16, Vec<u8>)> = (0..3)
        .map(|_| (9999, sflow.clone()))
        .chain([(53, vec![0; 12])])
        .collect();
    std::fs::write(&file, pcap_of(&payloads)).unwrap();

    let (code, out, err) = decode(&[], &file);
    assert_eq!(code, Some(1), "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("none of its 4 UDP datagram(s) is to port 6343")
            && err.contains("3 to port 9999, 1 to port 53")
            && err.contains("--port")
            && err.contains("--any-port"),
        "{err}"
    );

    // Given the right port, or any port, the same capture decodes.
    let (code, out, err) = decode(&["--port", "9999"], &file);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("FLOW,")).count(),
        3,
        "{out}"
    );
    let (code, out, _) = decode(&["--any-port", "--format", "json"], &file);
    // The DNS-sized payload is no sFlow datagram: reported, exit 1, the rest printed.
    assert_eq!(code, Some(1));
    assert_eq!(out.lines().count(), 6, "{out}");
}

#[test]
fn a_capture_without_udp_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("empty.pcap");
    std::fs::write(&file, pcap_of(&[])).unwrap();
    let (code, out, err) = decode(&[], &file);
    assert_eq!(code, Some(1), "{err}");
    assert!(out.is_empty());
    assert!(err.contains("no UDP datagram in its 0 packet(s)"), "{err}");
}
