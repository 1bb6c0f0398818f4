//! `syslog(host, port, facility, severity, msg)`: sFlow-RT's line, batched over UDP.
//!
//! The line is the one the `sflow-rt` sink format writes ([`crate::sink::format`]): the
//! RFC 3164 header with this host's name, then `key=value` pairs in the order of the
//! message object's keys, quoted by the same rule, cut at 1024 bytes. Messages collect in
//! one batch per destination and leave through the crate's one batched UDP sender
//! ([`crate::udp::UdpSender`] in [`Mode::Delivery`](crate::udp::Mode::Delivery), as the
//! sink's UDP destinations) when the batch is full or when the script thread has no more
//! records or events waiting: the same flush policy as a sink with
//! `flush_ms = 0`. A UDP send does not wait for the receiver, so the script thread is
//! the sender; there is no further hop.
//!
//! Destinations are resolved once and kept (at most [`MAX_DESTINATIONS`]); a datagram the
//! kernel refuses, or one for a destination that cannot be resolved, is counted as
//! dropped.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sink::format::{cut_sflow_rt, push_header3164, push_pair, LocalTime, WallTime};
use crate::udp::UdpSender;

/// Most distinct `(host, port)` destinations a script may send to.
pub const MAX_DESTINATIONS: usize = 64;
/// Messages per send call.
pub const BATCH: usize = 256;
/// How long a destination that failed to resolve or open is left alone.
const RETRY: Duration = Duration::from_secs(10);

/// Counters of the scripts' syslog output.
#[derive(Debug, Default)]
pub struct SyslogCounters {
    /// Messages handed to the kernel.
    pub sent: AtomicU64,
    /// Send calls.
    pub batches: AtomicU64,
    /// Messages lost: refused by the kernel, or no destination.
    pub dropped: AtomicU64,
}

struct Destination {
    host: String,
    port: u16,
    conn: Option<UdpSender>,
    /// When resolving or opening failed last (retried after [`RETRY`]).
    failed_at: Option<Instant>,
    batch: Vec<Vec<u8>>,
}

/// The scripts' syslog output: line formatting and one batch per destination.
pub struct SyslogOut {
    hostname: String,
    dests: Vec<Destination>,
    /// Message buffers to reuse.
    spare: Vec<Vec<u8>>,
    cached_secs: Option<i64>,
    cached: LocalTime,
    /// `<N>` for `pri_value`, the PRI of the last message.
    pri: Vec<u8>,
    pri_value: Option<u16>,
    counters: Arc<SyslogCounters>,
    /// A message for the log, at most one every 10 s.
    pub note: Option<String>,
    noted_at: Option<Instant>,
}

impl SyslogOut {
    pub fn new(hostname: String, counters: Arc<SyslogCounters>) -> SyslogOut {
        SyslogOut {
            hostname,
            dests: Vec::new(),
            spare: Vec::new(),
            cached_secs: None,
            cached: LocalTime::from_epoch(0),
            pri: Vec::with_capacity(6),
            pri_value: None,
            counters,
            note: None,
            noted_at: None,
        }
    }

