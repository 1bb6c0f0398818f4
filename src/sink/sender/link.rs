//! A destination's connection and its reconnect schedule: exponential backoff from
//! `reconnect_min_ms` to `reconnect_max_ms`, a check before each send for a stream peer
//! that closed, and log lines about the connection at most once per [`LOG_INTERVAL`]. A
//! UDP destination's connection is its socket: made once, never closed by a peer; a
//! datagram that fails is counted and dropped by the destination, not retried here.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::stats::DestinationCounters;
use crate::sink::config::SinkConfig;
use crate::sink::transport::{Connection, Connector};

/// Minimum time between two log lines about one destination's connection.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// A destination's connection and its reconnect schedule.
pub(super) struct Link {
    conn: Option<Connection>,
    ever_connected: bool,
    backoff: Duration,
    min: Duration,
    max: Duration,
    next_attempt: Instant,
    last_log: Option<Instant>,
}

impl Link {
    pub(super) fn new(cfg: &SinkConfig) -> Link {
        let min = Duration::from_millis(cfg.reconnect_min_ms.max(1));
        Link {
            conn: None,
            ever_connected: false,
            backoff: min,
            min,
            max: Duration::from_millis(cfg.reconnect_max_ms.max(cfg.reconnect_min_ms).max(1)),
            next_attempt: Instant::now(),
            last_log: None,
        }
    }

    pub(super) fn log(&mut self, name: &str, what: &str) {
        let due = self.last_log.is_none_or(|t| t.elapsed() >= LOG_INTERVAL);
        if due {
            eprintln!("flowsift: sink '{name}': {what}");
            self.last_log = Some(Instant::now());
        }
    }

    pub(super) fn broken(&mut self, name: &str, error: &std::io::Error) {
        self.conn = None;
        self.log(name, &format!("connection lost: {error}; reconnecting"));
    }

    /// The open connection, or None after waiting (at most 50 ms) for the next attempt.
    pub(super) fn ready(
        &mut self,
        connector: &Connector,
        c: &DestinationCounters,
        name: &str,
    ) -> Option<&mut Connection> {
        if let Some(conn) = &mut self.conn {
            if conn.peer_closed() {
                self.conn = None;
                c.connected.store(false, Ordering::Relaxed);
                c.errors.fetch_add(1, Ordering::Relaxed);
                self.log(name, "receiver closed the connection; reconnecting");
            }
        }
        if self.conn.is_none() {
            let now = Instant::now();
            if now < self.next_attempt {
                // Short sleeps so the shutdown deadline is noticed promptly.
                std::thread::sleep((self.next_attempt - now).min(Duration::from_millis(50)));
                return None;
            }
            match connector.connect() {
                Ok(conn) => {
                    if self.ever_connected {
                        c.reconnects.fetch_add(1, Ordering::Relaxed);
                        self.log(name, "reconnected");
                    }
                    self.ever_connected = true;
                    self.backoff = self.min;
                    c.connected.store(true, Ordering::Relaxed);
                    self.conn = Some(conn);
                }
                Err(e) => {
                    c.errors.fetch_add(1, Ordering::Relaxed);
                    self.log(
                        name,
                        &format!("cannot connect: {e}; retrying in {:?}", self.backoff),
                    );
                    self.next_attempt = Instant::now() + self.backoff;
                    self.backoff = (self.backoff * 2).min(self.max);
                    return None;
                }
            }
        }
        self.conn.as_mut()
    }
}
