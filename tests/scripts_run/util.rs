//! The helpers every area of this binary uses: sending datagrams to a collector,
//! receiving and comparing syslog lines, writing configuration files and scripts, and
//! starting `flowsift run` (to its exit, or running with a script and a syslog receiver).
//! One copy each, so the areas differ only in what they test.

use std::ffi::OsStr;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::run_support::{self, datagram, free_udp_port, unreachable, Collector};

/// 60 port-unreachable answers (30 UDP, 30 TCP; three agents), each seen twice, among
/// noise: 60 distinct (agent, data source, key) flows.
pub fn scan_datagrams() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut seq = 1;
    for agent in ["192.0.2.1", "192.0.2.2", "192.0.2.3"] {
        for chunk in 0..4u16 {
            let mut frames = Vec::new();
            for p in 0..5u16 {
                let port = 1000 + chunk * 5 + p;
                let proto = if port % 2 == 0 { 17 } else { 6 };
                let responder = format!("10.0.{}.{}", chunk, p + 1);
                frames.push(unreachable(&responder, "198.51.100.7", proto, port));
            }
            // Noise: an answer quoting GRE (no port), which no flow takes.
            frames.push(unreachable("10.9.9.9", "198.51.100.7", 47, 0));
            for _ in 0..2 {
                out.push(datagram(agent, seq, 3, &frames));
                seq += 1;
            }
        }
    }
    out
}

pub fn send_all(port: u16, datagrams: &[Vec<u8>]) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for d in datagrams {
        sock.send_to(d, ("127.0.0.1", port)).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Datagrams arriving on `sock` until `n` came or `timeout` passed.
pub fn receive(sock: &UdpSocket, n: usize, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while out.len() < n {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match sock.recv(&mut buf) {
            Ok(len) => out.push(String::from_utf8_lossy(&buf[..len]).into_owned()),
            Err(_) => break,
        }
    }
    out
}

/// The line without its time stamp (`<133>` + 15 characters): the rest must be equal.
pub fn untimed(line: &str) -> String {
    let (pri, rest) = line.split_at(line.find('>').map_or(0, |i| i + 1));
    format!("{pri}{}", rest.get(15..).unwrap_or(""))
}

pub fn write_config(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

pub fn start(args: &[&OsStr]) -> Collector {
    let mut c = Collector::start_args(args);
    assert!(
        c.wait_for("listening on", Duration::from_secs(20)),
        "{:#?}",
        c.lines
    );
    c
}

/// `flowsift run` with only `script` (and a listen address): its exit code and stderr.
pub fn run_to_exit(dir: &Path, script: &str) -> (Option<i32>, String, PathBuf) {
    run_to_exit_with(dir, None, script)
}

/// `flowsift run` with `script`, beside the configuration file `config` when given.
pub fn run_to_exit_with(
    dir: &Path,
    config: Option<&Path>,
    script: &str,
) -> (Option<i32>, String, PathBuf) {
    let path = dir.join("app.js");
    std::fs::write(&path, script).unwrap();
    let mut cmd = run_support::flowsift();
    cmd.args(["run", "--listen", "127.0.0.1:0"]);
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    let out = cmd.arg("--script").arg(&path).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        path,
    )
}

/// A collector running `script`, its syslog receiver, and where it listens.
pub fn scripted(dir: &Path, script: &str) -> (Collector, UdpSocket, u16) {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let path = dir.join("app.js");
    std::fs::write(
        &path,
        script.replace("PORT", &rx.local_addr().unwrap().port().to_string()),
    )
    .unwrap();
    let listen = free_udp_port();
    let listen_arg = format!("127.0.0.1:{listen}");
    let c = start(&[
        "--listen".as_ref(),
        listen_arg.as_ref(),
        "--stats-interval".as_ref(),
        "1".as_ref(),
        "--script".as_ref(),
        path.as_os_str(),
    ]);
    (c, rx, listen)
}

/// Lines read from `sock` for `wait`.
pub fn drain(sock: &UdpSocket, wait: Duration) -> Vec<String> {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    out
}

/// The `key=value` part of each line, sorted; each line must be local0.warning.
pub fn pairs_of(lines: &[String]) -> Vec<String> {
    let mut tails: Vec<String> = lines
        .iter()
        .map(|l| {
            assert!(l.starts_with("<132>"), "{l}");
            l.split_once(" sflow-rt: ")
                .map(|x| x.1.to_string())
                .unwrap_or_default()
        })
        .collect();
    tails.sort();
    tails
}
