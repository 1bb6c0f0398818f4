//! The io_uring receive loop: multishot `RecvMsgMulti` into a provided buffer ring.
//!
//! One ring per receive thread, set up with `SINGLE_ISSUER | DEFER_TASKRUN`: the kernel then
//! fills provided buffers only while the thread is inside `io_uring_enter`, so under load a
//! stall leaves datagrams in the socket buffer instead of draining the buffer ring
//! (docs/receive.md, "I/O"). Each of the thread's sockets gets one multishot receive that
//! keeps completing, one datagram per completion, each in a kernel-chosen buffer of the
//! thread's buffer ring. A buffer goes back to the ring as soon as its datagram has been
//! handled; the new tail is published once per batch of completions with a single
//! `Release` store.
//!
//! A multishot receive ends when the ring has no free buffer (`-ENOBUFS`) or for any other
//! reason the completion lacks the "more" flag; it is re-armed at once and both cases are
//! counted. Datagrams never get lost that way: while no receive is armed they wait in the
//! socket's buffer.
//!
//! All the `unsafe` of the io_uring path is in this file.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};

use io_uring::types::{BufRingEntry, RecvMsgOut, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, types, IoUring};

use super::sys::{parse_control, sockaddr_to_std, CONTROL_LEN};
use super::{Handler, IoEvent, Received};

/// The kernel's limit on provided-buffer ring entries (io_uring_register_buf_ring(3)).
pub(crate) const MAX_BUFFERS: u32 = 1 << 15;

/// The buffer group id of the thread's one buffer ring.
const BGID: u16 = 0;

/// Pause after a round that brought only receive errors.
const ERROR_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);

/// How long a wait for completions lasts before the stop flag is checked again.
const WAIT: Timespec = Timespec::new().nsec(100_000_000);

/// Check that this kernel gives us everything the loop needs: a ring with single-issuer and
/// deferred task-run, the `RECVMSG` opcode, and provided buffer rings. `Err` says what is
/// missing, so the caller can log it once and use recvmmsg instead.
pub(crate) fn probe() -> Result<(), String> {
    let ring = build_ring(8, 8).map_err(|e| format!("io_uring setup failed: {e}"))?;
    let mut probe = io_uring::Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| format!("io_uring probe failed: {e}"))?;
    if !probe.is_supported(opcode::RecvMsg::CODE) {
        return Err("io_uring lacks IORING_OP_RECVMSG".into());
    }
    let bufs = BufRing::new(8, 64).map_err(|e| format!("buffer ring memory: {e}"))?;
    bufs.register(&ring)
        .map_err(|e| format!("io_uring provided buffer rings unavailable: {e}"))?;
    drop(ring);
    drop(bufs);
    Ok(())
}

fn build_ring(sq: u32, cq: u32) -> io::Result<IoUring> {
    IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(cq.max(sq))
        .build(sq)
}

