//! Test support: a private rsyslogd on loopback, writing what it parses to a file.
//!
//! Each instance has its own configuration, work directory, pid file and ports, so tests
//! (and helpers building at the same time) never share a receiver. The template writes
//! `HOST|TAG|MSG|PRI|APP-NAME|MSGID|SD|RAWMSG` per message, so a test sees both what
//! rsyslog parsed and the bytes on the wire. The child is killed when the handle drops.
//! [`Ca`] makes the certificates of the TLS tests (rsyslog's and the rustls peer's).
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where rsyslogd may be (PATH of a non-root user often lacks /usr/sbin).
pub fn rsyslogd_path() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("rsyslogd"))
                .collect()
        })
        .unwrap_or_default();
    candidates.push("/usr/sbin/rsyslogd".into());
    candidates.push("/sbin/rsyslogd".into());
    candidates.into_iter().find(|p| p.is_file())
}

/// True when interop tests must not skip (CI sets it after installing rsyslog).
pub fn interop_required() -> bool {
    std::env::var("FLOWSIFT_REQUIRE_INTEROP").is_ok_and(|v| v == "1")
}

/// rsyslogd, or None after printing a SKIP line (a failure when interop is required).
pub fn rsyslogd_or_skip(test: &str) -> Option<PathBuf> {
    match rsyslogd_path() {
        Some(p) => Some(p),
        None if interop_required() => {
            panic!("{test}: rsyslogd not found and FLOWSIFT_REQUIRE_INTEROP=1")
        }
        None => {
            eprintln!("SKIP {test}: rsyslogd not found (install rsyslog to run this test)");
            None
        }
    }
}

/// Is the gtls network stream driver installed (package rsyslog-gnutls)?
pub fn gtls_available() -> bool {
    [
        "/usr/lib/x86_64-linux-gnu/rsyslog",
        "/usr/lib/rsyslog",
        "/usr/lib64/rsyslog",
    ]
    .iter()
    .any(|d| Path::new(d).join("lmnsd_gtls.so").is_file())
}

/// A port that was free a moment ago (the kernel hands out ephemeral ports in sequence,
/// so it is not reused right away).
pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// TLS material for an imtcp gtls listener.
#[derive(Clone)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What the instance listens on.
#[derive(Clone)]
pub struct Inputs {
    pub udp: Option<u16>,
    pub tcp: Option<u16>,
    /// TCP with TLS (gtls driver, anonymous client authentication).
    pub tls: Option<(u16, TlsFiles)>,
}

pub struct Rsyslog {
    binary: PathBuf,
    dir: PathBuf,
    pub inputs: Inputs,
    child: Option<Child>,
}

/// One message as rsyslog parsed it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Parsed {
    pub host: String,
    pub tag: String,
    /// The MSG part, without the space rsyslog keeps after the tag.
    pub msg: String,
    pub pri: String,
    /// RFC 5424 APP-NAME, MSGID and STRUCTURED-DATA as rsyslog parsed them.
    pub app_name: String,
    pub msgid: String,
    pub structured_data: String,
    pub raw: String,
}

impl Rsyslog {
    /// Start rsyslogd in `dir` and wait (bounded) until it listens and writes.
    pub fn start(binary: PathBuf, dir: &Path, inputs: Inputs) -> Rsyslog {
        let mut r = Rsyslog {
            binary,
            dir: dir.to_path_buf(),
            inputs,
            child: None,
        };
        r.write_config();
        r.spawn();
        r
    }

    fn out_file(&self) -> PathBuf {
        self.dir.join("out.log")
    }

    fn write_config(&self) {
        let d = self.dir.display();
        let mut c = String::new();
        c.push_str(&format!(
            "global(workDirectory=\"{d}\" maxMessageSize=\"64k\"\n"
        ));
        if let Some((_, t)) = &self.inputs.tls {
            c.push_str(&format!(
                "  defaultNetstreamDriverCAFile=\"{}\" defaultNetstreamDriverCertFile=\"{}\" defaultNetstreamDriverKeyFile=\"{}\"\n",
                t.ca.display(),
                t.cert.display(),
                t.key.display()
            ));
        }
        c.push_str(")\n");
        c.push_str(
            "template(name=\"t\" type=\"string\" string=\"%hostname%|%syslogtag%|%msg%|%pri%|%app-name%|%msgid%|%structured-data%|%rawmsg%\\n\")\n",
        );
        c.push_str(&format!(
            "ruleset(name=\"out\") {{ action(type=\"omfile\" file=\"{}\" template=\"t\" flushOnTXEnd=\"on\" asyncWriting=\"off\") }}\n",
            self.out_file().display()
        ));
        if let Some(p) = self.inputs.udp {
            c.push_str("module(load=\"imudp\")\n");
            c.push_str(&format!(
                "input(type=\"imudp\" address=\"127.0.0.1\" port=\"{p}\" ruleset=\"out\" rcvbufSize=\"4m\")\n"
            ));
        }
        match (&self.inputs.tcp, &self.inputs.tls) {
            (Some(_), Some(_)) => panic!("one instance serves either tcp or tls"),
            (Some(p), None) => {
                c.push_str("module(load=\"imtcp\")\n");
                c.push_str(&format!(
                    "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{p}\" ruleset=\"out\")\n"
                ));
            }
            (None, Some((p, _))) => {
                c.push_str(
                    "module(load=\"imtcp\" streamDriver.name=\"gtls\" streamDriver.mode=\"1\" streamDriver.authMode=\"anon\")\n",
                );
                c.push_str(&format!(
                    "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{p}\" ruleset=\"out\")\n"
                ));
            }
            (None, None) => {}
        }
        fs::write(self.dir.join("rsyslog.conf"), c).unwrap();
    }

