//! Linux socket plumbing for the receive engine: the only place that knows socket options,
//! `recvmmsg`, and control messages.
//!
//! The rest of `rx` sees a small surface: [`bind_group`] opens one `SO_REUSEPORT` socket per
//! receive thread on a listen address with every option set, [`MmsgBatch`] receives a batch
//! of datagrams with their sender address and the socket's drop counter, and
//! [`socket_drops`] reads that counter on demand. Options that are missing or refused degrade
//! (a smaller receive buffer, no steering) and are reported once; they never stop the
//! collector.
//!
//! Constants not exported by `libc` for every target are spelled out with their source
//! (`include/uapi/asm-generic/socket.h`, `include/uapi/linux/filter.h`).

use std::io;
use std::mem::{size_of, zeroed, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, Socket, Type};

use super::Steering;

/// asm-generic/socket.h: ask for a receive buffer above `net.core.rmem_max` (CAP_NET_ADMIN).
const SO_RCVBUFFORCE: libc::c_int = 33;
/// asm-generic/socket.h: attach the socket's drop count to each datagram as a cmsg.
pub(crate) const SO_RXQ_OVFL: libc::c_int = 40;
/// asm-generic/socket.h: classic BPF program choosing the socket within a reuseport group.
const SO_ATTACH_REUSEPORT_CBPF: libc::c_int = 51;
/// asm-generic/socket.h: `u32[SK_MEMINFO_VARS]` of socket memory figures, drops included.
const SO_MEMINFO: libc::c_int = 55;
/// include/uapi/linux/sock_diag.h: index of the drop count in `SO_MEMINFO`, and the length.
const SK_MEMINFO_DROPS: usize = 8;
const SK_MEMINFO_VARS: usize = 9;
/// include/uapi/linux/udp.h: accept coalesced (GRO) datagrams; each receive then carries
/// the segment size as a `SOL_UDP` cmsg of the same number.
const UDP_GRO: libc::c_int = 104;

/// What [`bind_group`] obtained from the kernel, for the one start-up log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GroupOutcome {
    /// Bytes the kernel granted (`getsockopt(SO_RCVBUF)`, which reports twice the request).
    pub granted: usize,
    /// True when `SO_RCVBUFFORCE` was refused and `SO_RCVBUF` (capped by rmem_max) was used.
    pub capped: bool,
    /// The steering asked for is in place (always true for `Steering::None`).
    pub steered: bool,
    /// `UDP_GRO` is on for every socket of the group (false when not asked for).
    pub gro: bool,
}

/// Open `n` sockets in one `SO_REUSEPORT` group on `addr`. Socket `i` is meant for receive
/// thread `i`, pinned to `cpus[i]`. When `addr` has port 0 the first socket picks the port
/// and the others join it.
pub(crate) fn bind_group(
    addr: SocketAddr,
    cpus: &[usize],
    rcvbuf: usize,
    steering: Steering,
    gro: bool,
) -> io::Result<(Vec<Socket>, GroupOutcome)> {
    let mut sockets = Vec::with_capacity(cpus.len());
    let mut bound = addr;
    let mut outcome = GroupOutcome {
        granted: 0,
        capped: false,
        steered: true,
        gro,
    };
    for &cpu in cpus {
        let domain = if addr.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let sock = Socket::new(domain, Type::DGRAM.nonblocking(), Some(Protocol::UDP))?;
        if addr.is_ipv6() {
            // Without it `[::]:6343` would also take IPv4 and collide with `0.0.0.0:6343`.
            sock.set_only_v6(true)?;
        }
        sock.set_reuse_port(true)?;
        let (granted, capped) = set_receive_buffer(&sock, rcvbuf);
        outcome.granted = granted;
        outcome.capped = capped;
        set_int(&sock, libc::SOL_SOCKET, SO_RXQ_OVFL, 1)?;
        // A kernel without UDP_GRO (before 5.0) delivers one datagram per receive, as usual.
        if gro && set_int(&sock, libc::SOL_UDP, UDP_GRO, 1).is_err() {
            outcome.gro = false;
        }
        if steering == Steering::IncomingCpu && sock.set_cpu_affinity(cpu).is_err() {
            // An old kernel without it still receives, just hashed.
            outcome.steered = false;
        }
        sock.bind(&bound.into())?;
        if bound.port() == 0 {
            if let Some(local) = sock.local_addr()?.as_socket() {
                bound = local;
            }
        }
        sockets.push(sock);
    }
    if steering == Steering::Cpu {
        if let Some(first) = sockets.first() {
            outcome.steered = attach_cpu_steering(first, sockets.len()).is_ok();
        }
    }
    Ok((sockets, outcome))
}

