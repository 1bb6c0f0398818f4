//! The thread CPU clock the benches time with: the machine is shared, so wall time counts
//! other processes' turns on the core too; "per second per core" is per CPU-second.

use std::time::Duration;

/// CPU time of this thread.
pub fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux knows.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
