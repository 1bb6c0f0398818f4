//! `flowsift decode` over the whole corpus (`tests/data/sflow/`), run as the real binary.
//!
//! - Line output: for every capture and raw datagram of the corpus that has a
//!   `FILE.sflowtool-l.txt` (what InMon's `sflowtool -l` printed for it), the `--format line`
//!   output must equal it byte for byte. Every such file matches, including the damaged
//!   vectors: on those sflowtool prints nothing (or stops) and flowsift drops exactly the
//!   samples that cannot be decoded, so no file needs a documented exception today. (Where
//!   flowsift and sflowtool would differ, on a bad sample followed by good ones in one
//!   datagram, flowsift prints the good ones and sflowtool stops; no corpus file has that
//!   shape.) The negative cases additionally must be reported on stderr with file and packet
//!   number and a non-zero exit code, and must never panic (exit code 101).
//! - The captures made for this project (`openvswitch/`, `flowsift-synth/`) have no sflowtool
//!   output (sflowtool was not at hand): their `FILE.tshark-fields.txt` holds what tshark
//!   dissected in each datagram, and the JSON output must agree with it.
//! - JSON output: discard samples, expanded samples, IPv6, QinQ, raw-IPv4 headers, ICMP.
//! - Inputs: pcapng (built here from a corpus datagram), stdin, `--port`, `--any-port`.
//!
//! Every check counts what it covered and asserts the exact number, so a corpus that went
//! missing or lost files fails here rather than passing over nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

mod packet_support;
use packet_support::frames;

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

/// The corpus files checked against tshark's dissection instead of sflowtool's output.
const TSHARK_CHECKED: &[&str] = &[
    "flowsift-synth/output-interfaces.pcap",
    "flowsift-synth/qinq-tcp.pcap",
    "flowsift-synth/raw-ipv4-icmp.pcap",
    "flowsift-synth/router-gateway-ipv6-ipv4-tcp.pcap",
    "flowsift-synth/vxlan-icmpv6.pcap",
    "openvswitch/ovs-netdev-icmp-udp-tcp.pcap",
];

/// Every capture and raw datagram file of the corpus, with whether it is raw. Panics when
/// the corpus is missing or empty (`flowsift::testdata::corpus_files`).
fn corpus_inputs() -> Vec<(String, bool)> {
    flowsift::testdata::corpus_files()
        .iter()
        .map(|rel| {
            (
                rel.to_str().expect("utf-8 corpus path").to_string(),
                flowsift::testdata::is_raw(rel),
            )
        })
        .collect()
}

fn decode(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("decode")
        .args(args)
        .output()
        .expect("run flowsift")
}

/// The full path of a corpus file, which must exist.
fn path(rel: &str) -> String {
    flowsift::testdata::corpus_file(rel)
        .to_str()
        .expect("utf-8 corpus path")
        .to_string()
}

