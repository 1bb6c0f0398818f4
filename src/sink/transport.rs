//! Transports: how a batch of framed messages reaches one syslog receiver.
//!
//! - UDP: a connected socket and `sendmmsg` batches ([`crate::udp::UdpSender`], the one
//!   batched UDP sender), so a burst of events costs a few system calls, not one per event.
//! - TCP: a stream written with vectored writes, a whole batch per `writev`.
//! - TLS (RFC 5425): rustls 0.23 with the `ring` provider over the same stream, verifying
//!   the server against a CA file or the system roots, with an optional client certificate.
//!
//! A [`Connector`] holds what does not change between connections (resolved TLS
//! configuration, timeouts) and makes a [`Connection`] on demand, resolving the host name
//! again each time. [`Connection::send`] reports how many whole messages went out before a
//! failure, so the sender can re-send the rest (a message written part-way is re-sent
//! whole on the next connection). Stream receivers never talk back, so before each batch
//! [`Connection::peer_closed`] peeks at the socket: a receiver that went away is noticed
//! before a batch is written into a dead connection's send buffer and lost.

use std::fs::File;
use std::io::{self, BufReader, IoSlice, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use super::config::{SinkConfig, Transport};
use crate::udp::UdpSender;

/// Most iovecs handed to one `writev` (Linux `UIO_MAXIOV` is 1024; 128 keeps the array on
/// the stack small while a call still moves tens of kilobytes).
const MAX_IOV: usize = 128;
/// A send that stopped early: `sent` whole messages went out before `error`.
#[derive(Debug)]
pub struct SendError {
    pub sent: usize,
    pub error: io::Error,
}

/// Everything needed to (re)connect to one destination.
pub struct Connector {
    transport: Transport,
    host: String,
    port: u16,
    connect_timeout: Duration,
    write_timeout: Duration,
    tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
}

impl Connector {
    /// Load TLS material now, so a bad file stops start-up instead of every reconnect.
    pub fn new(cfg: &SinkConfig) -> Result<Connector, String> {
        let tls = match cfg.transport {
            Transport::Tls => {
                let t = cfg.tls.clone().unwrap_or_default();
                let name = t
                    .server_name
                    .clone()
                    .unwrap_or_else(|| cfg.address.host.clone());
                let server_name = ServerName::try_from(name.clone())
                    .map_err(|e| format!("sink '{}': TLS server name '{name}': {e}", cfg.name))?;
                let config = client_config(&t).map_err(|e| format!("sink '{}': {e}", cfg.name))?;
                Some((Arc::new(config), server_name))
            }
            _ => None,
        };
        Ok(Connector {
            transport: cfg.transport,
            host: cfg.address.host.clone(),
            port: cfg.address.port,
            connect_timeout: Duration::from_millis(cfg.connect_timeout_ms.max(1)),
            write_timeout: Duration::from_millis(cfg.write_timeout_ms.max(1)),
            tls,
        })
    }

    /// The destination's addresses now (the host is resolved again at every reconnect).
    pub fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port).to_socket_addrs()?.collect();
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} resolves to no address", self.host),
            ));
        }
        Ok(addrs)
    }

    fn connect_tcp(&self) -> io::Result<TcpStream> {
        let mut last = None;
        for addr in self.resolve()? {
            match TcpStream::connect_timeout(&addr, self.connect_timeout) {
                Ok(s) => {
                    s.set_nodelay(true)?;
                    s.set_write_timeout(Some(self.write_timeout))?;
                    return Ok(s);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::NotConnected)))
    }

    /// Open a connection (for UDP: a connected socket).
    pub fn connect(&self) -> io::Result<Connection> {
        match self.transport {
            Transport::Udp => {
                let addr = self.resolve()?[0];
                Ok(Connection::Udp(UdpSender::deliver_to(
                    addr,
                    self.write_timeout,
                )?))
            }
            Transport::Tcp => Ok(Connection::Tcp(self.connect_tcp()?)),
            Transport::Tls => {
                let Some((config, name)) = &self.tls else {
                    return Err(io::Error::other("TLS transport without TLS configuration"));
                };
                let mut sock = self.connect_tcp()?;
                let mut conn = ClientConnection::new(Arc::clone(config), name.clone())
                    .map_err(io::Error::other)?;
                // The handshake reads; bound it like the connect.
                sock.set_read_timeout(Some(self.connect_timeout))?;
                while conn.is_handshaking() {
                    conn.complete_io(&mut sock)?;
                }
                Ok(Connection::Tls(Box::new(TlsStream { conn, sock })))
            }
        }
    }
}

