//! Test support for whole-program tests: `flowsift run` as a child process, and sFlow
//! datagrams carrying ICMP port-unreachable answers built with `flowsift::synth`; [`flood`]:
//! the threshold tests' paced agent.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use flowsift::synth::{
    header_protocol, DatagramBuilder, FlowSampleHeader, FrameSpec, GenericInterface, Original,
    RecordSpec, Transport,
};

pub mod flood;

/// The collector as a child process, killed if the test fails before it exits.
pub struct Collector {
    child: Child,
    stderr: mpsc::Receiver<String>,
    pub lines: Vec<String>,
}

impl Collector {
    pub fn start(config: &std::path::Path) -> Collector {
        Collector::spawn(&["--config".as_ref(), config.as_os_str()], &[])
    }

    /// `flowsift run ARGS`.
    pub fn start_args(args: &[&std::ffi::OsStr]) -> Collector {
        Collector::spawn(args, &[])
    }

    /// `flowsift run --config CONFIG` with extra environment variables.
    pub fn start_env(config: &std::path::Path, env: &[(&str, &std::ffi::OsStr)]) -> Collector {
        Collector::spawn(&["--config".as_ref(), config.as_os_str()], env)
    }

    fn spawn(args: &[&std::ffi::OsStr], env: &[(&str, &std::ffi::OsStr)]) -> Collector {
        let mut child = flowsift()
            .arg("run")
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start flowsift");
        let err = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Collector {
            child,
            stderr: rx,
            lines: Vec::new(),
        }
    }

    /// Start the collector and wait (bounded, 20 s) until it says it is listening; the
    /// test fails with what it printed otherwise.
    pub fn start_listening(config: &std::path::Path) -> Collector {
        let mut c = Collector::start(config);
        assert!(
            c.wait_for("listening on", Duration::from_secs(20)),
            "{:#?}",
            c.lines
        );
        c
    }

    /// [`Collector::wait_for`], returning the first line that contains `what`.
    pub fn wait_line(&mut self, what: &str, timeout: Duration) -> Option<String> {
        if !self.wait_for(what, timeout) {
            return None;
        }
        self.lines.iter().find(|l| l.contains(what)).cloned()
    }

    /// Wait (bounded) for a stderr line containing `what`.
    pub fn wait_for(&mut self, what: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        if self.lines.iter().any(|l| l.contains(what)) {
            return true;
        }
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(l) => {
                    let hit = l.contains(what);
                    self.lines.push(l);
                    if hit {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }

    /// Send SIGTERM without waiting.
    pub fn signal_term(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Send SIGHUP (reload) without waiting.
    pub fn signal_hup(&self) {
        self.signal(libc::SIGHUP);
    }

    /// SIGTERM, then wait (bounded) for the exit status and the rest of stderr.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.signal(libc::SIGTERM);
        self.wait_exit(timeout)
    }

    /// Wait (bounded) for the exit status and the rest of stderr, sending nothing.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                while let Ok(l) = self.stderr.recv_timeout(Duration::from_millis(500)) {
                    self.lines.push(l);
                }
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `flowsift` binary under test, as a command to add arguments to.
pub fn flowsift() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flowsift"))
}

/// A UDP port free on loopback right now (bound, then released), for a collector to listen on.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A port-unreachable answer from `responder` to `scanner`'s probe of `port`.
pub fn unreachable(responder: &str, scanner: &str, protocol: u8, port: u16) -> Vec<u8> {
    FrameSpec::new(
        ip(responder),
        ip(scanner),
        Transport::Unreachable {
            code: 3,
            original: Original {
                src: ip(scanner),
                dst: ip(responder),
                protocol,
                src_port: 40_000,
                dst_port: port,
            },
        },
    )
    .to_ethernet()
}

pub fn datagram(agent: &str, seq: u32, if_index: u32, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut b = DatagramBuilder::new(ip(agent), 0, seq, seq * 1000);
    for (i, f) in frames.iter().enumerate() {
        b.flow_sample(
            &FlowSampleHeader {
                sequence: seq * 16 + i as u32,
                source_type: 0,
                source_index: if_index,
                sampling_rate: 1000,
                sample_pool: 1000 * (seq * 16 + i as u32),
                drops: 0,
                input: if_index,
                output: 7,
                wide_interfaces: None,
            },
            &[RecordSpec::SampledHeader {
                protocol: header_protocol::ETHERNET,
                frame_length: f.len() as u32 + 4,
                stripped: 4,
                header: f,
            }],
        );
    }
    b.counter_sample(
        seq,
        &GenericInterface {
            if_index,
            if_speed: 100_000_000_000,
            ..GenericInterface::default()
        },
    );
    b.finish()
}