    /// Start a message to `host:port`: returns its buffer with the header written. The
    /// caller adds pairs with [`SyslogOut::pair`] and hands it back with [`SyslogOut::push`].
    pub fn begin(&mut self, facility: u8, severity: u8) -> Vec<u8> {
        let now = WallTime::now();
        if self.cached_secs != Some(now.secs) {
            self.cached = LocalTime::from_epoch(now.secs);
            self.cached_secs = Some(now.secs);
        }
        let n = u16::from(facility) * 8 + u16::from(severity);
        if self.pri_value != Some(n) {
            self.pri.clear();
            self.pri.push(b'<');
            crate::sink::format::push_u64(u64::from(n), &mut self.pri);
            self.pri.push(b'>');
            self.pri_value = Some(n);
        }
        let mut msg = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(256));
        msg.clear();
        push_header3164(&self.pri, &self.cached, &self.hostname, &mut msg);
        msg
    }

    /// Append ` name=value` (no space before the first pair).
    pub fn pair(msg: &mut Vec<u8>, first: bool, name: &str, value: &str) {
        if !first {
            msg.push(b' ');
        }
        push_pair(name.as_bytes(), value.as_bytes(), msg);
    }

    /// Queue a finished message for `host:port`; sends the destination's batch when full.
    pub fn push(&mut self, host: &str, port: u16, mut msg: Vec<u8>) {
        cut_sflow_rt(&mut msg, 0);
        let i = match self
            .dests
            .iter()
            .position(|d| d.port == port && d.host == host)
        {
            Some(i) => i,
            None if self.dests.len() < MAX_DESTINATIONS => {
                self.dests.push(Destination {
                    host: host.to_owned(),
                    port,
                    conn: None,
                    failed_at: None,
                    batch: Vec::with_capacity(BATCH),
                });
                self.dests.len() - 1
            }
            None => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                self.spare.push(msg);
                self.set_note(format!(
                    "syslog: more than {MAX_DESTINATIONS} destinations; messages to {host}:{port} are dropped"
                ));
                return;
            }
        };
        self.dests[i].batch.push(msg);
        if self.dests[i].batch.len() >= BATCH {
            self.send(i);
        }
    }

    /// Send every batch.
    pub fn flush(&mut self) {
        for i in 0..self.dests.len() {
            if !self.dests[i].batch.is_empty() {
                self.send(i);
            }
        }
    }

    fn set_note(&mut self, note: String) {
        if self.noted_at.is_none_or(|t| t.elapsed() >= RETRY) {
            self.noted_at = Some(Instant::now());
            self.note = Some(note);
        }
    }

    fn send(&mut self, i: usize) {
        let mut note = None;
        let d = &mut self.dests[i];
        if d.conn.is_none() && d.failed_at.is_none_or(|t| t.elapsed() >= RETRY) {
            match open(&d.host, d.port) {
                Ok(c) => {
                    d.conn = Some(c);
                    d.failed_at = None;
                }
                Err(e) => {
                    d.failed_at = Some(Instant::now());
                    note = Some(format!(
                        "syslog: cannot send to {}:{}: {e}; its messages are dropped (retried every {} s)",
                        d.host,
                        d.port,
                        RETRY.as_secs()
                    ));
                }
            }
        }
        let n = d.batch.len() as u64;
        match d.conn.as_mut() {
            Some(conn) => {
                self.counters.batches.fetch_add(1, Ordering::Relaxed);
                match conn.send_each(&d.batch) {
                    Ok(sent) => {
                        let sent = (sent as u64).min(n);
                        self.counters.sent.fetch_add(sent, Ordering::Relaxed);
                        self.counters.dropped.fetch_add(n - sent, Ordering::Relaxed);
                    }
                    Err(e) => {
                        let sent = (e.sent as u64).min(n);
                        self.counters.sent.fetch_add(sent, Ordering::Relaxed);
                        self.counters.dropped.fetch_add(n - sent, Ordering::Relaxed);
                        note = Some(format!(
                            "syslog: send to {}:{} failed: {}",
                            d.host, d.port, e.error
                        ));
                    }
                }
            }
            None => {
                self.counters.dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
        self.spare.append(&mut d.batch);
        self.spare.truncate(4 * BATCH);
        if let Some(n) = note {
            self.set_note(n);
        }
    }
}

/// A delivering UDP sender to `host:port`; a send waits at most a second for buffer room.
fn open(host: &str, port: u16) -> std::io::Result<UdpSender> {
    let addr: SocketAddr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("the name has no address"))?;
    UdpSender::deliver_to(addr, Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn lines_are_batched_per_destination_and_quoted() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let port = rx.local_addr().unwrap().port();
        let counters = Arc::new(SyslogCounters::default());
        let mut out = SyslogOut::new("h1".into(), Arc::clone(&counters));
        for i in 0..3 {
            let mut m = out.begin(16, 5);
            SyslogOut::pair(&mut m, true, "ipsource", "10.0.0.5");
            SyslogOut::pair(&mut m, false, "port", &format!("udp_{i}"));
            out.push("127.0.0.1", port, m);
        }
        assert_eq!(
            counters.sent.load(Ordering::Relaxed),
            0,
            "batched until flush"
        );
        out.flush();
        assert_eq!(counters.sent.load(Ordering::Relaxed), 3);
        assert_eq!(counters.batches.load(Ordering::Relaxed), 1);
        let mut buf = [0u8; 2048];
        for i in 0..3 {
            let n = rx.recv(&mut buf).unwrap();
            let line = std::str::from_utf8(&buf[..n]).unwrap();
            assert!(line.starts_with("<133>"), "{line}");
            assert!(
                line.ends_with(&format!(" h1 sflow-rt: ipsource=10.0.0.5 port=\"udp_{i}\"")),
                "{line}"
            );
        }
        // Unresolvable: counted, never a panic.
        let m = out.begin(16, 5);
        out.push("no-such-host.invalid", 514, m);
        out.flush();
        assert_eq!(counters.dropped.load(Ordering::Relaxed), 1);
        assert!(out.note.take().is_some());
    }
}
