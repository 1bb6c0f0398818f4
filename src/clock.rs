//! The clocks: `CLOCK_MONOTONIC` for every interval and latency, `CLOCK_REALTIME` for what
//! a message prints, and a thread's CPU clock for the benches.
//!
//! Receive threads stamp each sample with [`monotonic_nanos`] (`received_ns`), and the
//! sink measures latency against it, so both sides must read the same clock: this module
//! is the one place that reads it. A message's timestamp is wall-clock time,
//! [`WallTime::now`]; its local-time rendering belongs to the formats
//! (`sink::format::LocalTime`). The benches and the cost tests time with
//! [`thread_cpu_time`]: on a shared machine wall time also counts other processes' turns.

use std::time::Duration;

/// Nanoseconds of `CLOCK_MONOTONIC`, the clock every `received_ns` is taken on.
pub fn monotonic_nanos() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC is always available on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`).
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux knows.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A wall-clock instant: seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallTime {
    pub secs: i64,
    pub nanos: u32,
}

impl WallTime {
    /// Now, from `CLOCK_REALTIME`.
    pub fn now() -> WallTime {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        WallTime {
            secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nanos: d.subsec_nanos(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_never_goes_back() {
        let a = monotonic_nanos();
        let b = monotonic_nanos();
        assert!(a > 0 && b >= a);
    }

    #[test]
    fn thread_cpu_time_advances_with_work() {
        let a = thread_cpu_time();
        let mut x = 0u64;
        while thread_cpu_time() == a {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(thread_cpu_time() > a);
    }

    #[test]
    fn wall_time_is_after_2020() {
        let now = WallTime::now();
        assert!(now.secs > 1_577_836_800 && now.nanos < 1_000_000_000);
    }
}