/// Ask for `bytes` with `SO_RCVBUFFORCE`, fall back to `SO_RCVBUF`; return what was granted
/// and whether the fallback (capped by `net.core.rmem_max`) was used.
fn set_receive_buffer(sock: &Socket, bytes: usize) -> (usize, bool) {
    let want = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    let capped = set_int(sock, libc::SOL_SOCKET, SO_RCVBUFFORCE, want).is_err();
    if capped {
        let _ = sock.set_recv_buffer_size(bytes);
    }
    (sock.recv_buffer_size().unwrap_or(0), capped)
}

fn set_int(sock: &Socket, level: libc::c_int, name: libc::c_int, v: libc::c_int) -> io::Result<()> {
    // SAFETY: `v` is a live c_int and the length passed is its size; the fd is open for the
    // lifetime of `sock`.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Steer each datagram to socket `cpu % n` of the group, with a classic BPF program
/// (`ld #cpu; mod #n; ret a`). The CPU is the one running the network stack for the
/// datagram (the NIC queue's IRQ CPU, or the sender's CPU on loopback), so all datagrams of
/// one agent stay on one socket, and load spreads as evenly as the NIC's RSS spreads it.
fn attach_cpu_steering(sock: &Socket, n: usize) -> io::Result<()> {
    let n = u32::try_from(n.max(1)).unwrap_or(u32::MAX);
    // linux/filter.h: BPF_LD|BPF_W|BPF_ABS, BPF_ALU|BPF_MOD|BPF_K, BPF_RET|BPF_A.
    let ld_abs_w = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    let alu_mod_k = (libc::BPF_ALU | libc::BPF_MOD | libc::BPF_K) as u16;
    let ret_a = (libc::BPF_RET | libc::BPF_A) as u16;
    let mut prog = [
        libc::sock_filter {
            code: ld_abs_w,
            jt: 0,
            jf: 0,
            k: (libc::SKF_AD_OFF + libc::SKF_AD_CPU) as u32,
        },
        libc::sock_filter {
            code: alu_mod_k,
            jt: 0,
            jf: 0,
            k: n,
        },
        libc::sock_filter {
            code: ret_a,
            jt: 0,
            jf: 0,
            k: 0,
        },
    ];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: `fprog` points at `prog`, both live across the call; the kernel copies the
    // program before returning.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_ATTACH_REUSEPORT_CBPF,
            (&fprog as *const libc::sock_fprog).cast(),
            size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The socket's drop count right now (`SO_MEMINFO`), counting datagrams dropped for a full
/// receive buffer. It catches drops after the last datagram that carried `SO_RXQ_OVFL`.
pub(crate) fn socket_drops(fd: libc::c_int) -> Option<u32> {
    let mut info = [0u32; SK_MEMINFO_VARS];
    let mut len = size_of::<[u32; SK_MEMINFO_VARS]>() as libc::socklen_t;
    // SAFETY: `info` is writable for `len` bytes, and `len` is a valid in/out length.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_MEMINFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    (rc == 0 && len as usize > SK_MEMINFO_DROPS * 4).then_some(info[SK_MEMINFO_DROPS])
}

/// Control buffer size: room for the `SO_RXQ_OVFL` (u32) and `UDP_GRO` (int) cmsgs, 24
/// bytes each on 64-bit, with headroom.
pub(crate) const CONTROL_LEN: usize = 64;

/// What the control data of one receive says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Control {
    /// `SO_RXQ_OVFL`: the socket's drop count when the datagram was queued.
    pub drops: Option<u32>,
    /// `UDP_GRO`: the payload is several datagrams of this size back to back (the last may
    /// be shorter).
    pub segment: Option<u16>,
}

/// Read the control messages the receive engine asks for.
///
/// Walks cmsg headers by hand with checked lengths instead of `CMSG_NXTHDR`, so that a
/// buffer the kernel truncated can never be read past its end.
pub(crate) fn parse_control(control: &[u8]) -> Control {
    let hdr = size_of::<libc::cmsghdr>();
    let align = size_of::<usize>();
    let mut out = Control::default();
    let mut at = 0usize;
    while at + hdr <= control.len() {
        // SAFETY: `at + hdr <= control.len()`, and `read_unaligned` has no alignment need.
        let c: libc::cmsghdr = unsafe { std::ptr::read_unaligned(control.as_ptr().add(at).cast()) };
        let len = c.cmsg_len as usize;
        if len < hdr || at + len > control.len() {
            break;
        }
        if len >= hdr + 4 {
            let d = &control[at + hdr..at + hdr + 4];
            let v = u32::from_ne_bytes([d[0], d[1], d[2], d[3]]);
            if c.cmsg_level == libc::SOL_SOCKET && c.cmsg_type == SO_RXQ_OVFL {
                out.drops = Some(v);
            } else if c.cmsg_level == libc::SOL_UDP && c.cmsg_type == UDP_GRO {
                // The kernel writes an int; a segment size is at most 65535.
                out.segment = u16::try_from(v).ok().filter(|&s| s > 0);
            }
        }
        at += (len + align - 1) & !(align - 1);
    }
    out
}

/// A `sockaddr` as the kernel wrote it, turned into a `SocketAddr`.
pub(crate) fn sockaddr_to_std(raw: &[u8]) -> Option<SocketAddr> {
    if raw.len() >= size_of::<libc::sockaddr_in6>() {
        // SAFETY: length checked; unaligned read of a plain-old-data struct.
        let s6: libc::sockaddr_in6 = unsafe { std::ptr::read_unaligned(raw.as_ptr().cast()) };
        if libc::c_int::from(s6.sin6_family) == libc::AF_INET6 {
            return Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(s6.sin6_addr.s6_addr),
                u16::from_be(s6.sin6_port),
                s6.sin6_flowinfo,
                s6.sin6_scope_id,
            )));
        }
    }
    if raw.len() >= size_of::<libc::sockaddr_in>() {
        // SAFETY: length checked; unaligned read of a plain-old-data struct.
        let s4: libc::sockaddr_in = unsafe { std::ptr::read_unaligned(raw.as_ptr().cast()) };
        if libc::c_int::from(s4.sin_family) == libc::AF_INET {
            return Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(s4.sin_addr.s_addr)),
                u16::from_be(s4.sin_port),
            )));
        }
    }
    None
}

