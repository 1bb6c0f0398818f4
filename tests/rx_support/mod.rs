//! Shared pieces of the receive-engine tests: a real router (by hash of the agent), worker
//! threads that drain the rings, bounded waits. The corpus as datagrams is
//! `packet_support::corpus`.

#![allow(dead_code)]

use std::hash::{Hash, Hasher};
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flowsift::flow::{FlowId, Route, WorkItem};
use flowsift::record::SampleRecord;
use flowsift::ring::{ring, Consumer};
use flowsift::rx::{IoMode, Receiver, RxConfig, RxStats};

/// Sends each sample to one worker chosen by a hash of its agent and data source, as
/// definition 0: every sample reaches exactly one worker. Every record routed is kept in
/// `seen` (all routers of a receiver share it), and the item's key is its index there, so
/// a test can tell which decoded record each item came from.
pub struct ByAgent {
    pub workers: usize,
    pub seen: Arc<Mutex<Vec<SampleRecord>>>,
}

impl Route for ByAgent {
    fn route(&mut self, record: &SampleRecord, deliver: &mut dyn FnMut(usize, &FlowId)) {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        record.agent.hash(&mut h);
        record.source_index().hash(&mut h);
        let index = {
            let mut seen = self.seen.lock().unwrap();
            seen.push(*record);
            seen.len() as u64 - 1
        };
        let mut key = [0; flowsift::flow::key::MAX_KEY_WORDS];
        key[0] = index;
        let flow = FlowId {
            hash: h.finish(),
            key,
            words: 1,
            definition: 0,
        };
        deliver((flow.hash % self.workers as u64) as usize, &flow);
    }
}

/// A test config: loopback only, small buffers, the given cores and I/O mode.
pub fn config(io: IoMode, cores: Vec<usize>) -> RxConfig {
    RxConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        cores,
        io,
        rcvbuf_bytes: 8 << 20,
        uring_buffers: 1024,
        ring_capacity: 1 << 16,
        ..RxConfig::default()
    }
}

/// A running receiver and its workers.
pub struct Harness {
    pub rx: Receiver,
    pub workers: Vec<JoinHandle<Vec<WorkItem>>>,
    pub addr: SocketAddr,
    /// Every record the routers saw, in routing order per thread ([`ByAgent`]).
    pub seen: Arc<Mutex<Vec<SampleRecord>>>,
}

/// Start a receiver with `workers` draining workers, or with consumers that are held but
/// never drained when `drain` is false (to fill the rings).
pub fn start(config: RxConfig, workers: usize, drain: bool) -> (Harness, Vec<Consumer<WorkItem>>) {
    let threads = config.thread_cores().len();
    let mut producers = Vec::new();
    let mut consumers: Vec<Vec<Consumer<WorkItem>>> = (0..workers).map(|_| Vec::new()).collect();
    for _ in 0..threads {
        let mut row = Vec::new();
        for c in consumers.iter_mut() {
            let (p, q) = ring(config.ring_capacity);
            row.push(p);
            c.push(q);
        }
        producers.push(row);
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let routers: Vec<Box<dyn Route>> = (0..threads)
        .map(|_| {
            Box::new(ByAgent {
                workers,
                seen: Arc::clone(&seen),
            }) as Box<dyn Route>
        })
        .collect();
    let rx = Receiver::start(config, routers, producers).expect("receiver starts");
    let addr = rx.local_addrs()[0];
    let mut held = Vec::new();
    let mut handles = Vec::new();
    for cs in consumers {
        if !drain {
            held.extend(cs);
            continue;
        }
        handles.push(std::thread::spawn(move || {
            let mut cs = cs;
            let mut got = Vec::new();
            // Ends when every producer is gone (Receiver::stop) and the rings are empty.
            loop {
                let mut moved = 0;
                for c in cs.iter_mut() {
                    moved += c.pop_into(&mut got, 4096);
                }
                if moved == 0 {
                    if cs.iter().all(|c| c.is_finished()) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            got
        }));
    }
    (
        Harness {
            rx,
            workers: handles,
            addr,
            seen,
        },
        held,
    )
}

impl Harness {
    /// Stop the receiver, collect what the workers got.
    pub fn finish(self) -> (RxStats, Vec<WorkItem>) {
        let (stats, items, _) = self.finish_with_records();
        (stats, items)
    }

    /// [`Harness::finish`], with each item's decoded record (the one the router saw),
    /// checked to be the sample the item carries.
    pub fn finish_with_records(self) -> (RxStats, Vec<WorkItem>, Vec<SampleRecord>) {
        let stats = self.rx.stop();
        let mut items = Vec::new();
        for w in self.workers {
            items.extend(w.join().expect("worker"));
        }
        let seen = self.seen.lock().unwrap();
        let records: Vec<SampleRecord> = items
            .iter()
            .map(|w| {
                let r = seen[w.flow.key[0] as usize];
                let want = format!("{:?}", flowsift::record::WorkSample::from(&r));
                assert_eq!(
                    format!("{:?}", w.sample),
                    want,
                    "the item carries its sample"
                );
                r
            })
            .collect();
        (stats, items, records)
    }
}

/// Poll `cond` on fresh stats every 10 ms for at most `limit`.
pub fn wait_for(rx: &Receiver, limit: Duration, cond: impl Fn(&RxStats) -> bool) -> RxStats {
    let start = Instant::now();
    loop {
        let s = rx.stats();
        if cond(&s) || start.elapsed() > limit {
            return s;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Send datagrams one by one from a new socket on `from`, pausing now and then so a
/// loopback receiver with a default buffer keeps up.
pub fn send_all(from: &str, to: SocketAddr, datagrams: &[Vec<u8>]) -> SocketAddr {
    let tx = UdpSocket::bind(from).unwrap();
    for (i, d) in datagrams.iter().enumerate() {
        tx.send_to(d, to).unwrap();
        if i % 64 == 63 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    tx.local_addr().unwrap()
}
