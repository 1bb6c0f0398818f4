//! Wake-ups between pipeline stages: a consumer with nothing to do parks, and a producer that
//! has just published work unparks it, but only when it is actually parked.
//!
//! Every hand-off in the pipeline (receive thread -> flow worker, flow worker -> sink
//! dispatcher) has a consumer that may be idle. Polling with a sleeping back-off would add
//! up to its sleep (plus timer slack) to the latency of the first item after a quiet spell,
//! once per hop. A [`Doorbell`] has no sleep: the consumer spins briefly, then parks
//! (`thread::park_timeout`, bounded so timers still run), and the producer, once per
//! published batch, pays one fence and one load of a mostly-shared cache line to learn
//! whether anyone needs waking. The wake-up system call is paid only when the consumer is
//! parked, so a busy pipeline makes none.
//!
//! The lost-wake-up race is the store-load (Dekker) pattern and is closed with a
//! sequentially consistent fence on each side:
//!
//! ```text
//! consumer                              producer
//! sleeping = true                       publish work (ring tail, Release)
//! fence(SeqCst)                         fence(SeqCst)
//! re-check the work -> empty?           sleeping? -> unpark
//!   park_timeout
//! ```
//!
//! Of the two fences one comes first in the single total order of SeqCst operations: if the
//! consumer's does, the producer sees `sleeping` and unparks (an unpark before the park makes
//! the park return at once: the thread's token); if the producer's does, the consumer's
//! re-check sees the work and does not park. Either way no item waits for the timeout.
//!
//! A doorbell belongs to one consumer thread at a time (the last that parked on it: a
//! reload may hand the rings, and so their doorbell, to a new consumer thread once the old
//! one has stopped taking from them); any number of producers may ring it. The rings carry one ([`crate::ring::Consumer::attach`]) so that
//! a producer rings it on every commit without knowing who consumes.

use std::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread::{self, Thread};
use std::time::Duration;

use crossbeam::utils::CachePadded;

/// One consumer's "I am parked" flag and the handle to unpark it.
#[derive(Debug, Default)]
pub struct Doorbell {
    /// True from just before the consumer's final re-check until it stops parking. On its
    /// own cache line: producers read it on every commit, the consumer writes it rarely.
    sleeping: CachePadded<AtomicBool>,
    /// The consumer thread, registered at its first park (null before), from
    /// `Box::into_raw`. A producer may read it at any time, so a handle replaced by a new
    /// consumer is kept in `retired` until the doorbell is dropped, never freed earlier.
    thread: AtomicPtr<Thread>,
    /// Handles of earlier consumer threads (one per hand-over: bounded by reloads). Boxed:
    /// a producer may still hold the address `thread` had, so the handle must not move.
    #[allow(clippy::vec_box)]
    retired: Mutex<Vec<Box<Thread>>>,
    /// Unparks issued by producers (each one a futex wake): how often the fast path missed.
    wakeups: AtomicU64,
}

impl Doorbell {
    pub fn new() -> Doorbell {
        Doorbell::default()
    }