#[test]
fn line_output_equals_sflowtool_for_every_corpus_file() {
    let inputs = corpus_inputs();
    assert_eq!(inputs.len(), 53, "corpus input files");
    let negative: BTreeSet<&str> = NEGATIVE.iter().copied().collect();
    let tshark: BTreeSet<&str> = TSHARK_CHECKED.iter().copied().collect();
    let mut mismatches = Vec::new();
    let (mut compared, mut flow_lines, mut counter_lines, mut failed) = (0, 0, 0, 0);
    let mut without_reference = BTreeSet::new();
    for (rel, raw) in &inputs {
        let file = path(rel);
        let mut args = vec!["--format", "line"];
        if *raw {
            args.push("--raw");
        }
        args.push(&file);
        let out = decode(&args);
        assert_ne!(out.status.code(), Some(101), "{rel}: flowsift panicked");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if negative.contains(rel.as_str()) {
            failed += 1;
            assert!(!out.status.success(), "{rel}: damaged input must fail");
            assert!(
                stderr.contains(&file) && stderr.contains("packet 1:"),
                "{rel}: failure not reported with file and packet: {stderr}"
            );
        } else {
            assert!(out.status.success(), "{rel}: unexpected failure: {stderr}");
            assert!(stderr.is_empty(), "{rel}: unexpected stderr: {stderr}");
        }
        let Ok(expected) = std::fs::read(format!("{file}.sflowtool-l.txt")) else {
            without_reference.insert(rel.as_str());
            continue;
        };
        compared += 1;
        let text = String::from_utf8_lossy(&expected);
        flow_lines += text.lines().filter(|l| l.starts_with("FLOW,")).count();
        counter_lines += text.lines().filter(|l| l.starts_with("CNTR,")).count();
        if out.stdout != expected {
            mismatches.push(format!(
                "{rel}:\n--- sflowtool\n{}--- flowsift\n{}",
                String::from_utf8_lossy(&expected),
                String::from_utf8_lossy(&out.stdout)
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert_eq!(
        without_reference, tshark,
        "files without an sflowtool reference must be checked against tshark"
    );
    assert_eq!(
        (compared, flow_lines, counter_lines, failed),
        (47, 5928, 533, NEGATIVE.len()),
        "(files compared, FLOW lines, CNTR lines, damaged files)"
    );
}

/// One datagram as tshark dissected it: `FILE.tshark-fields.txt` has one line per capture
/// packet, tab-separated, each field's values in order of appearance, comma-separated.
struct TsharkPacket {
    fields: BTreeMap<String, Vec<String>>,
}

impl TsharkPacket {
    fn values(&self, field: &str) -> Vec<String> {
        self.fields.get(field).cloned().unwrap_or_default()
    }
}

/// Reads `FILE.tshark-fields.txt`: comment lines (`#`) hold the command that made it, and the
/// last of them names the columns; then one line per capture packet.
fn tshark_fields(rel: &str) -> Vec<TsharkPacket> {
    let text = std::fs::read_to_string(format!("{}.tshark-fields.txt", path(rel)))
        .unwrap_or_else(|e| panic!("{rel}: no tshark expectations: {e}"));
    let columns: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("# columns:"))
        .flat_map(|l| l["# columns:".len()..].split_whitespace())
        .map(str::to_owned)
        .collect();
    assert!(columns.len() > 2, "{rel}: no column list");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let cells: Vec<&str> = line.split('\t').collect();
            assert_eq!(cells.len(), columns.len(), "{rel}: {line}");
            TsharkPacket {
                fields: columns
                    .iter()
                    .zip(cells)
                    .map(|(c, v)| {
                        let values = v
                            .split(',')
                            .filter(|x| !x.is_empty())
                            .map(str::to_owned)
                            .collect();
                        (c.clone(), values)
                    })
                    .collect(),
            }
        })
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The captures made for this project, against what tshark made of them: per datagram, the
/// number of samples, their types (tshark stops at counter records it does not know, so its
/// list may be a prefix of flowsift's, cut before a counter sample only), and the multiset
/// of ICMP and ICMPv6 types and codes and TCP and UDP destination ports of the sampled
/// headers. tshark counts the datagram's own UDP port 6343 once, and the UDP header quoted by
/// an ICMP port unreachable, which flowsift reports as `icmpunreachableport`. A column a file
/// leaves out counts as no values (the VXLAN capture leaves out the ICMPv6 of the inner
/// frame, which flowsift does not decapsulate).
#[test]
fn captures_without_sflowtool_output_agree_with_tshark() {
    let (mut files, mut packets, mut samples, mut flows) = (0, 0, 0, 0);
    for rel in TSHARK_CHECKED {
        files += 1;
        let expected = tshark_fields(rel);
        let objects = json(rel);
        let mut by_packet: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
        for o in &objects {
            by_packet
                .entry(o["packet"].as_u64().expect("packet number"))
                .or_default()
                .push(o);
        }
        assert_eq!(by_packet.len(), expected.len(), "{rel}: datagrams");
        for (n, t) in expected.iter().enumerate() {
            let what = format!("{rel} packet {}", n + 1);
            let got = &by_packet[&(n as u64 + 1)];
            packets += 1;
            samples += got.len();
            assert_eq!(
                t.values("frame.number"),
                vec![(n + 1).to_string()],
                "{what}"
            );
            assert_eq!(
                t.values("sflow_245.numsamples"),
                vec![got.len().to_string()],
                "{what}: samples"
            );
            let formats: Vec<String> = got
                .iter()
                .map(|o| o["sample"]["format"].to_string())
                .collect();
            let types = t.values("sflow_245.sampletype");
            assert!(
                formats.starts_with(&types)
                    && formats[types.len()..].iter().all(|f| f == "2" || f == "4"),
                "{what}: sample types {types:?} vs {formats:?}"
            );
            flows += formats.iter().filter(|f| *f == "1" || *f == "3").count();
            let keys = |name: &str, proto: Option<&str>| -> Vec<String> {
                sorted(
                    got.iter()
                        .filter(|o| proto.is_none_or(|p| key(o, "ipprotocol") == Some(p)))
                        .filter_map(|o| key(o, name).map(str::to_owned))
                        .collect(),
                )
            };
            assert_eq!(
                keys("icmptype", Some("1")),
                sorted(t.values("icmp.type")),
                "{what}: ICMP types"
            );
            assert_eq!(
                keys("icmpcode", Some("1")),
                sorted(t.values("icmp.code")),
                "{what}: ICMP codes"
            );
            assert_eq!(
                keys("icmptype", Some("58")),
                sorted(t.values("icmpv6.type")),
                "{what}: ICMPv6 types"
            );
            assert_eq!(
                keys("icmpcode", Some("58")),
                sorted(t.values("icmpv6.code")),
                "{what}: ICMPv6 codes"
            );
            assert_eq!(
                keys("tcpdestinationport", None),
                sorted(t.values("tcp.dstport")),
                "{what}: TCP ports"
            );
            let mut udp = t.values("udp.dstport");
            let outer = udp
                .iter()
                .position(|p| p == "6343")
                .expect("the datagram's own port");
            udp.remove(outer);
            let mut want = keys("udpdestinationport", None);
            want.extend(
                keys("icmpunreachableport", None)
                    .iter()
                    .filter_map(|p| p.strip_prefix("udp_").map(str::to_owned)),
            );
            assert_eq!(sorted(want), sorted(udp), "{what}: UDP ports");
        }
    }
    assert_eq!(
        (files, packets, samples, flows),
        (6, 21, 96, 76),
        "(files, datagrams, samples, flow samples) checked against tshark"
    );
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
    let v = json("tcpdump/sflow_expanded.pcap");
    assert_eq!(v.len(), 1);
    let s = &v[0]["sample"];
    assert_eq!(s["type"], "expanded_flow");
    assert_eq!(s["format"], 3);
    // an output ifIndex beyond 2^30 survives the expanded form
    assert_eq!(s["output"]["value"], 1_285_816_721u64);
    assert_eq!(s["input"]["value"], 29001);
    assert_eq!(key(&v[0], "inputifindex"), Some("29001"));
    // ... and so does the flow key: the record keeps interfaces at full width.
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

/// The Open vSwitch capture (`openvswitch/make-captures.sh`): ICMP, ICMPv6, UDP to closed
/// ports and TCP between two namespaces, every packet sampled, interface counters.
const OVS: &str = "openvswitch/ovs-netdev-icmp-udp-tcp.pcap";

/// The flow samples of `objects` whose keys have `name` = `value`.
fn with<'a>(objects: &'a [Value], name: &str, value: &str) -> Vec<&'a Value> {
    objects
        .iter()
        .filter(|o| key(o, name) == Some(value))
        .collect()
}

#[test]
fn json_ipv6() {
    let v = json(OVS);
    let tcp6: Vec<&Value> = with(&v, "ethernetprotocol", "34525")
        .into_iter()
        .filter(|o| key(o, "ipprotocol") == Some("6"))
        .collect();
    assert_eq!(tcp6.len(), 14, "TCP over IPv6 samples");
    let first = tcp6[0];
    assert_eq!(key(first, "ip6source"), Some("fd99::1"));
    assert_eq!(key(first, "ip6destination"), Some("fd99::2"));
    assert_eq!(key(first, "ipsource"), None);
    assert_eq!(key(first, "tcpdestinationport"), Some("8080"));

    // A router's view (flowsift-synth): TCP over IPv6 and IPv4 with extended router and
    // gateway records; the values are those tshark shows for the same bytes.
    let v = json("flowsift-synth/router-gateway-ipv6-ipv4-tcp.pcap");
    assert_eq!(v.len(), 2);
    assert_eq!(key(&v[0], "ethernetprotocol"), Some("34525"));
    assert_eq!(key(&v[0], "ip6source"), Some("2001:db8:1::10"));
    assert_eq!(key(&v[0], "tcpdestinationport"), Some("22"));
    assert_eq!(key(&v[1], "ipsource"), Some("192.0.2.33"));
    assert_eq!(key(&v[1], "tcpdestinationport"), Some("443"));
    let record = |o: &Value, t: &str| -> Value {
        o["records"]
            .as_array()
            .expect("records")
            .iter()
            .find(|r| r["type"] == t)
            .unwrap_or_else(|| panic!("a {t} record"))
            .clone()
    };
    let r = record(&v[0], "extended_router");
    assert_eq!(
        (&r["next_hop"], &r["src_mask_len"], &r["dst_mask_len"]),
        (
            &serde_json::json!("2001:db8::1"),
            &serde_json::json!(48),
            &serde_json::json!(64)
        )
    );
    let gw = record(&v[0], "extended_gateway");
    assert_eq!(gw["as"], 65001);
    assert_eq!(gw["src_as"], 65010);
    assert_eq!(gw["src_peer_as"], 65020);
    assert_eq!(gw["as_path"][0]["type"], "as_sequence");
    assert_eq!(gw["as_path"][0]["asns"], serde_json::json!([65020, 65030]));
    assert_eq!(gw["communities"], serde_json::json!([4_259_905_636u32]));
    assert_eq!(gw["local_pref"], 100);
    let gw = record(&v[1], "extended_gateway");
    assert_eq!(gw["next_hop"], "192.0.2.254");
    assert_eq!(gw["as_path"][1]["type"], "as_set");
    assert_eq!(gw["as_path"][1]["asns"], serde_json::json!([64512, 64513]));
    assert_eq!(gw["dst_as"], 64513);
    assert_eq!(gw["local_pref"], 200);

    let v = json("telegraf/inputs.sflow-removed/decoder_test_TestIPv6SW.bin");
    assert_eq!(v.len(), 1);
    assert_eq!(key(&v[0], "ip6source"), Some("2607:f8b0:4002:14::8"));
    assert_eq!(key(&v[0], "udpsourceport"), Some("443"));
}

#[test]
fn json_qinq() {
    // flowsift-synth: an 802.1ad service tag 1062 over an 802.1Q customer tag 1493.
    let v = json("flowsift-synth/qinq-tcp.pcap");
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["sample"]["type"], "expanded_flow");
    // sFlow-RT's `vlan` is the outer (service) tag.
    assert_eq!(key(&v[0], "vlan"), Some("1062"));
    assert_eq!(key(&v[0], "ethernetprotocol"), Some("2048"));
    assert_eq!(key(&v[0], "ipsource"), Some("192.0.2.33"));
    assert_eq!(key(&v[0], "tcpdestinationport"), Some("443"));
}

