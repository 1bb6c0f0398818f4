//! `flowsift decode` over the whole shared corpus, run as the real binary.
//!
//! - Line output: for every capture and raw datagram in `../shared/testdata/sflow/`, the
//!   `--format line` output must equal the `FILE.sflowtool-l.txt` InMon's `sflowtool -l`
//!   printed for it, byte for byte. Every file matches, including the damaged vectors: on
//!   those sflowtool prints nothing (or stops) and flowsift drops exactly the samples that
//!   cannot be decoded, so no file needs a documented exception today. (Where flowsift and
//!   sflowtool would differ, on a bad sample followed by good ones in one datagram,
//!   flowsift prints the good ones and sflowtool stops; no corpus file has that shape.)
//!   The negative cases
//!   additionally must be reported on stderr with file and packet number and a non-zero
//!   exit code, and must never panic (exit code 101).
//! - JSON output: discard samples, expanded samples, IPv6, QinQ, raw-IPv4 headers, ICMP.
//! - Inputs: pcapng (built here from a corpus datagram), stdin, `--port`, `--any-port`.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/testdata/sflow");
const BIN: &str = env!("CARGO_BIN_EXE_flowsift");

/// The corpus files that are damaged on purpose (README: "Negative cases") or whose sample
/// lengths are wrong (README notes), and so must make `decode` report a failure.
const NEGATIVE: &[&str] = &[
    "tcpdump/sflow_print-segv.pcap",
    "gopacket/SFlowTestPacket11.bin",
    "cloudflare-goflow/utils_sflow_test_getExpandedSFlowDecode.bin",
    // Declared sample length 4 (resp. 16) bytes short of the extended-router record it
    // holds: the record overruns its sample. sflowtool aborts the datagram too.
    "gopacket/SFlowTestPacket5.bin",
    "gopacket/SFlowTestPacket8.bin",
];

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("corpus directory") {
        let path = entry.expect("corpus entry").path();
        if path.is_dir() {
            walk(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// Every capture and raw datagram file of the corpus, with whether it is raw.
fn corpus_inputs() -> Vec<(String, bool)> {
    let mut files = Vec::new();
    walk(Path::new(CORPUS), &mut files);
    let mut out: Vec<(String, bool)> = files
        .iter()
        .filter_map(|p| {
            let rel = p.strip_prefix(CORPUS).ok()?.to_str()?.to_string();
            match p.extension()?.to_str()? {
                "pcap" | "pcapng" => Some((rel, false)),
                "bin" | "dat" | "data" => Some((rel, true)),
                _ => None,
            }
        })
        .collect();
    out.sort();
    out
}

fn decode(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("decode")
        .args(args)
        .output()
        .expect("run flowsift")
}

fn path(rel: &str) -> String {
    format!("{CORPUS}/{rel}")
}

#[test]
fn line_output_equals_sflowtool_for_every_corpus_file() {
    let inputs = corpus_inputs();
    assert!(
        inputs.len() >= 60,
        "corpus walk found {} files",
        inputs.len()
    );
    let negative: BTreeSet<&str> = NEGATIVE.iter().copied().collect();
    let mut mismatches = Vec::new();
    for (rel, raw) in &inputs {
        let file = path(rel);
        let mut args = vec!["--format", "line"];
        if *raw {
            args.push("--raw");
        }
        args.push(&file);
        let out = decode(&args);
        assert_ne!(out.status.code(), Some(101), "{rel}: flowsift panicked");
        let expected = std::fs::read(format!("{file}.sflowtool-l.txt"))
            .unwrap_or_else(|e| panic!("{rel}: no sflowtool reference: {e}"));
        if out.stdout != expected {
            mismatches.push(format!(
                "{rel}:\n--- sflowtool\n{}--- flowsift\n{}",
                String::from_utf8_lossy(&expected),
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if negative.contains(rel.as_str()) {
            assert!(!out.status.success(), "{rel}: damaged input must fail");
            assert!(
                stderr.contains(&file) && stderr.contains("packet 1:"),
                "{rel}: failure not reported with file and packet: {stderr}"
            );
        } else {
            assert!(out.status.success(), "{rel}: unexpected failure: {stderr}");
            assert!(stderr.is_empty(), "{rel}: unexpected stderr: {stderr}");
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// All JSON objects `decode --format json` prints for one corpus file.
fn json(rel: &str) -> Vec<Value> {
    let file = path(rel);
    let mut args = vec!["--format", "json"];
    if !rel.ends_with(".pcap") {
        args.push("--raw");
    }
    args.push(&file);
    let out = decode(&args);
    assert!(
        out.status.success(),
        "{rel}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn key<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v["keys"][name].as_str()
}

#[test]
fn json_discard_samples() {
    let v = json("goflow2/sflow_test_TestSFlowDecodeDropEgressQueue.bin");
    assert_eq!(v.len(), 1);
    let s = &v[0]["sample"];
    assert_eq!(s["type"], "discard");
    assert_eq!(s["format"], 5);
    assert_eq!(v[0]["datagram"]["agent"], "192.168.119.184");
    assert_eq!(v[0]["records"][0]["type"], "egress_queue");
    assert_eq!(v[0]["records"][0]["format"], 1036);
    assert!(v[0]["records"][0]["queue"].is_u64());

    let v = json("goflow2/sflow_test_TestSFlowDecodeDropExtendedACL.bin");
    let r = &v[0]["records"][0];
    assert_eq!(
        (r["type"].as_str(), r["name"].as_str()),
        (Some("extended_acl"), Some("foo!"))
    );
    // non-zero padding after "foo" must be skipped, not read
    let v = json("goflow2/variants/sflow_test@36e7556_TestSFlowDecodeDropExtendedACL.bin");
    assert_eq!(v[0]["records"][0]["name"], "foo");
    // unpadded function name (record length 10) and its padded twin
    for f in [
        "goflow2/sflow_test_TestSFlowDecodeDropExtendedFunction.bin",
        "goflow2/variants/sflow_test@510be1d_TestSFlowDecodeDropExtendedFunction.bin",
    ] {
        let v = json(f);
        assert_eq!(v[0]["records"][0]["type"], "extended_function", "{f}");
        assert_eq!(v[0]["records"][0]["symbol"], "foobar", "{f}");
    }
}

#[test]
fn json_expanded_samples() {
    let v = json("akvorado/data-sflow-expanded-sample.pcap");
    assert_eq!(v.len(), 1);
    let s = &v[0]["sample"];
    assert_eq!(s["type"], "expanded_flow");
    assert_eq!(s["format"], 3);
    // an output ifIndex beyond 2^30 survives the expanded form
    assert_eq!(s["output"]["value"], 1_285_816_721u64);
    assert_eq!(s["input"]["value"], 29001);
    assert_eq!(key(&v[0], "inputifindex"), Some("29001"));
    // ... and so does the record's key: it carries the interface's full 32 bits.
    assert_eq!(key(&v[0], "outputifindex"), Some("1285816721"));
    assert_eq!(key(&v[0], "tcpsourceport"), Some("22"));

    let v = json("logstash-codec-sflow/sflow_with_lag_counters.dat");
    let types: Vec<&str> = v
        .iter()
        .filter_map(|o| o["sample"]["type"].as_str())
        .collect();
    assert_eq!(
        types.iter().filter(|t| **t == "expanded_counters").count(),
        2
    );
    assert_eq!(types.iter().filter(|t| **t == "expanded_flow").count(), 5);
    let lacp = v
        .iter()
        .flat_map(|o| o["records"].as_array().cloned().unwrap_or_default())
        .find(|r| r["type"] == "lacp")
        .expect("a LACP counter record");
    assert!(lacp["actorSystemID"].is_string());
}

#[test]
fn json_ipv6() {
    let v = json("akvorado/data-1140.pcap");
    assert_eq!(v.len(), 5);
    let first = &v[0];
    assert_eq!(key(first, "ethernetprotocol"), Some("34525"));
    assert_eq!(key(first, "ip6source"), Some("2a0c:8880:2:0:185:21:130:38"));
    assert_eq!(
        key(first, "ip6destination"),
        Some("2a0c:8880:2:0:185:21:130:39")
    );
    assert_eq!(key(first, "ipsource"), None);
    assert_eq!(key(first, "tcpdestinationport"), Some("22"));
    // the extended gateway record carries an AS path
    let gw = v
        .iter()
        .flat_map(|o| o["records"].as_array().cloned().unwrap_or_default())
        .find(|r| r["type"] == "extended_gateway")
        .expect("an extended gateway record");
    assert!(gw["as_path"].is_array());

    let v = json("telegraf/inputs.sflow-removed/decoder_test_TestIPv6SW.bin");
    assert_eq!(key(&v[0], "ip6source"), Some("2607:f8b0:4002:14::8"));
    assert_eq!(key(&v[0], "udpsourceport"), Some("443"));
}

#[test]
fn json_qinq() {
    let v = json("akvorado/data-qinq.pcap");
    assert_eq!(v.len(), 1);
    // sFlow-RT's `vlan` is the outer (service) tag; the customer tag is 1493.
    assert_eq!(key(&v[0], "vlan"), Some("1062"));
    assert_eq!(key(&v[0], "ethernetprotocol"), Some("2048"));
    assert_eq!(key(&v[0], "ipsource"), Some("49.49.49.2"));
    assert_eq!(key(&v[0], "tcpdestinationport"), Some("443"));
}

#[test]
fn json_raw_ipv4_headers() {
    let v = json("akvorado/data-sflow-raw-ipv4.pcap");
    assert_eq!(v.len(), 2);
    for o in &v {
        assert_eq!(o["records"][0]["header_protocol"], 11);
        assert_eq!(key(o, "ipsource"), Some("69.58.92.107"));
        assert_eq!(key(o, "macsource"), None, "raw IPv4 has no link layer");
        assert_eq!(key(o, "icmptype"), Some("0"));
    }
}

#[test]
fn json_icmp() {
    let v = json("akvorado/data-icmpv4.pcap");
    assert_eq!(key(&v[0], "ipprotocol"), Some("1"));
    assert_eq!(key(&v[0], "icmptype"), Some("8"));
    assert_eq!(key(&v[0], "icmpcode"), Some("0"));
    assert_eq!(key(&v[0], "icmpunreachableport"), None);

    let v = json("akvorado/data-icmpv6.pcap");
    assert_eq!(key(&v[0], "ipprotocol"), Some("58"));
    assert_eq!(key(&v[0], "icmptype"), Some("135"));

    // ndpi: 8 counter datagrams and one flow sample with an ICMP echo in a VLAN
    let v = json("ndpi/sflow.pcap");
    assert_eq!(v.len(), 9);
    let flow: Vec<&Value> = v.iter().filter(|o| o["sample"]["type"] == "flow").collect();
    assert_eq!(flow.len(), 1);
    assert_eq!(
        flow[0]["packet"], 4,
        "packet numbers count every capture packet"
    );
    assert_eq!(key(flow[0], "icmptype"), Some("8"));
    assert_eq!(key(flow[0], "vlan"), Some("32"));
}

#[test]
fn json_counters_and_every_sample_of_a_datagram() {
    let v = json("gopacket/SFlowTestPacket1.pcap");
    assert_eq!(v.len(), 7);
    for (i, o) in v.iter().enumerate() {
        assert_eq!(o["sample"]["index"], i as u64);
        assert_eq!(o["datagram"]["agent"], "10.1.248.22");
        assert_eq!(o["datagram"]["sub_agent"], 17);
    }
    let c = &v[3];
    assert_eq!(c["sample"]["type"], "counters");
    let g = &c["records"][0];
    assert_eq!(g["type"], "generic_interface");
    assert_eq!(g["ifIndex"], 522);
    assert_eq!(g["ifInOctets"], 327_115_139_476_491u64);
    // unknown records are carried with their bytes
    let v = json("gopacket/SFlowTestPacket13.bin");
    let unknown: Vec<&Value> = v[0]["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["type"] == "unknown")
        .collect();
    assert_eq!(unknown.len(), 2, "2203 and 2207 are not typed");
}

#[test]
fn negative_cases_decode_partially_or_fail_never_panic() {
    for rel in NEGATIVE {
        for format in ["line", "json"] {
            let file = path(rel);
            let mut args = vec!["--format", format];
            if !rel.ends_with(".pcap") {
                args.push("--raw");
            }
            args.push(&file);
            let out = decode(&args);
            assert_eq!(out.status.code(), Some(1), "{rel} {format}");
        }
    }
}

#[test]
fn port_selection() {
    let file = path("gopacket/SFlowTestPacket1.pcap");
    let all = decode(&[&file]);
    assert_eq!(String::from_utf8_lossy(&all.stdout).lines().count(), 7);
    let other = decode(&["--port", "9999", &file]);
    assert!(other.status.success());
    assert!(other.stdout.is_empty());
    let any = decode(&["--port", "9999", "--any-port", &file]);
    assert!(!any.status.success(), "--port and --any-port conflict");
    let any = decode(&["--any-port", &file]);
    assert_eq!(any.stdout, all.stdout);
}

#[test]
fn stdin_and_several_files() {
    let file = path("akvorado/data-1140.pcap");
    let bytes = std::fs::read(&file).expect("read");
    let mut child = Command::new(BIN)
        .args(["decode", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&bytes)
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    let expected = std::fs::read(format!("{file}.sflowtool-l.txt")).expect("reference");
    assert_eq!(out.stdout, expected);

    // two files: outputs concatenated in order; a missing file fails but the rest decodes
    let raw = path("akvorado/history/data-1140.data");
    let out = decode(&["--raw", &raw, "/nonexistent/flowsift-test", &raw]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout, [expected.clone(), expected].concat());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/flowsift-test"));

    // a raw datagram given without --raw is refused, not misread
    let out = decode(&[&raw]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--raw"));
}

/// A one-interface pcapng (Ethernet) holding the given frames, little-endian.
fn pcapng(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut f = Vec::new();
    let le = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
    // section header block
    le(&mut f, 0x0A0D_0D0A);
    le(&mut f, 28);
    le(&mut f, 0x1A2B_3C4D);
    f.extend_from_slice(&[1, 0, 0, 0]);
    f.extend_from_slice(&u64::MAX.to_le_bytes());
    le(&mut f, 28);
    // interface description block: link type 1, snap length 65535
    le(&mut f, 1);
    le(&mut f, 20);
    f.extend_from_slice(&[1, 0, 0, 0]);
    le(&mut f, 65535);
    le(&mut f, 20);
    for frame in frames {
        let padded = (frame.len() + 3) & !3;
        let len = 32 + padded as u32;
        le(&mut f, 6);
        le(&mut f, len);
        le(&mut f, 0);
        le(&mut f, 0);
        le(&mut f, 0);
        le(&mut f, frame.len() as u32);
        le(&mut f, frame.len() as u32);
        f.extend_from_slice(frame);
        f.resize(f.len() + padded - frame.len(), 0);
        le(&mut f, len);
    }
    f
}

/// Ethernet / IPv4 / UDP to `port` around `payload`.
fn frame(port: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00];
    let total = (28 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
    f.extend_from_slice(&[0x18, 0xC7]);
    f.extend_from_slice(&port.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

#[test]
fn pcapng_input() {
    let raw = path("akvorado/history/data-1140.data");
    let datagram = std::fs::read(&raw).expect("read");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("two.pcapng");
    // packet 1 is not sFlow (other port), packet 2 is, packet 3 is a truncated datagram
    let frames = vec![
        frame(53, b"not sflow"),
        frame(6343, &datagram),
        frame(6343, &datagram[..40]),
    ];
    std::fs::write(&file, pcapng(&frames)).expect("write");
    let out = decode(&[file.to_str().expect("utf-8 path")]);
    let expected = std::fs::read(format!("{raw}.sflowtool-l.txt")).expect("reference");
    assert_eq!(out.stdout, expected);
    assert_eq!(out.status.code(), Some(1), "packet 3 is damaged");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("two.pcapng: packet 3:"), "{stderr}");
}

#[test]
fn a_bad_sample_does_not_hide_the_next_one() {
    let words = |ws: &[u32]| -> Vec<u8> { ws.iter().flat_map(|w| w.to_be_bytes()).collect() };
    // datagram header: agent 192.0.2.9, two samples
    let mut d = words(&[5, 1, 0xC000_0209, 0, 1, 0, 2]);
    // sample 0: a flow sample whose extended-switch record claims 64 bytes it lacks
    let bad = words(&[1, 1, 1, 0, 0, 1, 2, 1, 1001, 64]);
    d.extend(words(&[1, bad.len() as u32]));
    d.extend(bad);
    // sample 1: a counter sample with no records
    let good = words(&[1, 5, 0]);
    d.extend(words(&[2, good.len() as u32]));
    d.extend(good);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad-then-good.bin");
    std::fs::write(&file, &d).expect("write");
    let out = decode(&["--raw", file.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "CNTR,192.0.2.9,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0\n"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("packet 1: sample 0 (0:1): record length 64"),
        "{stderr}"
    );
}

#[test]
fn truncated_capture_keeps_what_it_has() {
    let file = path("overflowd/sflow.pcap");
    let bytes = std::fs::read(&file).expect("read");
    let reference = std::fs::read_to_string(format!("{file}.sflowtool-l.txt")).expect("ref");
    let dir = tempfile::tempdir().expect("tempdir");
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let out = decode(&[cut.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    let got = String::from_utf8(out.stdout).expect("utf-8");
    assert!(got.lines().count() > 1000);
    assert!(reference.starts_with(&got), "a prefix of the full output");
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated block"));

    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, b"").expect("write");
    let out = decode(&[empty.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1), "an empty file is not a capture");
}

#[test]
fn json_gateway_user_url_and_port_name() {
    // gopacket's reference-agent datagram: the values its own test expects.
    let v = json("gopacket/SFlowTestPacket2.payload.bin");
    assert_eq!(v.len(), 3);
    let records = v[0]["records"].as_array().expect("records");
    let by_type = |t: &str| records.iter().find(|r| r["type"] == t).expect(t).clone();
    let gw = by_type("extended_gateway");
    assert_eq!(gw["as"], 65001);
    assert_eq!(gw["next_hop"], "13.12.11.10");
    assert_eq!(gw["as_path"][0]["type"], "as_sequence");
    assert_eq!(gw["as_path"][0]["asns"], serde_json::json!([123, 456, 789]));
    assert_eq!(gw["as_path"][1]["type"], "as_set");
    assert_eq!(gw["dst_as"], 999);
    assert_eq!(gw["communities"], serde_json::json!([12, 13]));
    assert_eq!(gw["local_pref"], 432);
    let user = by_type("extended_user");
    assert_eq!(user["src_user"], "source user");
    assert_eq!(user["dst_user"], "destination user");
    let url = by_type("extended_url");
    assert_eq!(url["url"], "http://www.sflow.org");
    assert_eq!(url["host"], "host1.sflow.org");

    let v = json("gopacket/SFlowTestPacket9.bin");
    let records = v[0]["records"].as_array().expect("records");
    assert!(records
        .iter()
        .any(|r| r["type"] == "port_name" && r["name"] == "tapd98154f2-00"));
    assert!(records
        .iter()
        .any(|r| r["type"] == "openflow_port" && r["port_no"] == 3));
}
