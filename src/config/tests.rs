//! Tests of the configuration: the seed default, positions of every kind of error,
//! printing and parsing back, mangled files, and the example file `tuning/flowsift.toml`
//! (valid, equal to the default, mentioning every option).

use std::path::Path;

use super::error::line_col;
use super::{Config, ConfigError};
use crate::sink::config::Transport;

fn err(src: &str) -> ConfigError {
    Config::parse(src, "test.toml").unwrap_err()
}

#[test]
fn empty_file_is_the_seed() {
    let c = Config::parse("", "x").unwrap();
    assert_eq!(c, Config::embedded());
    assert_eq!(c.flows.len(), 1);
    assert_eq!(c.flows[0].name, "uport");
    assert_eq!(c.sinks.len(), 1);
    let s = &c.sinks[0];
    assert_eq!(s.transport, Transport::Udp);
    assert_eq!(s.address.to_string(), "127.0.0.1:514");
    assert_eq!((s.facility.0, s.severity.0), (16, 5));
    assert!(c.rx.listen.iter().all(|a| a.port() == 6343));
}

#[test]
fn printed_configuration_parses_back_to_itself() {
    let src = r#"
[rx]
listen = ["127.0.0.1:9999"]
[workers]
count = 2
[[flow]]
name = "uport"
[[flow]]
name = "ssh"
keys = "ipsource,ipdestination"
filter = "ipprotocol=6&tcpdestinationport=22"
log = true
[[sink]]
name = "a"
flows = ["ssh"]
[[sink]]
name = "b"
transport = "tls"
address = "siem.example:6514"
format = "rfc5424"
[sink.tls]
ca_file = "/etc/ssl/ca.pem"
"#;
    let c = Config::parse(src, "x").unwrap();
    let printed = c.to_toml();
    let back = Config::parse(&printed, "printed").unwrap();
    assert_eq!(c.effective(), back, "{printed}");
    assert_eq!(back.effective(), back, "{printed}");
    // Every default is written out.
    for attr in [
        "activeTimeout = 60",
        "idleTimeout = 60",
        "maxEntries = 100000",
        "scope = \"agent\"",
        "fs = \",\"",
        "flowStart = true",
        "hostname = ",
    ] {
        assert!(printed.contains(attr), "{attr} missing from\n{printed}");
    }
}

#[test]
fn unknown_keys_are_errors_with_position_and_alternatives() {
    let e = err("[rx]\nlisten = [\"0.0.0.0:6343\"]\n\n[workers]\ncuont = 2\n");
    assert_eq!((e.line, e.column), (5, 1), "{e}");
    assert!(e.message.contains("unknown field `cuont`"), "{e}");
    assert!(e.message.contains("count"), "{e}");
    assert!(e.to_string().starts_with("test.toml:5:1: "), "{e}");

    let e = err("[[sink]]\nname = \"x\"\nformat = \"cef\"\n");
    assert_eq!(e.line, 3, "{e}");
    assert!(e.message.contains("sflow-rt"), "{e}");

    let e = err("bogus = 1\n");
    assert_eq!(e.line, 1, "{e}");
    assert!(e.message.contains("unknown field `bogus`"), "{e}");
}

#[test]
fn table_level_errors_point_at_the_table() {
    let e = err(
        "[[flow]]\nname = \"uport\"\n\n[[flow]]\nname = \"x\"\nkeys = \"ipsource,nosuchkey\"\n",
    );
    // The span of an array-of-tables entry starts at its `[[flow]]` header.
    assert_eq!(e.line, 4, "{e}");
    assert!(e.message.contains("nosuchkey"), "{e}");
    assert!(e.message.contains("valid keys: agent,"), "{e}");

    let e = err("[[sink]]\nname = \"a\"\n\n[[sink]]\nname = \"b\"\nflows = [\"nope\"]\n");
    assert_eq!(e.line, 4, "{e}");
    assert!(e.message.contains("defined flows: uport"), "{e}");

    let e = err("[[sink]]\nname = \"a\"\n[[sink]]\nname = \"a\"\n");
    assert_eq!(e.line, 3, "{e}");
}

#[test]
fn thresholds_are_checked_with_positions() {
    let ok = Config::parse(
        "[[flow]]\nname = \"udpflood\"\nkeys = \"ipdestination\"\n\n\
         [[threshold]]\nname = \"udpflood\"\nmetric = \"udpflood\"\nvalue = 100000\n\
         byFlow = true\n\n[[sink]]\nflows = [\"udpflood\"]\n",
        "x",
    )
    .unwrap();
    let t = ok.thresholds().unwrap();
    assert_eq!((t.len(), t[0].by_flow, t[0].timeout_ms), (1, true, 60_000));
    let defs = ok.definitions(&t).unwrap();
    assert_eq!(defs.as_slice()[0].thresholds.len(), 1);
    // The effective configuration prints every attribute and parses back.
    let printed = ok.to_toml();
    assert!(
        printed.contains("timeout = 60") && printed.contains("end = false"),
        "{printed}"
    );
    assert_eq!(
        Config::parse(&printed, "p").unwrap().thresholds,
        ok.thresholds
    );

    let e = err(
        "[[flow]]\nname = \"uport\"\n\n[[threshold]]\nname = \"t\"\nmetric = \"nope\"\nvalue = 1\n",
    );
    assert_eq!((e.line, e.column), (4, 1), "{e}");
    assert!(e.message.contains("unknown metric 'nope'"), "{e}");
    assert!(e.message.contains("ifinutilization"), "{e}");
    let e = err("[[threshold]]\nname = \"t\"\nmetric = \"uport\"\nvalue = 1\nbyflow = true\n");
    assert_eq!(e.line, 5, "{e}");
    assert!(e.message.contains("unknown field `byflow`"), "{e}");
    let e = err("[[threshold]]\nname = \"t\"\nmetric = \"uport\"\n");
    assert!(e.message.contains("value"), "{e}");
    // A sink may name a threshold; not an undefined one.
    let e = err("[[threshold]]\nname = \"t\"\nmetric = \"ifinerrors\"\nvalue = 1\n[[sink]]\nflows = [\"u\"]\n");
    assert_eq!(e.line, 5, "{e}");
}