#[test]
fn json_output_interface_forms() {
    // flowsift-synth: discarded (format 1, reason 1), local (0x3FFFFFFF) and multiple
    // interfaces (format 2, 7), in compact samples and again in expanded ones.
    let v = json("flowsift-synth/output-interfaces.pcap");
    let forms: Vec<(String, Value)> = v
        .iter()
        .map(|o| {
            (
                o["sample"]["type"].as_str().expect("type").to_string(),
                o["sample"]["output"].clone(),
            )
        })
        .collect();
    let want = |format: u32, value: u32| serde_json::json!({"format": format, "value": value});
    let expected: Vec<(String, Value)> = ["flow", "expanded_flow"]
        .iter()
        .flat_map(|t| {
            [want(1, 1), want(0, 0x3FFF_FFFF), want(2, 7)]
                .into_iter()
                .map(move |o| (t.to_string(), o))
        })
        .collect();
    assert_eq!(forms, expected);
    for o in &v {
        assert_eq!(key(o, "udpdestinationport"), Some("53"));
    }
}

#[test]
fn json_vxlan_outer_header() {
    // flowsift-synth: IPv4/UDP 4789/VXLAN around an IPv6 ICMPv6 echo; the keys are the
    // outer headers' (no decapsulation).
    let v = json("flowsift-synth/vxlan-icmpv6.pcap");
    assert_eq!(v.len(), 1);
    assert_eq!(key(&v[0], "ipsource"), Some("192.0.2.50"));
    assert_eq!(key(&v[0], "udpdestinationport"), Some("4789"));
    assert_eq!(key(&v[0], "icmptype"), None);
}

