//! `flowsift run` and `flowsift check-config` as programs: configuration errors rejected
//! with their position, the effective configuration printed, and a syslog receiver that
//! never comes up leading to counted drops and a clean, bounded shutdown.

mod run_support;

use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use run_support::{datagram, flowsift, free_udp_port, unreachable, Collector};

#[test]
fn check_config_rejects_errors_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[rx]\nlisten = [\"127.0.0.1:6343\"]\n\n[[sink]]\nname = \"siem\"\nfacility = \"local9\"\n",
    )
    .unwrap();
    let out = flowsift().arg("check-config").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:6:12: invalid facility 'local9'",
            path.display()
        )),
        "{err}"
    );
    assert!(err.contains("local0"), "says what is valid: {err}");

    // `run` refuses the same file the same way, before binding anything.
    let out = flowsift()
        .arg("run")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(":6:12:"));
}

#[test]
fn check_config_refuses_missing_tls_files_and_unresolvable_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tls.toml");
    let ca = dir.path().join("missing-ca.pem");
    std::fs::write(
        &path,
        format!(
            "[[sink]]\nname = \"siem\"\ntransport = \"tls\"\naddress = \"127.0.0.1:6514\"\n\
             [sink.tls]\nca_file = \"{}\"\n",
            ca.display()
        ),
    )
    .unwrap();
    let out = flowsift().arg("check-config").arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("sink 'siem'") && err.contains(&ca.display().to_string()),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing printed for a refused file");

    // `.invalid` never resolves (RFC 6761).
    std::fs::write(
        &path,
        "[[sink]]\nname = \"far\"\naddress = \"siem.invalid:514\"\n",
    )
    .unwrap();
    let out = flowsift().arg("check-config").arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("sink 'far': cannot resolve siem.invalid:514"),
        "{err}"
    );
}

#[test]
fn check_config_prints_the_effective_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.toml");
    std::fs::write(
        &path,
        "[[sink]]\ntransport = \"tcp\"\naddress = \"localhost:601\"\nframing = \"lf\"\n",
    )
    .unwrap();
    let out = flowsift().arg("check-config").arg(&path).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let effective = flowsift::config::Config::parse(&printed, "stdout").unwrap();
    assert_eq!(effective.sinks[0].address.to_string(), "localhost:601");
    assert_eq!(effective.sinks[0].facility.0, 16, "defaults are filled in");
    assert_eq!(effective.flows[0].name, "uport");
    assert_eq!(
        effective,
        flowsift::config::Config::load(&path).unwrap().effective(),
        "printed = loaded"
    );
}

#[test]
fn unknown_flag_values_are_refused() {
    let out = flowsift()
        .args(["run", "--syslog", "ftp://x:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("udp, tcp or tls"));
}

#[test]
fn receiver_that_never_comes_back_means_counted_drops_and_clean_exit() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on: bound, then released.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = free_udp_port();
    let config = dir.path().join("dead.toml");
    std::fs::write(
        &config,
        format!(
            "[rx]\nlisten = [\"127.0.0.1:{listen}\"]\nuring_buffers = 256\nrcvbuf_bytes = 1048576\n\
             [shutdown]\ntimeout_ms = 500\n\
             [[sink]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:{dead}\"\nreconnect_min_ms = 10\nreconnect_max_ms = 50\n"
        ),
    )
    .unwrap();
    let mut c = Collector::start_listening(&config);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..10u16 {
        let frames: Vec<Vec<u8>> = (0..5)
            .map(|p| unreachable("10.0.0.5", "198.51.100.7", 17, 100 + i * 5 + p))
            .collect();
        sock.send_to(
            &datagram("192.0.2.1", u32::from(i) + 1, 3, &frames),
            ("127.0.0.1", listen),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let status = c.terminate(Duration::from_secs(20));
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{:#?}", c.lines);
    assert!(started.elapsed() < Duration::from_secs(10));
    let report = c
        .lines
        .iter()
        .find(|l| l.contains(&format!("tcp://127.0.0.1:{dead}: sent")))
        .unwrap_or_else(|| panic!("{:#?}", c.lines))
        .clone();
    assert!(
        report.contains("sent 0, overflow 0, dropped 50, still queued 0"),
        "{report}"
    );
}

#[test]
fn second_signal_while_flushing_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = free_udp_port();
    let config = dir.path().join("slow.toml");
    // A long shutdown timeout and a receiver that is never there: the first SIGTERM starts
    // a flush that would take 60 s.
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
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let frames = vec![unreachable("10.0.0.5", "198.51.100.7", 17, 53)];
    sock.send_to(&datagram("192.0.2.1", 1, 3, &frames), ("127.0.0.1", listen))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    c.signal_term();
    assert!(
        c.wait_for("stopping", Duration::from_secs(10)),
        "{:#?}",
        c.lines
    );
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let status = c.terminate(Duration::from_secs(10));
    assert_eq!(status.map(|s| s.code()), Some(Some(1)), "{:#?}", c.lines);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn second_collector_on_the_same_address_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_udp_port();
    let config = dir.path().join("one.toml");
    std::fs::write(
        &config,
        format!(
            "[rx]\nlisten = [\"127.0.0.1:{listen}\"]\nuring_buffers = 256\nrcvbuf_bytes = 1048576\n\
             [[sink]]\naddress = \"127.0.0.1:9\"\n"
        ),
    )
    .unwrap();
    let mut first = Collector::start_listening(&config);
    let second = flowsift()
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("127.0.0.1:{listen}")) && err.contains("already in use"),
        "{err}"
    );
    // The holder is named: this test runs as the user that started the first collector, so
    // its descriptors are readable in /proc.
    assert!(err.contains(&format!("(pid {})", first.pid())), "{err}");
    // The first collector still runs and stops cleanly.
    let status = first.terminate(Duration::from_secs(20));
    assert_eq!(
        status.map(|s| s.code()),
        Some(Some(0)),
        "{:#?}",
        first.lines
    );
}
