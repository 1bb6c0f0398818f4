//! Batched UDP sending: the one place with `sendmmsg`, UDP GSO and their control messages,
//! behind one state type ([`UdpSender`]) that every sender in the program uses: the syslog
//! sink's UDP destinations, and the load generators (`flowsift blast`, `flowsift replay`)
//! and the receive benchmark.
//!
//! Batches, because a syscall per datagram is what limits a sender: the sink sends a burst
//! of events with one `sendmmsg` per up to [`MMSG`] datagrams. GSO, because even batched,
//! one `sendmmsg` call per 32-64 datagrams tops out near 0.25 M datagrams/s (the receiver's
//! wake-ups cost the sender IPIs), while UDP GSO (`UDP_SEGMENT`, up to 64 equal-size
//! segments in one send) lets one core offer about 1 M datagrams/s; so
//! [`UdpSender::send_segments`] packs runs of equal-size datagrams into GSO sends, several
//! per `sendmmsg`. GSO is probed by use, then degraded: a kernel or route that refuses it
//! turns it off for that sender for good (logged once) and the same call falls back to one
//! message per datagram.
//!
//! What a failed send means differs by sender, so it is the sender's [`Mode`]: a load
//! generator treats a refused or full send as a network would (the datagrams are gone, or
//! it waits for room); the sink needs to know how many whole messages went out before an
//! error, to count the rest.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// include/uapi/linux/udp.h: the GSO segment size, as a `SOL_UDP` cmsg or socket option.
const UDP_SEGMENT: libc::c_int = 103;

/// The kernel's limits for one GSO send: at most 64 segments (UDP_MAX_SEGMENTS) and one
/// IP datagram's worth of payload.
const MAX_SEGMENTS: usize = 64;
const MAX_GSO_BYTES: usize = 65_000;

/// Messages per `sendmmsg` call (the kernel caps a call at `UIO_MAXIOV`, 1024; 64 keeps
/// the per-sender arrays small while a call still moves a whole batch of events).
pub const MMSG: usize = 64;

/// Control buffer for one `UDP_SEGMENT` cmsg (header + u16, aligned).
const CMSG_SPACE: usize = 32;

/// What a failed send means to the sender using it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A load generator: a datagram refused (an ICMP port unreachable for an earlier one,
    /// the receiver not listening yet) is gone, as on a real network; a full send buffer is
    /// waited out.
    Load,
    /// A delivery (the syslog sink): a refusal is retried once (it reports an earlier
    /// datagram; these were not sent), any other error ends the send, reported with the
    /// number of whole datagrams that went out before it ([`Partial`]).
    Delivery,
}

/// A send that stopped early: `sent` datagrams went out before `error`.
#[derive(Debug)]
pub struct Partial {
    pub sent: usize,
    pub error: io::Error,
}

/// A connected UDP socket with sendmmsg batching and GSO (probed, then degraded).
pub struct UdpSender {
    sock: Socket,
    mode: Mode,
    gso: bool,
    headers: Vec<libc::mmsghdr>,
    iovecs: Vec<libc::iovec>,
    controls: Vec<[u8; CMSG_SPACE]>,
}

// SAFETY: the raw pointers in `headers`/`iovecs` are rebuilt before every call and only
// point into buffers borrowed for that call; nothing is shared across threads.
unsafe impl Send for UdpSender {}

impl UdpSender {
    /// A load generator's socket ([`Mode::Load`]), bound to `from` (port 0 for any) and
    /// connected to `to`, with a send buffer of `sndbuf` bytes (as far as the kernel
    /// allows).
    pub fn connect(from: SocketAddr, to: SocketAddr, sndbuf: usize) -> io::Result<UdpSender> {
        let s = UdpSender::open(from, to, Mode::Load)?;
        let _ = s.sock.set_send_buffer_size(sndbuf);
        Ok(s)
    }

    /// A delivering socket ([`Mode::Delivery`]) from any local address to `to`: a send
    /// blocks at most `write_timeout` for buffer room, then fails.
    pub fn deliver_to(to: SocketAddr, write_timeout: Duration) -> io::Result<UdpSender> {
        let from: SocketAddr = if to.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let s = UdpSender::open(from, to, Mode::Delivery)?;
        s.sock.set_write_timeout(Some(write_timeout))?;
        Ok(s)
    }

