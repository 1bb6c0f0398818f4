//! The Prometheus endpoint: `GET /metrics` in the text exposition format 0.0.4, served by
//! its own thread from snapshots the run loop publishes.
//!
//! A scrape never touches the pipeline: the server thread asks for a fresh [`Snapshot`]
//! (an atomic flag), waits a short bounded time for the run loop to publish one (the loop
//! wakes every 50 ms and reads the counters as its stats line does: atomics and the
//! receive threads' `try_lock` slots, which never make a receive thread wait), and renders
//! whatever is newest. While a reload holds the run loop, a scrape gets the last snapshot.
//!
//! The server is a small blocking one on purpose (no async runtime): a non-blocking accept
//! loop, one short-lived thread per connection up to [`MAX_CONNECTIONS`] (more get 503 at
//! once), and every connection bounded in time ([`REQUEST_DEADLINE`] for the whole request,
//! a write timeout for the answer) and size ([`MAX_REQUEST`] bytes of request head), so a
//! slow or hostile client (slowloris, a huge request) is cut off. Only `GET /metrics` is
//! served: other paths get 404, other methods on it 405.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::pipeline::PipelineStats;

pub mod fabric;
pub mod render;

/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 4;
/// Longest a client may take to send its request head.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// Longest request head read (request line and headers).
pub const MAX_REQUEST: usize = 8 * 1024;
/// Longest the answer may take to write.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a scrape waits for a fresh snapshot before rendering the last one.
const FRESH_WAIT: Duration = Duration::from_millis(250);

/// Everything a scrape shows, as of one moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub stats: PipelineStats,
    /// The fabric's interface counters (`sflow_*`).
    pub fabric: fabric::FabricTable,
    pub reloads_ok: u64,
    pub reloads_failed: u64,
    /// Unix time the collector started, in seconds.
    pub start_time: f64,
}

/// Where the run loop publishes snapshots and the server takes them.
#[derive(Default)]
pub struct Exchange {
    latest: Mutex<Option<Arc<Snapshot>>>,
    /// Incremented per publication.
    version: AtomicU64,
    /// A scrape is waiting for a publication newer than this version + 1.
    wanted: AtomicBool,
}

impl Exchange {
    pub fn new() -> Arc<Exchange> {
        Arc::new(Exchange::default())
    }

    /// True when a scrape asked for a fresh snapshot (the flag is cleared).
    pub fn wanted(&self) -> bool {
        self.wanted.swap(false, Ordering::AcqRel)
    }

    pub fn publish(&self, snapshot: Snapshot) {
        let mut l = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        *l = Some(Arc::new(snapshot));
        self.version.fetch_add(1, Ordering::Release);
    }

    /// A snapshot taken after this call began, or the newest one after `wait`.
    pub fn fresh(&self, wait: Duration) -> Option<Arc<Snapshot>> {
        let before = self.version.load(Ordering::Acquire);
        self.wanted.store(true, Ordering::Release);
        let deadline = Instant::now() + wait;
        while self.version.load(Ordering::Acquire) == before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The running endpoint.
pub struct MetricsServer {
    local: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Bind `addr` and serve snapshots from `exchange`.
    pub fn start(addr: SocketAddr, exchange: Arc<Exchange>) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("flowsift-metrics".into())
            .spawn(move || serve(listener, &exchange, &thread_stop))?;
        Ok(MetricsServer {
            local,
            stop,
            thread: Some(thread),
        })
    }

    /// The address bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(listener: TcpListener, exchange: &Arc<Exchange>, stop: &AtomicBool) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, _)) => {
                if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                    active.fetch_sub(1, Ordering::AcqRel);
                    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
                    let _ = respond(&stream, "503 Service Unavailable", &[], b"busy\n");
                    continue;
                }
                let active = Arc::clone(&active);
                let exchange = Arc::clone(exchange);
                let spawned = std::thread::Builder::new()
                    .name("flowsift-scrape".into())
                    .spawn(move || {
                        let _ = handle(stream, &exchange);
                        active.fetch_sub(1, Ordering::AcqRel);
                    });
                if spawned.is_err() {
                    eprintln!("flowsift: metrics: cannot start a connection thread");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// What the request head asked for.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Metrics,
    WrongMethod,
    NotFound,
    Bad,
}

fn parse_request(head: &[u8]) -> Request {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Request::Bad;
    };
    if !version.starts_with("HTTP/1.") {
        return Request::Bad;
    }
    let path = target.split('?').next().unwrap_or_default();
    match (method, path) {
        ("GET", "/metrics") => Request::Metrics,
        (_, "/metrics") => Request::WrongMethod,
        _ => Request::NotFound,
    }
}

/// Read the request head within [`REQUEST_DEADLINE`] and [`MAX_REQUEST`], then answer.
fn handle(mut stream: TcpStream, exchange: &Exchange) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            break;
        }
        if head.len() > MAX_REQUEST {
            return respond(
                &stream,
                "431 Request Header Fields Too Large",
                &[],
                b"request too large\n",
            );
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return respond(&stream, "408 Request Timeout", &[], b"too slow\n");
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return respond(&stream, "408 Request Timeout", &[], b"too slow\n");
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    match parse_request(&head) {
        Request::Metrics => {
            let body = match exchange.fresh(FRESH_WAIT) {
                Some(s) => render::render(&s),
                None => String::new(),
            };
            respond(
                &stream,
                "200 OK",
                &[("Content-Type", render::CONTENT_TYPE)],
                body.as_bytes(),
            )
        }
        Request::WrongMethod => respond(
            &stream,
            "405 Method Not Allowed",
            &[("Allow", "GET")],
            b"only GET\n",
        ),
        Request::NotFound => respond(&stream, "404 Not Found", &[], b"try /metrics\n"),
        Request::Bad => respond(&stream, "400 Bad Request", &[], b"bad request\n"),
    }
}

fn respond(
    mut stream: &TcpStream,
    status: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(k);
        out.push_str(": ");
        out.push_str(v);
        out.push_str("\r\n");
    }
    if !headers.iter().any(|(k, _)| *k == "Content-Type") {
        out.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    }
    out.push_str("\r\n");
    stream.write_all(out.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    Ok(())
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_metrics_is_served() {
        assert_eq!(
            parse_request(b"GET /metrics HTTP/1.1\r\n\r\n"),
            Request::Metrics
        );
        assert_eq!(
            parse_request(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Request::Metrics
        );
        assert_eq!(
            parse_request(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Request::WrongMethod
        );
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\n\r\n"), Request::NotFound);
        assert_eq!(parse_request(b"garbage\r\n\r\n"), Request::Bad);
    }
}
