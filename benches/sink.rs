//! Syslog sender throughput and latency, per transport, over loopback.
//!
//! `cargo bench --bench sink` prints a Markdown table:
//! - format: nanoseconds to format one event (sflow-rt, rfc5424, json), one thread, warm;
//! - throughput: events per second from a worker's event ring through `SyslogSink` into the
//!   kernel (sendmmsg for UDP, vectored writes for TCP and TLS), with a receiver thread
//!   draining the other end (for UDP its count is shown too: loopback UDP drops when the
//!   reader falls behind, the sender's figure is what was handed to the kernel);
//! - latency: receipt-to-send percentiles with events offered at a steady 10 000/s, for
//!   several `flush_ms` (0, the default, sends as soon as the queue is empty; 1 and 5 let a
//!   batch wait that long for company), with the number of send calls (batching).
//!
//! Environment: `FLOWSIFT_BENCH_EVENTS` (default 1 000 000) events per throughput run;
//! `FLOWSIFT_BENCH_FORMAT_N` format iterations; `FLOWSIFT_BENCH_ONLY=format` stops after
//! the format table (for `valgrind --tool=callgrind`).

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowsift::clock::monotonic_nanos;
use flowsift::flow::FlowEvent;
use flowsift::packet::{Key, KeyValue, L4};
use flowsift::ring::{ring, Producer};
use flowsift::sink::config::{Address, HostName, TlsConfig, Transport};
use flowsift::sink::format::{Format, FormatOptions, Formatter, WallTime};
use flowsift::sink::{SinkConfig, SinkStats, SyslogSink};

