//! The seed application: `tests/data/scripts/syslog.js` against the built-in `uport`
//! gives the same lines, byte for byte but for the time stamp.

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::run_support::{free_udp_port, Collector};
use crate::util::{receive, scan_datagrams, send_all, start, untimed, write_config};

/// The seed script as shipped in tests/data/scripts, `server` and `port` edited.
fn seed_script(dir: &Path, port: u16) -> PathBuf {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/scripts/syslog.js");
    let seed = std::fs::read_to_string(path).expect("tests/data/scripts/syslog.js");
    let first = "var server = '10.0.0.1'; var port = 514;";
    assert!(seed.starts_with(first), "the seed's first line changed");
    let edited = seed.replacen(
        first,
        &format!("var server = '127.0.0.1'; var port = {port};"),
        1,
    );
    let out = dir.join("syslog.js");
    std::fs::write(&out, edited).unwrap();
    out
}

#[test]
fn seed_script_sends_the_lines_of_the_built_in_uport() {
    let dir = tempfile::tempdir().unwrap();
    let builtin_rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let script_rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (listen_a, listen_b) = (free_udp_port(), free_udp_port());
    let builtin = write_config(
        dir.path(),
        "builtin.toml",
        &format!(
            "[rx]\nlisten = [\"127.0.0.1:{listen_a}\"]\n[stats]\ninterval_s = 0\n[[sink]]\naddress = \"{}\"\n",
            builtin_rx.local_addr().unwrap()
        ),
    );
    // No [[flow]], no [[sink]]: the script alone defines them.
    let scripted = write_config(
        dir.path(),
        "scripted.toml",
        &format!("[rx]\nlisten = [\"127.0.0.1:{listen_b}\"]\n[stats]\ninterval_s = 0\n"),
    );
    let script = seed_script(dir.path(), script_rx.local_addr().unwrap().port());
    let mut a = Collector::start_listening(&builtin);
    let mut b = start(&[
        "--config".as_ref(),
        scripted.as_os_str(),
        "--script".as_ref(),
        script.as_os_str(),
    ]);
    assert!(
        b.lines
            .iter()
            .any(|l| l.contains("1 flow definition(s)") && l.contains("no sink")),
        "the script's uport only, no default sink: {:#?}",
        b.lines
    );
    let datagrams = scan_datagrams();
    send_all(listen_a, &datagrams);
    send_all(listen_b, &datagrams);
    let from_builtin = receive(&builtin_rx, 60, Duration::from_secs(15));
    let from_script = receive(&script_rx, 60, Duration::from_secs(15));
    // Nothing more arrives: each key is logged once.
    assert!(receive(&script_rx, 1, Duration::from_millis(300)).is_empty());
    assert_eq!(
        a.terminate(Duration::from_secs(20)).map(|s| s.code()),
        Some(Some(0))
    );
    assert_eq!(
        b.terminate(Duration::from_secs(20)).map(|s| s.code()),
        Some(Some(0))
    );

    assert_eq!(from_builtin.len(), 60, "{from_builtin:#?}");
    let count = |lines: &[String]| {
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        for l in lines {
            *m.entry(untimed(l)).or_default() += 1;
        }
        m
    };
    assert_eq!(count(&from_script), count(&from_builtin));
    assert!(
        from_script[0].starts_with("<133>") && from_script[0].contains(" sflow-rt: ipsource=10.0."),
        "{}",
        from_script[0]
    );
    assert!(
        from_script
            .iter()
            .any(|l| l.ends_with("ipdestination=198.51.100.7 icmpunreachableport=\"udp_1000\"")),
        "{from_script:#?}"
    );
    assert!(
        b.lines
            .iter()
            .any(|l| l.contains("handled 60,") && l.contains("syslog sent 60,")),
        "{:#?}",
        b.lines
    );
}
