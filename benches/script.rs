//! Flow records through an sFlow-RT script: the seed `syslog.js` (a JavaScript flow
//! handler that splits `flowKeys` and calls `syslog` for every record) on the script
//! thread, fed through its bounded queue as the syslog dispatcher feeds it, its lines
//! batched over UDP to a loopback receiver.
//!
//! `cargo bench --bench script` prints records per second from the first record queued to
//! the last line handed to the kernel, with the send calls and what the receiver counted
//! (loopback UDP drops when the reader falls behind; the sender's figure is what was
//! handed to the kernel). The feeder waits when the queue is full, so nothing is dropped
//! and the figure is the script thread's rate.
//!
//! The script thread's own CPU time (from /proc) is shown too: on a machine shared with
//! other work the wall-clock rate is what the thread got, records per CPU second what one
//! core of its own would give.
//!
//! Environment: `FLOWSIFT_BENCH_EVENTS` (default 1 000 000) records per run,
//! `FLOWSIFT_BENCH_RUNS` (default 3) runs.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowsift::flow::{FlowEvent, FlowKey};

/// The binary's allocator, so the Rust side allocates as it does in `flowsift run`
/// (QuickJS keeps the C library's, which enforces `[script] memory_bytes`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use flowsift::packet::{Key, KeyValue, L4};
use flowsift::script::{ScriptConfig, ScriptHost};

fn event(i: u32) -> FlowEvent {
    FlowEvent {
        flow_id: u64::from(i),
        name: "uport".into(),
        keys: vec![
            (
                FlowKey::Packet(Key::IpSource),
                KeyValue::Ip(std::net::Ipv4Addr::from(0x0A00_0000 | (i & 0xFFFF)).into()),
            ),
            (
                FlowKey::Packet(Key::IpDestination),
                KeyValue::Ip([198, 51, 100, 7].into()),
            ),
            (
                FlowKey::Packet(Key::IcmpUnreachablePort),
                KeyValue::Port(L4::Udp, (i % 65_000) as u16 + 1),
            ),
        ]
        .into(),
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

/// CPU seconds (user + system) the threads named `name` of this process have used.
fn thread_cpu(name: &str) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut ticks = 0u64;
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the `(comm)`: state is 3rd, utime 14th, stime 15th.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        ticks += f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        ticks += f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    }
    ticks as f64 / hz
}

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n = env_u32("FLOWSIFT_BENCH_EVENTS", 1_000_000);
    let runs = env_u32("FLOWSIFT_BENCH_RUNS", 3);
    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind the receiver");
    let _ = socket2::SockRef::from(&rx).set_recv_buffer_size(8 << 20);
    rx.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let port = rx.local_addr().expect("address").port();
    let received = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (received, done) = (Arc::clone(&received), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !done.load(Ordering::Relaxed) {
                if rx.recv(&mut buf).is_ok() {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let seed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/scripts/syslog.js"
    ))
    .expect("tests/data/scripts/syslog.js");
    let script = dir.path().join("syslog.js");
    std::fs::write(
        &script,
        seed.replacen(
            "var server = '10.0.0.1'; var port = 514;",
            &format!("var server = '127.0.0.1'; var port = {port};"),
            1,
        ),
    )
    .expect("write the script");

    println!(
        "| run | records | seconds | records/s | script thread CPU s | records per CPU s | send calls | receiver got |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for run in 1..=runs {
        let host = ScriptHost::load(&ScriptConfig {
            files: vec![script.clone()],
            ..ScriptConfig::default()
        })
        .expect("load the seed script");
        let tap = host.tap().expect("the script's queue");
        received.store(0, Ordering::Relaxed);
        let start = Instant::now();
        // As the dispatcher does, never blocking on the queue; when it is full (the script
        // behind by a whole queue) the feeder sleeps instead of dropping, so every record
        // is handled and the figure is the script thread's own rate.
        for i in 0..n {
            let mut e = Arc::new(event(i));
            loop {
                match tap.queue.try_send(e) {
                    Ok(()) => break,
                    Err(crossbeam::channel::TrySendError::Full(back)) => {
                        e = back;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(crossbeam::channel::TrySendError::Disconnected(_)) => break,
                }
            }
        }
        let limit = Instant::now() + Duration::from_secs(120);
        loop {
            let s = host.stats();
            if s.syslog_sent + s.syslog_dropped >= u64::from(n) || Instant::now() > limit {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let secs = start.elapsed().as_secs_f64();
        let cpu = thread_cpu("flowsift-script");
        drop(tap);
        let s = host.shutdown(Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(200));
        println!(
            "| {run} | {} | {secs:.3} | {:.0} | {cpu:.2} | {:.0} | {} | {} |",
            s.syslog_sent,
            s.syslog_sent as f64 / secs,
            s.syslog_sent as f64 / cpu.max(0.01),
            s.syslog_batches,
            received.load(Ordering::Relaxed)
        );
        assert_eq!(s.errors + s.interrupted, 0, "{s}");
    }
    done.store(true, Ordering::Relaxed);
    let _ = reader.join();
}
