//! The `blast` and `replay` subcommands as a user runs them, against the receive engine.

mod rx_support;

use std::process::Command;
use std::time::Duration;

use flowsift::rx::{IoMode, RxConfig};

use rx_support::*;

fn flowsift() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flowsift"))
}

#[test]
fn blast_cli_sends_exactly_count() {
    let (h, _) = start(config(IoMode::Uring, vec![0]), 1, true);
    let out = flowsift()
        .args([
            "blast",
            "--to",
            &h.addr.to_string(),
            "--count",
            "5000",
            "--rate",
            "50000",
        ])
        .args(["--agents", "4", "--threads", "2", "--quiet"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sent 5000 datagrams"), "{err}");
    let s = wait_for(&h.rx, Duration::from_secs(10), |s| {
        s.totals.datagrams + s.kernel_drops >= 5000
    });
    assert_eq!(s.totals.datagrams + s.kernel_drops, 5000);
    assert_eq!(s.agents.len(), 4);
    h.finish();
}

#[test]
fn replay_cli_rewrites_agents() {
    let cfg = RxConfig {
        ..config(IoMode::Recvmmsg, vec![0])
    };
    let (h, _) = start(cfg, 1, true);
    let file = flowsift::testdata::corpus_file("overflowd/sflow.pcap")
        .display()
        .to_string();
    let out = flowsift()
        .args(["replay", &file, "--to", &h.addr.to_string()])
        .args([
            "--rewrite-agent",
            "10.9.0.1/16",
            "--agents",
            "3",
            "--loops",
            "2",
        ])
        .args(["--rate", "20000"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n = 1000 * 3 * 2;
    let s = wait_for(&h.rx, Duration::from_secs(15), |s| {
        s.totals.datagrams + s.kernel_drops >= n
    });
    let (stats, _) = h.finish();
    assert_eq!(s.totals.datagrams + s.kernel_drops, n);
    assert_eq!(stats.agents.len(), 3);
    for a in &stats.agents {
        let k = a.key.unwrap();
        assert!(k.agent.to_string().starts_with("10.9.0."), "{k:?}");
        if stats.kernel_drops == 0 {
            assert_eq!(a.datagrams.received, 2000);
            assert_eq!(
                a.datagrams.lost + a.datagrams.duplicates + a.datagrams.out_of_order,
                0
            );
        }
    }
}

#[test]
fn replay_cli_rejects_missing_file() {
    let out = flowsift()
        .args(["replay", "/nonexistent/x.pcap", "--to", "127.0.0.1:9"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