fn event(i: u32) -> FlowEvent {
    FlowEvent {
        flow_id: u64::from(i),
        name: "uport".into(),
        keys: vec![
            (
                Key::IpSource,
                KeyValue::Ip(std::net::Ipv4Addr::from(0x0A00_0000 | (i & 0xFFFF)).into()),
            ),
            (Key::IpDestination, KeyValue::Ip([198, 51, 100, 7].into())),
            (
                Key::IcmpUnreachablePort,
                KeyValue::Port(L4::Udp, (i % 65_000) as u16 + 1),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (flowsift::flow::FlowKey::Packet(k), v))
        .collect(),
        separator: ",".into(),
        value: 10_000.0,
        start_ms: 0,
        end_ms: 0,
        agent: [192, 0, 2, 1].into(),
        data_source: 3,
        received_ns: 0,
        event_id: 0,
        threshold: None,
    }
}

fn bench_format(format: Format) -> f64 {
    let mut f = Formatter::new(FormatOptions {
        format,
        facility: 16,
        severity: 5,
        hostname: "collector1".into(),
        sd_id: "sflow-rt@4300".into(),
        fields: Vec::new(),
    });
    let events: Vec<FlowEvent> = (0..1024).map(event).collect();
    let mut out = Vec::with_capacity(1100);
    let n: u32 = std::env::var("FLOWSIFT_BENCH_FORMAT_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let t = Instant::now();
    for i in 0..n {
        out.clear();
        f.format(&events[(i & 1023) as usize], WallTime::now(), &mut out);
        std::hint::black_box(&out);
    }
    t.elapsed().as_nanos() as f64 / f64::from(n)
}

/// A receiver draining the other end; returns its port and a count of bytes/datagrams.
struct Receiver {
    port: u16,
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn udp_receiver() -> Receiver {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let _ = socket2::SockRef::from(&s).set_recv_buffer_size(4 << 20);
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let port = s.local_addr().unwrap().port();
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (c, st) = (Arc::clone(&count), Arc::clone(&stop));
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !st.load(Ordering::Relaxed) {
            if s.recv(&mut buf).is_ok() {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    Receiver { port, count, stop }
}

fn stream_receiver(tls: Option<Arc<rustls::ServerConfig>>) -> Receiver {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (c, st) = (Arc::clone(&count), Arc::clone(&stop));
    std::thread::spawn(move || {
        let Ok((sock, _)) = l.accept() else { return };
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut reader: Box<dyn Read> = match tls {
            Some(cfg) => Box::new(rustls::StreamOwned::new(
                rustls::ServerConnection::new(cfg).unwrap(),
                sock,
            )),
            None => Box::new(sock),
        };
        let mut buf = vec![0u8; 1 << 16];
        while !st.load(Ordering::Relaxed) {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    c.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
    });
    Receiver { port, count, stop }
}

fn push_all(p: &mut Producer<FlowEvent>, events: impl Iterator<Item = FlowEvent>) {
    for mut e in events {
        loop {
            match p.push(e) {
                Ok(()) => break,
                Err(back) => {
                    e = back;
                    std::hint::spin_loop();
                }
            }
        }
    }
}

fn wait_done(sink: &SyslogSink, n: u64, limit: Duration) -> (Duration, SinkStats) {
    let t = Instant::now();
    loop {
        let s = sink.stats();
        let d = &s.destinations[0];
        if d.sent + d.dropped + d.overflow >= n || t.elapsed() > limit {
            return (t.elapsed(), s);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

struct Tls {
    server: Arc<rustls::ServerConfig>,
    client: TlsConfig,
    _dir: tempfile::TempDir,
}

fn tls_material() -> Tls {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
    let mut cap = CertificateParams::new(Vec::<String>::new()).unwrap();
    cap.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = cap.self_signed(&ca_key).unwrap();
    let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca, &ca_key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    Tls {
        server: Arc::new(server),
        client: TlsConfig {
            ca_file: Some(ca_path),
            ..TlsConfig::default()
        },
        _dir: dir,
    }
}

fn config(transport: Transport, port: u16, tls: Option<TlsConfig>) -> SinkConfig {
    SinkConfig {
        name: transport.name().into(),
        transport,
        address: Address {
            host: "127.0.0.1".into(),
            port,
        },
        hostname: Some(HostName("collector1".into())),
        tls,
        queue: NonZeroUsize::new(1 << 16).unwrap(),
        ..SinkConfig::default()
    }
}

fn start(transport: Transport, tls: &Tls) -> (Receiver, SinkConfig) {
    match transport {
        Transport::Udp => {
            let r = udp_receiver();
            let c = config(transport, r.port, None);
            (r, c)
        }
        Transport::Tcp => {
            let r = stream_receiver(None);
            let c = config(transport, r.port, None);
            (r, c)
        }
        Transport::Tls => {
            let r = stream_receiver(Some(Arc::clone(&tls.server)));
            let c = config(transport, r.port, Some(tls.client.clone()));
            (r, c)
        }
    }
}

fn throughput(transport: Transport, n: u32, tls: &Tls) {
    let (receiver, mut cfg) = start(transport, tls);
    // Room for every event: the run measures how fast the sender empties its queue, not
    // how much a smaller queue would drop.
    cfg.queue = NonZeroUsize::new(n as usize).unwrap_or(NonZeroUsize::MIN);
    let (mut p, c) = ring(1 << 16);
    let sink = SyslogSink::start(&[cfg], vec![c]).unwrap();
    let events: Vec<FlowEvent> = (0..n).map(event).collect();
    let t = Instant::now();
    let feeder = std::thread::spawn(move || {
        push_all(&mut p, events.into_iter());
        p
    });
    let (_, stats) = wait_done(&sink, u64::from(n), Duration::from_secs(120));
    let elapsed = t.elapsed();
    let _p = feeder.join().unwrap();
    let d = &stats.destinations[0];
    let rate = d.sent as f64 / elapsed.as_secs_f64();
    let received = match transport {
        Transport::Udp => format!("{} datagrams", receiver.count.load(Ordering::Relaxed)),
        _ => format!("{} MB", receiver.count.load(Ordering::Relaxed) / 1_000_000),
    };
    println!(
        "| {} | {} | {:.0} | {} | {} | {:.0} | {} | {} |",
        transport.name(),
        n,
        rate,
        d.sent,
        d.batches,
        d.sent as f64 / d.batches.max(1) as f64,
        d.overflow + d.dropped,
        received
    );
    drop(sink);
}

fn latency(transport: Transport, tls: &Tls, flush_ms: u64) {
    let (_receiver, mut cfg) = start(transport, tls);
    cfg.flush_ms = flush_ms;
    let (mut p, c) = ring(1 << 16);
    let sink = SyslogSink::start(&[cfg], vec![c]).unwrap();
    // 10 000 events/s for 2 s, each stamped as if its datagram arrived just now.
    let rate = 10_000u32;
    let total = 2 * rate;
    let start = Instant::now();
    for i in 0..total {
        let due = start + Duration::from_secs_f64(f64::from(i) / f64::from(rate));
        // Sleep, not spin: a spinning feeder would take a core from the threads measured.
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        let mut e = event(i);
        e.received_ns = monotonic_nanos();
        push_all(&mut p, std::iter::once(e));
    }
    wait_done(&sink, u64::from(total), Duration::from_secs(30));
    // Sender threads publish their histograms every 100 ms.
    std::thread::sleep(Duration::from_millis(250));
    let d = &sink.stats().destinations[0];
    let l = d.latency;
    println!(
        "| {} | {} | {} | {} | {} | {} | {} | {} |",
        transport.name(),
        flush_ms,
        l.count,
        d.batches,
        l.p50_us,
        l.p99_us,
        l.p999_us,
        l.max_us
    );
}

fn main() {
    let n: u32 = std::env::var("FLOWSIFT_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let only = std::env::var("FLOWSIFT_BENCH_ONLY").unwrap_or_default();
    println!("| format | ns/event |\n|---|---|");
    for f in [Format::SflowRt, Format::Rfc5424, Format::Json] {
        println!("| {} | {:.0} |", f.name(), bench_format(f));
    }
    if only == "format" {
        return;
    }
    let tls = tls_material();
    println!("\n| transport | events | events/s sent | sent | send calls | mean batch | lost | receiver got |\n|---|---|---|---|---|---|---|---|");
    for t in [Transport::Udp, Transport::Tcp, Transport::Tls] {
        throughput(t, n, &tls);
    }
    println!("\n| transport | flush_ms | events | send calls | p50 µs | p99 µs | p99.9 µs | max µs |\n|---|---|---|---|---|---|---|---|");
    for t in [Transport::Udp, Transport::Tcp, Transport::Tls] {
        for flush in [0, 1, 5] {
            latency(t, &tls, flush);
        }
    }
}