    fn open(from: SocketAddr, to: SocketAddr, mode: Mode) -> io::Result<UdpSender> {
        let domain = if to.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let sock = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        sock.bind(&SockAddr::from(from))?;
        sock.connect(&SockAddr::from(to))?;
        // SAFETY: all-zero is a valid mmsghdr.
        let headers = vec![unsafe { zeroed::<libc::mmsghdr>() }; MMSG];
        Ok(UdpSender {
            sock,
            mode,
            gso: true,
            headers,
            iovecs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                MMSG
            ],
            controls: vec![[0u8; CMSG_SPACE]; MMSG],
        })
    }

    /// The local address (to tell receivers which source to allow).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.sock.local_addr().ok().and_then(|a| a.as_socket())
    }

    /// Whether GSO is (still) in use.
    pub fn gso(&self) -> bool {
        self.gso
    }

    /// Turn GSO off (for measuring without it).
    pub fn disable_gso(&mut self) {
        self.gso = false;
    }

    /// Send `buf`, which holds datagrams of `segment` bytes back to back (the last may be
    /// shorter). Returns the number of datagrams sent.
    pub fn send_segments(&mut self, buf: &[u8], segment: usize) -> io::Result<usize> {
        if segment == 0 || buf.is_empty() {
            return Ok(0);
        }
        if self.gso && segment <= u16::MAX as usize {
            match self.send_gso(buf, segment) {
                Ok(n) => return Ok(n),
                Err(e) if gso_refused(&e) => {
                    eprintln!("flowsift: UDP GSO refused ({e}); sending one datagram per message");
                    self.gso = false;
                }
                Err(e) => return Err(e),
            }
        }
        let parts: Vec<&[u8]> = buf.chunks(segment).collect();
        Ok(self.send_each(&parts)?)
    }

    fn send_gso(&mut self, buf: &[u8], segment: usize) -> io::Result<usize> {
        let per_send = (MAX_GSO_BYTES / segment).clamp(1, MAX_SEGMENTS);
        let chunk = per_send * segment;
        let mut sent = 0;
        let mut chunks = buf.chunks(chunk).peekable();
        while chunks.peek().is_some() {
            let mut n = 0;
            while n < MMSG {
                let Some(c) = chunks.next() else { break };
                self.iovecs[n] = libc::iovec {
                    iov_base: c.as_ptr() as *mut libc::c_void,
                    iov_len: c.len(),
                };
                let ctl = &mut self.controls[n];
                write_segment_cmsg(ctl, segment as u16);
                let h = &mut self.headers[n];
                // SAFETY: all-zero is a valid msghdr.
                h.msg_hdr = unsafe { zeroed() };
                h.msg_hdr.msg_iov = &mut self.iovecs[n];
                h.msg_hdr.msg_iovlen = 1;
                // Only a multi-segment send needs the cmsg; a lone short datagram is plain.
                if c.len() > segment {
                    h.msg_hdr.msg_control = ctl.as_mut_ptr().cast();
                    h.msg_hdr.msg_controllen = cmsg_space_u16() as _;
                }
                n += 1;
            }
            let mut off = 0;
            while off < n {
                let done = self.sendmmsg_from(off, n - off)?;
                if done == 0 {
                    break;
                }
                for i in off..off + done {
                    sent += self.iovecs[i].iov_len.div_ceil(segment);
                }
                off += done;
            }
        }
        Ok(sent)
    }

    /// Send each datagram as its own message, [`MMSG`] per call. Returns how many went
    /// out, or, on an error ([`Mode`] says which), how many went out before it.
    pub fn send_each<D: AsRef<[u8]>>(&mut self, datagrams: &[D]) -> Result<usize, Partial> {
        let mut sent = 0;
        for group in datagrams.chunks(MMSG) {
            for (i, d) in group.iter().enumerate() {
                let d = d.as_ref();
                self.iovecs[i] = libc::iovec {
                    iov_base: d.as_ptr() as *mut libc::c_void,
                    iov_len: d.len(),
                };
                // SAFETY: all-zero is a valid msghdr.
                self.headers[i].msg_hdr = unsafe { zeroed() };
                self.headers[i].msg_hdr.msg_iov = &mut self.iovecs[i];
                self.headers[i].msg_hdr.msg_iovlen = 1;
            }
            let mut off = 0;
            while off < group.len() {
                let done = self
                    .sendmmsg_from(off, group.len() - off)
                    .map_err(|error| Partial {
                        sent: sent + off,
                        error,
                    })?;
                if done == 0 {
                    break;
                }
                off += done;
            }
            sent += off;
        }
        Ok(sent)
    }

    /// One `sendmmsg` of headers `from..from + n`: how many went out. Errors as the mode
    /// says: interrupted calls are repeated; a refusal reports an earlier datagram (an
    /// ICMP port unreachable), so these were not sent.
    fn sendmmsg_from(&mut self, from: usize, n: usize) -> io::Result<usize> {
        let mut retry_refused = true;
        loop {
            // SAFETY: headers `from..from + n` were filled just before this call; each points
            // at an iovec of this struct and at caller buffers that outlive the call.
            let rc = unsafe {
                libc::sendmmsg(
                    self.sock.as_raw_fd(),
                    self.headers[from..].as_mut_ptr(),
                    n as libc::c_uint,
                    0,
                )
            };
            if rc >= 0 {
                return Ok(rc as usize);
            }
            let e = io::Error::last_os_error();
            match (e.raw_os_error(), self.mode) {
                (Some(libc::EINTR), _) => continue,
                // Loopback receiver not listening yet, or its queue momentarily refused:
                // the datagrams are gone, like on a real network.
                (Some(libc::ECONNREFUSED), Mode::Load) => return Ok(n),
                (Some(libc::ECONNREFUSED), Mode::Delivery) if retry_refused => {
                    retry_refused = false;
                    continue;
                }
                (Some(libc::ENOBUFS) | Some(libc::EAGAIN), Mode::Load) => {
                    std::thread::yield_now();
                    continue;
                }
                _ => return Err(e),
            }
        }
    }
}