/// Build the rustls client configuration: CA file or system roots, optional client cert.
fn client_config(t: &super::config::TlsConfig) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    match &t.ca_file {
        Some(path) => {
            for cert in read_certs(path)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("CA file {}: {e}", path.display()))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                // A broken system certificate must not stop the others from loading.
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        return Err("TLS: no CA certificate to verify the server with (set tls.ca_file)".into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots);
    match (&t.cert_file, &t.key_file) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert)?;
            let key = read_key(key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("TLS client certificate: {e}"))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

fn read_certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut BufReader::new(file)).collect();
    let certs = certs.map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate found", path.display()));
    }
    Ok(certs)
}

fn read_key(path: &std::path::Path) -> Result<PrivateKeyDer<'static>, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    rustls_pemfile::private_key(&mut BufReader::new(file))
        .map_err(|e| format!("{}: {e}", path.display()))?
        .ok_or_else(|| format!("{}: no PEM private key found", path.display()))
}

/// A TLS session over its TCP socket.
pub struct TlsStream {
    conn: ClientConnection,
    sock: TcpStream,
}

/// One open connection to a receiver.
pub enum Connection {
    Udp(UdpSender),
    Tcp(TcpStream),
    Tls(Box<TlsStream>),
}

impl Connection {
    /// Datagram transports lose a failed message instead of retrying it.
    pub fn is_datagram(&self) -> bool {
        matches!(self, Connection::Udp(_))
    }

    /// True when a stream receiver has closed or reset the connection. Never blocks.
    pub fn peer_closed(&mut self) -> bool {
        match self {
            Connection::Udp(_) => false,
            Connection::Tcp(s) => tcp_peer_closed(s),
            Connection::Tls(t) => t.peer_closed(),
        }
    }

    /// Send every message of `msgs` (already framed), in order.
    pub fn send(&mut self, msgs: &[Vec<u8>]) -> Result<(), SendError> {
        match self {
            Connection::Udp(s) => s.send_each(msgs).map(|_| ()).map_err(|p| SendError {
                sent: p.sent,
                error: p.error,
            }),
            Connection::Tcp(s) => write_all_vectored(s, msgs),
            Connection::Tls(t) => {
                let TlsStream { conn, sock } = &mut **t;
                let mut stream = rustls::Stream::new(conn, sock);
                write_all_vectored(&mut stream, msgs)?;
                // Until the records are on the socket nothing is sent: on failure the whole
                // batch is re-sent (at least once rather than lost).
                stream.flush().map_err(|error| SendError { sent: 0, error })
            }
        }
    }
}