#[test]
fn json_raw_ipv4_headers() {
    // flowsift-synth: two ICMP echo replies sampled as raw IPv4 (header protocol 11).
    let v = json("flowsift-synth/raw-ipv4-icmp.pcap");
    assert_eq!(v.len(), 2);
    for o in &v {
        assert_eq!(o["records"][0]["header_protocol"], 11);
        assert_eq!(key(o, "ipsource"), Some("198.51.100.7"));
        assert_eq!(key(o, "macsource"), None, "raw IPv4 has no link layer");
        assert_eq!(key(o, "icmptype"), Some("0"));
        assert_eq!(o["sample"]["input"]["value"], 0);
        assert_eq!(o["sample"]["output"]["value"], 2);
    }
    // ... and a real agent's raw IPv4 TCP sample (logstash-codec-sflow's vector).
    let v = json("logstash-codec-sflow/sflow_flow_sample.dat");
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["records"][0]["header_protocol"], 11);
    assert_eq!(key(&v[0], "ipsource"), Some("10.243.27.17"));
    assert_eq!(key(&v[0], "macsource"), None, "raw IPv4 has no link layer");
    assert_eq!(key(&v[0], "ipprotocol"), Some("6"));
    assert_eq!(key(&v[0], "tcpdestinationport"), Some("59451"));
}

