//! The recvmmsg receive loop: the portable path, used when io_uring is unavailable or not
//! wanted (`IoMode::Recvmmsg`).
//!
//! One `poll` per wake-up over the thread's sockets, then up to [`DRAIN_BATCHES`] non-blocking
//! `recvmmsg` calls per readable socket, so a busy socket cannot starve the thread's others.
//! Per datagram the cost is the same as multishot io_uring's (the copy and the skb free
//! dominate either way); docs/perf/receive.md has the numbers.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use super::sys::{wait_readable, MmsgBatch};
use super::{Handler, IoEvent};

/// Batches taken from one readable socket before looking at the others again.
const DRAIN_BATCHES: usize = 16;

/// How long a wait lasts before the stop flag is checked again.
const WAIT_MS: i32 = 100;

/// Receive on `fds` until `stop` is set, `batch` datagrams of at most `size` bytes per call.
pub(crate) fn run<H: Handler>(
    fds: &[libc::c_int],
    batch: usize,
    size: usize,
    stop: &AtomicBool,
    handler: &mut H,
) -> io::Result<()> {
    let mut buffers = MmsgBatch::new(batch, size);
    while !stop.load(Ordering::Relaxed) {
        let ready = wait_readable(fds, WAIT_MS)?;
        let mut received = false;
        let mut failed = false;
        for (i, &fd) in fds.iter().enumerate().take(64) {
            if ready & (1 << i) == 0 {
                continue;
            }
            for _ in 0..DRAIN_BATCHES {
                match buffers.recv(fd) {
                    Ok(0) => break,
                    Ok(n) => {
                        received = true;
                        for j in 0..n {
                            if let Some(d) = buffers.get(j, i) {
                                handler.datagram(&d);
                            }
                        }
                        handler.batch_done();
                        if n < batch {
                            break;
                        }
                    }
                    Err(_) => {
                        handler.io_event(IoEvent::ReceiveError);
                        failed = true;
                        break;
                    }
                }
            }
        }
        handler.batch_done();
        if failed && !received {
            // A socket in a lasting error state stays "readable": do not spin on it.
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    Ok(())
}
