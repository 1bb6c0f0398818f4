//! One sending thread: its share of the simulated switches, each with its own socket (one
//! 4-tuple, like a real switch), flow datagrams patched from the templates and sent in runs
//! of equal sizes (one UDP GSO send each), and counter datagrams when they are due.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::synth::{DatagramBuilder, GenericInterface, Rng};
use crate::udp::UdpSender;

use super::mix::{mix_frame, SampledFrame};
use super::template::{templates, Stream};
use super::{BlastArgs, BlastCounters};

/// One simulated switch and its socket.
struct Agent {
    stream: Stream,
    sender: UdpSender,
    next_counters: Instant,
}

/// Thread `t` of `threads`: its agents (every `threads`-th from `t`), until `stop`, the
/// deadline or its `quota` of datagrams. Returns whether every send used UDP GSO.
pub(super) fn blast_thread(
    a: &BlastArgs,
    t: usize,
    threads: usize,
    quota: Option<u64>,
    start: Instant,
    stop: &AtomicBool,
    counters: &BlastCounters,
) -> io::Result<bool> {
    let mut rng = Rng(a.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (t as u64 + 1) | 1);
    let frames: Vec<SampledFrame> = (0..256).map(|_| mix_frame(a, &mut rng)).collect();
    let from: SocketAddr = if a.to.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let interfaces = a.interfaces.max(1);
    let mut agents = Vec::new();
    for i in (t..a.agents.max(1) as usize).step_by(threads) {
        let mut sender = UdpSender::connect(from, a.to, 4 << 20)?;
        if a.no_gso {
            sender.disable_gso();
        }
        agents.push(Agent {
            // Host addresses from .1 on: the prefix's own address is not a switch.
            stream: Stream::new(a.agent_prefix.nth(i as u64 + 1), interfaces, i),
            sender,
            next_counters: start,
        });
    }
    if agents.is_empty() {
        return Ok(true);
    }
    let family_agent = agents[0].stream.addr;
    let (templates, layout) = templates(a, family_agent, &frames, 64);
    let segments = a.gso_segments.clamp(1, 64);
    let mut buf = vec![0u8; segments * layout.len];
    let rate = a.rate.filter(|r| *r > 0.0).map(|r| r / threads as f64);
    let deadline = a.duration.map(|d| start + Duration::from_secs_f64(d));
    let mut sent: u64 = 0;
    let mut turn = 0usize;
    let mut counter_buf = Vec::with_capacity(1500);
    let mut gso = !a.no_gso;
    // Bounded by the stop flag, the deadline or the quota.
    loop {
        if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let left = quota.map_or(u64::MAX, |q| q - sent);
        if left == 0 {
            break;
        }
        let n_agents = agents.len();
        let agent = &mut agents[turn % n_agents];
        turn += 1;
        let uptime = start.elapsed().as_millis() as u32;
        // Counter datagrams first, when due (they count against the quota too).
        if a.counters_every > 0 && Instant::now() >= agent.next_counters {
            agent.next_counters += Duration::from_secs(a.counters_every);
            let n = send_counters(agent, uptime, left, &mut counter_buf, counters)?;
            sent += n;
            continue;
        }
        let n = (segments as u64).min(left) as usize;
        for k in 0..n {
            let d = &mut buf[k * layout.len..(k + 1) * layout.len];
            agent
                .stream
                .next_flow_datagram(a, &templates, &layout, uptime, d);
        }
        let done = agent
            .sender
            .send_segments(&buf[..n * layout.len], layout.len)? as u64;
        gso &= agent.sender.gso();
        sent += done;
        counters.datagrams.fetch_add(done, Ordering::Relaxed);
        counters
            .flow_samples
            .fetch_add(done * u64::from(a.samples), Ordering::Relaxed);
        counters
            .bytes
            .fetch_add(done * layout.len as u64, Ordering::Relaxed);
        if let Some(r) = rate {
            pace(start, sent, r);
        }
    }
    Ok(gso)
}

/// Send one generic-interface counter sample per interface of `agent`, packed into
/// datagrams of at most ~1400 bytes. Returns the datagrams sent (at most `left`).
fn send_counters(
    agent: &mut Agent,
    uptime: u32,
    left: u64,
    buf: &mut Vec<u8>,
    counters: &BlastCounters,
) -> io::Result<u64> {
    let per_datagram = 11usize;
    let st = &mut agent.stream;
    let interfaces = st.counter_seq.len();
    let mut sent = 0;
    let mut i = 0;
    while i < interfaces && sent < left {
        st.sequence = st.sequence.wrapping_add(1);
        let mut b =
            DatagramBuilder::with_buffer(std::mem::take(buf), st.addr, 0, st.sequence, uptime);
        let mut samples = 0;
        while i < interfaces && samples < per_datagram {
            st.counter_seq[i] = st.counter_seq[i].wrapping_add(1);
            let frames = u64::from(st.pool[i]);
            let c = GenericInterface {
                if_index: i as u32 + 1,
                if_type: 6,
                if_speed: 100_000_000_000,
                if_direction: 1,
                if_status: 3,
                in_octets: frames * 800,
                in_ucast: frames as u32,
                out_octets: frames * 800,
                out_ucast: frames as u32,
                ..GenericInterface::default()
            };
            b.counter_sample(st.counter_seq[i], &c);
            samples += 1;
            i += 1;
        }
        let d = b.finish();
        agent.sender.send_each(&[&d])?;
        sent += 1;
        counters.datagrams.fetch_add(1, Ordering::Relaxed);
        counters
            .counter_samples
            .fetch_add(samples as u64, Ordering::Relaxed);
        counters.bytes.fetch_add(d.len() as u64, Ordering::Relaxed);
        *buf = d;
    }
    Ok(sent)
}

/// Sleep until `sent` datagrams at `rate` per second are due.
pub(crate) fn pace(start: Instant, sent: u64, rate: f64) {
    let due = Duration::from_secs_f64(sent as f64 / rate);
    let now = start.elapsed();
    if due > now {
        std::thread::sleep(due - now);
    }
}