impl From<Partial> for io::Error {
    fn from(p: Partial) -> io::Error {
        p.error
    }
}

fn gso_refused(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EIO) | Some(libc::EINVAL) | Some(libc::ENOPROTOOPT) | Some(libc::EOPNOTSUPP)
    )
}

fn cmsg_space_u16() -> usize {
    // SAFETY: CMSG_SPACE is a pure arithmetic macro.
    unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) as usize }
}

/// Write one `SOL_UDP / UDP_SEGMENT` cmsg carrying `segment` into `buf`.
fn write_segment_cmsg(buf: &mut [u8; CMSG_SPACE], segment: u16) {
    buf.fill(0);
    // SAFETY: CMSG_LEN is a pure arithmetic macro.
    let len = unsafe { libc::CMSG_LEN(size_of::<u16>() as u32) } as usize;
    // SAFETY: all-zero is a valid cmsghdr.
    let mut h: libc::cmsghdr = unsafe { zeroed() };
    h.cmsg_len = len as _;
    h.cmsg_level = libc::SOL_UDP;
    h.cmsg_type = UDP_SEGMENT;
    let hdr = size_of::<libc::cmsghdr>();
    // SAFETY: `buf` has CMSG_SPACE (32) bytes, more than a cmsghdr (16) + u16; unaligned
    // write of plain data.
    unsafe { std::ptr::write_unaligned(buf.as_mut_ptr().cast::<libc::cmsghdr>(), h) };
    buf[hdr..hdr + 2].copy_from_slice(&segment.to_ne_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

    fn receive_all(rx: &UdpSocket, want: usize) -> Vec<Vec<u8>> {
        rx.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.len() < want {
            match rx.recv(&mut buf) {
                Ok(n) => got.push(buf[..n].to_vec()),
                Err(_) => break,
            }
        }
        got
    }

    #[test]
    fn gso_splits_into_datagrams() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        let mut s = UdpSender::connect("127.0.0.1:0".parse().unwrap(), to, 1 << 20).unwrap();
        // 100 datagrams of 300 bytes, the last one 50 bytes.
        let mut buf = Vec::new();
        for i in 0..99u8 {
            buf.extend(std::iter::repeat_n(i, 300));
        }
        buf.extend([0xEE; 50]);
        assert_eq!(s.send_segments(&buf, 300).unwrap(), 100);
        let got = receive_all(&rx, 100);
        assert_eq!(got.len(), 100);
        assert!(got[..99]
            .iter()
            .enumerate()
            .all(|(i, d)| d.len() == 300 && d[0] == i as u8));
        assert_eq!(got[99], vec![0xEE; 50]);
    }

    #[test]
    fn without_gso_each_datagram_is_a_message() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        let mut s = UdpSender::connect("127.0.0.1:0".parse().unwrap(), to, 1 << 20).unwrap();
        s.disable_gso();
        let buf = vec![7u8; 1000];
        assert_eq!(s.send_segments(&buf, 400).unwrap(), 3);
        let got = receive_all(&rx, 3);
        assert_eq!(
            got.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![400, 400, 200]
        );
        assert_eq!(s.send_each(&[&b"a"[..], &b"bc"[..]]).unwrap(), 2);
        assert_eq!(receive_all(&rx, 2), vec![b"a".to_vec(), b"bc".to_vec()]);
    }
}
