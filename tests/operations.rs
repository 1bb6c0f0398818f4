//! Operating a running collector: SIGHUP reload (sinks move, open flows stay, a broken
//! file is refused), SIGUSR1, the second stop signal, the Prometheus endpoint (counters
//! reconcile with what was sent; hostile clients are cut off), systemd's notify protocol.
//! promtool, Prometheus and systemd-analyze are used when installed (SKIP otherwise,
//! unless `FLOWSIFT_REQUIRE_INTEROP=1`).

mod run_support;
mod syslog_support;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use run_support::{datagram, unreachable, Collector};
use syslog_support::{free_tcp_port, free_udp_port, interop_required};

/// A program on PATH (or in the usual sbin folders), or None after a SKIP line (a failure
/// when interop is required).
fn program_or_skip(name: &str, test: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin".into(), "/usr/bin".into(), "/bin".into()]);
    match dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file()) {
        Some(p) => Some(p),
        None if interop_required() => {
            panic!("{test}: {name} not found and FLOWSIFT_REQUIRE_INTEROP=1")
        }
        None => {
            eprintln!("SKIP {test}: {name} not found");
            None
        }
    }
}

/// A UDP syslog receiver: collects the messages it gets.
struct Receiver {
    sock: UdpSocket,
    got: Vec<String>,
}

impl Receiver {
    fn new() -> Receiver {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        Receiver {
            sock,
            got: Vec::new(),
        }
    }

    fn port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    /// Collect until `n` messages in total arrived or `timeout` passed.
    fn wait(&mut self, n: usize, timeout: Duration) -> &[String] {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 2048];
        while self.got.len() < n && Instant::now() < deadline {
            if let Ok((len, _)) = self.sock.recv_from(&mut buf) {
                self.got
                    .push(String::from_utf8_lossy(&buf[..len]).into_owned());
            }
        }
        &self.got
    }

    /// Whatever arrives within `quiet`.
    fn drain(&mut self, quiet: Duration) -> &[String] {
        let n = self.got.len();
        self.wait(usize::MAX, quiet);
        &self.got[n.min(self.got.len())..]
    }
}

fn config_text(listen: u16, sink_port: u16, extra: &str) -> String {
    format!(
        "[rx]\nlisten = [\"127.0.0.1:{listen}\"]\nuring_buffers = 256\nrcvbuf_bytes = 1048576\n\
         [stats]\ninterval_s = 0\n\
         {extra}\
         [[sink]]\nname = \"siem\"\ntransport = \"udp\"\naddress = \"127.0.0.1:{sink_port}\"\n"
    )
}

/// Send one datagram per port: each carries a port-unreachable answer (a new uport key).
fn send_ports(to: u16, seq0: u32, ports: impl IntoIterator<Item = u16>) -> u32 {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut seq = seq0;
    for port in ports {
        let frames = vec![unreachable("10.0.0.5", "198.51.100.7", 17, port)];
        sock.send_to(&datagram("192.0.2.1", seq, 3, &frames), ("127.0.0.1", to))
            .unwrap();
        seq += 1;
        // Loopback never drops at this rate, but keep the socket buffers comfortable.
        std::thread::sleep(Duration::from_micros(200));
    }
    seq
}