/// Anonymous, page-aligned memory from `mmap`, unmapped on drop.
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    fn new(len: usize) -> io::Result<Mapping> {
        // SAFETY: a private anonymous mapping has no preconditions; failure is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // Receive buffers cycle through the whole mapping (64 MiB by default): huge pages
        // spare the kernel's copy and the decoder a TLB miss per datagram. Advice only.
        // SAFETY: `ptr`/`len` is the mapping just made.
        unsafe { libc::madvise(ptr, len, libc::MADV_HUGEPAGE) };
        Ok(Mapping {
            ptr: ptr.cast(),
            len,
        })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` describe a mapping made by `Mapping::new` and not yet unmapped.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// A provided buffer ring and its buffers.
///
/// A buffer id known to be inside the ring (`< entries`): made only by [`BufRing::id`], which
/// checks the id a completion reports, and by the initial fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BufferId(u16);

/// Invariants: `entries` is a power of two and at most [`MAX_BUFFERS`]; buffer `bid` lives at
/// `buffers.ptr + bid * size` for `bid < entries`; `tail` is our local copy of the ring tail,
/// published to the kernel with one `Release` store per batch.
struct BufRing {
    ring: Mapping,
    buffers: Mapping,
    entries: u32,
    size: usize,
    tail: u16,
}

impl BufRing {
    fn new(entries: u32, size: usize) -> io::Result<BufRing> {
        let entries = entries.clamp(1, MAX_BUFFERS).next_power_of_two();
        let ring = Mapping::new(entries as usize * std::mem::size_of::<BufRingEntry>())?;
        let buffers = Mapping::new(entries as usize * size)?;
        let mut b = BufRing {
            ring,
            buffers,
            entries,
            size,
            tail: 0,
        };
        for bid in 0..entries {
            b.push(BufferId(bid as u16));
        }
        b.publish();
        Ok(b)
    }

    fn register(&self, ring: &IoUring) -> io::Result<()> {
        // SAFETY: the ring memory stays mapped until `self` drops; every owner drops the
        // IoUring before (or together with, field order) the BufRing.
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                self.ring.ptr as u64,
                self.entries as u16,
                BGID,
                0,
            )
        }
    }

    /// The buffer id a completion reports, checked against the ring once where it enters:
    /// every later use of the id ([`BufRing::buffer`], [`BufRing::push`]) relies on it.
    fn id(&self, bid: u16) -> Option<BufferId> {
        (u32::from(bid) < self.entries).then_some(BufferId(bid))
    }

    /// Hand buffer `id` back at the local tail (not yet visible to the kernel).
    fn push(&mut self, BufferId(bid): BufferId) {
        let mask = self.entries - 1;
        let slot = u32::from(self.tail) & mask;
        let base = self.ring.ptr.cast::<BufRingEntry>();
        // SAFETY: `slot < entries`, so the entry is inside the ring mapping; the kernel only
        // reads entries between its head and the published tail, and this slot is beyond
        // the published tail until `publish`.
        let entry = unsafe { &mut *base.add(slot as usize) };
        // SAFETY: `bid < entries` (a `BufferId` is only made by `id`, which checks it, or for
        // the initial fill below `entries`), so the address is inside the buffer mapping.
        let addr = unsafe { self.buffers.ptr.add(usize::from(bid) * self.size) };
        entry.set_addr(addr as u64);
        entry.set_len(self.size as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Make every pushed buffer visible to the kernel.
    fn publish(&self) {
        // SAFETY: the tail is the `resv` field of entry 0, inside the ring mapping and
        // suitably aligned for a u16; the kernel reads it with acquire semantics.
        let tail = unsafe { &*(BufRingEntry::tail(self.ring.ptr.cast()) as *const AtomicU16) };
        tail.store(self.tail, Ordering::Release);
    }

    /// The whole buffer `id`.
    fn buffer(&self, BufferId(bid): BufferId) -> &[u8] {
        // SAFETY: `bid < entries` (checked by `id`), so the range is inside the mapping; the
        // kernel has finished writing it (its completion was reaped) and will not touch it
        // again until the id is pushed back.
        unsafe {
            std::slice::from_raw_parts(
                self.buffers.ptr.add(usize::from(bid) * self.size),
                self.size,
            )
        }
    }
}

/// One thread's io_uring receive state. Field order matters: the ring is dropped (closing
/// every request) before the buffer memory is unmapped.
pub(crate) struct UringRx {
    ring: IoUring,
    bufs: BufRing,
    /// Template for every multishot receive: only the name and control lengths are read.
    msghdr: Box<libc::msghdr>,
    fds: Vec<libc::c_int>,
    armed: Vec<bool>,
    /// Whether each socket ever completed a receive (an immediate `EINVAL` before that means
    /// the kernel has no multishot recvmsg: the caller falls back to recvmmsg).
    worked: Vec<bool>,
}

// SAFETY: `UringRx` is created and used by one receive thread at a time (moved into it
// before first use); the raw pointers in `Mapping` and `msghdr` are owned by it.
unsafe impl Send for UringRx {}

/// Room for the sender's address in each buffer (an IPv6 `sockaddr_in6`).
const NAME_LEN: usize = std::mem::size_of::<libc::sockaddr_in6>();

impl UringRx {
    /// A ring for `fds` with `buffers` provided buffers of `size` bytes each.
    pub(crate) fn new(fds: &[libc::c_int], buffers: u32, size: usize) -> io::Result<UringRx> {
        let bufs = BufRing::new(buffers, size)?;
        // One completion per buffer in flight, plus room for errors and timeouts.
        let ring = build_ring(64, bufs.entries * 2)?;
        bufs.register(&ring)?;
        // SAFETY: all-zero is a valid msghdr.
        let mut msghdr: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        msghdr.msg_namelen = NAME_LEN as libc::socklen_t;
        msghdr.msg_controllen = CONTROL_LEN as _;
        Ok(UringRx {
            ring,
            bufs,
            msghdr,
            fds: fds.to_vec(),
            armed: vec![false; fds.len()],
            worked: vec![false; fds.len()],
        })
    }

    fn arm(&mut self, i: usize) -> io::Result<()> {
        let entry = opcode::RecvMsgMulti::new(types::Fd(self.fds[i]), &*self.msghdr, BGID)
            .build()
            .user_data(i as u64);
        // SAFETY: the msghdr template lives in a Box owned by `self`, which outlives the
        // request (the ring is dropped first); the fd stays open while the receiver runs.
        let pushed = unsafe { self.ring.submission().push(&entry) };
        if pushed.is_err() {
            // The submission queue is full: submit what is there and retry once.
            self.ring.submit()?;
            // SAFETY: as above.
            unsafe { self.ring.submission().push(&entry) }
                .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        }
        self.armed[i] = true;
        Ok(())
    }

    /// Receive until `stop` is set. Each datagram goes to `handler.datagram` while its
    /// buffer is still held; `handler.batch_done` runs after each batch of completions and
    /// at least every 100 ms when idle.
    pub(crate) fn run<H: Handler>(&mut self, stop: &AtomicBool, handler: &mut H) -> io::Result<()> {
        for i in 0..self.fds.len() {
            self.arm(i)?;
        }
        let args = SubmitArgs::new().timespec(&WAIT);
        while !stop.load(Ordering::Relaxed) {
            match self.ring.submitter().submit_with_args(1, &args) {
                Ok(_) => {}
                Err(e) => match e.raw_os_error() {
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY) => {}
                    _ => return Err(e),
                },
            }
            let mut returned = false;
            let mut failed = false;
            // Reap everything there is; the completion queue borrow ends before re-arming.
            let mut cq = self.ring.completion();
            cq.sync();
            for cqe in &mut cq {
                let i = cqe.user_data() as usize;
                let res = cqe.result();
                let flags = cqe.flags();
                if i >= self.fds.len() {
                    continue;
                }
                if res < 0 {
                    if res == -libc::ENOBUFS {
                        handler.io_event(IoEvent::NoBuffers);
                    } else if res == -libc::EINVAL && !self.worked[i] {
                        return Err(io::Error::from_raw_os_error(libc::EINVAL));
                    } else {
                        handler.io_event(IoEvent::ReceiveError);
                        failed = true;
                    }
                } else if let Some(bid) = cqueue::buffer_select(flags) {
                    self.worked[i] = true;
                    // An id outside the ring is no buffer of ours: nothing to read or return.
                    if let Some(id) = self.bufs.id(bid) {
                        let buf = self.bufs.buffer(id);
                        // `parse` bounds every part by the buffer and the header's lengths.
                        match RecvMsgOut::parse(buf, &self.msghdr) {
                            Ok(msg) => {
                                let control = parse_control(msg.control_data());
                                let r = Received {
                                    socket: i,
                                    payload: msg.payload_data(),
                                    from: parse_name(msg.name_data()),
                                    truncated: msg.is_payload_truncated(),
                                    drops: control.drops,
                                    segment: control.segment,
                                };
                                handler.datagram(&r);
                            }
                            Err(()) => handler.io_event(IoEvent::ReceiveError),
                        }
                        self.bufs.push(id);
                        returned = true;
                    } else {
                        handler.io_event(IoEvent::ReceiveError);
                    }
                }
                if !cqueue::more(flags) {
                    self.armed[i] = false;
                }
            }
            drop(cq);
            if returned {
                self.bufs.publish();
            }
            handler.batch_done();
            if failed && !returned {
                // A socket that fails at once on every re-arm would spin this loop: pace it.
                std::thread::sleep(ERROR_PAUSE);
            }
            for i in 0..self.fds.len() {
                if !self.armed[i] {
                    handler.io_event(IoEvent::Rearm);
                    self.arm(i)?;
                }
            }
        }
        Ok(())
    }
}

fn parse_name(name: &[u8]) -> Option<SocketAddr> {
    sockaddr_to_std(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_ids_are_checked_where_they_enter() {
        let ring = BufRing::new(8, 64).unwrap();
        assert_eq!(ring.entries, 8);
        assert!(ring.id(7).is_some());
        // An id the kernel could never have been given is refused, whatever a completion
        // says, so no buffer address is ever computed from it.
        assert!(ring.id(8).is_none());
        assert!(ring.id(u16::MAX).is_none());
        let id = ring.id(7).unwrap();
        assert_eq!(ring.buffer(id).len(), 64);
    }
}