#[test]
fn value_errors_have_positions() {
    let e = err("[[sink]]\n  facility = 99\n");
    assert_eq!((e.line, e.column), (2, 14), "{e}");
    assert!(e.message.contains("0..=23"), "{e}");
    let e = err("[[sink]]\naddress = \"nohost\"\n");
    assert_eq!(e.line, 2, "{e}");
    assert!(e.message.contains("HOST:PORT"), "{e}");
}

#[test]
fn warnings_for_silent_flows() {
    let c = Config::parse(
        "[[flow]]\nname = \"quiet\"\nkeys = \"ipsource\"\n[[flow]]\nname = \"uport\"\n[[sink]]\nflows = [\"quiet\"]\n",
        "x",
    )
    .unwrap();
    let w = c.warnings();
    assert!(
        w.iter().any(|m| m.contains("'quiet' has log = false")),
        "{w:?}"
    );
    assert!(
        w.iter().any(|m| m.contains("'uport' is taken by no")),
        "{w:?}"
    );
}

#[test]
fn mangled_files_are_errors_never_panics() {
    // Cut and corrupt the example file in many places: every outcome must be a value
    // or a positioned error (parse runs on untrusted operator input).
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tuning/flowsift.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let bytes = text.as_bytes();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    const NOISE: &[u8] = b"=[]\"'#\n ,.{}0-9azZ\\\t\x00\xff";
    for round in 0..600 {
        let mut m = bytes.to_vec();
        match round % 3 {
            0 => m.truncate(next() as usize % bytes.len()),
            1 => {
                for _ in 0..(1 + next() % 4) {
                    let at = next() as usize % m.len();
                    m[at] = NOISE[next() as usize % NOISE.len()];
                }
            }
            _ => {
                let at = next() as usize % m.len();
                let len = (next() as usize % 40).min(m.len() - at);
                m.drain(at..at + len);
            }
        }
        let src = String::from_utf8_lossy(&m);
        if let Err(e) = Config::parse(&src, "mangled.toml") {
            let lines = src.lines().count().max(1);
            assert!(e.line <= lines + 1, "{e} (of {lines} lines)");
        }
    }
}

#[test]
fn line_and_column_count_characters() {
    assert_eq!(line_col("ab\ncé\nx", 0), (1, 1));
    assert_eq!(line_col("ab\ncé\nx", 3), (2, 1));
    assert_eq!(line_col("ab\ncé\nx", 7), (3, 1));
    assert_eq!(line_col("ab\ncé\nx", 100), (3, 2));
}

#[test]
fn example_file_is_valid_and_equals_the_default() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tuning/flowsift.toml");
    let c = Config::load(Path::new(path)).unwrap();
    assert_eq!(
        c,
        Config::embedded(),
        "every value in the example is the default"
    );
    // ... and it mentions every option (set, or commented out for optional ones), so a
    // new option without an example line fails here.
    let text = std::fs::read_to_string(path).unwrap();
    let mentions = |key: &str| {
        text.lines().any(|l| {
            let l = l.trim_start_matches(['#', ' ']);
            l.starts_with(&format!("{key} =")) || l.starts_with(&format!("{key}="))
        })
    };
    let mut every = Config::embedded();
    every.sinks[0].hostname = Some(crate::sink::config::HostName("h".into()));
    every.sinks[0].tls = Some(crate::sink::config::TlsConfig {
        ca_file: Some("a".into()),
        cert_file: Some("b".into()),
        key_file: Some("c".into()),
        server_name: Some("d".into()),
    });
    let table: toml::Table = toml::from_str(&every.to_toml()).unwrap();
    let mut missing = Vec::new();
    let mut flow_keys = vec![
        "filter",
        "fs",
        "activeTimeout",
        "idleTimeout",
        "maxEntries",
        "scope",
        "n",
        "t",
    ];
    flow_keys.retain(|k| !mentions(k));
    missing.extend(flow_keys.iter().map(|k| format!("flow.{k}")));
    fn walk(
        prefix: &str,
        v: &toml::Value,
        mentions: &dyn Fn(&str) -> bool,
        missing: &mut Vec<String>,
    ) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    if !v.is_table() && !v.is_array()
                        || v.as_array()
                            .is_some_and(|a| !a.iter().any(toml::Value::is_table))
                    {
                        if !mentions(k) {
                            missing.push(format!("{prefix}{k}"));
                        }
                    } else {
                        walk(&format!("{prefix}{k}."), v, mentions, missing);
                    }
                }
            }
            toml::Value::Array(a) => a.iter().for_each(|v| walk(prefix, v, mentions, missing)),
            _ => {}
        }
    }
    walk("", &toml::Value::Table(table), &mentions, &mut missing);
    assert!(
        missing.is_empty(),
        "options without an example line: {missing:?}"
    );
}