    /// Producer side: call after publishing work with a Release store that the consumer's
    /// re-check reads. Costs a fence and a load unless the consumer is parked.
    #[inline]
    pub fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) {
            self.wake_parked();
        }
    }

    #[cold]
    fn wake_parked(&self) {
        // The swap elects one producer to pay for the unpark when several see the flag.
        if self.sleeping.swap(false, Ordering::AcqRel) {
            self.wakeups.fetch_add(1, Ordering::Relaxed);
            self.unpark();
        }
    }

    fn unpark(&self) {
        let t = self.thread.load(Ordering::Acquire);
        if !t.is_null() {
            // SAFETY: a non-null `thread` came from `Box::into_raw` in `bind`, and such a
            // box is freed only when the doorbell is dropped (a replaced one waits in
            // `retired`), which `&self` excludes.
            unsafe { (*t).unpark() };
        }
    }

    /// Register the calling thread as the consumer, unless it already is.
    fn bind(&self) {
        let me = thread::current();
        let t = self.thread.load(Ordering::Acquire);
        // SAFETY: as in `unpark`: a non-null pointer is a live box for as long as `self`.
        if !t.is_null() && unsafe { (*t).id() } == me.id() {
            return;
        }
        let old = self
            .thread
            .swap(Box::into_raw(Box::new(me)), Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: `old` came from `Box::into_raw` and was just unpublished; producers
            // that loaded it before the swap may still use it, so it is kept, not freed.
            let old = unsafe { Box::from_raw(old) };
            self.retired
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(old);
        }
    }

    /// Unpark the consumer whether or not it is parked (shutdown, a stop flag was set).
    pub fn wake(&self) {
        fence(Ordering::SeqCst);
        self.sleeping.store(false, Ordering::Relaxed);
        self.unpark();
    }

    /// Consumer side: park for at most `timeout`, unless `idle()`, evaluated after the
    /// "sleeping" flag is raised, says there is work after all. Returns whether it parked.
    ///
    /// `idle` must read the producers' published state (the ring's shared tail, not a
    /// cached copy). The park may end early (a stale unpark token, a spurious wake-up), so
    /// callers loop.
    pub fn park_timeout(&self, timeout: Duration, idle: impl FnOnce() -> bool) -> bool {
        self.bind();
        self.sleeping.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let park = idle();
        if park {
            thread::park_timeout(timeout);
        }
        self.sleeping.store(false, Ordering::Relaxed);
        park
    }

    /// Unparks producers have issued so far.
    pub fn wakeups(&self) -> u64 {
        self.wakeups.load(Ordering::Relaxed)
    }
}

impl Drop for Doorbell {
    fn drop(&mut self) {
        let t = *self.thread.get_mut();
        if !t.is_null() {
            // SAFETY: from `Box::into_raw` in `bind`; with `&mut self` no producer can
            // still read it.
            drop(unsafe { Box::from_raw(t) });
        }
    }
}

/// A consumer's idle phase before it parks: a few microseconds of spinning.
///
/// Spinning covers the gaps inside a burst (the next receive batch is microseconds away)
/// without a wake-up's cost. It is kept short on purpose: at 10 000 events/s a worker and a
/// sink that spun ~30 µs and then yielded four times after every item burned 40% of a core
/// each while idle (`perf sched`, docs/perf/sink.md), crowding the receive threads and each
/// other on small machines and lengthening every wake-up's wait for a CPU (4-17 µs on
/// average against 1-2.5 µs with the short budget). Parking and being woken costs a few
/// microseconds more, once, when the pipeline is really idle. Bounded: [`IdleSpin::spin`]
/// returns false once the budget is spent, and [`IdleSpin::reset`] restores it when work
/// arrives.
#[derive(Debug, Default)]
pub struct IdleSpin {
    rounds: u32,
}

impl IdleSpin {
    /// Rounds of 32 `spin_loop` hints (about 0.5 µs each on this generation of x86).
    const SPINS: u32 = 8;

    /// Spend one round of the budget; false when it is spent and the caller should park.
    pub fn spin(&mut self) -> bool {
        if self.rounds >= Self::SPINS {
            return false;
        }
        for _ in 0..32 {
            std::hint::spin_loop();
        }
        self.rounds += 1;
        true
    }