/// Peek without blocking: EOF or an error means the receiver is gone.
fn tcp_peer_closed(s: &TcpStream) -> bool {
    let mut b = [0u8; 1];
    // SAFETY: `b` is a valid writable buffer of the given length; the fd is owned by `s`.
    let rc = unsafe {
        libc::recv(
            s.as_raw_fd(),
            b.as_mut_ptr().cast(),
            b.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if rc == 0 {
        return true;
    }
    if rc < 0 {
        let e = io::Error::last_os_error();
        return !matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
        );
    }
    // A syslog receiver has nothing to say; data waiting is not a sign of a closed peer.
    false
}

impl TlsStream {
    fn peer_closed(&mut self) -> bool {
        if self.sock.set_nonblocking(true).is_err() {
            return true;
        }
        let mut closed = false;
        // Bounded: each round either consumes bytes or ends.
        for _ in 0..64 {
            match self.conn.read_tls(&mut self.sock) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(_) => match self.conn.process_new_packets() {
                    Ok(state) => {
                        // Discard any application data (a receiver should send none) so
                        // the plaintext buffer can never fill up.
                        let mut sink = [0u8; 512];
                        if state.plaintext_bytes_to_read() > 0 {
                            while let Ok(n) = self.conn.reader().read(&mut sink) {
                                if n == 0 {
                                    break;
                                }
                            }
                        }
                        if state.peer_has_closed() {
                            closed = true;
                            break;
                        }
                    }
                    Err(_) => {
                        closed = true;
                        break;
                    }
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        if self.sock.set_nonblocking(false).is_err() {
            return true;
        }
        closed
    }
}

/// Write all messages with vectored writes; on failure say how many went out whole.
fn write_all_vectored<W: Write>(w: &mut W, msgs: &[Vec<u8>]) -> Result<(), SendError> {
    let mut i = 0;
    let mut off = 0;
    while i < msgs.len() {
        let mut iov = [IoSlice::new(&[]); MAX_IOV];
        let mut n = 0;
        for (j, m) in msgs[i..].iter().take(MAX_IOV).enumerate() {
            iov[n] = IoSlice::new(if j == 0 { &m[off..] } else { m });
            n += 1;
        }
        match w.write_vectored(&iov[..n]) {
            Ok(0) => {
                return Err(SendError {
                    sent: i,
                    error: io::ErrorKind::WriteZero.into(),
                })
            }
            Ok(mut written) => {
                while written > 0 && i < msgs.len() {
                    let rest = msgs[i].len() - off;
                    if written >= rest {
                        written -= rest;
                        i += 1;
                        off = 0;
                    } else {
                        off += written;
                        written = 0;
                    }
                }
                // Skip empty messages so they never stall the loop.
                while i < msgs.len() && msgs[i].len() == off {
                    i += 1;
                    off = 0;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(SendError { sent: i, error }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, UdpSocket};

    /// A writer that accepts at most `chunk` bytes per call and fails after `limit` bytes.
    struct Trickle {
        data: Vec<u8>,
        chunk: usize,
        limit: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.data.len() >= self.limit {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            let n = buf.len().min(self.chunk).min(self.limit - self.data.len());
            self.data.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn vectored_writes_survive_short_writes_and_report_whole_messages() {
        let msgs: Vec<Vec<u8>> = (0..300).map(|i| format!("m{i};").into_bytes()).collect();
        let all: Vec<u8> = msgs.concat();
        let mut w = Trickle {
            data: Vec::new(),
            chunk: 7,
            limit: usize::MAX,
        };
        write_all_vectored(&mut w, &msgs).unwrap();
        assert_eq!(w.data, all);

        // Fail in the middle of message 10 ("m10;" starts at byte 30).
        let mut w = Trickle {
            data: Vec::new(),
            chunk: 5,
            limit: 32,
        };
        let e = write_all_vectored(&mut w, &msgs).unwrap_err();
        assert_eq!(e.sent, 10);
    }

    #[test]
    fn udp_batch_arrives_as_separate_datagrams() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // Room for the whole burst (rmem_max is 4 MiB here; the kernel caps silently).
        socket2::SockRef::from(&rx)
            .set_recv_buffer_size(4 << 20)
            .unwrap();
        let cfg = SinkConfig {
            address: super::super::config::Address::parse(&rx.local_addr().unwrap().to_string())
                .unwrap(),
            ..SinkConfig::default()
        };
        let mut c = Connector::new(&cfg).unwrap().connect().unwrap();
        let msgs: Vec<Vec<u8>> = (0..600)
            .map(|i| format!("<133>x {i}").into_bytes())
            .collect();
        c.send(&msgs).unwrap();
        let mut buf = [0u8; 64];
        for m in &msgs {
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &m[..]);
        }
    }

    #[test]
    fn tcp_peer_close_is_seen_before_writing() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let cfg = SinkConfig {
            transport: Transport::Tcp,
            address: super::super::config::Address::parse(&l.local_addr().unwrap().to_string())
                .unwrap(),
            ..SinkConfig::default()
        };
        let mut c = Connector::new(&cfg).unwrap().connect().unwrap();
        let (mut server, _) = l.accept().unwrap();
        assert!(!c.peer_closed());
        c.send(&[b"5 hello".to_vec()]).unwrap();
        let mut got = [0u8; 7];
        server.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"5 hello");
        drop(server);
        // The FIN arrives asynchronously; bounded wait.
        let mut closed = false;
        for _ in 0..200 {
            if c.peer_closed() {
                closed = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(closed);
    }

    #[test]
    fn tls_config_errors_name_the_file() {
        let cfg = SinkConfig {
            transport: Transport::Tls,
            tls: Some(super::super::config::TlsConfig {
                ca_file: Some("/nonexistent/ca.pem".into()),
                ..Default::default()
            }),
            ..SinkConfig::default()
        };
        let e = Connector::new(&cfg).err().unwrap();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }
}