#[test]
fn json_icmp() {
    let v = json(OVS);
    assert_eq!(v.len(), 84, "samples in the Open vSwitch capture");
    let icmp = |proto: &str, t: &str| -> Vec<&Value> {
        v.iter()
            .filter(|o| key(o, "ipprotocol") == Some(proto) && key(o, "icmptype") == Some(t))
            .collect()
    };
    // ICMP echo request and reply, nothing unreachable about them.
    let echo = icmp("1", "8");
    assert_eq!(echo.len(), 3);
    for o in &echo {
        assert_eq!(key(o, "ipsource"), Some("10.99.0.1"));
        assert_eq!(key(o, "icmpcode"), Some("0"));
        assert_eq!(key(o, "icmpunreachableport"), None);
    }
    assert_eq!(icmp("1", "0").len(), 3);
    // ICMPv6 echo, and the neighbor solicitation that came before the first one.
    assert_eq!(icmp("58", "128").len(), 3);
    assert_eq!(icmp("58", "129").len(), 3);
    let ns = icmp("58", "135");
    assert_eq!(ns.len(), 1);
    assert_eq!(key(ns[0], "ip6destination"), Some("ff02::1:ff00:2"));
    // Port unreachable, over IPv4 (3/3) and IPv6 (1/4): the closed port is a key.
    for (proto, t, code, src) in [("1", "3", "3", "ipsource"), ("58", "1", "4", "ip6source")] {
        let unreachable = icmp(proto, t);
        let ports: BTreeSet<&str> = unreachable
            .iter()
            .map(|o| {
                assert_eq!(key(o, "icmpcode"), Some(code));
                assert!(key(o, src).is_some_and(|a| a.ends_with('2')), "from fsc-b");
                key(o, "icmpunreachableport").expect("unreachable port")
            })
            .collect();
        assert_eq!(unreachable.len(), 4, "{proto}");
        assert_eq!(
            ports,
            BTreeSet::from(["udp_161", "udp_33434", "udp_33435", "udp_53"])
        );
    }
    // Datagrams of counters only: the agent's polls between bursts of traffic.
    let mut counter_only: BTreeMap<u64, bool> = BTreeMap::new();
    for o in &v {
        let c = o["sample"]["type"] == "counters";
        *counter_only
            .entry(o["packet"].as_u64().expect("packet"))
            .or_insert(true) &= c;
    }
    let counter_only: Vec<u64> = counter_only
        .into_iter()
        .filter_map(|(p, c)| c.then_some(p))
        .collect();
    assert_eq!(counter_only, [1, 13, 14, 15, 16]);

    // A VLAN-tagged ICMP echo request (goflow2's vector).
    let v = json("goflow2/sflow_test_TestSFlowDecode.bin");
    assert_eq!(v.len(), 1);
    assert_eq!(key(&v[0], "vlan"), Some("32"));
    assert_eq!(key(&v[0], "icmptype"), Some("8"));
    assert_eq!(key(&v[0], "ipsource"), Some("172.16.32.254"));
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
    // A capture whose datagrams are on another port is said to be so, never an empty success.
    let other = decode(&["--port", "9999", &file]);
    assert_eq!(other.status.code(), Some(1));
    assert!(other.stdout.is_empty());
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(
        err.contains("none of its 1 UDP datagram(s) is to port 9999 (1 to port 6343)"),
        "{err}"
    );
    let any = decode(&["--port", "9999", "--any-port", &file]);
    assert!(!any.status.success(), "--port and --any-port conflict");
    let any = decode(&["--any-port", &file]);
    assert_eq!(any.stdout, all.stdout);
}

#[test]
fn stdin_and_several_files() {
    let file = path("gopacket/SFlowTestPacket1.pcap");
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
    let raw = path("gopacket/SFlowTestPacket1.payload.bin");
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
    let raw = path("gopacket/SFlowTestPacket1.payload.bin");
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
    // Agent 192.0.2.9: a flow sample whose record overruns it, then a counter sample.
    let d = frames::overrunning_record(Ipv4Addr::new(192, 0, 2, 9), true);
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