    pub fn reset(&mut self) {
        self.rounds = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::ring;
    use std::sync::Arc;
    use std::time::Instant;

    /// The consumer parks with a long timeout; single items pushed with pauses must each be
    /// taken well within it, which only a working wake-up can do.
    #[test]
    fn no_lost_wake_up_for_single_items_with_pauses() {
        const ITEMS: u64 = 200;
        const PARK: Duration = Duration::from_secs(2);
        let bell = Arc::new(Doorbell::new());
        let (mut p, mut c) = ring::<u64>(16);
        assert!(c.attach(Arc::clone(&bell)).is_ok());
        let consumer = std::thread::spawn(move || {
            let mut worst = Duration::ZERO;
            let mut parks = 0u32;
            let mut got = 0u64;
            let deadline = Instant::now() + Duration::from_secs(60);
            while got < ITEMS && Instant::now() < deadline {
                if let Some(sent_ns) = c.pop() {
                    let lag = crate::clock::monotonic_nanos().saturating_sub(sent_ns);
                    worst = worst.max(Duration::from_nanos(lag));
                    got += 1;
                    continue;
                }
                if bell.park_timeout(PARK, || c.is_empty()) {
                    parks += 1;
                }
            }
            (got, worst, parks, bell.wakeups())
        });
        for i in 0..ITEMS {
            // Pauses of 0..~1 ms, so the consumer is sometimes parked, sometimes about to.
            std::thread::sleep(Duration::from_micros((i * 37) % 1000));
            // A full ring means the consumer has not run for 16 pauses: on a loaded test
            // machine that is the scheduler, not the doorbell, so wait for room. A lost
            // wake-up still shows, as the lag of the items that waited through a park.
            let give_up = Instant::now() + Duration::from_secs(30);
            while p.push(crate::clock::monotonic_nanos()).is_err() {
                assert!(
                    Instant::now() < give_up,
                    "the consumer took nothing for 30 s"
                );
                std::thread::sleep(Duration::from_micros(50));
            }
        }
        let (got, worst, parks, wakeups) = consumer.join().unwrap();
        assert_eq!(got, ITEMS);
        assert!(
            parks > 0 && wakeups > 0,
            "the consumer did park: {parks} {wakeups}"
        );
        // A lost wake-up costs the full 2 s park; a working one a scheduler wake-up.
        assert!(worst < PARK / 4, "an item waited {worst:?}");
    }

    #[test]
    fn dropping_the_producer_wakes_the_consumer() {
        let bell = Arc::new(Doorbell::new());
        let (p, c) = ring::<u8>(4);
        assert!(c.attach(Arc::clone(&bell)).is_ok());
        let consumer = std::thread::spawn(move || {
            let start = Instant::now();
            while !c.is_finished() && start.elapsed() < Duration::from_secs(30) {
                bell.park_timeout(Duration::from_secs(10), || !c.is_finished());
            }
            start.elapsed()
        });
        std::thread::sleep(Duration::from_millis(20));
        drop(p);
        let took = consumer.join().unwrap();
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    #[test]
    fn ring_without_a_parked_consumer_makes_no_system_call() {
        let bell = Doorbell::new();
        for _ in 0..1000 {
            bell.ring();
        }
        assert_eq!(bell.wakeups(), 0);
        // Work present: the consumer does not park, and a later ring finds nobody asleep.
        assert!(!bell.park_timeout(Duration::from_secs(10), || false));
        bell.ring();
        assert_eq!(bell.wakeups(), 0);
    }

    #[test]
    fn wake_interrupts_a_park() {
        let bell = Arc::new(Doorbell::new());
        let b = Arc::clone(&bell);
        let t = std::thread::spawn(move || {
            let start = Instant::now();
            b.park_timeout(Duration::from_secs(10), || true);
            start.elapsed()
        });
        // Keep waking until the thread has registered and parked; bounded.
        let start = Instant::now();
        while !t.is_finished() && start.elapsed() < Duration::from_secs(5) {
            bell.wake();
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(t.join().unwrap() < Duration::from_secs(5));
    }

    #[test]
    fn idle_spin_is_bounded_and_resets() {
        let mut s = IdleSpin::default();
        let mut rounds = 0;
        while s.spin() {
            rounds += 1;
            assert!(rounds <= 1000);
        }
        assert_eq!(rounds, IdleSpin::SPINS);
        s.reset();
        assert!(s.spin());
    }
}