/// One received datagram, as both receive loops hand it to their [`super::Handler`].
pub(crate) struct Received<'a> {
    /// Index of the socket among the receiving thread's sockets.
    pub socket: usize,
    pub payload: &'a [u8],
    pub from: Option<SocketAddr>,
    /// The datagram was longer than the buffer (MSG_TRUNC).
    pub truncated: bool,
    /// The socket's drop count when the datagram was queued, if any drops happened yet.
    pub drops: Option<u32>,
    /// With GRO: `payload` holds several datagrams of this many bytes back to back.
    pub segment: Option<u16>,
}

/// Buffers for one `recvmmsg` call: `batch` datagrams of up to `size` bytes each, with
/// sender addresses and control data. Allocated once per receive thread.
pub(crate) struct MmsgBatch {
    size: usize,
    data: Vec<u8>,
    names: Vec<libc::sockaddr_storage>,
    control: Vec<[u8; CONTROL_LEN]>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    filled: usize,
}

// SAFETY: the raw pointers inside `iovecs` and `headers` point into this struct's own heap
// buffers, which move with it; nothing is shared with another thread.
unsafe impl Send for MmsgBatch {}

impl MmsgBatch {
    pub(crate) fn new(batch: usize, size: usize) -> Self {
        let batch = batch.clamp(1, 1024);
        // SAFETY: `sockaddr_storage` and `mmsghdr` are plain C structs for which all-zero is
        // a valid value.
        let (names, headers) = unsafe {
            (
                vec![zeroed::<libc::sockaddr_storage>(); batch],
                vec![zeroed::<libc::mmsghdr>(); batch],
            )
        };
        let mut b = MmsgBatch {
            size,
            data: vec![0u8; batch * size],
            names,
            control: vec![[0u8; CONTROL_LEN]; batch],
            iovecs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                };
                batch
            ],
            headers,
            filled: 0,
        };
        for i in 0..batch {
            b.iovecs[i].iov_base = b.data[i * size..].as_mut_ptr().cast();
            b.iovecs[i].iov_len = size;
        }
        b
    }

    /// Reset the headers the kernel rewrote on the previous call.
    fn prepare(&mut self) {
        for i in 0..self.headers.len() {
            let h = &mut self.headers[i].msg_hdr;
            h.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut self.iovecs[i];
            h.msg_iovlen = 1;
            h.msg_control = self.control[i].as_mut_ptr().cast();
            h.msg_controllen = CONTROL_LEN as _;
            h.msg_flags = 0;
            self.headers[i].msg_len = 0;
        }
    }

    /// Receive up to a batch without blocking. `Ok(0)` when nothing is queued.
    pub(crate) fn recv(&mut self, fd: libc::c_int) -> io::Result<usize> {
        self.prepare();
        // SAFETY: every header points at buffers owned by `self` with the lengths set in
        // `prepare`; they stay valid and unaliased for the duration of the call.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.headers.as_mut_ptr(),
                self.headers.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            self.filled = 0;
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        self.filled = n as usize;
        Ok(self.filled)
    }

    /// Datagram `i` of the last [`MmsgBatch::recv`], received on the thread's socket `socket`.
    pub(crate) fn get(&self, i: usize, socket: usize) -> Option<Received<'_>> {
        if i >= self.filled {
            return None;
        }
        let h = &self.headers[i];
        let len = (h.msg_len as usize).min(self.size);
        let payload = &self.data[i * self.size..i * self.size + len];
        let namelen = (h.msg_hdr.msg_namelen as usize).min(size_of::<libc::sockaddr_storage>());
        // SAFETY: `names[i]` is a live sockaddr_storage; viewing its first `namelen` bytes
        // (at most its size) as bytes is always valid.
        let name = unsafe {
            std::slice::from_raw_parts(
                (&self.names[i] as *const libc::sockaddr_storage).cast::<u8>(),
                namelen,
            )
        };
        // `msg_controllen` is usize on glibc but u32 on musl.
        #[allow(clippy::unnecessary_cast)]
        let clen = (h.msg_hdr.msg_controllen as usize).min(CONTROL_LEN);
        let control = parse_control(&self.control[i][..clen]);
        Some(Received {
            socket,
            payload,
            from: sockaddr_to_std(name),
            truncated: h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
            drops: control.drops,
            segment: control.segment,
        })
    }
}

