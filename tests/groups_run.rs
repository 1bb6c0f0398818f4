//! `flowsift run` with address groups: a `[[group]]` from a feed file and one inline, a
//! blocklist flow filtered on `group:ipdestination:feeds=blocklist` and a flow keyed on a
//! group, fed ICMP port-unreachable answers over loopback; the syslog side is a UDP
//! socket in the test, and every line is checked exactly. SIGHUP re-reads the group file:
//! the new membership applies, every definition keeps its open flows (the one filtering
//! on the changed set too), and a broken or missing file is refused while the old groups
//! stay in force.

mod run_support;

use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use run_support::{datagram, free_udp_port, unreachable, Collector};

/// The syslog side: sFlow-RT-format lines, their `k=v` part only.
struct Siem {
    sock: UdpSocket,
}

impl Siem {
    fn new() -> Siem {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        Siem { sock }
    }

    fn port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    /// The messages that arrive until `n` came or `timeout` passed, then for a further
    /// `quiet` (so that an extra line is seen), sorted.
    fn take(&self, n: usize, timeout: Duration, quiet: Duration) -> Vec<String> {
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        let deadline = Instant::now() + timeout;
        while got.len() < n && Instant::now() < deadline {
            if let Ok(len) = self.sock.recv(&mut buf) {
                got.push(String::from_utf8_lossy(&buf[..len]).into_owned());
            }
        }
        let until = Instant::now() + quiet;
        while Instant::now() < until {
            if let Ok(len) = self.sock.recv(&mut buf) {
                got.push(String::from_utf8_lossy(&buf[..len]).into_owned());
            }
        }
        let mut msgs: Vec<String> = got
            .iter()
            .map(|l| match l.split_once(" sflow-rt: ") {
                Some((head, msg)) if head.starts_with("<133>") => msg.to_owned(),
                _ => panic!("not an sFlow-RT line: {l}"),
            })
            .collect();
        msgs.sort();
        msgs
    }
}

/// One datagram per `(responder, scanner, port)` answer, from agent 192.0.2.1.
struct Sender {
    sock: UdpSocket,
    to: u16,
    seq: u32,
}

impl Sender {
    fn new(to: u16) -> Sender {
        Sender {
            sock: UdpSocket::bind("127.0.0.1:0").unwrap(),
            to,
            seq: 0,
        }
    }

