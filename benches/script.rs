//! Events through an sFlow-RT script, end to end in the sink bench's harness: flow
//! records pushed into a worker's event ring, taken by the syslog sender's dispatcher
//! (`SyslogSink` with the script thread's tap as its only route), queued for the script
//! thread, handed to a JavaScript handler that calls `syslog`, and sent through the
//! scripts' batched UDP sender to a loopback receiver.
//!
//! Two scripts: the seed `syslog.js` (a flow handler that splits `flowKeys` and calls
//! `syslog` for every record), and a DDoS application's event handler (`setEventHandler`
//! building sFlow-RT's threshold line from the event object and calling `syslog`) fed
//! threshold events.
//!
//! `cargo bench --bench script` prints, per run, events per second from the first event
//! pushed to the last line handed to the kernel, the CPU seconds of the script thread and
//! of the dispatcher, events per script-thread CPU second, the send calls, what the tap
//! dropped and what the receiver counted (loopback UDP drops when the reader falls behind;
//! the sender's figure is what was handed to the kernel). The feeder keeps at most half
//! the script queue in flight, as a flow engine slower than the script would, so the
//! tap drops nothing and the figure is the path's own rate. On a machine shared with
//! other work, the wall-clock rate is what the threads got; events per CPU second of the
//! script thread (the path's bottleneck) is what one core of its own would give.
//!
//! Environment: `FLOWSIFT_BENCH_EVENTS` (default 1 000 000) events per run,
//! `FLOWSIFT_BENCH_RUNS` (default 3) runs, `FLOWSIFT_BENCH_ONLY` (`flow` or `event`) one
//! of the two scripts.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowsift::flow::{FlowEvent, FlowKey};
use flowsift::ring::{ring, Producer};
use flowsift::sink::SyslogSink;
use flowsift::threshold::Crossing;
use flowsift::wake::Doorbell;

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

/// A threshold event of `flood` on the flow to destination `i`.
fn threshold_event(i: u32) -> FlowEvent {
    let mut e = event(i);
    e.name = "flood".into();
    e.keys = vec![(
        FlowKey::Packet(Key::IpDestination),
        KeyValue::Ip(std::net::Ipv4Addr::from(0xC000_0200 | (i & 0xFF)).into()),
    )]
    .into();
    e.value = 123_456.7;
    e.threshold = Some(Box::new(Crossing {
        metric: "udpflood".into(),
        threshold: 100_000.0,
        end: false,
    }));
    e
}

/// The DDoS application's handler: sFlow-RT's threshold line, sent with `syslog`.
const DDOS_JS: &str = "setFlow('udpflood', {keys:'ipdestination', value:'frames', filter:'ipprotocol=17'});
setThreshold('flood', {metric:'udpflood', value:100000, byFlow:true});
setEventHandler(function(evt) {
  syslog('127.0.0.1', PORT, 16, 5, {thresholdID:evt.thresholdID, metric:evt.metric, agent:evt.agent,
    dataSource:evt.dataSource, flowKey:evt.flowKey, value:Math.floor(evt.value), threshold:evt.threshold});
}, ['flood']);
";

/// One bench case: its name for `FLOWSIFT_BENCH_ONLY`, what it runs, the script, and the
/// event it is fed.
type Case<'a> = (&'a str, &'a str, &'a std::path::Path, fn(u32) -> FlowEvent);

/// Push `e` into the ring, waiting while it is full.
fn push(p: &mut Producer<FlowEvent>, mut e: FlowEvent) {
    loop {
        match p.push(e) {
            Ok(()) => return,
            Err(back) => {
                e = back;
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }
}

/// One run of `n` events made by `make` through `script`: prints its table row.
fn run_once(run: u32, n: u32, script: &std::path::Path, make: fn(u32) -> FlowEvent) {
    let cfg = ScriptConfig {
        files: vec![script.to_path_buf()],
        ..ScriptConfig::default()
    };
    let in_flight = (cfg.queue.get() / 2) as u64;
    let host = ScriptHost::load(&cfg).expect("load the script");
    let tap = host.tap().expect("the script's queue");
    let (mut p, c) = ring(1 << 14);
    let sink = SyslogSink::start_with(&[], vec![c], Arc::new(Doorbell::new()), Some(tap))
        .expect("start the dispatcher");
    let cpu_before = (thread_cpu("flowsift-script"), thread_cpu("sink-dispatch"));
    let start = Instant::now();
    for i in 0..n {
        if i % 1024 == 0 {
            loop {
                let s = host.stats();
                if u64::from(i) < s.handled + s.overflow + in_flight {
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        push(&mut p, make(i));
    }
    let limit = Instant::now() + Duration::from_secs(120);
    loop {
        let s = host.stats();
        let lost = s.overflow;
        if s.syslog_sent + s.syslog_dropped + lost >= u64::from(n) || Instant::now() > limit {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let secs = start.elapsed().as_secs_f64();
    let script_cpu = thread_cpu("flowsift-script") - cpu_before.0;
    let dispatch_cpu = thread_cpu("sink-dispatch") - cpu_before.1;
    drop(p);
    sink.shutdown(Duration::from_secs(5));
    let s = host.shutdown(Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(200));
    println!(
        "| {run} | {} | {secs:.3} | {:.0} | {script_cpu:.2} | {dispatch_cpu:.2} | {:.0} | {} | {} |",
        s.syslog_sent,
        s.syslog_sent as f64 / secs,
        s.syslog_sent as f64 / script_cpu.max(0.01),
        s.syslog_batches,
        s.overflow,
    );
    assert_eq!(s.errors + s.interrupted, 0, "{s}");
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

    let ddos = dir.path().join("ddos.js");
    std::fs::write(&ddos, DDOS_JS.replace("PORT", &port.to_string())).expect("write the script");
    let only = std::env::var("FLOWSIFT_BENCH_ONLY").unwrap_or_default();
    let cases: [Case; 2] = [
        ("flow", "the seed syslog.js, flow records", &script, event),
        (
            "event",
            "a DDoS event handler, threshold events",
            &ddos,
            threshold_event,
        ),
    ];
    for (name, what, path, make) in cases {
        if !only.is_empty() && only != name {
            continue;
        }
        println!("\n{what}\n");
        println!(
            "| run | events | seconds | events/s | script thread CPU s | dispatcher CPU s | events per script CPU s | send calls | tap dropped |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        received.store(0, Ordering::Relaxed);
        for run in 1..=runs {
            run_once(run, n, path, make);
        }
        println!(
            "\nreceiver got {} datagrams",
            received.load(Ordering::Relaxed)
        );
    }
    done.store(true, Ordering::Relaxed);
    let _ = reader.join();
}