#[test]
fn sighup_moves_a_sink_keeps_open_flows_and_refuses_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_udp_port();
    let mut a = Receiver::new();
    let mut b = Receiver::new();
    let metrics = free_tcp_port();
    let config = dir.path().join("flowsift.toml");
    let extra = format!("[metrics]\nlisten = \"127.0.0.1:{metrics}\"\n");
    std::fs::write(&config, config_text(listen, a.port(), &extra)).unwrap();
    let mut c = Collector::start_listening(&config);

    // Ports 1..=20 open 20 flows; their events go to A.
    let seq = send_ports(listen, 1, 1..=20);
    assert_eq!(
        a.wait(20, Duration::from_secs(10)).len(),
        20,
        "{:#?}",
        c.lines
    );

    // Move the sink to B.
    std::fs::write(&config, config_text(listen, b.port(), &extra)).unwrap();
    c.signal_hup();
    assert!(
        c.wait_for("flowsift: reloaded:", Duration::from_secs(20)),
        "{:#?}",
        c.lines
    );
    let line = c.lines.iter().find(|l| l.contains("reloaded:")).unwrap();
    assert!(line.contains("flows kept: uport"), "{line}");
    assert!(line.contains("sinks replaced"), "{line}");

    // The same 20 keys again, plus 10 new ones: only the new ones fire, at B.
    let seq = send_ports(listen, seq, (1..=20).chain(21..=30));
    let got_b = b.wait(10, Duration::from_secs(10)).to_vec();
    assert_eq!(got_b.len(), 10, "{got_b:#?}\n{:#?}", c.lines);
    for p in 21..=30 {
        assert!(
            got_b.iter().any(|m| m.ends_with(&format!("\"udp_{p}\""))),
            "port {p}: {got_b:#?}"
        );
    }
    assert!(b.drain(Duration::from_millis(300)).is_empty());
    assert!(
        a.drain(Duration::from_millis(100)).is_empty(),
        "A gets nothing after the move"
    );

    // A broken file is refused with its position; events keep flowing to B.
    std::fs::write(
        &config,
        config_text(listen, b.port(), &format!("{extra}[flow_typo]\nx = 1\n")),
    )
    .unwrap();
    c.signal_hup();
    let refused = c
        .wait_line("reload refused", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no refusal: {:#?}", c.lines));
    assert!(refused.contains("flowsift.toml:"), "{refused}");
    assert!(
        refused.contains(":9:1:") || refused.contains(":9:"),
        "{refused}"
    );
    send_ports(listen, seq, 31..=35);
    assert_eq!(
        b.wait(15, Duration::from_secs(10)).len(),
        15,
        "{:#?}",
        c.lines
    );

    // A signal storm: many SIGHUPs, one consistent configuration (the file's).
    std::fs::write(&config, config_text(listen, a.port(), &extra)).unwrap();
    for _ in 0..50 {
        c.signal_hup();
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(c.wait_for("reloaded:", Duration::from_secs(5)));

    let text = scrape(metrics);
    let reloads = |result: &str| -> u64 {
        value(
            &text,
            &format!("flowsift_config_reloads_total{{result=\"{result}\"}}"),
        )
        .unwrap_or(0)
    };
    assert_eq!(reloads("failure"), 1, "{text}");
    assert!(reloads("success") >= 2, "{text}");
    // Sent counters carry over the sink's replacements: 35 events in all.
    assert_eq!(
        value(&text, "flowsift_sink_events_sent_total{sink=\"siem\"}"),
        Some(35),
        "{text}"
    );
    assert_eq!(
        value(&text, "flowsift_events_total{flow=\"uport\"}"),
        Some(35),
        "{text}"
    );
    let status = c.terminate(Duration::from_secs(20));
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{:#?}", c.lines);
}

#[test]
fn sighup_adds_and_removes_flow_definitions() {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_udp_port();
    let mut a = Receiver::new();
    let config = dir.path().join("flowsift.toml");
    std::fs::write(&config, config_text(listen, a.port(), "")).unwrap();
    let mut c = Collector::start_listening(&config);
    let seq = send_ports(listen, 1, 1..=5);
    assert_eq!(a.wait(5, Duration::from_secs(10)).len(), 5);

    // Add a definition keyed on the responder only: one new event for all ports.
    let flows = "[[flow]]\nname = \"uport\"\n[[flow]]\nname = \"responders\"\n\
                 keys = \"ipsource\"\nfilter = \"ipprotocol=1\"\nlog = true\nflowStart = true\n";
    std::fs::write(&config, config_text(listen, a.port(), flows)).unwrap();
    c.signal_hup();
    assert!(
        c.wait_for("reloaded:", Duration::from_secs(20)),
        "{:#?}",
        c.lines
    );
    let line = c
        .lines
        .iter()
        .find(|l| l.contains("reloaded:"))
        .unwrap()
        .clone();
    assert!(line.contains("added: responders"), "{line}");
    assert!(line.contains("sinks unchanged"), "{line}");
    let seq = send_ports(listen, seq, 1..=6);
    let got = a.wait(7, Duration::from_secs(10)).to_vec();
    assert_eq!(got.len(), 7, "{got:#?}");
    assert!(
        got[5..]
            .iter()
            .any(|m| m.contains("ipsource=10.0.0.5") && !m.contains("udp_")),
        "{got:#?}"
    );
    assert!(
        got[5..].iter().any(|m| m.ends_with("\"udp_6\"")),
        "{got:#?}"
    );

    // Remove uport: new ports no longer fire.
    let only = "[[flow]]\nname = \"responders\"\nkeys = \"ipsource\"\nfilter = \"ipprotocol=1\"\nlog = true\nflowStart = true\n";
    std::fs::write(&config, config_text(listen, a.port(), only)).unwrap();
    c.signal_hup();
    assert!(
        c.wait_for("removed: uport", Duration::from_secs(20)),
        "{:#?}",
        c.lines
    );
    send_ports(listen, seq, 100..=105);
    assert!(a.drain(Duration::from_millis(500)).is_empty());
    let status = c.terminate(Duration::from_secs(20));
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{:#?}", c.lines);
}

#[test]
fn sigusr1_prints_the_report_and_hup_without_file_does_not_kill() {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_udp_port();
    let a = Receiver::new();
    let config = dir.path().join("flowsift.toml");
    std::fs::write(&config, config_text(listen, a.port(), "")).unwrap();
    let mut c = Collector::start_listening(&config);
    send_ports(listen, 1, 1..=3);
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(c.pid() as libc::pid_t, libc::SIGUSR1) };
    assert!(
        c.wait_for("report so far", Duration::from_secs(10)),
        "{:#?}",
        c.lines
    );
    assert!(
        c.wait_for("events 3,", Duration::from_secs(5)),
        "{:#?}",
        c.lines
    );
    c.signal_hup();
    assert!(
        c.wait_for("reloaded:", Duration::from_secs(10)),
        "{:#?}",
        c.lines
    );
    let status = c.terminate(Duration::from_secs(20));
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{:#?}", c.lines);
    assert!(c.lines.iter().any(|l| l.contains("final report")));
}

#[test]
fn second_stop_signal_says_why_it_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let dead = free_tcp_port();
    let listen = free_udp_port();
    let config = dir.path().join("slow.toml");
    std::fs::write(
        &config,
        format!(
            "[rx]\nlisten = [\"127.0.0.1:{listen}\"]\nuring_buffers = 256\nrcvbuf_bytes = 1048576\n\
             [shutdown]\ntimeout_ms = 60000\n\
             [[sink]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:{dead}\"\nreconnect_min_ms = 10\nreconnect_max_ms = 50\n"
        ),
    )
    .unwrap();
    let mut c = Collector::start_listening(&config);
    send_ports(listen, 1, [53]);
    std::thread::sleep(Duration::from_millis(300));
    c.signal_term();
    assert!(
        c.wait_for("stopping", Duration::from_secs(10)),
        "{:#?}",
        c.lines
    );
    let status = c.terminate(Duration::from_secs(10));
    assert_eq!(status.map(|s| s.code()), Some(Some(1)), "{:#?}", c.lines);
    assert!(
        c.lines.iter().any(|l| l.contains("second stop signal")),
        "{:#?}",
        c.lines
    );
}

/// GET /metrics; the body.
fn scrape(port: u16) -> String {
    let (status, body) = http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    body
}

/// One request; the status line and the body.
fn http(port: u16, request: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (
        head.lines().next().unwrap_or_default().to_string(),
        body.to_string(),
    )
}

/// The value of the sample `series` (name and labels exactly as rendered).
fn value(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
}

/// Sum of every sample of family `name`.
fn sum(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn metrics_reconcile_with_the_traffic_and_pass_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_udp_port();
    let mut a = Receiver::new();
    let metrics = free_tcp_port();
    let config = dir.path().join("flowsift.toml");
    std::fs::write(&config, config_text(listen, a.port(), "")).unwrap();
    let mut c = Collector::start_args(&[
        "--config".as_ref(),
        config.as_os_str(),
        "--metrics".as_ref(),
        format!("127.0.0.1:{metrics}").as_ref(),
    ]);
    assert!(
        c.wait_for("metrics on", Duration::from_secs(20)),
        "{:#?}",
        c.lines
    );
    // 40 datagrams, 25 distinct ports: 25 events.
    send_ports(listen, 1, (1..=25).chain(1..=15));
    assert_eq!(a.wait(25, Duration::from_secs(10)).len(), 25);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut text = scrape(metrics);
    // Latency histograms are published by the sink thread every 100 ms.
    while (sum(&text, "flowsift_datagrams_received_total") < 40
        || value(&text, "flowsift_sink_latency_seconds_count{sink=\"siem\"}") != Some(25))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
        text = scrape(metrics);
    }
    assert_eq!(
        sum(&text, "flowsift_datagrams_received_total"),
        40,
        "{text}"
    );
    assert_eq!(
        value(&text, "flowsift_events_total{flow=\"uport\"}"),
        Some(25),
        "{text}"
    );
    assert_eq!(
        value(&text, "flowsift_sink_events_sent_total{sink=\"siem\"}"),
        Some(25),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "flowsift_agent_datagrams_total{agent=\"192.0.2.1\",sub_agent=\"0\"}"
        ),
        Some(40),
        "{text}"
    );
    assert_eq!(
        value(&text, "flowsift_config_reloads_total{result=\"success\"}"),
        Some(0)
    );
    assert!(
        text.contains("flowsift_sink_latency_seconds_count{sink=\"siem\"} 25"),
        "{text}"
    );
    assert!(text.contains("flowsift_build_info{version=\""), "{text}");
    // The fabric's own counters: every datagram carried a counter sample of interface 3.
    assert_eq!(
        value(&text, "flowsift_fabric_interfaces"),
        Some(1),
        "{text}"
    );
    assert_eq!(
        value(&text, "sflow_ifspeed{agent=\"192.0.2.1\",ifindex=\"3\"}"),
        Some(100_000_000_000),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "sflow_ifinoctets_total{agent=\"192.0.2.1\",ifindex=\"3\"}"
        ),
        Some(0),
        "{text}"
    );

    // Anything but GET /metrics.
    assert!(http(metrics, "GET / HTTP/1.1\r\n\r\n").0.contains(" 404 "));
    assert!(http(metrics, "POST /metrics HTTP/1.1\r\n\r\n")
        .0
        .contains(" 405 "));
    // A huge request head is cut off.
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let mut s = TcpStream::connect(("127.0.0.1", metrics)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(huge.as_bytes());
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.is_empty() || out.starts_with("HTTP/1.1 431"), "{out}");
    // Slow clients are cut off after the deadline, and do not block a scrape meanwhile.
    let started = Instant::now();
    let slow: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", metrics)).unwrap();
            s.write_all(b"GET /met").unwrap();
            s
        })
        .collect();
    let _ = scrape(metrics);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    for mut s in slow {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    }

    if let Some(promtool) = program_or_skip("promtool", "metrics_pass_promtool") {
        let mut child = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let status = c.terminate(Duration::from_secs(20));
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{:#?}", c.lines);
}

#[test]
fn prometheus_scrapes_the_collector() {
    let Some(prometheus) = program_or_skip("prometheus", "prometheus_scrapes_the_collector") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let listen = free_udp_port();
    let a = Receiver::new();
    let metrics = free_tcp_port();
    let config = dir.path().join("flowsift.toml");
    let extra = format!("[metrics]\nlisten = \"127.0.0.1:{metrics}\"\n");
    std::fs::write(&config, config_text(listen, a.port(), &extra)).unwrap();
    let mut c = Collector::start_listening(&config);
    send_ports(listen, 1, 1..=17);

    let web = free_tcp_port();
    let prom_cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: flowsift\n    static_configs:\n      - targets: ['127.0.0.1:{metrics}']\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _prom = Kill(
        Command::new(prometheus)
            .arg(format!("--config.file={}", prom_cfg.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{web}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let query = "GET /api/v1/query?query=sum(flowsift_datagrams_received_total) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut last = String::new();
    let mut found = false;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        if TcpStream::connect(("127.0.0.1", web)).is_err() {
            continue;
        }
        let (_, body) = http(web, query);
        last = body;
        if last.contains("\"17\"") {
            found = true;
            break;
        }
    }
    assert!(found, "Prometheus never saw 17 datagrams: {last}");
    let status = c.terminate(Duration::from_secs(20));
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{:#?}", c.lines);
}

#[test]
fn systemd_hears_ready_reloading_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_udp_port();
    let a = Receiver::new();
    let config = dir.path().join("flowsift.toml");
    std::fs::write(&config, config_text(listen, a.port(), "")).unwrap();
    let notify_path = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut c = Collector::start_env(&config, &[("NOTIFY_SOCKET", notify_path.as_os_str())]);
    let mut buf = [0u8; 512];
    let mut next = || {
        let n = notify.recv(&mut buf).expect("a notify datagram");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let ready = next();
    assert!(ready.starts_with("READY=1\n"), "{ready}");
    assert!(c.wait_for("listening on", Duration::from_secs(5)));
    c.signal_hup();
    let reloading = next();
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading}"
    );
    let usec: u64 = reloading
        .lines()
        .nth(1)
        .and_then(|l| l.strip_prefix("MONOTONIC_USEC="))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(usec > 0);
    assert!(next().starts_with("READY=1"));
    c.signal_term();
    assert!(next().starts_with("STOPPING=1"));
    let status = c.wait_exit(Duration::from_secs(20));
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{:#?}", c.lines);
}

#[test]
fn the_systemd_unit_verifies() {
    let Some(analyze) = program_or_skip("systemd-analyze", "the_systemd_unit_verifies") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning/flowsift.service"),
    )
    .unwrap();
    assert!(unit.contains("Type=notify"), "{unit}");
    assert!(
        unit.contains("ExecReload=/bin/kill -HUP $MAINPID"),
        "{unit}"
    );
    // The unit names /usr/local/bin/flowsift: point it at this build for the check.
    let unit = unit.replace("/usr/local/bin/flowsift", env!("CARGO_BIN_EXE_flowsift"));
    let path = dir.path().join("flowsift.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Verification outside a booted systemd may warn about the host; fail only on the
    // unit's own problems.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("flowsift.service"))
        .collect();
    assert!(out.status.success() && ours.is_empty(), "{stderr}");
}

#[test]
fn version_completions_and_manpage() {
    let run = |args: &[&str]| {
        let out = run_support::flowsift().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        run(&["--version"]).trim(),
        format!("flowsift {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(run(&["completions", "bash"]).contains("_flowsift()"));
    assert!(run(&["completions", "zsh"]).contains("#compdef flowsift"));
    assert!(run(&["completions", "fish"]).contains("complete -c flowsift"));
    let man = run(&["manpage"]);
    assert!(man.contains(".TH flowsift 1"), "{man}");
    assert!(
        man.contains("\\-\\-metrics") && man.contains("SIGHUP"),
        "{man}"
    );
}

#[test]
fn two_collectors_fed_by_one_agent_give_the_same_event_ids() {
    let dir = tempfile::tempdir().unwrap();
    let mut collectors = Vec::new();
    let mut receivers = Vec::new();
    let mut listens = Vec::new();
    for i in 0..2 {
        let listen = free_udp_port();
        let r = Receiver::new();
        let config = dir.path().join(format!("c{i}.toml"));
        let mut text = config_text(listen, r.port(), "");
        text.push_str("format = \"json\"\n");
        std::fs::write(&config, text).unwrap();
        collectors.push(Collector::start_listening(&config));
        receivers.push(r);
        listens.push(listen);
    }
    for &l in &listens {
        send_ports(l, 1, 1..=8);
    }
    let ids: Vec<Vec<String>> = receivers
        .iter_mut()
        .map(|r| {
            let got = r.wait(8, Duration::from_secs(10)).to_vec();
            assert_eq!(got.len(), 8, "{got:#?}");
            let mut ids: Vec<String> = got
                .iter()
                .map(|m| {
                    let at = m.find("\"event_id\":\"").expect(m) + 12;
                    m[at..at + 16].to_string()
                })
                .collect();
            ids.sort();
            ids
        })
        .collect();
    assert_eq!(ids[0], ids[1]);
    let mut unique = ids[0].clone();
    unique.dedup();
    assert_eq!(unique.len(), 8, "{unique:?}");
    for mut c in collectors {
        assert_eq!(
            c.terminate(Duration::from_secs(20)).map(|s| s.code()),
            Some(Some(0))
        );
    }
}