    fn send(&mut self, answers: &[(&str, &str, u16)]) {
        for &(responder, scanner, port) in answers {
            self.seq += 1;
            let frames = vec![unreachable(responder, scanner, 17, port)];
            self.sock
                .send_to(
                    &datagram("192.0.2.1", self.seq, 3, &frames),
                    ("127.0.0.1", self.to),
                )
                .unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn config(path: &Path, listen: u16, siem: u16, flows: &str) {
    std::fs::write(
        path,
        format!(
            "[rx]\nlisten = [\"127.0.0.1:{listen}\"]\nuring_buffers = 256\nrcvbuf_bytes = 1048576\n\
             [stats]\ninterval_s = 0\n[shutdown]\ntimeout_ms = 2000\n\
             [[group]]\nname = \"feeds\"\nfile = \"feeds.txt\"\n\
             [[group]]\nname = \"site\"\ngroups = {{ private = [\"10.0.0.0/8\"], lab = [\"10.9.0.0/16\"] }}\n\
             {flows}\
             [[sink]]\ntransport = \"udp\"\naddress = \"127.0.0.1:{siem}\"\n"
        ),
    )
    .unwrap();
}

const BLOCKED: &str = "[[flow]]\nname = \"blocked\"\nkeys = \"ipsource,ipdestination\"\n\
                       filter = \"group:ipdestination:feeds=blocklist\"\nlog = true\nflowStart = true\n";

#[test]
fn blocklist_filter_and_group_keys_give_exact_lines() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("feeds.txt"),
        "# feed\n198.51.100.0/24 blocklist\n198.51.100.66 tor   # more specific\n\n2001:db8:bad::/48 blocklist\n",
    )
    .unwrap();
    let (listen, siem) = (free_udp_port(), Siem::new());
    let conf = dir.path().join("flowsift.toml");
    let bysite =
        "[[flow]]\nname = \"bysite\"\nkeys = \"group:ipsource:site,icmpunreachableport\"\n\
                  log = true\nflowStart = true\n";
    config(&conf, listen, siem.port(), &format!("{BLOCKED}{bysite}"));
    let mut c = Collector::start_listening(&conf);
    let mut tx = Sender::new(listen);
    tx.send(&[
        // Scanner in the blocklist: both flows.
        ("10.0.0.5", "198.51.100.7", 53),
        // Scanner in `tor` (its /32 beats the /24): `bysite` only, in `lab`.
        ("10.9.0.6", "198.51.100.66", 54),
        // Neither address in any group: nothing.
        ("172.16.0.1", "203.0.113.9", 55),
        // The first answer again: no new flow.
        ("10.0.0.5", "198.51.100.7", 53),
    ]);
    let got = siem.take(3, Duration::from_secs(10), Duration::from_millis(500));
    let status = c.terminate(Duration::from_secs(20));
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{:#?}", c.lines);
    let mut want = vec![
        "ipsource=10.0.0.5 ipdestination=198.51.100.7".to_string(),
        "group:ipsource:site=private icmpunreachableport=\"udp_53\"".to_string(),
        "group:ipsource:site=lab icmpunreachableport=\"udp_54\"".to_string(),
    ];
    want.sort();
    assert_eq!(got, want, "{:#?}", c.lines);
}

#[test]
fn sighup_rereads_the_group_file_and_refuses_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let feeds = dir.path().join("feeds.txt");
    std::fs::write(&feeds, "198.51.100.0/24 blocklist\n").unwrap();
    let (listen, siem) = (free_udp_port(), Siem::new());
    let conf = dir.path().join("flowsift.toml");
    config(
        &conf,
        listen,
        siem.port(),
        &format!("{BLOCKED}[[flow]]\nname = \"uport\"\n"),
    );
    let mut c = Collector::start_listening(&conf);
    let mut tx = Sender::new(listen);
    let (a, b) = (
        ("10.0.0.5", "198.51.100.7", 2),
        ("10.0.0.5", "203.0.113.9", 1),
    );
    tx.send(&[a, b]);
    let mut want = vec![
        "ipsource=10.0.0.5 ipdestination=198.51.100.7".to_string(),
        "ipsource=10.0.0.5 ipdestination=198.51.100.7 icmpunreachableport=\"udp_2\"".to_string(),
        "ipsource=10.0.0.5 ipdestination=203.0.113.9 icmpunreachableport=\"udp_1\"".to_string(),
    ];
    want.sort();
    let got = siem.take(3, Duration::from_secs(10), Duration::from_millis(300));
    assert_eq!(got, want, "{:#?}", c.lines);

    // The feed now lists half the first network and another one.
    std::fs::write(
        &feeds,
        "198.51.100.0/25 blocklist\n203.0.113.0/24 blocklist\n",
    )
    .unwrap();
    c.signal_hup();
    assert!(
        c.wait_for("flowsift: reloaded:", Duration::from_secs(20)),
        "{:#?}",
        c.lines
    );
    let line = c.lines.iter().find(|l| l.contains("reloaded:")).unwrap();
    assert!(line.contains("flows kept: blocked, uport;"), "{line}");
    assert!(line.contains("groups changed: feeds"), "{line}");
    // `blocked` kept its open flow to .7 (still listed: no line), takes the newly
    // listed network, and no longer the unlisted half; `uport` only sees the new port.
    let d = ("10.0.0.5", "198.51.100.200", 4);
    tx.send(&[a, b, d]);
    let got = siem.take(2, Duration::from_secs(10), Duration::from_millis(500));
    let mut want = vec![
        "ipsource=10.0.0.5 ipdestination=203.0.113.9".to_string(),
        "ipsource=10.0.0.5 ipdestination=198.51.100.200 icmpunreachableport=\"udp_4\"".to_string(),
    ];
    want.sort();
    assert_eq!(got, want, "{:#?}", c.lines);

    // A bad line: refused with the file's name and line; the groups in force stay.
    std::fs::write(&feeds, "# feed\n203.0.113.0/33 blocklist\n").unwrap();
    c.signal_hup();
    let refused = c
        .wait_line("reload refused", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no refusal: {:#?}", c.lines));
    assert!(
        refused.contains(&format!("{}:2:", feeds.display())),
        "{refused}"
    );
    // A missing file too.
    std::fs::remove_file(&feeds).unwrap();
    c.signal_hup();
    let deadline = Instant::now() + Duration::from_secs(20);
    while c
        .lines
        .iter()
        .filter(|l| l.contains("reload refused"))
        .count()
        < 2
        && Instant::now() < deadline
    {
        c.wait_for("\u{0}never", Duration::from_millis(100));
    }
    let refused: Vec<&String> = c
        .lines
        .iter()
        .filter(|l| l.contains("reload refused"))
        .collect();
    assert_eq!(refused.len(), 2, "{:#?}", c.lines);
    assert!(refused[1].contains("cannot read"), "{}", refused[1]);
    tx.send(&[("10.0.0.6", "203.0.113.10", 3)]);
    let got = siem.take(2, Duration::from_secs(10), Duration::from_millis(300));
    let mut want = vec![
        "ipsource=10.0.0.6 ipdestination=203.0.113.10".to_string(),
        "ipsource=10.0.0.6 ipdestination=203.0.113.10 icmpunreachableport=\"udp_3\"".to_string(),
    ];
    want.sort();
    assert_eq!(got, want, "{:#?}", c.lines);
    let status = c.terminate(Duration::from_secs(20));
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{:#?}", c.lines);
}