/// Wait until one of `fds` is readable or `timeout_ms` passes. Returns a readiness mask
/// (bit i set when `fds[i]` is readable; at most 64 fds).
pub(crate) fn wait_readable(fds: &[libc::c_int], timeout_ms: i32) -> io::Result<u64> {
    let mut pfds: [MaybeUninit<libc::pollfd>; 64] = [MaybeUninit::uninit(); 64];
    let n = fds.len().min(64);
    for (slot, &fd) in pfds.iter_mut().zip(&fds[..n]) {
        slot.write(libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
    }
    // SAFETY: the first `n` entries were initialised just above and stay live for the call.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr().cast(), n as libc::nfds_t, timeout_ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(0)
        } else {
            Err(e)
        };
    }
    let mut mask = 0u64;
    for (i, slot) in pfds[..n].iter().enumerate() {
        // SAFETY: initialised above.
        let p = unsafe { slot.assume_init_ref() };
        if p.revents != 0 {
            mask |= 1 << i;
        }
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmsg(level: i32, ty: i32, data: &[u8]) -> Vec<u8> {
        let hdr = size_of::<libc::cmsghdr>();
        let mut v = vec![0u8; hdr];
        // SAFETY: `v` holds exactly one cmsghdr worth of bytes.
        unsafe {
            let c = v.as_mut_ptr().cast::<libc::cmsghdr>();
            let mut h: libc::cmsghdr = zeroed();
            h.cmsg_len = (hdr + data.len()) as _;
            h.cmsg_level = level;
            h.cmsg_type = ty;
            std::ptr::write_unaligned(c, h);
        }
        v.extend_from_slice(data);
        while v.len() % size_of::<usize>() != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn finds_rxq_ovfl_after_another_cmsg() {
        let mut buf = cmsg(libc::SOL_IP, 8, &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
        buf.extend(cmsg(libc::SOL_SOCKET, SO_RXQ_OVFL, &7u32.to_ne_bytes()));
        assert_eq!(parse_control(&buf).drops, Some(7));
        buf.extend(cmsg(libc::SOL_UDP, UDP_GRO, &1372i32.to_ne_bytes()));
        assert_eq!(
            parse_control(&buf),
            Control {
                drops: Some(7),
                segment: Some(1372)
            }
        );
    }

    #[test]
    fn rejects_truncated_and_bogus_cmsgs() {
        assert_eq!(parse_control(&[]), Control::default());
        let buf = cmsg(libc::SOL_SOCKET, SO_RXQ_OVFL, &7u32.to_ne_bytes());
        assert_eq!(parse_control(&buf[..buf.len() - 8]), Control::default());
        let mut bogus = buf.clone();
        bogus[0] = 0xFF; // cmsg_len far past the end
        assert_eq!(parse_control(&bogus), Control::default());
        let mut zero = buf;
        zero[..8].fill(0); // cmsg_len 0 would loop forever if accepted
        assert_eq!(parse_control(&zero), Control::default());
    }

    #[test]
    fn group_shares_one_port_and_counts_no_drops() {
        let (socks, got) = bind_group(
            "127.0.0.1:0".parse().unwrap(),
            &[0, 0],
            1 << 20,
            Steering::Cpu,
            false,
        )
        .unwrap();
        assert_eq!(socks.len(), 2);
        let a = socks[0].local_addr().unwrap().as_socket().unwrap();
        let b = socks[1].local_addr().unwrap().as_socket().unwrap();
        assert_eq!(a, b);
        assert!(got.granted > 0);
        assert!(got.steered);
        assert_eq!(socket_drops(socks[0].as_raw_fd()), Some(0));
    }

    #[test]
    fn mmsg_receives_with_sender() {
        let (socks, _) = bind_group(
            "127.0.0.1:0".parse().unwrap(),
            &[0],
            1 << 20,
            Steering::None,
            false,
        )
        .unwrap();
        let to = socks[0].local_addr().unwrap().as_socket().unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.send_to(b"hello", to).unwrap();
        tx.send_to(&[7u8; 100], to).unwrap();
        let fd = socks[0].as_raw_fd();
        let mut batch = MmsgBatch::new(8, 64);
        let mut got = Vec::new();
        for _ in 0..100 {
            if wait_readable(&[fd], 100).unwrap() != 0 {
                let n = batch.recv(fd).unwrap();
                for i in 0..n {
                    let d = batch.get(i, 0).unwrap();
                    got.push((d.payload.to_vec(), d.from, d.truncated));
                }
            }
            if got.len() == 2 {
                break;
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, b"hello");
        assert_eq!(got[0].1, Some(tx.local_addr().unwrap()));
        assert!(!got[0].2);
        assert_eq!(got[1].0.len(), 64);
        assert!(got[1].2, "100 bytes into 64 is truncated");
    }

    /// A GSO send of equal-size datagrams reaches a GRO socket as one receive that says
    /// the segment size; a socket without GRO gets them one by one.
    #[test]
    fn gro_socket_receives_gso_sends_whole() {
        for gro in [true, false] {
            let (socks, outcome) = bind_group(
                "127.0.0.1:0".parse().unwrap(),
                &[0],
                1 << 20,
                Steering::None,
                gro,
            )
            .unwrap();
            assert_eq!(outcome.gro, gro, "this kernel has UDP_GRO");
            let to = socks[0].local_addr().unwrap().as_socket().unwrap();
            let mut tx =
                crate::udp::UdpSender::connect("127.0.0.1:0".parse().unwrap(), to, 1 << 20)
                    .unwrap();
            let mut buf = Vec::new();
            for i in 0..10u8 {
                buf.extend(std::iter::repeat_n(i, 100));
            }
            buf.extend([10u8; 40]);
            assert_eq!(tx.send_segments(&buf, 100).unwrap(), 11);
            let fd = socks[0].as_raw_fd();
            let mut batch = MmsgBatch::new(16, 65536);
            let mut got: Vec<(Vec<u8>, Option<u16>)> = Vec::new();
            for _ in 0..100 {
                if wait_readable(&[fd], 100).unwrap() != 0 {
                    let n = batch.recv(fd).unwrap();
                    for i in 0..n {
                        let d = batch.get(i, 0).unwrap();
                        got.push((d.payload.to_vec(), d.segment));
                    }
                }
                let bytes: usize = got.iter().map(|g| g.0.len()).sum();
                if bytes == buf.len() {
                    break;
                }
            }
            let joined: Vec<u8> = got.iter().flat_map(|g| g.0.clone()).collect();
            assert_eq!(joined, buf);
            if gro && tx.gso() {
                assert_eq!(got.len(), 1, "one coalesced receive");
                assert_eq!(got[0].1, Some(100));
            } else {
                assert_eq!(got.len(), 11);
                assert!(got.iter().all(|g| g.1.is_none()));
            }
        }
    }
}