    fn spawn(&mut self) {
        let conf = self.dir.join("rsyslog.conf");
        let pid = self.dir.join("rsyslog.pid");
        let _ = fs::remove_file(&pid);
        let child = Command::new(&self.binary)
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(&pid)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(self.dir.join("rsyslog.stderr")).unwrap())
            .spawn()
            .expect("start rsyslogd");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let stream_port = self.inputs.tcp.or(self.inputs.tls.as_ref().map(|t| t.0));
        if let Some(p) = stream_port {
            let addr: SocketAddr = ([127, 0, 0, 1], p).into();
            while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
                self.assert_alive();
                assert!(Instant::now() < deadline, "rsyslogd did not listen on {p}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // Listening is not yet receiving: a plain TCP input is ready once a probe sent
        // over it is written (a connection made too early can be closed by the daemon,
        // losing what was sent on it). Probes until one is written.
        if let Some(p) = self.inputs.tcp {
            let addr: SocketAddr = ([127, 0, 0, 1], p).into();
            loop {
                self.assert_alive();
                if let Ok(mut c) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                    let _ = c.write_all(b"<14>Nov  1 00:00:00 probe probe: ready\n");
                }
                std::thread::sleep(Duration::from_millis(50));
                if self.raw_lines().iter().any(|l| l.contains("probe:")) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "rsyslogd did not receive on tcp {p}"
                );
            }
        }
        // A datagram input gives no sign of life: send probes until one is written.
        if let Some(p) = self.inputs.udp {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            loop {
                self.assert_alive();
                let _ = s.send_to(b"<14>Nov  1 00:00:00 probe probe: ready", ("127.0.0.1", p));
                std::thread::sleep(Duration::from_millis(50));
                if self.raw_lines().iter().any(|l| l.contains("probe:")) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "rsyslogd did not receive on udp {p}"
                );
            }
        }
    }

    fn assert_alive(&mut self) {
        if let Some(c) = &mut self.child {
            if let Ok(Some(status)) = c.try_wait() {
                let err = fs::read_to_string(self.dir.join("rsyslog.stderr")).unwrap_or_default();
                panic!("rsyslogd exited early ({status}): {err}");
            }
        }
    }

    /// Stop the daemon (SIGTERM, then SIGKILL after a bounded wait).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on the pid of our own child process.
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Start it again on the same ports, appending to the same file.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn raw_lines(&self) -> Vec<String> {
        fs::read_to_string(self.out_file())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Parsed messages so far, probes excluded.
    pub fn messages(&self) -> Vec<Parsed> {
        self.raw_lines()
            .iter()
            .filter(|l| !l.contains("probe:"))
            .map(|l| {
                let mut it = l.splitn(8, '|');
                let mut next = || it.next().unwrap_or("").to_string();
                let host = next();
                let tag = next();
                let msg = next();
                let pri = next();
                let app_name = next();
                let msgid = next();
                let structured_data = next();
                let raw = next();
                Parsed {
                    host,
                    tag,
                    msg: msg.strip_prefix(' ').unwrap_or(&msg).to_string(),
                    pri,
                    app_name,
                    msgid,
                    structured_data,
                    raw,
                }
            })
            .collect()
    }

    /// Wait (bounded) until at least `n` messages are in the file, then a little longer
    /// to catch duplicates; return them all.
    pub fn wait_messages(&self, n: usize, timeout: Duration) -> Vec<Parsed> {
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.messages();
            if m.len() >= n || Instant::now() > deadline {
                std::thread::sleep(Duration::from_millis(200));
                return self.messages();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A test certificate authority, kept in memory so that a test can also run a TLS peer
/// with it (and not only hand its files to rsyslog).
pub struct Ca {
    pub cert: rcgen::Certificate,
    pub key: rcgen::KeyPair,
}

impl Ca {
    /// A self-signed CA with common name `name`.
    pub fn new(name: &str) -> Ca {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// A certificate for `127.0.0.1` / `localhost` with common name `cn`, signed by this CA.
    pub fn leaf(&self, cn: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
        use rcgen::{CertificateParams, DnType, KeyPair, SanType};
        let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        p.subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        p.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert, key)
    }
}

/// A CA and a certificate for `127.0.0.1`/`localhost` signed by it, as PEM files in `dir`.
pub fn make_certs(dir: &Path, prefix: &str) -> TlsFiles {
    let ca = Ca::new(&format!("flowsift test CA {prefix}"));
    let (cert, key) = ca.leaf(&format!("{prefix} localhost"));
    let files = TlsFiles {
        ca: dir.join(format!("{prefix}-ca.pem")),
        cert: dir.join(format!("{prefix}-cert.pem")),
        key: dir.join(format!("{prefix}-key.pem")),
    };
    fs::write(&files.ca, ca.cert.pem()).unwrap();
    fs::write(&files.cert, cert.pem()).unwrap();
    let mut f = fs::File::create(&files.key).unwrap();
    f.write_all(key.serialize_pem().as_bytes()).unwrap();
    files
}
