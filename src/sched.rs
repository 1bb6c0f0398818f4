//! Scheduler requests for the pipeline's threads that sleep between items (flow workers,
//! syslog destinations).
//!
//! Why: such a thread is woken (a doorbell, a socket) while another task holds the CPU. On
//! Linux's EEVDF scheduler (6.6+) a woken task preempts the running one only if its virtual
//! deadline is earlier; with the default slice (0.7-3 ms) it often is not, and it waits for
//! the running task's slice or the next scheduler tick (4 ms at HZ=250): the few-ms tail of
//! receipt-to-send latency. Since 6.12 a `SCHED_OTHER` thread may ask for a shorter slice
//! (`sched_attr.sched_runtime`, 0.1-100 ms, no privilege needed): its deadline comes sooner,
//! so its wake-ups preempt tasks with longer slices at once, while its CPU share (weight,
//! nice) is unchanged. Older kernels ignore the field or refuse the call; either way the
//! thread keeps running as before, so failure is reported, never fatal.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// The slice the pipeline's sleeping threads request, in nanoseconds (0: none). Process-wide
/// because it is one policy for every such thread, set once from the configuration before
/// they start ([`set_wake_slice`]); library users that never set it change nothing.
static WAKE_SLICE_NS: AtomicU64 = AtomicU64::new(0);
/// Whether a refusal was already reported (once per process, not once per thread).
static REPORTED: AtomicBool = AtomicBool::new(false);

/// Set the slice that [`apply_wake_slice`] requests (zero: leave threads alone).
pub fn set_wake_slice(slice: Duration) {
    let ns = u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX);
    WAKE_SLICE_NS.store(ns, Ordering::Relaxed);
}

/// Called by a pipeline thread that sleeps between items, at its start: request the
/// configured slice. A refusal is reported once on stderr; the thread runs on regardless.
pub fn apply_wake_slice() {
    let ns = WAKE_SLICE_NS.load(Ordering::Relaxed);
    if ns == 0 {
        return;
    }
    if let Err(e) = request_slice(Duration::from_nanos(ns)) {
        if !REPORTED.swap(true, Ordering::Relaxed) {
            eprintln!(
                "flowsift: the kernel refused a {} µs scheduler slice ({e}); wake-ups may wait \
                 up to a scheduler tick (set [scheduler] slice_us = 0 to silence this)",
                ns / 1000
            );
        }
    }
}

/// Ask the kernel to give the calling thread `slice` as its EEVDF slice, keeping its policy
/// (`SCHED_OTHER`) and nice value. Zero leaves the kernel default.
pub fn request_slice(slice: Duration) -> io::Result<()> {
    if slice.is_zero() {
        return Ok(());
    }
    imp::request_slice(slice)
}

#[cfg(target_os = "linux")]
mod imp {
    use std::io;
    use std::time::Duration;

    /// `struct sched_attr` of `sched_setattr(2)` (the first, 48-byte version).
    #[repr(C)]
    struct SchedAttr {
        size: u32,
        sched_policy: u32,
        sched_flags: u64,
        sched_nice: i32,
        sched_priority: u32,
        sched_runtime: u64,
        sched_deadline: u64,
        sched_period: u64,
    }

    pub fn request_slice(slice: Duration) -> io::Result<()> {
        // The call sets the nice value too: pass the thread's current one. getpriority can
        // return -1 legitimately, so errno tells failure apart.
        // SAFETY: plain system calls on the calling thread (who = 0); no memory is shared.
        let nice = unsafe {
            *libc::__errno_location() = 0;
            let n = libc::getpriority(libc::PRIO_PROCESS, 0);
            if n == -1 && *libc::__errno_location() != 0 {
                return Err(io::Error::last_os_error());
            }
            n
        };
        let attr = SchedAttr {
            size: std::mem::size_of::<SchedAttr>() as u32,
            sched_policy: libc::SCHED_OTHER as u32,
            sched_flags: 0,
            sched_nice: nice,
            sched_priority: 0,
            sched_runtime: u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX),
            sched_deadline: 0,
            sched_period: 0,
        };
        // SAFETY: `attr` is a valid, initialised sched_attr of the size it declares, and
        // lives across the call; pid 0 is the calling thread.
        let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::io;
    use std::time::Duration;

    pub fn request_slice(_: Duration) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "slices are a Linux request",
        ))
    }
}

/// The slice (ns) a thread runs with, from its `/proc/.../sched` file (`task` is
/// `/proc/thread-self` or `/proc/self/task/<tid>`); `None` where the kernel does not show it.
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn slice_of(task: &std::path::Path) -> Option<u64> {
    let text = std::fs::read_to_string(task.join("sched")).ok()?;
    let line = text.lines().find(|l| l.starts_with("se.slice"))?;
    line.split(':').nth(1)?.trim().parse().ok()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn slice_of_this_thread() -> Option<u64> {
        slice_of(std::path::Path::new("/proc/thread-self"))
    }

    #[test]
    fn the_requested_slice_is_the_threads_and_nice_is_kept() {
        std::thread::spawn(|| {
            // SAFETY: plain system calls on the calling thread.
            let nice_before = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            match request_slice(Duration::from_micros(250)) {
                Ok(()) => {
                    if let Some(slice) = slice_of_this_thread() {
                        assert_eq!(slice, 250_000);
                    } else {
                        eprintln!("skip: /proc/thread-self/sched has no se.slice here");
                    }
                }
                // Kernels before custom slices may refuse the runtime field.
                Err(e) => eprintln!("skip: this kernel refused the slice request: {e}"),
            }
            // SAFETY: as above.
            let nice_after = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            assert_eq!(nice_before, nice_after);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn zero_is_no_request() {
        assert!(request_slice(Duration::ZERO).is_ok());
    }
}
